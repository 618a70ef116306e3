#pragma once

#include <memory>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/atoms.hpp"
#include "saga/definition.hpp"
#include "saga/participant.hpp"
#include "saga/saga_result.hpp"
#include "saga/status.hpp"

namespace saga {

/// The front door of a runtime for actors: start a saga, resume one from the
/// journal, register participants. Owns the saga actors it starts.
///
/// - run(definition) -> saga_result once the saga has ended. An invalid
///   definition is answered at once with an error result (`state` pending).
/// - resume(id) -> saga_result once the resumed saga has ended (a saga that
///   is running already is not started twice; the caller waits for it too).
/// - recover() -> how many unfinished sagas of this node were resumed
///   (those of earlier incarnations are adopted first); replies once all
///   were started, not when they end.
/// - recover(node, below) -> the same for another node's sagas whose owner
///   epoch is below `below`: adopts them (a failover) and resumes them.
/// - register(name, participant) -> true (false: the name was taken; the
///   handle is replaced).
/// - lookup(name) -> the participant registered under `name`, or
///   `errc::unknown_participant`.
/// - which_child(id) -> the current actor of running saga `id` (for
///   operators and fault injection), or `errc::unknown_child`.
/// - retry(id, by) -> the saga's new status (compensating or running) once
///   operator `by`'s `saga_retried` event is durable and this node owns and
///   drives the saga; only for a `failed` saga (`errc::invalid_state`
///   otherwise, `errc::unknown_saga` for an id the journal does not know).
///   Any coordinating node may retry any failed saga: taking it over is a
///   compare-and-set in the journal.
/// - abort(id, by) -> compensating, once the `compensation_started` that
///   names operator `by` is durable: for a saga running on this node, or a
///   parked one that was running (reopened and turned back at once).
///   `errc::invalid_state` past the pivot or for an ended saga;
///   `errc::no_route` for a saga another node runs.
using coordinator_actor = caf::typed_actor<
  caf::replies_to<run_atom, definition_ptr>::with<saga_result>,
  caf::replies_to<resume_atom, saga_id>::with<saga_result>,
  caf::replies_to<recover_atom>::with<uint64_t>,
  caf::replies_to<recover_atom, std::string, uint64_t>::with<uint64_t>,
  caf::replies_to<register_atom, std::string, participant_actor>::with<bool>,
  caf::replies_to<lookup_atom, std::string>::with<participant_actor>,
  caf::replies_to<which_child_atom, saga_id>::with<caf::actor>,
  caf::replies_to<retry_atom, saga_id, std::string>::with<saga_status>,
  caf::replies_to<abort_atom, saga_id, std::string>::with<saga_status>>;

} // namespace saga

// Definitions travel between local actors as shared immutable pointers; a
// remote coordinator protocol sends their JSON form instead.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(saga::definition_ptr)
