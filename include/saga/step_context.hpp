#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "saga/fwd.hpp"
#include "saga/json.hpp"

namespace saga {

/// What a step handler knows about the saga it serves: ids, attempt number
/// and the results of completed steps (its own included, when compensating).
/// Valid for the duration of the handler call; copy what must outlive it.
class step_context {
public:
  step_context(const step_command& cmd, json results);

  /// Returns the saga instance's id.
  const saga_id& id() const noexcept {
    return id_;
  }

  /// Returns the saga type's name.
  const std::string& saga_name() const noexcept {
    return saga_name_;
  }

  /// Returns this step's name.
  const std::string& step() const noexcept {
    return step_;
  }

  /// Returns the attempt number of this operation, starting at 1.
  uint32_t attempt() const noexcept {
    return attempt_;
  }

  /// Returns, for a compensation behind the participant barrier, whether
  /// the step's execute recorded its outcome. False means its attempt
  /// crashed, hung or was cut off before recording, and can no longer
  /// record: effects it would have returned with `atomically` never landed
  /// (skip undoing those); only effects made outside the barrier can exist.
  /// True for executes and without a barrier.
  bool execute_recorded() const noexcept {
    return execute_recorded_;
  }

  /// Returns the result of the completed step `name`, or a null JSON value
  /// when that step has not completed.
  const json& result_of(std::string_view name) const;

  /// Returns whether the step `name` completed with a result.
  bool has_result(std::string_view name) const;

  /// Returns all results, a JSON object keyed by step name.
  const json& results() const noexcept {
    return results_;
  }

private:
  saga_id id_;
  std::string saga_name_;
  std::string step_;
  uint32_t attempt_;
  bool execute_recorded_;
  json results_;
};

} // namespace saga
