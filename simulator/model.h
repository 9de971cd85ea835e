#pragma once
// The simulated platform's state: enterprises, users, their 19 features, presence, call logs and
// the subscriptions. Every method locks the model; changes return the pushes they cause, which the
// caller hands to the PushSender outside the lock.

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "simulator/simulator.h"

namespace vpbx::sim {

struct Push {
  std::string subscription_id;
  std::string url;
  std::string body;
};

// An HTTP answer produced by the model: status and pretty-printed JSON body.
struct ApiAnswer {
  int status = 200;
  std::string body;
  std::vector<Push> pushes;
};

struct CallLogQuery {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  int offset = 0;
  int limit = 0;
};

// A call in progress started by the traffic generator.
struct ActiveCall {
  std::size_t user = 0;
  std::string direction;
  int duration_seconds = 0;
  std::int64_t call_start_ms = 0;
};

class Model {
 public:
  explicit Model(const Options& options);

  // The seed's 19 featNames in the order the API lists them.
  static const std::vector<std::string>& feature_names();

  ApiAnswer server_info() const;
  ApiAnswer user_features(const std::string& user) const;
  ApiAnswer feature(std::int64_t feature_id) const;
  ApiAnswer put_feature(std::int64_t feature_id, const std::string& body);
  ApiAnswer presence(const std::string& user) const;
  ApiAnswer user_call_logs(const std::string& user, const CallLogQuery& query) const;
  ApiAnswer enterprise_call_logs(const std::string& enterprise, const CallLogQuery& query) const;
  ApiAnswer create_subscription(const std::string& body);
  ApiAnswer list_subscriptions() const;
  ApiAnswer delete_subscription(const std::string& id);

  // Control.
  std::pair<std::string, std::vector<Push>> inject_call(const CallSpec& call);
  std::optional<std::vector<Push>> set_feature_status(std::int64_t user_id,
                                                      const std::string& feat_name,
                                                      const std::string& status);
  std::optional<std::vector<Push>> set_presence(std::int64_t user_id, const std::string& state);
  bool forget_subscription(const std::string& id);

  // Traffic generator.
  std::optional<std::pair<ActiveCall, std::vector<Push>>> begin_random_call(std::mt19937_64& rng);
  std::vector<Push> end_call(const ActiveCall& call);
  std::vector<Push> toggle_random_feature(std::mt19937_64& rng);

  std::vector<UserTruth> truth() const;
  std::string users_csv() const;
  std::size_t user_count() const;

 private:
  struct Enterprise {
    std::string name;
    std::int64_t id = 0;
    std::int64_t site_id = 0;
    std::string site_name;
  };
  struct Feature {
    std::int64_t id = 0;
    std::string feat_name;
    std::string status;
    std::string json;  // the whole object, compact; PUT replaces it
  };
  struct CallLog {
    std::string id;
    std::int64_t user_id = 0;
    std::int64_t call_start_ms = 0;
    int duration = 0;
    std::string direction;
    int status = 0;
    std::string party_number;
    std::string party_dial_number;
  };
  using CallKey = std::pair<std::int64_t, std::string>;  // callStart, id: the listing order
  using CallIndex = std::map<CallKey, std::shared_ptr<const CallLog>>;
  struct User {
    std::int64_t id = 0;
    std::size_t enterprise = 0;
    std::string login;
    std::string number;
    std::string name;
    std::vector<Feature> features;  // in feature_names() order
    std::string presence = "IDLE";
    bool in_call = false;
    CallIndex calls;
    std::uint64_t calls_created = 0;
    std::uint64_t answered = 0;
    std::map<std::string, std::uint64_t> by_direction;
    double duration_sum = 0;
  };
  struct Subscription {
    std::string id;
    std::string resource_type;
    std::optional<std::vector<std::string>> resource_names, login_names, enterprise_names;
    std::optional<std::vector<std::int64_t>> user_ids;
    std::string notification_url;
    std::int64_t expires_ms = 0;
    std::int64_t created_us = 0;
  };

  const User* find_user(const std::string& key) const;  // id or login
  User* find_user_by_id(std::int64_t id);
  std::string random_uuid();
  std::string random_party_number(std::mt19937_64& rng) const;
  void add_call_log(User& user, CallLog log, bool count);
  std::vector<Push> change_feature(User& user, Feature& feature, std::string new_json,
                                   std::string new_status);
  std::vector<Push> change_presence(User& user, const std::string& state);
  // Wraps one event into a push body for each live subscription whose scope takes it.
  std::vector<Push> fan_out(const std::string& resource_type, const std::string& events_key,
                            const User& user, const std::string& feat_name,
                            rapidjson::Document& event);
  void add_context(rapidjson::Value& event, rapidjson::Document::AllocatorType& a,
                   const User& user) const;
  void write_call_log(rapidjson::Value& out, rapidjson::Document::AllocatorType& a,
                      const CallLog& log) const;
  ApiAnswer call_log_page(const CallIndex& index, const CallLogQuery& query) const;
  void write_subscription(rapidjson::Value& out, rapidjson::Document::AllocatorType& a,
                          const Subscription& s) const;

  Options options_;
  mutable std::mutex mutex_;
  std::vector<Enterprise> enterprises_;
  std::vector<User> users_;
  std::unordered_map<std::int64_t, std::size_t> user_by_id_;
  std::unordered_map<std::string, std::size_t> user_by_login_;
  std::unordered_map<std::int64_t, std::pair<std::size_t, std::size_t>> feature_by_id_;
  std::vector<CallIndex> enterprise_calls_;
  std::vector<Subscription> subscriptions_;
  std::mt19937_64 id_rng_;  // call and subscription ids; seeded from the clock, unique per run
};

ApiAnswer error_answer(int status, const std::string& message, const std::string& path = "");

}  // namespace vpbx::sim
