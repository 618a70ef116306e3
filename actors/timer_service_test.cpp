// The timer service on CAF's deterministic test scheduler: wake-ups come at
// their time and not before, in order, never for a disarmed or finished
// actor, and never keep an actor alive.

#include "actors/timer_service.hpp"

#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

using namespace std::chrono_literals;

namespace saga::detail {
namespace {

using time_point = caf::actor_clock::time_point;
using sleeper_actor = caf::typed_actor<wake_message>;

/// Records the wake-ups it receives.
sleeper_actor::behavior_type
sleeper(sleeper_actor::pointer,
        const std::shared_ptr<std::vector<time_point>>& log) {
  return {[log](wake_atom, time_point at) { log->push_back(at); }};
}

class timer_service_test : public ::testing::Test {
protected:
  timer_service_test() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(
      sys_->scheduler());
    service_ = spawn_timer_service(*sys_, make_timer_table());
    log_ = std::make_shared<std::vector<time_point>>();
    sleeper_ = sys_->spawn(sleeper, log_);
    sched_->run();
  }

  ~timer_service_test() override {
    caf::anon_send_exit(service_, caf::exit_reason::user_shutdown);
    if (sleeper_)
      caf::anon_send_exit(sleeper_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  time_point now() const {
    return sys_->clock().now();
  }

  void arm(time_point at) {
    caf::anon_send(service_, arm_atom::value, at, sleeper_.address());
    sched_->run();
  }

  void advance(caf::timespan d) {
    sched_->advance_time(d);
    sched_->run();
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  timer_service_actor service_;
  std::shared_ptr<std::vector<time_point>> log_;
  sleeper_actor sleeper_;
};

TEST_F(timer_service_test, wakes_at_its_time_and_not_before) {
  auto at = now() + 10ms;
  arm(at);
  advance(9ms);
  EXPECT_TRUE(log_->empty());
  advance(1ms);
  ASSERT_EQ(log_->size(), 1u);
  EXPECT_EQ(log_->front(), at);
}

TEST_F(timer_service_test, an_earlier_wake_up_armed_later_comes_first) {
  auto late = now() + 50ms;
  auto early = now() + 10ms;
  arm(late);
  arm(early);
  advance(10ms);
  ASSERT_EQ(log_->size(), 1u);
  EXPECT_EQ(log_->back(), early);
  advance(40ms);
  ASSERT_EQ(log_->size(), 2u);
  EXPECT_EQ(log_->back(), late);
}

TEST_F(timer_service_test, wake_ups_due_together_all_arrive) {
  auto at = now() + 5ms;
  arm(at);
  arm(at + 1ms);
  arm(at + 2ms);
  advance(1s);
  EXPECT_EQ(*log_, (std::vector<time_point>{at, at + 1ms, at + 2ms}));
}

TEST_F(timer_service_test, a_disarmed_actor_is_not_woken) {
  arm(now() + 10ms);
  caf::anon_send(service_, disarm_atom::value, sleeper_.id());
  sched_->run();
  advance(1s);
  EXPECT_TRUE(log_->empty());
}

TEST_F(timer_service_test, a_pending_wake_up_does_not_keep_its_actor_alive) {
  arm(now() + 1h);
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(sleeper_);
  sleeper_ = nullptr; // the last strong reference
  sched_->run();
  EXPECT_EQ(weak.lock(), nullptr);
  // Firing for the dead actor is harmless; others are still served.
  advance(1h);
  auto log2 = std::make_shared<std::vector<time_point>>();
  auto other = sys_->spawn(sleeper, log2);
  auto at = now() + 1ms;
  caf::anon_send(service_, arm_atom::value, at, other.address());
  sched_->run();
  advance(1ms);
  EXPECT_EQ(*log2, (std::vector<time_point>{at}));
  caf::anon_send_exit(other, caf::exit_reason::user_shutdown);
}

TEST_F(timer_service_test, a_restarted_service_keeps_the_pending_wake_ups) {
  auto table = make_timer_table();
  auto first = spawn_timer_service(*sys_, table);
  auto at = now() + 20ms;
  caf::anon_send(first, arm_atom::value, at, sleeper_.address());
  sched_->run();
  caf::anon_send_exit(first, caf::exit_reason::kill); // a crash
  sched_->run();
  auto second = spawn_timer_service(*sys_, table); // its supervisor's restart
  sched_->run();
  advance(20ms);
  EXPECT_EQ(*log_, (std::vector<time_point>{at}));
  caf::anon_send_exit(second, caf::exit_reason::user_shutdown);
}

TEST(wake_up, arms_only_for_an_earlier_time) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto& sched = dynamic_cast<caf::scheduler::test_coordinator&>(
    sys.scheduler());
  auto service = spawn_timer_service(sys, make_timer_table());
  auto log = std::make_shared<std::vector<time_point>>();
  auto target = sys.spawn(sleeper, log);
  sched.run();
  auto t0 = sys.clock().now();
  wake_up w;
  w.at_latest(service, target.address(), t0 + 30ms);
  w.at_latest(service, target.address(), t0 + 40ms); // covered by 30ms
  w.at_latest(service, target.address(), t0 + 20ms); // earlier: armed
  sched.run();
  sched.advance_time(1s);
  sched.run();
  EXPECT_EQ(*log, (std::vector<time_point>{t0 + 20ms, t0 + 30ms}));
  // After its wake-up arrived, a later time is armed again.
  w.arrived(t0 + 20ms);
  w.arrived(t0 + 30ms);
  auto t1 = sys.clock().now();
  w.at_latest(service, target.address(), t1 + 5ms);
  sched.run();
  sched.advance_time(5ms);
  sched.run();
  EXPECT_EQ(log->back(), t1 + 5ms);
  caf::anon_send_exit(service, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
  sched.run();
}

} // namespace
} // namespace saga::detail
