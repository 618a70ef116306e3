// The public runtime API on CAF's real scheduler, as applications use it.
// Waiting is always on an event (a future, a reply), never on a sleep.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "demo/trade.hpp"
#include "persistence/memory_journal.hpp"
#include "saga/saga.hpp"
#include "tests/await_saga.hpp"

using namespace std::chrono_literals;

namespace saga {
namespace {

step_outcome ok_handler(const step_context&, const json&) {
  return step_outcome::ok();
}

definition two_steps(const std::string& p1, const std::string& p2) {
  definition d{"two"};
  d.step("first", p1, {{"n", 1}}).timeout(10s).step("second", p2).timeout(10s);
  return d;
}

TEST(runtime, execute_returns_a_future_of_the_result) {
  runtime rt;
  ASSERT_FALSE(rt.start_error());
  rt.participant("p")
    .on("first", ok_handler, ok_handler)
    .on("second", ok_handler, ok_handler);
  auto r = rt.execute(two_steps("p", "p")).get();
  EXPECT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(r.state, saga_status::completed);
  EXPECT_FALSE(r.saga_id.empty());
  EXPECT_EQ(r.completed_steps, (std::vector<std::string>{"first", "second"}));
  EXPECT_GT(r.duration.count(), 0);
}

TEST(runtime, execute_with_a_callback) {
  runtime rt;
  rt.participant("p")
    .on("first", ok_handler, ok_handler)
    .on("second", ok_handler, ok_handler);
  std::promise<saga_result> done;
  rt.execute(two_steps("p", "p"),
             [&done](saga_result r) { done.set_value(std::move(r)); });
  EXPECT_TRUE(done.get_future().get().success);
}

TEST(runtime, many_concurrent_sagas_get_distinct_ids) {
  runtime rt;
  rt.participant("p")
    .on("first", ok_handler, ok_handler)
    .on("second", ok_handler, ok_handler);
  std::vector<std::future<saga_result>> fs;
  fs.reserve(200);
  for (int i = 0; i < 200; ++i)
    fs.push_back(rt.execute(two_steps("p", "p")));
  std::set<saga_id> ids;
  for (auto& f : fs) {
    auto r = f.get();
    EXPECT_TRUE(r.success);
    ids.insert(r.saga_id);
  }
  EXPECT_EQ(ids.size(), 200u);
}

TEST(runtime, a_saga_can_be_started_from_an_actor) {
  runtime rt;
  rt.participant("p")
    .on("first", ok_handler, ok_handler)
    .on("second", ok_handler, ok_handler);
  auto def = std::make_shared<const definition>(two_steps("p", "p"));
  caf::scoped_actor self{rt.system()};
  bool success = false;
  self->request(rt.coordinator(), caf::infinite, run_atom::value, def)
    .receive([&](const saga_result& r) { success = r.success; },
             [&](caf::error& err) { ADD_FAILURE() << describe(err); });
  EXPECT_TRUE(success);
}

TEST(runtime, step_results_flow_to_later_steps) {
  runtime rt;
  std::promise<json> seen;
  rt.participant("account").on(
    "first",
    [](const step_context&, const json& data) {
      return step_outcome::ok({{"doubled", data["n"].get<int>() * 2}});
    },
    ok_handler);
  rt.participant("log").on(
    "second",
    [&seen](const step_context& ctx, const json&) {
      seen.set_value(ctx.result_of("first"));
      return step_outcome::ok();
    },
    ok_handler);
  ASSERT_TRUE(rt.execute(two_steps("account", "log")).get().success);
  EXPECT_EQ(seen.get_future().get(), (json{{"doubled", 2}}));
}

TEST(runtime, blocking_handlers_run_off_the_scheduler_threads) {
  runtime_config cfg;
  cfg.scheduler_threads = 1;
  runtime rt{cfg};
  std::promise<std::thread::id> in_actor_thread;
  std::promise<std::thread::id> blocking_thread;
  std::promise<void> unblock;
  auto unblocked = unblock.get_future().share();
  rt.participant("db").on_blocking(
    "first",
    [&, unblocked](const step_context&, const json&) {
      blocking_thread.set_value(std::this_thread::get_id());
      // Blocks until another saga's in-actor handler ran. With one
      // scheduler thread, this only finishes if we do not occupy it.
      if (unblocked.wait_for(30s) != std::future_status::ready)
        return step_outcome::fail("the scheduler was stalled");
      return step_outcome::ok();
    },
    ok_handler);
  rt.participant("fast").on(
    "second",
    [&](const step_context&, const json&) {
      in_actor_thread.set_value(std::this_thread::get_id());
      unblock.set_value();
      return step_outcome::ok();
    },
    ok_handler);
  definition slow{"slow"};
  slow.step("first", "db").timeout(60s);
  definition quick{"quick"};
  quick.step("second", "fast").timeout(60s);
  auto f1 = rt.execute(slow);
  auto bt = blocking_thread.get_future().get(); // the blocking call runs
  auto f2 = rt.execute(quick);
  EXPECT_TRUE(f2.get().success);
  auto r1 = f1.get();
  EXPECT_TRUE(r1.success) << describe(r1.error);
  EXPECT_NE(bt, in_actor_thread.get_future().get());
}

TEST(runtime, async_handlers_answer_later_from_any_thread) {
  runtime rt;
  std::vector<std::thread> threads;
  rt.participant("remote-ish")
    .on_async(
      "first",
      [&threads](const step_context&, const json&, responder reply) {
        threads.emplace_back([reply] {
          reply.deliver(step_outcome::ok({{"from", "thread"}}));
          reply.deliver(step_outcome::fail("second answer is ignored"));
        });
      },
      [](const step_context&, const json&, responder reply) {
        reply.deliver(step_outcome::ok());
      });
  definition d{"async"};
  d.step("first", "remote-ish").timeout(10s);
  auto r = rt.execute(d).get();
  for (auto& t : threads)
    t.join();
  EXPECT_TRUE(r.success) << describe(r.error);
  auto log = rt.saga_log(r.saga_id);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->steps[0].result, R"({"from":"thread"})");
}

TEST(runtime, a_throwing_handler_fails_its_step_with_the_reason) {
  runtime rt;
  rt.participant("p")
    .on("first", ok_handler, ok_handler)
    .on(
      "second",
      [](const step_context&, const json&) -> step_outcome {
        throw std::runtime_error("database exploded");
      },
      ok_handler);
  auto r = rt.execute(two_steps("p", "p")).get();
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_NE(describe(r.error).find("database exploded"), std::string::npos);
}

TEST(runtime, saga_log_of_a_compensated_saga) {
  runtime rt;
  rt.participant("p")
    .on(
      "first",
      [](const step_context&, const json&) {
        return step_outcome::ok({{"tx", 1}});
      },
      ok_handler)
    .on(
      "second",
      [](const step_context&, const json&) {
        return step_outcome::fail("out of stock");
      },
      ok_handler);
  auto r = rt.execute(two_steps("p", "p")).get();
  ASSERT_EQ(r.state, saga_status::compensated);
  auto log = rt.saga_log(r.saga_id);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->status, saga_status::compensated);
  EXPECT_EQ(log->name, "two");
  ASSERT_EQ(log->steps.size(), 2u);
  EXPECT_EQ(log->steps[0].status, step_status::compensated);
  EXPECT_EQ(log->steps[0].result, R"({"tx":1})");
  EXPECT_EQ(log->steps[1].status, step_status::failed);
  EXPECT_EQ(log->steps[1].error, "out of stock");
  EXPECT_EQ(log->events.front().type, event_type::saga_started);
  EXPECT_EQ(log->events.back().type, event_type::saga_compensated);
  EXPECT_FALSE(rt.saga_log("no-such-saga"));
}

