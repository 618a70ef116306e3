#pragma once

#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/timespan.hpp>

#include "saga/event.hpp"
#include "saga/fwd.hpp"
#include "saga/status.hpp"

namespace saga {

/// How a saga ended, as delivered to whoever started it. A value type.
struct saga_result {
  /// True only when every step completed.
  bool success = false;
  /// The saga instance's id (empty if it was rejected before it started).
  saga::saga_id saga_id;
  /// Names of the steps that completed, in definition order.
  std::vector<std::string> completed_steps;
  /// Names of the steps that were compensated, in compensation order.
  std::vector<std::string> compensated_steps;
  /// Name of the step whose failure turned the saga back (empty if none).
  std::string failed_step;
  /// Why the saga did not succeed (`saga::errc`), or none.
  caf::error error;
  /// Time from start (or resumption) to end, on the actor system's clock.
  caf::timespan duration{0};
  /// The final status: completed, compensated or failed (pending when the
  /// definition was rejected). With `errc::fenced` (another node took the
  /// saga over), the last status this node's journal acknowledged: the
  /// saga goes on elsewhere.
  saga_status state = saga_status::pending;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, saga_result& x) {
  return f(caf::meta::type_name("saga::saga_result"), x.success, x.saga_id,
           x.completed_steps, x.compensated_steps, x.failed_step, x.error,
           x.duration, x.state);
}

/// One step as seen in a saga log.
struct step_log {
  std::string name;
  std::string participant;
  std::string action;
  step_status status = step_status::pending;
  /// Execute attempts started.
  uint32_t attempts = 0;
  /// Compensate attempts started.
  uint32_t compensation_attempts = 0;
  /// Whether an execute attempt went unanswered (its effect is unknown).
  bool outcome_unknown = false;
  /// The execute result (JSON text), if the step completed.
  std::string result;
  /// The last error of this step.
  std::string error;
  /// The steps it waited for.
  std::vector<std::string> after;
  bool pivot = false;
  /// Wall-clock time of its first start and last change, ms since the Unix
  /// epoch (0: not yet): shows what ran concurrently.
  int64_t started_at_ms = 0;
  int64_t ended_at_ms = 0;
};

/// The history of one saga and the state computed from it by `replay`.
struct saga_log {
  saga::saga_id saga_id;
  std::string name;
  saga_status status = saga_status::pending;
  /// Why the saga compensated or failed.
  std::string error;
  std::vector<step_log> steps;
  std::vector<event> events;
};

/// Returns a multi-line, human-readable rendering of `x`.
std::string to_string(const saga_log& x);

} // namespace saga
