#include "simulator/push_sender.h"

#include <curl/curl.h>

#include "exporter/log/log.h"

namespace vpbx::sim {
namespace {

// scheme://host:port of a notificationUrl: its path may carry the receiver's secret token.
std::string origin_of(const std::string& url) {
  const auto scheme = url.find("://");
  const auto path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

size_t discard(char*, size_t size, size_t count, void*) {
  return size * count;
}

}  // namespace

PushSender::PushSender() = default;

PushSender::~PushSender() {
  stop();
}

void PushSender::start() {
  std::lock_guard lock(mutex_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { run(); });
}

void PushSender::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void PushSender::enqueue(std::vector<Push> pushes, double drop_ratio, double duplicate_ratio) {
  if (pushes.empty()) return;
  {
    std::lock_guard lock(mutex_);
    std::uniform_real_distribution<double> unit(0, 1);
    for (auto& p : pushes) {
      if (drop_ratio > 0 && unit(rng_) < drop_ratio) {
        ++dropped_;
        continue;
      }
      if (queue_.size() >= kMaxQueued) {
        ++failed_;
        continue;
      }
      if (duplicate_ratio > 0 && unit(rng_) < duplicate_ratio) {
        ++duplicated_;
        queue_.push_back(p);
      }
      queue_.push_back(std::move(p));
    }
  }
  cv_.notify_one();
}

PushCounters PushSender::counters() const {
  return {sent_.load(), dropped_.load(), duplicated_.load(), failed_.load()};
}

void PushSender::reset_counters() {
  sent_ = 0;
  dropped_ = 0;
  duplicated_ = 0;
  failed_ = 0;
}

void PushSender::run() {
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: */*");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  log::ErrorLatch latch;
  for (;;) {
    Push push;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      push = std::move(queue_.front());
      queue_.pop_front();
    }
    curl_easy_setopt(curl, CURLOPT_URL, push.url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, push.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(push.body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ReactorNetty/1.0.17");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);  // test receivers use self-signed certs
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(curl);
    long new_connections = 0;
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &new_connections);
    // A kept-alive connection the receiver closed meanwhile fails at once; one retry on a fresh
    // connection is what an HTTP client pool does, and is not a delivery failure.
    if (new_connections == 0 &&
        (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)) {
      rc = curl_easy_perform(curl);
    }
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
      ++sent_;
      if (latch.recover()) log::info("push delivery recovered", {{"to", origin_of(push.url)}});
    } else {
      ++failed_;
      const std::string reason =
          rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP " + std::to_string(status);
      if (latch.fail(reason)) {
        log::warn("push delivery failed", {{"to", origin_of(push.url)}, {"reason", reason}});
      }
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}

}  // namespace vpbx::sim
