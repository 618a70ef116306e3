// Sagas on the Redis journal, end to end, against real redis-server
// processes: what lands in Redis replays to the live result; recovery
// across runtimes; a Redis restart while sagas run; Redis errors.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

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
#include "tests/support/redis_server.hpp"
#include "tests/unfinished_saga.hpp"

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
  result.reserve(xs.size());
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
participant_actor::behavior_type
silent_b(participant_actor::pointer self,
         const std::shared_ptr<int>& comp_failures) {
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

/// Leaves a three-step saga unfinished in Redis (b in flight). Returns its
/// id.
saga_id leave_unfinished(const std::string& url) {
  definition d{"unfinished"};
  d.step("a", "p").step("b", "p").step("c", "p");
  return test::leave_unfinished(redis_runtime(url), d);
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

TEST(redis_runtime, adopt_takes_over_the_sagas_of_another_node_id) {
  // A runtime that left a saga unfinished is gone for good; a runtime with
  // another node id takes its sagas over.
  auto id = leave_unfinished(shared_server().url());
  std::string gone
    = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  runtime_config cfg;
  cfg.journal_url = shared_server().url();
  cfg.journal.node_id = gone + "-survivor";
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error()) << describe(rt.start_error());
  rt.participant("p").on("a", ok, ok).on("b", ok, ok).on("c", ok, ok);
  EXPECT_EQ(rt.recover(), 0u) << "recover() finds its own node id's only";
  auto adopted = rt.adopt(gone);
  ASSERT_TRUE(adopted) << describe(adopted.error());
  EXPECT_EQ(*adopted, 1u);
  auto r = await_saga(rt, id);
  EXPECT_TRUE(r.success) << describe(r.error);
  // The survivor owns it now, and neither index lists it any more.
  auto ep = parse_redis_url(shared_server().url());
  ASSERT_TRUE(ep);
  auto conn = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(conn) << describe(conn.error());
  auto owner = conn->command({"GET", redis_owner_key(id)});
  ASSERT_TRUE(owner) << describe(owner.error());
  EXPECT_EQ(reply_text(owner->get()).rfind(gone + "-survivor/", 0), 0u)
    << reply_text(owner->get());
  auto listed = [&conn](const std::string& node) {
    auto r = conn->command({"ZCARD", redis_unfinished_key(node)});
    return r ? (*r)->integer : -1;
  };
  EXPECT_EQ(listed(gone), 0) << "the adoption unlists it there at once";
  // Here, the terminal append unlists it with the journal's next write,
  // just after the result: poll Redis (bounded).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (listed(gone + "-survivor") != 0
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(listed(gone + "-survivor"), 0);
  auto again = rt.adopt(gone);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u) << "nothing of the gone node is left";
  auto bad = rt.adopt("a/b");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::invalid_config)) << describe(bad.error());
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
    std::vector<responder> held; // never answered, never dropped
    std::mutex mtx;
    std::condition_variable cv;
    int in_flight = 0;
    auto rt = redis_runtime(shared_server().url());
    auto hold = [&](const step_context& ctx, const json&, responder r) {
      std::lock_guard<std::mutex> guard{mtx};
      held.push_back(std::move(r));
      id = ctx.id();
      ++in_flight;
      cv.notify_all();
    };
    auto undo = [](const step_context&, const json&, responder r) {
      r.deliver(step_outcome::ok());
    };
    rt->participant("p")
      .on("a", ok, ok)
      .on_async("b", hold, undo)
      .on_async("c", hold, undo);
    definition d{"branches"};
    d.step("a", "p").fork().step("b", "p").step("c", "p").join().step("d", "p");
    rt->execute(d, [](const saga_result&) {});
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
  results.reserve(n);
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

