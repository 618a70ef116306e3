#pragma once

#include <caf/fwd.hpp>

#include "actors/cluster/routes.hpp"
#include "actors/directory.hpp"
#include "saga/gateway.hpp"

namespace saga::detail {

/// What a gateway says about its node in `info`.
struct gateway_identity {
  std::string node_id;
  uint64_t epoch = 0;
  bool coordinates = false;
  /// Definitions longer than this are refused unparsed (the runtime's
  /// `max_payload_bytes`).
  size_t max_definition_bytes = 1'048'576;
};

/// Returns the gateway of a node: it serves the participants `routes` lists
/// as local (found in `dir`, current incarnations) and, if the node
/// coordinates, starts sagas on its coordinator.
gateway_actor spawn_gateway(caf::actor_system& sys, gateway_identity id,
                            directory_ptr dir, route_table_ptr routes);

} // namespace saga::detail
