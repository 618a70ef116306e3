#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "saga/messages.hpp"

namespace saga {

/// Which operation of a step a barrier record is about.
enum class barrier_op : uint8_t {
  execute = 1,
  compensate = 2,
};

/// What the barrier says about an incoming operation.
enum class barrier_verdict : uint8_t {
  /// First time: a claim is recorded; run the handler.
  proceed = 1,
  /// Done before: answer with the recorded reply, do not run the handler.
  duplicate = 2,
  /// The participant still runs this step's execute: the caller (a
  /// compensate) retries later. Decided by the participant, not the store.
  busy = 3,
  /// An execute after its compensation ("hanging"): refused, recorded.
  refused = 4,
  /// A compensate before any execute ("null compensation"): none claimed,
  /// or only a failed one. Recorded and answered "compensated" without
  /// running the handler.
  null_compensated = 5,
};

/// The barrier's answer to a claim. For duplicate, refused and
/// null_compensated, `reply` is what the participant answers.
struct barrier_claim {
  barrier_verdict verdict = barrier_verdict::proceed;
  step_reply reply;
  /// For a compensate that proceeds: the step's execute was claimed but
  /// never recorded an outcome (its attempt crashed, hung or was cut off).
  /// The claim revokes it, so it can never record one (nor apply its atomic
  /// effects); the compensation handler learns it through
  /// `step_context::execute_recorded()`.
  bool execute_unrecorded = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_claim& x) {
  return f(caf::meta::type_name("saga::barrier_claim"), x.verdict, x.reply,
           x.execute_unrecorded);
}

/// A claim a saga's append makes for an operation its batch sends to a
/// participant of the same journal (a pre-claim): decided and recorded as
/// `barrier_claim(id, step, op, token)` would, atomically with the events.
struct barrier_preclaim {
  std::string step;
  barrier_op op = barrier_op::execute;
  /// The claim token: "<attempt>:<claimant>", the attempt first (see
  /// `barrier_claim`).
  std::string token;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_preclaim& x) {
  return f(caf::meta::type_name("saga::barrier_preclaim"), x.step, x.op,
           x.token);
}

/// The outcome of a pre-claimed operation that its participant leaves to the
/// saga's next append to record (a deferred record, local only): that
/// append applies `reply.effects` and records `reply` under the claim
/// `token`, atomically with the event that says the step succeeded (or was
/// compensated), and only while the claim is still `token`'s; otherwise it
/// writes nothing and fails with `errc::journal_conflict`.
struct barrier_outcome {
  std::string step;
  barrier_op op = barrier_op::execute;
  std::string token;
  /// A successful reply, with the atomic effects to apply.
  step_reply reply;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, barrier_outcome& x) {
  return f(caf::meta::type_name("saga::barrier_outcome"), x.step, x.op, x.token,
           x.reply);
}

} // namespace saga
