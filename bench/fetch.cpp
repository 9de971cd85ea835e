// Scrapes a URL N times, one request at a time over one keep-alive connection, as Prometheus
// does, and prints: requests p50_ms p99_ms max_ms bytes series. With --gzip it asks for gzip and
// counts the compressed bytes (the body is not decompressed: that is the scraper's cost).
// Series are counted from a plain answer (lines not starting with '#').
// --interval-ms leaves a pause between requests (Prometheus never scrapes back to back).
//   vpbx_bench_fetch URL --count=20 [--gzip] [--interval-ms=0]
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  // Nearest rank: with 20 samples p99 is the slowest, as it should be.
  const auto rank = static_cast<std::size_t>(p * static_cast<double>(values.size()) + 0.999999);
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [--count=N] [--gzip]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  int count = 20;
  bool gzip = false;
  int interval_ms = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--count=", 0) == 0) count = std::max(1, std::atoi(arg.c_str() + 8));
    if (arg == "--gzip") gzip = true;
    if (arg.rfind("--interval-ms=", 0) == 0) interval_ms = std::max(0, std::atoi(arg.c_str() + 14));
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  std::string body;
  curl_slist* headers = nullptr;
  if (gzip) headers = curl_slist_append(headers, "Accept-Encoding: gzip");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);

  std::vector<double> millis;
  std::size_t bytes = 0;
  std::size_t series = 0;
  // One unmeasured request first: connection set-up and first-touch allocations.
  for (int i = -1; i < count; ++i) {
    if (interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    body.clear();
    const auto start = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_perform(curl);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
      std::fprintf(stderr, "%s: %s (HTTP %ld)\n", url.c_str(), curl_easy_strerror(rc), status);
      return 1;
    }
    if (i < 0) continue;
    millis.push_back(took.count());
    bytes = body.size();
  }
  if (!gzip) {
    std::size_t start = 0;
    while (start < body.size()) {
      auto end = body.find('\n', start);
      if (end == std::string::npos) end = body.size();
      if (end > start && body[start] != '#') ++series;
      start = end + 1;
    }
  }
  std::printf("%d %.1f %.1f %.1f %zu %zu\n", count, percentile(millis, 0.5),
              percentile(millis, 0.99), *std::max_element(millis.begin(), millis.end()), bytes,
              series);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  curl_global_cleanup();
  return 0;
}
