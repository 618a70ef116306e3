// Saga scenarios on the deterministic test scheduler. Each test states the
// behaviour it guards; each would fail without it.

#include <algorithm>

#include <caf/event_based_actor.hpp>

#include "core/crash_atom.hpp"
#include "tests/engine_fixture.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

using strings = std::vector<std::string>;

class engine : public engine_fixture {};

// -- success ------------------------------------------------------------------------

TEST_F(engine, all_steps_succeed_in_order) {
  auto d = make_def({"a", "b", "c"});
  auto r = execute(d);
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.state, saga_status::completed);
  EXPECT_EQ(r.completed_steps, (strings{"a", "b", "c"}));
  EXPECT_TRUE(r.compensated_steps.empty());
  EXPECT_FALSE(r.error);
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "execute:c#1"}));
  EXPECT_EQ(types_of(events_of(r.saga_id)),
            (std::vector<event_type>{
              event_type::saga_started, event_type::step_started,
              event_type::step_succeeded, event_type::step_started,
              event_type::step_succeeded, event_type::step_started,
              event_type::step_succeeded, event_type::saga_completed}));
  expect_replay_matches(r);
}

TEST_F(engine, finished_saga_leaves_the_unfinished_index) {
  auto r = execute(make_def({"a"}));
  ASSERT_TRUE(r.success);
  EXPECT_TRUE(store_->unfinished("", 10).ids.empty());
}

// -- failure at each position -----------------------------------------------------------

class failure_at : public engine,
                   public ::testing::WithParamInterface<size_t> {};

TEST_P(failure_at, compensates_exactly_the_completed_steps_in_reverse) {
  const strings names{"a", "b", "c", "d"};
  auto k = GetParam();
  script_->plan("execute:" + names[k], {reaction::fail("no way")});
  auto r = execute(make_def(names));
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(r.failed_step, names[k]);
  EXPECT_TRUE(is(r.error, errc::step_failed)) << describe(r.error);
  strings executed;
  strings compensated;
  for (size_t i = 0; i <= k; ++i)
    executed.push_back("execute:" + names[i] + "#1");
  for (size_t i = k; i-- > 0;)
    compensated.push_back("compensate:" + names[i] + "#1");
  EXPECT_EQ(script_->trace("execute"), executed);
  EXPECT_EQ(script_->trace("compensate"), compensated);
  strings expected_compensated;
  for (size_t i = k; i-- > 0;)
    expected_compensated.push_back(names[i]);
  EXPECT_EQ(r.compensated_steps, expected_compensated);
  // The compensations come after all executes: nothing runs after a failure.
  auto trace = script_->trace();
  EXPECT_EQ(trace.size(), executed.size() + compensated.size());
  expect_replay_matches(r);
}

INSTANTIATE_TEST_SUITE_P(every_position, failure_at,
                         ::testing::Values(0, 1, 2, 3));

// -- forward recovery -----------------------------------------------------------------

TEST_F(engine, retry_with_backoff_then_success) {
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  definition def{"retrying"};
  def.step("a", "p-a")
    .timeout(1s)
    .step("b", "p-b")
    .timeout(1s)
    .retry(retry_policy{3, 100ms, 2.0, 10s, 0.0});
  script_->plan("execute:b", {reaction::fail_retryable("busy"),
                              reaction::fail_retryable("busy")});
  auto slot = start(def);
  // Attempt 1 failed; attempt 2 waits for its backoff (100ms).
  EXPECT_EQ(script_->trace("execute"), (strings{"execute:a#1", "execute:b#1"}));
  advance(99ms);
  EXPECT_EQ(script_->trace("execute").size(), 2u) << "retried before backoff";
  advance(1ms);
  EXPECT_EQ(script_->trace("execute").back(), "execute:b#2");
  // Attempt 2 failed; attempt 3 waits twice as long (200ms).
  advance(199ms);
  EXPECT_EQ(script_->trace("execute").size(), 3u);
  advance(1ms);
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_TRUE(r.success);
  EXPECT_EQ(script_->trace("execute"), (strings{"execute:a#1", "execute:b#1",
                                                "execute:b#2", "execute:b#3"}));
  EXPECT_TRUE(script_->trace("compensate").empty());
  auto st = replay(r.saga_id, events_of(r.saga_id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->steps[1].attempts, 3u);
  expect_replay_matches(r);
}

TEST_F(engine, non_retryable_failure_is_not_retried) {
  definition def{"no-retry"};
  def.step("a", "p-a").step("b", "p-b").retry(retry_policy{5, 10ms});
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  script_->plan("execute:b", {reaction::fail("permanent")});
  auto r = execute(def);
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(script_->trace("execute"), (strings{"execute:a#1", "execute:b#1"}));
}

TEST_F(engine, retries_exhausted_then_compensation) {
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  definition def{"exhausted"};
  def.step("a", "p-a")
    .step("b", "p-b")
    .retry(retry_policy{3, 10ms, 1.0, 10ms, 0.0});
  script_->plan("execute:b",
                {reaction::fail_retryable(), reaction::fail_retryable(),
                 reaction::fail_retryable("still busy")});
  auto slot = start(def);
  advance(10ms);
  advance(10ms);
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(r.failed_step, "b");
  EXPECT_NE(describe(r.error).find("still busy"), std::string::npos);
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "execute:b#2", "execute:b#3",
                     "compensate:a#1"}));
  expect_replay_matches(r);
}

// -- timeouts and late replies -----------------------------------------------------------

TEST_F(engine, step_timeout_retries_and_then_compensates_the_unknown_step) {
  definition def{"timeouts"};
  def.step("a", "p-a")
    .step("b", "p-b")
    .timeout(500ms)
    .retry(retry_policy{2, 50ms, 1.0, 50ms, 0.0});
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  script_->plan("execute:b", {reaction::hang(), reaction::hang()});
  auto slot = start(def);
  EXPECT_EQ(script_->trace().back(), "execute:b#1");
  advance(500ms); // attempt 1 times out
  advance(50ms);  // backoff
  EXPECT_EQ(script_->trace().back(), "execute:b#2");
  EXPECT_FALSE(slot->has_value());
  advance(500ms); // attempt 2 times out: b failed for good
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_TRUE(is(r.error, errc::step_timeout)) << describe(r.error);
  // b may have taken effect (no reply): it is compensated too, before a.
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:b#1", "compensate:a#1"}));
  EXPECT_EQ(r.compensated_steps, (strings{"b", "a"}));
  expect_replay_matches(r);
}

