#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/atoms.hpp"

namespace saga {

/// Which children a supervisor restarts when one of them crashes (OTP).
enum class restart_strategy : uint8_t {
  /// Only the crashed child.
  one_for_one,
  /// Every child: the others are stopped (in reverse order) first.
  one_for_all,
  /// The crashed child and the ones started after it.
  rest_for_one,
};

/// When a child is restarted (OTP).
enum class restart_type : uint8_t {
  /// Always.
  permanent,
  /// Only after an abnormal exit (a normal quit, `user_shutdown` or
  /// `unreachable` ends it for good).
  transient,
  /// Never.
  temporary,
};

/// At most `max_restarts` restarts within any `window`.
struct restart_intensity {
  size_t max_restarts = 3;
  std::chrono::milliseconds window{5'000};
};

/// How to start and restart one child. A value type.
struct child_spec {
  /// Unique among the supervisor's children.
  std::string name;
  /// Starts one incarnation; runs inside the supervisor, so it must not
  /// block. An error counts as a crash.
  std::function<caf::expected<caf::actor>(caf::actor_system&)> start;
  restart_type restart = restart_type::permanent;
  /// How long a stop waits for the child before it kills it.
  std::chrono::milliseconds shutdown_timeout{5'000};
  /// For children that must not take their supervisor down (one per saga):
  /// past this intensity the child is given up, `on_give_up` gets the last
  /// crash reason, and the supervisor lives on. Without it, the child's
  /// restarts count against the supervisor's own intensity.
  std::optional<restart_intensity> own_intensity;
  std::function<void(const caf::error&)> on_give_up;
};

/// Called for every restart: child name, crash reason, restarts of that
/// child so far.
using restart_observer
  = std::function<void(const std::string&, const caf::error&, size_t)>;

/// Settings of a supervisor. A value type.
struct supervisor_config {
  /// Used in logs and in the escalation reason.
  std::string name = "supervisor";
  restart_strategy strategy = restart_strategy::one_for_one;
  /// Past this, the supervisor stops its children and exits with
  /// `errc::restart_intensity`, which its own supervisor sees as a crash.
  restart_intensity intensity;
  /// Delay before a restart: starts here, doubles with each restart of the
  /// same child within the window, capped, so a crash loop cannot spin.
  std::chrono::milliseconds initial_backoff{10};
  std::chrono::milliseconds max_backoff{1'000};
  /// Sees every restart; by default each one is logged.
  restart_observer on_restart;
};

/// A supervisor (Erlang/OTP semantics on CAF 0.17). It monitors its children
/// (a child's end, and why, arrives as a down message) and does not link to
/// them; if it dies without stopping them, it kills them. An exit message
/// with an abnormal reason (e.g. `user_shutdown` from its parent or the
/// application) makes it stop its children in reverse order and exit.
///
/// - start_child(spec) -> the running child, started after the others;
/// - terminate_child(name) -> true once stopped and forgotten (false: none);
/// - which_child(name) -> the child's current incarnation, or
///   `errc::unknown_child` (unknown, or between incarnations);
/// - count_children() -> how many children run.
/// The timer messages are its own.
using supervisor_actor = caf::typed_actor<
  caf::replies_to<start_child_atom, child_spec>::with<caf::actor>,
  caf::replies_to<terminate_child_atom, std::string>::with<bool>,
  caf::replies_to<which_child_atom, std::string>::with<caf::actor>,
  caf::replies_to<count_children_atom>::with<uint64_t>,
  caf::reacts_to<restart_atom, uint64_t>,
  caf::reacts_to<stop_timer_atom, uint64_t>>;

/// Returns a new supervisor that starts `children` in order. If one of them
/// fails to start, it stops the ones before it and exits with
/// `errc::child_start_failed`.
supervisor_actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg,
                                  std::vector<child_spec> children);

/// Makes an uncaught exception end `self` with `sec::runtime_error` and the
/// exception's `what()`, so supervisors and logs see the reason (CAF 0.17
/// drops it otherwise). Call it first thing in an actor's body.
void keep_crash_reason(caf::scheduled_actor* self);

/// Returns whether `reason` ends a transient child for good: none (normal
/// quit), `user_shutdown` or `unreachable`.
bool is_normal_exit(const caf::error& reason) noexcept;

} // namespace saga

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(saga::child_spec)
