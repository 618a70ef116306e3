// Unit tests of what only the in-memory journal does: saga::memory_store
// directly (validation the Redis journal leaves to its writers, the last
// page, retention, barrier records and atomic effects), the journal actor
// around a shared store, and make_journal's URL handling. The journal
// protocol both journals keep is tests/journal_conformance_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "persistence/memory_journal.hpp"
#include "saga/errc.hpp"
#include "saga/event.hpp"
#include "saga/journal/journal.hpp"
#include "saga/runtime.hpp"

using saga::errc;
using saga::event;
using saga::event_type;
using saga::memory_store;

namespace {

event make_event(uint64_t seq, event_type type, int32_t step = -1,
                 uint32_t attempt = 0) {
  event ev;
  ev.seq = seq;
  ev.type = type;
  ev.step = step;
  ev.attempt = attempt;
  ev.data = type == event_type::saga_started ? "{\"name\":\"s\"}" : "";
  ev.time_ms = static_cast<int64_t>(seq) * 10;
  return ev;
}

// The first batch of a saga: saga_started and step_started.
std::vector<event> opening() {
  return {make_event(1, event_type::saga_started),
          make_event(2, event_type::step_started, 0, 1)};
}

// A whole history in one batch, ending with a terminal event.
std::vector<event> whole(event_type terminal = event_type::saga_completed) {
  return {make_event(1, event_type::saga_started),
          make_event(2, event_type::step_started, 0, 1),
          make_event(3, event_type::step_succeeded, 0, 1),
          make_event(4, terminal)};
}

std::vector<uint64_t> seqs_of(const std::vector<event>& events) {
  std::vector<uint64_t> result;
  result.reserve(events.size());
  for (const auto& ev : events)
    result.push_back(ev.seq);
  return result;
}

std::vector<saga::saga_id> all_unfinished(const memory_store& store) {
  return store.unfinished("", 1000).ids;
}

} // namespace

// -- append -------------------------------------------------------------------

TEST(memory_store, size_counts_stored_histories) {
  memory_store store;
  EXPECT_EQ(store.size(), 0u);
  ASSERT_TRUE(store.append("a", opening()));
  EXPECT_EQ(store.size(), 1u);
  ASSERT_TRUE(store.append("a", {make_event(3, event_type::step_succeeded)}));
  EXPECT_EQ(store.size(), 1u);
  ASSERT_TRUE(store.append("b", {make_event(1, event_type::saga_started)}));
  EXPECT_EQ(store.size(), 2u);
}

TEST(memory_store, first_batch_must_start_with_saga_started) {
  memory_store store;
  auto res = store.append("a", {make_event(1, event_type::step_started, 0, 1)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::invalid_event))
    << saga::describe(res.error());
  EXPECT_NE(saga::describe(res.error()).find("'a'"), std::string::npos);
  // Nothing was written: the saga is unknown and not listed.
  auto events = store.read("a");
  ASSERT_FALSE(events);
  EXPECT_TRUE(saga::is(events.error(), errc::unknown_saga));
  EXPECT_EQ(store.size(), 0u);
  EXPECT_TRUE(all_unfinished(store).empty());
}

TEST(memory_store, first_batch_must_start_at_seq_one) {
  memory_store store;
  auto res = store.append("a", {make_event(2, event_type::saga_started)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::journal_conflict))
    << saga::describe(res.error());
  EXPECT_FALSE(store.read("a"));
  EXPECT_TRUE(all_unfinished(store).empty());
}

// -- the unfinished index -----------------------------------------------------

// The store knows when a full page is the last one: its `next` is empty (the
// Redis journal answers a full page's last id, and then an empty page).
TEST(memory_store, last_full_page_has_empty_next) {
  memory_store store;
  for (auto id : {"a", "b", "c"})
    ASSERT_TRUE(store.append(id, opening()));
  auto page = store.unfinished("", 3);
  EXPECT_EQ(page.ids.size(), 3u);
  EXPECT_TRUE(page.next.empty());
  page = store.unfinished("a", 2);
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"b", "c"}));
  EXPECT_TRUE(page.next.empty());
  // So does adopt's, also when the page's sagas stay where they are.
  for (auto id : {"a1", "a2", "a3"})
    ASSERT_TRUE(store.append(id, opening(), saga::saga_owner{"n", 9}));
  ASSERT_TRUE(store.append("a4", opening(), saga::saga_owner{"n", 1}));
  page = store.adopt("n", 5, "a2", 2, saga::saga_owner{"m", 1});
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"a4"}));
  EXPECT_TRUE(page.next.empty());
}

