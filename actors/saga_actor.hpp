#pragma once

#include <chrono>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/journal.hpp"
#include "saga/participant.hpp"
#include "saga/replay.hpp"

namespace saga::detail {

/// One saga instance. It does nothing until asked to `run`; it then drives
/// the saga to its end, persisting each transition before acting on it, and
/// replies with the result. The timer messages are its own.
using saga_actor = caf::typed_actor<
  caf::replies_to<run_atom>::with<saga_result>,
  caf::reacts_to<step_timer_atom, int32_t, uint32_t, bool>,
  caf::reacts_to<backoff_atom, int32_t, uint32_t, bool>,
  caf::reacts_to<deadline_atom>>;

/// What a saga actor starts from.
struct saga_actor_args {
  /// Fresh saga: saga_id and def set, status pending. Resumed saga: the state
  /// replayed from the journal.
  saga_state state;
  /// The participant of each step, in step order.
  std::vector<participant_actor> participants;
  journal_actor journal;
  std::chrono::milliseconds journal_timeout{10'000};
  std::chrono::milliseconds late_reply_window{30'000};
  /// Resumed sagas that are still running turn back at once (the compensate
  /// recovery policy).
  bool compensate_on_resume = false;
};

/// Returns a new saga actor in `sys`.
saga_actor spawn_saga(caf::actor_system& sys, saga_actor_args args);

} // namespace saga::detail
