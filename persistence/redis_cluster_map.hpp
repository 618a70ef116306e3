#pragma once

// What a Redis Cluster client reads from the cluster
// (https://redis.io/docs/reference/cluster-spec/): which master serves
// which slots (`CLUSTER SLOTS`), which slot a command goes to, and the
// redirects a node answers when it does not serve a slot now (`MOVED`,
// `ASK`) or cannot serve it for a moment (`TRYAGAIN`, `CLUSTERDOWN`).
// Pure functions and value types; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/redis_url.hpp"

struct redisReply;

namespace saga {

/// A range of slots and the master that serves them. A value type.
struct redis_slot_range {
  uint16_t first = 0;
  uint16_t last = 0;
  redis_host master;
};

/// Returns the ranges of a `CLUSTER SLOTS` reply, or a `journal_failure`
/// naming what is malformed. A master whose address the node does not know
/// ("" or "?") is taken to be on `asked_host`, the host the reply came from.
caf::expected<std::vector<redis_slot_range>>
parse_cluster_slots(const redisReply& reply, const std::string& asked_host);

/// Returns the slot `argv` goes to: its first key's (EVAL and EVALSHA: the
/// first of KEYS), or nothing for a command without keys (SCRIPT, PING,
/// INFO, CLUSTER, WAIT, ...), which any master may answer.
std::optional<uint16_t>
redis_command_slot(const std::vector<std::string_view>& argv) noexcept;

/// What an error reply asks a cluster client to do.
struct redis_redirect {
  enum kind_t : uint8_t {
    /// Not a cluster redirect: the reply is the answer.
    none,
    /// The slot lives on `to` now: remember that and send it there.
    moved,
    /// The slot is migrating: send this one command to `to`, after ASKING.
    ask,
    /// TRYAGAIN or CLUSTERDOWN: send it again after a pause.
    retry,
  };
  kind_t kind = none;
  uint16_t slot = 0;
  redis_host to;
};

/// Returns the redirect the error text `error` (of an error reply) asks
/// for, e.g. "MOVED 3999 127.0.0.1:6381"; an empty host (":6381", a node
/// that does not know its address) stands for the replying node's.
redis_redirect parse_redirect(std::string_view error);

} // namespace saga
