#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace saga::admin {

/// An HTTP/1.1 answer: status code and body.
struct http_response {
  unsigned status = 0;
  std::string body;
};

/// One blocking HTTP/1.1 request (Boost.Beast), a connection each:
/// `method` `target` on `host:port`, with `headers` and `body` (sent as
/// `application/json` when not empty). A value type; sagactl's only
/// HTTP client, not thread-safe.
struct http_request {
  std::string host;
  uint16_t port = 0;
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// Bound on connecting, sending and reading the whole answer.
  std::chrono::milliseconds timeout{5'000};
};

/// Returns the answer to `req`, or an `errc::no_route` error naming the
/// address and what failed (cannot connect, timeout, malformed answer).
caf::expected<http_response> send(const http_request& req);

/// Returns host and port of `address` ("host:port", "[v6]:port"), or an
/// `errc::invalid_request` error naming it.
caf::expected<std::pair<std::string, uint16_t>>
parse_address(const std::string& address);

} // namespace saga::admin