TEST_F(engine, late_success_after_timeout_completes_the_step) {
  definition def{"late"};
  def.step("a", "p-a")
    .step("b", "p-b")
    .timeout(500ms)
    .retry(retry_policy{3, 50ms, 1.0, 50ms, 0.0})
    .step("c", "p-c");
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  add_participant("p-c", {"c"});
  script_->plan("execute:b", {reaction::hang(), reaction::hang()});
  auto slot = start(def);
  advance(500ms);
  advance(50ms);
  EXPECT_EQ(script_->trace().back(), "execute:b#2");
  // The reply to attempt 1 arrives late, while attempt 2 is in flight.
  answer("execute:b#1", step_outcome::ok({{"late", true}}));
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_TRUE(r.success);
  EXPECT_EQ(script_->trace("execute").back(), "execute:c#1");
  // c saw b's late result.
  EXPECT_EQ(script_->calls.back().results["b"], (json{{"late", true}}));
  expect_replay_matches(r);
}

TEST_F(engine, late_failure_of_an_old_attempt_is_ignored) {
  definition def{"stale"};
  def.step("a", "p-a")
    .timeout(500ms)
    .retry(retry_policy{2, 50ms, 1.0, 50ms, 0.0});
  add_participant("p-a", {"a"});
  script_->plan("execute:a", {reaction::hang(), reaction::hang()});
  auto slot = start(def);
  advance(500ms);
  advance(50ms);
  answer("execute:a#1", step_outcome::fail("stale failure"));
  EXPECT_FALSE(slot->has_value()) << "a stale failure ended the saga";
  answer("execute:a#2", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success);
}

// -- saga deadline ----------------------------------------------------------------------

TEST_F(engine, deadline_abandons_the_step_in_flight_and_compensates) {
  definition def{"deadline"};
  def.step("a", "p-a")
    .step("b", "p-b")
    .timeout(5s)
    .step("c", "p-c")
    .deadline(1s);
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  add_participant("p-c", {"c"});
  script_->plan("execute:b", {reaction::hang()});
  auto slot = start(def);
  advance(1s);
  // Compensation started; b's reply is awaited (bounded by its timeout).
  auto events = store_->unfinished("", 10);
  ASSERT_EQ(events.ids.size(), 1u);
  auto history = events_of(events.ids[0]);
  EXPECT_EQ(history.back().type, event_type::compensation_started);
  EXPECT_FALSE(slot->has_value());
  // The late reply says b succeeded: it must be compensated, then a.
  answer("execute:b#1", step_outcome::ok({{"ref", 7}}));
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_TRUE(is(r.error, errc::deadline_exceeded)) << describe(r.error);
  EXPECT_EQ(r.failed_step, "b");
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:b#1", "compensate:a#1"}));
  // b's compensation sees b's late result.
  const auto& comp_b = script_->calls[script_->calls.size() - 2];
  EXPECT_EQ(comp_b.results["b"], (json{{"ref", 7}}));
  auto trace = script_->trace();
  EXPECT_EQ(std::count(trace.begin(), trace.end(), "execute:c#1"), 0);
  expect_replay_matches(r);
}

TEST_F(engine, deadline_with_a_silent_step_compensates_it_after_its_timeout) {
  definition def{"deadline-silent"};
  def.step("a", "p-a").step("b", "p-b").timeout(3s).deadline(1s);
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  script_->plan("execute:b", {reaction::hang()});
  auto slot = start(def);
  advance(1s);
  EXPECT_TRUE(script_->trace("compensate").empty());
  advance(2s); // b's own timeout: outcome unknown, so it is compensated
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:b#1", "compensate:a#1"}));
  expect_replay_matches(**slot);
}

TEST_F(engine, deadline_during_backoff_compensates_at_once) {
  definition def{"deadline-backoff"};
  def.step("a", "p-a")
    .step("b", "p-b")
    .retry(retry_policy{5, 10s, 1.0, 10s, 0.0})
    .deadline(1s);
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  script_->plan("execute:b", {reaction::fail_retryable()});
  auto slot = start(def);
  advance(1s);
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_TRUE(is(r.error, errc::deadline_exceeded));
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "compensate:a#1"}));
  expect_replay_matches(r);
}

TEST_F(engine, deadline_after_completion_changes_nothing) {
  definition def{"fast"};
  def.step("a", "p-a").deadline(1s);
  add_participant("p-a", {"a"});
  auto r = execute(def);
  advance(2s);
  EXPECT_TRUE(r.success);
  EXPECT_TRUE(script_->trace("compensate").empty());
}

// -- backward recovery ----------------------------------------------------------------------

TEST_F(engine, compensation_failing_then_succeeding) {
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::fail()});
  script_->plan("compensate:a", {reaction::fail_retryable("db down")});
  auto slot = start(def);
  EXPECT_FALSE(slot->has_value());
  advance(100ms); // compensation backoff
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:a#1", "compensate:a#2"}));
  auto st = replay(r.saga_id, events_of(r.saga_id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->steps[0].compensation_attempts, 2u);
  expect_replay_matches(r);
}

TEST_F(engine, compensation_timeout_is_retried) {
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::fail()});
  script_->plan("compensate:a", {reaction::hang()});
  auto slot = start(def);
  advance(1s);    // compensate attempt 1 times out
  advance(100ms); // backoff
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::compensated);
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:a#1", "compensate:a#2"}));
}

TEST_F(engine, compensation_exhausted_ends_failed) {
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::fail()});
  script_->plan("compensate:a",
                std::vector<reaction>(5, reaction::fail_retryable("db down")));
  auto slot = start(def);
  for (int i = 0; i < 4; ++i)
    advance(1s);
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_EQ(r.state, saga_status::failed);
  EXPECT_TRUE(is(r.error, errc::compensation_failed)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("db down"), std::string::npos);
  EXPECT_EQ(script_->trace("compensate").size(), 5u);
  EXPECT_TRUE(store_->unfinished("", 10).ids.empty());
  expect_replay_matches(r);
}

TEST_F(engine, a_non_retryable_compensation_failure_is_retried_all_the_same) {
  // A compensation must eventually succeed: `retryable` only matters for
  // executes, and only the compensation policy gives up.
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::fail()});
  script_->plan("compensate:a", {reaction::fail("cannot undo yet"),
                                 reaction::fail("cannot undo yet")});
  auto slot = start(def);
  EXPECT_FALSE(slot->has_value()) << "ended after one call";
  advance(100ms); // backoff before attempt 2
  advance(200ms); // and before attempt 3
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::compensated);
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:a#1", "compensate:a#2", "compensate:a#3"}));
  expect_replay_matches(**slot);
}

TEST_F(
  engine,
  a_compensation_that_never_stops_failing_ends_failed_with_its_last_error) {
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::fail()});
  script_->plan("compensate:a",
                std::vector<reaction>(5, reaction::fail("cannot undo")));
  auto slot = start(def);
  for (int i = 0; i < 4; ++i)
    advance(1s);
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  EXPECT_EQ(r.state, saga_status::failed);
  EXPECT_TRUE(is(r.error, errc::compensation_failed)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("cannot undo"), std::string::npos);
  EXPECT_EQ(script_->trace("compensate").size(), 5u) << "the policy's 5";
  expect_replay_matches(r);
}

// -- step results ---------------------------------------------------------------------------

