#pragma once

#include <atomic>
#include <cstdint>

namespace saga::detail {

/// What a node's membership last found when it renewed its lease, for the
/// admin API's `/healthz`, which must answer without waiting on Redis.
/// Shared by pointer; the membership actor writes it, any thread reads it.
struct node_health {
  /// Whether the last renewal reached Redis.
  std::atomic<bool> redis_reachable{false};
  /// Whether the node held its lease after the last renewal.
  std::atomic<bool> lease_held{false};
  /// When the lease was last renewed, ms since the Unix epoch (0: never).
  std::atomic<int64_t> renewed_ms{0};
};

} // namespace saga::detail
