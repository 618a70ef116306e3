#include "actors/local_participant.hpp"

#include "actors/ask_participant.hpp"

#include <cstdio>
#include <random>
#include <unordered_map>
#include <vector>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory.hpp"
#include "core/json_depth.hpp"
#include "saga/errc.hpp"
#include "saga/supervisor.hpp"

namespace saga {

participant_builder::participant_builder(
  std::string name, std::shared_ptr<detail::handler_registry> registry,
  std::shared_ptr<detail::directory> dir)
  : name_(std::move(name)),
    registry_(std::move(registry)),
    dir_(std::move(dir)) {
  // nop
}

participant_actor participant_builder::handle() const {
  return dir_->participant(name_);
}

participant_builder& participant_builder::on(std::string action,
                                             step_handler execute,
                                             step_handler compensate) {
  detail::handler_entry e;
  e.execute = std::move(execute);
  e.compensate = std::move(compensate);
  registry_->add(std::move(action), std::move(e));
  return *this;
}

participant_builder& participant_builder::on_blocking(std::string action,
                                                      step_handler execute,
                                                      step_handler compensate) {
  detail::handler_entry e;
  e.how = detail::handler_entry::mode::blocking;
  e.execute = std::move(execute);
  e.compensate = std::move(compensate);
  registry_->add(std::move(action), std::move(e));
  return *this;
}

participant_builder&
participant_builder::on_async(std::string action, async_step_handler execute,
                              async_step_handler compensate) {
  detail::handler_entry e;
  e.how = detail::handler_entry::mode::async;
  e.async_execute = std::move(execute);
  e.async_compensate = std::move(compensate);
  registry_->add(std::move(action), std::move(e));
  return *this;
}

namespace detail {

void handler_registry::add(std::string action, handler_entry entry) {
  std::lock_guard<std::mutex> guard{write_mtx_};
  auto next = std::make_shared<handler_table>(*snapshot());
  (*next)[std::move(action)] = std::move(entry);
  std::atomic_store(&table_, std::shared_ptr<const handler_table>{next});
}

namespace {

step_reply fail_reply(std::string error, bool retryable = false) {
  step_reply r;
  r.retryable = retryable;
  r.error = std::move(error);
  return r;
}

step_reply to_reply(const step_outcome& x) {
  step_reply r;
  r.ok = x.is_ok();
  r.retryable = x.retryable();
  if (r.ok)
    r.result = x.result().dump();
  else
    r.error = x.error();
  r.effects = x.effects();
  return r;
}

/// Parses the payload and results of `cmd`; on bad JSON returns false and
/// sets `err`.
bool parse_command(const step_command& cmd, json& payload, json& results,
                   std::string& err) {
  payload = cmd.payload.empty() ? json::object()
                                : json::parse(cmd.payload, nullptr, false);
  if (payload.is_discarded()) {
    err = "payload of step '" + cmd.step + "' is not valid JSON";
    return false;
  }
  if (!payload.is_object()) {
    err = "payload of step '" + cmd.step + "' is not a JSON object but "
          + payload.type_name();
    return false;
  }
  if (nests_deeper_than(payload, max_json_depth)) {
    err = "payload of step '" + cmd.step + "' nests deeper than "
          + std::to_string(max_json_depth) + " levels";
    return false;
  }
  results = cmd.results.empty() ? json::object()
                                : json::parse(cmd.results, nullptr, false);
  if (results.is_discarded()) {
    err = "results sent with step '" + cmd.step + "' are not valid JSON";
    return false;
  }
  if (nests_deeper_than(results, max_json_depth)) {
    err = "results sent with step '" + cmd.step + "' nest deeper than "
          + std::to_string(max_json_depth) + " levels";
    return false;
  }
  return true;
}

/// Runs a synchronous handler. An exception counts as a failure that may
/// have had no effect: the handler's author decides retries explicitly.
step_reply run_sync(const step_handler& fn, const step_command& cmd) {
  if (!fn)
    return fail_reply("no handler for action '" + cmd.action + "'");
  json payload;
  json results;
  std::string err;
  if (!parse_command(cmd, payload, results, err))
    return fail_reply(std::move(err));
  try {
    step_context ctx{cmd, std::move(results)};
    return to_reply(fn(ctx, payload));
  } catch (const std::exception& e) {
    return fail_reply(std::string{"handler threw: "} + e.what());
  } catch (...) {
    return fail_reply("handler threw a non-standard exception");
  }
}

const handler_entry* find_entry(const handler_table& table,
                                const std::string& action) {
  auto i = table.find(action);
  return i == table.end() ? nullptr : &i->second;
}

/// A detached worker that runs blocking handlers on its own thread.
participant_actor::behavior_type
blocking_worker(participant_actor::pointer self,
                std::shared_ptr<handler_registry> registry) {
  auto run = [self, registry](bool compensate, const step_command& cmd) {
    auto table = registry->snapshot();
    auto entry = find_entry(*table, cmd.action);
    if (entry == nullptr)
      return fail_reply("unknown action '" + cmd.action + "'");
    return run_sync(compensate ? entry->compensate : entry->execute, cmd);
  };
  return {
    [run](execute_atom, const step_command& cmd) { return run(false, cmd); },
    [run](compensate_atom, const step_command& cmd) { return run(true, cmd); },
  };
}

/// Continues with the handler's reply, or with an error when no reply will
/// come (a responder dropped unanswered, a worker or inner participant
/// lost): then nothing is recorded and the saga hears "outcome unknown".
using reply_fn = std::function<void(caf::expected<step_reply>)>;

/// Bound on each barrier request to the journal. Past it the participant
/// answers "outcome unknown" (an error: the saga retries or compensates); a
/// journal writer waiting out a Redis outage keeps the request meanwhile.
/// Enforced with the runtime's timer service, not CAF request timeouts (see
/// actors/timer_service.hpp).
constexpr auto barrier_timeout = std::chrono::seconds{10};

/// The phase of a barrier operation that waits for the journal.
enum class barrier_phase : uint8_t { claim, handler, done };

/// One operation in flight through the barrier.
struct gate_op {
  /// Its claim number; a reply for an earlier claim of the same key (one
  /// that timed out) finds another number and is dropped.
  uint64_t claim = 0;
  /// The attempt it runs; copies of it wait, a later attempt supersedes it.
  uint32_t attempt = 0;
  barrier_phase phase = barrier_phase::claim;
  /// When the journal request of this phase times out (max: the handler
  /// runs, unbounded here).
  caf::actor_clock::time_point deadline = caf::actor_clock::time_point::max();
  /// The request and its duplicates, answered together.
  std::vector<caf::typed_response_promise<step_reply>> waiters;
};

/// Granularity of barrier timeouts: wake-ups are rounded up to it, so a
/// participant scans its operations at most ten times a second however
/// their deadlines are spread.
constexpr auto barrier_tick = std::chrono::milliseconds{100};

/// The participant barrier (see include/saga/journal/barrier.hpp): in front of a
/// participant, it runs each (saga, step, operation) at most once per
/// successful record and answers duplicates, null compensations and hanging
/// executes from the journal's records. Owned by one actor.
struct barrier_gate {
  directory_ptr dir;
  /// This incarnation; claim tokens are "<attempt>:<incarnation>-<n>".
  std::string incarnation;
  uint64_t next_claim = 0;
  /// Operations in flight here, by key "<saga>/<step>/<x|c>": duplicates
  /// wait for the first one's reply.
  std::unordered_map<std::string, gate_op> inflight;
  wake_up wake;
};

std::string make_incarnation() {
  std::random_device rd;
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%08x%08x", rd(), rd());
  return buf;
}

/// Returns the operation `key` if it is still claim number `claim`.
gate_op* find_op(barrier_gate& g, const std::string& key, uint64_t claim) {
  auto i = g.inflight.find(key);
  return i != g.inflight.end() && i->second.claim == claim ? &i->second
                                                           : nullptr;
}

/// Returns the error a participant answers when it cannot vouch for what
/// became of an operation: only a reply the barrier recorded (or read from
/// its records) may say "failed", since the saga takes a failed last
/// attempt for "nothing happened" and does not compensate it, while a copy
/// of the command elsewhere may have taken effect (docs/chaos.md).
caf::error unknown_outcome(std::string why) {
  return make_error(errc::outcome_unknown, std::move(why));
}

void strip_internal(step_reply& reply) {
  reply.effects.clear(); // participant-internal
}

void strip_internal(caf::error&) {
  // nothing internal in an error
}

/// Answers every request waiting for operation `key` (claim number
/// `claim`; a later claim of the same key is left alone) with `value`, a
/// `step_reply` or a `caf::error`.
template <class Answer>
void answer(barrier_gate& g, const std::string& key, uint64_t claim,
            Answer value) {
  strip_internal(value);
  auto i = g.inflight.find(key);
  if (i == g.inflight.end() || i->second.claim != claim)
    return;
  auto waiters = std::move(i->second.waiters);
  g.inflight.erase(i);
  for (auto& rp : waiters)
    rp.deliver(value);
}

/// Answers the execute of `step_key` ("<saga>/<step>") in flight here, if
/// any, with "outcome unknown": a compensation has just revoked its claim,
/// so it can never record an outcome, and whatever its handler answers
/// later is dropped (its continuation finds the operation gone).
template <class Self>
void drop_revoked_execute(Self* self, barrier_gate& g,
                          const std::string& step_key) {
  auto key = step_key + "/x";
  auto i = g.inflight.find(key);
  if (i == g.inflight.end())
    return;
  aout(self) << "caf-saga: barrier: " << step_key
             << ": the execute running here was revoked by its compensation; "
                "its outcome will be dropped"
             << std::endl;
  answer(g, key, i->second.claim,
         unknown_outcome("revoked by the step's compensation before it "
                         "recorded an outcome"));
}

/// Returns `t` rounded up to the next barrier tick.
caf::actor_clock::time_point round_up(caf::actor_clock::time_point t) {
  auto tick = std::chrono::duration_cast<caf::timespan>(barrier_tick);
  auto since = t.time_since_epoch();
  auto rest = since % tick;
  return rest.count() == 0 ? t : t + (tick - rest);
}

/// Starts the timeout of operation `op`'s journal request in `phase`.
template <class Self>
void start_deadline(Self* self, barrier_gate& g, gate_op& op,
                    barrier_phase phase) {
  op.phase = phase;
  op.deadline = self->clock().now() + barrier_timeout;
  g.wake.at_latest(g.dir->timers(), self->address(), round_up(op.deadline));
}

/// Fails the operations whose journal request timed out; scans them all
/// (at most once per barrier tick), since finished ones leave no trace.
template <class Self>
void on_barrier_wake(Self* self, barrier_gate& g,
                     caf::actor_clock::time_point at) {
  g.wake.arrived(at);
  auto now = self->clock().now();
  auto next = caf::actor_clock::time_point::max();
  std::vector<std::pair<std::string, uint64_t>> expired;
  for (const auto& [key, op] : g.inflight) {
    if (op.deadline <= now)
      expired.emplace_back(key, op.claim);
    else
      next = std::min(next, op.deadline);
  }
  for (const auto& [key, claim] : expired)
    answer(g, key, claim,
           unknown_outcome("barrier unavailable: the journal did not answer "
                           "within "
                           + std::to_string(barrier_timeout.count()) + "s"));
  if (next != caf::actor_clock::time_point::max())
    g.wake.at_latest(g.dir->timers(), self->address(), round_up(next));
}

/// Runs `cmd` through the barrier: claim, then `run` the handler, record
/// the outcome durably, then reply. `Self` is the actor holding `g`.
template <class Self, class Run>
caf::result<step_reply> through_barrier(Self* self, barrier_gate& g,
                                        bool compensate, step_command& cmd,
                                        Run run) {
  auto op = compensate ? barrier_op::compensate : barrier_op::execute;
  auto rp = self->template make_response_promise<step_reply>();
  // Commands come from sagas, and through the gateway from any peer: one
  // without a saga id or step name has no barrier record to key and is
  // refused before anything is claimed or run.
  if (cmd.id.empty() || cmd.step.empty()) {
    rp.deliver(fail_reply(std::string{"malformed step_command: "}
                          + (cmd.id.empty() ? "no saga id" : "no step name")
                          + " (action '" + cmd.action + "')"));
    return rp;
  }
  auto step_key = cmd.id + "/" + cmd.step;
  auto key = step_key + (compensate ? "/c" : "/x");
  if (auto i = g.inflight.find(key); i != g.inflight.end()) {
    if (cmd.attempt <= i->second.attempt) {
      i->second.waiters.push_back(rp); // a copy while the first one runs
      return rp;
    }
    // A later attempt: the saga stopped waiting for the earlier one (it
    // hangs, or answers past its timeout). Claiming again supersedes it in
    // the journal too, so it can never record; whatever it answers later
    // is dropped here.
    answer(g, key, i->second.claim,
           unknown_outcome("superseded by attempt "
                           + std::to_string(cmd.attempt)));
  }
  // A compensate while this step's execute still runs here (a handler that
  // hangs, or answers after the saga's timeout) does not wait for it: its
  // claim revokes the execute, which then can never record an outcome or
  // apply its atomic effects (see drop_revoked_execute).
  auto claim = ++g.next_claim;
  auto& entry = g.inflight[key];
  entry.claim = claim;
  entry.attempt = cmd.attempt;
  entry.waiters.push_back(rp);
  auto journal = g.dir->journal();
  if (!journal) {
    answer(g, key, claim, unknown_outcome("no journal for the barrier"));
    return rp;
  }
  // The attempt leads the token: the barrier remembers a failed attempt by
  // it and answers its copies with the same failure.
  auto token = std::to_string(cmd.attempt) + ":" + g.incarnation + "-"
               + std::to_string(claim);
  // Answers a verdict or outcome the barrier recorded...
  auto finish = [&g, key, claim](step_reply r) {
    answer(g, key, claim, std::move(r));
  };
  // ... or, when the barrier could not confirm one, "outcome unknown".
  auto give_up = [&g, key, claim](std::string why) {
    answer(g, key, claim, unknown_outcome(std::move(why)));
  };
  // The journal requests have no CAF timeout: start_deadline() bounds them,
  // and a reply that comes after it finds the operation answered.
  start_deadline(self, g, entry, barrier_phase::claim);
  self
    ->request(journal, caf::infinite, barrier_claim_atom::value, cmd.id,
              cmd.step, op, token)
    .then(
      [self, &g, cmd, op, token, run, finish, give_up, key, step_key,
       claim](barrier_claim& c) mutable {
        auto entry = find_op(g, key, claim);
        if (entry == nullptr || entry->phase != barrier_phase::claim)
          return; // timed out: answered already
        if (c.verdict != barrier_verdict::proceed) {
          finish(std::move(c.reply));
          return;
        }
        entry->phase = barrier_phase::handler;
        entry->deadline = caf::actor_clock::time_point::max();
        cmd.execute_unrecorded = c.execute_unrecorded;
        if (c.execute_unrecorded)
          drop_revoked_execute(self, g, step_key);
        run(cmd, [self, &g, cmd, op, token, finish, give_up, key,
                  claim](caf::expected<step_reply> answered) {
          auto entry = find_op(g, key, claim);
          if (entry == nullptr || entry->phase != barrier_phase::handler) {
            // Superseded by a later attempt or revoked by a compensation
            // (answered already): the outcome never reaches the barrier, so
            // its effects never land. Said, so an operator (and a test) sees
            // where a late outcome went.
            aout(self) << "caf-saga: barrier: " << cmd.id << "/" << cmd.step
                       << " answered after its attempt was superseded or "
                          "revoked; this outcome is dropped"
                       << std::endl;
            return;
          }
          if (!answered) {
            give_up(describe(answered.error()));
            return;
          }
          auto r = std::move(*answered);
          // Durable before it leaves; effects go in the same transaction.
          auto journal = g.dir->journal();
          if (!journal) {
            give_up("no journal for the barrier");
            return;
          }
          start_deadline(self, g, *entry, barrier_phase::done);
          auto reply = r;
          self
            ->request(journal, caf::infinite, barrier_done_atom::value, cmd.id,
                      cmd.step, op, token, std::move(r))
            .then(
              [self, &g, cmd, finish, give_up, reply, key,
               claim](bool recorded) mutable {
                if (!recorded)
                  aout(self) << "caf-saga: barrier: " << cmd.id << "/"
                             << cmd.step
                             << " was settled by another attempt meanwhile; "
                                "this outcome is dropped"
                             << std::endl;
                if (find_op(g, key, claim) == nullptr)
                  return; // timed out or superseded: answered already
                if (recorded) {
                  finish(std::move(reply));
                  return;
                }
                // Another copy of the command took the claim over (we
                // hung past a re-claim, or a duplicate ran elsewhere): our
                // effects were not applied, but its outcome is not known
                // here and may be a success. A retry's claim reads it;
                // a compensation revokes or undoes it.
                give_up("another copy of the command took over this "
                        "operation's claim; its outcome is not known here");
              },
              [give_up](caf::error& err) {
                // Maybe not recorded (a definite refusal applies nothing,
                // a lost connection may have applied everything): the saga
                // tries again, and a retry's claim reads what happened.
                give_up("barrier record failed: " + describe(err));
              });
        });
      },
      [give_up](caf::error& err) {
        // The claim may have been recorded: a copy of the command elsewhere
        // may run, so nothing here can say "failed".
        give_up("barrier unavailable: " + describe(err));
      });
  return rp;
}

/// Detached workers for blocking handlers of one kind (executes, or
/// compensations), spawned on first use. Each request goes to an idle
/// worker, or to the least busy one when all `max_workers` are busy.
struct worker_pool {
  size_t max_workers = 1;
  std::vector<participant_actor> workers;
  /// Requests handed to each worker and not answered yet.
  std::vector<uint32_t> busy;
};

struct participant_state {
  static inline const char* name = "saga.participant";
  std::string participant_name;
  std::shared_ptr<handler_registry> registry;
  /// Separate pools: a compensation never queues behind a hung execute on
  /// the same thread (it revokes that execute, see through_barrier).
  worker_pool executes;
  worker_pool compensations;
  uint64_t next_token = 0;
  /// Continuations of asynchronous handlers, by responder token.
  std::unordered_map<uint64_t, reply_fn> pending;
  barrier_gate barrier;
};

using participant_pointer
  = local_participant_actor::stateful_pointer<participant_state>;

/// Returns the index in `pool` of the worker for the next request: an idle
/// one, a new one while the pool may grow, else the least busy.
size_t pick_worker(participant_pointer self, worker_pool& pool) {
  auto least = std::min_element(pool.busy.begin(), pool.busy.end());
  if (least != pool.busy.end() && *least == 0)
    return static_cast<size_t>(least - pool.busy.begin());
  if (pool.workers.size() < pool.max_workers) {
    pool.workers.push_back(self->spawn<caf::detached + caf::linked>(
      blocking_worker, self->state.registry));
    pool.busy.push_back(0);
    return pool.workers.size() - 1;
  }
  return static_cast<size_t>(least - pool.busy.begin());
}

/// Runs `cmd` on a blocking worker and passes its reply to `k`.
void run_blocking(participant_pointer self, bool compensate,
                  const step_command& cmd, reply_fn k) {
  auto& pool = compensate ? self->state.compensations : self->state.executes;
  auto idx = pick_worker(self, pool);
  ++pool.busy[idx];
  auto done = [&pool, idx] { --pool.busy[idx]; };
  ask_participant(self, pool.workers[idx], caf::infinite, compensate, cmd)
    .then(
      [k, done](step_reply& r) {
        done();
        k(std::move(r));
      },
      [k, done](caf::error& e) {
        done();
        // The handler may have run: nothing can say "failed".
        k(unknown_outcome("blocking worker failed: " + describe(e)));
      });
}

/// Runs the handler for `cmd` and passes its reply to `k`.
void run_handler(participant_pointer self, bool compensate,
                 const step_command& cmd, reply_fn k) {
  auto& st = self->state;
  auto table = st.registry->snapshot();
  auto entry = find_entry(*table, cmd.action);
  if (entry == nullptr) {
    k(fail_reply("participant '" + st.participant_name + "' has no action '"
                 + cmd.action + "'"));
    return;
  }
  switch (entry->how) {
    case handler_entry::mode::in_actor:
      k(run_sync(compensate ? entry->compensate : entry->execute, cmd));
      return;
    case handler_entry::mode::blocking:
      run_blocking(self, compensate, cmd, std::move(k));
      return;
    case handler_entry::mode::async: {
      const auto& fn = compensate ? entry->async_compensate
                                  : entry->async_execute;
      if (!fn) {
        k(fail_reply("no handler for action '" + cmd.action + "'"));
        return;
      }
      json payload;
      json results;
      std::string err;
      if (!parse_command(cmd, payload, results, err)) {
        k(fail_reply(std::move(err)));
        return;
      }
      auto token = ++st.next_token;
      st.pending.emplace(token, k);
      try {
        step_context ctx{cmd, std::move(results)};
        fn(ctx, payload,
           responder{std::make_shared<responder_state>(
             caf::actor_cast<caf::weak_actor_ptr>(self), token)});
      } catch (const std::exception& e) {
        st.pending.erase(token);
        k(fail_reply(std::string{"handler threw: "} + e.what()));
      } catch (...) {
        st.pending.erase(token);
        k(fail_reply("handler threw a non-standard exception"));
      }
      return;
    }
  }
}

/// Continues the asynchronous handler of `token` with its answer; the first
/// one wins.
void on_deliver(participant_pointer self, uint64_t token,
                caf::expected<step_reply> answer) {
  auto i = self->state.pending.find(token);
  if (i == self->state.pending.end())
    return; // answered already
  auto k = std::move(i->second);
  self->state.pending.erase(i);
  k(std::move(answer));
}

caf::result<step_reply> dispatch(participant_pointer self, bool compensate,
                                 step_command& cmd) {
  return through_barrier(self, self->state.barrier, compensate, cmd,
                         [self, compensate](const step_command& c, reply_fn k) {
                           run_handler(self, compensate, c, std::move(k));
                         });
}

local_participant_actor::behavior_type
local_participant(participant_pointer self, std::string name,
                  std::shared_ptr<handler_registry> registry,
                  size_t blocking_workers, directory_ptr dir) {
  keep_crash_reason(self);
  self->state.participant_name = std::move(name);
  self->state.registry = std::move(registry);
  self->state.executes.max_workers = std::max<size_t>(blocking_workers, 1);
  self->state.compensations.max_workers = self->state.executes.max_workers;
  self->state.barrier.dir = std::move(dir);
  self->state.barrier.incarnation = make_incarnation();
  return {
    [self](execute_atom, step_command& cmd) {
      return dispatch(self, false, cmd);
    },
    [self](compensate_atom, step_command& cmd) {
      return dispatch(self, true, cmd);
    },
    [self](crash_atom) {
      throw std::runtime_error("injected fault in participant '"
                               + self->state.participant_name + "'");
    },
    [self](wake_atom, caf::actor_clock::time_point at) {
      on_barrier_wake(self, self->state.barrier, at);
    },
    [self](deliver_atom, uint64_t token, step_reply& reply) {
      on_deliver(self, token, std::move(reply));
    },
    [self](deliver_atom, uint64_t token, caf::error& err) {
      // The handler dropped its responder unanswered.
      on_deliver(self, token, std::move(err));
    },
  };
}

struct proxy_state {
  static inline const char* name = "saga.barrier";
  participant_actor inner;
  barrier_gate barrier;
};

/// The barrier in front of any participant actor.
using barrier_proxy_actor = participant_actor::extend<wake_message>;

barrier_proxy_actor::behavior_type
barrier_proxy(barrier_proxy_actor::stateful_pointer<proxy_state> self,
              participant_actor inner, directory_ptr dir) {
  keep_crash_reason(self);
  self->state.inner = std::move(inner);
  self->state.barrier.dir = std::move(dir);
  self->state.barrier.incarnation = make_incarnation();
  auto run = [self](bool compensate) {
    return [self, compensate](const step_command& c, reply_fn k) {
      ask_participant(self, self->state.inner, caf::infinite, compensate, c)
        .then([k](step_reply& r) { k(std::move(r)); },
              [k](caf::error& e) {
                // It may have run: nothing can say "failed".
                k(unknown_outcome("participant unreachable: " + describe(e)));
              });
    };
  };
  return {
    [self, run](execute_atom, step_command& cmd) {
      return through_barrier(self, self->state.barrier, false, cmd, run(false));
    },
    [self, run](compensate_atom, step_command& cmd) {
      return through_barrier(self, self->state.barrier, true, cmd, run(true));
    },
    [self](wake_atom, caf::actor_clock::time_point at) {
      on_barrier_wake(self, self->state.barrier, at);
    },
  };
}

} // namespace

} // namespace detail

void responder::deliver(step_outcome outcome) const {
  if (!state_ || state_->answered.exchange(true))
    return; // the first answer wins
  if (auto p = state_->participant.lock()) // else: it is gone
    caf::anon_send(caf::actor_cast<detail::local_participant_actor>(p),
                   deliver_atom::value, state_->token,
                   detail::to_reply(outcome));
}

namespace detail {

responder_state::~responder_state() {
  if (answered.load())
    return;
  auto p = participant.lock();
  if (!p)
    return; // the participant is gone, and its requests with it
  caf::anon_send(caf::actor_cast<local_participant_actor>(p),
                 deliver_atom::value, token,
                 make_error(errc::outcome_unknown,
                            "the handler dropped its responder without "
                            "answering"));
}

} // namespace detail

namespace detail {

local_participant_actor
spawn_local_participant(caf::actor_system& sys, std::string name,
                        std::shared_ptr<handler_registry> registry,
                        size_t blocking_workers, directory_ptr dir) {
  return sys.spawn(local_participant, std::move(name), std::move(registry),
                   blocking_workers, std::move(dir));
}

participant_actor spawn_barrier(caf::actor_system& sys, participant_actor inner,
                                directory_ptr dir) {
  return caf::actor_cast<participant_actor>(
    sys.spawn(barrier_proxy, std::move(inner), std::move(dir)));
}

} // namespace detail
} // namespace saga
