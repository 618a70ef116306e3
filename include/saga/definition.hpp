#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "saga/fwd.hpp"
#include "saga/http_endpoint.hpp"
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
  /// Names of the steps that must complete before this one starts. A step
  /// added with `step()` waits for the step before it (or for every step of
  /// the parallel group before it) unless `after()` says otherwise.
  std::vector<std::string> after;
  /// The point of no return: once it completed, the saga only goes forward.
  bool pivot = false;
  /// HTTP participants only: where this step's execute and compensate go,
  /// in place of the participant's route for `action` (an endpoint with an
  /// empty path is not set). Other participants ignore it.
  http_route http;
};

/// The dependency graph of a definition, by step index.
struct step_graph {
  /// deps[i]: the steps step i waits for.
  std::vector<std::vector<int32_t>> deps;
  /// dependents[i]: the steps that wait for step i.
  std::vector<std::vector<int32_t>> dependents;
  /// The pivot step, or -1.
  int32_t pivot = -1;
  /// after_pivot[i]: step i runs after the pivot (retried until it
  /// succeeds, never compensated).
  std::vector<bool> after_pivot;
};

/// A saga type: steps, the order between them, and a deadline. Built
/// fluently; `step()` starts a new step and the step modifiers apply to the
/// last one. Steps run one after another unless `fork()`/`join()` or
/// `after()` say otherwise:
///
///     d.step("a", "p")
///      .fork()                      // the steps up to join() run in parallel,
///        .step("b1", "p")           // each after "a"
///        .step("b2", "p")
///      .join()
///      .step("c", "p");             // after b1 and b2
///
/// A value type: copy it freely. Modifiers are not synchronized; const
/// member functions may be called from many threads at once.
class definition;

