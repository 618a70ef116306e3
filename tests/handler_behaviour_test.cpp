// No saga left behind: whatever a step's handlers do (answer, fail, throw,
// hang, drop their responder, answer late, block their thread), every saga
// ends within the bound its definition implies (`definition::time_bound`),
// and the barrier applies each operation's atomic effects at most once: a
// compensated saga's effects cancel out, a completed one's land once.
// On both journals: the memory journal and a real redis-server.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "persistence/memory_journal.hpp"
#include "saga/saga.hpp"
#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace saga::test {
namespace {

/// What a handler does with the first attempt of its operation (later
/// attempts succeed).
enum class act { ok, fail, fail_retryable, raise, hang, drop, late, block };

constexpr act all_acts[] = {act::ok,    act::fail, act::fail_retryable,
                            act::raise, act::hang, act::drop,
                            act::late,  act::block};

const char* to_string(act x) {
  switch (x) {
    case act::ok: return "ok";
    case act::fail: return "fail";
    case act::fail_retryable: return "fail_retryable";
    case act::raise: return "raise";
    case act::hang: return "hang";
    case act::drop: return "drop";
    case act::late: return "late";
    case act::block: return "block";
  }
  return "?";
}

act act_of(const json& payload, const char* key) {
  auto name = payload.value(key, std::string{"ok"});
  for (auto x : all_acts)
    if (name == to_string(x))
      return x;
  return act::ok;
}

/// Returns how the handler acts on this attempt: as the payload says on
/// the first attempt (or every attempt with "every_attempt"), else ok.
act acts_now(const step_context& ctx, const json& payload, bool compensate) {
  if (ctx.attempt() != 1 && !payload.value("every_attempt", false))
    return act::ok;
  return act_of(payload, compensate ? "comp" : "exec");
}

/// The hash holding every saga's effects: fields "<id>/x" (a's execute),
/// "<id>/c" (a's compensation of a recorded execute) and "<id>/b".
constexpr const char* effects_key = "hb:effects";

/// Answers, threads and blocked workers the test releases at its end.
struct held_answers {
  std::mutex mtx;
  std::condition_variable released_cv;
  bool released = false;
  std::vector<responder> hung;
  std::vector<std::thread> late;

  /// Blocks the calling worker until `release()`.
  void block() {
    std::unique_lock<std::mutex> guard{mtx};
    released_cv.wait(guard, [this] { return released; });
  }

  /// Lets every blocked worker go, answers every hung request (after the
  /// sagas ended: nothing may land) and joins the late answers.
  void release(const step_outcome& answer) {
    std::vector<responder> hung_now;
    std::vector<std::thread> late_now;
    {
      std::lock_guard<std::mutex> guard{mtx};
      released = true;
      hung_now.swap(hung);
      late_now.swap(late);
    }
    released_cv.notify_all();
    for (auto& r : hung_now)
      r.deliver(answer);
    for (auto& t : late_now)
      t.join();
  }
};

/// Returns a's execute outcome: one increment of "<id>/x", atomically.
step_outcome executed(const step_context& ctx) {
  return step_outcome::ok({{"n", 1}})
    .atomically({effect::incr_by(effects_key, ctx.id() + "/x", 1)});
}

/// Returns a's compensation outcome: undoes a recorded execute; an execute
/// revoked before it recorded applied nothing atomically, so nothing to undo.
step_outcome compensated(const step_context& ctx) {
  if (!ctx.execute_recorded())
    return step_outcome::ok({{"revoked", true}});
  return step_outcome::ok().atomically(
    {effect::incr_by(effects_key, ctx.id() + "/c", 1)});
}

/// Returns the outcome of a synchronous first attempt acting as `x`.
step_outcome sync_outcome(act x, const step_context& ctx, bool compensate) {
  switch (x) {
    case act::fail: return step_outcome::fail("declined once");
    case act::fail_retryable: return step_outcome::fail("busy once", true);
    case act::raise: throw std::runtime_error("database briefly down");
    default: return compensate ? compensated(ctx) : executed(ctx);
  }
}

class handler_behaviour : public ::testing::TestWithParam<std::string> {
protected:
  handler_behaviour() {
    add_message_types(cfg_);
    cfg_.set("scheduler.max-threads", 2);
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    runtime_config rc;
    // Each saga whose handler blocks holds one worker until the test ends
    // (16 executes, 16 compensations at most).
    rc.blocking_workers = 20;
    if (GetParam() == "memory") {
      store_ = std::make_shared<memory_store>();
      journal_ = spawn_memory_journal(*sys_, store_);
      rt_ = std::make_unique<runtime>(*sys_, journal_, rc);
    } else {
      rc.journal_url = shared_server().url();
      rc.journal.node_id = "hb-" + std::to_string(++instances_);
      rt_ = std::make_unique<runtime>(*sys_, rc);
    }
    EXPECT_FALSE(rt_->start_error()) << describe(rt_->start_error());
    add_probe();
  }

