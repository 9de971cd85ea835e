// Micro-benchmarks (Google Benchmark): the push-body parser, the receiver's whole answer, the
// webhook token comparison, and the steps of a scrape of N users (the store's text exposition,
// gzip) taken apart, to see where the time goes. They report; nothing gates on them.
//   vpbx_bench_micro [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "bench/fill_store.h"
#include "exporter/api/models.h"
#include "exporter/http/exposition.h"
#include "exporter/http/gzip.h"
#include "exporter/webhook/detail.h"
#include "exporter/webhook/receiver.h"

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

// The receiver's answer to one push (checks, parse, apply), without HTTP: what the test suite
// used to time, measured here instead.
void BM_ReceiverHandle(benchmark::State& state) {
  vpbx::state::Store store;
  vpbx::bench::fill_store(store, 1000);
  prometheus::Registry registry;
  vpbx::config::WebhookConfig config;
  config.token = "bench-token-0123456789abcdef0123";
  vpbx::webhook::Receiver receiver(config, store,
                                   std::make_shared<vpbx::webhook::WebhookMetrics>(registry));
  vpbx::http::Request request;
  request.method = "POST";
  request.path = "/webhook/" + config.token;
  request.headers["content-type"] = "application/json";
  request.remote_address = "127.0.0.1";
  request.body = seed_push();
  const std::string seed_id = "741f1e6a-8fb1-441e-9e0c-e57c68246d5d";
  const auto at = request.body.find(seed_id);
  std::uint64_t n = 0;
  for (auto _ : state) {
    char id[40];
    std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012llx", 0xbe7d0000u,
                  static_cast<unsigned long long>(++n));
    request.body.replace(at, seed_id.size(), id);
    auto response = receiver.handle(request);
    if (response.status != 200) state.SkipWithError("push not accepted");
    benchmark::DoNotOptimize(response);
  }
}
BENCHMARK(BM_ReceiverHandle);

// The webhook token comparison (issue 12): the time must not depend on where the candidate first
// differs, nor on its length. range(0): the secret's length; range(1): the candidate, one of
// equal, first byte differs, last byte differs, 1 byte long, twice as long. Compare the rows of
// one length: they should agree within noise, where an early exit would make "first" hundreds of
// times faster than "last" at 4096 bytes.
void BM_TokenCompare(benchmark::State& state) {
  const auto length = static_cast<std::size_t>(state.range(0));
  const std::string secret(length, 'k');
  std::string candidate = secret;
  static constexpr const char* kKinds[] = {"equal", "first_byte", "last_byte", "short", "long"};
  const auto kind = static_cast<std::size_t>(state.range(1));
  switch (kind) {
    case 1:
      candidate.front() = 'x';
      break;
    case 2:
      candidate.back() = 'x';
      break;
    case 3:
      candidate = "k";
      break;
    case 4:
      candidate = secret + secret;
      break;
    default:
      break;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(candidate.data());
    bool equal = vpbx::webhook::detail::constant_time_equals(secret, candidate);
    benchmark::DoNotOptimize(equal);
  }
  state.SetLabel(kKinds[kind]);
}
BENCHMARK(BM_TokenCompare)
    ->ArgNames({"bytes", "candidate"})
    ->ArgsProduct({{32, 4096}, {0, 1, 2, 3, 4}});

// The store's whole /metrics text, written from its records.
void BM_StoreExposition(benchmark::State& state) {
  const auto& store = store_of(static_cast<int>(state.range(0)));
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto text = store.exposition();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_StoreExposition)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// The same 10k users as range(0) accounts' stores (account="<name>" on every series), written as
// one scrape writes them, plain (range(1) = 0) or gzipped (1): the rendering cost of accounts,
// without the pollers, sockets and threads of the whole exporter (bench/accounts.sh).
void BM_AccountsExposition(benchmark::State& state) {
  static std::map<int, std::vector<std::unique_ptr<vpbx::state::Store>>> layouts;
  const int accounts = static_cast<int>(state.range(0));
  auto& stores = layouts[accounts];
  if (stores.empty()) stores = vpbx::bench::fill_accounts(10000, accounts);
  std::vector<const vpbx::state::Store*> raw;
  for (const auto& store : stores) raw.push_back(store.get());
  const bool gzip = state.range(1) != 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    if (gzip) {
      vpbx::http::GzipStream stream(1);
      vpbx::metrics::TextOutput out([&stream](std::string_view chunk) { stream.write(chunk); },
                                    std::size_t{1} << 16, &stream);
      vpbx::state::Store::write_exposition(out, raw);
      out.finish();
      bytes = stream.text_bytes();
      benchmark::DoNotOptimize(stream.finish());
    } else {
      vpbx::metrics::TextOutput out(
          [&bytes](std::string&& piece) {
            bytes += piece.size();
            benchmark::DoNotOptimize(piece);
          },
          std::size_t{1} << 16);
      vpbx::state::Store::write_exposition(out, raw);
      out.finish();
    }
  }
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_AccountsExposition)
    ->ArgNames({"accounts", "gzip"})
    ->ArgsProduct({{1, 40}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

// gzip of the 10k-user text at level range(0).
void BM_Gzip(benchmark::State& state) {
  static const std::string text = store_of(10000).exposition();
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
