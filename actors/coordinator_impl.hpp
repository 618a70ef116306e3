#pragma once

#include <chrono>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/directory.hpp"
#include "saga/coordinator.hpp"
#include "saga/journal.hpp"
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

/// Settings the coordinator passes on to its saga actors.
struct coordinator_options {
  std::chrono::milliseconds journal_timeout{3'000};
  std::chrono::milliseconds late_reply_window{30'000};
  recovery_policy recovery = recovery_policy::resume;
  size_t recovery_concurrency = 256;
  size_t max_active_sagas = 10'000;
  size_t max_queued_sagas = 100'000;
  /// Per saga: past this many crashes in the window, it is parked `failed`.
  restart_intensity saga_restarts{5, std::chrono::seconds{60}};
  std::chrono::milliseconds saga_restart_backoff{10};
};

/// Returns a new coordinator. It finds the journal and the participants in
/// `dir`, registers itself there, and runs its saga actors under a saga
/// supervisor it links to.
local_coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                          directory_ptr dir,
                                          coordinator_options opts);

} // namespace saga::detail