  ~handler_behaviour() override {
    held_->release(step_outcome::ok());
    rt_.reset();
    if (journal_)
      caf::anon_send_exit(journal_, caf::exit_reason::user_shutdown);
  }

  /// Registers participant "probe": action "asy" (asynchronous handlers),
  /// "blk" (blocking handlers), "b" (declines when the payload says so).
  void add_probe() {
    auto held = held_;
    auto async_handler = [held](bool compensate) {
      return [held, compensate](const step_context& ctx, const json& payload,
                                responder r) {
        auto x = acts_now(ctx, payload, compensate);
        switch (x) {
          case act::hang: {
            std::lock_guard<std::mutex> guard{held->mtx};
            held->hung.push_back(std::move(r));
            return;
          }
          case act::drop: return; // the responder goes out of scope unanswered
          case act::late: {
            auto answer = compensate ? compensated(ctx) : executed(ctx);
            std::lock_guard<std::mutex> guard{held->mtx};
            // Twice the operation's timeout (200 ms) after it was sent.
            held->late.emplace_back([r, answer] {
              std::this_thread::sleep_for(400ms);
              r.deliver(answer);
            });
            return;
          }
          default: r.deliver(sync_outcome(x, ctx, compensate));
        }
      };
    };
    auto blocking_handler = [held](bool compensate) {
      return [held, compensate](const step_context& ctx, const json& payload) {
        auto x = acts_now(ctx, payload, compensate);
        if (x == act::block)
          held->block(); // far past its timeout: until the test ends
        return sync_outcome(x, ctx, compensate);
      };
    };
    rt_->participant("probe")
      .on_async("asy", async_handler(false), async_handler(true))
      .on_blocking("blk", blocking_handler(false), blocking_handler(true))
      .on(
        "b",
        [](const step_context& ctx, const json& payload) {
          if (payload.value("declines", false))
            return step_outcome::fail("b declines");
          return step_outcome::ok().atomically(
            {effect::incr_by(effects_key, ctx.id() + "/b", 1)});
        },
        [](const step_context&, const json&) { return step_outcome::ok(); });
  }

  /// Returns a saga whose step "a" acts as `exec` on its first execute and
  /// as `comp` on its first compensation; step "b" then succeeds or declines.
  static definition make_def(act exec, act comp, bool b_declines) {
    auto blocking = exec == act::block || comp == act::block;
    definition d{"hb"};
    d.default_retry(retry_policy{3, 20ms, 2.0, 100ms, 0.0})
      .default_compensation_retry(retry_policy{4, 20ms, 2.0, 100ms, 0.0})
      .step("a", "probe",
            {{"exec", to_string(exec)}, {"comp", to_string(comp)}})
      .action(blocking ? "blk" : "asy")
      .timeout(200ms)
      .compensation_timeout(200ms)
      .step("b", "probe", {{"declines", b_declines}})
      .retry(retry_policy{1, 10ms})
      .timeout(2s);
    return d;
  }

  /// Returns the effects recorded so far, by field.
  std::map<std::string, long long> effects() {
    if (store_) {
      std::map<std::string, long long> result;
      for (const auto& [field, value] : store_->read_hash(effects_key))
        result[field] = std::stoll(value);
      return result;
    }
    return read_hash(shared_server().url(), effects_key);
  }

