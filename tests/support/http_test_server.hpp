#pragma once

// A scripted HTTP/1.1 server for tests (Boost.Beast, plain or TLS): listens
// on a free loopback port, records every request and answers it as a test's
// handler says (at once, late, never, or cut mid-body). Owns its I/O thread,
// sockets and recorded requests; every public function is thread-safe, and
// the handler runs on the server's thread (it must not destroy the server).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace saga::test {

class tls_certs;

class http_test_server {
public:
  /// One request as the server read it. Header names are lower-cased.
  struct request {
    /// The method, e.g. "POST".
    std::string method;
    /// The path and query, e.g. "/charge?x=1".
    std::string target;
    /// Name (lower case) -> value; a repeated header's values joined by
    /// ", ".
    std::map<std::string, std::string> headers;
    std::string body;
  };

  /// What to answer one request.
  struct response {
    unsigned status = 200;
    std::string body;
    /// Extra headers; Content-Type is application/json unless set here,
    /// Content-Length is always computed. "Connection: close" closes the
    /// connection after the answer.
    std::vector<std::pair<std::string, std::string>> headers;
    /// Wait this long before answering (a slow service).
    std::chrono::milliseconds delay{0};
    /// Never answer; keep the connection open until the client closes it
    /// or the server stops.
    bool hang = false;
    /// Send the status line, headers (with the full Content-Length) and
    /// half of the body, then close the connection.
    bool close_mid_body = false;
  };

  /// Returns the answer to a request. Called on the server's thread; an
  /// exception it throws is answered 500 with its message as the body.
  using handler = std::function<response(const request&)>;

  /// Listens on 127.0.0.1 on a free port (port 0) and answers every request
  /// with `h` (called on the server's thread, one request at a time). With
  /// `tls`, speaks HTTPS with tls->path("server.crt") /
  /// tls->path("server.key"). Throws std::runtime_error if it cannot
  /// listen (or load the certificate).
  explicit http_test_server(handler h, const tls_certs* tls = nullptr);

  /// Stops: closes the listener and every connection, joins the thread.
  ~http_test_server();

  http_test_server(const http_test_server&) = delete;
  http_test_server& operator=(const http_test_server&) = delete;

  /// Returns the port the server listens on.
  uint16_t port() const noexcept;

  /// Returns "http://127.0.0.1:<port>" or "https://127.0.0.1:<port>".
  std::string base_url() const;

  /// Returns a copy of every request read so far, in arrival order.
  std::vector<request> requests() const;

  /// Waits until at least `n` requests were read or `timeout` passed;
  /// returns whether they were.
  bool wait_requests(size_t n, std::chrono::milliseconds timeout) const;

  /// Returns how many TCP connections were accepted so far (to test
  /// keep-alive reuse).
  size_t connections() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace saga::test
