#pragma once
// Internals of the API client, exposed for tests only.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vpbx::api::detail {

// RFC 3986 percent-encoding of everything but the unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string url_encode(std::string_view text);

// Replaces each {name} of a route template by the encoded value; unknown names stay as written.
std::string expand_path(std::string_view route, const std::map<std::string, std::string>& params);

// Joins the base URL (ending with '/') and a relative route, tolerating a leading '/'.
std::string join_url(std::string_view base, std::string_view relative);

// Retry-After: delta-seconds or an HTTP-date; nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// The n-th retry's wait (n from 0): base * 2^n capped, with "equal jitter" in [d/2, d].
std::chrono::milliseconds backoff_delay(int retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random01);

// Replaces every occurrence of each non-empty secret by "<redacted>".
std::string redact(std::string text, std::initializer_list<std::string_view> secrets);

// The account's standing with the platform, shared by every request of one Client. A 401/403 is
// not transient: once the credentials are refused, no request is sent but one probe per backoff
// step (base doubling up to cap, equal jitter), until an answer shows they are accepted again.
// Until the first answer, one request goes out and the others wait for what it learns, so that a
// wrong password costs one request at start, not one per collector. Not thread-safe (the client
// guards it); time is passed in, so tests drive it without sleeping.
class AuthGate {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { untested, accepted, refused };
  enum class Admit {
    send,    // credentials known good (or not an auth question): go
    probe,   // go, and report() the answer with probe = true
    wait,    // another request is learning the answer: wait for a change, then admit() again
    refuse,  // in backoff: answer locally, send nothing
  };
  // What an attempt's answer says about the credentials.
  enum class Answer {
    accepted,  // 2xx, or a 4xx other than 401/403/408/429: the platform let the request in
    refused,   // 401 or 403
    unknown,   // 5xx, 408, 429, timeout, transport, cancelled: says nothing about them
  };
  enum class Change { none, refused, refused_again, recovered };

  AuthGate(std::chrono::milliseconds base, std::chrono::milliseconds cap);

  Admit admit(Clock::time_point now);
  // `probe`: the attempt was admitted as one. `random01` draws the jitter.
  Change report(Answer answer, bool probe, Clock::time_point now, double random01);
  // A probe that never got an answer (cancelled): the next request may probe instead.
  void abandon_probe();

  State state() const { return state_; }
  int failures() const { return failures_; }  // refused answers to probes, the first included
  std::chrono::milliseconds step() const { return step_; }  // the current wait between probes
  std::chrono::milliseconds retry_in(Clock::time_point now) const;  // 0 when not refused

  static Answer classify(long http_status);  // an HTTP answer; 0 (none) is unknown

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  State state_ = State::untested;
  bool probe_out_ = false;
  int failures_ = 0;
  std::chrono::milliseconds step_{0};
  Clock::time_point next_probe_{};
};

}  // namespace vpbx::api::detail