// -- retention ----------------------------------------------------------------

TEST(memory_store, keeps_at_most_max_finished_histories) {
  memory_store store{2};
  ASSERT_TRUE(store.append("open-1", opening()));
  ASSERT_TRUE(store.append("done-1", whole(event_type::saga_completed)));
  ASSERT_TRUE(store.append("done-2", whole(event_type::saga_compensated)));
  EXPECT_EQ(store.size(), 3u);
  ASSERT_TRUE(store.append("open-2", opening()));
  ASSERT_TRUE(store.append("done-3", whole(event_type::saga_failed)));
  // done-1, the oldest finished history, was dropped.
  EXPECT_EQ(store.size(), 4u);
  auto dropped = store.read("done-1");
  ASSERT_FALSE(dropped);
  EXPECT_TRUE(saga::is(dropped.error(), errc::unknown_saga));
  EXPECT_TRUE(store.read("done-2"));
  EXPECT_TRUE(store.read("done-3"));
  // Unfinished histories are never dropped.
  EXPECT_TRUE(store.read("open-1"));
  EXPECT_TRUE(store.read("open-2"));
  EXPECT_EQ(all_unfinished(store),
            (std::vector<saga::saga_id>{"open-1", "open-2"}));
}

TEST(memory_store, retention_counts_finish_in_order_of_finishing) {
  memory_store store{2};
  ASSERT_TRUE(store.append("a", opening()));
  ASSERT_TRUE(store.append("b", opening()));
  ASSERT_TRUE(store.append("c", opening()));
  // Finished in the order b, a (via finish), c (via a terminal event).
  ASSERT_TRUE(store.append("b", {make_event(3, event_type::saga_completed)}));
  ASSERT_TRUE(store.finish("a"));
  EXPECT_EQ(store.size(), 3u);
  ASSERT_TRUE(store.append("c", {make_event(3, event_type::saga_failed)}));
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.read("b")); // finished first, dropped first
  EXPECT_TRUE(store.read("a"));
  EXPECT_TRUE(store.read("c"));
}

TEST(memory_store, many_unfinished_sagas_are_never_dropped) {
  memory_store store{1};
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(store.append("open-" + std::to_string(i), opening()));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store.append("done-" + std::to_string(i), whole()));
  EXPECT_EQ(store.size(), 21u);
  EXPECT_EQ(all_unfinished(store).size(), 20u);
  EXPECT_TRUE(store.read("done-4"));
  EXPECT_FALSE(store.read("done-3"));
}

// -- the journal actor --------------------------------------------------------

namespace {

// An actor system configured for caf-saga, and a blocking actor to talk to
// journals. Members are destroyed in reverse order: `self` before `sys`.
class journal_actor_test : public ::testing::Test {
protected:
  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    saga::add_message_types(cfg);
    return cfg;
  }