TEST(runtime, a_raw_actor_can_be_a_participant) {
  runtime rt;
  auto raw = rt.system().spawn([]() -> participant_actor::behavior_type {
    return {
      [](execute_atom, const step_command& cmd) {
        step_reply r;
        r.ok = cmd.action == "first";
        r.result = R"({"raw":true})";
        r.error = "unknown action";
        return r;
      },
      [](compensate_atom, const step_command&) {
        step_reply r;
        r.ok = true;
        return r;
      },
    };
  });
  rt.register_participant("raw", raw);
  definition d{"raw"};
  d.step("first", "raw").timeout(10s);
  auto r = rt.execute(d).get();
  EXPECT_TRUE(r.success) << describe(r.error);
  caf::anon_send_exit(raw, caf::exit_reason::user_shutdown);
}

TEST(runtime, a_null_compensation_is_answered_ok_without_an_error) {
  // The memory journal's barrier, through a participant (tests/barrier_test
  // does the same on Redis): a compensate before any execute.
  runtime rt;
  std::atomic<int> compensated{0};
  rt.participant("p").on("pay", ok_handler,
                         [&compensated](const step_context&, const json&) {
                           ++compensated;
                           return step_outcome::ok();
                         });
  auto compensate = [&rt](uint32_t attempt) {
    step_command cmd;
    cmd.id = "null-comp";
    cmd.saga_name = "t";
    cmd.step = "pay";
    cmd.action = "pay";
    cmd.attempt = attempt;
    cmd.payload = "{}";
    step_reply result;
    caf::scoped_actor self{rt.system()};
    self
      ->request(rt.participant("p").handle(), 10s, compensate_atom::value, cmd)
      .receive([&](step_reply& r) { result = std::move(r); },
               [&](caf::error& e) { result.error = describe(e); });
    return result;
  };
  for (uint32_t attempt : {1u, 2u}) { // the first, then a copy
    auto r = compensate(attempt);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.error, "") << "an ok reply carries no error";
  }
  EXPECT_EQ(compensated.load(), 0) << "nothing executed: nothing to undo";
}

