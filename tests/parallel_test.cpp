// Parallel steps and the pivot on the deterministic test scheduler.

#include <algorithm>

#include "tests/engine_fixture.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

using strings = std::vector<std::string>;

class parallel : public engine_fixture {
protected:
  /// Registers participant "p-<name>" for each step name.
  void add(const strings& names) {
    for (const auto& n : names)
      add_participant("p-" + n, {n});
  }

  /// Returns the position of `call` in the trace, or -1.
  long pos(const std::string& call) {
    auto t = script_->trace();
    auto i = std::find(t.begin(), t.end(), call);
    return i == t.end() ? -1 : static_cast<long>(i - t.begin());
  }
};

definition diamond() {
  definition d{"diamond"};
  d.step("a", "p-a")
    .fork()
    .step("b", "p-b")
    .step("c", "p-c")
    .join()
    .step("d", "p-d");
  return d;
}

TEST_F(parallel, a_diamond_runs_its_branches_at_once_and_joins) {
  add({"a", "b", "c", "d"});
  script_->plan("execute:b", {reaction::hang()});
  script_->plan("execute:c", {reaction::hang()});
  auto slot = start(diamond());
  // b and c both run before either answered.
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "execute:c#1"}));
  answer("execute:b#1", step_outcome::ok());
  EXPECT_EQ(pos("execute:d#1"), -1) << "d started before c completed";
  answer("execute:c#1", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success);
  EXPECT_EQ(script_->trace().back(), "execute:d#1");
  expect_replay_matches(**slot);
}

TEST_F(parallel, a_wide_fan_out_starts_every_branch_together) {
  definition d{"fan-out"};
  d.step("root", "p-root").fork();
  strings branches;
  for (int i = 0; i < 10; ++i) {
    branches.push_back("b" + std::to_string(i));
    d.step(branches.back(), "p-" + branches.back());
    script_->plan("execute:" + branches.back(), {reaction::hang()});
  }
  d.join().step("sink", "p-sink");
  add({"root", "sink"});
  add(branches);
  auto slot = start(d);
  EXPECT_EQ(script_->calls.size(), 11u) << "all ten branches in flight";
  for (const auto& b : branches)
    answer("execute:" + b + "#1", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success);
  EXPECT_EQ(script_->trace().back(), "execute:sink#1");
  expect_replay_matches(**slot);
}

TEST_F(parallel, after_names_dependencies_explicitly) {
  add({"a", "b", "c"});
  definition d{"explicit"};
  d.step("a", "p-a")
    .step("b", "p-b")
    .after({})
    .step("c", "p-c")
    .after({"a", "b"});
  script_->plan("execute:a", {reaction::hang()});
  auto slot = start(d);
  // a and b start together (b waits for nothing); c waits for both.
  EXPECT_EQ(script_->trace(), (strings{"execute:a#1", "execute:b#1"}));
  answer("execute:a#1", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ(script_->trace().back(), "execute:c#1");
}

class branch_failure : public parallel,
                       public ::testing::WithParamInterface<bool> {};

TEST_P(branch_failure, waits_for_the_branch_in_flight_then_compensates) {
  // One branch fails for good while the other is in flight. No new step
  // starts; the reply in flight is awaited; a late success is compensated.
  auto late_success = GetParam();
  add({"a", "b", "c", "d"});
  script_->plan("execute:b", {reaction::fail("no b")});
  script_->plan("execute:c", {reaction::hang()});
  auto slot = start(diamond());
  EXPECT_FALSE(slot->has_value());
  EXPECT_EQ(pos("compensate:a#1"), -1) << "a undone while c was in flight";
  answer("execute:c#1",
         late_success ? step_outcome::ok() : step_outcome::fail("no c"));
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::compensated);
  EXPECT_EQ((*slot)->failed_step, "b");
  EXPECT_EQ(pos("execute:d#1"), -1);
  EXPECT_EQ(pos("compensate:b#1"), -1) << "b said no: nothing to undo";
  if (late_success) {
    ASSERT_NE(pos("compensate:c#1"), -1);
    EXPECT_LT(pos("compensate:c#1"), pos("compensate:a#1"))
      << "a was undone before c, which depends on it";
    EXPECT_EQ((*slot)->compensated_steps, (strings{"c", "a"}));
  } else {
    EXPECT_EQ(pos("compensate:c#1"), -1);
    EXPECT_EQ((*slot)->compensated_steps, (strings{"a"}));
  }
  expect_replay_matches(**slot);
}