TEST_F(engine, results_are_visible_to_later_steps_and_to_compensation) {
  auto def = make_def({"a", "b", "c"});
  script_->plan("execute:a", {reaction::ok({{"txId", "tx-1"}})});
  script_->plan("execute:b", {reaction::ok({{"slot", 4}})});
  script_->plan("execute:c", {reaction::fail()});
  auto r = execute(def);
  ASSERT_EQ(r.state, saga_status::compensated);
  // calls: exec a, exec b, exec c, comp b, comp a
  ASSERT_EQ(script_->calls.size(), 5u);
  EXPECT_TRUE(script_->calls[0].results.empty());
  EXPECT_EQ(script_->calls[1].results["a"]["txId"], "tx-1");
  EXPECT_EQ(script_->calls[2].results["b"]["slot"], 4);
  EXPECT_EQ(script_->calls[3].str(), "compensate:b#1");
  EXPECT_EQ(script_->calls[3].results["b"]["slot"], 4);
  EXPECT_EQ(script_->calls[4].str(), "compensate:a#1");
  EXPECT_EQ(script_->calls[4].results["a"]["txId"], "tx-1");
  // Every call carries the saga id.
  for (const auto& c : script_->calls)
    EXPECT_EQ(c.id, r.saga_id);
}

// -- the saga log ---------------------------------------------------------------------------

TEST_F(engine, saga_log_shows_steps_attempts_results_and_events) {
  definition def{"logged"};
  def.step("a", "p-a")
    .step("b", "p-b")
    .retry(retry_policy{2, 10ms, 1.0, 10ms, 0.0})
    .step("c", "p-c");
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  add_participant("p-c", {"c"});
  script_->plan("execute:a", {reaction::ok({{"txId", "t"}})});
  script_->plan("execute:b", {reaction::fail_retryable("busy"),
                              reaction::fail("out of stock")});
  auto slot = start(def);
  advance(10ms);
  ASSERT_TRUE(slot->has_value());
  auto r = **slot;
  auto events = events_of(r.saga_id);
  auto st = replay(r.saga_id, events);
  ASSERT_TRUE(st);
  auto log = make_log(*st, events);
  EXPECT_EQ(log.saga_id, r.saga_id);
  EXPECT_EQ(log.name, "logged");
  EXPECT_EQ(log.status, saga_status::compensated);
  EXPECT_NE(log.error.find("out of stock"), std::string::npos);
  ASSERT_EQ(log.steps.size(), 3u);
  EXPECT_EQ(log.steps[0].status, step_status::compensated);
  EXPECT_EQ(log.steps[0].result, R"({"txId":"t"})");
  EXPECT_EQ(log.steps[0].compensation_attempts, 1u);
  EXPECT_EQ(log.steps[1].status, step_status::failed);
  EXPECT_EQ(log.steps[1].attempts, 2u);
  EXPECT_EQ(log.steps[1].error, "out of stock");
  EXPECT_EQ(log.steps[2].status, step_status::pending);
  EXPECT_EQ(log.steps[2].attempts, 0u);
  EXPECT_EQ(types_of(log.events),
            (std::vector<event_type>{
              event_type::saga_started, event_type::step_started,
              event_type::step_succeeded, event_type::step_started,
              event_type::step_attempt_failed, event_type::step_started,
              event_type::step_failed, event_type::compensation_started,
              event_type::step_compensating, event_type::step_compensated,
              event_type::saga_compensated}));
  auto text = to_string(log);
  EXPECT_NE(text.find("compensation_started"), std::string::npos);
}

// -- invalid definitions ------------------------------------------------------------------------

TEST_F(engine, invalid_definitions_are_rejected_before_anything_is_persisted) {
  add_participant("p-a", {"a"});
  std::vector<std::pair<definition, errc>> cases;
  cases.emplace_back(definition{"empty"}, errc::no_steps);
  cases.emplace_back(definition{"dup"}.step("a", "p-a").step("a", "p-a"),
                     errc::duplicate_step);
  cases.emplace_back(definition{"anon"}.step("", "p-a"), errc::empty_name);
  cases.emplace_back(definition{""}.step("a", "p-a"), errc::empty_name);
  cases.emplace_back(definition{"who"}.step("a", "nobody"),
                     errc::unknown_participant);
  cases.emplace_back(definition{"t"}.step("a", "p-a").timeout(0ms),
                     errc::invalid_timeout);
  cases
    .emplace_back(definition{"b"}.step("a", "p-a").retry(retry_policy{2, 0ms}),
                  errc::invalid_backoff);
  cases.emplace_back(definition{"p"}.step("a", "p-a", json::array({1, 2})),
                     errc::invalid_payload);
  for (auto& [def, code] : cases) {
    auto r = execute(def);
    EXPECT_TRUE(is(r.error, code))
      << def.name() << ": got " << describe(r.error);
    EXPECT_EQ(r.state, saga_status::pending);
    EXPECT_TRUE(r.saga_id.empty());
  }
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_TRUE(script_->calls.empty());
}

TEST_F(engine, unknown_participant_error_names_step_and_participant) {
  auto r = execute(definition{"who"}.step("pay", "bank"));
  EXPECT_NE(describe(r.error).find("'pay'"), std::string::npos);
  EXPECT_NE(describe(r.error).find("'bank'"), std::string::npos);
}

// -- unknown actions ------------------------------------------------------------------------------

TEST_F(engine, an_action_the_participant_lacks_fails_the_step) {
  add_supervised_participant("p-a", {"a"});
  auto r = execute(definition{"x"}.step("a", "p-a").step("zzz", "p-a"));
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_NE(describe(r.error).find("zzz"), std::string::npos);
}

// -- write-ahead ---------------------------------------------------------------------------------

class write_ahead : public engine {
protected:
  write_ahead() : gate_(std::make_shared<journal_gate>()) {
    gate_->store = store_;
    gated_ = spawn_gated_journal(*sys_, gate_);
    rt_ = std::make_unique<runtime>(*sys_,
                                    caf::actor_cast<journal_actor>(gated_),
                                    runtime_config{});
    run();
  }

  ~write_ahead() override {
    while (gate_->held > 0)
      release(false);
    rt_.reset();
    caf::anon_send_exit(gated_, caf::exit_reason::user_shutdown);
    run();
  }

  void release(bool ok) {
    caf::anon_send(gated_, gate_atom::value, ok);
    run();
  }

  std::shared_ptr<journal_gate> gate_;
  gated_journal_actor gated_;
};

