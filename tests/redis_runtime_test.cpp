// Sagas on the Redis journal, end to end, against real redis-server
// processes: what lands in Redis replays to the live result; recovery
// across runtimes; a Redis restart while sagas run; Redis errors.

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/await_saga.hpp"
#include "tests/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

using strings = std::vector<std::string>;

step_outcome ok(const step_context&, const json&) {
  return step_outcome::ok({{"done", true}});
}

/// Returns a runtime on Redis whose node id is unique to the running test.
std::unique_ptr<runtime> redis_runtime(const std::string& url,
                                       runtime_config cfg = {}) {
  cfg.journal_url = url;
  cfg.journal.node_id
    = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return std::make_unique<runtime>(cfg);
}

std::vector<event_type> types_of(const std::vector<event>& xs) {
  std::vector<event_type> result;
  for (const auto& x : xs)
    result.push_back(x.type);
  return result;
}

/// Checks that the history in Redis replays to `live`.
void expect_replay_matches(runtime& rt, const saga_result& live) {
  auto log = rt.saga_log(live.saga_id);
  ASSERT_TRUE(log) << "no history for " << live.saga_id;
  auto st = replay(live.saga_id, log->events);
  ASSERT_TRUE(st) << describe(st.error());
  auto r = summarize(*st);
  EXPECT_EQ(r.state, live.state);
  EXPECT_EQ(r.completed_steps, live.completed_steps);
  EXPECT_EQ(r.compensated_steps, live.compensated_steps);
  EXPECT_EQ(r.failed_step, live.failed_step);
  EXPECT_EQ(describe(r.error), describe(live.error));
}

/// A participant that fails `fail_at` (if any) and succeeds otherwise.
void add_steps(runtime& rt, const strings& names, const std::string& fail_at,
               int retryable_failures = 0) {
  auto remaining = std::make_shared<std::atomic<int>>(retryable_failures);
  auto& p = rt.participant("p");
  for (const auto& n : names)
    p.on(
      n,
      [n, fail_at, remaining](const step_context& ctx, const json& data) {
        if (n == fail_at)
          return step_outcome::fail("no " + n);
        if (data.value("flaky", false) && remaining->fetch_sub(1) > 0)
          return step_outcome::fail("busy", true);
        return ok(ctx, data);
      },
      ok);
}

definition steps_def(const strings& names, bool flaky_second = false) {
  definition d{"redis-scenario"};
  for (size_t i = 0; i < names.size(); ++i)
    d.step(names[i], "p", json{{"flaky", flaky_second && i == 1}})
      .timeout(10s)
      .retry(retry_policy{3, 1ms, 1.0, 1ms, 0.0});
  return d;
}

/// Runs a scenario on both journals; the event sequences must be equal and
/// the Redis history must replay to the live result.
void check_scenario(const strings& names, const std::string& fail_at,
                    int retryable_failures = 0) {
  auto on_redis = redis_runtime(shared_server().url());
  ASSERT_FALSE(on_redis->start_error()) << describe(on_redis->start_error());
  add_steps(*on_redis, names, fail_at, retryable_failures);
  auto def = steps_def(names, retryable_failures > 0);
  auto live = on_redis->execute(def).get();
  expect_replay_matches(*on_redis, live);
  runtime in_memory;
  add_steps(in_memory, names, fail_at, retryable_failures);
  auto mem = in_memory.execute(def).get();
  EXPECT_EQ(mem.state, live.state);
  auto a = on_redis->saga_log(live.saga_id);
  auto b = in_memory.saga_log(mem.saga_id);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(types_of(a->events), types_of(b->events));
}

TEST(redis_runtime, success_lands_in_redis_and_replays) {
  check_scenario({"a", "b", "c"}, "");
}

TEST(redis_runtime, failure_at_each_position_lands_in_redis_and_replays) {
  for (auto fail_at : {"a", "b", "c"})
    check_scenario({"a", "b", "c"}, fail_at);
}

TEST(redis_runtime, retries_land_in_redis_and_replay) {
  check_scenario({"a", "b", "c"}, "", 2);
}

