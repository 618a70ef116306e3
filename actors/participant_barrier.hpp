#pragma once

// The participant barrier (include/saga/journal/barrier.hpp) as the actors in
// front of participants run it: claim an operation in the journal, run the
// handler, record its outcome (and atomic effects) durably, then reply (or,
// for an operation the saga pre-claimed, reply with the outcome for the
// saga's next append to record: `barrier_outcome`);
// duplicates, null compensations, superseded attempts and hanging executes are
// answered from the journal's records. Used by local participants and by the
// barrier actor in front of a remote participant (both in
// actors/participant.cpp). A `barrier_gate` is owned by one actor and used only
// on its thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/actor_ostream.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/result.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/directory.hpp"
#include "actors/timer_service.hpp"
#include "persistence/effects.hpp"
#include "saga/errc.hpp"
#include "saga/journal/barrier.hpp"
#include "saga/messages.hpp"

namespace saga::detail {

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

/// The participant barrier (see include/saga/journal/barrier.hpp): in front of
/// a participant, it runs each (saga, step, operation) at most once per
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

/// Returns the operation `key` if it is still claim number `claim`.
gate_op* find_op(barrier_gate& g, const std::string& key, uint64_t claim);

/// Returns the error a participant answers when it cannot vouch for what
/// became of an operation: only a reply the barrier recorded (or read from
/// its records) may say "failed", since the saga takes a failed last
/// attempt for "nothing happened" and does not compensate it, while a copy
/// of the command elsewhere may have taken effect (docs/chaos.md).
caf::error unknown_outcome(std::string why);

/// Removes what only the journal sees (the atomic effects) from a reply
/// before it leaves the barrier; an error has nothing to remove.
void strip_internal(step_reply& reply);

void strip_internal(caf::error&);

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
caf::actor_clock::time_point round_up(caf::actor_clock::time_point t);

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
    step_reply refused;
    refused.error = std::string{"malformed step_command: "}
                    + (cmd.id.empty() ? "no saga id" : "no step name")
                    + " (action '" + cmd.action + "')";
    rp.deliver(std::move(refused));
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
  // it and answers its copies with the same failure. A command whose saga
  // claimed with its append (a pre-claim, local only) uses that claim.
  const bool preclaimed = cmd.preclaim != nullptr
                          && !cmd.preclaim_token.empty();
  auto token = preclaimed ? cmd.preclaim_token
                          : std::to_string(cmd.attempt) + ":" + g.incarnation
                              + "-" + std::to_string(claim);
  // Answers a verdict or outcome the barrier recorded...
  auto finish = [&g, key, claim](step_reply r) {
    answer(g, key, claim, std::move(r));
  };
  // ... or, when the barrier could not confirm one, "outcome unknown".
  auto give_up = [&g, key, claim](std::string why) {
    answer(g, key, claim, unknown_outcome(std::move(why)));
  };
  // Continues once the operation is claimed (or decided otherwise).
  auto on_claimed = [self, &g, cmd, op, token, run, finish, key, step_key,
                     claim, preclaimed](barrier_claim& c) mutable {
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
    // The continuation waits as long as the handler runs (a parked saga
    // keeps it), so it holds what it needs, not the whole command.
    run(cmd, [self, &g, id = cmd.id, step = cmd.step, op, token, key, claim,
              preclaimed](caf::expected<step_reply> answered) {
      auto entry = find_op(g, key, claim);
      if (entry == nullptr || entry->phase != barrier_phase::handler) {
        // Superseded by a later attempt or revoked by a compensation
        // (answered already): the outcome never reaches the barrier, so
        // its effects never land. Said, so an operator (and a test) sees
        // where a late outcome went.
        aout(self) << "caf-saga: barrier: " << id << "/" << step
                   << " answered after its attempt was superseded or "
                      "revoked; this outcome is dropped"
                   << std::endl;
        return;
      }
      if (!answered) {
        answer(g, key, claim, unknown_outcome(describe(answered.error())));
        return;
      }
      auto r = std::move(*answered);
      if (preclaimed && r.ok && !detail::check_effects(r.effects)) {
        // The saga claimed with its append and records the outcome with
        // its next one, in the same transaction as its step event and
        // only while the claim is still this token's: no round trip here.
        auto outcome = std::make_shared<barrier_outcome>();
        outcome->step = step;
        outcome->op = op;
        outcome->token = token;
        outcome->reply = r;
        r.outcome = std::move(outcome);
        answer(g, key, claim, std::move(r));
        return;
      }
      // Durable before it leaves; effects go in the same transaction.
      auto journal = g.dir->journal();
      if (!journal) {
        answer(g, key, claim, unknown_outcome("no journal for the barrier"));
        return;
      }
      start_deadline(self, g, *entry, barrier_phase::done);
      auto reply = r;
      self
        ->request(journal, caf::infinite, barrier_done_atom::value, id, step,
                  op, token, std::move(r))
        .then(
          [self, &g, id, step, reply, key, claim](bool recorded) mutable {
            if (!recorded)
              aout(self) << "caf-saga: barrier: " << id << "/" << step
                         << " was settled by another attempt meanwhile; "
                            "this outcome is dropped"
                         << std::endl;
            if (find_op(g, key, claim) == nullptr)
              return; // timed out or superseded: answered already
            if (recorded) {
              answer(g, key, claim, std::move(reply));
              return;
            }
            // Another copy of the command took the claim over (we
            // hung past a re-claim, or a duplicate ran elsewhere): our
            // effects were not applied, but its outcome is not known
            // here and may be a success. A retry's claim reads it;
            // a compensation revokes or undoes it.
            answer(g, key, claim,
                   unknown_outcome("another copy of the command took over "
                                   "this operation's claim; its outcome is "
                                   "not known here"));
          },
          [&g, key, claim](caf::error& err) {
            // Maybe not recorded (a definite refusal applies nothing,
            // a lost connection may have applied everything): the saga
            // tries again, and a retry's claim reads what happened.
            answer(g, key, claim,
                   unknown_outcome("barrier record failed: " + describe(err)));
          });
    });
  };
  if (preclaimed) {
    // Decided and recorded with the saga's append: no round trip here.
    auto c = *cmd.preclaim;
    on_claimed(c);
    return rp;
  }
  // The journal requests have no CAF timeout: start_deadline() bounds them,
  // and a reply that comes after it finds the operation answered.
  start_deadline(self, g, entry, barrier_phase::claim);
  self
    ->request(journal, caf::infinite, barrier_claim_atom::value, cmd.id,
              cmd.step, op, token)
    .then(std::move(on_claimed), [give_up](caf::error& err) {
      // The claim may have been recorded: a copy of the command elsewhere
      // may run, so nothing here can say "failed".
      give_up("barrier unavailable: " + describe(err));
    });
  return rp;
}

} // namespace saga::detail
