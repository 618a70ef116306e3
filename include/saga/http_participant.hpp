#pragma once

// A participant that is a service over HTTP: its steps' operations become
// requests, their answers step replies (docs/http-participants.md). A value
// type, copied into the participant when it is declared.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "saga/http_endpoint.hpp"

namespace saga {

/// Declares an HTTP participant (`runtime::http_participant`). An action
/// without a route goes to `POST <base>/<action>` and its compensation to
/// `POST <base>/<action>/compensate`.
struct http_participant_config {
  /// `http://host[:port][/prefix]` or `https://...`; no query, no user.
  std::string base_url;
  /// Per action: its endpoints.
  std::map<std::string, http_route> routes;
  /// Bound on one request: connecting, sending and reading the whole
  /// answer. A request that takes longer is aborted and retried under the
  /// step's policy.
  std::chrono::milliseconds timeout{10'000};
  /// Extra headers sent with every request (e.g. an API token). Names are
  /// HTTP tokens; values hold no control characters.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Requests in flight at most (and so connections kept open); more wait
  /// in a queue of `queue_max`, beyond which a step is answered "busy"
  /// (retried under its policy).
  uint32_t max_in_flight = 16;
  uint32_t queue_max = 4096;
  /// Bytes of one answer's body at most; a larger one is an error.
  size_t response_bytes_max = 1024 * 1024;
  /// How long a service may answer 425 ("still working") for one request
  /// before the request counts as failed.
  std::chrono::milliseconds still_working_max{60'000};
  /// https only: the CA certificates to trust (PEM file; default: the
  /// system's), a client certificate and its key (PEM, unencrypted), and
  /// the name to verify the server's certificate against (default: the
  /// URL's host).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

} // namespace saga