TEST(runtime, a_bad_journal_url_is_reported_at_start) {
  runtime_config cfg;
  cfg.journal_url = "postgres://localhost/db";
  runtime rt{cfg};
  EXPECT_TRUE(is(rt.start_error(), errc::invalid_url));
  EXPECT_NE(describe(rt.start_error()).find("postgres"), std::string::npos);
  auto r = rt.execute(two_steps("p", "p")).get();
  EXPECT_TRUE(is(r.error, errc::invalid_url));
}

TEST(runtime, a_bad_config_is_reported_at_start) {
  runtime_config cfg;
  cfg.journal_timeout = 0ms;
  runtime rt{cfg};
  EXPECT_TRUE(is(rt.start_error(), errc::invalid_config));
  EXPECT_NE(describe(rt.start_error()).find("journal_timeout"),
            std::string::npos);
}

TEST(runtime, stopping_the_runtime_answers_waiting_callers) {
  std::future<saga_result> pending;
  std::promise<void> started;
  std::optional<responder> held; // never answered, never dropped
  {
    runtime rt;
    rt.participant("p").on_async(
      "first",
      [&started, &held](const step_context&, const json&, responder r) {
        held = std::move(r);
        started.set_value(); // never answers
      },
      [](const step_context&, const json&, responder r) {
        r.deliver(step_outcome::ok());
      });
    definition d{"stuck"};
    d.step("first", "p").timeout(60s);
    pending = rt.execute(d);
    started.get_future().wait();
  }
  auto r = pending.get();
  EXPECT_TRUE(is(r.error, errc::shutting_down)) << describe(r.error);
}

