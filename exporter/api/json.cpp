// The API's JSON as text: valid UTF-8 and a document without duplicated keys or deep nesting.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "exporter/api/json_fields.h"
#include "exporter/api/models.h"

namespace vpbx::api {
namespace {

using json_fields::set_error;
using rapidjson::Document;
using rapidjson::Value;

// Why a parsed document is refused although it is JSON: an object anywhere with a key twice
// (RapidJSON keeps both members, FindMember() finds the first and a loop over the members sees
// both: rather than pick one, the text is refused), or containers nested deeper than
// kMaxJsonNesting (what reads the document later, e.g. the Writer for raw_json, recurses once per
// level). Iterative; the keys of a large object are sorted, so that 100 000 of them cost n log n.
const char* document_problem(const Value& root) {
  std::vector<std::pair<const Value*, std::size_t>> pending{{&root, 1}};
  std::vector<std::string_view> keys;
  while (!pending.empty()) {
    const auto [v, depth] = pending.back();
    pending.pop_back();
    if (depth > kMaxJsonNesting) return "invalid JSON: nested too deeply";
    if (v->IsArray()) {
      for (const auto& e : v->GetArray()) {
        if (e.IsObject() || e.IsArray()) pending.emplace_back(&e, depth + 1);
      }
    } else if (v->IsObject()) {
      const auto object = v->GetObject();
      const auto name = [](const Value& key) {
        return std::string_view(key.GetString(), key.GetStringLength());
      };
      bool twice = false;
      if (object.MemberCount() <= 16) {  // the API's objects: compared pairwise, no allocation
        for (auto a = object.MemberBegin(); a != object.MemberEnd() && !twice; ++a) {
          for (auto b = a + 1; b != object.MemberEnd(); ++b) {
            if (name(a->name) == name(b->name)) twice = true;
          }
        }
      } else {
        keys.clear();
        for (const auto& m : object) keys.push_back(name(m.name));
        std::sort(keys.begin(), keys.end());
        twice = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
      }
      if (twice) return "invalid JSON: an object has the same key twice";
      for (const auto& m : object) {
        if (m.value.IsObject() || m.value.IsArray()) pending.emplace_back(&m.value, depth + 1);
      }
    }
  }
  return nullptr;
}

// The four hex digits at `p` as a number, or -1.
int hex4(const unsigned char* p) {
  int value = 0;
  for (int i = 0; i < 4; ++i) {
    const unsigned char c = p[i];
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

// Valid UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Checked
// here rather than with RapidJSON's kParseValidateEncodingFlag, which doubled a push's parse time.
// Escapes count too: RapidJSON refuses a high surrogate escape without its low half, but decodes
// a lone low one (\udc00) to the bytes ED B0 80, which are not UTF-8; both are refused here.
bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  const auto escape = [end](const unsigned char* at) {  // the \uXXXX at `at`, or -1
    return end - at >= 6 && at[0] == '\\' && at[1] == 'u' ? hex4(at + 2) : -1;
  };
  while (p < end) {
    // Eight bytes at a time while they are ASCII without a backslash: most of a push body.
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      const std::uint64_t backslashes = word ^ 0x5C5C5C5C5C5C5C5CULL;  // a zero byte where '\\' was
      const bool has_backslash =
          ((backslashes - 0x0101010101010101ULL) & ~backslashes & 0x8080808080808080ULL) != 0;
      if ((word & 0x8080808080808080ULL) != 0 || has_backslash) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c != '\\' || end - p < 2) {
        ++p;
        continue;
      }
      // A backslash is an escape (outside a string it is no JSON at all): the escaped character
      // is skipped, so that the second backslash of an escaped one starts no escape.
      const int unit = escape(p);
      if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low half without its high one
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        const int low = escape(p + 6);
        if (low < 0xDC00 || low > 0xDFFF) return false;  // a high half without its low one
        p += 12;
      } else if (unit >= 0) {
        p += 6;
      } else {
        p += p[1] < 0x80 ? 2 : 1;  // a non-ASCII byte after it is checked as UTF-8 still
      }
      continue;
    }
    std::size_t len = 0;
    unsigned char min2 = 0x80, max2 = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) min2 = 0xA0;
      if (c == 0xED) max2 = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) min2 = 0x90;
      if (c == 0xF4) max2 = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < len || p[1] < min2 || p[1] > max2) return false;
    for (std::size_t i = 2; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += len;
  }
  return true;
}

bool parse_json_document(std::string_view json, Document& doc, std::string* error) {
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    set_error(error, std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                         ": " + rapidjson::GetParseError_En(doc.GetParseError()));
    return false;
  }
  if (const char* problem = document_problem(doc)) {
    set_error(error, problem);
    return false;
  }
  return true;
}

}  // namespace vpbx::api