  caf::expected<uint64_t> append(const saga::journal_actor& j,
                                 const saga::saga_id& id,
                                 std::vector<event> events) {
    caf::expected<uint64_t> result{uint64_t{0}};
    self
      ->request(j, caf::infinite, saga::append_atom::value, id,
                std::move(events))
      .receive([&](uint64_t seq) { result = seq; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<std::vector<event>> read(const saga::journal_actor& j,
                                         const saga::saga_id& id) {
    caf::expected<std::vector<event>> result{std::vector<event>{}};
    self->request(j, caf::infinite, saga::read_atom::value, id)
      .receive([&](std::vector<event>& xs) { result = std::move(xs); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{configured(cfg)};
  caf::scoped_actor self{sys};
};

} // namespace

TEST_F(journal_actor_test, serves_the_shared_store) {
  auto store = std::make_shared<memory_store>();
  auto j = saga::spawn_memory_journal(sys, store);
  auto res = append(j, "a", opening());
  ASSERT_TRUE(res) << saga::describe(res.error());
  EXPECT_EQ(*res, 2u);
  // The actor wrote into the store the test holds.
  ASSERT_TRUE(store->read("a"));
  EXPECT_EQ(store->read("a")->size(), 2u);
  // And reads what others wrote into it.
  ASSERT_TRUE(store->append("a", {make_event(3, event_type::saga_completed)}));
  auto events = read(j, "a");
  ASSERT_TRUE(events) << saga::describe(events.error());
  EXPECT_EQ(seqs_of(*events), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(events->back().type, event_type::saga_completed);
}

// -- make_journal -------------------------------------------------------------

TEST_F(journal_actor_test, make_journal_opens_memory_url) {
  auto j = saga::make_journal(sys, "memory://");
  ASSERT_TRUE(j) << saga::describe(j.error());
  auto res = append(*j, "a", opening());
  ASSERT_TRUE(res) << saga::describe(res.error());
  EXPECT_EQ(*res, 2u);
  auto events = read(*j, "a");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 2u);
  // Each journal has its own store.
  auto other = saga::make_journal(sys, "memory://");
  ASSERT_TRUE(other);
  EXPECT_FALSE(read(*other, "a"));
}

TEST_F(journal_actor_test, make_journal_rejects_invalid_urls) {
  for (std::string url : {"", "memory", "memory://x", "redis-ish://", "://x",
                          "memory:/", "MEMORY://"}) {
    SCOPED_TRACE("url '" + url + "'");
    auto j = saga::make_journal(sys, url);
    ASSERT_FALSE(j);
    EXPECT_TRUE(saga::is(j.error(), errc::invalid_url))
      << saga::describe(j.error());
    EXPECT_NE(saga::describe(j.error()).find("'" + url + "'"),
              std::string::npos)
      << saga::describe(j.error());
  }
}

TEST(allocate_epoch, memory_epochs_strictly_increase) {
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto e = saga::allocate_epoch("memory://");
    ASSERT_TRUE(e) << saga::describe(e.error());
    EXPECT_GT(*e, last);
    last = *e;
  }
  auto bad = saga::allocate_epoch("nope://");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(saga::is(bad.error(), errc::invalid_url));
}

// -- barrier records are fenced by claim token --------------------------------

namespace {

using saga::barrier_op;
using saga::barrier_verdict;

saga::step_reply ok_reply(const std::string& result) {
  saga::step_reply r;
  r.ok = true;
  r.result = result;
  return r;
}

saga::step_reply failed_reply(const std::string& why) {
  saga::step_reply r;
  r.ok = false;
  r.retryable = true;
  r.error = why;
  return r;
}

// Unwraps done(): an error (e.g. an unsupported effect) fails the test.
bool done(memory_store& store, const saga::saga_id& id, const std::string& step,
          barrier_op op, const std::string& owner, saga::step_reply reply) {
  auto res = store.done(id, step, op, owner, std::move(reply));
  EXPECT_TRUE(res) << saga::describe(res.error());
  return res && *res;
}

} // namespace

TEST(memory_barrier, done_without_any_claim_is_refused_and_records_nothing) {
  memory_store store;
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "t1", ok_reply("\"one\"")));
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::compensate, "t1", ok_reply("\"one\"")));
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "t1", failed_reply("no")));
  // Nothing was recorded: the first real claim proceeds.
  auto c = store.claim("s", "pay", barrier_op::execute, "t2");
  EXPECT_EQ(c.verdict, barrier_verdict::proceed);
}

TEST(memory_barrier, re_claim_of_an_unfinished_claim_proceeds) {
  memory_store store;
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
}

TEST(memory_barrier,
     done_of_a_replaced_claim_is_refused_and_keeps_the_winners_record) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  EXPECT_TRUE(
    done(store, "s", "pay", barrier_op::execute, "t2", ok_reply("\"two\"")));
  // t1 hung past its saga's timeout and wakes up now: fenced.
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "t1", ok_reply("\"one\"")));
  auto dup = store.claim("s", "pay", barrier_op::execute, "t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_TRUE(dup.reply.ok);
  EXPECT_EQ(dup.reply.result, "\"two\"");
}

TEST(memory_barrier,
     late_failure_of_a_replaced_claim_does_not_erase_the_record) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(
    done(store, "s", "pay", barrier_op::execute, "t2", ok_reply("\"two\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    failed_reply("timed out")));
  auto dup = store.claim("s", "pay", barrier_op::execute, "t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate)
    << "the late failure erased the settled record";
  EXPECT_TRUE(dup.reply.ok);
  EXPECT_EQ(dup.reply.result, "\"two\"");
}

TEST(memory_barrier, failure_of_a_replaced_claim_does_not_drop_the_new_claim) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  // t1 fails while t2 still runs: t2's claim stays, and t2 records.
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    failed_reply("declined")));
  EXPECT_TRUE(
    done(store, "s", "pay", barrier_op::execute, "t2", ok_reply("\"two\"")));
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t3").verdict,
            barrier_verdict::duplicate);
}

