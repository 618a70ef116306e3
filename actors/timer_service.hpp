#pragma once

#include <memory>

#include <caf/actor_addr.hpp>
#include <caf/actor_clock.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/atoms.hpp"

namespace saga::detail {

/// Asks the timer service to wake an actor at a point in time.
using arm_atom = caf::atom_constant<caf::atom("sg_arm")>;
/// Tells the timer service that an actor needs no more wake-ups.
using disarm_atom = caf::atom_constant<caf::atom("sg_disarm")>;
/// `(wake_atom, at)`: the wake-up an actor asked for at `at` is due.
using wake_atom = caf::atom_constant<caf::atom("sg_wake")>;
/// The timer service's own clock tick.
using timer_tick_atom = caf::atom_constant<caf::atom("sg_ttick")>;

/// The message an actor receives from the timer service; every actor that
/// arms the service has it in its interface.
using wake_message = caf::reacts_to<wake_atom, caf::actor_clock::time_point>;

/// Wakes actors at points in time, for all the sagas and participants of a
/// runtime: one CAF timer for the earliest wake-up instead of one per
/// request. CAF 0.17's clock takes a mutex and wakes its thread on every
/// timer set or cancelled, and each pending timer keeps its actor alive until
/// it fires; at tens of thousands of sagas per second that was a third of
/// the CPU, and finished sagas stayed in memory for their step timeouts.
///
/// Each actor keeps its own timers and arms the service only for the
/// earliest one (`wake_up` below). The service holds a weak reference per
/// actor, so a wake-up never keeps a finished actor alive, and `disarm`
/// drops it at once. Wake-ups are never cancelled: an actor ignores one it
/// no longer needs. Time is the actor system's clock, so the deterministic
/// test scheduler drives it.
using timer_service_actor = caf::typed_actor<
  caf::reacts_to<arm_atom, caf::actor_clock::time_point, caf::actor_addr>,
  caf::reacts_to<disarm_atom, caf::actor_id>,
  caf::reacts_to<timer_tick_atom, uint64_t>>;

/// The pending wake-ups of a timer service, kept apart from the actor so a
/// restarted service carries on with them (like the memory journal's
/// store). Used by one incarnation at a time.
struct timer_table;

/// Returns a new, empty timer table.
std::shared_ptr<timer_table> make_timer_table();

/// Returns a new timer service in `sys` that serves the wake-ups in `table`
/// (those left by an earlier incarnation included).
timer_service_actor spawn_timer_service(caf::actor_system& sys,
                                        std::shared_ptr<timer_table> table);

/// The one wake-up an actor holds at the timer service. Owned by one actor's
/// state; not thread-safe.
class wake_up {
public:
  using time_point = caf::actor_clock::time_point;

  /// Makes sure the actor `self` is woken at `at` or earlier: arms the
  /// service unless an earlier wake-up is pending already.
  void at_latest(const timer_service_actor& service, caf::actor_addr self,
                 time_point at);

  /// Records that the wake-up armed for `at` arrived. One armed earlier for
  /// a later time (superseded since) changes nothing; its actor looks for due
  /// timers all the same.
  void arrived(time_point at) noexcept {
    if (at == armed_)
      armed_ = time_point::max();
  }

  /// Drops the actor's entry at the service (it finished), including
  /// superseded wake-ups still pending there.
  void release(const timer_service_actor& service, caf::actor_id self);

private:
  time_point armed_ = time_point::max();
  /// Whether the service knows this actor (it armed at least once).
  bool known_ = false;
};

} // namespace saga::detail
