#pragma once

#include <chrono>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/coordinator.hpp"
#include "saga/journal.hpp"
#include "saga/runtime.hpp"
#include "saga/runtime_config.hpp"

namespace saga::detail {

/// The coordinator as the runtime sees it: the public interface plus starting
/// a saga for non-actor callers, who get the result through a callback.
using local_coordinator_actor = coordinator_actor::extend<
  caf::reacts_to<run_atom, definition_ptr, result_callback>>;

/// Settings the coordinator passes on to its saga actors.
struct coordinator_options {
  std::chrono::milliseconds journal_timeout{10'000};
  std::chrono::milliseconds late_reply_window{30'000};
  recovery_policy recovery = recovery_policy::resume;
  size_t recovery_concurrency = 256;
  size_t max_active_sagas = 10'000;
  size_t max_queued_sagas = 100'000;
};

/// Returns a new coordinator that persists to `journal`.
local_coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                          journal_actor journal,
                                          coordinator_options opts);

} // namespace saga::detail