TEST_F(write_ahead, no_command_leaves_before_its_intent_is_acknowledged) {
  auto def = make_def({"a", "b"});
  // Whenever a participant is asked, the journal already holds the intent.
  script_->observer = [this](const call& c) {
    auto events = store_->read(c.id);
    ASSERT_TRUE(events);
    auto want = c.op == "execute" ? event_type::step_started
                                  : event_type::step_compensating;
    auto step = c.step == "a" ? 0 : 1;
    auto found
      = std::any_of(events->begin(), events->end(), [&](const event& ev) {
          return ev.type == want && ev.step == step && ev.attempt == c.attempt;
        });
    EXPECT_TRUE(found) << c.str() << " left before its intent was durable";
  };
  script_->plan("execute:b", {reaction::fail()});
  auto slot = start(def);
  ASSERT_EQ(gate_->held, 1u);
  EXPECT_TRUE(script_->calls.empty()) << "a command left before the ack";
  // Release one append at a time; each unlocks exactly the next command.
  size_t releases = 0;
  while (gate_->held > 0) {
    auto calls_before = script_->calls.size();
    release(true);
    EXPECT_LE(script_->calls.size(), calls_before + 1);
    ++releases;
  }
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::compensated);
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "compensate:a#1"}));
  EXPECT_GE(releases, 4u);
}

TEST_F(write_ahead, local_participants_are_claimed_with_the_sagas_appends) {
  // Each command to a participant of the runtime goes out claimed by the
  // append that recorded its intent: the barrier asks the journal for no
  // claim of its own (one round trip less per step). That a pre-claim
  // decides and records as a claim is the journal conformance suite's.
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::fail()});
  auto slot = start(def);
  while (gate_->held > 0)
    release(true);
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::compensated);
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "compensate:a#1"}));
  EXPECT_EQ(gate_->claims, 0u);
}

/// Makes participant "bank" of `rt`: "pay" takes 30 from alice's balance,
/// its compensation gives them back if the payment was recorded.
void add_bank(runtime& rt) {
  rt.participant("bank").on(
    "pay",
    [](const step_context&, const json&) {
      return step_outcome::ok({{"paid", 30}})
        .atomically({effect::incr_by("balance", "alice", -30)});
    },
    [](const step_context& ctx, const json&) {
      if (!ctx.execute_recorded())
        return step_outcome::ok();
      return step_outcome::ok().atomically(
        {effect::incr_by("balance", "alice", 30)});
    });
}

TEST_F(write_ahead, a_local_participants_outcome_rides_with_the_next_append) {
  // The participant answers the saga with its outcome unrecorded; the
  // saga's append that says the step succeeded records it and applies its
  // effects, in one write: no barrier request of the participant's own.
  add_bank(*rt_);
  definition def{"pay-once"};
  def.step("pay", "bank");
  auto slot = start(def);
  ASSERT_EQ(gate_->held, 1u);
  release(true);              // saga_started + step_started, pre-claiming pay
  ASSERT_EQ(gate_->held, 1u); // step_succeeded + saga_completed
  EXPECT_TRUE(store_->read_hash("balance").empty())
    << "the effects landed before the event that records them";
  release(true);
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::completed);
  EXPECT_EQ(store_->read_hash("balance")["alice"], "-30");
  EXPECT_EQ(gate_->claims, 0u);
  EXPECT_EQ(gate_->records, 0u);
  // Recorded: a copy of the command is answered from the record.
  auto copy = store_->claim((*slot)->saga_id, "pay", barrier_op::execute,
                            "1:copy-1");
  EXPECT_EQ(copy.verdict, barrier_verdict::duplicate);
  EXPECT_EQ(copy.reply.result, R"({"paid":30})");
}

TEST_F(write_ahead, an_outcome_whose_claim_was_taken_restarts_the_saga) {
  // Between the participant's answer and the saga's append, another claim
  // (a compensation elsewhere, say) revoked the payment's: the append
  // fails whole, nothing of the outcome lands, and the restarted saga
  // learns from the barrier that the payment was refused, then ends.
  add_bank(*rt_);
  definition def{"pay-revoked"};
  def.step("pay", "bank").retry(retry_policy{1, 10ms, 1.0, 10ms, 0.0});
  auto slot = start(def);
  release(true);
  ASSERT_EQ(gate_->held, 1u); // step_succeeded with the outcome
  auto id = gate_->store->unfinished("", 10).ids.at(0);
  auto revoke = store_->claim(id, "pay", barrier_op::compensate, "1:other-1");
  EXPECT_TRUE(revoke.execute_unrecorded);
  release(true); // refused: the claim is no longer the payment's
  EXPECT_EQ(events_of(id).size(), 2u) << "the append landed";
  advance(1s); // restart backoff
  while (gate_->held > 0)
    release(true);
  ASSERT_TRUE(slot->has_value()) << "the saga did not end";
  EXPECT_FALSE((*slot)->success);
  EXPECT_TRUE(store_->read_hash("balance").empty())
    << "the revoked payment's effects landed";
}

TEST_F(write_ahead, a_failed_append_restarts_the_saga_and_then_parks_it) {
  auto def = make_def({"a"});
  auto slot = start(def);
  // Every incarnation's first append fails: the saga actor crashes, its
  // supervisor restarts it (with backoff), and past the per-saga limit (5 in
  // 60s) the saga is parked failed. No command ever leaves.
  for (int crashes = 0; crashes < 6; ++crashes) {
    ASSERT_EQ(gate_->held, 1u) << "after " << crashes << " crashes";
    release(false);
    advance(1s); // restart backoff
  }
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->state, saga_status::failed);
  EXPECT_TRUE(is((*slot)->error, errc::saga_parked))
    << describe((*slot)->error);
  EXPECT_NE(describe((*slot)->error).find("disk on fire"), std::string::npos);
  EXPECT_TRUE(script_->calls.empty());
  EXPECT_EQ(store_->size(), 0u);
}

// -- resuming from the journal --------------------------------------------------------------------

TEST_F(engine, recover_resumes_a_saga_whose_node_stopped_mid_step) {
  auto def = make_def({"a", "b", "c"});
  script_->plan("execute:b", {reaction::hang()});
  auto slot = start(def);
  ASSERT_EQ(script_->trace().back(), "execute:b#1");
  restart_runtime();
  EXPECT_FALSE(slot->has_value() && (*slot)->success);
  EXPECT_EQ(recover(), 1u);
  // The intent to run b#1 was durable: b#1 is sent again (at least once),
  // then the saga carries on.
  EXPECT_EQ(script_->trace(), (strings{"execute:a#1", "execute:b#1",
                                       "execute:b#1", "execute:c#1"}));
  EXPECT_TRUE(store_->unfinished("", 10).ids.empty());
  auto st = replay(script_->calls.back().id,
                   events_of(script_->calls.back().id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::completed);
  auto started = std::count_if(st->steps.begin(), st->steps.end(),
                               [](const step_state& x) {
                                 return x.status == step_status::completed;
                               });
  EXPECT_EQ(started, 3);
  EXPECT_EQ(recover(), 0u) << "nothing is left to recover";
}

TEST_F(engine, a_failure_of_an_attempt_sent_again_after_a_restart_is_no_proof) {
  // The first incarnation sent b#1 (its last attempt) and stopped; the
  // command may have taken effect. The next incarnation sends b#1 again
  // and gets a failure (here: the participant is not reachable from the
  // new node). That failure does not show that b#1 took no effect, so the
  // saga compensates b (outcome unknown), then a. Found by the chaos
  // campaign, seed 20261201 (docs/chaos.md).
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::hang(),
                              reaction::fail_retryable("no route from here")});
  auto slot = start(def);
  ASSERT_EQ(script_->trace().back(), "execute:b#1");
  restart_runtime();
  EXPECT_EQ(recover(), 1u);
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "execute:b#1",
                     "compensate:b#1", "compensate:a#1"}));
  auto id = script_->calls.back().id;
  auto st = replay(id, events_of(id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::compensated);
  EXPECT_TRUE(st->steps[1].outcome_unknown);
  EXPECT_NE(st->steps[1].error.find("sent again after a restart, then: no "
                                    "route from here"),
            std::string::npos)
    << st->steps[1].error;
}

