#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace saga {

/// A TCP address of one Redis server. A value type.
struct redis_host {
  std::string host;
  uint16_t port = 6379;
};

/// Where a Redis server (or a Redis Cluster) listens and how to log in. A
/// value type.
struct redis_endpoint {
  /// TCP host; empty for a unix socket.
  std::string host;
  uint16_t port = 6379;
  /// Unix socket path; empty for TCP.
  std::string socket_path;
  /// ACL user (Redis 6+); empty: the default user.
  std::string user;
  /// Empty: no AUTH.
  std::string password;
  /// Database number for SELECT (always 0 for a cluster).
  uint32_t db = 0;
  /// A Redis Cluster's seed nodes (`redis+cluster://`), the first being
  /// `host:port`; any one that answers gives the slot map. Empty: one
  /// server.
  std::vector<redis_host> cluster_seeds;

  /// Returns whether this names a Redis Cluster.
  bool cluster() const noexcept {
    return !cluster_seeds.empty();
  }

  /// Returns the endpoint without credentials, e.g. "127.0.0.1:6379/0", for
  /// logs and error messages.
  std::string describe() const;
};

/// Returns the endpoint named by `url`, or an `errc::invalid_url` error that
/// quotes the URL (with any password masked) and names the problem.
/// Accepted: `redis://[user:password@]host[:port][/db]` (user and password
/// may be percent-encoded; `redis://:password@host` has no user),
/// `unix:///path/to/socket[?db=N]`, and a cluster's seeds as
/// `redis+cluster://[user:password@]host[:port][,host[:port]...]` (at most
/// 64 seeds, no database).
caf::expected<redis_endpoint> parse_redis_url(const std::string& url);

} // namespace saga
