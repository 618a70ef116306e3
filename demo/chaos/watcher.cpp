#include "demo/chaos/watcher.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "persistence/redis_journal.hpp"
#include "persistence/redis_url.hpp"
#include "persistence/stream_codec.hpp"

namespace chaos {

watcher::watcher(const options& o, const std::string& url, violations& v,
                 uint64_t seed)
  : opts_(o),
    url_(url),
    redis_(url),
    tracker_redis_(url),
    catalog_(*saga::parse_redis_url(url), 2s),
    v_(v),
    rng_(seed) {
}

void watcher::start() {
  tracker_ = std::thread{[this] { track_loop(); }};
  verifier_ = std::thread{[this] { verify_loop(); }};
}

void watcher::stop() {
  stop_ = true;
  for (auto* t : {&tracker_, &verifier_})
    if (t->joinable())
      t->join();
}

void watcher::hold_index_check(int64_t until_ms) {
  auto cur = index_check_after_ms.load();
  while (cur < until_ms
         && !index_check_after_ms.compare_exchange_weak(cur, until_ms)) {
  }
}

watcher::progress watcher::status() {
  std::lock_guard<std::mutex> guard{mtx_};
  progress p;
  p.discovered = sagas_.size();
  for (auto& [id, s] : sagas_) {
    p.open += s.ended ? 0 : 1;
    p.unverified += s.ended && !s.verified ? 1 : 0;
  }
  p.last_discovery_ms = last_discovery_ms_;
  return p;
}

void watcher::pass(bool final_pass) {
  track();
  verify_due(final_pass);
  check_expiries();
}

void watcher::track() {
  discover();
  poll_open();
  if (live_index_check && wall_ms() > index_check_after_ms)
    check_ended_indexes();
}

void watcher::check_ended_indexes() {
  auto now = wall_ms();
  auto cutoff = now - opts_.retention.count() * 1000 - slack_ms;
  for (auto state : {"completed", "compensated", "failed"}) {
    auto r = tracker_redis_.run(
      {"ZRANGE", saga::redis_ended_key(state), "0", "0", "WITHSCORES"});
    if (!r || r->type != REDIS_REPLY_ARRAY)
      return;
    ++figs_.ended_index_checks;
    if (r->elements < 2)
      continue;
    auto score = std::stoll(str(r->element[1]));
    figs_.max_ended_age_ms = std::max<int64_t>(figs_.max_ended_age_ms,
                                               now - score);
    if (score < cutoff)
      v_.add("retention", std::string{"saga:ended:{"} + state + "} still lists "
                            + str(r->element[0]) + ", which ended "
                            + std::to_string((now - score) / 1000)
                            + " s ago (retention "
                            + std::to_string(opts_.retention.count()) + " s)");
  }
  // The markers of counted sagas that ended (score: the end time) go
  // with the ended indexes; open ones (score 0) stay.
  auto m = tracker_redis_.run({"ZRANGEBYSCORE", saga::redis_seen_key(), "(0",
                               "+inf", "WITHSCORES", "LIMIT", "0", "1"});
  if (!m || m->type != REDIS_REPLY_ARRAY || m->elements < 2)
    return;
  auto oldest = std::stoll(str(m->element[1]));
  if (oldest < cutoff)
    v_.add("retention", saga::redis_seen_key() + " still marks "
                          + str(m->element[0]) + ", which ended "
                          + std::to_string((now - oldest) / 1000) + " s ago");
}

void watcher::track_loop() {
  auto last = steady::now();
  while (!stop_) {
    std::this_thread::sleep_for(100ms);
    auto now = steady::now();
    if (now - last < 500ms)
      continue;
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(now
                                                                     - last);
    figs_.max_track_gap_ms = std::max<int64_t>(figs_.max_track_gap_ms,
                                               gap.count());
    last = now;
    track();
  }
}

void watcher::verify_loop() {
  while (!stop_) {
    std::this_thread::sleep_for(100ms);
    verify_due(false);
    check_expiries();
  }
}

void watcher::discover() {
  auto keys = tracker_redis_.scan("saga:{*}:events");
  if (!keys)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& k : *keys) {
    if (k.size() < 14)
      continue;
    auto id = k.substr(6, k.size() - 6 - 8); // saga:{ ... }:events
    if (sagas_.count(id) > 0)
      continue;
    saga_info s;
    s.id = id;
    s.first_seen_ms = wall_ms();
    sagas_.emplace(id, std::move(s));
    last_discovery_ms_ = wall_ms();
  }
}