TEST(memory_barrier, failure_of_the_own_claim_forgets_it_so_a_retry_proceeds) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1",
                   failed_reply("declined")));
  // The claim is gone: a second done of t1 has nothing to settle.
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "t1", ok_reply("\"late\"")));
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
}

TEST(memory_barrier,
     a_copy_of_a_failed_attempt_gets_its_failure_a_later_attempt_runs) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "1:a").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::execute, "1:a",
                   failed_reply("declined")));
  // A copy of attempt 1 (duplicated, delayed, re-sent) must not run now.
  auto copy = store.claim("s", "pay", barrier_op::execute, "1:b");
  EXPECT_EQ(copy.verdict, barrier_verdict::duplicate);
  EXPECT_FALSE(copy.reply.ok);
  EXPECT_EQ(copy.reply.error, "declined");
  // A retry (attempt 2) runs.
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "2:c").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::execute, "2:c",
                   failed_reply("declined again")));
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "1:d").verdict,
            barrier_verdict::duplicate);
  // Nothing took effect: a compensate is a null compensation, and every
  // later execute is refused.
  EXPECT_EQ(store.claim("s", "pay", barrier_op::compensate, "1:e").verdict,
            barrier_verdict::null_compensated);
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "3:f").verdict,
            barrier_verdict::refused);
}

TEST(memory_barrier, a_null_compensation_is_ok_without_an_error) {
  memory_store store;
  auto first = store.claim("s", "pay", barrier_op::compensate, "1:a");
  EXPECT_EQ(first.verdict, barrier_verdict::null_compensated);
  EXPECT_TRUE(first.reply.ok);
  EXPECT_EQ(first.reply.error, "") << "an ok reply carries no error";
  auto copy = store.claim("s", "pay", barrier_op::compensate, "2:b");
  EXPECT_EQ(copy.verdict, barrier_verdict::duplicate);
  EXPECT_TRUE(copy.reply.ok);
  EXPECT_EQ(copy.reply.error, "");
}

TEST(memory_barrier,
     a_settled_record_is_not_written_again_by_its_own_claimant) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(
    done(store, "s", "pay", barrier_op::execute, "t1", ok_reply("\"one\"")));
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "t1", ok_reply("\"again\"")));
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "t1", failed_reply("late")));
  auto dup = store.claim("s", "pay", barrier_op::execute, "t2");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_EQ(dup.reply.result, "\"one\"");
}

TEST(memory_barrier, compensations_are_fenced_like_executes) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "x").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(
    done(store, "s", "pay", barrier_op::execute, "x", ok_reply("\"paid\"")));
  ASSERT_EQ(store.claim("s", "pay", barrier_op::compensate, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("s", "pay", barrier_op::compensate, "t2").verdict,
            barrier_verdict::proceed);
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::compensate, "t2",
                   ok_reply("\"refunded\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::compensate, "t1",
                    ok_reply("\"again\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::compensate, "t1",
                    failed_reply("late")));
  auto dup = store.claim("s", "pay", barrier_op::compensate, "t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_EQ(dup.reply.result, "\"refunded\"");
}

TEST(memory_barrier, records_of_different_steps_and_sagas_are_separate) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  // Another step's or saga's claim by another token does not replace t1's.
  ASSERT_EQ(store.claim("s", "ship", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("u", "pay", barrier_op::execute, "t3").verdict,
            barrier_verdict::proceed);
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "t2", ok_reply("\"wrong\"")));
  EXPECT_TRUE(
    done(store, "s", "pay", barrier_op::execute, "t1", ok_reply("\"one\"")));
  EXPECT_FALSE(
    done(store, "u", "pay", barrier_op::execute, "t1", ok_reply("\"wrong\"")));
}