TEST(runtime, recover_finishes_the_sagas_of_a_stopped_runtime) {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto store = std::make_shared<memory_store>();
  auto journal = spawn_memory_journal(sys, store);
  std::promise<saga_id> stuck;
  std::optional<responder> held; // never answered, never dropped
  {
    runtime first{sys, journal};
    first.participant("p")
      .on("first", ok_handler, ok_handler)
      .on_async(
        "second",
        [&stuck, &held](const step_context& ctx, const json&, responder r) {
          held = std::move(r);
          stuck.set_value(ctx.id()); // never answers: the node "dies"
        },
        [](const step_context&, const json&, responder r) {
          r.deliver(step_outcome::ok());
        });
    first.execute(two_steps("p", "p"), [](const saga_result&) {});
    stuck.get_future().wait();
  }
  auto unfinished = store->unfinished("", 10);
  ASSERT_EQ(unfinished.ids.size(), 1u);
  runtime second{sys, journal};
  second.participant("p")
    .on("first", ok_handler, ok_handler)
    .on("second", ok_handler, ok_handler);
  EXPECT_EQ(second.recover(), 1u);
  caf::scoped_actor self{sys};
  self
    ->request(second.coordinator(), caf::infinite, resume_atom::value,
              unfinished.ids[0])
    .receive([](const saga_result& r) { EXPECT_TRUE(r.success); },
             [](caf::error& err) { ADD_FAILURE() << describe(err); });
  auto log = second.saga_log(unfinished.ids[0]);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->status, saga_status::completed);
  EXPECT_TRUE(store->unfinished("", 10).ids.empty());
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
}

/// Inventories owned by one participant actor (its handlers run one at a
/// time, so no locks); readable after the sagas ended.
struct inventories {
  std::map<std::string, std::multiset<std::string>> items;

  void attach(runtime& rt) {
    rt.participant("inventory-server")
      .on(
        "remove_item",
        [this](const step_context&, const json& d) {
          auto& inv = items[d["playerId"].get<std::string>()];
          auto i = inv.find(d["itemId"].get<std::string>());
          if (i == inv.end())
            return step_outcome::fail("no such item");
          inv.erase(i);
          return step_outcome::ok();
        },
        [this](const step_context&, const json& d) {
          items[d["playerId"].get<std::string>()].insert(
            d["itemId"].get<std::string>());
          return step_outcome::ok();
        })
      .on(
        "add_item",
        [this](const step_context&, const json& d) {
          if (d["itemId"] == "cursed-ring")
            return step_outcome::fail("cursed items cannot be received");
          items[d["playerId"].get<std::string>()].insert(
            d["itemId"].get<std::string>());
          return step_outcome::ok();
        },
        [this](const step_context&, const json& d) {
          auto& inv = items[d["playerId"].get<std::string>()];
          auto i = inv.find(d["itemId"].get<std::string>());
          if (i != inv.end())
            inv.erase(i);
          return step_outcome::ok();
        });
  }
};

TEST(runtime, a_trade_swaps_both_inventories) {
  runtime rt;
  inventories inv;
  inv.items["alice"] = {"sword", "shield", "potion"};
  inv.items["bob"] = {"bow", "arrows"};
  inv.attach(rt);
  auto r = rt.execute(demo::make_trade("test", "alice", {"sword", "potion"},
                                       "bob", {"bow", "arrows"}))
             .get();
  ASSERT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(r.completed_steps.size(), 8u);
  EXPECT_EQ(inv.items["alice"],
            (std::multiset<std::string>{"shield", "bow", "arrows"}));
  EXPECT_EQ(inv.items["bob"], (std::multiset<std::string>{"sword", "potion"}));
}

TEST(runtime, a_failed_trade_restores_both_inventories_exactly) {
  runtime rt;
  inventories inv;
  inv.items["alice"] = {"sword", "cursed-ring", "potion"};
  inv.items["bob"] = {"bow", "arrows", "arrows"};
  auto before = inv.items;
  inv.attach(rt);
  auto r = rt.execute(demo::make_trade("test", "alice",
                                       {"sword", "cursed-ring"}, "bob",
                                       {"arrows", "bow"}))
             .get();
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  EXPECT_NE(describe(r.error).find("cursed"), std::string::npos);
  EXPECT_EQ(inv.items, before);
}

// -- operating: lifecycle subscriptions, retry, abort ----------------------------

/// Collects lifecycle events until one of `last` kind arrives.
struct event_sink {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<lifecycle_event> events;

