#pragma once

#include <string>
#include <vector>

#include "saga/effect.hpp"
#include "saga/json.hpp"

namespace saga {

/// What a step handler returns: success with a result, or failure with a
/// reason and whether a retry may help. A value type.
class step_outcome {
public:
  /// Returns a success whose result later steps and the compensation see.
  static step_outcome ok(json result = json::object()) {
    step_outcome x;
    x.ok_ = true;
    x.result_ = std::move(result);
    return x;
  }

  /// Returns a failure. A failed operation must have had no effect. An
  /// execute is tried again only if `retryable` (and its policy allows); a
  /// compensation is tried again after every failure, `retryable` or not,
  /// until its `compensation_retry` policy gives up.
  static step_outcome fail(std::string error, bool retryable = false) {
    step_outcome x;
    x.error_ = std::move(error);
    x.retryable_ = retryable;
    return x;
  }

  /// Adds effects that the participant's barrier applies atomically with
  /// its record of this outcome, and only while the claim is this
  /// attempt's: if the handler runs again after a crash, nothing was applied
  /// the first time, so each effect happens exactly once. Both journals
  /// apply the same typed effects (see `effect`): on Redis as commands run
  /// in the barrier's script, on the memory journal to its own hashes.
  /// Keys must be on the journal's Redis (one node, or the hash slot of the
  /// saga's barrier hash `saga:{<id>}:barrier` under Redis Cluster); an
  /// effect with an empty key fails the record (`errc::invalid_config`) and
  /// applies nothing. A `fail(...)` outcome's effects are dropped.
  step_outcome& atomically(std::vector<effect> effects) {
    effects_ = std::move(effects);
    return *this;
  }

  /// Returns the effects given to `atomically`.
  const std::vector<effect>& effects() const noexcept {
    return effects_;
  }

  bool is_ok() const noexcept {
    return ok_;
  }

  bool retryable() const noexcept {
    return retryable_;
  }

  const json& result() const noexcept {
    return result_;
  }

  const std::string& error() const noexcept {
    return error_;
  }

private:
  step_outcome() = default;

  bool ok_ = false;
  bool retryable_ = false;
  json result_;
  std::string error_;
  std::vector<effect> effects_;
};

} // namespace saga