void watcher::poll_open() {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, s] : sagas_)
      if (!s.ended)
        ids.push_back(id);
  }
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(ids.size());
  for (auto& id : ids)
    cmds.push_back(
      {"XREVRANGE", saga::redis_events_key(id), "+", "-", "COUNT", "1"});
  auto replies = tracker_redis_.pipeline(cmds);
  if (replies.size() != ids.size())
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  for (size_t i = 0; i < ids.size(); ++i) {
    auto& s = sagas_[ids[i]];
    auto* r = replies[i].get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
      v_.add("retention", "the history of saga " + s.id
                            + " expired before the checker saw it end");
      s.ended = s.verified = true;
      continue;
    }
    auto* entry = r->element[0];
    auto type = entry_field(entry->element[1], "type");
    if (terminal_type(type)) {
      s.ended = true;
      s.end_ms = std::stoll(entry_field(entry->element[1], "time"));
      // Let stray duplicates and the writers' follow-ups land first.
      s.verify_at = steady::now() + 2s;
    }
  }
}

void watcher::verify_due(bool final_pass) {
  // (end time, id): the longest ended first, before its history expires.
  std::vector<std::pair<int64_t, std::string>> due;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, s] : sagas_)
      if (s.ended && !s.verified
          && (final_pass || s.verify_at <= steady::now()))
        due.emplace_back(s.end_ms, id);
  }
  std::sort(due.begin(), due.end());
  for (auto& [end_ms, id] : due) {
    if (stop_ && !final_pass)
      return;
    saga_info copy;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      copy = sagas_[id];
    }
    auto done = verify(copy);
    ++copy.verify_tries;
    if (!done && copy.verify_tries >= 20) {
      v_.add("replay", "saga " + id
                         + " could not be read back from Redis "
                           "20 times");
      done = true;
    }
    copy.verified = done;
    if (done)
      figs_.max_verify_lag_ms = std::max<int64_t>(figs_.max_verify_lag_ms,
                                                  wall_ms() - end_ms);
    else
      copy.verify_at = steady::now() + 1s;
    std::lock_guard<std::mutex> guard{mtx_};
    sagas_[id] = std::move(copy);
  }
}

bool watcher::verify(saga_info& s) {
  const auto& id = s.id;
  auto events_key = saga::redis_events_key(id);
  auto owner_key = saga::redis_owner_key(id);
  auto barrier_key = "saga:{" + id + "}:barrier";
  auto replies = redis_.pipeline({{"XRANGE", events_key, "-", "+"},
                                  {"HGETALL", barrier_key},
                                  {"PTTL", events_key},
                                  {"PTTL", owner_key},
                                  {"PTTL", barrier_key}});
  if (replies.size() != 5)
    return false;
  auto now = wall_ms();
  auto events = saga::parse_events(*replies[0], id);
  if (!events) {
    v_.add("replay", "the history of saga " + id
                       + " does not parse: " + saga::describe(events.error()));
    return true;
  }
  if (events->empty()) {
    // Gone before the retention: the product's fault; after it: the
    // checker fell behind (a busy machine), and the report says by how much.
    auto late_s = (now - s.end_ms) / 1000;
    v_.add("retention", "the history of saga " + id + " was gone when checked "
                          + std::to_string(late_s) + " s after its end"
                          + (late_s >= opts_.retention.count()
                               ? " (the checker fell behind the retention)"
                               : " (before the retention)"));
    return true;
  }
  auto st = saga::replay(id, *events);
  if (!st) {
    v_.add("replay", "the history of saga " + id
                       + " does not replay: " + saga::describe(st.error()));
    return true;
  }
  if (!saga::is_terminal(st->status)) {
    v_.add("terminal", "saga " + id + " went on after its terminal event ("
                         + std::string{saga::to_string(st->status)} + ")");
    return true;
  }
  record_steps(s, *st);
  // -- what sagactl reports: the catalog (sagactl show's code) for every
  // saga, the binary itself for a sample.
  auto shown = catalog_.show(id);
  if (!shown)
    return false;
  ++figs_.replayed;
  figs_.max_saga_ms = std::max<int64_t>(figs_.max_saga_ms,
                                        st->ended_at_ms - st->started_at_ms);
  count_faults(*events);
  if (auto diff = compare_with_catalog(*st, *shown); !diff.empty())
    v_.add("replay",
           "saga " + id + ": replay and sagactl show disagree: " + diff);
  else
    ++figs_.catalog_equal;
  std::uniform_real_distribution<double> unit{0, 1};
  if (unit(rng_) < opts_.sagactl_sample
      || st->status == saga::saga_status::failed || figs_.sagactl_runs < 3) {
    // A sagactl run (a subprocess) is the slowest check: once the checks
    // lag a third of the retention behind, only the first three run, so
    // the others still see every history before it expires.
    auto lag_ms = now - s.end_ms;
    if (figs_.sagactl_runs < 3 || lag_ms < opts_.retention.count() * 1000 / 3)
      run_sagactl(id, *shown);
    else
      ++figs_.sagactl_skipped;
  }
  check_barrier(s, *replies[1]);
  const std::string keys[] = {events_key, owner_key, barrier_key};
  record_expiries(s, keys, &replies[2], now);
  return true;
}

