#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/atoms.hpp"
#include "saga/messages.hpp"

namespace saga {

/// The interface every step participant speaks, local or remote: execute a
/// step or compensate it, and reply with the outcome. Any CAF actor with this
/// interface can be registered with `runtime::register_participant`.
///
/// Contract: a `step_reply` with `ok == false` means the operation had no
/// effect. A participant should treat a repeated (saga id, step, operation)
/// as the same operation, since retries and recovery deliver at least once.
using participant_actor = caf::typed_actor<
  caf::replies_to<execute_atom, step_command>::with<step_reply>,
  caf::replies_to<compensate_atom, step_command>::with<step_reply>>;

} // namespace saga
