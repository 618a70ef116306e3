#pragma once

#include <chrono>
#include <string>

#include <caf/fwd.hpp>

#include "cluster/fault_injection.hpp"
#include "cluster/routes.hpp"
#include "saga/participant.hpp"

namespace saga::detail {

/// Returns a local stand-in for participant `name` hosted on other nodes.
/// Saga actors use it like any participant; it forwards each request to a
/// node hosting `name` (see `routes`), moves on to the next such node after
/// a failure, and answers `errc::no_route` (retryable) while none is
/// connected. Forwarded requests are bounded by `timeout`. With `chaos`
/// enabled (chaos campaigns only) it also sends some commands twice and
/// some late (see `fault_injection`).
participant_actor spawn_remote_participant(caf::actor_system& sys,
                                           std::string name,
                                           route_table_ptr routes,
                                           std::chrono::milliseconds timeout,
                                           const fault_injection& chaos = {});

} // namespace saga::detail