  void add(const lifecycle_event& ev) {
    std::lock_guard<std::mutex> guard{mtx};
    events.push_back(ev);
    cv.notify_all();
  }

  /// Returns the events once one of kind `k` for saga `id` (any if empty)
  /// arrived, waiting at most 30 s.
  std::vector<lifecycle_event> until(lifecycle_kind k, std::string id = {}) {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, 30s, [&] {
      return std::any_of(events.begin(), events.end(), [&](const auto& ev) {
        return ev.kind == k && (id.empty() || ev.saga_id == id);
      });
    });
    return events;
  }
};

/// Ends subscription `id` of `rt` when it goes out of scope: declared after
/// the sink its callback feeds, it ends the callback before the sink dies,
/// also when an assertion returns early. (Events of a saga still arrive
/// after its result: they are published once durable.)
struct subscription_guard {
  runtime& rt;
  uint64_t id;
  ~subscription_guard() {
    rt.unsubscribe(id);
  }
};

TEST(runtime, lifecycle_subscribers_get_their_definitions_events_in_order) {
  runtime rt;
  rt.participant("p")
    .on("first", ok_handler, ok_handler)
    .on("second", ok_handler, ok_handler);
  event_sink sink;
  lifecycle_filter only_two;
  only_two.definitions = {"two"};
  auto sub = rt.subscribe(only_two,
                          [&sink](const lifecycle_event& ev) { sink.add(ev); });
  definition other{"other"};
  other.step("first", "p");
  ASSERT_TRUE(rt.execute(other).get().success);
  auto r = rt.execute(two_steps("p", "p")).get();
  ASSERT_TRUE(r.success);
  auto seen = sink.until(lifecycle_kind::saga_completed);
  std::vector<std::string> kinds;
  for (const auto& ev : seen) {
    EXPECT_EQ(ev.definition, "two");
    EXPECT_EQ(ev.saga_id, r.saga_id);
    kinds.push_back(std::string{to_string(ev.kind)} + ":" + ev.step);
  }
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"saga_started:", "step_completed:first",
                                      "step_completed:second",
                                      "saga_completed:"}));
  rt.unsubscribe(sub);
  auto again = rt.execute(two_steps("p", "p")).get();
  ASSERT_TRUE(again.success);
  EXPECT_EQ(rt.stats()->of("two").completed.load(), 2u);
  EXPECT_EQ(rt.stats()->of("other").completed.load(), 1u);
  std::lock_guard<std::mutex> guard{sink.mtx};
  EXPECT_EQ(sink.events.size(), 4u); // nothing after unsubscribe
}

TEST(runtime, failed_attempts_are_published_before_the_retry) {
  runtime rt;
  std::atomic<int> calls{0};
  rt.participant("p").on(
    "flaky",
    [&calls](const step_context&, const json&) {
      if (++calls == 1)
        return step_outcome::fail("the ledger is busy", true);
      return step_outcome::ok();
    },
    ok_handler);
  event_sink sink;
  subscription_guard guard{rt, rt.subscribe(lifecycle_filter{},
                                            [&sink](const lifecycle_event& ev) {
                                              sink.add(ev);
                                            })};
  definition d{"flaky"};
  // Attempt 2 follows within 40 ms (jitter only shortens the delay).
  d.step("pay", "p").action("flaky").retry(retry_policy{3, 40ms});
  auto r = rt.execute(d).get();
  ASSERT_TRUE(r.success) << describe(r.error);
  auto seen = sink.until(lifecycle_kind::saga_completed);
  auto failed = std::find_if(seen.begin(), seen.end(), [](const auto& ev) {
    return ev.kind == lifecycle_kind::step_attempt_failed;
  });
  ASSERT_NE(failed, seen.end());
  EXPECT_EQ(failed->step, "pay");
  EXPECT_EQ(failed->attempt, 1u);
  EXPECT_NE(failed->error.find("the ledger is busy"), std::string::npos)
    << failed->error;
  EXPECT_EQ(to_string(failed->kind), "step_attempt_failed");
  EXPECT_EQ(failed->next_attempt_ms, failed->time_ms + 40);
}