TEST_F(engine, recover_resumes_a_compensation) {
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", {reaction::fail()});
  script_->plan("compensate:a", {reaction::hang()});
  start(def);
  ASSERT_EQ(script_->trace().back(), "compensate:a#1");
  restart_runtime();
  EXPECT_EQ(recover(), 1u);
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:a#1", "compensate:a#1"}));
  auto st = replay(script_->calls.back().id,
                   events_of(script_->calls.back().id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::compensated);
}

TEST_F(engine, recover_times_out_an_abandoned_step_and_compensates_it) {
  definition def{"abandoned"};
  def.step("a", "p-a").step("b", "p-b").timeout(5s).deadline(1s);
  add_participant("p-a", {"a"});
  add_participant("p-b", {"b"});
  script_->plan("execute:b", {reaction::hang()});
  start(def);
  advance(1s); // deadline: compensating, b still in flight
  auto id = script_->calls.back().id;
  restart_runtime();
  EXPECT_EQ(recover(), 1u);
  // Nobody waits for b's reply any more: its outcome is unknown, so it is
  // compensated, then a.
  EXPECT_EQ(script_->trace("compensate"),
            (strings{"compensate:b#1", "compensate:a#1"}));
  auto events = events_of(id);
  auto st = replay(id, events);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::compensated);
  EXPECT_TRUE(st->steps[1].outcome_unknown);
}

TEST_F(engine, recover_does_not_start_a_running_saga_twice) {
  auto def = make_def({"a"});
  script_->plan("execute:a", {reaction::hang()});
  auto slot = start(def);
  EXPECT_EQ(recover(), 0u);
  EXPECT_EQ(script_->trace(), (strings{"execute:a#1"}));
  answer("execute:a#1", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success);
}

TEST_F(engine, recover_resumes_a_saga_whose_participant_is_not_registered_yet) {
  // Recovery claimed the saga: if it did not run it, nobody would (a fresh
  // cluster node whose first pass had not connected the participant node
  // left such sagas behind). It runs; its attempts count as lost until the
  // participant registers.
  add_participant("p-a", {"a"});
  definition def{"late-participant"};
  def.step("a", "p-a")
    .timeout(1s)
    .retry(retry_policy{3, 100ms, 1.0, 100ms, 0.0});
  script_->plan("execute:a", {reaction::hang()});
  start(def);
  auto id = script_->calls.back().id;
  // Restart without any participants.
  script_->hung.clear();
  rt_.reset();
  run();
  rt_ = std::make_unique<runtime>(*sys_, journal_, runtime_config{});
  run();
  EXPECT_EQ(recover(), 1u);
  add_participant("p-a", {"a"});
  advance(100ms);
  auto st = replay(id, events_of(id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::completed);
  // Attempt 1, resumed, went to the unregistered participant and was lost;
  // attempt 2 found it.
  EXPECT_EQ(script_->trace(), (strings{"execute:a#1", "execute:a#2"}));
}

TEST_F(engine, recover_with_the_compensate_policy_undoes_completed_steps) {
  auto def = make_def({"a", "b", "c"});
  script_->plan("execute:b", {reaction::hang()});
  start(def);
  auto id = script_->calls.back().id;
  runtime_config cfg;
  cfg.recovery = recovery_policy::compensate;
  restart_runtime(cfg);
  EXPECT_EQ(recover(), 1u);
  // b was in flight when the node died: its outcome is unknown, so it is
  // compensated along with a; c never runs.
  EXPECT_EQ(script_->trace(), (strings{"execute:a#1", "execute:b#1",
                                       "compensate:b#1", "compensate:a#1"}));
  auto st = replay(id, events_of(id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::compensated);
  EXPECT_EQ(st->error_code, errc::recovered_compensate);
}

TEST_F(engine, recovery_runs_at_most_recovery_concurrency_sagas_at_once) {
  auto def = make_def({"a"});
  script_->plan("execute:a", std::vector<reaction>(5, reaction::hang()));
  for (int i = 0; i < 5; ++i)
    start(def);
  ASSERT_EQ(store_->unfinished("", 10).ids.size(), 5u);
  runtime_config cfg;
  cfg.recovery_concurrency = 2;
  restart_runtime(cfg);
  script_->calls.clear();
  script_->plan("execute:a", std::vector<reaction>(5, reaction::hang()));
  auto count = std::make_shared<std::optional<uint64_t>>();
  auto coord = rt_->coordinator();
  sys_->spawn([coord, count](caf::event_based_actor* self) {
    self->request(coord, caf::infinite, recover_atom::value)
      .then([count](uint64_t n) { *count = n; });
  });
  run();
  // Only two resumed sagas run; the walk waits for one of them to end.
  EXPECT_EQ(script_->calls.size(), 2u);
  EXPECT_FALSE(count->has_value());
  while (!script_->hung.empty()) {
    auto key = script_->hung.begin()->first;
    EXPECT_LE(script_->hung[key].size(), 2u);
    answer(key, step_outcome::ok());
  }
  ASSERT_TRUE(count->has_value());
  EXPECT_EQ(**count, 5u);
  EXPECT_EQ(script_->calls.size(), 5u);
  EXPECT_TRUE(store_->unfinished("", 10).ids.empty());
}

TEST_F(engine, a_flood_of_sagas_waits_in_a_bounded_queue) {
  runtime_config cfg;
  cfg.max_active_sagas = 2;
  cfg.max_queued_sagas = 1;
  restart_runtime(cfg);
  auto def = make_def({"a"});
  script_->plan("execute:a", std::vector<reaction>(3, reaction::hang()));
  auto s1 = start(def);
  auto s2 = start(def);
  auto s3 = start(def); // queued
  auto s4 = start(def); // refused
  EXPECT_EQ(script_->calls.size(), 2u);
  ASSERT_TRUE(s4->has_value());
  EXPECT_TRUE(is((*s4)->error, errc::overloaded)) << describe((*s4)->error);
  EXPECT_FALSE(s3->has_value());
  answer("execute:a#1", step_outcome::ok());
  EXPECT_EQ(script_->calls.size(), 3u) << "the queued saga starts";
  while (!script_->hung.empty())
    answer(script_->hung.begin()->first, step_outcome::ok());
  for (auto& slot : {s1, s2, s3}) {
    ASSERT_TRUE(slot->has_value());
    EXPECT_TRUE((*slot)->success);
  }
}

// -- self-healing ----------------------------------------------------------------------------------

TEST_F(engine, a_crashed_saga_actor_resumes_from_the_journal) {
  auto def = make_def({"a", "b", "c"});
  script_->plan("execute:b", {reaction::hang()});
  auto slot = start(def);
  auto id = script_->calls.back().id;
  auto first = saga_actor_of(id);
  ASSERT_TRUE(first);
  caf::anon_send(first, crash_atom::value);
  run();
  advance(10ms); // restart backoff
  auto second = saga_actor_of(id);
  ASSERT_TRUE(!second || second != first);
  // The new incarnation replayed the journal and re-sent only what was in
  // flight (b#1), then went on; the caller of execute() got the result.
  EXPECT_EQ(script_->trace(), (strings{"execute:a#1", "execute:b#1",
                                       "execute:b#1", "execute:c#1"}));
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success) << describe((*slot)->error);
  auto st = replay(id, events_of(id));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, saga_status::completed);
}

