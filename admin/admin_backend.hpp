#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <caf/expected.hpp>

#include "admin/saga_catalog.hpp"
#include "saga/definition.hpp"
#include "saga/json.hpp"

namespace saga::detail {

/// What `POST /api/sagas` asks for. A value type.
struct start_request {
  /// The saga to start; the server has set its id (the client's, or one it
  /// made) and business key.
  definition def;
  /// Answer with the result if the saga ends within this time (0: once it
  /// exists).
  std::chrono::milliseconds wait{0};
};

/// Receives what becomes of one start, on any thread. `started` at most
/// once, when the saga exists (`{"id", "created", "state", "ended"}`):
/// its first event is durable, or it existed before; `answered` exactly
/// once: the runtime's answer (the result, or the state of a saga another
/// node runs, as `{"id", "created", "state", "ended", ...}`), or an error
/// (a rejected definition: nothing was persisted). Either may come first.
struct start_observer {
  std::function<void(json)> started;
  std::function<void(caf::expected<json>)> answered;
};

/// What the admin HTTP API serves (docs/admin-api.md), as JSON values. The
/// node implements it over its saga catalog (Redis) and its runtime; the
/// server only parses, checks and routes. `list`, `show`, `stats`, `nodes`,
/// `retry`, `abort`, `audit` and `start` may block on Redis (bounded by the
/// backend's own timeouts) and are called one at a time from the server's
/// backend thread; `events`, `metrics_text` and `health` must not block and are
/// called from its I/O thread, concurrently with those. Errors carry a
/// `saga::errc` that the server maps to an HTTP status (unknown_saga 404,
/// invalid_request 400, invalid_state 409, journal_failure and no_route 503,
/// anything else 500).
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

  /// Returns up to `max` lifecycle events (`{"events", "next", "epoch"}`):
  /// those after `after` when `epoch` is the node's (or not given); else
  /// (a new reader, or one from before the node restarted, whose sequence
  /// numbers restarted at 1) the newest `max`, with `"reset": true` for a
  /// reader of another epoch.
  virtual caf::expected<json> events(std::optional<uint64_t> after,
                                     std::optional<uint64_t> epoch,
                                     uint32_t max)
    = 0;

  /// Retries failed saga `id` on behalf of operator `by`; answers once the
  /// operator event is durable.
  virtual caf::expected<json>
  retry(const std::string& id, const std::string& by) = 0;

  /// Compensates running saga `id` now on behalf of operator `by`.
  virtual caf::expected<json>
  abort(const std::string& id, const std::string& by) = 0;

  /// Returns the newest `max` operator actions of the audit stream, newest
  /// first (`{"entries": [...]}`, docs/admin-api.md).
  virtual caf::expected<json> audit(uint32_t max) = 0;

  /// Starts the saga of `req` (or finds it: a start is idempotent by id)
  /// and reports to `obs`. May wait on Redis; never waits for the saga.
  virtual void start(start_request req, start_observer obs) = 0;

  /// Returns the node's metrics in the Prometheus text format.
  virtual std::string metrics_text() = 0;

  /// Returns the node's health without waiting on Redis: a JSON object
  /// whose boolean "ok" says whether it holds its lease and reached Redis
  /// at its last renewal (docs/admin-api.md, `/healthz`).
  virtual json health() = 0;
};

} // namespace saga::detail
