#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/directory.hpp"
#include "actors/engine_atoms.hpp"
#include "actors/timer_service.hpp"
#include "core/crash_atom.hpp"
#include "saga/journal/journal.hpp"
#include "saga/participant.hpp"
#include "saga/replay.hpp"

namespace saga::detail {

/// A participant that could not be asked (not registered right now).
using unreachable_atom = caf::atom_constant<caf::atom("sg_unreach")>;

/// One saga instance, a transient child of the saga supervisor. It starts
/// driving its saga at once, persisting each transition before acting on it,
/// and reports the result to the coordinator with `(done_atom, id, result)`.
/// Its timers wake it through the runtime's timer service; `crash_atom`
/// injects a fault; `(abort_atom, by)` turns a running saga back on an
/// operator's behalf and answers the new status once that is durable.
using saga_actor = caf::typed_actor<
  wake_message, caf::reacts_to<unreachable_atom, int32_t, uint32_t, bool>,
  caf::reacts_to<crash_atom>,
  caf::replies_to<abort_atom, std::string>::with<saga_status>>;

/// What a saga actor starts from.
struct saga_actor_args {
  saga_id id;
  /// The definition of a fresh saga (may be null when resuming).
  definition_ptr def;
  /// A state replayed by the coordinator (recovery), to continue from. A
  /// pointer: the arguments live as long as the saga (its restarts start
  /// from them), the state only until the first start.
  std::shared_ptr<saga_state> replayed;
  /// Rebuild from the journal first (a restarted incarnation). A saga the
  /// journal does not know yet starts fresh from `def`.
  bool from_journal = false;
  /// Turn back at once if the saga is still running (compensate recovery,
  /// or an operator's abort of a parked saga), with this code and reason.
  bool compensate_on_resume = false;
  errc resume_code = errc::recovered_compensate;
  /// Empty: "resumed under the compensate recovery policy" (kept out of
  /// every saga's arguments and state).
  std::string resume_reason;
  directory_ptr dir;
  /// Receives `(done_atom, saga_id, saga_result)`.
  caf::actor coordinator;
  std::chrono::milliseconds journal_timeout{3'000};
};

/// Returns a new saga actor in `sys`.
saga_actor spawn_saga(caf::actor_system& sys, saga_actor_args args);

} // namespace saga::detail
