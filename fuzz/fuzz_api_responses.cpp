// Every API response body the client parses (system/server, a user's features, one feature,
// presence, call logs, subscriptions, one subscription): each parser gets every input, as the
// client hands them whatever the server sent. Invariants: a refusal has a reason; a feature
// written back for a PUT parses to the same typed fields; callStart survives format/parse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exporter/api/models.h"
#include "fuzz/fuzz_support.h"

using namespace vpbx;

namespace {

constexpr std::int64_t kYear1Ms = -62135596800000;     // 0001-01-01T00:00:00Z
constexpr std::int64_t kYear9999Ms = 253370764800000;  // 9999-01-01T00:00:00Z

template <typename Parsed>
void check_refusal(const Parsed& parsed, const std::string& error, const char* what) {
  if (!parsed) fuzz::check(!error.empty(), what);
}

bool same_typed_fields(const api::Feature& a, const api::Feature& b) {
  return a.id == b.id && a.feat_name == b.feat_name && a.user_id == b.user_id &&
         a.status == b.status && a.overriding_user_feature == b.overriding_user_feature &&
         a.time_table_active == b.time_table_active && a.level == b.level &&
         a.destination_uri == b.destination_uri && a.condition == b.condition;
}

api::Feature reparse(const std::string& put_body) {
  std::string error;
  const auto again = api::parse_feature("{\"feature\":" + put_body + "}", &error);
  fuzz::check(again.has_value(), "a feature's PUT body does not parse back",
              error + "\n" + put_body);
  return *again;
}

// The PUT body is the feature as parsed, with the edited typed fields applied.
void check_put_body(const api::Feature& feature) {
  const std::string body = api::to_json(feature);
  const api::Feature same = reparse(body);
  fuzz::check(same_typed_fields(feature, same), "an unedited feature's PUT body changes it", body);
  // Not compared as text: RapidJSON's default number parsing may move a long double by one ulp
  // (e.g. -92233720369541790000.0), so an untouched non-integer field can change in the PUT.
  fuzz::check(same_typed_fields(reparse(api::to_json(same)), same),
              "a feature's PUT body is not stable", body);

  // What the exporter edits: the status (DND on/off at check-out) and the flags.
  api::Feature edited = feature;
  edited.status = feature.active() ? "INACTIVE" : "ACTIVE";
  edited.time_table_active = !feature.time_table_active;
  edited.id = feature.id ^ 1;
  const api::Feature back = reparse(api::to_json(edited));
  fuzz::check(same_typed_fields(edited, back), "an edited feature's PUT body loses the edit",
              api::to_json(edited));
}

void check_call_start(const api::CallLog& call_log) {
  const auto ms = api::parse_iso8601_ms(call_log.call_start);
  if (!ms) return;
  fuzz::check(*ms == call_log.call_start_epoch_ms, "callStart parsed twice differs");
  if (*ms < kYear1Ms || *ms >= kYear9999Ms) return;  // a year format cannot write in 4 digits
  const std::string text = api::format_iso8601_ms(*ms);
  fuzz::check(api::parse_iso8601_ms(text) == ms, "format_iso8601_ms does not parse back",
              call_log.call_start + " -> " + text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;

  const auto server = api::parse_server_info(text, &error);
  check_refusal(server, error, "parse_server_info refused without a reason");

  error.clear();
  const auto features = api::parse_features(text, &error);
  check_refusal(features, error, "parse_features refused without a reason");
  if (features) {
    for (const auto& f : *features) {
      (void)api::feature_problem(f);
      check_put_body(f);
    }
  }

  error.clear();
  const auto feature = api::parse_feature(text, &error);
  check_refusal(feature, error, "parse_feature refused without a reason");
  if (feature) check_put_body(*feature);

  error.clear();
  const auto presence = api::parse_presence(text, &error);
  check_refusal(presence, error, "parse_presence refused without a reason");
  if (presence) (void)api::presence_problem(*presence);

  error.clear();
  const auto call_logs = api::parse_call_logs(text, &error);
  check_refusal(call_logs, error, "parse_call_logs refused without a reason");
  if (call_logs) {
    for (const auto& c : *call_logs) {
      const char* problem = api::call_log_problem(c);
      if (!problem) {
        fuzz::check(c.duration >= 0 && c.duration <= api::kMaxCallDurationSeconds,
                    "a valid call log with a duration out of range");
        fuzz::check(!c.id.empty() && api::is_sane_text(c.id, api::kMaxIdBytes),
                    "a valid call log with an insane id");
      }
      check_call_start(c);
    }
  }

  error.clear();
  const auto subscriptions = api::parse_subscriptions(text, &error);
  check_refusal(subscriptions, error, "parse_subscriptions refused without a reason");

  error.clear();
  const auto subscription = api::parse_subscription(text, &error);
  check_refusal(subscription, error, "parse_subscription refused without a reason");
  return 0;
}