TEST(memory_barrier, a_hung_execute_cannot_record_after_its_compensation) {
  // The execute hangs (claimed, never done); its step is compensated
  // elsewhere. When it wakes, it must not record a success after that.
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "hung").verdict,
            barrier_verdict::proceed);
  auto c = store.claim("s", "pay", barrier_op::compensate, "comp");
  if (c.verdict == barrier_verdict::busy)
    GTEST_SKIP() << "the store holds the compensation back: nothing to check";
  if (c.verdict == barrier_verdict::proceed) {
    ASSERT_TRUE(done(store, "s", "pay", barrier_op::compensate, "comp",
                     ok_reply("\"refunded\"")));
  }
  EXPECT_FALSE(
    done(store, "s", "pay", barrier_op::execute, "hung", ok_reply("\"paid\"")))
    << "the hung execute recorded after its step was compensated";
  auto late = store.claim("s", "pay", barrier_op::execute, "retry");
  EXPECT_EQ(late.verdict, barrier_verdict::refused);
}

TEST_F(journal_actor_test, barrier_done_of_a_replaced_claim_answers_false) {
  auto store = std::make_shared<memory_store>();
  auto j = saga::spawn_memory_journal(sys, store);
  auto claim = [&](const std::string& owner) {
    saga::barrier_claim result;
    self
      ->request(j, caf::infinite, saga::barrier_claim_atom::value,
                saga::saga_id{"s"}, std::string{"pay"}, barrier_op::execute,
                owner)
      .receive([&](saga::barrier_claim& c) { result = std::move(c); },
               [&](caf::error& err) { ADD_FAILURE() << saga::describe(err); });
    return result;
  };
  auto settle = [&](const std::string& owner, saga::step_reply reply) {
    bool result = false;
    self
      ->request(j, caf::infinite, saga::barrier_done_atom::value,
                saga::saga_id{"s"}, std::string{"pay"}, barrier_op::execute,
                owner, std::move(reply))
      .receive([&](bool x) { result = x; },
               [&](caf::error& err) { ADD_FAILURE() << saga::describe(err); });
    return result;
  };
  EXPECT_FALSE(settle("t0", ok_reply("\"none\""))) << "no claim at all";
  ASSERT_EQ(claim("t1").verdict, barrier_verdict::proceed);
  ASSERT_EQ(claim("t2").verdict, barrier_verdict::proceed);
  EXPECT_TRUE(settle("t2", ok_reply("\"two\"")));
  EXPECT_FALSE(settle("t1", ok_reply("\"one\"")));
  EXPECT_FALSE(settle("t1", failed_reply("late")));
  auto dup = claim("t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_EQ(dup.reply.result, "\"two\"");
}

// -- atomic effects on the memory journal -------------------------------------

namespace {

using hash_fields = std::map<std::string, std::string>;
using saga::effect;

saga::step_reply ok_with(std::vector<effect> effects,
                         const std::string& result = "\"ok\"") {
  auto r = ok_reply(result);
  r.effects = std::move(effects);
  return r;
}

// Claims `step` of saga "s" for `owner`, which must proceed.
void claim_ok(memory_store& store, const std::string& step,
              const std::string& owner, barrier_op op = barrier_op::execute) {
  ASSERT_EQ(store.claim("s", step, op, owner).verdict,
            barrier_verdict::proceed);
}

} // namespace

TEST(memory_barrier, effects_apply_exactly_once_with_the_record) {
  memory_store store;
  EXPECT_TRUE(store.read_hash("balance").empty());
  claim_ok(store, "pay", "t1");
  EXPECT_TRUE(
    done(store, "s", "pay", barrier_op::execute, "t1",
         ok_with({effect::incr_by("balance", "alice", -30)}, "\"paid\"")));
  EXPECT_EQ(store.read_hash("balance"), (hash_fields{{"alice", "-30"}}));
  // A duplicate answers the stored reply and applies nothing again.
  auto dup = store.claim("s", "pay", barrier_op::execute, "t2");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_TRUE(dup.reply.ok);
  EXPECT_EQ(dup.reply.result, "\"paid\"");
  EXPECT_TRUE(dup.reply.effects.empty()) << "effects are not part of the reply";
  // The settled claimant's repeated done is refused and applies nothing.
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_with({effect::incr_by("balance", "alice", -30)})));
  EXPECT_EQ(store.read_hash("balance"), (hash_fields{{"alice", "-30"}}));
}

