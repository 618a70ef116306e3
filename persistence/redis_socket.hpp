#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "persistence/redis_url.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace saga {

/// The TLS client settings of one `rediss://` endpoint, loaded once: the
/// trusted certificate authorities and the client certificate. Shared by
/// every connection to that endpoint (each server of a cluster); immutable
/// after `make`, so thread-safe.
class redis_tls_context {
public:
  /// Returns the context for `tls`, or a `journal_failure` naming the file
  /// that could not be loaded (a CA file, a certificate, a key that does not
  /// match it).
  static caf::expected<std::shared_ptr<const redis_tls_context>>
  make(const redis_tls& tls);

  /// Returns the context for `ep`'s TLS settings, null for plain TCP, or
  /// the error of `make`.
  static caf::expected<std::shared_ptr<const redis_tls_context>>
  of(const redis_endpoint& ep);

  ~redis_tls_context();
  redis_tls_context(const redis_tls_context&) = delete;
  redis_tls_context& operator=(const redis_tls_context&) = delete;

  ssl_ctx_st* native() const noexcept {
    return ctx_;
  }

  /// Returns whether a client certificate is offered to servers.
  bool has_client_certificate() const noexcept {
    return client_certificate_;
  }

  /// The name certificates must carry; empty: the host connected to.
  const std::string& server_name() const noexcept {
    return server_name_;
  }

private:
  redis_tls_context() = default;
  ssl_ctx_st* ctx_ = nullptr;
  std::string server_name_;
  bool client_certificate_ = false;
};

/// A blocking byte stream to one Redis server: TCP, a unix socket, or TLS
/// over TCP, with `timeout` bounding connecting, the TLS handshake and each
/// read and write. Errors are returned as text for the owner's messages
/// ("cannot connect: Connection refused", "did not answer within 500 ms").
/// Never raises SIGPIPE. Not thread-safe: one owner.
class redis_socket {
public:
  redis_socket() = default;
  redis_socket(redis_socket&&) noexcept;
  redis_socket& operator=(redis_socket&&) noexcept;
  redis_socket(const redis_socket&) = delete;
  redis_socket& operator=(const redis_socket&) = delete;
  ~redis_socket();

  /// Connects to `addr` (or the unix socket `socket_path` if not empty),
  /// over TLS if `tls` is not null; returns why that failed, or an empty
  /// string.
  std::string connect(const redis_host& addr, const std::string& socket_path,
                      std::shared_ptr<const redis_tls_context> tls,
                      std::chrono::milliseconds timeout);

  /// Returns whether `connect` succeeded and `close` was not called since.
  bool is_open() const noexcept {
    return fd_ >= 0;
  }

  /// Writes all of `bytes`; returns why that failed, or an empty string.
  std::string write_all(std::string_view bytes);

  /// Reads at least one byte into `buf` (at most `size`) and returns how
  /// many; 0 with `error` set when the read failed or the server closed.
  size_t read_some(char* buf, size_t size, std::string& error);

  /// Closes the connection (also done by the destructor).
  void close() noexcept;

private:
  /// Runs the TLS handshake on the connected socket; returns why it
  /// failed, or an empty string.
  std::string handshake(const std::string& host);

  /// Sends what TLS queued for the socket; returns why that failed.
  std::string flush_tls();

  /// Receives bytes from the socket for TLS to read; returns why that
  /// failed.
  std::string fill_tls();

  /// Returns the text for a socket error `err` (an errno).
  std::string io_error(int err) const;

  int fd_ = -1;
  std::chrono::milliseconds timeout_{0};
  std::shared_ptr<const redis_tls_context> tls_;
  /// TLS over memory buffers: the socket's bytes go through `rbio_`
  /// (received) and `wbio_` (to send), so that this class does the I/O
  /// itself (its timeouts, MSG_NOSIGNAL).
  ssl_st* ssl_ = nullptr;
  bio_st* rbio_ = nullptr;
  bio_st* wbio_ = nullptr;
};

} // namespace saga
