// Client-chosen saga ids (definition::id): a start is idempotent. Two
// runtimes share one in-memory journal, as two nodes share Redis; the
// cross-process case (a coordinator SIGKILLed) is in cluster_test.cpp.

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "persistence/memory_journal.hpp"
#include "saga/saga.hpp"

using namespace std::chrono_literals;

namespace saga {
namespace {

step_outcome ok_handler(const step_context&, const json&) {
  return step_outcome::ok();
}

/// Returns how many `saga_started` events saga `id` has in `store`.
size_t starts_of(const memory_store& store, const saga_id& id) {
  auto events = store.read(id);
  if (!events)
    return 0;
  size_t n = 0;
  for (const auto& ev : *events)
    n += ev.type == event_type::saga_started ? 1 : 0;
  return n;
}

/// Two runtimes on one actor system and one shared in-memory journal.
class client_id_test : public ::testing::Test {
protected:
  client_id_test() : sys_{(add_message_types(cfg_), cfg_)} {
    journal_ = spawn_memory_journal(sys_, store_);
  }

  ~client_id_test() override {
    caf::anon_send_exit(journal_, caf::exit_reason::user_shutdown);
    for (auto& j : node_journals_)
      caf::anon_send_exit(j, caf::exit_reason::user_shutdown);
  }

  /// Returns a runtime whose participant "p" runs "a" at once and holds
  /// "slow" until `release` is called. With a `node` name it writes as that
  /// node (its own journal actor on the shared store), as another node would.
  std::unique_ptr<runtime> make_runtime(const std::string& node = "") {
    auto journal = journal_;
    if (!node.empty()) {
      journal = spawn_memory_journal(sys_, store_, saga_owner{node, 1});
      node_journals_.push_back(journal);
    }
    auto rt = std::make_unique<runtime>(sys_, journal);
    rt->participant("p")
      .on("a", ok_handler, ok_handler)
      .on_async(
        "slow",
        [this](const step_context&, const json&, responder r) {
          std::lock_guard<std::mutex> guard{mtx_};
          held_.push_back(std::move(r));
          held_cv_.notify_all();
        },
        [](const step_context&, const json&, responder r) {
          r.deliver(step_outcome::ok());
        });
    return rt;
  }

  /// Waits until `n` slow executes are held.
  void await_held(size_t n) {
    std::unique_lock<std::mutex> guard{mtx_};
    ASSERT_TRUE(
      held_cv_.wait_for(guard, 30s, [&] { return held_.size() >= n; }));
  }

  /// Answers every held slow execute.
  void release() {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& r : held_)
      r.deliver(step_outcome::ok());
    held_.clear();
  }

