#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace saga {

/// Error codes of caf-saga. They travel as `caf::error` with the category atom
/// `"saga"`; the error's context holds a message naming the problem.
enum class errc : uint8_t {
  // -- invalid definitions (rejected before anything is persisted) ----------
  no_steps = 1,
  empty_name,
  duplicate_step,
  unknown_participant,
  invalid_timeout,
  invalid_backoff,
  invalid_retry,
  invalid_payload,
  // -- saga outcomes (dependency codes appended below keep numbering stable) ---------------------------------------------------------
  step_failed,
  step_timeout,
  deadline_exceeded,
  compensation_failed,
  saga_crashed,
  // -- participants ----------------------------------------------------------
  unknown_action,
  handler_failed,
  // -- persistence -----------------------------------------------------------
  journal_failure,
  journal_conflict,
  unknown_saga,
  invalid_event,
  invalid_url,
  // -- runtime ---------------------------------------------------------------
  invalid_config,
  shutting_down,
  /// Too many sagas are active and queued; try again later.
  overloaded,
  /// The saga was resumed under the compensate recovery policy.
  recovered_compensate,
  // -- supervision -----------------------------------------------------------
  /// A supervisor saw too many restarts in its window and gave up.
  restart_intensity,
  /// A child failed to start.
  child_start_failed,
  /// No child of that name (or it is not running right now).
  unknown_child,
  /// A saga actor crashed too often and was parked `failed`.
  saga_parked,
  /// An injected fault (tests, chaos runs).
  injected_fault,
  // -- step dependencies and the pivot (invalid definitions) ------------------
  /// A step waits for a step that is not defined.
  unknown_dependency,
  /// Steps wait for each other in a circle.
  dependency_cycle,
  /// More than one pivot, or a step neither before nor after the pivot.
  invalid_pivot,
  /// A step after the pivot failed past `forward_retry`: parked `failed`.
  forward_recovery_failed,
  // -- clusters ----------------------------------------------------------------
  /// Another node (or a newer incarnation of this one) owns the saga now:
  /// this one must neither append to it nor drive it (epoch fencing).
  fenced,
  /// No live node hosts the participant right now (retryable).
  no_route,
  // -- operating -----------------------------------------------------------------
  /// A malformed operator request (admin API, sagactl): bad id, query or body.
  invalid_request,
  /// The saga is not in a state that allows the operation (retry of a saga
  /// that has not failed, abort past the pivot or of an ended saga).
  invalid_state,
  /// An operator aborted the saga: it compensates.
  aborted,
  // -- participants (appended) ---------------------------------------------------
  /// The participant cannot vouch for what became of a step operation: its
  /// barrier record was not confirmed (the journal failed or did not answer,
  /// or another copy of the command took the claim over). Sent as an error,
  /// never as a failed reply, so the saga treats it like a timeout: it
  /// retries, or compensates what may have taken effect.
  outcome_unknown,
  // -- client-chosen ids (appended) ----------------------------------------------
  /// A client-chosen saga id or business key is malformed (see
  /// saga/saga_id.hpp); nothing was persisted.
  invalid_id,
  /// A start named the id of a saga that exists and has not ended, and this
  /// runtime does not run it (another node does, or it waits for adoption):
  /// no second saga was started; ask for it again, by id, later.
  in_progress,
};

/// Returns the snake_case name of `code`, e.g. `"duplicate_step"`.
const char* to_string(errc code) noexcept;

/// Returns the code named `name` (as printed by `to_string`), if any.
std::optional<errc> parse_errc(std::string_view name) noexcept;

/// Returns the category atom of all caf-saga errors.
caf::atom_value error_category() noexcept;

/// Returns an error with `code` and no context.
caf::error make_error(errc code);

/// Returns an error with `code` whose context names the problem.
caf::error make_error(errc code, std::string what);

/// Returns whether `err` carries the caf-saga code `code`.
bool is(const caf::error& err, errc code) noexcept;

/// Returns a human-readable rendering of `err`, e.g.
/// `"saga::duplicate_step: step 'pay' is defined twice"`; works for CAF's own
/// errors too and needs no actor system.
std::string describe(const caf::error& err);

} // namespace saga
