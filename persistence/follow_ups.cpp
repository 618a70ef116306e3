#include "persistence/follow_ups.hpp"

#include <algorithm>
#include <cassert>

#include "persistence/redis_journal.hpp"

namespace saga::detail {

std::string end_score(int64_t end_ms) {
  return std::to_string(std::max<int64_t>(1, end_ms));
}

void follow_ups::started(const saga_id& id, std::string def,
                         std::string business_key, int64_t start_ms) {
  counts_.push_back({"started", id, std::move(def)});
  if (!business_key.empty())
    keyed_.push_back({std::move(business_key), start_ms, id});
}

void follow_ups::ended(const saga_id& id, std::string_view state,
                       std::string def, int64_t end_ms) {
  ended_.push_back({std::string{state}, end_score(end_ms), id});
  counts_.push_back(
    {"ended", id, std::move(def), std::string{state}, end_score(end_ms)});
  unlisted_.push_back(id);
}

void follow_ups::reopened(const saga_id& id, std::string def) {
  unfailed_.push_back(id);
  counts_.push_back({"reopened", id, std::move(def)});
}

void follow_ups::resumed(const saga_id& id, std::string def) {
  counts_.push_back({"resumed", id, std::move(def)});
}

namespace {

/// Appends `head` + `members` to `out` as commands of at most
/// `follow_ups::per_command_max` members each.
void sliced(std::vector<redis_argv>& out, const redis_argv& head,
            const std::vector<saga_id>& members) {
  for (size_t i = 0; i < members.size(); i += follow_ups::per_command_max) {
    auto cmd = head;
    auto end = std::min(members.size(), i + follow_ups::per_command_max);
    cmd.insert(cmd.end(), members.begin() + static_cast<std::ptrdiff_t>(i),
               members.begin() + static_cast<std::ptrdiff_t>(end));
    out.push_back(std::move(cmd));
  }
}

} // namespace

std::vector<redis_argv> follow_ups::commands(const std::string& count_sha,
                                             const std::string& index_key,
                                             int64_t key_ttl_s) const {
  std::vector<redis_argv> out;
  // Ended indexes: one ZADD per state (and slice), in the order added.
  for (const char* state : {"completed", "compensated", "failed"}) {
    redis_argv cmd;
    for (const auto& e : ended_) {
      if (e.state != state)
        continue;
      if (cmd.empty())
        cmd = {"ZADD", redis_ended_key(state)};
      cmd.push_back(e.score);
      cmd.push_back(e.id);
      if (cmd.size() == 2 + 2 * per_command_max) {
        out.push_back(std::move(cmd));
        cmd.clear();
      }
    }
    if (!cmd.empty())
      out.push_back(std::move(cmd));
  }
  sliced(out, {"ZREM", redis_ended_key("failed")}, unfailed_);
  const redis_argv count_head{"EVALSHA",
                              count_sha,
                              "3",
                              redis_counts_key(),
                              redis_seen_key(),
                              redis_ids_key()};
  for (size_t i = 0; i < counts_.size(); i += per_command_max) {
    auto cmd = count_head;
    for (size_t k = i; k < std::min(counts_.size(), i + per_command_max); ++k)
      cmd.insert(cmd.end(), counts_[k].begin(), counts_[k].end());
    out.push_back(std::move(cmd));
  }
  // A business key's index in its own slot: three commands per keyed saga
  // (sagas without a key cost nothing). Members started more than the TTL
  // ago leave, so a key used forever stays bounded; the key expires once
  // unused that long.
  for (const auto& k : keyed_) {
    auto key = redis_business_key_key(k.key);
    auto ttl = std::to_string(key_ttl_s);
    out.push_back({"ZADD", key, std::to_string(k.start_ms), k.id});
    out.push_back({"ZREMRANGEBYSCORE", key, "-inf",
                   "(" + std::to_string(k.start_ms - key_ttl_s * 1000)});
    out.push_back({"EXPIRE", key, ttl});
  }
  sliced(out, {"ZREM", index_key}, unlisted_);
  assert(ended_.size() <= counts_.size());
  return out;
}

} // namespace saga::detail