  static definition order(const std::string& id, bool slow = false) {
    definition d{"order"};
    d.id(id).business_key("order-1001");
    d.step("a", "p", {{"n", 1}}).timeout(30s);
    if (slow)
      d.step("b", "p").action("slow").timeout(30s);
    return d;
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  std::shared_ptr<memory_store> store_ = std::make_shared<memory_store>();
  journal_actor journal_;
  std::vector<journal_actor> node_journals_;
  std::mutex mtx_;
  std::condition_variable held_cv_;
  std::vector<responder> held_;
};

TEST_F(client_id_test, the_saga_takes_the_chosen_id_and_keeps_its_key) {
  auto rt = make_runtime();
  auto r = rt->execute(order("order-1001")).get();
  ASSERT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(r.saga_id, "order-1001");
  auto log = rt->saga_log("order-1001");
  ASSERT_TRUE(log);
  auto def = definition::from_json_text(log->events.front().data);
  ASSERT_TRUE(def) << describe(def.error());
  EXPECT_EQ((*def)->business_key(), "order-1001");
}

TEST_F(client_id_test, starting_an_ended_id_again_returns_its_result) {
  auto rt = make_runtime();
  auto first = rt->execute(order("o-1")).get();
  ASSERT_TRUE(first.success) << describe(first.error);
  auto again = rt->execute(order("o-1")).get();
  EXPECT_TRUE(again.success) << describe(again.error);
  EXPECT_EQ(again.saga_id, "o-1");
  EXPECT_EQ(again.state, saga_status::completed);
  EXPECT_EQ(again.completed_steps, first.completed_steps);
  EXPECT_EQ(starts_of(*store_, "o-1"), 1u);
}

TEST_F(client_id_test, starts_of_a_running_id_join_it) {
  auto rt = make_runtime();
  auto first = rt->execute(order("o-2", true));
  await_held(1);
  // Started again (and again) while it waits: no second saga.
  auto second = rt->execute(order("o-2", true));
  auto third = rt->execute(order("o-2", true));
  EXPECT_EQ(second.wait_for(50ms), std::future_status::timeout);
  release();
  for (auto* f : {&first, &second, &third}) {
    auto r = f->get();
    EXPECT_TRUE(r.success) << describe(r.error);
    EXPECT_EQ(r.saga_id, "o-2");
  }
  EXPECT_EQ(starts_of(*store_, "o-2"), 1u);
}

TEST_F(client_id_test, another_runtime_answers_in_progress_then_the_result) {
  auto owner = make_runtime();
  auto other = make_runtime();
  auto first = owner->execute(order("o-3", true));
  await_held(1);
  auto elsewhere = other->execute(order("o-3", true)).get();
  EXPECT_TRUE(is(elsewhere.error, errc::in_progress))
    << describe(elsewhere.error);
  EXPECT_EQ(elsewhere.state, saga_status::running);
  EXPECT_EQ(elsewhere.saga_id, "o-3");
  release();
  EXPECT_TRUE(first.get().success);
  auto after = other->execute(order("o-3", true)).get();
  EXPECT_TRUE(after.success) << describe(after.error);
  EXPECT_EQ(after.state, saga_status::completed);
  EXPECT_EQ(starts_of(*store_, "o-3"), 1u);
}

TEST_F(client_id_test, two_nodes_racing_to_start_one_id_start_one_saga) {
  // Both look the id up at once and may both find no history: the journal
  // fences the later first event, and its starter answers from the winner's.
  auto a = make_runtime("a");
  auto b = make_runtime("b");
  constexpr int rounds = 20;
  std::vector<std::future<saga_result>> on_a;
  std::vector<std::future<saga_result>> on_b;
  for (int i = 0; i < rounds; ++i) {
    auto id = "race-" + std::to_string(i);
    on_a.push_back(a->execute(order(id, true)));
    on_b.push_back(b->execute(order(id, true)));
  }
  await_held(rounds);
  release();
  for (int i = 0; i < rounds; ++i) {
    auto id = "race-" + std::to_string(i);
    auto x = on_a[i].get();
    auto y = on_b[i].get();
    // One of them ran it; the other answered from its history: running
    // (in_progress) or, if it looked once the saga had ended, its result.
    EXPECT_TRUE(x.success || y.success) << id;
    for (const auto* r : {&x, &y}) {
      EXPECT_TRUE(r->success || is(r->error, errc::in_progress))
        << id << ": " << describe(r->error);
      EXPECT_EQ(r->saga_id, id);
    }
    EXPECT_EQ(starts_of(*store_, id), 1u);
  }
}

TEST_F(client_id_test, an_id_of_another_saga_type_is_refused) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt->execute(order("o-4")).get().success);
  definition refund{"refund"};
  refund.id("o-4").step("a", "p");
  auto r = rt->execute(refund).get();
  EXPECT_TRUE(is(r.error, errc::invalid_state)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("exists as a 'order'"), std::string::npos)
    << describe(r.error);
  EXPECT_EQ(starts_of(*store_, "o-4"), 1u);
}

TEST_F(client_id_test, bad_ids_and_keys_are_refused_unpersisted) {
  auto rt = make_runtime();
  struct bad_case {
    std::string id;
    std::string key;
    std::string says;
  };
  for (const auto& c : {bad_case{"has space", "", "a character other than"},
                        bad_case{std::string(201, 'x'), "", "201 bytes"},
                        bad_case{"o/5", "", "at byte 1"},
                        bad_case{"ok", std::string(201, 'k'), "business key"},
                        bad_case{"ok", "tab\there", "control character"}}) {
    definition d{"order"};
    d.id(c.id).step("a", "p");
    if (!c.key.empty())
      d.business_key(c.key);
    auto r = rt->execute(d).get();
    EXPECT_TRUE(is(r.error, errc::invalid_id)) << describe(r.error);
    EXPECT_NE(describe(r.error).find(c.says), std::string::npos)
      << describe(r.error);
  }
  EXPECT_EQ(store_->size(), 0u);
}

TEST(client_id, the_id_and_key_survive_json) {
  definition d{"order"};
  d.id("o-6").business_key("cart 42").step("a", "p");
  auto back = definition::from_json(d.to_json());
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->id(), "o-6");
  EXPECT_EQ(back->business_key(), "cart 42");
  auto wrong = definition::from_json(
    json{{"name", "x"}, {"id", 5}, {"steps", json::array()}});
  EXPECT_FALSE(wrong);
}

} // namespace
} // namespace saga
