#pragma once

// The HTTP/1.1 client of one HTTP participant (Boost.Beast): a pool of
// keep-alive connections to one origin, at most `max_in_flight` requests at
// once, each bounded by a timeout, over TLS for https. Owns one I/O thread;
// `send` and `stop` may be called from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "http/http_url.hpp"

namespace saga::detail {

/// How an `http_client` talks to its origin.
struct http_client_config {
  http_url origin;
  std::chrono::milliseconds timeout{10'000};
  uint32_t max_in_flight = 16;
  uint32_t queue_max = 4096;
  size_t response_bytes_max = 1024 * 1024;
  /// https only (see `http_participant_config`).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

/// One request: method, target (path and query, starting with '/'),
/// headers beyond Host, Content-Type and Content-Length, and a JSON body.
struct http_call {
  std::string method = "POST";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// What the origin answered: status, body, and its Retry-After header.
struct http_answer {
  unsigned status = 0;
  std::string body;
  std::string retry_after;
};

/// Receives the answer to one call, or an error naming what failed: before
/// any of the request was sent (nothing happened), `errc::no_route`
/// (resolve, connect, TLS), `errc::overloaded` (the queue is full) or
/// `errc::shutting_down`; after, `errc::outcome_unknown` (a timeout, a
/// closed, cut, oversized or malformed answer). Runs on the client's I/O
/// thread: it must not block.
using http_done = std::function<void(caf::expected<http_answer>)>;

class http_client {
public:
  /// Returns a running client, or `errc::invalid_config` naming a TLS file
  /// that cannot be loaded.
  static caf::expected<std::shared_ptr<http_client>>
  make(http_client_config cfg);

  virtual ~http_client() = default;

  /// Sends `call` as soon as a connection is free; `done` gets its answer.
  virtual void send(http_call call, http_done done) = 0;

  /// Aborts every request (their `done` gets an error), closes the
  /// connections and joins the I/O thread. Idempotent; not from `done`.
  virtual void stop() = 0;
};

} // namespace saga::detail
