#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <caf/error.hpp>

namespace saga {

/// Settings of a `saga::runtime`. A value type; `validate()` names the first
/// bad setting.
struct runtime_config {
  /// Where saga events are persisted: `memory://` (process-local).
  std::string journal_url = "memory://";
  /// Worker threads of the actor system the runtime creates (0: one per core).
  /// Ignored when the runtime is given an actor system.
  size_t scheduler_threads = 0;
  /// How long a saga actor waits for the journal to acknowledge an append
  /// before it gives up (and crashes, for its supervisor to restart it).
  std::chrono::milliseconds journal_timeout{10'000};
  /// How long after a step attempt timed out its late reply is still taken
  /// into account (a late success is recorded and compensated if needed).
  std::chrono::milliseconds late_reply_window{30'000};
  /// Threads (detached actors) per participant that has blocking handlers.
  size_t blocking_workers = 2;

  /// Returns an `errc::invalid_config` error naming the first bad setting.
  caf::error validate() const;
};

} // namespace saga
