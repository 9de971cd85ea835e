// Bounds of what the exporter accepts from the API and the webhook (models.h): the same for push
// and poll, so that neither path counts what the other would refuse.
#include <algorithm>

#include "exporter/api/models.h"

namespace vpbx::api {

bool is_sane_text(std::string_view text, std::size_t max_bytes) {
  return text.size() <= max_bytes && std::none_of(text.begin(), text.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte < 0x20 || byte == 0x7F;
         });
}

const char* call_log_problem(const CallLog& c) {
  if (c.problem) return c.problem;
  if (c.id.empty()) return "call log without an id";
  if (!is_sane_text(c.id, kMaxIdBytes)) return "call-log id too long or with control characters";
  if (c.duration < 0 || c.duration > kMaxCallDurationSeconds) return "duration out of range";
  if (c.user_id < 0) return "negative userId";
  for (const std::string* text :
       {&c.call_start, &c.direction, &c.call_type, &c.call_party_number}) {
    if (!is_sane_text(*text, kMaxNameBytes))
      return "call-log field too long or with control characters";
  }
  return nullptr;
}

const char* feature_problem(const Feature& f) {
  if (f.feat_name.empty()) return "feature without a featName";
  if (f.user_id < 0) return "negative userId";
  for (const std::string* text : {&f.feat_name, &f.status, &f.level}) {
    if (!is_sane_text(*text, kMaxNameBytes))
      return "feature field too long or with control characters";
  }
  for (const std::string* text : {&f.destination_uri, &f.condition}) {
    if (!is_sane_text(*text, kMaxUriBytes))
      return "feature field too long or with control characters";
  }
  return nullptr;
}

const char* presence_problem(const Presence& p) {
  if (p.status.empty()) return "presence without a status";
  if (p.user_id < 0) return "negative userId";
  if (!is_sane_text(p.status, kMaxNameBytes))
    return "presence status too long or with control characters";
  return nullptr;
}

const char* context_problem(const EventContext& context) {
  if (context.user_id < 0 || context.enterprise_id < 0) return "negative id in the context";
  if (!is_sane_text(context.user_name, kMaxNameBytes) ||
      !is_sane_text(context.enterprise_name, kMaxNameBytes)) {
    return "context name too long or with control characters";
  }
  return nullptr;
}

}  // namespace vpbx::api
