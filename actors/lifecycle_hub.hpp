#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "saga/lifecycle.hpp"

namespace saga::detail {

/// The subscriptions to one runtime's lifecycle events: saga actors
/// publish, the runtime subscribes and unsubscribes. Thread-safe. A publish
/// takes a snapshot of the (copy-on-write) list under a short lock and sends
/// outside it; with no subscribers it costs one relaxed load.
class lifecycle_hub {
public:
  /// Adds `subscriber` for the events `filter` passes; returns its id.
  uint64_t subscribe(lifecycle_filter filter, lifecycle_actor subscriber);

  /// Removes subscription `id`; returns its actor (invalid if unknown).
  lifecycle_actor unsubscribe(uint64_t id);

  /// Returns whether nobody listens.
  bool empty() const noexcept {
    return count_.load(std::memory_order_relaxed) == 0;
  }

  /// Sends `ev` to every subscriber whose filter passes it.
  void publish(const lifecycle_event& ev) const;

  /// Removes every subscription; returns their actors.
  std::vector<lifecycle_actor> clear();

private:
  struct subscription {
    uint64_t id;
    lifecycle_filter filter;
    lifecycle_actor actor;
  };
  using list = std::vector<subscription>;

  mutable std::mutex mtx_;
  std::shared_ptr<const list> subs_ = std::make_shared<list>();
  std::atomic<size_t> count_{0};
  uint64_t next_id_ = 0;
};

using lifecycle_hub_ptr = std::shared_ptr<lifecycle_hub>;

} // namespace saga::detail
