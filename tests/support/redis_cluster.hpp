#pragma once

// A private Redis Cluster for tests: `masters` masters with `replicas`
// replicas each (3 + 3 by default), every one a redis-server on a free
// loopback port with cluster mode on, joined by `redis-cli --cluster create`
// and awaited until every node reports cluster_state:ok. Owns its servers.

#include <memory>
#include <string>
#include <vector>

#include "tests/support/redis_server.hpp"

namespace saga::test {

class redis_cluster {
public:
  explicit redis_cluster(int masters = 3, int replicas = 1);
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

  /// Returns the seed list host:port,host:port,... of every node.
  std::string seeds() const;

private:
  int masters_;
  int replicas_;
  std::vector<std::unique_ptr<redis_server>> nodes_;
};

} // namespace saga::test
