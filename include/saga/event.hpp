#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/meta/type_name.hpp>

#include "saga/fwd.hpp"

namespace saga {

/// What happened to a saga. The saga actor appends one of these to the journal
/// before it acts on it; `replay` rebuilds the saga's state from them. The
/// numeric values are persisted: never reorder or reuse them.
enum class event_type : uint8_t {
  /// data: the definition as JSON. First event of every saga.
  saga_started = 1,
  /// step, attempt: intent to send this execute attempt.
  step_started = 2,
  /// step, attempt, data: the result JSON.
  step_succeeded = 3,
  /// step, attempt, error: the participant said no; a retry follows.
  step_attempt_failed = 4,
  /// step, attempt: no reply in time (outcome unknown); a retry follows.
  step_attempt_timed_out = 5,
  /// step, attempt, error: failed for good; the participant said no.
  step_failed = 6,
  /// step, attempt, error: failed for good without a reply (outcome unknown).
  step_timed_out = 7,
  /// error: why the saga turned back (failure, deadline).
  compensation_started = 8,
  /// step, attempt: intent to send this compensate attempt.
  step_compensating = 9,
  /// step, attempt: the compensation took effect.
  step_compensated = 10,
  /// step, attempt, error: the compensation failed; a retry follows.
  compensation_attempt_failed = 11,
  /// step, attempt, error: the compensation failed for good.
  compensation_failed = 12,
  /// Every step completed.
  saga_completed = 13,
  /// Every step that may have taken effect was compensated.
  saga_compensated = 14,
  /// error: compensation could not finish; an operator must step in.
  saga_failed = 15,
  /// error: the saga's actor crashed past its restart limit; the saga is
  /// parked `failed` for an operator. Written by the coordinator.
  saga_parked = 16,
  /// data: `{"by": operator, "action": "retry", "definition": name}`. An
  /// operator retried a failed saga: the compensations that gave up (or the
  /// steps after the pivot that did, or whatever a parked saga was doing)
  /// run again with a fresh retry budget. Written by the node that takes the
  /// saga over (atomically with taking its ownership).
  saga_retried = 17,
};

/// One entry of a saga's history. The saga id is not repeated in each event:
/// a history always belongs to exactly one saga. A value type.
struct event {
  /// Position in the saga's history, starting at 1, without gaps.
  uint64_t seq = 0;
  event_type type = event_type::saga_started;
  /// Index of the step in the definition, or -1 for saga-level events.
  int32_t step = -1;
  /// Attempt number of the step operation, starting at 1 (0: none).
  uint32_t attempt = 0;
  /// JSON text: the definition (saga_started) or a result (step_succeeded).
  std::string data;
  /// Why something failed, for the failure events.
  std::string error;
  /// Wall-clock time of the event, milliseconds since the Unix epoch.
  int64_t time_ms = 0;
};

/// Returns the snake_case name of `x`, e.g. `"step_started"`.
std::string_view to_string(event_type x) noexcept;

/// Returns the event type named `name` (or with the numeric value `name`).
std::optional<event_type> parse_event_type(std::string_view name) noexcept;

/// Returns whether `x` ends a saga's history.
constexpr bool is_terminal(event_type x) noexcept {
  return x == event_type::saga_completed || x == event_type::saga_compensated
         || x == event_type::saga_failed || x == event_type::saga_parked;
}

/// Returns a one-line rendering of `x` for logs.
std::string to_string(const event& x);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("saga::event"), x.seq, x.type, x.step,
           x.attempt, x.data, x.error, x.time_ms);
}

} // namespace saga
