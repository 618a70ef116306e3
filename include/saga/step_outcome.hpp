#pragma once

#include <string>
#include <vector>

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

  /// Adds Redis commands that the participant's barrier applies atomically
  /// with its record of this outcome, and only while the claim is this
  /// attempt's: if the handler runs again after a crash, nothing was applied
  /// the first time, so the effect happens exactly once. Keys must be on the
  /// journal's Redis (one node, or one hash slot with the saga under Redis
  /// Cluster). The memory journal supports HSET, HSETNX, HDEL, HINCRBY and
  /// DEL on its own hashes.
  step_outcome& atomically(std::vector<std::vector<std::string>> commands) {
    effects_ = std::move(commands);
    return *this;
  }

  /// Returns the commands given to `atomically`.
  const std::vector<std::vector<std::string>>& effects() const noexcept {
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
  std::vector<std::vector<std::string>> effects_;
};

} // namespace saga