/// A raw participant (no barrier): b's execute never answers; a's first
/// compensation fails; everything else succeeds.
participant_actor::behavior_type silent_b(participant_actor::pointer self,
                                          std::shared_ptr<int> comp_failures) {
  return {
    [self](execute_atom, const step_command& cmd) -> caf::result<step_reply> {
      if (cmd.step == "b")
        return self->template make_response_promise<step_reply>(); // never
      step_reply r;
      r.ok = true;
      return r;
    },
    [comp_failures](compensate_atom, const step_command& cmd) {
      step_reply r;
      r.ok = !(cmd.step == "a" && (*comp_failures)-- > 0);
      r.retryable = true;
      r.error = r.ok ? "" : "db down";
      return r;
    },
  };
}

TEST(redis_runtime, timeouts_and_compensation_retries_land_in_redis) {
  auto rt = redis_runtime(shared_server().url());
  auto p = rt->system().spawn(silent_b, std::make_shared<int>(1));
  rt->register_participant("p", p);
  definition d{"timeouts"};
  d.step("a", "p")
    .compensation_retry(retry_policy{3, 1ms, 1.0, 1ms, 0.0})
    .step("b", "p")
    .timeout(50ms)
    .retry(retry_policy{2, 1ms, 1.0, 1ms, 0.0});
  auto live = rt->execute(d).get();
  EXPECT_EQ(live.state, saga_status::compensated);
  EXPECT_TRUE(is(live.error, errc::step_timeout)) << describe(live.error);
  EXPECT_EQ(live.compensated_steps, (strings{"b", "a"}));
  expect_replay_matches(*rt, live);
  auto log = rt->saga_log(live.saga_id);
  EXPECT_EQ(log->steps[0].compensation_attempts, 2u);
  EXPECT_EQ(log->steps[1].attempts, 2u);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

/// Runs one saga whose step b never answers, then drops the runtime: the
/// saga stays unfinished in Redis. Returns its id.
saga_id leave_unfinished(const std::string& url) {
  auto rt = redis_runtime(url);
  std::promise<saga_id> stuck;
  rt->participant("p").on("a", ok, ok).on_async(
    "b",
    [&stuck](const step_context& ctx, const json&, responder) {
      stuck.set_value(ctx.id());
    },
    [](const step_context&, const json&, responder r) {
      r.deliver(step_outcome::ok());
    });
  definition d{"unfinished"};
  d.step("a", "p").step("b", "p").step("c", "p");
  rt->execute(d, [](saga_result) {});
  return stuck.get_future().get();
}

TEST(redis_runtime, recover_resumes_from_redis_in_a_fresh_runtime) {
  auto id = leave_unfinished(shared_server().url());
  auto rt = redis_runtime(shared_server().url());
  std::atomic<int> b_calls{0};
  rt->participant("p")
    .on("a", ok, ok)
    .on(
      "b",
      [&b_calls](const step_context& ctx, const json& data) {
        ++b_calls;
        return ok(ctx, data);
      },
      ok)
    .on("c", ok, ok);
  EXPECT_EQ(rt->recover(), 1u);
  auto r = await_saga(*rt, id);
  EXPECT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(b_calls.load(), 1) << "the in-flight step is sent again once";
  auto log = rt->saga_log(id);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->status, saga_status::completed);
  EXPECT_EQ(rt->recover(), 0u);
}

TEST(redis_runtime, recover_with_the_compensate_policy) {
  auto id = leave_unfinished(shared_server().url());
  runtime_config cfg;
  cfg.recovery = recovery_policy::compensate;
  auto rt = redis_runtime(shared_server().url(), cfg);
  std::atomic<int> compensations{0};
  auto comp = [&compensations](const step_context&, const json&) {
    ++compensations;
    return step_outcome::ok();
  };
  rt->participant("p").on("a", ok, comp).on("b", ok, comp).on("c", ok, comp);
  EXPECT_EQ(rt->recover(), 1u);
  auto r = await_saga(*rt, id);
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(compensations.load(), 2) << "b (outcome unknown) and a";
  auto log = rt->saga_log(id);
  ASSERT_TRUE(log);
  EXPECT_NE(log->error.find("compensate recovery policy"), std::string::npos);
}