  static inline int instances_ = 0;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_ptr<memory_store> store_;
  journal_actor journal_;
  std::unique_ptr<runtime> rt_;
  std::shared_ptr<held_answers> held_ = std::make_shared<held_answers>();
};

/// Slack for a busy 2-core machine (CI runs tests beside each other): the
/// bound leaves out the journal's and the scheduler's own time.
constexpr auto margin = 10s;

TEST_P(handler_behaviour,
       every_saga_ends_within_its_bound_and_applies_effects_once) {
  struct run {
    act exec;
    act comp;
    bool b_declines;
    milliseconds bound;
    steady_clock::time_point started;
    std::future<saga_result> result;
  };
  std::vector<run> runs;
  for (auto exec : all_acts)
    for (auto comp : all_acts)
      for (auto b_declines : {false, true}) {
        auto def = make_def(exec, comp, b_declines);
        runs.push_back(run{exec, comp, b_declines, def.time_bound(),
                           steady_clock::now(), rt_->execute(def)});
      }
  for (auto& r : runs) {
    SCOPED_TRACE(std::string{"exec "} + to_string(r.exec) + ", comp "
                 + to_string(r.comp) + (r.b_declines ? ", b declines" : ""));
    ASSERT_EQ(r.result.wait_for(r.bound + margin), std::future_status::ready)
      << "not ended within its bound of " << r.bound.count() << " ms";
    auto x = r.result.get();
    auto fx = effects();
    auto of = [&](const char* what) {
      auto i = fx.find(x.saga_id + "/" + what);
      return i == fx.end() ? 0LL : i->second;
    };
    // First-attempt faults only, and enough retries: never an operator case.
    ASSERT_NE(x.state, saga_status::failed) << describe(x.error);
    if (x.state == saga_status::completed) {
      EXPECT_FALSE(r.b_declines);
      EXPECT_EQ(of("x"), 1);
      EXPECT_EQ(of("b"), 1);
      EXPECT_EQ(of("c"), 0);
    } else {
      ASSERT_EQ(x.state, saga_status::compensated) << describe(x.error);
      EXPECT_LE(of("x"), 1) << "an execute's effects landed twice";
      EXPECT_EQ(of("c"), of("x")) << "compensated effects do not cancel out";
      EXPECT_EQ(of("b"), 0);
    }
  }
  // Answers that come after the end (hung handlers answered now, blocked
  // workers let go) change nothing: each was revoked by its compensation.
  auto before = effects();
  held_->release(
    step_outcome::ok().atomically({effect::incr_by(effects_key, "late/x", 1)}));
  // One more saga through the same participant and journal: the answers
  // released above reached them before it.
  rt_->execute(make_def(act::ok, act::ok, false)).wait();
  auto after = effects();
  for (const auto& [field, value] : before)
    EXPECT_EQ(after[field], value) << field;
  EXPECT_EQ(after.count("late/x"), 0u);
}

/// Runs a one-step saga whose execute acts as `exec` on every attempt
/// (one attempt, `timeout`), compensated at once; returns its result and
/// how long it took, after checking that it ended within its bound.
std::pair<saga_result, milliseconds> run_hung(runtime& rt, act exec,
                                              milliseconds timeout) {
  definition d{"hung"};
  d.step("a", "probe",
         {{"exec", to_string(exec)}, {"comp", "ok"}, {"every_attempt", true}})
    .action(exec == act::block ? "blk" : "asy")
    .timeout(timeout)
    .compensation_timeout(200ms)
    .compensation_retry(retry_policy{4, 20ms, 2.0, 100ms, 0.0});
  auto started = steady_clock::now();
  auto f = rt.execute(d);
  if (f.wait_for(d.time_bound() + margin) != std::future_status::ready)
    ADD_FAILURE() << "not ended within " << d.time_bound().count()
                  << " ms + margin";
  auto r = f.get();
  auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now()
                                                       - started);
  return {r, took};
}

TEST_P(handler_behaviour,
       a_never_answering_execute_is_revoked_and_compensated) {
  auto [r, took] = run_hung(*rt_, act::hang, 200ms);
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  EXPECT_EQ(r.compensated_steps, std::vector<std::string>{"a"});
  std::lock_guard<std::mutex> guard{held_->mtx};
  EXPECT_EQ(held_->hung.size(), 1u) << "ended while the handler still hangs";
}

TEST_P(handler_behaviour, a_blocking_execute_far_past_its_timeout_is_revoked) {
  auto [r, took] = run_hung(*rt_, act::block, 200ms);
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  // Its worker is still blocked (until the fixture releases it): the
  // compensation ran on the compensations' own workers.
  std::lock_guard<std::mutex> guard{held_->mtx};
  EXPECT_FALSE(held_->released);
}

TEST_P(handler_behaviour, a_dropped_responder_is_detected_before_the_timeout) {
  // A minute's timeout: only the dropped responder can end it sooner.
  auto [r, took] = run_hung(*rt_, act::drop, 60s);
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  EXPECT_LT(took, 30s) << "waited for the step timeout";
  auto log = rt_->saga_log(r.saga_id);
  ASSERT_TRUE(log);
  EXPECT_NE(log->steps[0].error.find("dropped its responder"),
            std::string::npos)
    << log->steps[0].error;
}

