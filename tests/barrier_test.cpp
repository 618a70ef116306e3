// The participant barrier against a real redis-server: duplicates, null
// compensation, hanging executes, failed attempts, in-flight duplicates,
// atomic effects, and the wrapper for raw participant actors.

#include <atomic>
#include <future>

#include <gtest/gtest.h>

#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"
#include "tests/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

class barrier : public ::testing::Test {
protected:
  barrier() {
    runtime_config cfg;
    cfg.journal_url = shared_server().url();
    cfg.journal.node_id = "barrier";
    rt_ = std::make_unique<runtime>(cfg);
    EXPECT_FALSE(rt_->start_error()) << describe(rt_->start_error());
    rt_->participant("acct").on(
      "pay",
      [this](const step_context&, const json& d) {
        ++executed_;
        if (d.value("fail", false))
          return step_outcome::fail("declined", true);
        return step_outcome::ok({{"n", executed_.load()}});
      },
      [this](const step_context&, const json&) {
        ++compensated_;
        return step_outcome::ok();
      });
    saga_ = "b-" + std::to_string(counter_++) + "-"
            + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  step_reply send(bool compensate, json payload = json::object(),
                  uint32_t attempt = 1) {
    step_command cmd;
    cmd.id = saga_;
    cmd.saga_name = "t";
    cmd.step = "pay";
    cmd.action = "pay";
    cmd.attempt = attempt;
    cmd.payload = payload.dump();
    step_reply result;
    caf::scoped_actor self{rt_->system()};
    auto on_reply = [&](step_reply& r) { result = std::move(r); };
    auto on_error = [&](caf::error& e) { result.error = describe(e); };
    auto p = rt_->participant("acct").handle();
    if (compensate)
      self->request(p, 10s, compensate_atom::value, cmd)
        .receive(on_reply, on_error);
    else
      self->request(p, 10s, execute_atom::value, cmd).receive(on_reply,
                                                             on_error);
    return result;
  }

  static inline int counter_ = 0;
  std::unique_ptr<runtime> rt_;
  std::atomic<int> executed_{0};
  std::atomic<int> compensated_{0};
  saga_id saga_;
};

TEST_F(barrier, a_duplicate_execute_returns_the_first_outcome) {
  auto first = send(false);
  auto second = send(false, json::object(), 2);
  EXPECT_TRUE(first.ok);
  EXPECT_TRUE(second.ok);
  EXPECT_EQ(second.result, first.result);
  EXPECT_EQ(executed_.load(), 1);
}

TEST_F(barrier, a_duplicate_compensate_returns_the_first_outcome) {
  ASSERT_TRUE(send(false).ok);
  EXPECT_TRUE(send(true).ok);
  EXPECT_TRUE(send(true).ok);
  EXPECT_EQ(compensated_.load(), 1);
}

TEST_F(barrier, a_compensate_before_any_execute_is_a_null_compensation) {
  auto r = send(true);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(compensated_.load(), 0) << "the handler must not run";
  EXPECT_NE(r.error.find("null compensation"), std::string::npos);
}

TEST_F(barrier, a_hanging_execute_after_a_null_compensation_is_refused) {
  ASSERT_TRUE(send(true).ok);
  auto late = send(false);
  EXPECT_FALSE(late.ok);
  EXPECT_FALSE(late.retryable) << "the saga must treat it as failed";
  EXPECT_NE(late.error.find("refused"), std::string::npos);
  EXPECT_EQ(executed_.load(), 0);
  auto again = send(false);
  EXPECT_FALSE(again.ok) << "a duplicate of the refused execute";
  EXPECT_EQ(executed_.load(), 0);
}

TEST_F(barrier, execute_then_compensate_then_execute_runs_each_once) {
  ASSERT_TRUE(send(false).ok);
  ASSERT_TRUE(send(true).ok);
  auto late = send(false);
  // The first execute's outcome was recorded: a duplicate gets it, but the
  // handler does not run again, and the compensation stays done.
  EXPECT_EQ(executed_.load(), 1);
  EXPECT_EQ(compensated_.load(), 1);
  EXPECT_TRUE(late.ok);
}

TEST_F(barrier, a_failed_attempt_leaves_no_record_so_a_retry_runs_again) {
  auto failed = send(false, {{"fail", true}});
  EXPECT_FALSE(failed.ok);
  auto retried = send(false, json::object(), 2);
  EXPECT_TRUE(retried.ok);
  EXPECT_EQ(executed_.load(), 2);
}

TEST_F(barrier, records_live_in_the_sagas_hash_slot_and_expire) {
  ASSERT_TRUE(send(false).ok);
  auto ep = parse_redis_url(shared_server().url());
  auto c = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(c);
  auto key = "saga:{" + saga_ + "}:barrier";
  auto v = c->command({"HGET", key, "pay/x"});
  ASSERT_TRUE(v);
  ASSERT_EQ((*v)->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string((*v)->str).substr(0, 3), "D1:");
  auto ttl = c->command({"TTL", key});
  EXPECT_GT((*ttl)->integer, 0);
}

TEST_F(barrier, duplicates_in_flight_wait_for_the_first_and_run_nothing) {
  std::vector<responder> held;
  std::mutex mtx;
  std::atomic<int> runs{0};
  std::promise<void> ran;
  rt_->participant("slow").on_async(
    "pay",
    [&](const step_context&, const json&, responder r) {
      std::lock_guard<std::mutex> guard{mtx};
      held.push_back(std::move(r));
      if (++runs == 1)
        ran.set_value();
    },
    [](const step_context&, const json&, responder r) {
      r.deliver(step_outcome::ok());
    });
  step_command cmd;
  cmd.id = saga_;
  cmd.step = "pay";
  cmd.action = "pay";
  caf::scoped_actor self{rt_->system()};
  auto p = rt_->participant("slow").handle();
  for (int i = 0; i < 3; ++i)
    self->send(p, execute_atom::value, cmd); // three copies at once
  // Wait until the handler ran, then answer it. The three copies were
  // enqueued before the first could be answered, so the others wait for it.
  ran.get_future().wait();
  {
    std::lock_guard<std::mutex> guard{mtx};
    ASSERT_EQ(held.size(), 1u);
    held.front().deliver(step_outcome::ok({{"once", true}}));
  }
  int replies = 0;
  for (int i = 0; i < 3; ++i)
    self->receive([&](step_reply& r) {
      EXPECT_TRUE(r.ok);
      ++replies;
    });
  EXPECT_EQ(replies, 3);
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(barrier, atomic_effects_apply_exactly_once) {
  auto ep = parse_redis_url(shared_server().url());
  auto c = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(c);
  auto balance = "balance:{" + saga_ + "}";
  ASSERT_TRUE(c->command({"SET", balance, "100"}));
  rt_->participant("bank").on(
    "pay",
    [balance](const step_context&, const json&) {
      return step_outcome::ok().atomically({{"DECRBY", balance, "30"}});
    },
    [balance](const step_context&, const json&) {
      return step_outcome::ok().atomically({{"INCRBY", balance, "30"}});
    });
  step_command cmd;
  cmd.id = saga_;
  cmd.step = "pay";
  cmd.action = "pay";
  caf::scoped_actor self{rt_->system()};
  auto p = rt_->participant("bank").handle();
  for (int i = 0; i < 3; ++i)
    self->request(p, 10s, execute_atom::value, cmd)
      .receive([](step_reply& r) { EXPECT_TRUE(r.ok); },
               [](caf::error& e) { ADD_FAILURE() << describe(e); });
  auto v = c->command({"GET", balance});
  EXPECT_EQ(std::string((*v)->str), "70");
  for (int i = 0; i < 2; ++i)
    self->request(p, 10s, compensate_atom::value, cmd)
      .receive([](step_reply& r) { EXPECT_TRUE(r.ok); },
               [](caf::error& e) { ADD_FAILURE() << describe(e); });
  v = c->command({"GET", balance});
  EXPECT_EQ(std::string((*v)->str), "100");
}

TEST_F(barrier, with_barrier_protects_a_raw_participant) {
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto raw = rt_->system().spawn(
    [runs]() -> participant_actor::behavior_type {
      return {
        [runs](execute_atom, const step_command&) {
          ++*runs;
          step_reply r;
          r.ok = true;
          return r;
        },
        [](compensate_atom, const step_command&) {
          step_reply r;
          r.ok = true;
          return r;
        },
      };
    });
  auto guarded = rt_->with_barrier(raw);
  step_command cmd;
  cmd.id = saga_;
  cmd.step = "pay";
  cmd.action = "pay";
  caf::scoped_actor self{rt_->system()};
  // Compensate first (null), then a hanging execute: refused.
  self->request(guarded, 10s, compensate_atom::value, cmd)
    .receive([](step_reply& r) { EXPECT_TRUE(r.ok); },
             [](caf::error& e) { ADD_FAILURE() << describe(e); });
  self->request(guarded, 10s, execute_atom::value, cmd)
    .receive([](step_reply& r) { EXPECT_FALSE(r.ok); },
             [](caf::error& e) { ADD_FAILURE() << describe(e); });
  EXPECT_EQ(runs->load(), 0);
  caf::anon_send_exit(guarded, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(raw, caf::exit_reason::user_shutdown);
}

} // namespace
} // namespace saga::test