TEST_F(engine, a_saga_crashing_again_and_again_is_parked_and_others_go_on) {
  auto def = make_def({"a", "b"});
  script_->plan("execute:b", std::vector<reaction>(10, reaction::hang()));
  auto poisoned = start(def);
  auto id = script_->calls.back().id;
  for (int crash = 0; crash < 6; ++crash) {
    auto h = saga_actor_of(id);
    ASSERT_TRUE(h) << "crash " << crash;
    caf::anon_send(h, crash_atom::value);
    run();
    advance(1s);
  }
  ASSERT_TRUE(poisoned->has_value());
  EXPECT_EQ((*poisoned)->state, saga_status::failed);
  EXPECT_TRUE(is((*poisoned)->error, errc::saga_parked))
    << describe((*poisoned)->error);
  EXPECT_NE(describe((*poisoned)->error).find("injected fault"),
            std::string::npos);
  auto events = events_of(id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, event_type::saga_parked);
  EXPECT_TRUE(store_->unfinished("", 10).ids.empty());
  // The node keeps working.
  script_->plans["execute:b"].clear(); // b answers at once now
  auto healthy = start(def);
  ASSERT_TRUE(healthy->has_value());
  EXPECT_TRUE((*healthy)->success) << describe((*healthy)->error);
}

TEST_F(engine, a_crashed_participant_is_restarted_and_the_step_retried) {
  definition def{"participant-crash"};
  def.step("a", "p-a")
    .step("b", "p-b")
    .timeout(1s)
    .retry(retry_policy{2, 10ms, 1.0, 10ms, 0.0});
  add_participant("p-a", {"a"});
  add_supervised_participant("p-b", {"b"});
  script_->plan("execute:b", {reaction::hang()});
  auto slot = start(def);
  auto before = rt_->participant("p-b").handle();
  caf::anon_send(caf::actor_cast<caf::actor>(before), crash_atom::value);
  run();
  advance(10ms); // participant restart backoff
  auto after = rt_->participant("p-b").handle();
  ASSERT_TRUE(after);
  EXPECT_NE(after, before) << "the participant was not restarted";
  advance(1s);   // the in-flight attempt times out
  advance(10ms); // retry backoff
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success) << describe((*slot)->error);
  EXPECT_EQ(script_->trace(),
            (strings{"execute:a#1", "execute:b#1", "execute:b#2"}));
}

// -- bad input (docs/bad-input.md) --------------------------------------------------
//
// What a participant does with commands it cannot run, what the coordinator
// does with a definition it cannot start, and what a bad configuration
// does: the error names the problem, and nothing is persisted or applied.

class bad_input : public engine_fixture {
protected:
  /// Sends `cmd` to participant `name` and returns its reply (or the error
  /// as the reply's text).
  step_reply send(const std::string& name, bool compensate,
                  const step_command& cmd) {
    auto reply = std::make_shared<std::optional<step_reply>>();
    auto p = rt_->participant(name).handle();
    sys_->spawn([=](caf::event_based_actor* self) {
      auto on_reply = [reply](step_reply& r) { *reply = std::move(r); };
      auto on_error = [reply](caf::error& err) {
        step_reply r;
        r.error = "error: " + describe(err);
        *reply = std::move(r);
      };
      if (compensate)
        self->request(p, caf::infinite, compensate_atom::value, cmd)
          .then(on_reply, on_error);
      else
        self->request(p, caf::infinite, execute_atom::value, cmd)
          .then(on_reply, on_error);
    });
    run();
    EXPECT_TRUE(reply->has_value())
      << "participant '" << name << "' did not answer";
    return reply->value_or(step_reply{});
  }

  static step_command command(std::string action, std::string payload = "{}",
                              std::string results = "{}") {
    step_command cmd;
    cmd.id = "bad-1";
    cmd.saga_name = "bad";
    cmd.step = "buy";
    cmd.action = std::move(action);
    cmd.payload = std::move(payload);
    cmd.results = std::move(results);
    return cmd;
  }

  /// Registers participant "shop" with action "buy", counting handler runs.
  void add_shop() {
    rt_->participant("shop").on(
      "buy",
      [this](const step_context&, const json&) {
        ++runs_;
        return step_outcome::ok({{"bought", true}});
      },
      [this](const step_context&, const json&) {
        ++runs_;
        return step_outcome::ok();
      });
    run();
  }

  /// Whether the barrier holds no success of (saga "bad-1", step "buy"):
  /// nothing, or a failed attempt's record (which answers its copies); a
  /// probe claim of the execute proceeds then (it is forgotten again).
  bool no_record() {
    auto c = store_->claim("bad-1", "buy", barrier_op::execute, "probe");
    if (c.verdict == barrier_verdict::duplicate && !c.reply.ok)
      return true; // a failed attempt's record: no effect
    if (c.verdict != barrier_verdict::proceed)
      return false;
    step_reply failed;
    failed.error = "probe";
    auto done = store_->done("bad-1", "buy", barrier_op::execute, "probe",
                             failed);
    return done && *done;
  }

  int runs_ = 0;
};