INSTANTIATE_TEST_SUITE_P(late_reply, branch_failure, ::testing::Bool());

TEST_F(parallel, failure_in_each_branch_of_a_fan_out) {
  for (int failing = 0; failing < 3; ++failing) {
    SCOPED_TRACE("failing branch " + std::to_string(failing));
    script_->calls.clear();
    definition d{"fan-" + std::to_string(failing)};
    d.step("r", "p-r").fork();
    for (int i = 0; i < 3; ++i)
      d.step("x" + std::to_string(i), "p-x" + std::to_string(i));
    d.join();
    if (failing == 0)
      add({"r", "x0", "x1", "x2"});
    script_->plan("execute:x" + std::to_string(failing), {reaction::fail()});
    auto r = execute(d);
    EXPECT_EQ(r.state, saga_status::compensated);
    EXPECT_EQ(r.failed_step, "x" + std::to_string(failing));
    // The other two branches completed and are undone before r.
    auto undone = r.compensated_steps;
    ASSERT_EQ(undone.size(), 3u);
    EXPECT_EQ(undone.back(), "r");
    expect_replay_matches(r);
  }
}

TEST_F(parallel, independent_compensations_run_in_parallel) {
  add({"r", "x0", "x1", "x2", "z"});
  definition d{"undo-parallel"};
  d.step("r", "p-r").fork();
  for (int i = 0; i < 3; ++i)
    d.step("x" + std::to_string(i), "p-x" + std::to_string(i));
  d.join().step("z", "p-z");
  script_->plan("execute:z", {reaction::fail()});
  for (int i = 0; i < 3; ++i)
    script_->plan("compensate:x" + std::to_string(i), {reaction::hang()});
  auto slot = start(d);
  // All three compensations are in flight at once; r waits for them.
  EXPECT_EQ(script_->trace("compensate").size(), 3u);
  EXPECT_EQ(pos("compensate:r#1"), -1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(pos("compensate:r#1"), -1);
    answer("compensate:x" + std::to_string(i) + "#1", step_outcome::ok());
  }
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ(script_->trace().back(), "compensate:r#1");
  expect_replay_matches(**slot);
}

// -- the pivot ------------------------------------------------------------------------------

definition with_pivot() {
  definition d{"pivot"};
  d.step("a", "p-a")
    .step("p", "p-p")
    .pivot()
    .step("r", "p-r")
    .forward_retry(retry_policy{10, 100ms, 1.0, 100ms, 0.0});
  return d;
}

TEST_F(parallel, steps_after_the_pivot_are_retried_until_they_succeed) {
  add({"a", "p", "r"});
  // Even non-retryable failures are retried after the pivot.
  script_->plan("execute:r", {reaction::fail("no"), reaction::fail("no"),
                              reaction::fail_retryable("busy")});
  auto slot = start(with_pivot());
  for (int i = 0; i < 3; ++i)
    advance(100ms);
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success);
  EXPECT_EQ(script_->trace("execute").back(), "execute:r#4");
  EXPECT_TRUE(script_->trace("compensate").empty());
  expect_replay_matches(**slot);
}

TEST_F(parallel,
       a_step_after_the_pivot_failing_past_its_retries_parks_the_saga) {
  add({"a", "p", "r"});
  auto d = with_pivot();
  d.forward_retry(retry_policy{3, 100ms, 1.0, 100ms, 0.0});
  script_->plan("execute:r", std::vector<reaction>(3, reaction::fail("no")));
  auto slot = start(d);
  advance(100ms);
  advance(100ms);
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::failed);
  EXPECT_TRUE(is((*slot)->error, errc::forward_recovery_failed))
    << describe((*slot)->error);
  EXPECT_TRUE(script_->trace("compensate").empty()) << "never compensated";
  expect_replay_matches(**slot);
}

TEST_F(parallel, failure_before_the_pivot_compensates_as_usual) {
  add({"a", "p", "r"});
  script_->plan("execute:p", {reaction::fail("pivot refused")});
  auto r = execute(with_pivot());
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(script_->trace("compensate"), (strings{"compensate:a#1"}));
  expect_replay_matches(r);
}

