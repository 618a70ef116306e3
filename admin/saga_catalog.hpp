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
/// everything. A business key or an id prefix is answered by its own index
/// (the other fields then filter what it holds); without them the pages
/// walk the unfinished, then the failed, compensated and completed indexes.
struct saga_filter {
  /// Exact business key (the sagas started with it, newest first).
  std::string business_key;
  /// Saga ids that start with this (in id order).
  std::string id_prefix;
  std::optional<saga_status> state;
  /// Exact definition name.
  std::string definition;
  /// Owner node id.
  std::string node;
  /// Age since the saga started, in seconds.
  std::optional<int64_t> min_age_s;
  std::optional<int64_t> max_age_s;
  /// Start time range, ms since the Unix epoch, both ends included.
  std::optional<int64_t> from_ms;
  std::optional<int64_t> to_ms;
  /// Sagas per page (1 to 500).
  uint32_t limit = 50;
  /// Candidates examined per call at most (0: 10 x limit): filters that no
  /// index answers cost reads, and a page never reads more than this.
  uint32_t scan = 0;
  /// A previous page's `next` or `prev`; empty: the first page.
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

  /// Returns one page: `{"sagas": [...], "next": cursor, "prev": cursor,
  /// "cursor": this page's, "scanned": n}`; an empty `next` or `prev`: no
  /// such page. A page may hold fewer than `limit` sagas (even none) and
  /// still have a `next`: the `scan` budget ran out first.
  caf::expected<json> list(const saga_filter& filter);

  /// Returns saga `id` (shape in docs/admin-api.md), or
  /// `errc::unknown_saga`.
  caf::expected<json> show(const std::string& id);

  /// Returns `{"states": {...}, "definitions": {...}}`.
  caf::expected<json> stats();

  /// Returns `{"nodes": [...]}`.
  caf::expected<json> nodes();

  /// Appends an operator action (its `fields`, with `time_ms` added) to the
  /// audit stream `saga:audit`, and drops entries older than `retention`
  /// there (`XADD … MINID ~`, amortized).
  caf::error
  append_audit(const std::vector<std::pair<std::string, std::string>>& fields,
               std::chrono::seconds retention);

  /// Returns the newest `max` (1 to 500) entries of the audit stream, newest
  /// first: `{"entries": [{"id", "time_ms", <fields>}]}`.
  caf::expected<json> audit(uint32_t max);

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
