#include "actors/coordinator_impl.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <random>
#include <unordered_map>
#include <variant>
#include <vector>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/saga_actor.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"

namespace saga::detail {

namespace {

/// Someone waiting for a saga's result.
using waiter
  = std::variant<caf::typed_response_promise<saga_result>, result_callback>;

struct running_saga {
  std::vector<waiter> waiters;
  /// The saga type's name: a start of its id must name the same type.
  definition_ptr def;
  /// Started by recover(): counts against `recovery_concurrency`.
  bool recovered = false;
  /// Started here under a client-chosen id: fenced before its first event
  /// was durable means another node started that id first.
  bool client_id = false;
};

/// A saga waiting for a free slot (see `max_active_sagas`).
struct queued_saga {
  definition_ptr def;
  waiter w;
};

/// Progress of one recovery: it adopts a node's unfinished sagas page by
/// page (its own, left by an earlier incarnation, or a dead node's) and
/// fetches the next page only while fewer than `recovery_concurrency`
/// recovered sagas run.
struct recovery {
  caf::typed_response_promise<uint64_t> rp;
  /// Whose sagas: empty for this node's own.
  std::string node;
  /// Owners of `node` below this epoch are taken over.
  uint64_t below = 0;
  uint64_t resumed = 0;
  /// Journal reads of the current page still unanswered.
  size_t outstanding = 0;
  std::string next;
  bool last_page = false;
  /// Set while the walk waits for recovered sagas to finish.
  bool waiting_for_capacity = false;
};

struct coordinator_state {
  static inline const char* name = "saga.coordinator";
  directory_ptr dir;
  runtime_config opts;
  /// The saga supervisor: saga actors are its transient dynamic children.
  supervisor_actor sagas;
  std::unordered_map<saga_id, running_saga> running;
  std::string id_prefix;
  uint64_t next_id = 0;
  std::deque<queued_saga> queue;
  /// Starts under client-chosen ids whose history is being read: they count
  /// against `max_active_sagas` like running sagas.
  size_t looking_up = 0;
  size_t recovered_running = 0;
  /// Recoveries under way; those waiting for capacity go on in order.
  std::vector<std::shared_ptr<recovery>> recoveries;
};

using coordinator_pointer
  = local_coordinator_actor::stateful_pointer<coordinator_state>;

/// Recovery reads this many histories at a time at most.
constexpr uint32_t recovery_page_size = 256;

saga_result error_result(saga_id id, caf::error err) {
  saga_result r;
  r.saga_id = std::move(id);
  r.error = std::move(err);
  return r;
}

void notify(waiter& w, const saga_result& r) {
  if (auto rp = std::get_if<caf::typed_response_promise<saga_result>>(&w))
    rp->deliver(r);
  else if (auto& cb = std::get<result_callback>(w))
    cb(r);
}

/// Returns a new saga id: a random per-coordinator prefix (64 bits) and a
/// counter, unique across restarts and nodes without coordination.
saga_id make_id(coordinator_pointer self) {
  auto& s = self->state;
  char buf[24];
  std::snprintf(buf, sizeof(buf), "-%llx",
                static_cast<unsigned long long>(++s.next_id));
  return s.id_prefix + buf;
}

void start_new(coordinator_pointer self, const definition_ptr& def, waiter w);
void start_or_join(coordinator_pointer self, const definition_ptr& def,
                   waiter w);
void recover_page(coordinator_pointer self,
                  const std::shared_ptr<recovery>& rec);

/// Publishes the in-flight and queued gauges (`metrics`).
void publish_gauges(coordinator_pointer self) {
  auto& s = self->state;
  auto& stats = *s.dir->stats();
  stats.sagas_in_flight.store(s.running.size(), std::memory_order_relaxed);
  stats.sagas_queued.store(s.queue.size(), std::memory_order_relaxed);
}

/// Starts queued sagas while there is room for them.
void admit_queued(coordinator_pointer self) {
  auto& s = self->state;
  while (!s.queue.empty()
         && s.running.size() + s.looking_up < s.opts.max_active_sagas) {
    auto next = std::move(s.queue.front());
    s.queue.pop_front();
    start_new(self, next.def, std::move(next.w));
  }
}

void finish(coordinator_pointer self, const saga_id& id, const saga_result& r) {
  auto& s = self->state;
  auto i = s.running.find(id);
  if (i == s.running.end())
    return;
  auto entry = std::move(i->second);
  s.running.erase(i);
  if (is_terminal(r.state))
    s.dir->stats()->saga_duration.observe(
      std::chrono::duration<double>(r.duration).count());
  if (entry.client_id && r.state == saga_status::pending
      && is(r.error, errc::fenced)) {
    // Another node started this id between our lookup and our first
    // event: its saga is the one; the waiters learn about it instead.
    for (auto& w : entry.waiters)
      start_or_join(self, entry.def, std::move(w));
  } else {
    for (auto& w : entry.waiters)
      notify(w, r);
  }
  // A slot is free: admit a queued saga, or let a recovery walk go on.
  if (entry.recovered && s.recovered_running > 0)
    --s.recovered_running;
  admit_queued(self);
  for (auto& rec : s.recoveries)
    if (rec->waiting_for_capacity
        && s.recovered_running < s.opts.recovery_concurrency) {
      rec->waiting_for_capacity = false;
      recover_page(self, rec);
      break; // one page at a time; the next finish() wakes the next
    }
  publish_gauges(self);
}

/// Returns an error naming the first step whose participant is unknown.
caf::error check_participants(coordinator_pointer self, const definition& def) {
  for (const auto& sd : def.steps())
    if (!self->state.dir->participant(sd.participant))
      return make_error(errc::unknown_participant,
                        "step '" + sd.name + "' names participant '"
                          + sd.participant + "', which is not registered");
  return caf::none;
}

/// Returns an `errc::invalid_payload` error if `def` exceeds the runtime's
/// resource limits (`max_steps`, `max_payload_bytes`).
caf::error check_limits(coordinator_pointer self, const definition& def) {
  const auto& opts = self->state.opts;
  if (def.steps().size() > opts.max_steps)
    return make_error(errc::invalid_payload,
                      "saga '" + def.name() + "' has "
                        + std::to_string(def.steps().size())
                        + " steps; the runtime allows at most "
                        + std::to_string(opts.max_steps) + " (max_steps)");
  if (auto n = def.json_text().size(); n > opts.max_payload_bytes)
    return make_error(errc::invalid_payload,
                      "saga '" + def.name() + "' takes " + std::to_string(n)
                        + " bytes as JSON; the runtime allows at most "
                        + std::to_string(opts.max_payload_bytes)
                        + " (max_payload_bytes)");
  return caf::none;
}

/// Starts saga `id` as a transient child of the saga supervisor. The first
/// incarnation starts from `def` (or from `replayed`); every restart
/// rebuilds itself from the journal. Past its restart limit the saga is
/// parked. `w` receives the result.
/// An operator's abort that a resumed saga carries out as it starts.
struct turn_back_order {
  errc code;
  std::string reason;
};

void launch(coordinator_pointer self, const saga_id& id, definition_ptr def,
            std::optional<saga_state> replayed, waiter w,
            bool recovered = false,
            std::optional<turn_back_order> order = std::nullopt) {
  auto& s = self->state;
  auto args = std::make_shared<saga_actor_args>();
  args->id = id;
  args->def = std::move(def);
  if (replayed)
    args->replayed = std::make_shared<saga_state>(std::move(*replayed));
  args->compensate_on_resume = recovered
                               && s.opts.recovery
                                    == recovery_policy::compensate;
  if (order) {
    args->compensate_on_resume = true;
    args->resume_code = order->code;
    args->resume_reason = std::move(order->reason);
  }
  args->dir = s.dir;
  args->coordinator = caf::actor_cast<caf::actor>(self);
  args->journal_timeout = s.opts.journal_timeout;
  child_spec spec;
  spec.name = id;
  spec.restart = restart_type::transient;
  spec.own_intensity = s.opts.saga_restarts;
  auto stats = s.dir->stats();
  spec.start = [args,
                stats](caf::actor_system& sys) -> caf::expected<caf::actor> {
    if (args->from_journal)
      stats->saga_restarts.fetch_add(1, std::memory_order_relaxed);
    auto h = caf::actor_cast<caf::actor>(spawn_saga(sys, *args));
    // Later incarnations rebuild from the journal.
    args->replayed.reset();
    args->from_journal = true;
    return h;
  };
  auto coord = caf::actor_cast<caf::actor>(self);
  spec.on_give_up = [coord, id](const caf::error& reason) {
    caf::anon_send(coord, park_atom::value, id, describe(reason));
  };
  auto& entry = s.running[id];
  entry.waiters.push_back(std::move(w));
  entry.def = args->def;
  entry.recovered = recovered;
  entry.client_id = !recovered && !replayed && !args->def->id().empty();
  if (recovered)
    ++s.recovered_running;
  publish_gauges(self);
  self
    ->request(s.sagas, caf::infinite, start_child_atom::value, std::move(spec))
    .then([](const caf::actor&) {},
          [self, id](caf::error& err) {
            finish(self, id, error_result(id, std::move(err)));
          });
}

void start_new(coordinator_pointer self, const definition_ptr& def, waiter w) {
  if (!def) {
    notify(w, error_result({}, make_error(errc::no_steps,
                                          "no definition was given")));
    return;
  }
  if (auto err = def->validate()) {
    notify(w, error_result({}, std::move(err)));
    return;
  }
  if (auto err = check_limits(self, *def)) {
    notify(w, error_result({}, std::move(err)));
    return;
  }
  if (auto err = check_participants(self, *def)) {
    notify(w, error_result({}, std::move(err)));
    return;
  }
  auto& s = self->state;
  if (s.running.size() + s.looking_up >= s.opts.max_active_sagas) {
    if (s.queue.size() >= s.opts.max_queued_sagas) {
      notify(w, error_result({}, make_error(errc::overloaded,
                                            std::to_string(s.running.size())
                                              + " sagas run and "
                                              + std::to_string(s.queue.size())
                                              + " wait; try again later")));
      return;
    }
    s.queue.push_back({def, std::move(w)});
    publish_gauges(self);
    return;
  }
  if (def->id().empty())
    launch(self, make_id(self), def, std::nullopt, std::move(w));
  else
    start_or_join(self, def, std::move(w));
}

/// Returns an error result for a start of id `id` as saga type `def`
/// when the saga of that id is of type `existing`, or none.
std::optional<saga_result> other_type(const saga_id& id, const definition& def,
                                      const std::string& existing) {
  if (def.name() == existing)
    return std::nullopt;
  return error_result(id, make_error(errc::invalid_state,
                                     "saga " + id + " exists as a '" + existing
                                       + "', not a '" + def.name() + "'"));
}

/// Returns true if this coordinator runs the saga of `def`'s id: then `w`
/// waits for its result (or learns at once that it is of another type).
bool join_if_running(coordinator_pointer self, const definition& def,
                     waiter& w) {
  auto& running = self->state.running;
  auto i = running.find(def.id());
  if (i == running.end())
    return false;
  if (auto bad = other_type(def.id(), def, i->second.def->name()))
    notify(w, *bad);
  else
    i->second.waiters.push_back(std::move(w));
  return true;
}

/// Answers a start of id `id` (as `def`) from its history `events`: the
/// result of a saga that ended, else `errc::in_progress` with its status.
saga_result answer_from_history(const saga_id& id, const definition& def,
                                const std::vector<event>& events) {
  auto st = replay(id, events);
  if (!st)
    return error_result(id, std::move(st.error()));
  if (auto bad = other_type(id, def, st->def ? st->def->name() : ""))
    return std::move(*bad);
  if (is_terminal(st->status))
    return summarize(*st);
  auto r = error_result(id,
                        make_error(errc::in_progress,
                                   "saga " + id + " exists and is "
                                     + std::string{to_string(st->status)}
                                     + " on another node; ask again later"));
  r.state = st->status;
  return r;
}

/// Starts the saga of `def`'s client-chosen id unless it exists: joins it
/// if it runs here, else answers from its history (see `definition::id`).
/// A start never creates a second saga of an id: two nodes that both find
/// no history both launch, and the first event of the later one is fenced
/// (the journal records the first writer as the owner); `finish` then
/// answers its waiters from the winner's history.
void start_or_join(coordinator_pointer self, const definition_ptr& def,
                   waiter w) {
  auto& s = self->state;
  if (join_if_running(self, *def, w))
    return;
  ++s.looking_up;
  auto looked_up = [self] {
    --self->state.looking_up;
    admit_queued(self);
  };
  self
    ->request(s.dir->journal(), s.opts.journal_timeout, read_atom::value,
              def->id())
    .then(
      [self, def, w, looked_up](std::vector<event>& events) mutable {
        looked_up();
        if (!join_if_running(self, *def, w))
          notify(w, answer_from_history(def->id(), *def, events));
      },
      [self, def, w, looked_up](caf::error& err) mutable {
        looked_up();
        const auto& id = def->id();
        if (!is(err, errc::unknown_saga)) {
          notify(w, error_result(id, std::move(err)));
          return;
        }
        // No history: ours to start, unless a start of the same id here
        // got there while we read.
        if (!join_if_running(self, *def, w))
          launch(self, id, def, std::nullopt, std::move(w));
      });
}

/// Resumes saga `id` from the journal unless it runs here already. Calls
/// `started(true)` once it runs, `started(false)` if it ran already or
/// cannot be resumed; `w` gets the result either way.
void resume(coordinator_pointer self, const saga_id& id, waiter w,
            const std::function<void(bool)>& started) {
  auto& s = self->state;
  if (auto i = s.running.find(id); i != s.running.end()) {
    i->second.waiters.push_back(std::move(w));
    started(false);
    return;
  }
  auto journal = s.dir->journal();
  self->request(journal, s.opts.journal_timeout, read_atom::value, id)
    .then(
      [self, id, w, started](std::vector<event>& events) mutable {
        auto& s = self->state;
        if (auto i = s.running.find(id); i != s.running.end()) {
          i->second.waiters.push_back(std::move(w));
          started(false);
          return;
        }
        auto st = replay(id, events);
        if (!st) {
          // Kept listed: an operator must look at a history we cannot read.
          aout(self) << "caf-saga: cannot resume saga " << id << ": "
                     << describe(st.error()) << std::endl;
          notify(w, error_result(id, std::move(st.error())));
          started(false);
          return;
        }
        if (is_terminal(st->status)) {
          // Ended, but still listed: its writer died (or its connection
          // broke) before the follow-ups of the terminal batch were sent.
          // Settle it as they would have (ended index, counts, then unlist;
          // idempotent), then answer, so that a finished recovery leaves
          // nothing ended listed, uncounted or out of its ended index.
          auto r = summarize(*st);
          auto answer = [w, r, started](auto&&...) mutable {
            notify(w, r);
            started(false);
          };
          self
            ->request(s.dir->journal(), s.opts.journal_timeout,
                      finish_atom::value, id,
                      std::string{to_string(st->status)},
                      st->def ? st->def->name() : std::string{"_unknown"},
                      events.back().time_ms)
            .then([answer](bool) mutable { answer(); },
                  [answer](caf::error&) mutable { answer(); });
          return;
        }
        // Resumed even if a participant is not registered (yet): the walk
        // claimed the saga, so nobody else will drive it. Refusing it here
        // left claimed sagas that no actor ran (found by the same-id overlap
        // test: a fresh node whose first pass had not yet connected the
        // participant node). The saga actor counts each attempt to an
        // unregistered participant as lost and retries under its policy,
        // so it ends within its definition's time bound either way.
        auto def = st->def;
        // Its start may be uncounted (the writer that started it died before
        // sending the count): the journal counts it unless someone did.
        caf::anon_send(s.dir->journal(), recount_atom::value, id, def->name());
        launch(self, id, def, std::move(*st), std::move(w), true);
        s.dir->stats()->sagas_recovered.fetch_add(1, std::memory_order_relaxed);
        started(true);
      },
      [self, w, id, started](caf::error& err) mutable {
        // Listed but no history: the saga never wrote its first event (the
        // index entry is written first). Nothing to resume; unlist it.
        if (is(err, errc::unknown_saga))
          caf::anon_send(self->state.dir->journal(), finish_atom::value, id,
                         std::string{}, std::string{}, int64_t{0});
        notify(w, error_result(id, std::move(err)));
        started(false);
      });
}

/// Ends recovery `rec` with its count or `err`.
void recovery_done(coordinator_pointer self,
                   const std::shared_ptr<recovery>& rec,
                   caf::error err = caf::none) {
  if (err)
    rec->rp.deliver(std::move(err));
  else
    rec->rp.deliver(rec->resumed);
  auto& all = self->state.recoveries;
  all.erase(std::remove(all.begin(), all.end(), rec), all.end());
}

/// Starts a recovery of `node`'s sagas (empty: our own) whose owner epoch
/// is below `below`.
caf::typed_response_promise<uint64_t>
start_recovery(coordinator_pointer self, std::string node, uint64_t below) {
  auto rec = std::make_shared<recovery>();
  rec->rp = self->make_response_promise<uint64_t>();
  self->state.dir->stats()->recoveries.fetch_add(1, std::memory_order_relaxed);
  rec->node = std::move(node);
  rec->below = below;
  self->state.recoveries.push_back(rec);
  recover_page(self, rec);
  return rec->rp;
}

void recover_page(coordinator_pointer self,
                  const std::shared_ptr<recovery>& rec) {
  auto& s = self->state;
  if (s.recovered_running >= s.opts.recovery_concurrency) {
    rec->waiting_for_capacity = true; // finish() continues the walk
    return;
  }
  auto room = s.opts.recovery_concurrency - s.recovered_running;
  auto page_size = static_cast<uint32_t>(
    std::min<size_t>(room, recovery_page_size));
  self
    ->request(s.dir->journal(), s.opts.journal_timeout, adopt_atom::value,
              rec->node, rec->below, rec->next, page_size)
    .then(
      [self, rec](unfinished_page& page) {
        rec->next = page.next;
        rec->last_page = page.next.empty();
        if (page.ids.empty()) {
          // Nothing of ours on this page (all owned elsewhere): go on.
          if (rec->last_page)
            recovery_done(self, rec);
          else
            recover_page(self, rec);
          return;
        }
        rec->outstanding = page.ids.size();
        for (auto& id : page.ids)
          resume(self, id, result_callback{}, [self, rec](bool started) {
            if (started)
              ++rec->resumed;
            if (--rec->outstanding > 0)
              return;
            if (rec->last_page)
              recovery_done(self, rec);
            else
              recover_page(self, rec);
          });
      },
      [self, rec](caf::error& err) {
        recovery_done(self, rec, std::move(err));
      });
}

/// Tells the metrics and the lifecycle subscribers about `ev`, an event the
/// coordinator itself made durable for saga `st` (parked, retried).
void announce(coordinator_pointer self, const saga_state& st, const event& ev,
              lifecycle_kind kind) {
  const auto& dir = *self->state.dir;
  if (kind == lifecycle_kind::saga_failed)
    dir.stats()
      ->of(st.def->name())
      .failed.fetch_add(1, std::memory_order_relaxed);
  if (dir.lifecycle()->empty())
    return;
  lifecycle_event le;
  le.kind = kind;
  le.saga_id = st.saga_id;
  le.definition = st.def->name();
  le.error = ev.error;
  le.seq = ev.seq;
  le.time_ms = ev.time_ms;
  dir.lifecycle()->publish(le);
}

/// Parks saga `id`: its actor crashed past its limit. Writes `saga_parked`
/// after its last event and tells the waiters; the rest of the node goes on.
void park(coordinator_pointer self, const saga_id& id,
          const std::string& reason) {
  auto& s = self->state;
  aout(self) << "caf-saga: parking saga " << id << " as failed: " << reason
             << std::endl;
  auto why = "saga actor crashed too often; last: " + reason;
  s.dir->stats()->sagas_parked.fetch_add(1, std::memory_order_relaxed);
  auto report = [self, id, why](saga_result r) {
    r.saga_id = id;
    r.success = false;
    r.state = saga_status::failed;
    r.error = make_error(errc::saga_parked, why);
    finish(self, id, r);
  };
  auto journal = s.dir->journal();
  self->request(journal, s.opts.journal_timeout, read_atom::value, id)
    .then(
      [self, id, why, report](std::vector<event>& events) {
        auto st = replay(id, events);
        if (!st || is_terminal(st->status)) {
          report(st ? summarize(*st) : saga_result{});
          return;
        }
        event ev;
        ev.seq = st->last_seq + 1;
        ev.type = event_type::saga_parked;
        ev.error = why;
        ev.data = json{{"definition", st->def->name()}}.dump();
        ev.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        auto r = summarize(*st);
        self
          ->request(self->state.dir->journal(),
                    self->state.opts.journal_timeout, append_atom::value, id,
                    std::vector<event>{ev})
          .then(
            [self, report, r, st = *st, ev](uint64_t) {
              announce(self, st, ev, lifecycle_kind::saga_failed);
              report(r);
            },
            [report, r](caf::error&) { report(r); });
      },
      [report](caf::error&) { report(saga_result{}); });
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Bound on an operator call's steps (journal reads, the reopen, a saga
/// actor's durable answer).
constexpr auto operator_timeout = std::chrono::seconds{30};

/// Reopens failed saga `id` (state `st`) for operator `by`: appends
/// `saga_retried` (taking the saga over) and drives it here, turning it back
/// at once if `order` says so. `rp` gets the new status.
void reopen(coordinator_pointer self, const saga_id& id, saga_state st,
            std::string by, std::optional<turn_back_order> order,
            caf::typed_response_promise<saga_status> rp) {
  auto& s = self->state;
  if (auto err = check_participants(self, *st.def)) {
    rp.deliver(std::move(err));
    return;
  }
  event ev;
  ev.seq = st.last_seq + 1;
  ev.type = event_type::saga_retried;
  ev.time_ms = now_ms();
  ev.data = json{{"by", by},
                 {"action", order ? "abort" : "retry"},
                 {"definition", st.def->name()}}
              .dump();
  self->request(s.dir->journal(), operator_timeout, reopen_atom::value, id, ev)
    .then(
      [self, id, st, ev, order, rp](uint64_t) mutable {
        auto& s = self->state;
        if (s.running.count(id) > 0) {
          rp.deliver(
            make_error(errc::invalid_state, "saga " + id + " runs already"));
          return;
        }
        if (auto err = st.apply(ev)) {
          rp.deliver(std::move(err));
          return;
        }
        announce(self, st, ev, lifecycle_kind::saga_retried);
        auto next = order ? saga_status::compensating : st.status;
        auto def = st.def;
        launch(self, id, def, std::move(st), result_callback{}, false,
               std::move(order));
        s.dir->stats()->operator_retries.fetch_add(1,
                                                   std::memory_order_relaxed);
        rp.deliver(next);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Reads and replays saga `id`, then calls `f(state)`; `rp` gets any error
/// on the way (an unknown saga, an unreadable journal or history).
template <class F>
void with_replayed(coordinator_pointer self, const saga_id& id,
                   caf::typed_response_promise<saga_status> rp, F f) {
  self
    ->request(self->state.dir->journal(), operator_timeout, read_atom::value,
              id)
    .then(
      [id, rp, f](std::vector<event>& events) mutable {
        auto st = replay(id, events);
        if (!st)
          rp.deliver(std::move(st.error()));
        else
          f(std::move(*st));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Retries failed saga `id` on behalf of operator `by` (see
/// `coordinator_actor`).
caf::result<saga_status> retry(coordinator_pointer self, const saga_id& id,
                               std::string by) {
  auto& s = self->state;
  if (s.running.count(id) > 0)
    return make_error(errc::invalid_state,
                      "saga " + id
                        + " is running on this node; only a "
                          "failed saga can be retried");
  auto rp = self->make_response_promise<saga_status>();
  with_replayed(self, id, rp, [self, id, by, rp](saga_state st) mutable {
    if (!st.retry_status()) {
      rp.deliver(make_error(errc::invalid_state,
                            "saga " + id + " is "
                              + std::string{to_string(st.status)}
                              + "; only a failed saga can be retried"));
      return;
    }
    reopen(self, id, std::move(st), std::move(by), std::nullopt, rp);
  });
  return rp;
}

/// Aborts saga `id` on behalf of operator `by` (see `coordinator_actor`).
caf::result<saga_status> abort(coordinator_pointer self, const saga_id& id,
                               std::string by) {
  auto& s = self->state;
  auto rp = self->make_response_promise<saga_status>();
  if (s.running.count(id) > 0) {
    self->request(s.sagas, operator_timeout, which_child_atom::value, id)
      .then(
        [self, by, rp](const caf::actor& h) mutable {
          self
            ->request(caf::actor_cast<saga_actor>(h), operator_timeout,
                      abort_atom::value, by)
            .then([rp](saga_status x) mutable { rp.deliver(x); },
                  [rp](caf::error& err) mutable {
                    rp.deliver(std::move(err));
                  });
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }
  with_replayed(self, id, rp, [self, id, by, rp](saga_state st) mutable {
    if (st.status == saga_status::running
        || st.status == saga_status::compensating) {
      rp.deliver(make_error(errc::no_route,
                            "saga " + id
                              + " is not running on this node; abort it on "
                                "the node that owns it"));
      return;
    }
    // A parked saga that was running can be reopened and turned back.
    if (st.retry_status() != saga_status::running || st.past_pivot()) {
      auto why = st.past_pivot()
                   ? "has passed its pivot: it only goes forward"
                   : "has ended " + std::string{to_string(st.status)};
      rp.deliver(make_error(errc::invalid_state,
                            "saga " + id + " " + why
                              + "; only a running saga can be aborted"));
      return;
    }
    auto order = turn_back_order{errc::aborted,
                                 "aborted by operator '" + by + "'"};
    reopen(self, id, std::move(st), std::move(by), std::move(order), rp);
  });
  return rp;
}

local_coordinator_actor::behavior_type
coordinator(coordinator_pointer self, directory_ptr dir, runtime_config opts) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.dir = std::move(dir);
  s.opts = std::move(opts);
  s.dir->set_coordinator(caf::actor_cast<caf::actor>(self));
  std::random_device rd;
  uint64_t prefix = (uint64_t{rd()} << 32) ^ rd();
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(prefix));
  s.id_prefix = buf;
  // The saga supervisor: per-saga intensity parks a poisoned saga instead of
  // counting against the supervisor, so no saga can take the node down.
  supervisor_config sup;
  sup.name = "sagas";
  sup.strategy = restart_strategy::one_for_one;
  sup.intensity = restart_intensity{std::numeric_limits<size_t>::max(),
                                    std::chrono::milliseconds{1}};
  s.sagas = spawn_supervisor(self->system(), sup, {});
  self->link_to(s.sagas);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (is_normal_exit(msg.reason)
        && msg.reason != caf::exit_reason::user_shutdown)
      return; // a linked actor ended normally
    // The saga supervisor died: we go with it (our supervisor restarts us).
    // Otherwise we are asked to stop: the linked saga supervisor stops the
    // sagas (they resume from the journal later); waiters learn why.
    auto& s = self->state;
    auto running = std::move(s.running);
    s.running.clear();
    for (auto& [id, entry] : running) {
      auto r = error_result(id, make_error(errc::shutting_down,
                                           "the runtime stopped; saga " + id
                                             + " stays unfinished"));
      for (auto& w : entry.waiters)
        notify(w, r);
    }
    for (auto& q : s.queue)
      notify(q.w, error_result({}, make_error(errc::shutting_down,
                                              "the runtime stopped")));
    s.queue.clear();
    self->quit(msg.reason);
  });
  return {
    [self](run_atom, definition_ptr& def) -> caf::result<saga_result> {
      auto rp = self->make_response_promise<saga_result>();
      start_new(self, def, rp);
      return rp;
    },
    [self](run_atom, definition_ptr& def, result_callback& done) {
      start_new(self, def, std::move(done));
    },
    [self](done_atom, const saga_id& id, const saga_result& r) {
      finish(self, id, r);
    },
    [self](park_atom, const saga_id& id, std::string& reason) {
      park(self, id, reason);
    },
    [self](resume_atom, const saga_id& id) -> caf::result<saga_result> {
      auto rp = self->make_response_promise<saga_result>();
      resume(self, id, rp, [](bool) {});
      return rp;
    },
    [self](recover_atom) -> caf::result<uint64_t> {
      return start_recovery(self, std::string{}, 0);
    },
    [self](recover_atom, std::string& node,
           uint64_t below) -> caf::result<uint64_t> {
      return start_recovery(self, std::move(node), below);
    },
    [self](register_atom, std::string& name, participant_actor& handle) {
      return self->state.dir->set_participant(name, std::move(handle));
    },
    [self](lookup_atom,
           const std::string& name) -> caf::result<participant_actor> {
      auto h = self->state.dir->participant(name);
      if (!h)
        return make_error(errc::unknown_participant,
                          "no participant '" + name + "'");
      return h;
    },
    [self](which_child_atom a, saga_id& id) {
      return self->delegate(self->state.sagas, a, std::move(id));
    },
    [self](retry_atom, const saga_id& id, std::string& by) {
      return retry(self, id, std::move(by));
    },
    [self](abort_atom, const saga_id& id, std::string& by) {
      return abort(self, id, std::move(by));
    },
  };
}

} // namespace

local_coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                          directory_ptr dir,
                                          runtime_config opts) {
  return sys.spawn(coordinator, std::move(dir), opts);
}

} // namespace saga::detail