TEST_F(parallel, the_deadline_before_the_pivot_compensates) {
  add({"a", "p", "r"});
  auto d = with_pivot();
  d.deadline(1s);
  script_->plan("execute:a", {reaction::hang()});
  auto slot = start(d);
  advance(1s);
  answer("execute:a#1", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE(is((*slot)->error, errc::deadline_exceeded));
  EXPECT_EQ(script_->trace("compensate"), (strings{"compensate:a#1"}));
}

TEST_F(parallel, the_deadline_after_the_pivot_changes_nothing) {
  add({"a", "p", "r"});
  auto d = with_pivot();
  d.deadline(1s);
  script_->plan("execute:r", {reaction::hang()});
  auto slot = start(d);
  advance(2s);
  EXPECT_FALSE(slot->has_value());
  EXPECT_TRUE(script_->trace("compensate").empty());
  answer("execute:r#1", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success);
  expect_replay_matches(**slot);
}

TEST_F(parallel, the_deadline_waits_for_a_pivot_in_flight) {
  add({"a", "p", "r"});
  auto d = with_pivot();
  d.deadline(1s);
  script_->plan("execute:p", {reaction::hang(), reaction::hang()});
  auto slot = start(d);
  advance(1s);
  EXPECT_TRUE(script_->trace("compensate").empty());
  answer("execute:p#1", step_outcome::ok()); // the point of no return
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success);
  EXPECT_TRUE(script_->trace("compensate").empty());
}

TEST_F(parallel, a_pivot_in_flight_that_fails_after_the_deadline_compensates) {
  add({"a", "p", "r"});
  auto d = with_pivot();
  d.deadline(1s);
  script_->plan("execute:p", {reaction::hang()});
  auto slot = start(d);
  advance(1s);
  answer("execute:p#1", step_outcome::fail("refused"));
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::compensated);
  EXPECT_EQ(script_->trace("compensate"), (strings{"compensate:a#1"}));
}

// -- definitions -----------------------------------------------------------------------------

TEST_F(parallel,
       cycles_and_unknown_dependencies_are_rejected_before_persisting) {
  add({"a", "b"});
  definition cycle{"cycle"};
  cycle.step("a", "p-a").after({"b"}).step("b", "p-b").after({"a"});
  auto r1 = execute(cycle);
  EXPECT_TRUE(is(r1.error, errc::dependency_cycle)) << describe(r1.error);
  definition unknown{"unknown"};
  unknown.step("a", "p-a").after({"ghost"});
  auto r2 = execute(unknown);
  EXPECT_TRUE(is(r2.error, errc::unknown_dependency)) << describe(r2.error);
  EXPECT_NE(describe(r2.error).find("ghost"), std::string::npos);
  definition two_pivots{"pivots"};
  two_pivots.step("a", "p-a").pivot().step("b", "p-b").pivot();
  EXPECT_TRUE(is(execute(two_pivots).error, errc::invalid_pivot));
  definition beside{"beside"};
  beside.step("a", "p-a").pivot().step("b", "p-b").after({});
  auto r3 = execute(beside);
  EXPECT_TRUE(is(r3.error, errc::invalid_pivot)) << describe(r3.error);
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_TRUE(script_->calls.empty());
}

// -- recovery with branches in flight ----------------------------------------------------------------

TEST_F(parallel, recovery_resumes_every_branch_in_flight) {
  add({"a", "b", "c", "d"});
  script_->plan("execute:b", {reaction::hang()});
  script_->plan("execute:c", {reaction::hang()});
  auto slot = start(diamond());
  auto id = script_->calls.back().id;
  restart_runtime();
  EXPECT_EQ(recover(), 1u);
  // Both branches were in flight: both are sent again, then d.
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "execute:c#1", "execute:b#1",
                     "execute:c#1", "execute:d#1"}));
  auto st = replay(id, events_of(id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::completed);
}

TEST_F(parallel, saga_log_has_per_step_times) {
  add({"a", "b", "c", "d"});
  auto r = execute(diamond());
  auto events = events_of(r.saga_id);
  auto st = replay(r.saga_id, events);
  ASSERT_TRUE(st);
  auto log = make_log(*st, events);
  for (const auto& s : log.steps) {
    EXPECT_GT(s.started_at_ms, 0) << s.name;
    EXPECT_GE(s.ended_at_ms, s.started_at_ms) << s.name;
  }
  EXPECT_EQ(log.steps[3].after, (strings{"b", "c"}));
  // The branches overlap; d starts after both ended.
  EXPECT_LE(log.steps[1].started_at_ms, log.steps[2].ended_at_ms);
  EXPECT_LE(log.steps[2].started_at_ms, log.steps[1].ended_at_ms);
  EXPECT_GE(log.steps[3].started_at_ms,
            std::max(log.steps[1].ended_at_ms, log.steps[2].ended_at_ms));
  EXPECT_NE(to_string(log).find("after b c"), std::string::npos);
}

} // namespace
} // namespace saga::test