void watcher::record_steps(saga_info& s, const saga::saga_state& st) {
  using saga::step_status;
  s.status = st.status;
  s.definition = st.def ? st.def->name() : "";
  s.steps.clear();
  s.compensated_order.clear();
  if (st.def) {
    const auto& defs = st.def->steps();
    for (size_t i = 0; i < defs.size(); ++i) {
      saga_info::step x;
      x.name = defs[i].name;
      x.participant = defs[i].participant;
      x.action = defs[i].action;
      x.payload = defs[i].payload;
      const auto& ss = st.steps[i];
      x.status = ss.status;
      if (ss.status == step_status::completed)
        x.expected = 1;
      else if (ss.status == step_status::compensated
               || ss.status == step_status::pending
               || (ss.status == step_status::failed && !ss.outcome_unknown))
        x.expected = 0;
      else
        x.expected = -1;
      s.steps.push_back(std::move(x));
    }
    if (!defs.empty())
      if (auto t = defs[0].payload.find("tag");
          t != defs[0].payload.end() && t->is_string())
        s.tag = t->get<std::string>();
  }
  // Steps in the order their compensations finished (as saga_result).
  std::vector<std::pair<uint64_t, std::string>> order;
  for (size_t i = 0; i < st.steps.size(); ++i)
    if (st.steps[i].compensated_seq > 0)
      order.emplace_back(st.steps[i].compensated_seq, s.steps[i].name);
  std::sort(order.begin(), order.end());
  for (auto& [seq, name] : order)
    s.compensated_order.push_back(name);
}

void watcher::count_faults(const std::vector<saga::event>& events) {
  for (const auto& ev : events) {
    if ((ev.type == saga::event_type::step_attempt_failed
         || ev.type == saga::event_type::step_failed)
        && ev.error.find("injected failure") != std::string::npos)
      ++figs_.injected_failures;
    if (ev.type == saga::event_type::step_attempt_timed_out
        || ev.type == saga::event_type::step_timed_out)
      ++figs_.timeouts;
  }
}

void watcher::check_barrier(const saga_info& s, const redisReply& records) {
  std::map<std::string, std::string> barrier;
  for (size_t i = 0; i + 1 < records.elements; i += 2)
    barrier.emplace(str(records.element[i]), str(records.element[i + 1]));
  figs_.barrier_records += barrier.size();
  for (const auto& x : s.steps) {
    using saga::step_status;
    auto xf = barrier.find(x.name + "/x");
    auto cf = barrier.find(x.name + "/c");
    auto done = [](auto i, auto& m) {
      return i != m.end() && i->second.rfind("D1:", 0) == 0;
    };
    std::string problem;
    if (x.status == step_status::completed && !done(xf, barrier))
      problem = "completed, but its execute has no success record";
    else if (x.status == step_status::completed && cf != barrier.end())
      problem = "completed, but its compensation has a record";
    else if (x.status == step_status::compensated && !done(cf, barrier))
      problem = "compensated, but its compensation has no record";
    else if (x.status == step_status::pending
             && (xf != barrier.end() || cf != barrier.end()))
      problem = "never started, but the barrier has records of it";
    else if (x.status == step_status::failed && x.expected == 0
             && done(xf, barrier))
      problem = "failed, but its execute has a success record";
    if (!problem.empty())
      v_.add("replay", "saga " + s.id + " (" + s.definition + ", "
                         + std::string{saga::to_string(s.status)} + ") step '"
                         + x.name + "' " + problem);
  }
}

