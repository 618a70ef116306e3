#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "saga/effect.hpp"
#include "saga/fwd.hpp"

namespace saga {

struct barrier_claim;
struct barrier_outcome;

/// Command from a saga actor to a participant: run (or undo) one step.
/// JSON travels as text: CAF 0.17 corrupts NaN and infinite doubles on the
/// wire, and text keeps remote and local participants identical.
struct step_command {
  saga_id id;
  /// The saga type's name (definition name).
  std::string saga_name;
  /// The step's name, unique within the saga.
  std::string step;
  /// The handler to run on the participant.
  std::string action;
  /// 1 for the first try of this operation, then 2, 3, ...
  uint32_t attempt = 1;
  /// The step's payload, a JSON object as text.
  std::string payload;
  /// Results of the saga's completed steps: a JSON object as text, mapping
  /// step names to results.
  std::string results;
  /// HTTP participants only: `METHOD /path`, the endpoint the step's
  /// definition sets for this operation (`step_definition::http`); empty:
  /// the participant's route for `action` applies.
  std::string endpoint;
  /// Participant-internal, set by the barrier for a compensation whose
  /// execute never recorded an outcome (see `barrier_claim`). Sagas leave
  /// it false.
  bool execute_unrecorded = false;
  /// Engine-internal and local only (left out of `inspect`, so never on
  /// the wire): the claim the saga's append made for this operation, under
  /// `preclaim_token` (see `barrier_preclaim`); the participant's barrier
  /// then skips its own claim. Null: the barrier claims.
  std::string preclaim_token;
  std::shared_ptr<const barrier_claim> preclaim;
};

/// Reply of a participant to a step_command.
struct step_reply {
  /// True: the operation took effect and `result` holds its outcome.
  bool ok = false;
  /// On failure: whether trying again may succeed.
  bool retryable = false;
  /// On success: the result, JSON text (may be empty for none).
  std::string result;
  /// On failure: what went wrong.
  std::string error;
  /// Participant-internal: effects to apply atomically with the barrier
  /// record (see `step_outcome::atomically`). Never sent to sagas.
  std::vector<effect> effects;
  /// Engine-internal and local only (left out of `inspect`): the outcome
  /// of a pre-claimed operation that the saga's next append records (see
  /// `barrier_outcome`); null when the participant recorded it already.
  std::shared_ptr<const barrier_outcome> outcome;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_command& x) {
  return f(caf::meta::type_name("saga::step_command"), x.id, x.saga_name,
           x.step, x.action, x.attempt, x.payload, x.results, x.endpoint,
           x.execute_unrecorded);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_reply& x) {
  return f(caf::meta::type_name("saga::step_reply"), x.ok, x.retryable,
           x.result, x.error, x.effects);
}

} // namespace saga
