// Micro-benchmarks (Google Benchmark): the push-body parser, and the steps of a scrape of N users
// (the store's Collect(), the text exposition, gzip) taken apart, to see where the time goes.
//   vpbx_bench_micro [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "bench/fill_store.h"
#include "exporter/api/models.h"
#include "exporter/http/exposition.h"
#include "exporter/http/gzip.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const std::string& seed_push() {
  static const std::string body = read_file(VPBX_SOURCE_DIR "/tests/data/api/push_call_log.json");
  return body;
}

// Stores are filled once per size and shared by the benchmarks.
const vpbx::state::Store& store_of(int users) {
  static std::map<int, std::unique_ptr<vpbx::state::Store>> stores;
  auto& store = stores[users];
  if (!store) {
    store = std::make_unique<vpbx::state::Store>();
    vpbx::bench::fill_store(*store, users);
  }
  return *store;
}

std::size_t series_of(const std::vector<prometheus::MetricFamily>& families) {
  std::size_t series = 0;
  for (const auto& family : families) series += family.metric.size();
  return series;
}

void BM_ParsePushBody(benchmark::State& state) {
  const std::string& body = seed_push();
  for (auto _ : state) {
    auto parsed = vpbx::api::parse_push_body(body);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParsePushBody);

// Parse and apply, with a new call id each time: the webhook's work minus HTTP.
void BM_ParseAndApplyPush(benchmark::State& state) {
  vpbx::state::Store store;
  vpbx::bench::fill_store(store, 1000);
  std::string body = seed_push();
  const std::string seed_id = "741f1e6a-8fb1-441e-9e0c-e57c68246d5d";
  const auto at = body.find(seed_id);
  std::uint64_t n = 0;
  for (auto _ : state) {
    char id[40];
    std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012llx", 0xbe7c0000u,
                  static_cast<unsigned long long>(++n));
    body.replace(at, seed_id.size(), id);
    auto parsed = vpbx::api::parse_push_body(body);
    benchmark::DoNotOptimize(store.apply_push(*parsed));
  }
}
BENCHMARK(BM_ParseAndApplyPush);

void BM_StoreCollect(benchmark::State& state) {
  const auto& store = store_of(static_cast<int>(state.range(0)));
  std::size_t series = 0;
  for (auto _ : state) {
    auto families = store.Collect();
    series = series_of(families);
    benchmark::DoNotOptimize(families);
  }
  state.counters["series"] = static_cast<double>(series);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * series));
}
BENCHMARK(BM_StoreCollect)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_TextSerializer(benchmark::State& state) {
  const auto families = store_of(static_cast<int>(state.range(0))).Collect();
  for (auto _ : state) {
    auto text = prometheus::TextSerializer().Serialize(families);
    benchmark::DoNotOptimize(text);
  }
  state.counters["series"] = static_cast<double>(series_of(families));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * series_of(families)));
}
BENCHMARK(BM_TextSerializer)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_Exposition(benchmark::State& state) {
  const auto families = store_of(static_cast<int>(state.range(0))).Collect();
  for (auto _ : state) {
    auto text = vpbx::http::exposition(families);
    benchmark::DoNotOptimize(text);
  }
  state.counters["series"] = static_cast<double>(series_of(families));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * series_of(families)));
}
BENCHMARK(BM_Exposition)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// gzip of the 10k-user text at level range(0).
void BM_Gzip(benchmark::State& state) {
  static const std::string text = vpbx::http::exposition(store_of(10000).Collect());
  std::size_t out = 0;
  for (auto _ : state) {
    auto compressed = vpbx::http::gzip_compress(text, static_cast<int>(state.range(0)));
    out = compressed.size();
    benchmark::DoNotOptimize(compressed);
  }
  state.counters["in_MB"] = static_cast<double>(text.size()) / 1e6;
  state.counters["out_MB"] = static_cast<double>(out) / 1e6;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Gzip)->Arg(1)->Arg(6)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