/// Waits up to `timeout` for saga `id`'s result through `rt`'s coordinator.
caf::expected<saga_result> await_within(runtime& rt, const saga_id& id,
                                        caf::timespan timeout) {
  caf::expected<saga_result> result{saga_result{}};
  caf::scoped_actor self{rt.system()};
  self->request(rt.coordinator(), timeout, resume_atom::value, id)
    .receive([&](saga_result& r) { result = std::move(r); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

TEST(redis_runtime, failover_adopts_a_nodes_sagas_and_fences_the_old_node) {
  redis_server server;
  ASSERT_TRUE(server.start());
  auto url = server.url();
  auto ep = parse_redis_url(url);
  auto admin = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(admin);
  auto get = [&admin](const std::string& key) -> std::string {
    auto r = admin->command({"GET", key});
    if (!r || (*r)->type != REDIS_REPLY_STRING)
      return "(nil)";
    return std::string((*r)->str, (*r)->len);
  };
  auto count = [&admin](const std::vector<std::string_view>& cmd) {
    auto r = admin->command(cmd);
    return r ? (*r)->integer : -1;
  };
  auto epoch_a = allocate_epoch(url);
  auto epoch_b = allocate_epoch(url);
  ASSERT_TRUE(epoch_a && epoch_b);
  ASSERT_LT(*epoch_a, *epoch_b);
  constexpr size_t n = 4;
  // Node a: the first step's participant takes the request and answers only
  // when the test says so (a node paused or cut off).
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<responder> held;
  std::vector<saga_id> ids;
  std::atomic<int> b_calls{0};
  definition d{"failover"};
  d.step("hold", "p").timeout(60s).step("next", "p");
  runtime_config cfg_a;
  cfg_a.journal_url = url;
  cfg_a.journal.node_id = "a";
  cfg_a.journal.epoch = *epoch_a;
  auto rt_a = std::make_unique<runtime>(cfg_a);
  ASSERT_FALSE(rt_a->start_error()) << describe(rt_a->start_error());
  rt_a->participant("p")
    .on_async(
      "hold",
      [&](const step_context& ctx, const json&, responder r) {
        std::lock_guard<std::mutex> guard{mtx};
        held.push_back(std::move(r));
        ids.push_back(ctx.id());
        cv.notify_all();
      },
      [](const step_context&, const json&, responder r) {
        r.deliver(step_outcome::ok());
      })
    .on("next", ok, ok);
  std::vector<std::future<saga_result>> on_a;
  for (size_t i = 0; i < n; ++i)
    on_a.push_back(rt_a->execute(d));
  {
    std::unique_lock<std::mutex> guard{mtx};
    ASSERT_TRUE(cv.wait_for(guard, 30s, [&] { return held.size() == n; }))
      << "node a's sagas did not reach their first step";
  }
  auto token_a = "a/" + std::to_string(*epoch_a);
  auto token_b = "b/" + std::to_string(*epoch_b);
  for (const auto& id : ids) {
    EXPECT_EQ(get(redis_owner_key(id)), token_a) << id;
    // saga_started, step_started: durable before the participant was asked.
    EXPECT_EQ(count({"XLEN", redis_events_key(id)}), 2) << id;
  }
  EXPECT_EQ(count({"ZCARD", redis_unfinished_key("a")}),
            static_cast<long long>(n));
  // Node b takes over, with a working participant of the same name.
  runtime_config cfg_b;
  cfg_b.journal_url = url;
  cfg_b.journal.node_id = "b";
  cfg_b.journal.epoch = *epoch_b;
  auto rt_b = std::make_unique<runtime>(cfg_b);
  ASSERT_FALSE(rt_b->start_error()) << describe(rt_b->start_error());
  rt_b->participant("p")
    .on(
      "hold",
      [&b_calls](const step_context& ctx, const json& data) {
        ++b_calls;
        return ok(ctx, data);
      },
      ok)
    .on("next", ok, ok);
  auto recover_a = [&rt_b](uint64_t below) {
    caf::expected<uint64_t> result{uint64_t{0}};
    caf::scoped_actor self{rt_b->system()};
    self
      ->request(rt_b->coordinator(), 30s, recover_atom::value, std::string{"a"},
                below)
      .receive([&](uint64_t x) { result = x; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  // A bound at a's epoch: a is live, nothing is taken.
  auto none = recover_a(*epoch_a);
  ASSERT_TRUE(none) << describe(none.error());
  EXPECT_EQ(*none, 0u);
  EXPECT_EQ(get(redis_owner_key(ids.front())), token_a);
  EXPECT_EQ(count({"ZCARD", redis_unfinished_key("b")}), 0);
  // Past a's epoch: b adopts and resumes all of them.
  auto taken = recover_a(*epoch_a + 1);
  ASSERT_TRUE(taken) << describe(taken.error());
  EXPECT_EQ(*taken, n);
  std::map<saga_id, long long> lengths;
  for (const auto& id : ids) {
    auto r = await_within(*rt_b, id, 30s);
    ASSERT_TRUE(r) << id << ": " << describe(r.error());
    EXPECT_TRUE(r->success) << id << ": " << describe(r->error);
    EXPECT_EQ(r->state, saga_status::completed) << id;
    EXPECT_EQ(get(redis_owner_key(id)), token_b) << id;
    lengths[id] = count({"XLEN", redis_events_key(id)});
    auto log = rt_b->saga_log(id);
    ASSERT_TRUE(log) << id;
    EXPECT_EQ(log->status, saga_status::completed) << id;
    EXPECT_EQ(static_cast<long long>(log->events.size()), lengths[id]) << id;
  }
  EXPECT_EQ(b_calls.load(), static_cast<int>(n))
    << "b sends the in-flight step again, once per saga";
  EXPECT_EQ(count({"ZCARD", redis_unfinished_key("a")}), 0);
  EXPECT_EQ(count({"ZCARD", redis_unfinished_key("b")}), 0);
  // Node a wakes up: its participant answers, its saga actors try to go on
  // and are fenced; their waiters learn it.
  {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& r : held)
      r.deliver(step_outcome::ok({{"late", true}}));
    held.clear();
  }
  for (auto& f : on_a) {
    ASSERT_EQ(f.wait_for(30s), std::future_status::ready)
      << "node a's waiter never learned that its saga was taken over";
    auto r = f.get();
    EXPECT_FALSE(r.success);
    EXPECT_TRUE(is(r.error, errc::fenced))
      << r.saga_id << ": " << describe(r.error);
    EXPECT_EQ(lengths.count(r.saga_id), 1u) << r.saga_id;
  }
  // Nothing of a's landed after the takeover: the histories are b's.
  for (const auto& id : ids) {
    EXPECT_EQ(count({"XLEN", redis_events_key(id)}), lengths[id]) << id;
    EXPECT_EQ(get(redis_owner_key(id)), token_b) << id;
    auto log = rt_b->saga_log(id);
    ASSERT_TRUE(log) << id;
    EXPECT_EQ(log->status, saga_status::completed) << id;
    ASSERT_FALSE(log->events.empty());
    EXPECT_EQ(log->events.back().type, event_type::saga_completed) << id;
  }
  EXPECT_EQ(count({"ZCARD", redis_unfinished_key("a")}), 0);
  EXPECT_EQ(count({"ZCARD", redis_unfinished_key("b")}), 0);
  // Node a's own recovery finds nothing of its own left to run.
  EXPECT_EQ(rt_a->recover(), 0u);
  rt_b.reset();
  rt_a.reset();
}

} // namespace
} // namespace saga::test