TEST(memory_barrier, effects_of_a_compensation_apply_like_those_of_an_execute) {
  memory_store store;
  claim_ok(store, "pay", "x");
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::execute, "x",
                   ok_with({effect::incr_by("balance", "alice", -30)})));
  claim_ok(store, "pay", "c", barrier_op::compensate);
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::compensate, "c",
                   ok_with({effect::incr_by("balance", "alice", 30)})));
  EXPECT_EQ(store.read_hash("balance"), (hash_fields{{"alice", "0"}}));
  EXPECT_EQ(store.claim("s", "pay", barrier_op::compensate, "c2").verdict,
            barrier_verdict::duplicate);
  EXPECT_EQ(store.read_hash("balance"), (hash_fields{{"alice", "0"}}));
}

TEST(memory_barrier, incr_by_adds_signed_integers_like_redis) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(
    done(store, "s", "a", barrier_op::execute, "t1",
         ok_with({effect::incr_by("k", "n", 5), effect::incr_by("k", "n", -12),
                  effect::incr_by("k", "m", INT64_MIN),
                  effect::incr_by("k", "p", INT64_MAX),
                  effect::incr_by("k", "z", 0)})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"n", "-7"},
                                               {"m", "-9223372036854775808"},
                                               {"p", "9223372036854775807"},
                                               {"z", "0"}}));
  claim_ok(store, "b", "t2");
  ASSERT_TRUE(done(store, "s", "b", barrier_op::execute, "t2",
                   ok_with({effect::incr_by("k", "n", 7),
                            effect::incr_by("k", "m", 1)})));
  EXPECT_EQ(store.read_hash("k").at("n"), "0");
  EXPECT_EQ(store.read_hash("k").at("m"), "-9223372036854775807");
}

TEST(memory_barrier,
     incr_by_of_a_field_that_is_not_an_int_64_fails_and_applies_nothing) {
  for (std::string bad :
       {"", "1.5", "+1", " 1", "1 ", "01", "-0", "abc", "9223372036854775808",
        "-9223372036854775809", "99999999999999999999"}) {
    memory_store store;
    store.write_hash("k", {{"n", bad}});
    claim_ok(store, "a", "t1");
    auto res = store.done("s", "a", barrier_op::execute, "t1",
                          ok_with({effect::hset("k", "f", "v"),
                                   effect::incr_by("k", "n", 1)}));
    ASSERT_FALSE(res) << "field value '" << bad << "' was incremented";
    EXPECT_TRUE(saga::is(res.error(), errc::invalid_config));
    EXPECT_EQ(store.read_hash("k"), (hash_fields{{"n", bad}}))
      << "'" << bad << "'";
  }
}

TEST(memory_barrier, incr_by_that_would_overflow_applies_nothing) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(done(store, "s", "a", barrier_op::execute, "t1",
                   ok_with({effect::hset("k", "n", "9223372036854775807")})));
  claim_ok(store, "b", "t2");
  auto res = store.done("s", "b", barrier_op::execute, "t2",
                        ok_with({effect::hset("k", "other", "x"),
                                 effect::incr_by("k", "n", 1)}));
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::invalid_config));
  EXPECT_NE(saga::describe(res.error()).find("overflow"), std::string::npos)
    << saga::describe(res.error());
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"n", "9223372036854775807"}}));
}

TEST(memory_barrier, hset_writes_and_overwrites) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(done(store, "s", "a", barrier_op::execute, "t1",
                   ok_with({effect::hset("inv:bob", "sword", "1"),
                            effect::hset("inv:bob", "shield", "2"),
                            effect::hset("inv:bob", "gold", "30"),
                            effect::hset("inv:bob", "gold", "25")})));
  EXPECT_EQ(store.read_hash("inv:bob"),
            (hash_fields{{"sword", "1"}, {"shield", "2"}, {"gold", "25"}}));
}

TEST(memory_barrier, hsetnx_writes_only_absent_fields) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(
    done(store, "s", "a", barrier_op::execute, "t1",
         ok_with({effect::hset("k", "a", "1"), effect::hsetnx("k", "a", "2"),
                  effect::hsetnx("k", "b", "3")})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"a", "1"}, {"b", "3"}}));
}

