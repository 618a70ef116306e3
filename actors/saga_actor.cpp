#include "actors/saga_actor.hpp"

#include "actors/ask_participant.hpp"
#include "actors/timer_service.hpp"

#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "core/http_endpoint.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"
#include "saga/lifecycle.hpp"
#include "saga/metrics.hpp"
#include "saga/supervisor.hpp"

namespace saga::detail {

namespace {

using std::chrono::milliseconds;

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

std::string ms_text(milliseconds x) {
  return std::to_string(x.count()) + "ms";
}

/// A timer of the saga actor. All of them share one wake-up at the runtime's
/// timer service (see actors/timer_service.hpp).
struct saga_timer {
  enum class kind : uint8_t { step, backoff, deadline, journal };
  caf::actor_clock::time_point at;
  kind what;
  /// step, backoff: a compensation rather than an execute.
  bool comp;
  int32_t step;
  /// step: the attempt; backoff: the attempt it waits for; journal: the
  /// batch generation.
  uint32_t n;
};

/// Something the saga actor does once the events before it are durable.
struct effect {
  enum class kind : uint8_t { execute, compensate, finish };
  kind what;
  int32_t step;
  uint32_t attempt;
  /// The claim the append before it made for its operation (see
  /// `barrier_preclaim`): its token and verdict; null if none was made.
  std::string claim_token = {};
  std::shared_ptr<const barrier_claim> claim = {};
};

/// The runtime-only bookkeeping of one step (not persisted; rebuilt on
/// resume). One vector of these per saga, not a vector per field: a million
/// waiting sagas hold one allocation each for it instead of ten.
struct step_runtime {
  /// The step's payload as JSON text, computed once.
  std::string payload;
  /// The step's latency histogram, looked up once.
  histogram* latency = nullptr;
  /// When the latest execute attempt was sent.
  caf::actor_clock::time_point exec_sent_at;
  /// Latest execute / compensate attempt that this incarnation sent (or
  /// will send once durable); 0: none.
  uint32_t exec_sent = 0;
  uint32_t comp_sent = 0;
  /// Execute attempt this incarnation sent again after a restart (0: none):
  /// an earlier incarnation sent it too, so a failed reply to it (no route
  /// from this node, say) does not show that the attempt took no effect.
  uint32_t exec_resent = 0;
  /// Attempt whose backoff timer is armed (0: none), and whether it fired.
  uint32_t exec_backoff = 0;
  uint32_t comp_backoff = 0;
  bool exec_backoff_done = false;
  bool comp_backoff_done = false;
};

struct saga_actor_state {
  static inline const char* name = "saga.instance";

  // -- configuration ---------------------------------------------------------
  saga_state st;
  /// Where the current journal and participants are found.
  directory_ptr dir;
  /// Receives the result.
  caf::actor coordinator;
  milliseconds journal_timeout{0};
  bool compensate_on_resume = false;
  errc resume_code = errc::recovered_compensate;
  std::string resume_reason;
  /// This definition's metrics, looked up once.
  definition_metrics* stats = nullptr;
  /// Operators waiting for an abort to be durable: the seq of its event.
  std::vector<std::pair<uint64_t, caf::typed_response_promise<saga_status>>>
    abort_waiters;

  // -- write-ahead pipeline --------------------------------------------------
  /// Events applied to `st` but not yet handed to the journal.
  std::vector<event> unsent;
  /// The saga's status after each event of `unsent` (then of `in_flight`),
  /// and after the last event the journal acknowledged: what a result may
  /// report when the rest never becomes durable (fenced).
  std::vector<saga_status> unsent_status;
  std::vector<saga_status> in_flight_status;
  saga_status durable_status = saga_status::pending;
  /// Effects that wait for `unsent` (and any append in flight) to be durable.
  std::vector<effect> waiting;
  /// True while an append is in flight; at most one per saga keeps order.
  bool appending = false;
  /// The batch in flight (kept to send it again after a journal timeout) and
  /// the effects that wait for it.
  std::vector<event> in_flight;
  std::vector<effect> in_flight_effects;
  /// The claims the batch in flight makes for its effects' operations at
  /// participants of this runtime (see `barrier_preclaim`), and the index
  /// of each one's effect in `in_flight_effects`.
  std::vector<barrier_preclaim> in_flight_preclaims;
  std::vector<size_t> in_flight_preclaimed;
  /// Outcomes of pre-claimed operations that the participants left to us
  /// (see `barrier_outcome`): recorded with the batch that holds their step
  /// events, so they go with `unsent` and then `in_flight`.
  std::vector<barrier_outcome> unsent_outcomes;
  std::vector<barrier_outcome> in_flight_outcomes;
  /// Generation of the batch in flight: a reply to an earlier send of it
  /// (before a journal timeout) is ignored.
  uint32_t batch_generation = 0;
  /// Sends of the batch in flight so far, less one: each waits twice as long
  /// as the one before (up to 32 journal timeouts), so an overloaded journal
  /// is not flooded with copies.
  uint32_t batch_resends = 0;

  // -- timers --------------------------------------------------------------------
  std::vector<saga_timer> timers;
  wake_up wake;

  // -- runtime-only bookkeeping (not persisted; rebuilt on resume) ---------------
  /// Per step, in definition order.
  std::vector<step_runtime> rt;
  /// Results of completed steps as a JSON object text, sent with commands.
  std::string results;
  bool results_stale = true;

