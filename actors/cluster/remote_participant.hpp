#pragma once

#include <chrono>
#include <string>

#include <caf/fwd.hpp>

#include "actors/cluster/routes.hpp"
#include "saga/participant.hpp"

namespace saga::detail {

/// Returns a local stand-in for participant `name` hosted on other nodes.
/// Saga actors use it like any participant; it forwards each request to a
/// node hosting `name` (see `routes`), moves on to the next such node after
/// a failure, and answers `errc::no_route` (retryable) while none is
/// connected. Forwarded requests are bounded by `timeout`.
participant_actor spawn_remote_participant(caf::actor_system& sys,
                                           std::string name,
                                           route_table_ptr routes,
                                           std::chrono::milliseconds timeout);

} // namespace saga::detail