TEST(runtime, unsubscribe_returns_only_once_the_callback_can_no_longer_run) {
  // The owner of a callback frees what it uses right after unsubscribe
  // (node_backend's destructor did; AddressSanitizer found the callback
  // still writing into the freed buffer on another thread).
  runtime rt;
  rt.participant("p")
    .on("first", ok_handler, ok_handler)
    .on("second", ok_handler, ok_handler);
  std::mutex mtx;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  std::atomic<int> order{0};
  std::atomic<int> callback_done_at{0};
  std::atomic<int> calls_after{0};
  std::atomic<bool> unsubscribed{false};
  auto sub = rt.subscribe(lifecycle_filter{}, [&](const lifecycle_event&) {
    if (unsubscribed)
      ++calls_after;
    std::unique_lock<std::mutex> guard{mtx};
    entered = true;
    cv.notify_all();
    cv.wait(guard, [&] { return release; });
    callback_done_at = ++order;
  });
  ASSERT_TRUE(rt.execute(two_steps("p", "p")).get().success);
  {
    std::unique_lock<std::mutex> guard{mtx};
    ASSERT_TRUE(cv.wait_for(guard, 30s, [&] { return entered; }));
  }
  int unsubscribe_returned_at = 0;
  std::thread t{[&] {
    rt.unsubscribe(sub);
    unsubscribe_returned_at = ++order;
    unsubscribed = true;
  }};
  {
    // Give a wrong unsubscribe the chance to return early: it must not.
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, 200ms, [] { return false; });
    release = true;
    cv.notify_all();
  }
  t.join();
  EXPECT_LT(callback_done_at.load(), unsubscribe_returned_at)
    << "unsubscribe returned while the callback still ran";
  ASSERT_TRUE(rt.execute(two_steps("p", "p")).get().success);
  EXPECT_EQ(calls_after.load(), 0);
}

TEST(runtime, an_operator_retries_a_failed_saga_with_a_fresh_budget) {
  runtime rt;
  std::atomic<int> refunds{0};
  rt.participant("bank")
    .on("pay", ok_handler,
        [&refunds](const step_context&, const json&) {
          // The first two refunds fail: the saga gives up and fails.
          return ++refunds <= 2 ? step_outcome::fail("desk jammed", true)
                                : step_outcome::ok();
        })
    .on(
      "ship",
      [](const step_context&, const json&) {
        return step_outcome::fail("no stock");
      },
      ok_handler);
  definition d{"order"};
  d.step("pay", "bank")
    .compensation_retry(retry_policy{2, 1ms})
    .step("ship", "bank");
  auto r = rt.execute(d).get();
  ASSERT_EQ(r.state, saga_status::failed) << describe(r.error);
  EXPECT_TRUE(is(r.error, errc::compensation_failed));
  EXPECT_EQ(rt.stats()->of("order").failed.load(), 1u);
  // Not failed, not known: refused with a reason.
  EXPECT_TRUE(
    is(rt.retry("no-such-saga", "alice").error(), errc::unknown_saga));
  event_sink sink;
  subscription_guard guard{rt, rt.subscribe(lifecycle_filter{},
                                            [&sink](const lifecycle_event& ev) {
                                              sink.add(ev);
                                            })};
  auto state = rt.retry(r.saga_id, "alice");
  ASSERT_TRUE(state) << describe(state.error());
  EXPECT_EQ(*state, saga_status::compensating);
  auto heard = sink.until(lifecycle_kind::saga_compensated, r.saga_id);
  ASSERT_FALSE(heard.empty());
  EXPECT_EQ(heard.front().kind, lifecycle_kind::saga_retried);
  auto done = test::await_saga(rt, r.saga_id);
  EXPECT_EQ(done.state, saga_status::compensated) << describe(done.error);
  EXPECT_TRUE(is(done.error, errc::step_failed)) << describe(done.error);
  EXPECT_EQ(refunds.load(), 3);
  auto log = rt.saga_log(r.saga_id);
  ASSERT_TRUE(log);
  auto retried = std::find_if(log->events.begin(), log->events.end(),
                              [](const event& ev) {
                                return ev.type == event_type::saga_retried;
                              });
  ASSERT_NE(retried, log->events.end());
  EXPECT_EQ(json::parse(retried->data)["by"], "alice");
  EXPECT_TRUE(is(rt.retry(r.saga_id, "alice").error(), errc::invalid_state));
  EXPECT_EQ(rt.stats()->operator_retries.load(), 1u);
}

