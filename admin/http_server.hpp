#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <caf/expected.hpp>

#include "admin/admin_backend.hpp"

namespace saga::detail {

class admin_server_impl;

/// How the admin HTTP server listens and what it allows. A value type.
struct admin_server_config {
  /// A numeric IPv4 or IPv6 address, or "localhost" (127.0.0.1).
  std::string host = "127.0.0.1";
  /// 0: any free port (see `admin_server::port`).
  uint16_t port = 0;
  /// The bearer token of mutating calls; empty: every mutating call is
  /// refused with 401.
  std::string token;
  /// Request bodies above this many bytes get 413.
  size_t max_body = 16 * 1024;
  /// Per connection: a request must arrive, and its answer leave, within
  /// this time of the previous one; idle keep-alive connections are closed.
  std::chrono::milliseconds io_timeout{10'000};
  /// Connections served at once; one beyond gets 503 with Retry-After.
  size_t max_connections = 64;
  /// A mutating call refused for its token (401) is logged and answered
  /// only after this delay, which slows down guessing (the connection
  /// waits; the server does not).
  std::chrono::milliseconds auth_failure_delay{1'000};
  /// The dashboard's files: path (e.g. "/index.html") -> (content type,
  /// bytes); "/" serves "/index.html". An empty map is fine.
  std::map<std::string, std::pair<std::string, std::string>> assets;
};

/// The admin HTTP API of docs/admin-api.md (Boost.Beast) on one I/O thread
/// it owns, plus a backend thread for the `admin_backend` calls that may wait
/// on Redis (see `admin_backend`). The server owns its threads, sockets and
/// config and shares the backend; `port` is thread-safe, and `stop` may be
/// called from any thread except its own two (so not from the backend).
class admin_server {
public:
  /// Returns a started server, listening when it returns, or an
  /// `errc::invalid_config` error naming the problem (a bad host, a port in
  /// use, a null backend).
  static caf::expected<std::unique_ptr<admin_server>>
  start(admin_server_config cfg, std::shared_ptr<admin_backend> backend);

  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  /// Stops the server (see `stop`).
  ~admin_server();

  /// Returns the port the server listens on (the chosen one for port 0).
  uint16_t port() const noexcept;

  /// Stops accepting, closes every connection and joins the I/O thread and
  /// the backend thread; a backend call in progress finishes first, queued
  /// ones are skipped. Idempotent.
  void stop();

private:
  explicit admin_server(std::unique_ptr<admin_server_impl> ptr);

  std::unique_ptr<admin_server_impl> impl_;
};

} // namespace saga::detail
