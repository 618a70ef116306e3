#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_url.hpp"
#include "saga/json.hpp"
#include "saga/saga_id.hpp"
#include "saga/status.hpp"

namespace saga {

/// What `saga_catalog::list` looks for. A value type; empty fields match
/// everything.
struct saga_filter {
  std::optional<saga_status> state;
  /// Exact definition name.
  std::string definition;
  /// Owner node id.
  std::string node;
  /// Age since the saga started, in seconds.
  std::optional<int64_t> min_age_s;
  std::optional<int64_t> max_age_s;
  /// Sagas per page (1 to 500).
  uint32_t limit = 50;
  /// Candidates examined per call at most (0: 10 x limit): filters that no
  /// index answers cost reads, and a page never reads more than this.
  uint32_t scan = 0;
  /// From a previous page's `next`; empty: the first page.
  std::string cursor;

  /// Returns an `errc::invalid_request` error naming the first bad field.
  caf::error validate() const;
};

/// Reads what operators ask about out of the journal's Redis
/// (docs/redis-layout.md, docs/admin-api.md): pages of sagas by state and
/// filters, one saga's timeline, counts, the node directory. Blocking; not
/// thread-safe (one owner: sagactl, or the admin server's I/O thread).
/// Reconnects on the next call after an I/O error. Never scans the key
/// space: every read goes through an index and is bounded by a page.
class saga_catalog {
public:
  saga_catalog(redis_endpoint ep, std::chrono::milliseconds io_timeout);

  /// Returns one page: `{"sagas": [...], "next": cursor, "scanned": n}`.
  caf::expected<json> list(const saga_filter& filter);

  /// Returns saga `id` (shape in docs/admin-api.md), or
  /// `errc::unknown_saga`.
  caf::expected<json> show(const std::string& id);

  /// Returns `{"states": {...}, "definitions": {...}}`.
  caf::expected<json> stats();

  /// Returns `{"nodes": [...]}`.
  caf::expected<json> nodes();

  /// Returns the owner of saga `id` as (node, epoch), or
  /// `errc::unknown_saga`.
  caf::expected<std::pair<std::string, uint64_t>> owner(const std::string& id);

private:
  caf::expected<redis_connection*> conn() {
    return link_.get();
  }

  redis_link link_;
};

} // namespace saga
