#pragma once

#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "saga/definition.hpp"
#include "saga/errc.hpp"
#include "saga/event.hpp"
#include "saga/saga_result.hpp"
#include "saga/status.hpp"

namespace saga {

namespace detail {

/// Bookkeeping of a step that the engine keeps in its state (written by
/// `saga_state::apply`, read by the saga actor), not part of what the state
/// shows: its values may change meaning between versions.
struct step_bookkeeping {
  /// Execute / compensate attempts made before the last operator retry
  /// (`saga_retried`): the retry policy's budget counts from here.
  uint32_t attempt_base = 0;
  uint32_t compensation_attempt_base = 0;

  friend bool operator==(const step_bookkeeping& x,
                         const step_bookkeeping& y) noexcept {
    return x.attempt_base == y.attempt_base
           && x.compensation_attempt_base == y.compensation_attempt_base;
  }
};

/// Bookkeeping of a saga that the engine keeps in its state (see
/// `step_bookkeeping`).
struct saga_bookkeeping {
  /// Why and with which code the saga turned back (compensation_started);
  /// kept when it then fails, so an operator retry compensates for the
  /// original reason.
  std::string turn_error;
  std::optional<errc> turn_code;
  /// The status a parked saga had before `saga_parked` (pending otherwise):
  /// an operator retry continues from there.
  saga_status parked_from = saga_status::pending;

  friend bool operator==(const saga_bookkeeping& x,
                         const saga_bookkeeping& y) noexcept {
    return x.turn_error == y.turn_error && x.turn_code == y.turn_code
           && x.parked_from == y.parked_from;
  }
};

} // namespace detail

/// The state of one step, derived from events only.
struct step_state {
  step_status status = step_status::pending;
  /// Execute attempts started (the number of the latest attempt).
  uint32_t attempts = 0;
  /// Compensate attempts started.
  uint32_t compensation_attempts = 0;
  /// An execute attempt went unanswered and no later attempt succeeded: the
  /// step may have taken effect, so it is compensated on the way back.
  bool outcome_unknown = false;
  /// The latest execute attempt failed and another one is due.
  bool retry_due = false;
  /// The latest compensate attempt failed and another one is due.
  bool compensation_retry_due = false;
  /// Execute result, JSON text (set once the step completed).
  std::string result;
  /// The latest error.
  std::string error;
  /// The step completed at some point (it may have been compensated since).
  bool succeeded = false;
  /// Wall-clock time of its first start and of its last change, ms since the
  /// Unix epoch (0: not yet).
  int64_t started_at_ms = 0;
  int64_t ended_at_ms = 0;
  /// Seq of its step_compensated event (0: not compensated): the order in
  /// which parallel compensations finished.
  uint64_t compensated_seq = 0;
  /// The engine's own bookkeeping.
  detail::step_bookkeeping internal;

  friend bool operator==(const step_state& x, const step_state& y) noexcept {
    return x.status == y.status && x.attempts == y.attempts
           && x.compensation_attempts == y.compensation_attempts
           && x.outcome_unknown == y.outcome_unknown
           && x.retry_due == y.retry_due
           && x.compensation_retry_due == y.compensation_retry_due
           && x.result == y.result && x.error == y.error
           && x.succeeded == y.succeeded && x.started_at_ms == y.started_at_ms
           && x.ended_at_ms == y.ended_at_ms
           && x.compensated_seq == y.compensated_seq
           && x.internal == y.internal;
  }
};

/// The state of one saga, derived from its events by `apply` alone. The live
/// saga actor and `replay` share this code, so both always agree.
struct saga_state {
  saga::saga_id saga_id;
  /// Set by saga_started.
  definition_ptr def;
  /// The definition's dependency graph, by step index.
  step_graph graph;
  saga_status status = saga_status::pending;
  std::vector<step_state> steps;
  /// The step whose failure turned the saga back, or -1.
  int32_t failed_step = -1;
  /// Why the saga compensates or failed.
  std::string error;
  /// The code of `error` (step_failed, step_timeout, deadline_exceeded,
  /// compensation_failed), if any.
  std::optional<errc> error_code;
  int64_t started_at_ms = 0;
  int64_t ended_at_ms = 0;
  /// Seq of the last applied event.
  uint64_t last_seq = 0;
  /// The engine's own bookkeeping.
  detail::saga_bookkeeping internal;
  /// Operator retries so far (`saga_retried` events).
  uint32_t operator_retries = 0;

  /// Applies `ev` (the next event of this saga) and returns none, or an
  /// `errc::invalid_event` error naming a transition that cannot happen (the
  /// state is then unchanged).
  caf::error apply(const event& ev);

  /// Returns whether the step at `index` may have taken effect and is not yet
  /// undone: completed, or failed with an unknown outcome.
  bool needs_compensation(size_t index) const noexcept;

  /// Returns whether the compensation of the step at `index` gave up.
  bool compensation_gave_up(size_t index) const noexcept;

  /// Returns whether the pivot step completed: the saga only goes forward.
  bool past_pivot() const noexcept;

  /// Returns the status an operator retry (`saga_retried`) would give this
  /// saga, or none if it cannot be retried (only a failed saga can).
  std::optional<saga_status> retry_status() const noexcept;

  /// Returns whether the step at `index` needs nothing more on the way back:
  /// never started, compensated, or failed without effect.
  bool settled(size_t index) const noexcept;

  /// Sets `def` and derives the graph and the step states from it.
  void set_definition(definition_ptr d);

  /// Compares everything but the definition pointer's identity.
  bool same_as(const saga_state& other) const;

  /// Returns the retry policy of step `index`'s execute (the definition's
  /// forward policy after the pivot) or, with `compensate`, its
  /// compensation's. Requires a definition.
  const retry_policy& policy_of(size_t index, bool compensate) const;

  /// Returns the latest time (ms since the Unix epoch) the attempt after
  /// failed attempt `attempt` of step `index`'s execute (`compensate`: its
  /// compensation) starts, given that the failure was recorded at
  /// `failed_ms`: the step's retry policy's delay without jitter (jitter
  /// only shortens it).
  int64_t next_attempt_ms(size_t index, bool compensate, uint32_t attempt,
                          int64_t failed_ms) const;

private:
  /// Applies `saga_retried`.
  caf::error reopen(const event& ev);
};

/// Returns the state rebuilt from `events` (a saga's whole history), or an
/// error naming the first event that cannot be applied.
caf::expected<saga_state> replay(const saga_id& id,
                                 const std::vector<event>& events);

/// Returns the result that `state` amounts to (duration left zero). The live
/// saga actor reports exactly this, so a replay reproduces its result.
saga_result summarize(const saga_state& state);

/// Returns the log view of `state`, carrying `events` along.
saga_log make_log(const saga_state& state, std::vector<event> events);

} // namespace saga