TEST_P(handler_behaviour, every_kind_of_compensation_failure_is_retried) {
  // The compensation acts as `comp` on its first attempt and succeeds on
  // its second: every kind of failure gets that second attempt.
  for (auto comp : {act::fail, act::fail_retryable, act::raise, act::hang,
                    act::drop, act::block}) {
    SCOPED_TRACE(to_string(comp));
    definition d{"comp-retry"};
    d.step("a", "probe", {{"exec", "ok"}, {"comp", to_string(comp)}})
      .action(comp == act::block ? "blk" : "asy")
      .timeout(1s)
      .compensation_timeout(200ms)
      .step("b", "probe", {{"declines", true}});
    d.default_compensation_retry(retry_policy{3, 20ms, 2.0, 100ms, 0.0});
    auto f = rt_->execute(d);
    ASSERT_EQ(f.wait_for(d.time_bound() + margin), std::future_status::ready);
    auto r = f.get();
    EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
    auto log = rt_->saga_log(r.saga_id);
    ASSERT_TRUE(log);
    EXPECT_EQ(log->steps[0].compensation_attempts, 2u);
  }
}

TEST_P(handler_behaviour,
       a_compensation_the_policy_gives_up_on_ends_failed_naming_why) {
  rt_->participant("probe").on(
    "stubborn",
    [](const step_context& ctx, const json&) { return executed(ctx); },
    [](const step_context&, const json&) -> step_outcome {
      throw std::runtime_error("ledger offline");
    });
  definition d{"gives-up"};
  d.step("a", "probe")
    .action("stubborn")
    .compensation_retry(retry_policy{3, 10ms, 2.0, 100ms, 0.0})
    .step("b", "probe", {{"declines", true}});
  auto r = rt_->execute(d).get();
  EXPECT_EQ(r.state, saga_status::failed);
  EXPECT_TRUE(is(r.error, errc::compensation_failed)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("handler threw: ledger offline"),
            std::string::npos)
    << describe(r.error);
  auto log = rt_->saga_log(r.saga_id);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->steps[0].compensation_attempts, 3u);
}

TEST_P(handler_behaviour,
       a_missing_compensation_handler_is_retried_until_deployed) {
  // Not there at first: the saga fails after its policy's attempts (not
  // after one); deployed, an operator's retry finishes the compensation.
  rt_->participant("probe").on(
    "late_undo",
    [](const step_context& ctx, const json&) { return executed(ctx); },
    step_handler{});
  definition d{"late-undo"};
  d.step("a", "probe")
    .action("late_undo")
    .compensation_retry(retry_policy{3, 10ms, 2.0, 100ms, 0.0})
    .step("b", "probe", {{"declines", true}});
  auto r = rt_->execute(d).get();
  ASSERT_EQ(r.state, saga_status::failed);
  EXPECT_NE(describe(r.error).find("no handler"), std::string::npos)
    << describe(r.error);
  auto log = rt_->saga_log(r.saga_id);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->steps[0].compensation_attempts, 3u);
  rt_->participant("probe").on(
    "late_undo",
    [](const step_context& ctx, const json&) { return executed(ctx); },
    [](const step_context& ctx, const json&) { return compensated(ctx); });
  auto ended = std::make_shared<std::promise<lifecycle_kind>>();
  lifecycle_filter ends;
  ends.kinds = {lifecycle_kind::saga_compensated, lifecycle_kind::saga_failed};
  auto id = r.saga_id;
  rt_->subscribe(ends, [ended, id](const lifecycle_event& ev) {
    if (ev.saga_id == id)
      ended->set_value(ev.kind);
  });
  auto retried = rt_->retry(r.saga_id, "alice");
  ASSERT_TRUE(retried) << describe(retried.error());
  auto how = ended->get_future();
  ASSERT_EQ(how.wait_for(d.time_bound() + margin), std::future_status::ready);
  EXPECT_EQ(how.get(), lifecycle_kind::saga_compensated);
  EXPECT_EQ(effects()[r.saga_id + "/c"], 1);
}

INSTANTIATE_TEST_SUITE_P(journals, handler_behaviour,
                         ::testing::Values("memory", "redis"));

} // namespace
} // namespace saga::test