  bool finished = false;
  /// The deadline passed while the pivot was in flight.
  bool deadline_passed = false;
  caf::actor_clock::time_point start_time;
  std::minstd_rand rng;
};

using saga_pointer = saga_actor::stateful_pointer<saga_actor_state>;

const step_definition& step_def(saga_pointer self, int32_t i) {
  return self->state.st.def->steps()[static_cast<size_t>(i)];
}

// -- timers ------------------------------------------------------------------------

/// Starts timer `t` to go off after `delay`.
void start_timer(saga_pointer self, caf::timespan delay, saga_timer t) {
  auto& s = self->state;
  t.at = self->clock().now() + delay;
  s.timers.push_back(t);
  s.wake.at_latest(s.dir->timers(), self->address(), t.at);
}

void on_timer(saga_pointer self, const saga_timer& t);

/// Runs the timers that are due and asks for a wake-up for the next one.
void on_wake(saga_pointer self, caf::actor_clock::time_point at) {
  auto& s = self->state;
  s.wake.arrived(at);
  auto now = self->clock().now();
  auto not_due = [now](const saga_timer& t) { return t.at > now; };
  auto earlier = [](const saga_timer& x, const saga_timer& y) {
    return x.at < y.at;
  };
  auto first_due = std::stable_partition(s.timers.begin(), s.timers.end(),
                                         not_due);
  std::vector<saga_timer> due(first_due, s.timers.end());
  s.timers.erase(first_due, s.timers.end());
  std::sort(due.begin(), due.end(), earlier);
  for (const auto& t : due) {
    if (s.finished)
      return;
    on_timer(self, t);
  }
  if (!s.timers.empty()) {
    auto next = std::min_element(s.timers.begin(), s.timers.end(), earlier);
    s.wake.at_latest(s.dir->timers(), self->address(), next->at);
  }
}

// -- events and effects ----------------------------------------------------------

/// Applies a new event to the state and queues it for the journal. A failing
/// apply is a bug in the engine: crash, and let the supervisor replay.
void emit(saga_pointer self, event_type type, int32_t step = -1,
          uint32_t attempt = 0, std::string data = {}, std::string error = {}) {
  auto& s = self->state;
  event ev;
  ev.seq = s.st.last_seq + 1;
  ev.type = type;
  ev.step = step;
  ev.attempt = attempt;
  ev.data = std::move(data);
  ev.error = std::move(error);
  ev.time_ms = wall_ms();
  if (auto err = s.st.apply(ev))
    throw std::logic_error("saga " + s.st.saga_id
                           + ": engine emitted an invalid event: "
                           + describe(err));
  if (type == event_type::step_succeeded)
    s.results_stale = true;
  s.unsent.push_back(std::move(ev));
  s.unsent_status.push_back(s.st.status);
}

void schedule(saga_pointer self, effect::kind what, int32_t step = -1,
              uint32_t attempt = 0) {
  self->state.waiting.push_back(effect{what, step, attempt});
}

const std::string& results_text(saga_pointer self) {
  auto& s = self->state;
  if (s.results_stale) {
    // Built by concatenation: each result is JSON text already.
    std::string out = "{";
    const auto& defs = s.st.def->steps();
    for (size_t i = 0; i < defs.size(); ++i) {
      const auto& x = s.st.steps[i];
      if (!x.succeeded)
        continue;
      if (out.size() > 1)
        out += ',';
      out += json(defs[i].name).dump();
      out += ':';
      out += x.result.empty() ? "null" : x.result;
    }
    out += '}';
    s.results = std::move(out);
    s.results_stale = false;
  }
  return s.results;
}

step_command make_command(saga_pointer self, int32_t i, uint32_t attempt,
                          bool compensate) {
  const auto& sd = step_def(self, i);
  step_command cmd;
  cmd.id = self->state.st.saga_id;
  cmd.saga_name = self->state.st.def->name();
  cmd.step = sd.name;
  cmd.action = sd.action;
  cmd.attempt = attempt;
  cmd.payload = self->state.rt[static_cast<size_t>(i)].payload;
  cmd.results = results_text(self);
  const auto& ep = compensate ? sd.http.compensate : sd.http.execute;
  if (!ep.path.empty())
    cmd.endpoint = detail::to_text(ep);
  return cmd;
}

void flush(saga_pointer self);
void drive(saga_pointer self);
void on_execute_reply(saga_pointer self, int32_t i, uint32_t a,
                      step_reply& reply);
void on_execute_lost(saga_pointer self, int32_t i, uint32_t a,
                     const std::string& why);
void on_compensate_reply(saga_pointer self, int32_t i, uint32_t a,
                         step_reply& reply);
void on_compensate_lost(saga_pointer self, int32_t i, uint32_t a,
                        const std::string& why);

saga_result make_result(saga_pointer self) {
  auto r = summarize(self->state.st);
  r.duration = self->clock().now() - self->state.start_time;
  return r;
}

void run_effect(saga_pointer self, const effect& e) {
  auto& s = self->state;
  if (s.finished)
    return;
  auto i = e.step;
  auto a = e.attempt;
  switch (e.what) {
    case effect::kind::execute:
    case effect::kind::compensate: {
      auto comp = e.what == effect::kind::compensate;
      const auto& sd = step_def(self, i);
      auto participant = s.dir->participant(sd.participant);
      if (!participant) {
        self->send(self, unreachable_atom::value, i, a, comp);
        break;
      }
      auto timeout = comp ? sd.compensation_timeout : sd.timeout;
      if (!comp)
        s.rt[static_cast<size_t>(i)].exec_sent_at = self->clock().now();
      // No CAF timeout: the step timer decides when an attempt counts as
      // lost, and a reply that comes later is still taken into account.
      auto cmd = make_command(self, i, a, comp);
      cmd.preclaim_token = e.claim_token;
      cmd.preclaim = e.claim;
      ask_participant(self, participant, caf::infinite, comp, cmd)
        .then(
          [self, i, a, comp](step_reply& reply) {
            if (comp)
              on_compensate_reply(self, i, a, reply);
            else
              on_execute_reply(self, i, a, reply);
          },
          [self, i, a, comp](caf::error& err) {
            if (comp)
              on_compensate_lost(self, i, a, describe(err));
            else
              on_execute_lost(self, i, a, describe(err));
          });
      start_timer(self, timeout,
                  saga_timer{{}, saga_timer::kind::step, comp, i, a});
      break;
    }
    case effect::kind::finish: {
      s.finished = true;
      s.wake.release(s.dir->timers(), self->id());
      caf::anon_send(s.coordinator, done_atom::value, s.st.saga_id,
                     make_result(self));
      self->quit();
      break;
    }
  }
}

/// Hands queued events to the journal, or runs the effects whose events are
/// durable. Called at the end of every message handler.
void send_batch(saga_pointer self);

/// Tells the metrics, the lifecycle subscribers and waiting operators about
/// `batch`, which the journal has just acknowledged.
void publish(saga_pointer self, const std::vector<event>& batch) {
  auto& s = self->state;
  const auto& hub = *s.dir->lifecycle();
  auto* dm = s.stats;
  for (const auto& ev : batch) {
    std::optional<lifecycle_kind> kind;
    switch (ev.type) {
      case event_type::saga_started:
        dm->started.fetch_add(1, std::memory_order_relaxed);
        kind = lifecycle_kind::saga_started;
        break;
      case event_type::step_succeeded:
        kind = lifecycle_kind::step_completed;
        break;
      case event_type::step_failed:
      case event_type::step_timed_out:
        kind = lifecycle_kind::step_failed;
        break;
      case event_type::compensation_started:
        kind = lifecycle_kind::compensation_started;
        break;
      case event_type::step_compensated:
        kind = lifecycle_kind::step_compensated;
        break;
      case event_type::saga_completed:
        dm->completed.fetch_add(1, std::memory_order_relaxed);
        kind = lifecycle_kind::saga_completed;
        break;
      case event_type::saga_compensated:
        dm->compensated.fetch_add(1, std::memory_order_relaxed);
        kind = lifecycle_kind::saga_compensated;
        break;
      case event_type::saga_failed:
        dm->failed.fetch_add(1, std::memory_order_relaxed);
        kind = lifecycle_kind::saga_failed;
        break;
      case event_type::step_attempt_failed:
      case event_type::step_attempt_timed_out:
      case event_type::compensation_attempt_failed:
        kind = lifecycle_kind::step_attempt_failed;
        break;
      case event_type::step_started:
      case event_type::step_compensating:
        if (ev.attempt > 1)
          dm->retries.fetch_add(1, std::memory_order_relaxed);
        break;
      default: break;
    }
    if (!kind || hub.empty())
      continue;
    lifecycle_event le;
    le.kind = *kind;
    le.saga_id = s.st.saga_id;
    le.definition = s.st.def->name();
    if (ev.step >= 0 && static_cast<size_t>(ev.step) < s.st.steps.size())
      le.step = step_def(self, ev.step).name;
    le.attempt = ev.attempt;
    le.error = ev.error;
    le.seq = ev.seq;
    le.time_ms = ev.time_ms;
    if (*kind == lifecycle_kind::step_attempt_failed && ev.step >= 0)
      le.next_attempt_ms
        = s.st.next_attempt_ms(static_cast<size_t>(ev.step),
                               ev.type
                                 == event_type::compensation_attempt_failed,
                               ev.attempt, ev.time_ms);
    hub.publish(le);
  }
  if (!s.abort_waiters.empty() && !batch.empty()) {
    auto acked = batch.back().seq;
    auto& ws = s.abort_waiters;
    for (auto i = ws.begin(); i != ws.end();) {
      if (i->first <= acked) {
        i->second.deliver(s.st.status);
        i = ws.erase(i);
      } else {
        ++i;
      }
    }
  }
}

/// Plans the claims the batch in flight makes with its events: one per
/// execute or compensate it sends to a participant of this runtime (behind
/// the barrier on the same journal), which then needs no claim round trip.
void plan_preclaims(saga_pointer self) {
  auto& s = self->state;
  s.in_flight_preclaims.clear();
  s.in_flight_preclaimed.clear();
  for (size_t k = 0; k < s.in_flight_effects.size(); ++k) {
    const auto& e = s.in_flight_effects[k];
    if (e.what == effect::kind::finish)
      continue;
    const auto& sd = step_def(self, e.step);
    if (!s.dir->takes_preclaims(sd.participant))
      continue;
    auto op = e.what == effect::kind::compensate ? barrier_op::compensate
                                                 : barrier_op::execute;
    // "<attempt>:<claimant>": unique to this saga actor in this process.
    auto token = std::to_string(e.attempt) + ":" + s.dir->incarnation() + "-s"
                 + std::to_string(self->id());
    s.in_flight_preclaims.push_back({sd.name, op, std::move(token)});
    s.in_flight_preclaimed.push_back(k);
  }
}

/// Attaches the verdicts of the batch's pre-claims to their effects; none
/// (a batch stored already) leaves the claims to the participants.
void attach_verdicts(saga_pointer self, std::vector<barrier_claim>& verdicts) {
  auto& s = self->state;
  if (verdicts.size() != s.in_flight_preclaims.size())
    return;
  for (size_t k = 0; k < verdicts.size(); ++k) {
    auto& e = s.in_flight_effects[s.in_flight_preclaimed[k]];
    e.claim_token = std::move(s.in_flight_preclaims[k].token);
    e.claim = std::make_shared<const barrier_claim>(std::move(verdicts[k]));
  }
}

void flush(saga_pointer self) {
  auto& s = self->state;
  if (s.appending || s.finished)
    return;
  if (s.unsent.empty()) {
    auto effects = std::move(s.waiting);
    s.waiting.clear();
    for (const auto& e : effects)
      run_effect(self, e);
    return;
  }
  s.in_flight = std::move(s.unsent);
  s.unsent.clear();
  s.in_flight_status = std::move(s.unsent_status);
  s.unsent_status.clear();
  s.in_flight_effects = std::move(s.waiting);
  s.waiting.clear();
  s.in_flight_outcomes = std::move(s.unsent_outcomes);
  s.unsent_outcomes.clear();
  plan_preclaims(self);
  s.appending = true;
  send_batch(self);
}

/// Continues once the batch in flight (send `generation`) is durable:
/// publishes it and runs the effects that waited for it.
void on_appended(saga_pointer self, uint32_t generation,
                 std::vector<barrier_claim>* verdicts) {
  auto& s = self->state;
  if (!s.appending || generation != s.batch_generation)
    return; // an earlier send of a batch that was sent again
  s.appending = false;
  s.batch_resends = 0;
  // Its journal timer is moot: drop it, so a long-lived saga's timer
  // list stays short.
  auto& ts = s.timers;
  ts.erase(std::remove_if(ts.begin(), ts.end(),
                          [generation](const saga_timer& t) {
                            return t.what == saga_timer::kind::journal
                                   && t.n == generation;
                          }),
           ts.end());
  publish(self, s.in_flight);
  if (!s.in_flight_status.empty())
    s.durable_status = s.in_flight_status.back();
  s.in_flight_status.clear();
  // Release the batch's memory: a saga mostly waits for a step now, and a
  // million waiting sagas should not hold their last batches.
  std::vector<event>{}.swap(s.in_flight);
  if (verdicts != nullptr)
    attach_verdicts(self, *verdicts);
  s.in_flight_preclaims.clear();
  s.in_flight_preclaimed.clear();
  s.in_flight_outcomes.clear();
  auto effects = std::move(s.in_flight_effects);
  s.in_flight_effects.clear();
  for (const auto& e : effects)
    run_effect(self, e);
  flush(self);
}

/// Handles a failed send `generation` of the batch in flight: fenced (the
/// saga was adopted elsewhere) stops quietly, anything else crashes it for
/// recovery from what the journal did acknowledge.
void on_append_failed(saga_pointer self, uint32_t generation, caf::error& err) {
  auto& s = self->state;
  if (!s.appending || generation != s.batch_generation || s.finished)
    return;
  if (is(err, errc::fenced)) {
    // Another node adopted this saga (we were paused or cut off past our
    // lease): it is theirs now. Stop without a restart and without
    // touching it again; the waiters learn where it went.
    s.finished = true;
    s.wake.release(s.dir->timers(), self->id());
    if (s.durable_status == saga_status::pending)
      aout(self) << "caf-saga: saga " << s.st.saga_id
                 << " was started by another node first (a client-chosen "
                    "id); this node leaves it to that one"
                 << std::endl;
    else
      aout(self) << "caf-saga: saga " << s.st.saga_id
                 << " was adopted by another node; fenced, this node stops "
                    "driving it"
                 << std::endl;
    // Only what the journal acknowledged happened here; the node that took
    // the saga over decides the rest.
    auto r = make_result(self);
    r.success = false;
    r.state = s.durable_status;
    r.error = std::move(err);
    caf::anon_send(s.coordinator, done_atom::value, s.st.saga_id, r);
    self->quit();
    return;
  }
  // Nothing after the failed batch may happen: stop, and leave the saga to
  // recovery from what the journal did acknowledge.
  self->quit(make_error(errc::journal_failure,
                        "saga " + s.st.saga_id
                          + ": journal append failed: " + describe(err)));
}

/// Sends the batch in flight. A journal that does not answer in time (Redis
/// down, writers reconnecting) gets the same batch again: appends are
/// idempotent for the same events, and the saga must not act before they
/// are durable, so it waits as long as it takes. Any other error stops it.
/// The request has no CAF timeout; a journal timer sends it again, after
/// twice as long each time. With pre-claims the
/// append claims its effects' operations too (see `plan_preclaims`), and
/// records the participants' outcomes it carries.
void send_batch(saga_pointer self) {
  auto& s = self->state;
  auto journal = s.dir->journal();

  if (!journal) {
    self->quit(make_error(errc::shutting_down, "no journal"));
    return;
  }
  auto generation = ++s.batch_generation;
  start_timer(self, s.journal_timeout * (1u << std::min(s.batch_resends, 5u)),
              saga_timer{{}, saga_timer::kind::journal, false, -1, generation});
  auto failed = [self, generation](caf::error& err) {
    on_append_failed(self, generation, err);
  };
  if (s.in_flight_preclaims.empty() && s.in_flight_outcomes.empty()) {
    self
      ->request(journal, caf::infinite, append_atom::value, s.st.saga_id,
                s.in_flight)
      .then([self,
             generation](uint64_t) { on_appended(self, generation, nullptr); },
            failed);
    return;
  }
  self
    ->request(journal, caf::infinite, append_atom::value, s.st.saga_id,
              s.in_flight, s.in_flight_preclaims, s.in_flight_outcomes)
    .then(
      [self, generation](uint64_t, std::vector<barrier_claim>& verdicts) {
        on_appended(self, generation, &verdicts);
      },
      failed);
}

// -- decisions ---------------------------------------------------------------------

/// Returns the data of a decision event: its code, and the definition's
/// name (the Redis journal counts ended sagas per definition from it).
std::string code_data(saga_pointer self, std::optional<errc> code,
                      const std::string& by = {}) {
  json j{{"definition", self->state.st.def->name()}};
  if (code)
    j["code"] = to_string(*code);
  if (!by.empty())
    j["by"] = by;
  return j.dump();
}

void arm_backoff(saga_pointer self, int32_t i, uint32_t next, bool comp) {
  auto& s = self->state;
  const auto& policy = s.st.policy_of(static_cast<size_t>(i), comp);
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  const auto& x = s.st.steps[static_cast<size_t>(i)];
  auto base = comp ? x.internal.compensation_attempt_base
                   : x.internal.attempt_base;
  auto delay = policy.delay(next - base, unit(s.rng));
  auto idx = static_cast<size_t>(i);
  auto& r = s.rt[idx];
  (comp ? r.comp_backoff : r.exec_backoff) = next;
  (comp ? r.comp_backoff_done : r.exec_backoff_done) = false;
  start_timer(self, delay,
              saga_timer{{}, saga_timer::kind::backoff, comp, i, next});
}

/// Returns the first step that has not completed (an executing one if
/// any), or -1: the step a saga-level decision is attributed to.
int32_t culprit(const saga_state& st) {
  int32_t first = -1;
  for (size_t i = 0; i < st.steps.size(); ++i) {
    auto x = st.steps[i].status;
    if (x == step_status::executing)
      return static_cast<int32_t>(i);
    if (x != step_status::completed && first < 0)
      first = static_cast<int32_t>(i);
  }
  return first;
}

/// Sends the next execute attempt of a step whose retry is due, once its
/// backoff has passed; arms the backoff otherwise.
void retry_when_due(saga_pointer self, size_t idx, bool comp) {
  auto& s = self->state;
  auto i = static_cast<int32_t>(idx);
  auto& x = s.st.steps[idx];
  auto next = (comp ? x.compensation_attempts : x.attempts) + 1;
  auto& r = s.rt[idx];
  auto armed = comp ? r.comp_backoff : r.exec_backoff;
  auto fired = comp ? r.comp_backoff_done : r.exec_backoff_done;
  if (armed == next && fired) {
    emit(self, comp ? event_type::step_compensating : event_type::step_started,
         i, next);
    (comp ? r.comp_sent : r.exec_sent) = next;
    schedule(self, comp ? effect::kind::compensate : effect::kind::execute, i,
             next);
  } else if (armed != next) {
    arm_backoff(self, i, next, comp);
  }
}

/// One pass going forward. Returns true if the saga changed direction and
/// drive() must look again.
bool drive_forward(saga_pointer self) {
  auto& s = self->state;
  auto& st = s.st;
  auto n = st.steps.size();
  // A step that failed for good turns the saga back before anything else
  // starts; after the pivot it parks the saga instead.
  for (size_t idx = 0; idx < n; ++idx) {
    auto& x = st.steps[idx];
    if (x.status != step_status::failed)
      continue;
    auto i = static_cast<int32_t>(idx);
    if (st.graph.after_pivot[idx]) {
      emit(self, event_type::saga_failed, -1, 0,
           code_data(self, errc::forward_recovery_failed),
           "step '" + step_def(self, i).name
             + "' after the pivot failed past its retries: " + x.error);
      schedule(self, effect::kind::finish);
      return false;
    }
    auto code = x.outcome_unknown ? errc::step_timeout : errc::step_failed;
    emit(self, event_type::compensation_started, i, 0, code_data(self, code),
         "step '" + step_def(self, i).name + "' failed: " + x.error);
    return true;
  }
  auto all_completed = true;
  for (size_t idx = 0; idx < n; ++idx) {
    auto& x = st.steps[idx];
    auto i = static_cast<int32_t>(idx);
    switch (x.status) {
      case step_status::completed: break;
      case step_status::pending: {
        all_completed = false;
        auto ready = true;
        for (auto d : st.graph.deps[idx])
          ready = ready
                  && st.steps[static_cast<size_t>(d)].status
                       == step_status::completed;
        if (ready) {
          emit(self, event_type::step_started, i, 1);
          s.rt[idx].exec_sent = 1;
          schedule(self, effect::kind::execute, i, 1);
        }
        break;
      }
      case step_status::executing:
        all_completed = false;
        if (x.retry_due) {
          retry_when_due(self, idx, false);
        } else if (s.rt[idx].exec_sent != x.attempts) {
          // Resumed: the intent is durable, the command may be lost.
          s.rt[idx].exec_sent = x.attempts;
          s.rt[idx].exec_resent = x.attempts;
          schedule(self, effect::kind::execute, i, x.attempts);
        }
        break;
      default:
        throw std::logic_error("saga " + st.saga_id + ": step in state "
                               + std::string{to_string(x.status)}
                               + " while running");
    }
  }
  if (all_completed) {
    emit(self, event_type::saga_completed, -1, 0,
         code_data(self, std::nullopt));
    schedule(self, effect::kind::finish);
  }
  return false;
}

/// One pass going back. Steps in flight are awaited (bounded by their
/// timeouts); a step is compensated once every step that waited for it is
/// settled; independent compensations run in parallel.
void drive_backward(saga_pointer self) {
  auto& s = self->state;
  auto& st = s.st;
  auto n = st.steps.size();
  // Abandon what would otherwise go on: no new attempts.
  for (size_t idx = 0; idx < n; ++idx) {
    auto& x = st.steps[idx];
    auto i = static_cast<int32_t>(idx);
    if (x.status != step_status::executing)
      continue;
    if (x.retry_due)
      emit(self, event_type::step_failed, i, x.attempts, {},
           "abandoned: the saga is compensating");
    else if (s.rt[idx].exec_sent != x.attempts)
      emit(self, event_type::step_timed_out, i, x.attempts, {},
           "abandoned in flight by a restart");
  }
  auto open = false;
  for (size_t idx = 0; idx < n; ++idx) {
    auto& x = st.steps[idx];
    auto i = static_cast<int32_t>(idx);
    if (x.status == step_status::executing) {
      open = true; // awaiting its reply or timeout
    } else if (x.status == step_status::compensating) {
      open = true;
      if (x.compensation_retry_due) {
        retry_when_due(self, idx, true);
      } else if (s.rt[idx].comp_sent != x.compensation_attempts) {
        s.rt[idx].comp_sent = x.compensation_attempts;
        schedule(self, effect::kind::compensate, i, x.compensation_attempts);
      }
    } else if (st.needs_compensation(idx)) {
      open = true;
      auto ready = true;
      for (auto d : st.graph.dependents[idx])
        ready = ready && st.settled(static_cast<size_t>(d));
      if (ready) {
        emit(self, event_type::step_compensating, i, 1);
        s.rt[idx].comp_sent = 1;
        schedule(self, effect::kind::compensate, i, 1);
      }
    }
  }
  if (!open) {
    emit(self, event_type::saga_compensated, -1, 0,
         code_data(self, std::nullopt));
    schedule(self, effect::kind::finish);
  }
}

void turn_back(saga_pointer self, errc code, const std::string& why,
               const std::string& by = {});

/// Moves the saga as far as its state allows. Idempotent: the runtime
/// bookkeeping prevents sending anything twice.
void drive(saga_pointer self) {
  auto& s = self->state;
  auto& st = s.st;
  for (;;) {
    if (s.finished || is_terminal(st.status))
      return;
    if (st.status == saga_status::running) {
      if (s.deadline_passed && !st.past_pivot()) {
        const auto& pv = st.steps[static_cast<size_t>(st.graph.pivot)];
        if (pv.status != step_status::executing || pv.retry_due) {
          // The pivot that held the deadline back did not complete.
          s.deadline_passed = false;
          turn_back(self, errc::deadline_exceeded,
                    "deadline of " + ms_text(st.def->deadline()) + " exceeded");
          continue;
        }
      }
      if (drive_forward(self))
        continue;
      return;
    }
    drive_backward(self);
    return;
  }
}

// -- replies and timers --------------------------------------------------------------

/// Returns whether a failed attempt `a` of step `i` is its last one.
bool final_attempt(saga_pointer self, int32_t i, uint32_t a, bool retryable) {
  const auto& st = self->state.st;
  if (st.status != saga_status::running)
    return true; // compensating: no more attempts
  // The budget counts from the last operator retry.
  auto n = a - st.steps[static_cast<size_t>(i)].internal.attempt_base;
  if (st.graph.after_pivot[static_cast<size_t>(i)])
    return n >= st.def->forward_retry().max_attempts; // always retried
  return !retryable || n >= step_def(self, i).retry.max_attempts;
}

/// Keeps the outcome `reply` leaves to us, if any, for the batch that holds
/// the event just emitted for it: the participant answered before recording
/// it (see `barrier_outcome`).
void keep_outcome(saga_pointer self, const step_reply& reply) {
  if (reply.outcome != nullptr)
    self->state.unsent_outcomes.push_back(*reply.outcome);
}

void on_execute_reply(saga_pointer self, int32_t i, uint32_t a,
                      step_reply& reply) {
  auto& st = self->state.st;
  if (self->state.finished)
    return;
  auto& x = st.steps[static_cast<size_t>(i)];
  if (a == x.attempts && x.status == step_status::executing) {
    auto idx = static_cast<size_t>(i);
    std::chrono::duration<double> took = self->clock().now()
                                         - self->state.rt[idx].exec_sent_at;
    self->state.rt[idx].latency->observe(took.count());
  }
  if (reply.ok) {
    // Any attempt's success counts, even one that timed out: it took effect.
    auto late_but_useful = x.status == step_status::failed
                           && st.status == saga_status::compensating
                           && x.compensation_attempts == 0;
    if (x.status == step_status::executing || late_but_useful) {
      emit(self, event_type::step_succeeded, i, a,
           reply.result.empty() ? "null" : std::move(reply.result));
      keep_outcome(self, reply);
    }
  } else if (x.status == step_status::executing && a == x.attempts
             && !x.retry_due) {
    auto last = final_attempt(self, i, a, reply.retryable);
    if (a == self->state.rt[static_cast<size_t>(i)].exec_resent) {
      // Sent again after a restart: the earlier incarnation's send of this
      // attempt may have taken effect whatever this send's reply says (the
      // chaos campaign, seed 20261201: "no route" from the adopting node on
      // the last attempt, while the first send had succeeded). Its outcome
      // is unknown, like a timed-out attempt's.
      emit(self,
           last ? event_type::step_timed_out
                : event_type::step_attempt_timed_out,
           i, a, {}, "sent again after a restart, then: " + reply.error);
    } else {
      emit(self,
           last ? event_type::step_failed : event_type::step_attempt_failed, i,
           a, {}, std::move(reply.error));
    }
  }
  drive(self);
  flush(self);
}

void on_execute_lost(saga_pointer self, int32_t i, uint32_t a,
                     const std::string& why) {
  auto& st = self->state.st;
  if (self->state.finished)
    return;
  auto& x = st.steps[static_cast<size_t>(i)];
  if (x.status != step_status::executing || a != x.attempts || x.retry_due)
    return; // stale: a later attempt runs, or this one was settled already
  emit(self,
       final_attempt(self, i, a, true) ? event_type::step_timed_out
                                       : event_type::step_attempt_timed_out,
       i, a, {}, why);
  drive(self);
  flush(self);
}

void on_compensate_reply(saga_pointer self, int32_t i, uint32_t a,
                         step_reply& reply) {
  auto& st = self->state.st;
  if (self->state.finished)
    return;
  auto& x = st.steps[static_cast<size_t>(i)];
  if (x.status != step_status::compensating
      || st.status != saga_status::compensating)
    return;
  if (reply.ok) {
    emit(self, event_type::step_compensated, i, a);
    keep_outcome(self, reply);
  } else if (a == x.compensation_attempts && !x.compensation_retry_due) {
    // Every failure of a compensation is retried, whatever `retryable`
    // says: a compensation must eventually succeed (its database may be
    // down for a while, its handler may be deployed later), so only the
    // policy decides when to give up and call an operator.
    const auto& sd = step_def(self, i);
    auto n = a - x.internal.compensation_attempt_base;
    if (n >= sd.compensation_retry.max_attempts) {
      auto why = "compensation of step '" + sd.name
                 + "' failed: " + reply.error;
      emit(self, event_type::compensation_failed, i, a, {}, reply.error);
      emit(self, event_type::saga_failed, -1, 0,
           code_data(self, errc::compensation_failed), std::move(why));
      schedule(self, effect::kind::finish);
    } else {
      emit(self, event_type::compensation_attempt_failed, i, a, {},
           std::move(reply.error));
    }
  }
  drive(self);
  flush(self);
}

void on_compensate_lost(saga_pointer self, int32_t i, uint32_t a,
                        const std::string& why) {
  step_reply reply;
  reply.retryable = true;
  reply.error = why;
  on_compensate_reply(self, i, a, reply);
}

/// Stops going forward: steps waiting for a retry fail, steps in flight are
/// abandoned (drive() awaits their replies or timeouts and compensates them
/// if they took, or may have taken, effect), and compensation starts.
void turn_back(saga_pointer self, errc code, const std::string& why,
               const std::string& by) {
  auto& st = self->state.st;
  auto i = culprit(st);
  if (i < 0)
    i = static_cast<int32_t>(st.steps.size()) - 1; // all done, not yet ended
  for (size_t idx = 0; idx < st.steps.size(); ++idx) {
    auto& x = st.steps[idx];
    if (x.status == step_status::executing && x.retry_due)
      emit(self, event_type::step_failed, static_cast<int32_t>(idx), x.attempts,
           {}, why + " while waiting to retry");
  }
  emit(self, event_type::compensation_started, i, 0, code_data(self, code, by),
       why + " during step '" + step_def(self, i).name + "'");
}

void on_deadline(saga_pointer self) {
  auto& s = self->state;
  auto& st = s.st;
  if (s.finished || st.status != saga_status::running || st.past_pivot())
    return; // past the pivot the deadline no longer applies
  auto p = st.graph.pivot;
  if (p >= 0) {
    auto& pivot = st.steps[static_cast<size_t>(p)];
    if (pivot.status == step_status::executing && !pivot.retry_due) {
      // The pivot is in flight: its outcome decides the direction. Look
      // again once it is known.
      s.deadline_passed = true;
      return;
    }
  }
  turn_back(self, errc::deadline_exceeded,
            "deadline of " + ms_text(st.def->deadline()) + " exceeded");
  drive(self);
  flush(self);
}

/// Turns the saga back on operator `by`'s behalf; answers once the
/// `compensation_started` that records it (naming `by`) is durable.
caf::result<saga_status> on_abort(saga_pointer self, const std::string& by) {
  auto& s = self->state;
  auto& st = s.st;
  if (s.finished || st.def == nullptr || st.status != saga_status::running)
    return make_error(errc::invalid_state,
                      "saga " + st.saga_id + " is "
                        + std::string{to_string(st.status)}
                        + "; only a running saga can be aborted");
  if (st.past_pivot())
    return make_error(errc::invalid_state,
                      "saga " + st.saga_id + " has passed its pivot step '"
                        + step_def(self, st.graph.pivot).name
                        + "': it only goes forward");
  turn_back(self, errc::aborted, "aborted by operator '" + by + "'", by);
  auto rp = self->make_response_promise<saga_status>();
  s.abort_waiters.emplace_back(st.last_seq, rp);
  s.dir->stats()->operator_aborts.fetch_add(1, std::memory_order_relaxed);
  drive(self);
  flush(self);
  return rp;
}

void start(saga_pointer self) {
  auto& s = self->state;
  s.start_time = self->clock().now();
  auto fresh = s.st.status == saga_status::pending;
  if (fresh) {
    emit(self, event_type::saga_started, -1, 0, s.st.def->json_text());
  }
  if (auto d = s.st.def->deadline(); d.count() > 0) {
    auto remaining = d;
    if (!fresh) {
      // The start time comes from the journal: saturate rather than
      // overflow for times a damaged or foreign stream may hold.
      int64_t due = 0;
      int64_t left = 0;
      if (__builtin_add_overflow(s.st.started_at_ms, d.count(), &due))
        due = s.st.started_at_ms < 0 ? INT64_MIN : INT64_MAX;
      if (__builtin_sub_overflow(due, wall_ms(), &left))
        left = due < 0 ? 0 : INT64_MAX;
      remaining = milliseconds{std::max<int64_t>(0, left)};
    }
    start_timer(self, remaining,
                saga_timer{{}, saga_timer::kind::deadline, false, -1, 0});
  }
  if (!fresh && s.compensate_on_resume && s.st.status == saga_status::running
      && !s.st.past_pivot())
    turn_back(self, s.resume_code,
              s.resume_reason.empty()
                ? "resumed under the compensate recovery policy"
                : s.resume_reason);
  if (is_terminal(s.st.status)) {
    // Ended before a crash could report it: report it now.
    schedule(self, effect::kind::finish);
  }
  drive(self);
  flush(self);
}

/// Takes `st` as the saga's state and sizes the runtime bookkeeping.
void adopt(saga_pointer self, saga_state st) {
  auto& s = self->state;
  s.st = std::move(st);
  s.durable_status = s.st.status; // replayed from the journal, or pending
  s.stats = &s.dir->stats()->of(s.st.def->name());
  const auto& defs = s.st.def->steps();
  s.rt.assign(defs.size(), step_runtime{});
  for (size_t k = 0; k < defs.size(); ++k) {
    s.rt[k].payload = defs[k].payload.dump();
    s.rt[k].latency = &s.stats->step_latency(defs[k].name);
  }
}

/// A restarted incarnation: rebuild from the journal, then carry on exactly
/// where it says (re-sending only what was in flight).
void start_from_journal(saga_pointer self, const definition_ptr& def) {
  auto& s = self->state;
  auto journal = s.dir->journal();
  if (!journal)
    throw std::runtime_error("saga " + s.st.saga_id + ": no journal");
  self->request(journal, s.journal_timeout, read_atom::value, s.st.saga_id)
    .then(
      [self](std::vector<event>& events) {
        auto st = replay(self->state.st.saga_id, events);
        if (!st)
          throw std::runtime_error("saga " + self->state.st.saga_id
                                   + ": cannot replay its journal: "
                                   + describe(st.error()));
        adopt(self, std::move(*st));
        start(self);
      },
      [self, def](caf::error& err) {
        if (is(err, errc::unknown_saga) && def) {
          // Crashed before its first event was durable: start afresh.
          saga_state st;
          st.saga_id = self->state.st.saga_id;
          st.set_definition(def);
          adopt(self, std::move(st));
          start(self);
          return;
        }
        throw std::runtime_error("saga " + self->state.st.saga_id
                                 + ": cannot read its journal: "
                                 + describe(err));
      });
}

saga_actor::behavior_type saga_instance(saga_pointer self,
                                        saga_actor_args args) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.dir = std::move(args.dir);
  s.coordinator = std::move(args.coordinator);
  s.journal_timeout = args.journal_timeout;
  s.compensate_on_resume = args.compensate_on_resume;
  s.resume_code = args.resume_code;
  s.resume_reason = std::move(args.resume_reason);
  s.st.saga_id = args.id;
  s.rng.seed(static_cast<uint32_t>(std::hash<std::string>{}(args.id)));
  if (args.replayed) {
    adopt(self, std::move(*args.replayed));
    start(self);
  } else if (args.from_journal) {
    start_from_journal(self, args.def);
  } else {
    saga_state st;
    st.saga_id = args.id;
    st.set_definition(args.def);
    adopt(self, std::move(st));
    start(self);
  }
  return {
    [self](wake_atom, caf::actor_clock::time_point at) { on_wake(self, at); },
    [self](unreachable_atom, int32_t i, uint32_t a, bool comp) {
      auto why = "participant '" + step_def(self, i).participant
                 + "' is not registered";
      if (comp)
        on_compensate_lost(self, i, a, why);
      else
        on_execute_lost(self, i, a, why);
    },
    [self](crash_atom) {
      throw std::runtime_error("injected fault in saga "
                               + self->state.st.saga_id);
    },
    [self](abort_atom, std::string& by) -> caf::result<saga_status> {
      return on_abort(self, by);
    },
  };
}

void on_timer(saga_pointer self, const saga_timer& t) {
  auto& s = self->state;
  auto i = t.step;
  switch (t.what) {
    case saga_timer::kind::step: {
      // Both handlers ignore a timer whose attempt has been settled.
      const auto& sd = step_def(self, i);
      if (t.comp)
        on_compensate_lost(self, i, t.n,
                           "no reply within "
                             + ms_text(sd.compensation_timeout));
      else
        on_execute_lost(self, i, t.n, "no reply within " + ms_text(sd.timeout));
      break;
    }
    case saga_timer::kind::backoff: {
      auto idx = static_cast<size_t>(i);
      auto& r = s.rt[idx];
      if ((t.comp ? r.comp_backoff : r.exec_backoff) != t.n)
        return; // stale timer
      (t.comp ? r.comp_backoff_done : r.exec_backoff_done) = true;
      drive(self);
      flush(self);
      break;
    }
    case saga_timer::kind::deadline: on_deadline(self); break;
    case saga_timer::kind::journal:
      // No answer in time for this send of the batch: send it again.
      if (s.appending && t.n == s.batch_generation) {
        ++s.batch_resends;
        send_batch(self);
      }
      break;
  }
}

} // namespace

saga_actor spawn_saga(caf::actor_system& sys, saga_actor_args args) {
  return sys.spawn(saga_instance, std::move(args));
}

} // namespace saga::detail