/// Shared, immutable definition as held by running saga actors.
using definition_ptr = std::shared_ptr<const definition>;

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

  /// Sets the endpoints of the last step on an HTTP participant: its
  /// execute's and, if `compensate` has a path, its compensation's (else
  /// the participant's route for the action applies to it).
  definition& http(http_endpoint execute, http_endpoint compensate = {});

  /// Sets the timeout of one execute attempt of the last step.
  definition& timeout(std::chrono::milliseconds x);

  /// Sets the retry policy of the last step's execute.
  definition& retry(retry_policy x);

  /// Sets the timeout of one compensate attempt of the last step.
  definition& compensation_timeout(std::chrono::milliseconds x);

  /// Sets the retry policy of the last step's compensation.
  definition& compensation_retry(retry_policy x);

  /// Makes the last step wait for exactly `steps` (none: it starts at once).
  definition& after(std::vector<std::string> steps);

  /// Starts a parallel group: the steps added until `join()` all wait for
  /// what a step added here would wait for, and not for each other.
  definition& fork();

  /// Ends the parallel group: the next step waits for all of its steps.
  definition& join();

  /// Marks the last step as the pivot: the point of no return. Once it
  /// completed, the steps after it are retried (per `forward_retry`) until
  /// they succeed, are never compensated, and the deadline no longer
  /// applies. Every other step must run before or after it.
  definition& pivot();

  /// Sets the retry policy of the execute of every step that does not set
  /// its own with `retry()`, whether added before or after this call (a
  /// step whose policy equals the previous default takes the new one).
  /// Default: one attempt.
  definition& default_retry(retry_policy x);

  /// Sets the retry policy of the compensation of every step that does not
  /// set its own with `compensation_retry()`, as `default_retry` does for
  /// executes. Default: `retry_policy::compensation_default()`.
  definition& default_compensation_retry(retry_policy x);

  /// Sets the retry policy of the steps after the pivot (default: 100
  /// attempts, 100 ms doubling to 60 s). Past it the saga is parked
  /// `failed` for an operator.
  definition& forward_retry(retry_policy x);

  /// Gives the saga started from this definition the client-chosen id `x`
  /// (see saga/saga_id.hpp; empty: the runtime makes one). Starting an id
  /// that exists starts nothing: the caller joins the saga if this runtime
  /// runs it, gets its result if it ended, else `errc::in_progress`. So a
  /// client that lost a reply starts the same id again to learn the outcome.
  /// Ids are unique for as long as Redis keeps the saga's history (its
  /// retention past the end); a definition with an id starts one saga.
  definition& id(saga_id x);

  /// Tags the saga with the client's business key (an order number, say;
  /// 1 to 200 bytes, no control characters), stored with it and searchable.
  definition& business_key(std::string x);

  /// Sets the deadline of the whole saga, measured from its start. When it
  /// passes before the pivot, the saga abandons the steps in flight and
  /// compensates.
  definition& deadline(std::chrono::milliseconds x);

  /// Returns the saga type's name.
  const std::string& name() const noexcept {
    return name_;
  }

  /// Returns the client-chosen saga id (empty: none).
  const saga_id& id() const noexcept {
    return id_;
  }

  /// Returns the business key (empty: none).
  const std::string& business_key() const noexcept {
    return business_key_;
  }

  /// Returns the steps in execution order.
  const std::vector<step_definition>& steps() const noexcept {
    return steps_;
  }

  /// Returns the saga deadline (zero: none).
  std::chrono::milliseconds deadline() const noexcept {
    return deadline_;
  }

  /// Returns the retry policy of the steps after the pivot.
  const retry_policy& forward_retry() const noexcept {
    return forward_retry_;
  }

  /// Returns the execute retry policy of steps without their own.
  const retry_policy& default_retry() const noexcept {
    return default_retry_;
  }

  /// Returns the compensation retry policy of steps without their own.
  const retry_policy& default_compensation_retry() const noexcept {
    return default_compensation_retry_;
  }

  /// Returns the longest a saga of this definition can take to end, its
  /// journal and participants' transport aside: every execute tried to the
  /// end of its policy (each attempt waiting its full timeout, each backoff
  /// its full delay), one after another, then every compensation likewise.
  /// A deadline shortens the forward part; parallel steps make the real
  /// figure smaller. Saturates at `milliseconds::max()`.
  std::chrono::milliseconds time_bound() const;

  /// Returns the dependency graph (valid definitions only).
  step_graph graph() const;

  /// Returns the index of the step named `name`, or -1.
  int index_of(std::string_view name) const noexcept;

  /// Returns an error naming the first problem of this definition, or none.
  /// Does not check that the participants exist; the runtime does that.
  caf::error validate() const;

  /// Returns this definition as a JSON object (the form stored in journals).
  json to_json() const;

  /// Returns an immutable copy of this definition, made on first use after
  /// the last change and shared by every saga started from it, so running
  /// the same definition again copies and serializes nothing.
  definition_ptr snapshot() const;

  /// Returns `to_json().dump()`, computed once per snapshot.
  const std::string& json_text() const;

  /// Returns the definition stored in `x`, or an error naming the problem.
  static caf::expected<definition> from_json(const json& x);

  /// Returns the definition stored as the JSON text `text` (as in a
  /// `saga_started` event), or an error naming the problem. Shares the
  /// result with every caller that parsed the same text lately (a bounded
  /// cache), so recovering many sagas of one type parses it once.
  /// Thread-safe.
  static caf::expected<definition_ptr> from_json_text(const std::string& text);

private:
  step_definition& last_step(const char* modifier);

  /// Drops the snapshot: called by every modifier.
  void changed() noexcept;

  caf::error check_graph() const;

  std::string name_;
  saga_id id_;
  std::string business_key_;
  std::vector<step_definition> steps_;
  std::chrono::milliseconds deadline_{0};
  retry_policy forward_retry_ = retry_policy::compensation_default();
  retry_policy default_retry_;
  retry_policy default_compensation_retry_
    = retry_policy::compensation_default();
  /// What the next step outside a group waits for.
  std::vector<std::string> frontier_;
  /// The open parallel group: what its steps wait for, and its steps.
  bool in_group_ = false;
  std::vector<std::string> group_base_;
  std::vector<std::string> group_;
  /// Set when a modifier was called before any step; reported by validate().
  std::string misuse_;
  /// See snapshot(); read and replaced atomically (std::atomic_load).
  mutable definition_ptr snapshot_;
  /// A snapshot's JSON text (empty in a definition being built).
  std::string json_text_;
};

} // namespace saga
