// Which replica counts which user (scale-out, docs/scale-out.md).
#include <string>

#include "exporter/config/config.h"
#include "exporter/config/sections.h"

namespace vpbx::config {

std::uint64_t shard_hash(std::int64_t user_id) {
  // FNV-1a, 64 bits: fixed constants, so the split survives rebuilds, machines and restarts.
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : std::to_string(user_id)) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

int shard_of(std::int64_t user_id, int count) {
  if (count <= 1) return 0;
  return static_cast<int>(shard_hash(user_id) % static_cast<std::uint64_t>(count));
}

bool ShardConfig::owns(std::int64_t user_id) const {
  return count <= 1 || shard_of(user_id, count) == index;
}

void override_shard(Config& config, std::optional<int> index, std::optional<int> count) {
  if (!index && !count) return;
  if (count) config.shard.count = *count;
  if (index) config.shard.index = *index;
  detail::check_shard(config.shard, index ? "--shard.index" : "shard.index", 0);
  for (auto& account : config.accounts) {
    account.shard.index = config.shard.index;
    account.shard.count = config.shard.count;
  }
}

}  // namespace vpbx::config
