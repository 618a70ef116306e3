#include "admin/node_backend.hpp"

#include <cstdio>
#include <unordered_map>

#include "admin/http_client.hpp"
#include "saga/errc.hpp"
#include "saga/lifecycle.hpp"

namespace saga::detail {

/// One start waiting for its saga's first event.
struct pending_start {
  std::function<void(json)> started;
};

struct node_backend::start_registry {
  std::mutex mtx;
  std::unordered_multimap<std::string, std::shared_ptr<pending_start>> by_id;

  /// Removes `p` (waiting for saga `id`) if it is still there.
  void erase(const std::string& id, const pending_start* p) {
    std::lock_guard<std::mutex> guard{mtx};
    auto [first, last] = by_id.equal_range(id);
    for (auto i = first; i != last; ++i)
      if (i->second.get() == p) {
        by_id.erase(i);
        return;
      }
  }
};

namespace {

/// Returns what a start answers about saga `r`: its result, or the state of
/// a saga that runs elsewhere.
json start_answer(const saga_result& r, bool created) {
  json out{{"id", r.saga_id},
           {"created", created},
           {"state", std::string{to_string(r.state)}},
           {"ended", is_terminal(r.state)}};
  if (!is_terminal(r.state))
    return out;
  out["success"] = r.success;
  out["completed_steps"] = r.completed_steps;
  out["compensated_steps"] = r.compensated_steps;
  out["failed_step"] = r.failed_step;
  out["error"] = r.error ? describe(r.error) : std::string{};
  return out;
}

json operator_answer(const std::string& id, const char* action,
                     const std::string& by, saga_status state) {
  return json{{"id", id},
              {"action", action},
              {"by", by},
              {"state", std::string{to_string(state)}}};
}

} // namespace

node_backend::node_backend(runtime& rt, node_backend_config cfg)
  : rt_(rt),
    cfg_(std::move(cfg)),
    catalog_(cfg_.redis, cfg_.io_timeout),
    starts_(std::make_shared<start_registry>()),
    rng_(std::random_device{}()) {
  subscription_ = rt_.subscribe(lifecycle_filter{},
                                [this](const lifecycle_event& ev) {
                                  record(ev);
                                });
}

node_backend::~node_backend() {
  rt_.unsubscribe(subscription_);
}

void node_backend::record(const lifecycle_event& ev) {
  if (ev.kind == lifecycle_kind::saga_started) {
    // The first event of a saga a start waits for is durable: it exists.
    std::vector<std::shared_ptr<pending_start>> waiting;
    {
      std::lock_guard<std::mutex> guard{starts_->mtx};
      auto [first, last] = starts_->by_id.equal_range(ev.saga_id);
      for (auto i = first; i != last; ++i)
        waiting.push_back(i->second);
    }
    for (auto& p : waiting)
      p->started(json{{"id", ev.saga_id},
                      {"created", true},
                      {"state", "running"},
                      {"ended", false}});
  }
  std::lock_guard<std::mutex> guard{mtx_};
  ring_.push_back(json{{"seq", ++last_seq_},
                       {"type", std::string{to_string(ev.kind)}},
                       {"saga_id", ev.saga_id},
                       {"definition", ev.definition},
                       {"step", ev.step},
                       {"attempt", ev.attempt},
                       {"error", ev.error},
                       {"time_ms", ev.time_ms}});
  if (ev.next_attempt_ms != 0)
    ring_.back()["next_at_ms"] = ev.next_attempt_ms;
  while (ring_.size() > cfg_.event_buffer)
    ring_.pop_front();
}

caf::expected<json> node_backend::list(const saga_filter& filter) {
  return catalog_.list(filter);
}

caf::expected<json> node_backend::show(const std::string& id) {
  return catalog_.show(id);
}

caf::expected<json> node_backend::stats() {
  return catalog_.stats();
}

caf::expected<json> node_backend::nodes() {
  return catalog_.nodes();
}

caf::expected<json> node_backend::events(std::optional<uint64_t> after,
                                         std::optional<uint64_t> epoch,
                                         uint32_t max) {
  std::lock_guard<std::mutex> guard{mtx_};
  const bool reset = after && epoch && *epoch != cfg_.epoch;
  json out = json::array();
  if (!after || reset) {
    // A new reader starts at the newest events, not the oldest buffered.
    auto skip = ring_.size() > max ? ring_.size() - max : 0;
    for (auto i = ring_.begin() + static_cast<std::ptrdiff_t>(skip);
         i != ring_.end(); ++i)
      out.push_back(*i);
    json result{{"events", std::move(out)},
                {"next", last_seq_},
                {"epoch", cfg_.epoch}};
    if (reset)
      result["reset"] = true;
    return result;
  }
  uint64_t next = *after;
  uint64_t first = last_seq_ - ring_.size() + 1;
  // The ring holds seqs first..last_seq_ in order: start right after
  // `after` without walking what the reader has (event streams ask every
  // 100 ms).
  auto from = *after < first
                ? 0
                : std::min<uint64_t>(*after - first + 1, ring_.size());
  for (auto i = from; i < ring_.size() && out.size() < max; ++i) {
    out.push_back(ring_[i]);
    next = first + i;
  }
  json result{{"events", std::move(out)},
              {"next", next},
              {"epoch", cfg_.epoch}};
  if (!ring_.empty() && *after + 1 < first)
    result["dropped"] = first - *after - 1; // fell out of the ring
  return result;
}

caf::expected<json>
node_backend::audited(const char* action, const std::string& id,
                      const std::string& by,
                      const std::function<caf::expected<json>()>& act) {
  // Written ahead: nothing is done that the audit stream does not record.
  std::vector<std::pair<std::string, std::string>> entry{{"node", cfg_.node_id},
                                                         {"action", action},
                                                         {"saga_id", id},
                                                         {"by", by},
                                                         {"outcome",
                                                          "requested"}};
  if (auto err = catalog_.append_audit(entry, cfg_.audit_retention))
    return make_error(errc::journal_failure,
                      "the audit stream cannot be written, so the "
                        + std::string{action}
                        + " was not done: " + describe(err));
  auto result = act();
  // Refused: the saga was in no state for it, nothing happened. Any other
  // error (Redis, a timeout) may have come after the action took place.
  const bool refused = !result
                       && (is(result.error(), errc::invalid_state)
                           || is(result.error(), errc::unknown_saga)
                           || is(result.error(), errc::invalid_request));
  entry.back().second = result ? "accepted" : refused ? "refused" : "failed";
  if (!result)
    entry.emplace_back("error", describe(result.error()));
  if (auto err = catalog_.append_audit(entry, cfg_.audit_retention))
    std::fprintf(stderr,
                 "saga_node: the audit stream lost the outcome of %s "
                 "of saga %s by %s: %s\n",
                 action, id.c_str(), by.c_str(), describe(err).c_str());
  return result;
}

caf::expected<json> node_backend::retry(const std::string& id,
                                        const std::string& by) {
  return audited("retry", id, by, [&]() -> caf::expected<json> {
    // Any coordinating node may retry any failed saga: taking it over is a
    // compare-and-set in the journal.
    auto state = rt_.retry(id, by);
    if (!state)
      return state.error();
    return operator_answer(id, "retry", by, *state);
  });
}

caf::expected<json> node_backend::abort(const std::string& id,
                                        const std::string& by) {
  return audited("abort", id, by,
                 [&] { return abort_here_or_at_owner(id, by); });
}

caf::expected<json> node_backend::audit(uint32_t max) {
  return catalog_.audit(max);
}

caf::expected<json>
node_backend::abort_here_or_at_owner(const std::string& id,
                                     const std::string& by) {
  auto owner = catalog_.owner(id);
  if (!owner)
    return owner.error();
  if (owner->first != cfg_.node_id) {
    // A running saga has exactly one driver: its owner. Forward there if
    // that node is alive; a dead owner's sagas are this node's to handle
    // (a parked one is reopened; an unfinished one awaits its failover).
    auto listing = catalog_.nodes();
    if (!listing)
      return listing.error();
    for (const auto& n : (*listing)["nodes"]) {
      if (n.value("id", "") != owner->first || !n.value("alive", false))
        continue;
      auto address = n.value("admin", "");
      if (address.empty())
        return make_error(errc::no_route, "saga " + id + " runs on node "
                                            + owner->first
                                            + ", which serves no admin API");
      auto where = admin::parse_address(address);
      if (!where)
        return where.error();
      admin::http_request req;
      req.host = where->first;
      req.port = where->second;
      req.method = "POST";
      req.target = "/api/sagas/" + id + "/abort";
      req.headers.emplace_back("Authorization", "Bearer " + cfg_.token);
      req.body = json{{"by", by}}.dump();
      req.timeout = std::chrono::seconds{30};
      auto res = admin::send(req);
      if (!res)
        return res.error();
      auto body = json::parse(res->body, nullptr, false);
      if (res->status == 200 && body.is_object())
        return body;
      auto code = body.is_object()
                    ? parse_errc(body.value("code", std::string{}))
                    : std::nullopt;
      auto what = body.is_object() ? body.value("error", res->body) : res->body;
      return make_error(code.value_or(errc::no_route),
                        "node " + owner->first + " answered "
                          + std::to_string(res->status) + ": " + what);
    }
  }
  auto state = rt_.abort(id, by);
  if (!state)
    return state.error();
  return operator_answer(id, "abort", by, *state);
}

std::string node_backend::make_id() {
  // 128 random bits: unique without coordination, like the runtime's own.
  char buf[40];
  std::snprintf(buf, sizeof(buf), "s-%016llx%016llx",
                static_cast<unsigned long long>(rng_()),
                static_cast<unsigned long long>(rng_()));
  return buf;
}

void node_backend::start(start_request req, start_observer obs) {
  if (req.def.id().empty())
    req.def.id(make_id());
  const auto id = req.def.id();
  // A saga that exists already is reported at once: no first event of
  // ours will come for it.
  auto owner = catalog_.owner(id);
  bool existed = static_cast<bool>(owner);
  if (!owner && !is(owner.error(), errc::unknown_saga)) {
    obs.answered(owner.error());
    return;
  }
  auto p = std::make_shared<pending_start>();
  p->started = std::move(obs.started);
  if (existed) {
    p->started(json{{"id", id}, {"created", false}, {"ended", false}});
  } else {
    std::lock_guard<std::mutex> guard{starts_->mtx};
    starts_->by_id.emplace(id, p);
  }
  rt_.execute(req.def, [registry = starts_, p, id, existed,
                        answered = std::move(obs.answered)](saga_result r) {
    registry->erase(id, p.get());
    if (is(r.error, errc::in_progress)) {
      answered(start_answer(r, false));
      return;
    }
    if (r.error && r.state == saga_status::pending) {
      answered(std::move(r.error)); // rejected: nothing was persisted
      return;
    }
    answered(start_answer(r, !existed));
  });
}

std::string node_backend::metrics_text() {
  // What the membership counted in Redis at its last lease renewal: read
  // from memory, /metrics never waits on Redis.
  const auto* h = cfg_.health.get();
  return rt_.stats()->prometheus_text(
    {{"saga_unfinished_sagas",
      "Sagas this node owns that have not ended (its unfinished index), at "
      "its last lease renewal.",
      h != nullptr ? h->unfinished_sagas.load() : -1},
     {"saga_failed_sagas",
      "Sagas that ended failed and await an operator, cluster-wide, within "
      "the retention, at this node's last lease renewal.",
      h != nullptr ? h->failed_sagas.load() : -1}});
}

json node_backend::health() {
  const auto* h = cfg_.health.get();
  const bool reachable = h != nullptr && h->redis_reachable.load();
  const bool held = h != nullptr && h->lease_held.load();
  const int64_t ago_ms = h != nullptr ? h->ms_since_renewal() : -1;
  json lease{{"held", held}, {"lease_ms", cfg_.lease.count()}};
  if (ago_ms >= 0)
    lease["renewed_ms_ago"] = ago_ms;
  return json{{"ok", reachable && held},
              {"node", cfg_.node_id},
              {"lease", std::move(lease)},
              {"redis", {{"reachable", reachable}}}};
}

} // namespace saga::detail
