#pragma once

// Redis Cluster hash slots (https://redis.io/docs/reference/cluster-spec/):
// which slot a key lives in, so a cluster client can route each command to
// the master that serves it, and the key layout can be checked to keep each
// script in one slot (docs/redis-layout.md). Pure functions; thread-safe.

#include <cstdint>
#include <string_view>

namespace saga {

/// The number of hash slots of a Redis Cluster.
constexpr uint16_t redis_slot_count = 16384;

/// Returns the hash slot of `key` as Redis Cluster computes it: the CRC16
/// (XMODEM) of its hash tag, mod 16384. The hash tag is the text between
/// the first '{' and the first '}' after it, if not empty; otherwise the
/// whole key is hashed.
uint16_t redis_key_slot(std::string_view key) noexcept;

} // namespace saga
