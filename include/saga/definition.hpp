#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "saga/json.hpp"
#include "saga/retry_policy.hpp"

namespace saga {

/// One step of a saga: which participant runs which action with what payload,
/// and how long and how often it may try. A value type.
struct step_definition {
  /// Unique within its saga; also the default action name.
  std::string name;
  /// Name under which the participant was registered with the runtime.
  std::string participant;
  /// Handler selected on the participant; defaults to `name`.
  std::string action;
  /// JSON object handed to the handlers.
  json payload = json::object();
  /// Bound on one execute attempt; a late reply is still accepted.
  std::chrono::milliseconds timeout{5'000};
  /// Forward recovery: how often the execute is tried.
  retry_policy retry;
  /// Bound on one compensate attempt.
  std::chrono::milliseconds compensation_timeout{5'000};
  /// Backward recovery: how often the compensation is tried.
  retry_policy compensation_retry = retry_policy::compensation_default();
};

/// A saga type: an ordered list of steps and a deadline. Built fluently;
/// `step()` starts a new step and the step modifiers apply to the last one.
/// A value type: copy it freely; not synchronized.
class definition {
public:
  definition() = default;

  explicit definition(std::string name) : name_(std::move(name)) {
    // nop
  }

  /// Appends a step whose action is its name.
  definition& step(std::string name, std::string participant,
                   json payload = json::object());

  /// Sets the action name of the last step (when it differs from its name).
  definition& action(std::string name);

  /// Sets the timeout of one execute attempt of the last step.
  definition& timeout(std::chrono::milliseconds x);

  /// Sets the retry policy of the last step's execute.
  definition& retry(retry_policy x);

  /// Sets the timeout of one compensate attempt of the last step.
  definition& compensation_timeout(std::chrono::milliseconds x);

  /// Sets the retry policy of the last step's compensation.
  definition& compensation_retry(retry_policy x);

  /// Sets the deadline of the whole saga, measured from its start. When it
  /// passes, the saga abandons the step in flight and compensates.
  definition& deadline(std::chrono::milliseconds x);

  /// Returns the saga type's name.
  const std::string& name() const noexcept {
    return name_;
  }

  /// Returns the steps in execution order.
  const std::vector<step_definition>& steps() const noexcept {
    return steps_;
  }

  /// Returns the saga deadline (zero: none).
  std::chrono::milliseconds deadline() const noexcept {
    return deadline_;
  }

  /// Returns the index of the step named `name`, or -1.
  int index_of(std::string_view name) const noexcept;

  /// Returns an error naming the first problem of this definition, or none.
  /// Does not check that the participants exist; the runtime does that.
  caf::error validate() const;

  /// Returns this definition as a JSON object (the form stored in journals).
  json to_json() const;

  /// Returns the definition stored in `x`, or an error naming the problem.
  static caf::expected<definition> from_json(const json& x);

private:
  step_definition& last_step(const char* modifier);

  std::string name_;
  std::vector<step_definition> steps_;
  std::chrono::milliseconds deadline_{0};
  /// Set when a modifier was called before any step; reported by validate().
  std::string misuse_;
};

/// Shared, immutable definition as held by running saga actors.
using definition_ptr = std::shared_ptr<const definition>;

} // namespace saga
