#pragma once

// Waits for a saga's result through the coordinator (resuming it from the
// journal if it does not run here). Tests only: blocks the caller.

#include <caf/scoped_actor.hpp>

#include "saga/saga.hpp"

namespace saga::test {

inline saga_result await_saga(runtime& rt, const saga_id& id) {
  saga_result result;
  caf::scoped_actor self{rt.system()};
  self->request(rt.coordinator(), caf::infinite, resume_atom::value, id)
    .receive([&](saga_result& r) { result = std::move(r); },
             [&](caf::error& err) { result.error = std::move(err); });
  return result;
}

} // namespace saga::test
