#pragma once

// What follows a Redis writer's accepted writes with its next pipeline: the
// ended indexes, the counts and the unlisting (docs/redis-layout.md,
// "Writes"), gathered across sagas. Owned by one writer; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "saga/fwd.hpp"

namespace saga::detail {

/// One Redis command as argv.
using redis_argv = std::vector<std::string>;

/// Gathers the follow-ups of many sagas and renders them as few commands:
/// one `ZADD` per ended state, one count script call and one `ZREM` per
/// index for a whole pipeline, instead of four commands per saga (measured:
/// see `commands`). Every command is idempotent, so a pipeline that broke
/// sends them all again.
class follow_ups {
public:
  /// Members or count records one command carries at most: a backlog
  /// (recovery resuming thousands of sagas) goes out in slices, so no
  /// command blocks Redis for long.
  static constexpr size_t per_command_max = 256;

  /// Counts the start of saga `id` of definition `def` (which also puts it
  /// into the id index) and, with a `business_key`, indexes it under that
  /// key at `start_ms`.
  void started(const saga_id& id, std::string def,
               std::string business_key = {}, int64_t start_ms = 0);

  /// Indexes saga `id` as ended in `state` at `end_ms`, counts its end,
  /// then unlists it from the writer's index, in that order.
  void ended(const saga_id& id, std::string_view state, std::string def,
             int64_t end_ms);

  /// Removes saga `id` from the failed index and counts its reopening.
  void reopened(const saga_id& id, std::string def);

  /// Counts saga `id` as resumed by recovery.
  void resumed(const saga_id& id, std::string def);

  bool empty() const noexcept {
    return counts_.empty() && unlisted_.empty() && unfailed_.empty()
           && keyed_.empty();
  }

  /// Returns the commands in an order that keeps every saga's invariant
  /// (an unlisted saga is indexed and counted; a reopened one leaves the
  /// failed index before its count moves back): the ended indexes, the
  /// failed index's removals, the counts (`count_sha` with `count.lua`'s
  /// records, in the order they were added), the business key indexes
  /// (each kept to `key_ttl_s`: `ZADD`, `ZREMRANGEBYSCORE` of members
  /// started longer ago, `EXPIRE`), then the unlisting from `index_key`.
  std::vector<redis_argv> commands(const std::string& count_sha,
                                   const std::string& index_key,
                                   int64_t key_ttl_s) const;

private:
  struct indexed {
    std::string state;
    std::string score;
    saga_id id;
  };
  std::vector<indexed> ended_;
  std::vector<saga_id> unfailed_;
  /// count.lua's records, flattened: 3 fields, 5 for `ended`.
  std::vector<std::vector<std::string>> counts_;
  std::vector<saga_id> unlisted_;
  struct keyed {
    std::string key;
    int64_t start_ms;
    saga_id id;
  };
  std::vector<keyed> keyed_;
};

/// Returns an ended index's score for `end_ms` (at least 1: score 0 means
/// "open" in the marker set of counted sagas).
std::string end_score(int64_t end_ms);

} // namespace saga::detail
