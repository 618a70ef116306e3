#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "admin/saga_catalog.hpp"
#include "saga/json.hpp"

namespace saga::detail {

/// What the admin HTTP API serves (docs/admin-api.md), as JSON values. The
/// node implements it over its saga catalog (Redis) and its runtime; the
/// server only parses, checks and routes. `list`, `show`, `stats`, `nodes`,
/// `retry` and `abort` may block on Redis (bounded by the backend's own
/// timeouts) and are called one at a time from the server's backend thread;
/// `events`, `metrics_text` and `health` must not block and are called from
/// its I/O thread, concurrently with those.
/// Errors carry a `saga::errc` that the server maps to an HTTP status
/// (unknown_saga 404, invalid_request 400, invalid_state 409,
/// journal_failure and no_route 503, anything else 500).
class admin_backend {
public:
  virtual ~admin_backend() = default;

  /// Returns one page of sagas matching `filter` (`{"sagas", "next",
  /// "scanned"}`).
  virtual caf::expected<json> list(const saga_filter& filter) = 0;

  /// Returns saga `id` with its steps, operations, events and operator actions.
  virtual caf::expected<json> show(const std::string& id) = 0;

  /// Returns the counts per state and per definition.
  virtual caf::expected<json> stats() = 0;

  /// Returns the cluster's nodes.
  virtual caf::expected<json> nodes() = 0;

  /// Returns up to `max` lifecycle events after `after` (`{"events", "next"}`).
  virtual caf::expected<json> events(uint64_t after, uint32_t max) = 0;

  /// Retries failed saga `id` on behalf of operator `by`; answers once the
  /// operator event is durable.
  virtual caf::expected<json>
  retry(const std::string& id, const std::string& by) = 0;

  /// Compensates running saga `id` now on behalf of operator `by`.
  virtual caf::expected<json>
  abort(const std::string& id, const std::string& by) = 0;

  /// Returns the node's metrics in the Prometheus text format.
  virtual std::string metrics_text() = 0;

  /// Returns the node's health without waiting on Redis: a JSON object
  /// whose boolean "ok" says whether it holds its lease and reached Redis
  /// at its last renewal (docs/admin-api.md, `/healthz`).
  virtual json health() = 0;
};

} // namespace saga::detail
