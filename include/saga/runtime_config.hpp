#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <caf/error.hpp>

#include "saga/journal/journal.hpp"
#include "saga/supervisor.hpp"

namespace saga {

/// What `runtime::recover()` does with an unfinished saga.
enum class recovery_policy : uint8_t {
  /// Finish forward where the definition allows: re-send the in-flight step
  /// and carry on (or carry on compensating).
  resume,
  /// Undo everything that completed, as if the saga had failed.
  compensate,
};

/// Settings of a `saga::runtime`. A value type; `validate()` names the first
/// bad setting.
struct runtime_config {
  /// Where saga events are persisted: `memory://` (process-local).
  std::string journal_url = "memory://";
  /// Worker threads of the actor system the runtime creates (0: one per core).
  /// Ignored when the runtime is given an actor system.
  size_t scheduler_threads = 0;
  /// How long a saga actor waits for the journal to acknowledge an append
  /// before it sends the same batch again (appends are idempotent); twice as
  /// long before each further send, up to 32 times this.
  std::chrono::milliseconds journal_timeout{3'000};
  /// Threads (detached actors) per participant that has blocking handlers,
  /// for its executes; as many again for its compensations (so that a
  /// compensation never waits behind a hung execute).
  size_t blocking_workers = 2;
  /// Journal settings (Redis: writers, batch size, retention, node id).
  journal_options journal;
  /// What recover() does with each unfinished saga.
  recovery_policy recovery = recovery_policy::resume;
  /// Resumed sagas running at once during recover(), so a large backlog does
  /// not stampede the participants or the journal.
  size_t recovery_concurrency = 256;
  /// Sagas running at once. Further sagas wait in a queue of at most
  /// `max_queued_sagas`; beyond that they are refused with
  /// `errc::overloaded`, so a flood cannot grow memory without bound.
  size_t max_active_sagas = 10'000;
  size_t max_queued_sagas = 100'000;
  /// Steps one saga definition may have; more are refused with
  /// `errc::invalid_payload` before anything is persisted.
  size_t max_steps = 1'000;
  /// Bytes one saga's stored definition (its JSON, payloads included) may
  /// take, and that a gateway accepts as a definition from the network;
  /// more are refused with `errc::invalid_payload` before anything is
  /// persisted or parsed. Every saga keeps its definition in memory and in
  /// its journal, so this bounds both per saga.
  size_t max_payload_bytes = 1'048'576;
  /// A saga actor that crashes is restarted from the journal; past this many
  /// crashes in the window, the saga is parked `failed` (`errc::saga_parked`).
  restart_intensity saga_restarts{5, std::chrono::seconds{60}};
  /// The runtime's own supervisors (root, participants): past this, they
  /// give up and stop.
  restart_intensity supervisor_restarts{10, std::chrono::seconds{10}};

  /// Returns an `errc::invalid_config` error naming the first bad setting.
  caf::error validate() const;
};

} // namespace saga
