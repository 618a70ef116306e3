#pragma once

#include <chrono>
#include <string>

#include <caf/fwd.hpp>

#include "cluster/routes.hpp"
#include "saga/node.hpp"
#include "saga/participant.hpp"

namespace saga::detail {

/// Returns a local stand-in for participant `name` hosted on other nodes.
/// Saga actors use it like any participant; it forwards each request to a
/// node hosting `name` (see `routes`), moves on to the next such node after
/// a failure, and answers `errc::no_route` (retryable) while none is
/// connected. Forwarded requests are bounded by `timeout`. With `chaos`
/// enabled (chaos campaigns only) it also sends some commands twice and
/// some late (see `node_config::chaos_settings`).
participant_actor
spawn_remote_participant(caf::actor_system& sys, std::string name,
                         route_table_ptr routes,
                         std::chrono::milliseconds timeout,
                         const node_config::chaos_settings& chaos = {});

} // namespace saga::detail
