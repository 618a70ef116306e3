#pragma once

// The actor of an HTTP participant: turns step commands into requests to a
// service and its answers into step replies (docs/http-participants.md).
// Spawned and owned by the runtime (`runtime::http_participant`).

#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "saga/http_participant.hpp"
#include "saga/participant.hpp"

namespace saga::detail {

/// Returns an error naming the first bad setting of HTTP participant
/// `name`: its URL, a route's method or path, a header, or a bound.
caf::error check_http_participant(const std::string& name,
                                  const http_participant_config& cfg);

/// Returns a new actor for HTTP participant `name` (no barrier: the runtime
/// puts one in front of it), or an error naming a bad setting or a TLS
/// file that cannot be loaded. The actor owns the participant's HTTP client
/// and its I/O thread and stops them when it exits.
caf::expected<participant_actor>
spawn_http_participant(caf::actor_system& sys, const std::string& name,
                       http_participant_config cfg);

} // namespace saga::detail