TEST_F(bad_input, a_command_for_an_unknown_action_fails_and_records_nothing) {
  add_shop();
  for (bool compensate : {false, true}) {
    auto r = send("shop", compensate, command("sell"));
    if (compensate) {
      // Nothing executed: a null compensation, whatever the action.
      EXPECT_TRUE(r.ok) << r.error;
      continue;
    }
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.retryable) << "a missing action does not come back";
    EXPECT_NE(r.error.find("participant 'shop' has no action 'sell'"),
              std::string::npos)
      << r.error;
    EXPECT_TRUE(no_record());
  }
  EXPECT_EQ(runs_, 0);
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(bad_input, payload_or_results_that_are_not_json_objects_run_no_handler) {
  add_shop();
  rt_->participant("async").on_async(
    "buy",
    [this](const step_context&, const json&, responder r) {
      ++runs_;
      r.deliver(step_outcome::ok());
    },
    [](const step_context&, const json&, responder r) {
      r.deliver(step_outcome::ok());
    });
  run();
  const std::pair<step_command, const char*> cases[] = {
    {command("buy", "{\"sku\": "), "payload of step 'buy' is not valid JSON"},
    {command("buy", "[1, 2]"),
     "payload of step 'buy' is not a JSON object but array"},
    {command("buy", "\"sku\""),
     "payload of step 'buy' is not a JSON object but string"},
    {command("buy", "{}", "{\"a\": "),
     "results sent with step 'buy' are not valid JSON"},
    {command("buy", "{\"x\": " + std::string(100'000, '[')
                      + std::string(100'000, ']') + "}"),
     "payload of step 'buy' nests deeper than 256 levels"},
    {command("buy", "{}",
             "{\"a\": " + std::string(300, '[') + std::string(300, ']') + "}"),
     "results sent with step 'buy' nest deeper than 256 levels"},
  };
  uint32_t attempt = 0;
  for (const char* who : {"shop", "async"}) {
    for (const auto& [given, needle] : cases) {
      // Each its own attempt: the barrier answers a copy of a failed
      // attempt with that attempt's failure.
      auto cmd = given;
      cmd.attempt = ++attempt;
      SCOPED_TRACE(std::string{who} + ": payload '" + cmd.payload.substr(0, 40)
                   + "', results '" + cmd.results.substr(0, 40) + "'");
      auto r = send(who, false, cmd);
      EXPECT_FALSE(r.ok);
      EXPECT_FALSE(r.retryable);
      EXPECT_NE(r.error.find(needle), std::string::npos) << r.error;
      EXPECT_TRUE(no_record());
    }
  }
  EXPECT_EQ(runs_, 0);
  // A well-formed command still runs (and is recorded).
  auto good = command("buy", "{\"sku\": 1}");
  good.attempt = ++attempt;
  auto ok = send("shop", false, good);
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(runs_, 1);
  EXPECT_FALSE(no_record());
}

TEST_F(bad_input, a_command_without_saga_id_or_step_is_refused_unrun) {
  add_shop();
  auto no_id = command("buy");
  no_id.id.clear();
  auto no_step = command("buy");
  no_step.step.clear();
  for (bool compensate : {false, true}) {
    auto r = send("shop", compensate, no_id);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.error.find("malformed step_command: no saga id"),
              std::string::npos)
      << r.error;
    r = send("shop", compensate, no_step);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("malformed step_command: no step name"),
              std::string::npos)
      << r.error;
  }
  EXPECT_EQ(runs_, 0);
  auto c = store_->claim("", "buy", barrier_op::execute, "probe");
  EXPECT_EQ(c.verdict, barrier_verdict::proceed) << "a record under no id";
}

TEST_F(bad_input,
       a_handler_that_throws_anything_fails_its_step_with_the_reason) {
  rt_->participant("thrower")
    .on(
      "std",
      [](const step_context&, const json&) -> step_outcome {
        throw std::runtime_error("disk on fire");
      },
      [](const step_context&, const json&) { return step_outcome::ok(); })
    .on(
      "int", [](const step_context&, const json&) -> step_outcome { throw 42; },
      [](const step_context&, const json&) { return step_outcome::ok(); })
    .on_async(
      "async_std",
      [](const step_context&, const json&, responder) {
        throw std::runtime_error("async disk on fire");
      },
      [](const step_context&, const json&, responder r) {
        r.deliver(step_outcome::ok());
      })
    .on_async(
      "async_int",
      [](const step_context&, const json&, responder) { throw 42; },
      [](const step_context&, const json&, responder r) {
        r.deliver(step_outcome::ok());
      });
  run();
  const std::pair<const char*, const char*> cases[] = {
    {"std", "handler threw: disk on fire"},
    {"int", "handler threw a non-standard exception"},
    {"async_std", "handler threw: async disk on fire"},
    {"async_int", "handler threw a non-standard exception"},
  };
  auto before = rt_->participant("thrower").handle();
  uint32_t attempt = 0;
  for (auto [action, needle] : cases) {
    SCOPED_TRACE(action);
    auto cmd = command(action);
    cmd.attempt = ++attempt; // a copy of a failed attempt gets its failure
    auto r = send("thrower", false, cmd);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find(needle), std::string::npos) << r.error;
    EXPECT_TRUE(no_record());
  }
  // The participant did not crash on any of them.
  EXPECT_EQ(rt_->participant("thrower").handle(), before);
}

