#pragma once

// A private redis-server process for tests: a free loopback port, its own
// data folder, started and stopped by the test. Restartable on the same port
// and folder, so AOF persistence can be tested.

#include <chrono>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/redis_connection.hpp"

namespace saga::test {

class redis_server {
public:
  /// Extra redis-server arguments, e.g. {"--appendonly", "yes"}.
  explicit redis_server(std::vector<std::string> args = {});
  ~redis_server();

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  /// Starts the server; returns false (and says why on stderr) if it did not
  /// answer PING.
  bool start();

  /// Stops the server: SHUTDOWN (flushing the AOF) or SIGKILL.
  void stop(bool hard = false);

  /// Returns redis://127.0.0.1:<port>.
  std::string url() const;

  int port() const noexcept {
    return port_;
  }

  bool running() const noexcept {
    return pid_ > 0;
  }

  /// Returns the server's process id (-1: not running), for SIGSTOP and
  /// SIGKILL.
  pid_t pid() const noexcept {
    return pid_;
  }

private:
  std::vector<std::string> args_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

/// Returns a TCP port on 127.0.0.1 that nothing listens on right now; throws
/// std::runtime_error if the system gives none.
int free_port();

/// Returns a connection to the one redis-server on 127.0.0.1:`port` (not
/// routed, even if it is a cluster node), or the error connecting within
/// `timeout`.
caf::expected<redis_connection>
connect_loopback(int port,
                 std::chrono::milliseconds timeout = std::chrono::seconds{2});

/// Returns `connect_loopback(port)`'s connection; throws std::runtime_error
/// naming the failure, for tests that cannot go on without it.
redis_connection must_connect(int port);

/// Returns the redis-server this test program shares (started on first use).
redis_server& shared_server();

/// Returns hash `key` on the server at `url`, values read as integers.
std::map<std::string, long long> read_hash(const std::string& url,
                                           const std::string& key);

} // namespace saga::test
