#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/directory.hpp"
#include "cluster/fault_injection.hpp"
#include "cluster/routes.hpp"
#include "core/node_health.hpp"
#include "persistence/redis_url.hpp"
#include "saga/atoms.hpp"

namespace saga::detail {

using tick_atom = caf::atom_constant<caf::atom("sg_tick")>;
using sync_atom = caf::atom_constant<caf::atom("sg_sync")>;

/// A node's view of its cluster. Every quarter lease it renews the node's
/// lease and record in Redis, lists the members, connects to the gateways
/// of live ones (and of static peers), learns which participants they host
/// and stands in for those (`spawn_remote_participant`). If the node
/// coordinates, it has the coordinator adopt the sagas of every member
/// whose lease expired.
///
/// - tick() -> one pass (its own timer).
/// - sync() -> once a full pass has completed (start-up waits for it):
///   whether this node holds its lease (or has no directory).
///
/// A member whose lease is gone is adopted only once this node has seen
/// Redis answer for a full lease since it last saw it fail: after an
/// outage every lease has run out, and the live members need a pass to
/// renew theirs.
using membership_actor
  = caf::typed_actor<caf::reacts_to<tick_atom>,
                     caf::replies_to<sync_atom>::with<bool>>;

struct membership_config {
  std::string node_id;
  uint64_t epoch = 0;
  std::string host;
  uint16_t port = 0;
  /// The admin HTTP API's "host:port", published in the node record.
  std::string admin;
  bool coordinates = false;
  /// Redis of the directory; none: static peers only.
  std::optional<redis_endpoint> redis;
  std::vector<std::string> peers;
  std::chrono::milliseconds lease{2'000};
  std::chrono::milliseconds io_timeout{2'000};
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds remote_timeout{30'000};
  /// Fault injection of the stand-ins (off by default).
  fault_injection chaos;
  /// Called once if a newer incarnation of this node id took the lease.
  std::function<void()> on_replaced;
  /// Where each lease renewal's outcome goes (the admin API's /healthz);
  /// may be null.
  std::shared_ptr<node_health> health;
};

/// Returns the membership actor of a node (detached: it talks to Redis
/// with blocking calls). `dir` is the node's runtime directory: remote
/// stand-ins are registered there, the coordinator is found there.
membership_actor spawn_membership(caf::actor_system& sys, membership_config cfg,
                                  directory_ptr dir, route_table_ptr routes);

} // namespace saga::detail