TEST_F(bad_input, an_action_without_a_compensation_handler_fails_its_undo) {
  rt_->participant("oneway").on(
    "buy", [](const step_context&, const json&) { return step_outcome::ok(); },
    step_handler{});
  run();
  ASSERT_TRUE(send("oneway", false, command("buy")).ok);
  auto r = send("oneway", true, command("buy"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no handler for action 'buy'"), std::string::npos)
    << r.error;
}

TEST_F(bad_input, bad_atomic_effects_fail_the_step_and_apply_nothing) {
  rt_->participant("bank").on(
    "pay",
    [](const step_context&, const json&) {
      return step_outcome::ok().atomically(
        {effect::incr_by("balance", "alice", -30),
         effect::hset("", "paid", "30")});
    },
    [](const step_context&, const json&) { return step_outcome::ok(); });
  run();
  definition def{"bad-effect"};
  def.step("pay", "bank")
    .timeout(1s)
    .retry(retry_policy{2, 10ms, 1.0, 10ms, 0.0});
  auto slot = start(def);
  advance(10ms); // the retry's backoff
  ASSERT_TRUE(slot->has_value()) << "the saga did not end";
  const auto& r = **slot;
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  // The barrier could not record the outcome, so the participant cannot
  // vouch that nothing happened: outcome unknown, compensated like a
  // timed-out step.
  EXPECT_TRUE(is(r.error, errc::step_timeout)) << describe(r.error);
  auto text = describe(r.error);
  EXPECT_NE(text.find("outcome_unknown"), std::string::npos) << text;
  EXPECT_NE(text.find("atomic effect 2 (hset) has an empty key"),
            std::string::npos)
    << text;
  // Neither attempt applied its first, valid effect.
  EXPECT_TRUE(store_->read_hash("balance").empty());
  EXPECT_TRUE(store_->read_hash("").empty());
}

TEST_F(bad_input, a_null_definition_is_refused_and_nothing_is_persisted) {
  auto result = std::make_shared<std::optional<saga_result>>();
  auto coord = rt_->coordinator();
  sys_->spawn([coord, result](caf::event_based_actor* self) {
    self->request(coord, caf::infinite, run_atom::value, definition_ptr{})
      .then([result](saga_result& r) { *result = std::move(r); },
            [result](caf::error& err) {
              saga_result r;
              r.error = std::move(err);
              *result = std::move(r);
            });
  });
  run();
  ASSERT_TRUE(result->has_value());
  EXPECT_TRUE(is((*result)->error, errc::no_steps))
    << describe((*result)->error);
  EXPECT_NE(describe((*result)->error).find("no definition was given"),
            std::string::npos);
  EXPECT_TRUE((*result)->saga_id.empty());
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(bad_input, every_bad_runtime_setting_is_named_and_refuses_sagas) {
  using change = std::function<void(runtime_config&)>;
  const std::pair<change, const char*> cases[] = {
    {[](runtime_config& c) { c.journal_url.clear(); }, "journal_url is empty"},
    {[](runtime_config& c) { c.journal_timeout = 0ms; },
     "journal_timeout must be positive"},
    {[](runtime_config& c) { c.journal_timeout = -1ms; },
     "journal_timeout must be positive"},
    {[](runtime_config& c) { c.blocking_workers = 0; },
     "blocking_workers must be at least 1"},
    {[](runtime_config& c) { c.recovery_concurrency = 0; },
     "recovery_concurrency must be at least 1"},
    {[](runtime_config& c) { c.max_active_sagas = 0; },
     "max_active_sagas must be at least 1"},
    {[](runtime_config& c) { c.journal.writers = 0; },
     "journal.writers and journal.max_batch must be at least 1"},
    {[](runtime_config& c) { c.journal.max_batch = 0; },
     "journal.writers and journal.max_batch must be at least 1"},
    {[](runtime_config& c) { c.journal.node_id.clear(); },
     "journal.node_id is empty"},
    {[](runtime_config& c) { c.journal.node_id = "a/b"; },
     "journal.node_id 'a/b' may hold only letters, digits"},
    {[](runtime_config& c) { c.journal.node_id = "{x}"; },
     "journal.node_id '{x}' may hold only"},
    {[](runtime_config& c) { c.saga_restarts.max_restarts = 0; },
     "restart intensities must allow at least 1 restart"},
    {[](runtime_config& c) { c.supervisor_restarts.max_restarts = 0; },
     "restart intensities must allow at least 1 restart"},
    {[](runtime_config& c) { c.journal.retention = std::chrono::seconds{0}; },
     "journal.retention must be positive"},
  };
  for (const auto& [apply, needle] : cases) {
    SCOPED_TRACE(needle);
    runtime_config cfg;
    apply(cfg);
    auto err = cfg.validate();
    EXPECT_TRUE(is(err, errc::invalid_config)) << describe(err);
    EXPECT_NE(describe(err).find(needle), std::string::npos) << describe(err);
  }
  EXPECT_FALSE(runtime_config{}.validate());
  // A runtime made with a bad setting answers every saga with that error
  // and persists nothing.
  runtime_config bad;
  bad.blocking_workers = 0;
  restart_runtime(bad);
  EXPECT_TRUE(is(rt_->start_error(), errc::invalid_config));
  auto r = execute(definition{"x"}.step("a", "p-a"));
  EXPECT_TRUE(is(r.error, errc::invalid_config)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("blocking_workers"), std::string::npos);
  EXPECT_TRUE(r.saga_id.empty());
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_TRUE(script_->calls.empty());
}

TEST_F(bad_input, operator_calls_in_the_wrong_state_are_refused_naming_why) {
  // Operator calls on the coordinator (what rt.retry / rt.abort and the
  // admin API send), each answered with the reason and changing nothing.
  auto call = [this](bool abort, const saga_id& id) {
    auto out = std::make_shared<std::optional<caf::expected<saga_status>>>();
    auto coord = rt_->coordinator();
    sys_->spawn([=](caf::event_based_actor* self) {
      auto ok = [out](saga_status st) { *out = st; };
      auto bad = [out](caf::error& err) { *out = std::move(err); };
      if (abort)
        self
          ->request(coord, caf::infinite, abort_atom::value, id,
                    std::string{"alice"})
          .then(ok, bad);
      else
        self
          ->request(coord, caf::infinite, retry_atom::value, id,
                    std::string{"alice"})
          .then(ok, bad);
    });
    run();
    EXPECT_TRUE(out->has_value()) << "no answer";
    return out->value_or(caf::expected<saga_status>{saga_status::pending});
  };
  auto expect_refused = [](const caf::expected<saga_status>& x, errc code,
                           const std::string& needle) {
    ASSERT_FALSE(x) << "accepted: " << to_string(*x);
    EXPECT_TRUE(is(x.error(), code)) << describe(x.error());
    EXPECT_NE(describe(x.error()).find(needle), std::string::npos)
      << describe(x.error());
  };
  // Unknown sagas.
  expect_refused(call(false, "no-such-saga"), errc::unknown_saga,
                 "no saga 'no-such-saga'");
  expect_refused(call(true, "no-such-saga"), errc::unknown_saga,
                 "no saga 'no-such-saga'");
  // A running saga past its pivot only goes forward.
  add_participant("p-a", {"a", "b"});
  script_->plan("execute:b", {reaction::hang()});
  definition pivoted{"pivoted"};
  pivoted.step("a", "p-a").pivot().step("b", "p-a").timeout(60s);
  auto slot = start(pivoted);
  ASSERT_FALSE(slot->has_value());
  ASSERT_FALSE(script_->calls.empty());
  auto id = script_->calls.back().id;
  auto events = events_of(id).size();
  expect_refused(call(true, id), errc::invalid_state,
                 "has passed its pivot step 'a'");
  expect_refused(call(false, id), errc::invalid_state,
                 "only a failed saga can be retried");
  EXPECT_EQ(events_of(id).size(), events) << "a refused call wrote events";
  answer("execute:b#1", step_outcome::ok());
  ASSERT_TRUE(slot->has_value());
  EXPECT_TRUE((*slot)->success) << describe((*slot)->error);
  // An ended saga can be neither aborted nor retried.
  events = events_of(id).size();
  expect_refused(call(true, id), errc::invalid_state,
                 "only a running saga can be aborted");
  expect_refused(call(false, id), errc::invalid_state,
                 "only a failed saga can be retried");
  EXPECT_EQ(events_of(id).size(), events);
  // A saga running elsewhere (here: left by the runtime before this one)
  // is aborted on the node that owns it, not here.
  script_->plan("execute:b", {reaction::hang()});
  definition left{"left"};
  left.step("b", "p-a").timeout(60s);
  start(left);
  auto other = script_->calls.back().id;
  restart_runtime();
  events = events_of(other).size();
  expect_refused(call(true, other), errc::no_route,
                 "is not running on this node; abort it on the node that "
                 "owns it");
  EXPECT_EQ(events_of(other).size(), events);
}

} // namespace
} // namespace saga::test
