#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/fwd.hpp"

namespace saga {

/// What happened to a saga, as its subscribers hear of it (MassTransit's
/// routing-slip events). Each is published once the journal event that
/// records it is durable.
enum class lifecycle_kind : uint8_t {
  saga_started,
  step_completed,
  /// A step failed for good (the participant said no, or no answer).
  step_failed,
  /// The saga turned back (a failure, the deadline, or an operator abort).
  compensation_started,
  step_compensated,
  saga_completed,
  saga_compensated,
  /// Compensation gave up, a step after the pivot did, or the saga was
  /// parked: an operator must look.
  saga_failed,
  /// An operator retried the failed saga.
  saga_retried,
  /// One attempt of a step's execute or compensation failed or went
  /// unanswered; a retry follows under its policy (`attempt`, `error`).
  step_attempt_failed,
};

/// Returns the snake_case name of `x`, e.g. `"step_completed"`.
std::string_view to_string(lifecycle_kind x) noexcept;

/// One lifecycle event. A value type.
struct lifecycle_event {
  lifecycle_kind kind = lifecycle_kind::saga_started;
  saga::saga_id saga_id;
  /// The saga's definition name.
  std::string definition;
  /// The step, for step events; empty otherwise.
  std::string step;
  uint32_t attempt = 0;
  /// Why, for failures and compensation_started.
  std::string error;
  /// The journal event's seq and wall-clock time (ms since the Unix epoch).
  uint64_t seq = 0;
  int64_t time_ms = 0;
  /// step_attempt_failed: the latest time the next attempt starts (ms since
  /// the Unix epoch; see `saga_state::next_attempt_ms`); 0 otherwise.
  int64_t next_attempt_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lifecycle_event& x) {
  return f(caf::meta::type_name("saga::lifecycle_event"), x.kind, x.saga_id,
           x.definition, x.step, x.attempt, x.error, x.seq, x.time_ms,
           x.next_attempt_ms);
}

/// Which lifecycle events a subscriber gets. Empty lists match everything.
struct lifecycle_filter {
  /// Definition names.
  std::vector<std::string> definitions;
  std::vector<lifecycle_kind> kinds;

  /// Returns whether `ev` passes.
  bool matches(const lifecycle_event& ev) const noexcept;
};

/// An actor that receives lifecycle events.
using lifecycle_actor = caf::typed_actor<caf::reacts_to<lifecycle_event>>;

/// A callback that receives lifecycle events: called on one of the
/// runtime's threads, one event at a time, in the order they were
/// published. It must not block.
using lifecycle_callback = std::function<void(const lifecycle_event&)>;

} // namespace saga
