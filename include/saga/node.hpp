#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "saga/runtime.hpp"
#include "saga/runtime_config.hpp"

namespace saga {

namespace detail {
struct node_fault_injection;
} // namespace detail

/// Settings of a `saga::node`. A value type; `validate()` names the first
/// bad setting.
struct node_config {
  /// This node's name in the cluster: letters, digits, '.', '_' and '-'.
  /// A restarted node keeps its id and takes back its unfinished sagas.
  std::string node_id;
  /// Where the gateway listens (CAF middleman, BASP over TCP).
  std::string host = "127.0.0.1";
  /// 0: any free port (see `node::port()`).
  uint16_t port = 0;
  /// Redis for the node directory, leases and failover; empty for a
  /// cluster of static `peers` only (no failover then). When the runtime's
  /// journal is left at `memory://`, it journals to this Redis as well.
  std::string redis_url;
  /// Gateways to connect to without discovery, "host:port" each.
  std::vector<std::string> peers;
  /// Whether this node runs sagas and takes over those of dead nodes.
  bool coordinate = true;
  /// A node that has not renewed its lease for this long is dead to the
  /// others: they adopt its sagas. Renewed four times per lease.
  std::chrono::milliseconds lease{2'000};
  /// Bound on one step request forwarded to another node (the saga's own
  /// step timeout usually ends the attempt sooner).
  std::chrono::milliseconds remote_timeout{30'000};
  /// CAF heartbeats between nodes, and the silence after which a peer
  /// counts as gone (without them CAF never notices a hung peer).
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds connection_timeout{2'000};
  /// The node's runtime (journal, limits, recovery). Its `journal.node_id`
  /// and `journal.epoch` are set by the node.
  runtime_config runtime;
  /// The admin HTTP API and dashboard (docs/admin-api.md): served by a node
  /// with a `redis_url`, and published in its directory record.
  struct admin_settings {
    bool enabled = true;
    /// Loopback by default: reads need no token.
    std::string host = "127.0.0.1";
    /// 0: any free port (see `node::admin_port()`).
    uint16_t port = 0;
    /// The bearer token of retry and abort; empty: they are refused.
    std::string token;
    /// Request bodies above this many bytes are refused (413).
    size_t max_body = 16 * 1024;
    /// Connections served at once; a client beyond gets 503 with
    /// Retry-After.
    size_t max_connections = 64;
    /// A connection is closed when its next request does not arrive (or
    /// its answer cannot leave) within this time: idle keep-alive
    /// connections time out.
    std::chrono::milliseconds idle_timeout{10'000};
    /// How long the audit stream (`saga:audit`) keeps an operator's retry
    /// or abort; independent of the sagas' retention.
    std::chrono::seconds audit_retention{90 * 24 * 3600};
  } admin;

  /// Returns an `errc::invalid_config` error naming the first bad setting.
  caf::error validate() const;
};

/// One process's membership in a caf-saga cluster: a runtime whose
/// participants other nodes can use, whose sagas can use other nodes'
/// participants, and whose unfinished sagas survivors take over when it
/// dies (see docs/ARCHITECTURE.md, "Clusters"). Owns its actor system.
/// Thread-safe: any thread may call any member.
class node {
public:
  /// Creates a node; nothing is published or registered before `start()`.
  /// If `cfg` is invalid or Redis cannot be reached, `start_error()` says
  /// why.
  explicit node(node_config cfg);

  /// Stops the node (see `stop()`).
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Returns why the node could not be created or started, or none.
  const caf::error& start_error() const noexcept;

  /// Returns the builder of participant `name` hosted on this node. Add
  /// participants before `start()` so that peers see them at once.
  participant_builder& participant(const std::string& name);

  /// Declares participant `name` on this node as a service over HTTP
  /// (`runtime::http_participant`), hosted here for the whole cluster.
  /// Returns an `errc::invalid_config` error naming a bad setting.
  caf::error http_participant(const std::string& name,
                              const http_participant_config& cfg);

  /// Returns the node's runtime (to run sagas, read logs).
  runtime& rt();

  /// Publishes the gateway, joins the cluster (registers, takes its lease,
  /// connects to the peers it finds) and, if it coordinates, resumes the
  /// sagas an earlier incarnation left. Blocks until then; returns the
  /// error that stopped it, if any: `journal_failure` if it could not take
  /// its lease within 20 leases, `fenced` if a newer incarnation of its id
  /// took over meanwhile.
  caf::error start();

  /// Leaves the cluster: stops renewing the lease and stops the runtime.
  /// Unfinished sagas stay in the journal for the next incarnation or,
  /// once the lease has expired, for the survivors.
  void stop();

  /// Returns the port the gateway listens on (after `start()`).
  uint16_t port() const noexcept;

  /// Returns the port of the admin HTTP API (after `start()`; 0: none).
  uint16_t admin_port() const noexcept;

  /// Returns this incarnation's epoch (its fencing token).
  uint64_t epoch() const noexcept;

  /// Sets a function called once, from a runtime thread, when the node
  /// must stop on its own: a newer incarnation of the same id took its
  /// lease. The node's sagas belong to that incarnation now.
  void on_replaced(std::function<void()> callback);

private:
  /// The test hook of node/fault_injection.hpp (chaos campaigns); not part
  /// of the API.
  friend struct detail::node_fault_injection;

  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace saga