TEST(redis_runtime, recovery_resumes_every_branch_in_flight) {
  std::string id;
  {
    auto rt = redis_runtime(shared_server().url());
    std::mutex mtx;
    std::condition_variable cv;
    int in_flight = 0;
    auto hold = [&](const step_context& ctx, const json&, responder) {
      std::lock_guard<std::mutex> guard{mtx};
      id = ctx.id();
      ++in_flight;
      cv.notify_all();
    };
    auto undo = [](const step_context&, const json&, responder r) {
      r.deliver(step_outcome::ok());
    };
    rt->participant("p").on("a", ok, ok).on_async("b", hold, undo).on_async(
      "c", hold, undo);
    definition d{"branches"};
    d.step("a", "p").fork().step("b", "p").step("c", "p").join().step("d",
                                                                       "p");
    rt->execute(d, [](saga_result) {});
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [&] { return in_flight == 2; });
  } // the node dies with both branches in flight
  auto rt = redis_runtime(shared_server().url());
  std::atomic<int> b_calls{0};
  std::atomic<int> c_calls{0};
  auto counted = [](std::atomic<int>& n) {
    return [&n](const step_context& ctx, const json& data) {
      ++n;
      return ok(ctx, data);
    };
  };
  rt->participant("p")
    .on("a", ok, ok)
    .on("b", counted(b_calls), ok)
    .on("c", counted(c_calls), ok)
    .on("d", ok, ok);
  EXPECT_EQ(rt->recover(), 1u);
  auto r = await_saga(*rt, id);
  EXPECT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(b_calls.load(), 1);
  EXPECT_EQ(c_calls.load(), 1);
  expect_replay_matches(*rt, r);
}

TEST(redis_runtime, sagas_survive_a_redis_restart_with_aof) {
  redis_server server{{"--appendonly", "yes", "--appendfsync", "everysec"}};
  ASSERT_TRUE(server.start());
  auto rt = redis_runtime(server.url());
  ASSERT_FALSE(rt->start_error());
  constexpr int n = 60;
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<responder> held;
  rt->participant("p")
    .on_async(
      "a",
      [&](const step_context&, const json&, responder r) {
        std::lock_guard<std::mutex> guard{mtx};
        held.push_back(std::move(r));
        cv.notify_all();
      },
      [](const step_context&, const json&, responder r) {
        r.deliver(step_outcome::ok());
      })
    .on("b", ok, ok);
  definition d{"restart"};
  d.step("a", "p").timeout(60s).step("b", "p");
  std::vector<std::future<saga_result>> results;
  for (int i = 0; i < n; ++i)
    results.push_back(rt->execute(d));
  {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [&] { return held.size() == static_cast<size_t>(n); });
  }
  server.stop(); // SHUTDOWN: the AOF is flushed
  // Half of the sagas go on while Redis is down: their appends wait in the
  // writers, which reconnect with backoff.
  std::deque<responder> rest;
  {
    std::lock_guard<std::mutex> guard{mtx};
    for (int i = 0; i < n / 2; ++i) {
      held.front().deliver(step_outcome::ok());
      held.pop_front();
    }
    rest.swap(held);
  }
  ASSERT_TRUE(server.start());
  for (auto& r : rest)
    r.deliver(step_outcome::ok());
  std::set<saga_id> ids;
  for (auto& f : results) {
    auto r = f.get();
    EXPECT_TRUE(r.success) << describe(r.error);
    ids.insert(r.saga_id);
  }
  ASSERT_EQ(ids.size(), static_cast<size_t>(n));
  // Every acknowledged event is there, after the restart too.
  for (const auto& id : ids) {
    auto log = rt->saga_log(id);
    ASSERT_TRUE(log) << id;
    EXPECT_EQ(log->status, saga_status::completed);
    EXPECT_EQ(log->events.size(), 6u); // started, 2 x (started, ok), done
  }
}

TEST(redis_runtime, redis_errors_fail_the_saga_visibly) {
  redis_server server;
  ASSERT_TRUE(server.start());
  auto rt = redis_runtime(server.url());
  ASSERT_FALSE(rt->start_error());
  rt->participant("p").on("a", ok, ok);
  auto ep = parse_redis_url(server.url());
  auto admin = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(admin);
  ASSERT_TRUE(admin->command({"CONFIG", "SET", "maxmemory", "1"}));
  ASSERT_TRUE(
    admin->command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}));
  definition d{"oom"};
  d.step("a", "p");
  auto r = rt->execute(d).get();
  // The append fails with Redis' error; the saga actor is restarted a few
  // times (Redis still refuses), then the saga is parked, with the reason.
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.state, saga_status::failed);
  EXPECT_TRUE(is(r.error, errc::saga_parked)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("OOM"), std::string::npos)
    << describe(r.error);
}

} // namespace
} // namespace saga::test
