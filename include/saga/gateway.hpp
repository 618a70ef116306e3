#pragma once

#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/atoms.hpp"
#include "saga/messages.hpp"
#include "saga/saga_result.hpp"

namespace saga {

/// The one actor a node publishes through CAF's middleman: other nodes and
/// clients reach everything the node offers through it.
///
/// - execute(participant, command) / compensate(participant, command) ->
///   the reply of the participant of that name hosted on this node, or
///   `errc::no_route` if it hosts none.
/// - run(definition JSON) -> the saga's result once it has ended; only on
///   nodes that coordinate (else `errc::invalid_config`); a bad definition
///   is answered with the error naming the problem.
/// - info() -> JSON text: {"id", "epoch", "coordinates", "participants"}.
///
/// Everything crosses the wire as text or plain values (no doubles).
using gateway_actor = caf::typed_actor<
  caf::replies_to<execute_atom, std::string, step_command>::with<step_reply>,
  caf::replies_to<compensate_atom, std::string, step_command>::with<step_reply>,
  caf::replies_to<run_atom, std::string>::with<saga_result>,
  caf::replies_to<info_atom>::with<std::string>>;

} // namespace saga
