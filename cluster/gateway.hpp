#pragma once

#include <chrono>

#include <caf/fwd.hpp>

#include "actors/directory.hpp"
#include "cluster/routes.hpp"
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
  /// How long `run`s wait at most for the node's first membership pass
  /// (`open_gateway`), which registers the participants of the cluster;
  /// then the coordinator decides (and refuses a participant still
  /// unknown with `errc::unknown_participant`). 0: no waiting.
  std::chrono::milliseconds hold_runs{0};
};

/// Opens the gate of a gateway spawned with `hold_runs`: the node's first
/// membership pass is done, so a participant still unknown now is unknown
/// to the cluster (see `spawn_gateway`).
void open_gateway(const gateway_actor& gw);

/// Returns the gateway of a node: it serves the participants `routes` lists
/// as local (found in `dir`, current incarnations) and, if the node
/// coordinates, starts sagas on its coordinator. With `id.hold_runs`, it
/// holds every `run` until `open_gateway` (the node has found its
/// cluster), at most that long: a node that just (re)started answers runs
/// a moment late rather than refusing them.
gateway_actor spawn_gateway(caf::actor_system& sys, gateway_identity id,
                            directory_ptr dir, route_table_ptr routes);

} // namespace saga::detail
