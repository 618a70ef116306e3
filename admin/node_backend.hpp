#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "admin/admin_backend.hpp"
#include "admin/saga_catalog.hpp"
#include "core/node_health.hpp"
#include "persistence/redis_url.hpp"
#include "saga/runtime.hpp"

namespace saga::detail {

/// Settings of a node's admin backend. A value type.
struct node_backend_config {
  std::string node_id;
  redis_endpoint redis;
  std::chrono::milliseconds io_timeout{2'000};
  /// The token sent with an abort forwarded to the node that runs the saga.
  std::string token;
  /// Lifecycle events kept for `events()`; older ones are dropped.
  size_t event_buffer = 4096;
  /// What the node's membership last found (see `health()`); may be null.
  std::shared_ptr<node_health> health;
  /// The node's incarnation: the event cursor's epoch (see `events`).
  uint64_t epoch = 0;
  /// The node's lease, reported by `health()`.
  std::chrono::milliseconds lease{2'000};
  /// How long the audit stream keeps an operator action (`saga:audit`,
  /// docs/redis-layout.md): longer than the sagas it names.
  std::chrono::seconds audit_retention{90 * 24 * 3600};
};

/// The admin backend of a `saga::node`: reads go to a saga catalog on the
/// cluster's Redis, retries and aborts to the node's runtime (an abort of
/// a saga another live node runs is forwarded to that node's admin API),
/// and the lifecycle events of the sagas this node drives are kept in a
/// bounded ring. Borrows the runtime, which must outlive it. Thread-safe
/// for the admin server's two threads (catalog calls on one, the ring,
/// metrics and health on the other) plus the runtime's threads that fill
/// the ring.
class node_backend : public admin_backend {
public:
  node_backend(runtime& rt, node_backend_config cfg);
  ~node_backend() override;

  caf::expected<json> list(const saga_filter& filter) override;
  caf::expected<json> show(const std::string& id) override;
  caf::expected<json> stats() override;
  caf::expected<json> nodes() override;
  caf::expected<json> events(std::optional<uint64_t> after,
                             std::optional<uint64_t> epoch,
                             uint32_t max) override;
  caf::expected<json> retry(const std::string& id,
                            const std::string& by) override;
  caf::expected<json> abort(const std::string& id,
                            const std::string& by) override;
  caf::expected<json> audit(uint32_t max) override;
  void start(start_request req, start_observer obs) override;
  std::string metrics_text() override;
  json health() override;

  /// The starts waiting for their saga's first event (see `start`); shared
  /// with the runtime's callbacks, which may outlive the backend.
  struct start_registry;

private:
  void record(const lifecycle_event& ev);

  /// Returns what `act` returns for operator action `action` of `by` on saga
  /// `id`, recorded in the audit stream before (`requested`; if that fails,
  /// `act` is not called) and after (`accepted` or `refused`).
  caf::expected<json> audited(const char* action, const std::string& id,
                              const std::string& by,
                              const std::function<caf::expected<json>()>& act);

  /// Aborts saga `id` here, or forwards the abort to its live owner.
  caf::expected<json> abort_here_or_at_owner(const std::string& id,
                                             const std::string& by);

  /// Returns a new saga id for a start that named none.
  std::string make_id();

  runtime& rt_;
  node_backend_config cfg_;
  saga_catalog catalog_;
  uint64_t subscription_ = 0;
  std::mutex mtx_;
  std::deque<json> ring_;
  uint64_t last_seq_ = 0;
  std::shared_ptr<start_registry> starts_;
  std::mt19937_64 rng_;
};

} // namespace saga::detail
