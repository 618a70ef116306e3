#pragma once

#include "saga/atoms.hpp"
#include "saga/messages.hpp"

namespace saga::detail {

/// Sends `cmd` to `participant` as a compensate (or an execute) request from
/// `self` and returns the response handle, to attach `.then(...)` to.
template <class Self, class Handle, class Timeout>
auto ask_participant(Self* self, const Handle& participant, Timeout timeout,
                     bool compensate, const step_command& cmd) {
  if (compensate)
    return self->request(participant, timeout, compensate_atom::value, cmd);
  return self->request(participant, timeout, execute_atom::value, cmd);
}

} // namespace saga::detail
