#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/directory.hpp"
#include "actors/engine_atoms.hpp"
#include "actors/timer_service.hpp"
#include "core/crash_atom.hpp"
#include "saga/participant.hpp"
#include "saga/runtime.hpp"

namespace saga::detail {

/// How one action of a local participant runs.
struct handler_entry {
  enum class mode { in_actor, blocking, async };
  mode how = mode::in_actor;
  step_handler execute;
  step_handler compensate;
  async_step_handler async_execute;
  async_step_handler async_compensate;
};

/// The actions of one local participant. Immutable once published.
using handler_table = std::unordered_map<std::string, handler_entry>;

/// The handler table of one participant, replaced copy-on-write so the actor
/// reads it without locking. Thread-safe.
struct handler_registry {
  /// Returns the current table.
  std::shared_ptr<const handler_table> snapshot() const {
    return std::atomic_load(&table_);
  }

  /// Adds (or replaces) `action`.
  void add(std::string action, handler_entry entry);

private:
  std::mutex write_mtx_;
  std::shared_ptr<const handler_table> table_
    = std::make_shared<const handler_table>();
};

/// A participant hosted by a runtime: the public interface plus the hand-off
/// through which asynchronous handlers answer (see `responder`) and the
/// barrier's timer wake-ups.
using local_participant_actor = participant_actor::extend<
  caf::reacts_to<deliver_atom, uint64_t, step_reply>,
  caf::reacts_to<deliver_atom, uint64_t, caf::error>, wake_message,
  caf::reacts_to<crash_atom>>;

/// What all copies of one `responder` share: where the answer goes, and
/// whether it went. Holds the participant weakly: a handler that keeps its
/// responder forever keeps no actor alive, and one that outlives its
/// runtime sends nothing. Thread-safe.
struct responder_state {
  responder_state(caf::weak_actor_ptr participant, uint64_t token)
    : participant(std::move(participant)), token(token) {
    // nop
  }

  /// Tells the participant that no answer will come, unless one came.
  ~responder_state();

  responder_state(const responder_state&) = delete;
  responder_state& operator=(const responder_state&) = delete;

  caf::weak_actor_ptr participant;
  uint64_t token;
  std::atomic<bool> answered{false};
};

/// Returns a new participant actor named `name` that runs the handlers of
/// `registry` behind the participant barrier (records in the journal found
/// in `dir`); blocking handlers run on detached actors linked to the
/// participant, spawned on first use: up to `blocking_workers` for executes
/// and as many again for compensations, so a hung execute never holds up
/// the compensation that revokes it.
local_participant_actor
spawn_local_participant(caf::actor_system& sys, std::string name,
                        std::shared_ptr<handler_registry> registry,
                        size_t blocking_workers, directory_ptr dir);

/// Returns an actor that puts the participant barrier in front of `inner`,
/// keeping its records in the journal found in `dir`.
participant_actor spawn_barrier(caf::actor_system& sys, participant_actor inner,
                                directory_ptr dir);

} // namespace saga::detail