void watcher::record_expiries(saga_info& s, const std::string (&keys)[3],
                              const saga::redis_reply* pttls, int64_t now) {
  // Every key of an ended saga expires within the retention.
  auto retention_ms = opts_.retention.count() * 1000;
  s.expiries.clear();
  for (int k = 0; k < 3; ++k) {
    auto pttl = pttls[k]->integer;
    if (pttl == -2)
      continue; // gone (a barrier hash of a saga that ran no step)
    ++figs_.ttl_keys;
    if (pttl == -1) {
      v_.add("retention",
             keys[k] + " of ended saga " + s.id + " has no expiry");
      continue;
    }
    figs_.max_ttl_ms = std::max<int64_t>(figs_.max_ttl_ms, pttl);
    if (pttl > retention_ms)
      v_.add("retention", keys[k] + " of ended saga " + s.id + " expires in "
                            + std::to_string(pttl) + " ms, beyond the "
                            + std::to_string(opts_.retention.count())
                            + " s retention");
    auto at = now + pttl;
    figs_.max_expiry_lag_ms = std::max<int64_t>(figs_.max_expiry_lag_ms,
                                                at - s.end_ms - retention_ms);
    s.expiries.emplace_back(keys[k], at);
  }
}

std::string watcher::compare_with_catalog(const saga::saga_state& st,
                                          const json& j) {
  std::ostringstream diff;
  auto field = [&](const char* name, const json& want) {
    if (!j.contains(name) || j[name] != want)
      diff << name << " " << (j.contains(name) ? j[name].dump() : "missing")
           << " vs " << want.dump() << "; ";
  };
  field("state", std::string{saga::to_string(st.status)});
  field("last_seq", st.last_seq);
  field("error", st.error);
  if (j.contains("invalid_history"))
    diff << "the catalog calls the history invalid; ";
  auto steps = j.value("steps", json::array());
  if (steps.size() != st.steps.size()) {
    diff << steps.size() << " steps vs " << st.steps.size() << "; ";
    return diff.str();
  }
  for (size_t i = 0; i < st.steps.size(); ++i) {
    const auto& s = st.steps[i];
    const auto& x = steps[i];
    if (x.value("status", "") != saga::to_string(s.status)
        || x.value("attempts", 0u) != s.attempts
        || x.value("compensation_attempts", 0u) != s.compensation_attempts
        || x.value("outcome_unknown", false) != s.outcome_unknown)
      diff << "step " << i << " " << x.value("status", "") << "/"
           << x.value("attempts", 0u) << "/"
           << x.value("compensation_attempts", 0u) << " vs "
           << saga::to_string(s.status) << "/" << s.attempts << "/"
           << s.compensation_attempts << "; ";
  }
  return diff.str();
}

void watcher::run_sagactl(const std::string& id, const json& shown) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto cmd = opts_.sagactl + " --redis " + url_ + " --json show " + id
               + " 2>/dev/null";
    std::string out;
    if (auto* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
      auto status = ::pclose(p);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 4) {
        std::this_thread::sleep_for(500ms); // Redis away: try again
        continue;
      }
      ++figs_.sagactl_runs;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        v_.add("replay", "sagactl show " + id + " exited with status "
                           + std::to_string(status));
        return;
      }
      auto j = json::parse(out, nullptr, false);
      if (j != shown)
        v_.add("replay", "sagactl --json show " + id
                           + " differs from the catalog's view");
      return;
    }
  }
}

void watcher::check_expiries() {
  auto now = wall_ms();
  std::vector<std::string> due;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, s] : sagas_) {
      if (!s.verified || s.expiry_checked || s.expiries.empty())
        continue;
      int64_t last = 0;
      for (auto& [k, at] : s.expiries)
        last = std::max(last, at);
      if (last + 1'000 <= now)
        due.push_back(id);
    }
  }
  for (auto& id : due) {
    std::vector<std::pair<std::string, int64_t>> keys;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      keys = sagas_[id].expiries;
    }
    std::vector<std::vector<std::string>> cmds;
    cmds.reserve(keys.size());
    for (auto& [k, at] : keys)
      cmds.push_back({"PTTL", k});
    auto replies = redis_.pipeline(cmds);
    if (replies.size() != cmds.size())
      return;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (replies[i]->integer == -2) {
        ++figs_.expired_on_time;
        continue;
      }
      v_.add("retention", keys[i].first + " still exists "
                            + std::to_string(now - keys[i].second)
                            + " ms after it was due to expire (TTL now "
                            + std::to_string(replies[i]->integer) + " ms)");
    }
    std::lock_guard<std::mutex> guard{mtx_};
    sagas_[id].expiry_checked = true;
  }
}

} // namespace chaos
