#pragma once

// A private Redis Cluster for tests: `masters` masters with `replicas`
// replicas each (3 + 3 by default), every one a redis-server on a free
// loopback port with cluster mode on, joined by `redis-cli --cluster create`
// and awaited until every node reports cluster_state:ok. Owns its servers.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/redis_server.hpp"
#include "tests/support/tls_certs.hpp"

namespace saga::test {

class redis_cluster {
public:
  /// `node_timeout_ms`: how long a silent node takes to be failed over;
  /// long by default, so that a starved CPU does not look like a dead
  /// master.
  /// `tls`: certificates to speak only TLS between the nodes (bus and
  /// replication) and to clients on a TLS port each (seeds(), url()); the
  /// plain ports stay open for the tests' own looks. Not owned: it must
  /// outlive the cluster.
  explicit redis_cluster(int masters = 3, int replicas = 1,
                         int node_timeout_ms = 15000,
                         const tls_certs* tls = nullptr);
  ~redis_cluster();

  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;

  /// Starts the servers, creates the cluster and waits (bounded) until every
  /// node reports cluster_state:ok; returns false (and says why on stderr)
  /// otherwise.
  bool start();

  /// Returns every node's server, masters first as created.
  const std::vector<std::unique_ptr<redis_server>>& nodes() const noexcept {
    return nodes_;
  }

  /// Returns the seed list host:port,host:port,... of every node (their
  /// TLS ports on a TLS cluster).
  std::string seeds() const;

  /// Returns redis+cluster://<seeds()>, or on a TLS cluster
  /// rediss+cluster://<seeds()>?ca_file=<the CA>.
  std::string url() const;

  /// Returns the node ID (CLUSTER MYID) of the node on `port`, or "".
  static std::string node_id(int port);

  /// Returns the port of the master that serves `slot` now, as the node on
  /// `port` sees it (CLUSTER SLOTS), or 0.
  static int master_of(int port, uint16_t slot);

  /// Returns the port of a replica of the master on `port` (ROLE), or 0.
  static int replica_of(int port);

  /// Returns the node listening on `port`, or null.
  redis_server* node_at(int port) const;

private:
  int masters_;
  int replicas_;
  int node_timeout_ms_;
  const tls_certs* tls_;
  std::vector<std::unique_ptr<redis_server>> nodes_;
  /// The TLS port of each node in `nodes_` (TLS clusters only).
  std::vector<int> tls_ports_;
};

/// Returns the Redis Cluster this test program shares (3 masters with a
/// replica each, started on first use), or null if it did not start.
redis_cluster* shared_cluster();

} // namespace saga::test
