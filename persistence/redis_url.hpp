#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace saga {

/// A TCP address of one Redis server. A value type.
struct redis_host {
  std::string host;
  uint16_t port = 6379;
};

/// How to speak TLS to a `rediss://` endpoint. The server's certificate is
/// always verified: against `ca_file`, for the name it is reached by. A
/// value type.
struct redis_tls {
  /// PEM file of the certificate authorities trusted to sign the server's
  /// certificate; empty: the system's (/etc/ssl/certs).
  std::string ca_file;
  /// PEM client certificate (with its chain) and its private key, for
  /// servers that ask for one (`tls-auth-clients yes`); both or neither.
  std::string cert_file;
  std::string key_file;
  /// The name the server's certificate must carry, also sent as SNI; empty:
  /// the host (name or IP address) connected to, for every node of a
  /// cluster.
  std::string server_name;
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
  /// TLS settings (`rediss://`, `rediss+cluster://`); none: plain TCP.
  std::optional<redis_tls> tls;

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
/// 64 seeds, no database), and both over TLS as `rediss://` and
/// `rediss+cluster://`, whose query may set the `redis_tls` fields:
/// `?ca_file=<path>&cert_file=<path>&key_file=<path>&server_name=<name>`
/// (percent-encoded values).
caf::expected<redis_endpoint> parse_redis_url(const std::string& url);

/// Returns `url` as errors quote it: its password masked (between the ':'
/// after the user and the last '@', or all of the credentials when they
/// have no ':', as in `redis://password@host`). Thread-safe (pure).
std::string masked_url(const std::string& url);

} // namespace saga
