// The participant barrier against a real redis-server: duplicates, null
// compensation, hanging executes, failed attempts, in-flight duplicates,
// atomic effects, and the wrapper for raw participant actors.

#include <atomic>
#include <future>
#include <mutex>
#include <optional>

#include <gtest/gtest.h>

#include <caf/after.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"
#include "tests/support/redis_server.hpp"

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

  step_reply send(bool compensate, const json& payload = json::object(),
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
      self->request(p, 10s, execute_atom::value, cmd)
        .receive(on_reply, on_error);
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
  // "Compensated": an ok reply carries no error, the first time and to a
  // copy of the command (answered from the record).
  EXPECT_EQ(r.error, "");
  auto again = send(true, json::object(), 2);
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.error, "");
  EXPECT_EQ(compensated_.load(), 0);
}

TEST_F(barrier,
       a_null_compensation_recorded_with_an_error_is_answered_without) {
  // Earlier versions stored the null compensation's reply with an error
  // text; a copy of the command answered from such a record carries none.
  auto ep = parse_redis_url(shared_server().url());
  ASSERT_TRUE(ep);
  auto conn = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(conn) << describe(conn.error());
  auto old = R"(D1:{"ok":true,"t":false,"r":"",)"
             R"("e":"null compensation: the step never executed"})";
  ASSERT_TRUE(
    conn->command({"HSET", "saga:{" + saga_ + "}:barrier", "pay/c", old}));
  auto r = send(true);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(compensated_.load(), 0);
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

TEST_F(barrier, a_copy_of_a_failed_attempt_gets_its_failure_and_runs_nothing) {
  // Attempt 1 reaches the participant twice (duplicated, or re-sent by a
  // coordinator that took the saga over); the first copy fails. The saga,
  // told that nothing happened, may give up on the step: the second copy
  // must not take effect now (found by the chaos campaign, docs/chaos.md).
  auto failed = send(false, {{"fail", true}});
  EXPECT_FALSE(failed.ok);
  auto copy = send(false, json::object(), 1);
  EXPECT_FALSE(copy.ok);
  EXPECT_EQ(copy.error, failed.error);
  EXPECT_EQ(executed_.load(), 1) << "the copy of the failed attempt ran";
  // The saga compensates nothing for a failed step, but if a compensate
  // comes, nothing took effect: a null compensation; later copies refused.
  auto undo = send(true);
  EXPECT_TRUE(undo.ok);
  EXPECT_EQ(compensated_.load(), 0);
  EXPECT_FALSE(send(false, json::object(), 2).ok);
  EXPECT_EQ(executed_.load(), 1);
}

TEST_F(barrier, a_retry_after_a_failed_attempt_still_runs) {
  ASSERT_FALSE(send(false, {{"fail", true}}, 1).ok);
  ASSERT_FALSE(send(false, {{"fail", true}}, 2).ok);
  EXPECT_FALSE(send(false, json::object(), 1).ok) << "a copy of attempt 1";
  EXPECT_FALSE(send(false, json::object(), 2).ok) << "a copy of attempt 2";
  EXPECT_EQ(executed_.load(), 2);
  auto third = send(false, json::object(), 3);
  EXPECT_TRUE(third.ok) << third.error;
  EXPECT_EQ(executed_.load(), 3);
  EXPECT_TRUE(send(false, json::object(), 1).ok) << "now the success";
  EXPECT_EQ(executed_.load(), 3);
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
  ASSERT_TRUE(c->command({"HSET", balance, "v", "100"}));
  rt_->participant("bank").on(
    "pay",
    [balance](const step_context&, const json&) {
      return step_outcome::ok().atomically(
        {effect::incr_by(balance, "v", -30)});
    },
    [balance](const step_context&, const json&) {
      return step_outcome::ok().atomically({effect::incr_by(balance, "v", 30)});
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
  auto v = c->command({"HGET", balance, "v"});
  EXPECT_EQ(std::string((*v)->str), "70");
  for (int i = 0; i < 2; ++i)
    self->request(p, 10s, compensate_atom::value, cmd)
      .receive([](step_reply& r) { EXPECT_TRUE(r.ok); },
               [](caf::error& e) { ADD_FAILURE() << describe(e); });
  v = c->command({"HGET", balance, "v"});
  EXPECT_EQ(std::string((*v)->str), "100");
}

TEST_F(barrier, with_barrier_protects_a_raw_participant) {
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto raw = rt_->system().spawn([runs]() -> participant_actor::behavior_type {
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

// -- barrier records are fenced by claim token ---------------------------------
//
// The journal's barrier_claim / barrier_done directly, as a participant that
// hung past a re-claim would send them.

class barrier_fencing : public barrier {
protected:
  barrier_fencing() {
    auto ep = parse_redis_url(shared_server().url());
    EXPECT_TRUE(ep);
    auto c = redis_connection::connect(*ep, 2s);
    EXPECT_TRUE(c) << describe(c.error());
    if (c)
      conn_.emplace(std::move(*c));
    counter_key_ = "fence:{" + saga_ + "}";
  }

  barrier_claim claim(const std::string& token,
                      barrier_op op = barrier_op::execute) {
    barrier_claim result;
    result.verdict = barrier_verdict::busy; // never answered by the store
    caf::scoped_actor self{rt_->system()};
    self
      ->request(rt_->journal(), 10s, barrier_claim_atom::value, saga_,
                std::string{"pay"}, op, token)
      .receive([&](barrier_claim& c) { result = std::move(c); },
               [&](caf::error& e) { ADD_FAILURE() << describe(e); });
    return result;
  }

  bool done(const std::string& token, step_reply reply,
            barrier_op op = barrier_op::execute) {
    bool result = false;
    caf::scoped_actor self{rt_->system()};
    self
      ->request(rt_->journal(), 10s, barrier_done_atom::value, saga_,
                std::string{"pay"}, op, token, std::move(reply))
      .receive([&](bool x) { result = x; },
               [&](caf::error& e) { ADD_FAILURE() << describe(e); });
    return result;
  }

  /// A success that increments the counter hash's field "v" by one.
  step_reply counted(const std::string& result) {
    step_reply r;
    r.ok = true;
    r.result = result;
    r.effects = {effect::incr_by(counter_key_, "v", 1)};
    return r;
  }

  static step_reply failure(const std::string& why) {
    step_reply r;
    r.retryable = true;
    r.error = why;
    return r;
  }

  /// Returns HGET <key> <field> as text, or "<nil>".
  std::string hget(const std::string& key, const std::string& field) {
    if (!conn_)
      return "<no connection>";
    auto v = conn_->command({"HGET", key, field});
    if (!v)
      return "<error: " + describe(v.error()) + ">";
    if ((*v)->type != REDIS_REPLY_STRING)
      return "<nil>";
    return std::string((*v)->str, (*v)->len);
  }

  std::string record(const std::string& field = "pay/x") {
    return hget("saga:{" + saga_ + "}:barrier", field);
  }

  std::string counter() {
    return hget(counter_key_, "v");
  }

  std::optional<redis_connection> conn_;
  std::string counter_key_;
};

TEST_F(barrier_fencing, a_done_without_any_claim_changes_nothing) {
  EXPECT_FALSE(done("t1", counted("\"one\"")));
  EXPECT_FALSE(done("t1", failure("no")));
  EXPECT_EQ(counter(), "<nil>") << "the effect ran without a claim";
  EXPECT_EQ(record(), "<nil>");
  EXPECT_EQ(claim("t2").verdict, barrier_verdict::proceed);
}

TEST_F(barrier_fencing, a_re_claim_of_an_unfinished_claim_proceeds) {
  EXPECT_EQ(claim("t1").verdict, barrier_verdict::proceed);
  EXPECT_EQ(record(), "R:t1");
  EXPECT_EQ(claim("t2").verdict, barrier_verdict::proceed);
  EXPECT_EQ(record(), "R:t2");
}

TEST_F(barrier_fencing,
       a_replaced_claim_applies_no_effect_and_keeps_the_record) {
  ASSERT_EQ(claim("t1").verdict, barrier_verdict::proceed);
  ASSERT_EQ(claim("t2").verdict, barrier_verdict::proceed);
  EXPECT_TRUE(done("t2", counted("\"two\"")));
  EXPECT_EQ(counter(), "1");
  auto settled = record();
  EXPECT_EQ(settled.substr(0, 3), "D1:");
  // t1 hung past its saga's timeout and wakes up now: fenced.
  EXPECT_FALSE(done("t1", counted("\"one\"")));
  EXPECT_EQ(counter(), "1") << "the fenced claim applied its effect again";
  EXPECT_EQ(record(), settled);
  auto dup = claim("t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_TRUE(dup.reply.ok);
  EXPECT_EQ(dup.reply.result, "\"two\"");
}

TEST_F(barrier_fencing, a_late_failure_of_a_replaced_claim_keeps_the_record) {
  ASSERT_EQ(claim("t1").verdict, barrier_verdict::proceed);
  ASSERT_EQ(claim("t2").verdict, barrier_verdict::proceed);
  ASSERT_TRUE(done("t2", counted("\"two\"")));
  auto settled = record();
  EXPECT_FALSE(done("t1", failure("timed out")));
  EXPECT_EQ(record(), settled) << "the late failure erased the record";
  auto dup = claim("t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_EQ(dup.reply.result, "\"two\"");
  EXPECT_EQ(counter(), "1");
}

TEST_F(barrier_fencing, a_failure_of_a_replaced_claim_keeps_the_new_claim) {
  ASSERT_EQ(claim("t1").verdict, barrier_verdict::proceed);
  ASSERT_EQ(claim("t2").verdict, barrier_verdict::proceed);
  EXPECT_FALSE(done("t1", failure("declined")));
  EXPECT_EQ(record(), "R:t2");
  EXPECT_TRUE(done("t2", counted("\"two\"")));
  EXPECT_EQ(counter(), "1");
}

TEST_F(barrier_fencing, a_settled_record_is_not_written_again) {
  ASSERT_EQ(claim("t1").verdict, barrier_verdict::proceed);
  ASSERT_TRUE(done("t1", counted("\"one\"")));
  auto settled = record();
  EXPECT_FALSE(done("t1", counted("\"again\"")));
  EXPECT_FALSE(done("t1", failure("late")));
  EXPECT_EQ(counter(), "1");
  EXPECT_EQ(record(), settled);
}

TEST_F(barrier_fencing, compensations_are_fenced_like_executes) {
  ASSERT_EQ(claim("x").verdict, barrier_verdict::proceed);
  ASSERT_TRUE(done("x", counted("\"paid\"")));
  ASSERT_EQ(claim("t1", barrier_op::compensate).verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(claim("t2", barrier_op::compensate).verdict,
            barrier_verdict::proceed);
  EXPECT_TRUE(done("t2", counted("\"refunded\""), barrier_op::compensate));
  EXPECT_EQ(counter(), "2");
  EXPECT_FALSE(done("t1", counted("\"again\""), barrier_op::compensate));
  EXPECT_FALSE(done("t1", failure("late"), barrier_op::compensate));
  EXPECT_EQ(counter(), "2");
  auto dup = claim("t3", barrier_op::compensate);
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_EQ(dup.reply.result, "\"refunded\"");
}

TEST_F(barrier_fencing,
       a_participant_fenced_by_a_re_claim_answers_outcome_unknown) {
  std::mutex mtx;
  std::vector<responder> held;
  std::promise<void> ran;
  std::atomic<int> runs{0};
  auto key = counter_key_;
  rt_->participant("hung").on_async(
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
  cmd.saga_name = "t";
  cmd.step = "pay";
  cmd.action = "pay";
  caf::scoped_actor self{rt_->system()};
  auto p = rt_->participant("hung").handle();
  self->send(p, execute_atom::value, cmd);
  ASSERT_EQ(ran.get_future().wait_for(10s), std::future_status::ready);
  // While the handler "hangs", another attempt re-claims and settles.
  ASSERT_EQ(claim("other").verdict, barrier_verdict::proceed);
  ASSERT_TRUE(done("other", counted("\"other\"")));
  {
    std::lock_guard<std::mutex> guard{mtx};
    ASSERT_EQ(held.size(), 1u);
    held.front().deliver(step_outcome::ok({{"late", true}})
                           .atomically({effect::incr_by(key, "v", 1)}));
  }
  // Its claim was taken over: it cannot tell what the other copy did (here
  // it succeeded), so it must not say "failed", which the saga would take
  // for "nothing happened": it answers an error, outcome unknown.
  caf::error late;
  bool got = false;
  self->receive(
    [&](step_reply& r) {
      ADD_FAILURE() << "a reply (ok " << r.ok << ", error '" << r.error
                    << "') instead of outcome unknown";
      got = true;
    },
    [&](caf::error& e) {
      late = std::move(e);
      got = true;
    },
    caf::after(10s) >> [] {});
  ASSERT_TRUE(got) << "no answer from the participant";
  EXPECT_TRUE(is(late, errc::outcome_unknown)) << describe(late);
  EXPECT_NE(describe(late).find("another copy of the command took over"),
            std::string::npos)
    << describe(late);
  EXPECT_EQ(counter(), "1") << "the hung participant applied its effect";
  // A retry reads the settled outcome and runs nothing.
  step_reply again;
  self->request(p, 10s, execute_atom::value, cmd)
    .receive([&](step_reply& r) { again = std::move(r); },
             [&](caf::error& e) { again.error = describe(e); });
  EXPECT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.result, "\"other\"");
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(counter(), "1");
}

TEST_F(barrier_fencing,
       a_saga_whose_copy_lost_the_claim_takes_the_winners_outcome) {
  // The race the chaos campaign found (docs/chaos.md): two copies of a
  // step's last attempt run on two nodes; the second re-claims and records
  // a success with its effect, the first then finds its claim gone. The
  // saga must not write the step off as failed (it would not compensate
  // it, and the winner's effect would stand). Here the saga pre-claimed the
  // first copy, whose outcome rides with the saga's next append: that
  // append is refused (the claim is gone), the saga restarts from the
  // journal, sends the attempt again and is answered the winner's
  // recorded outcome: the step succeeded once, with one effect.
  std::mutex mtx;
  std::optional<responder> held;
  std::promise<saga_id> ran;
  std::atomic<int> refunds{0};
  rt_->participant("raced").on_async(
    "pay",
    [&](const step_context& ctx, const json&, responder r) {
      std::lock_guard<std::mutex> guard{mtx};
      held.emplace(std::move(r));
      ran.set_value(ctx.id());
    },
    [&](const step_context& ctx, const json&, responder r) {
      ++refunds;
      r.deliver(step_outcome::ok().atomically(
        {effect::incr_by("fence:{" + ctx.id() + "}", "v", -1)}));
    });
  definition d{"raced"};
  d.step("pay", "raced").retry(retry_policy{}); // one attempt: the last
  auto result = rt_->execute(d);
  auto ran_id = ran.get_future();
  ASSERT_EQ(ran_id.wait_for(10s), std::future_status::ready);
  saga_ = ran_id.get();
  counter_key_ = "fence:{" + saga_ + "}";
  // The other copy of attempt 1 re-claims and settles with its effect.
  ASSERT_EQ(claim("1:othernode-1").verdict, barrier_verdict::proceed);
  ASSERT_TRUE(done("1:othernode-1", counted("\"other\"")));
  ASSERT_EQ(counter(), "1");
  {
    std::lock_guard<std::mutex> guard{mtx};
    held->deliver(step_outcome::ok());
  }
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready);
  auto r = result.get();
  EXPECT_EQ(r.state, saga_status::completed) << describe(r.error);
  EXPECT_EQ(refunds.load(), 0);
  EXPECT_EQ(counter(), "1") << "the winner's effect counts once";
  auto steps = rt_->saga_log(saga_);
  ASSERT_TRUE(steps) << "no log of " << saga_;
  ASSERT_EQ(steps->steps.size(), 1u);
  EXPECT_EQ(steps->steps[0].result, "\"other\"") << "the loser's outcome";
}

TEST_F(barrier_fencing, a_hung_execute_cannot_record_after_its_compensation) {
  // The execute hangs on one node (claimed, never done); the step times out
  // with its outcome unknown and the saga compensates it on another node.
  // When the hung execute wakes, its effect must not land after the
  // compensation (it is a hanging execute, like one that arrives late).
  ASSERT_EQ(claim("hung").verdict, barrier_verdict::proceed);
  auto c = claim("comp", barrier_op::compensate);
  if (c.verdict == barrier_verdict::busy)
    GTEST_SKIP() << "the store holds the compensation back: nothing to check";
  if (c.verdict == barrier_verdict::proceed) {
    auto refund = counted("\"refunded\"");
    refund.effects = {effect::incr_by(counter_key_, "v", -1)};
    ASSERT_TRUE(done("comp", refund, barrier_op::compensate));
  }
  auto before = counter();
  EXPECT_FALSE(done("hung", counted("\"paid\"")))
    << "the hung execute recorded after its step was compensated";
  EXPECT_EQ(counter(), before) << "its effect landed after the compensation";
  auto late = claim("retry");
  EXPECT_EQ(late.verdict, barrier_verdict::refused);
  EXPECT_FALSE(late.reply.ok);
}

// -- bad input: atomic effects the journal refuses (docs/bad-input.md) ---------------

TEST_F(barrier, bad_input_an_effect_without_key_applies_nothing) {
  // Redis keeps the writes a script made before it failed, so the journal
  // checks every effect (a key, a known kind) before it runs any: a bad one
  // fails the record with invalid_config and the effects before it in the
  // batch do not land either.
  auto ep = parse_redis_url(shared_server().url());
  auto c = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(c);
  auto balance = "balance:{" + saga_ + "}";
  ASSERT_TRUE(c->command({"HSET", balance, "v", "100"}));
  auto effects = std::make_shared<std::vector<effect>>();
  auto runs = std::make_shared<std::atomic<int>>(0);
  rt_->participant("bank").on(
    "pay",
    [effects, runs](const step_context&, const json&) {
      ++*runs;
      return step_outcome::ok().atomically(*effects);
    },
    [](const step_context&, const json&) { return step_outcome::ok(); });
  const std::pair<effect, const char*> cases[] = {
    {effect::hset("", "f", "v"), "atomic effect 2 (hset) has an empty key"},
    {effect::incr_by("", "v", 1), "atomic effect 2 (incr_by) has an empty key"},
    {effect::del(""), "atomic effect 2 (del) has an empty key"},
    {effect{}, "atomic effect 2 has no known kind"},
  };
  step_command cmd;
  cmd.id = saga_;
  cmd.step = "pay";
  cmd.action = "pay";
  caf::scoped_actor self{rt_->system()};
  auto p = rt_->participant("bank").handle();
  auto ask = [&] {
    step_reply result;
    self->request(p, 10s, execute_atom::value, cmd)
      .receive([&](step_reply& r) { result = std::move(r); },
               [&](caf::error& e) { result.error = describe(e); });
    return result;
  };
  for (const auto& [bad, needle] : cases) {
    SCOPED_TRACE(needle);
    *effects = {effect::incr_by(balance, "v", -30), bad};
    auto r = ask();
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("barrier record failed"), std::string::npos)
      << r.error;
    EXPECT_NE(r.error.find("saga::invalid_config"), std::string::npos)
      << r.error;
    EXPECT_NE(r.error.find(needle), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("nothing was applied"), std::string::npos)
      << r.error;
    auto v = c->command({"HGET", balance, "v"});
    ASSERT_TRUE(v);
    EXPECT_EQ(std::string((*v)->str, (*v)->len), "100")
      << "an effect before the bad one landed";
  }
  // Nothing was recorded: with valid effects the handler runs again and its
  // effects land once.
  int before = *runs;
  *effects = {effect::incr_by(balance, "v", -30),
              effect::hset(balance, "paid", saga_)};
  EXPECT_TRUE(ask().ok);
  EXPECT_EQ(*runs, before + 1);
  EXPECT_TRUE(ask().ok);
  EXPECT_EQ(*runs, before + 1) << "a duplicate ran the handler";
  auto v = c->command({"HGET", balance, "v"});
  EXPECT_EQ(std::string((*v)->str, (*v)->len), "70");
}

TEST_F(barrier, bad_input_a_command_for_an_unknown_action_records_nothing) {
  auto r = send(false, json::object());
  ASSERT_TRUE(r.ok) << r.error; // "pay" exists
  step_command cmd;
  cmd.id = saga_ + "-x";
  cmd.step = "refund";
  cmd.action = "refund";
  caf::scoped_actor self{rt_->system()};
  auto p = rt_->participant("acct").handle();
  step_reply reply;
  self->request(p, 10s, execute_atom::value, cmd)
    .receive([&](step_reply& x) { reply = std::move(x); },
             [&](caf::error& e) { reply.error = describe(e); });
  EXPECT_FALSE(reply.ok);
  EXPECT_FALSE(reply.retryable);
  EXPECT_NE(reply.error.find("participant 'acct' has no action 'refund'"),
            std::string::npos)
    << reply.error;
  auto ep = parse_redis_url(shared_server().url());
  auto c = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(c);
  auto rec = c->command({"HGET", "saga:{" + cmd.id + "}:barrier", "refund/x"});
  ASSERT_TRUE(rec);
  // No effect recorded: at most the failed attempt's record, which answers
  // copies of that attempt with the same failure.
  if ((*rec)->type != REDIS_REPLY_NIL) {
    ASSERT_EQ((*rec)->type, REDIS_REPLY_STRING);
    EXPECT_EQ(std::string((*rec)->str, (*rec)->len).substr(0, 1), "F")
      << "a failure left a success record";
  }
}

} // namespace
} // namespace saga::test