TEST(memory_barrier, hdel_and_del_remove_fields_and_hashes) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(
    done(store, "s", "a", barrier_op::execute, "t1",
         ok_with({effect::hset("k", "a", "1"), effect::hset("k", "b", "2"),
                  effect::hset("k", "c", "3"),
                  effect::hset("gone", "x", "1")})));
  claim_ok(store, "b", "t2");
  ASSERT_TRUE(
    done(store, "s", "b", barrier_op::execute, "t2",
         ok_with({effect::hdel("k", "a"), effect::hdel("k", "c"),
                  effect::hdel("k", "missing"), effect::hdel("nohash", "f"),
                  effect::del("gone"), effect::del("nokey")})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"b", "2"}}));
  EXPECT_TRUE(store.read_hash("gone").empty());
  // A hash emptied by hdel no longer exists: hsetnx starts it afresh.
  claim_ok(store, "c", "t3");
  ASSERT_TRUE(
    done(store, "s", "c", barrier_op::execute, "t3",
         ok_with({effect::hdel("k", "b"), effect::hsetnx("k", "b", "9")})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"b", "9"}}));
}

TEST(memory_barrier,
     an_effect_without_key_fails_applies_nothing_and_keeps_the_claim) {
  memory_store store;
  claim_ok(store, "seed", "t0");
  ASSERT_TRUE(done(store, "s", "seed", barrier_op::execute, "t0",
                   ok_with({effect::hset("k", "n", "1")})));
  claim_ok(store, "pay", "t1");
  auto res = store.done("s", "pay", barrier_op::execute, "t1",
                        ok_with({effect::incr_by("k", "n", 1),
                                 effect::hset("k", "m", "2"),
                                 effect::hset("", "f", "v")}));
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::invalid_config));
  EXPECT_NE(saga::describe(res.error())
              .find("atomic effect 3 (hset) has an empty key"),
            std::string::npos)
    << saga::describe(res.error());
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"n", "1"}}));
  EXPECT_TRUE(store.read_hash("").empty());
  // Nothing was recorded: the claim is still open, and a retry claims again
  // and records with valid effects, which apply once.
  claim_ok(store, "pay", "t2");
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t2",
                   ok_with({effect::incr_by("k", "n", 1)})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"n", "2"}}));
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t3").verdict,
            barrier_verdict::duplicate);
}

TEST(memory_barrier, a_rejected_batch_leaves_the_callers_claim_open) {
  memory_store store;
  claim_ok(store, "pay", "t1");
  auto res = store.done("s", "pay", barrier_op::execute, "t1",
                        ok_with({effect::del("")}));
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::invalid_config));
  EXPECT_NE(saga::describe(res.error()).find("(del) has an empty key"),
            std::string::npos);
  // The same claimant may still record (e.g. after fixing its effects).
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1",
                   ok_with({effect::hset("k", "f", "v")})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"f", "v"}}));
}

TEST(memory_barrier, malformed_effects_are_rejected) {
  // Only an empty key, or a kind no factory makes (a corrupt message), is
  // malformed: the factories make every other effect well-formed.
  const std::vector<effect> bad_effects = {
    effect::hset("", "f", "v"),
    effect::hsetnx("", "f", "v"),
    effect::hdel("", "f"),
    effect::incr_by("", "f", 1),
    effect::del(""),
    effect{},
  };
  for (const auto& bad : bad_effects) {
    memory_store store;
    claim_ok(store, "a", "t1");
    auto res = store.done("s", "a", barrier_op::execute, "t1",
                          ok_with({effect::hset("k", "before", "1"), bad}));
    ASSERT_FALSE(res) << "accepted a " << saga::to_string(bad.what()) << " on '"
                      << bad.key() << "'";
    EXPECT_TRUE(saga::is(res.error(), errc::invalid_config));
    EXPECT_NE(saga::describe(res.error()).find("atomic effect 2"),
              std::string::npos)
      << saga::describe(res.error());
    EXPECT_TRUE(store.read_hash("k").empty());
  }
}

