#pragma once

#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "core/crash_atom.hpp"
#include "persistence/redis_url.hpp"
#include "saga/atoms.hpp"
#include "saga/journal/journal.hpp"

namespace saga {

/// The Redis journal's router: the journal interface plus a fault-injection
/// hook that crashes writer `i` (tests, chaos runs).
using redis_journal_actor
  = journal_actor::extend<caf::reacts_to<crash_atom, uint32_t>>;

/// Returns a journal that persists to Redis at `ep` (layout: see
/// docs/redis-layout.md), after checking once that the server is reachable
/// and accepts our credentials. The journal is a router in front of
/// `opts.writers` detached writer actors, linked to it.
caf::expected<journal_actor> spawn_redis_journal(caf::actor_system& sys,
                                                 const redis_endpoint& ep,
                                                 const journal_options& opts);

/// Returns the key of saga `id`'s event stream: `saga:{<id>}:events`.
std::string redis_events_key(const saga_id& id);

/// Returns the key of saga `id`'s owner token: `saga:{<id>}:owner`.
std::string redis_owner_key(const saga_id& id);

/// Returns the key of `node`'s unfinished index: `saga:unfinished:{<node>}`.
std::string redis_unfinished_key(const std::string& node);

/// Returns the key of the index of sagas that ended in `state` (completed,
/// compensated or failed), scored by end time: `saga:ended:{<state>}`.
std::string redis_ended_key(std::string_view state);

/// Returns the key of the per-definition counts: `saga:counts`.
std::string redis_counts_key();

/// Returns the key of the marker set of counted sagas: `{saga:counts}:seen`
/// (score 0: its start was counted; its end time in ms: its end was too).
/// Its hash tag puts it into the slot of `saga:counts`.
std::string redis_seen_key();

/// Returns the key of the id index: `{saga:counts}:ids`, every saga counted
/// within the retention, all scores 0 (searched by id prefix with
/// `ZRANGEBYLEX`), in the slot of `saga:counts`.
std::string redis_ids_key();

/// Returns the key of business key `key`'s index:
/// `saga:key:{<key>}`, the sagas started with that key, scored by start time
/// (ms since the Unix epoch).
std::string redis_business_key_key(std::string_view key);

/// Returns the Lua source of the script that counts sagas in
/// `saga:counts` exactly once (see docs/redis-layout.md), for tests that
/// check it alone.
const std::string& redis_count_script();

} // namespace saga