TEST(runtime, an_operator_aborts_a_running_saga) {
  runtime rt;
  std::promise<responder> held;
  rt.participant("slow")
    .on_async(
      "wait",
      [&held](const step_context&, const json&, responder reply) {
        held.set_value(reply); // answered after the abort
      },
      [](const step_context&, const json&, responder reply) {
        reply.deliver(step_outcome::ok());
      })
    .on("next", ok_handler, ok_handler);
  event_sink sink;
  subscription_guard guard{rt, rt.subscribe(lifecycle_filter{},
                                            [&sink](const lifecycle_event& ev) {
                                              sink.add(ev);
                                            })};
  definition d{"slow"};
  d.step("wait", "slow").timeout(30s).step("next", "slow");
  auto result = rt.execute(d);
  auto reply = held.get_future().get(); // the first step is in flight
  auto started = sink.until(lifecycle_kind::saga_started);
  ASSERT_FALSE(started.empty());
  auto id = started.front().saga_id;
  auto state = rt.abort(id, "bob");
  ASSERT_TRUE(state) << describe(state.error());
  EXPECT_EQ(*state, saga_status::compensating);
  reply.deliver(step_outcome::ok()); // it took effect: it is undone
  auto r = result.get();
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_TRUE(is(r.error, errc::aborted)) << describe(r.error);
  EXPECT_EQ(r.compensated_steps, (std::vector<std::string>{"wait"}));
  auto turned = sink.until(lifecycle_kind::compensation_started, id);
  auto i = std::find_if(turned.begin(), turned.end(), [](const auto& ev) {
    return ev.kind == lifecycle_kind::compensation_started;
  });
  ASSERT_NE(i, turned.end());
  EXPECT_NE(i->error.find("aborted by operator 'bob'"), std::string::npos);
  // An ended saga cannot be aborted.
  EXPECT_TRUE(is(rt.abort(id, "bob").error(), errc::invalid_state));
}

TEST(runtime, definitions_beyond_the_resource_limits_are_refused_unpersisted) {
  runtime_config cfg;
  cfg.max_steps = 2;
  cfg.max_payload_bytes = 1'024;
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error());
  rt.participant("p").on("a", ok_handler, ok_handler);
  definition many{"many"};
  many.step("a", "p").step("b", "p").action("a").step("c", "p").action("a");
  auto r = rt.execute(many).get();
  EXPECT_TRUE(is(r.error, errc::invalid_payload)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("has 3 steps"), std::string::npos);
  EXPECT_NE(describe(r.error).find("max_steps"), std::string::npos);
  EXPECT_TRUE(r.saga_id.empty()); // nothing was started or persisted
  definition big{"big"};
  big.step("a", "p", {{"blob", std::string(2'000, 'x')}});
  r = rt.execute(big).get();
  EXPECT_TRUE(is(r.error, errc::invalid_payload)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("max_payload_bytes"), std::string::npos);
  EXPECT_TRUE(r.saga_id.empty());
  // Within the limits, the same runtime runs sagas.
  definition fine{"fine"};
  fine.step("a", "p", {{"blob", "small"}});
  EXPECT_TRUE(rt.execute(fine).get().success);
  runtime_config bad;
  bad.max_steps = 0;
  EXPECT_TRUE(is(bad.validate(), errc::invalid_config));
}

} // namespace
} // namespace saga