TEST(memory_barrier, incr_by_of_a_non_integer_field_fails_and_applies_nothing) {
  memory_store store;
  claim_ok(store, "seed", "t0");
  ASSERT_TRUE(done(store, "s", "seed", barrier_op::execute, "t0",
                   ok_with({effect::hset("k", "name", "alice"),
                            effect::hset("k", "n", "5")})));
  claim_ok(store, "pay", "t1");
  auto res = store.done("s", "pay", barrier_op::execute, "t1",
                        ok_with({effect::incr_by("k", "n", 1),
                                 effect::incr_by("k", "name", 1)}));
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::invalid_config));
  EXPECT_NE(saga::describe(res.error())
              .find("atomic effect 2 (incr_by on 'k')"),
            std::string::npos)
    << saga::describe(res.error());
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"name", "alice"}, {"n", "5"}}));
  // A value written earlier in the same batch counts too.
  auto res2 = store.done("s", "pay", barrier_op::execute, "t1",
                         ok_with({effect::hset("k", "n", "x"),
                                  effect::incr_by("k", "n", 1)}));
  ASSERT_FALSE(res2);
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"name", "alice"}, {"n", "5"}}));
}

TEST(memory_barrier, fenced_done_applies_no_effects) {
  memory_store store;
  claim_ok(store, "pay", "t1");
  claim_ok(store, "pay", "t2"); // t1 hung; a retry re-claimed
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_with({effect::incr_by("k", "n", 1)})));
  EXPECT_TRUE(store.read_hash("k").empty());
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t2",
                   ok_with({effect::incr_by("k", "n", 10)})));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_with({effect::incr_by("k", "n", 1)})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"n", "10"}}));
  // A fenced done is false even with effects it could not run.
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_with({effect::hset("", "f", "v")})));
}

TEST(memory_barrier, a_revoked_execute_applies_no_effects) {
  memory_store store;
  claim_ok(store, "pay", "hung");
  auto c = store.claim("s", "pay", barrier_op::compensate, "comp");
  ASSERT_EQ(c.verdict, barrier_verdict::proceed);
  EXPECT_TRUE(c.execute_unrecorded);
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "hung",
                    ok_with({effect::incr_by("k", "n", -30)})));
  EXPECT_TRUE(store.read_hash("k").empty());
}

TEST(memory_barrier, failed_outcomes_apply_no_effects) {
  memory_store store;
  claim_ok(store, "pay", "t1");
  auto r = failed_reply("declined");
  r.effects = {effect::incr_by("k", "n", 1), effect::hset("", "f", "v")};
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1", r));
  EXPECT_TRUE(store.read_hash("k").empty());
}

TEST(memory_barrier, hashes_outlive_the_retirement_of_finished_histories) {
  memory_store store{1};
  ASSERT_TRUE(store.append("s", whole()));
  claim_ok(store, "pay", "t1");
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1",
                   ok_with({effect::hset("k", "f", "v")})));
  ASSERT_TRUE(store.append("u", whole()));
  ASSERT_TRUE(store.append("w", whole()));
  EXPECT_FALSE(store.read("s")) << "s should have been retired";
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"f", "v"}}));
}

TEST_F(journal_actor_test, barrier_done_applies_effects_once) {
  auto store = std::make_shared<memory_store>();
  auto j = saga::spawn_memory_journal(sys, store);
  auto claim = [&](const std::string& owner) {
    saga::barrier_claim result;
    self
      ->request(j, caf::infinite, saga::barrier_claim_atom::value,
                saga::saga_id{"s"}, std::string{"pay"}, barrier_op::execute,
                owner)
      .receive([&](saga::barrier_claim& c) { result = std::move(c); },
               [&](caf::error& err) { ADD_FAILURE() << saga::describe(err); });
    return result;
  };
  auto settle = [&](const std::string& owner, saga::step_reply reply,
                    caf::error* err_out = nullptr) {
    bool result = false;
    self
      ->request(j, caf::infinite, saga::barrier_done_atom::value,
                saga::saga_id{"s"}, std::string{"pay"}, barrier_op::execute,
                owner, std::move(reply))
      .receive([&](bool x) { result = x; },
               [&](caf::error& err) {
                 if (err_out != nullptr)
                   *err_out = err;
                 else
                   ADD_FAILURE() << saga::describe(err);
               });
    return result;
  };
  ASSERT_EQ(claim("t1").verdict, barrier_verdict::proceed);
  caf::error err;
  EXPECT_FALSE(settle("t1", ok_with({effect::del("")}), &err));
  EXPECT_TRUE(saga::is(err, errc::invalid_config));
  EXPECT_TRUE(settle("t1", ok_with({effect::incr_by("acct", "bob", -5)})));
  EXPECT_EQ(claim("t2").verdict, barrier_verdict::duplicate);
  EXPECT_EQ(store->read_hash("acct"), (hash_fields{{"bob", "-5"}}));
}
