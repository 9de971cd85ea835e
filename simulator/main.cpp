// vpbx_simulator: serves the simulated VPBX OpenAPI until SIGINT / SIGTERM.

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "exporter/log/log.h"
#include "simulator/duration.h"
#include "simulator/simulator.h"
#include "vpbx/version.h"

namespace {

const char* kUsage = R"(usage: vpbx_simulator [flags]

A stand-in for the VPBX OpenAPI (C5 as run by VTX): /openapi/ with Basic auth and the
X-C5-Application header, generated traffic, working push subscriptions, fault injection,
and control / truth under /_sim/.

  --web.listen-address=ADDR           listen on ADDR (default 127.0.0.1:8090)
  --enterprises=N                     enterprises (default 1)
  --users=N                           users per enterprise (default 4)
  --seed=N                            RNG seed of the model (default 1)
  --username=NAME                     Basic auth user (default openapi@291908.bus.ent)
  --password-file=FILE                Basic auth password (else $VPBX_API_PASSWORD, else
                                      "simulator-password")
  --application-id=UUID               expected X-C5-Application header
  --calls-per-second=R                generated calls per second (default 0)
  --feature-toggles-per-second=R      generated DND / CFU toggles per second (default 0)
  --history-calls=N                   past call logs per user at start (default 0)
  --max-page-size=N                   largest call log `limit` honoured (default 100)
  --fault.push-drop-ratio=R           share of pushes not sent
  --fault.push-duplicate-ratio=R      share of pushes sent twice
  --fault.api-error-ratio=R           share of API answers that are 500 / 503 / 429
  --fault.latency=D                   added to every API answer (e.g. 200ms)
  --fault.hang-ratio=R                share of API requests held for --fault.hang-duration
  --fault.hang-duration=D             how long a hanging request is held (default 30s)
  --fault.feature-put-reject-ratio=R  share of feature PUTs the platform refuses (400)
  --users-csv-out=FILE                write the users (the seed's CSV columns + name) to FILE
  --log.level=LEVEL                   debug, info, warn, error (default info)
  --log.format=FORMAT                 logfmt or json (default logfmt)
  --version                           print the version and exit
  --help                              this text
)";

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) {
  g_signal = sig;
}

[[noreturn]] void fail(const std::string& message) {
  std::cerr << "vpbx_simulator: " << message << "\n"
            << "try --help\n";
  std::exit(2);
}

double to_double(const std::string& flag, const std::string& v, double lo, double hi) {
  try {
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size() && d >= lo && d <= hi) return d;
  } catch (...) {
  }
  fail(flag + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
       "], got '" + v + "'");
}

long long to_int(const std::string& flag, const std::string& v, long long lo, long long hi) {
  try {
    std::size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return n;
  } catch (...) {
  }
  fail(flag + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
       "], got '" + v + "'");
}

std::chrono::milliseconds to_duration(const std::string& flag, const std::string& v) {
  const auto d = vpbx::sim::parse_duration(v);
  if (!d) fail(flag + ": expected a duration such as 200ms or 2s, got '" + v + "'");
  return *d;
}

std::string read_secret(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read --password-file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  vpbx::sim::Options o;
  o.listen_address = "127.0.0.1:8090";
  if (const char* env = std::getenv("VPBX_API_PASSWORD"); env && *env) o.password = env;
  std::string csv_out, password_file;
  auto level = vpbx::log::Level::info;
  auto format = vpbx::log::Format::logfmt;

  using Setter = std::function<void(const std::string&, const std::string&)>;
  const std::map<std::string, Setter> flags = {
      {"--web.listen-address", [&](auto&, auto& v) { o.listen_address = v; }},
      {"--enterprises",
       [&](auto& f, auto& v) { o.enterprises = static_cast<int>(to_int(f, v, 1, 10000)); }},
      {"--users",
       [&](auto& f, auto& v) {
         o.users_per_enterprise = static_cast<int>(to_int(f, v, 0, 1000000));
       }},
      {"--seed",
       [&](auto& f, auto& v) { o.seed = static_cast<std::uint64_t>(to_int(f, v, 0, INT64_MAX)); }},
      {"--username", [&](auto&, auto& v) { o.username = v; }},
      {"--password-file", [&](auto&, auto& v) { password_file = v; }},
      {"--application-id", [&](auto&, auto& v) { o.application_id = v; }},
      {"--calls-per-second",
       [&](auto& f, auto& v) { o.calls_per_second = to_double(f, v, 0, 1e6); }},
      {"--feature-toggles-per-second",
       [&](auto& f, auto& v) { o.feature_toggles_per_second = to_double(f, v, 0, 1e6); }},
      {"--history-calls",
       [&](auto& f, auto& v) {
         o.history_calls_per_user = static_cast<int>(to_int(f, v, 0, 1000000));
       }},
      {"--max-page-size",
       [&](auto& f, auto& v) { o.max_page_size = static_cast<int>(to_int(f, v, 1, 1000000)); }},
      {"--fault.push-drop-ratio",
       [&](auto& f, auto& v) { o.faults.push_drop_ratio = to_double(f, v, 0, 1); }},
      {"--fault.push-duplicate-ratio",
       [&](auto& f, auto& v) { o.faults.push_duplicate_ratio = to_double(f, v, 0, 1); }},
      {"--fault.api-error-ratio",
       [&](auto& f, auto& v) { o.faults.api_error_ratio = to_double(f, v, 0, 1); }},
      {"--fault.latency", [&](auto& f, auto& v) { o.faults.latency = to_duration(f, v); }},
      {"--fault.hang-ratio",
       [&](auto& f, auto& v) { o.faults.hang_ratio = to_double(f, v, 0, 1); }},
      {"--fault.hang-duration",
       [&](auto& f, auto& v) { o.faults.hang_duration = to_duration(f, v); }},
      {"--fault.feature-put-reject-ratio",
       [&](auto& f, auto& v) { o.faults.feature_put_reject_ratio = to_double(f, v, 0, 1); }},
      {"--users-csv-out", [&](auto&, auto& v) { csv_out = v; }},
      {"--log.level",
       [&](auto& f, auto& v) {
         const auto l = vpbx::log::parse_level(v);
         if (!l) fail(f + ": expected debug, info, warn or error");
         level = *l;
       }},
      {"--log.format",
       [&](auto& f, auto& v) {
         const auto l = vpbx::log::parse_format(v);
         if (!l) fail(f + ": expected logfmt or json");
         format = *l;
       }},
  };

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "vpbx_simulator, version " << vpbx::kVersion << " (revision " << vpbx::kRevision
                << ")\n";
      return 0;
    }
    std::string value;
    const auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const auto it = flags.find(arg);
    if (it == flags.end()) fail("unknown flag " + arg);
    if (eq == std::string::npos) {
      if (i + 1 >= argc) fail(arg + " needs a value");
      value = argv[++i];
    }
    it->second(arg, value);
  }
  if (!password_file.empty()) o.password = read_secret(password_file);
  vpbx::log::configure(level, format);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  try {
    vpbx::sim::Simulator sim(o);
    if (!csv_out.empty()) {
      std::ofstream out(csv_out);
      out << sim.users_csv();
      if (!out) fail("cannot write --users-csv-out " + csv_out);
    }
    sim.start();
    while (g_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    vpbx::log::info("signal received, stopping", {{"signal", static_cast<int>(g_signal)}});
    sim.stop();
  } catch (const std::exception& e) {
    vpbx::log::error("simulator failed", {{"error", e.what()}});
    return 1;
  }
  return 0;
}
