#pragma once

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/directory.hpp"
#include "actors/engine_atoms.hpp"
#include "saga/coordinator.hpp"
#include "saga/journal/journal.hpp"
#include "saga/runtime.hpp"
#include "saga/runtime_config.hpp"
#include "saga/supervisor.hpp"

namespace saga::detail {

/// The coordinator as the runtime and its saga actors see it: the public
/// interface, starting a saga for non-actor callers (result by callback),
/// results of saga actors, and parking of sagas whose actor keeps crashing.
using local_coordinator_actor = coordinator_actor::extend<
  caf::reacts_to<run_atom, definition_ptr, result_callback>,
  caf::reacts_to<done_atom, saga_id, saga_result>,
  caf::reacts_to<park_atom, saga_id, std::string>>;

/// Returns a new coordinator. It finds the journal and the participants in
/// `dir`, registers itself there, and runs its saga actors under a saga
/// supervisor it links to.
local_coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                          directory_ptr dir,
                                          runtime_config cfg);

} // namespace saga::detail
