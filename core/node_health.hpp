#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace saga::detail {

/// What a node's membership last found when it renewed its lease, for the
/// admin API's `/healthz`, which must answer without waiting on Redis.
/// Shared by pointer; the membership actor writes it, any thread reads it.
struct node_health {
  using clock = std::chrono::steady_clock;

  /// Whether the last renewal reached Redis.
  std::atomic<bool> redis_reachable{false};
  /// Whether the node held its lease after the last renewal.
  std::atomic<bool> lease_held{false};
  /// Sagas this node's unfinished index listed at the last renewal, and
  /// sagas ended failed (cluster-wide, within the retention); -1: unknown.
  std::atomic<int64_t> unfinished_sagas{-1};
  std::atomic<int64_t> failed_sagas{-1};

  /// Records that a renewal held the lease now.
  void record_renewal() {
    renewed_ns_ = clock::now().time_since_epoch().count();
  }

  /// Returns the ms since the last renewal that held the lease, or -1 if
  /// none has yet.
  int64_t ms_since_renewal() const {
    const int64_t at_ns = renewed_ns_.load();
    if (at_ns == 0)
      return -1;
    const auto ago = clock::now() - clock::time_point{clock::duration{at_ns}};
    return std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(ago).count());
  }

private:
  /// When the lease was last renewed, steady-clock ticks (0: never).
  std::atomic<int64_t> renewed_ns_{0};
};

} // namespace saga::detail
