#pragma once

// Where a step operation of an HTTP participant goes
// (docs/http-participants.md). Value types.

#include <cstddef>
#include <string>

namespace saga {

/// One step operation's request line below an HTTP participant's base URL:
/// `method` and `path`, e.g. {"POST", "/charge"}. An empty path: not set.
struct http_endpoint {
  std::string method = "POST";
  std::string path;
};

/// The execute and compensate endpoints of one action or step.
struct http_route {
  http_endpoint execute;
  http_endpoint compensate;
};

/// Bytes of an endpoint's path at most.
constexpr size_t http_path_bytes_max = 2'048;

} // namespace saga
