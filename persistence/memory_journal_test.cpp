// Unit tests of the in-memory journal: saga::memory_store directly, the
// journal actor around it, and make_journal's URL handling.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
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
  for (const auto& ev : events)
    result.push_back(ev.seq);
  return result;
}

std::vector<saga::saga_id> all_unfinished(const memory_store& store) {
  return store.unfinished("", 1000).ids;
}

} // namespace

// -- append and read ----------------------------------------------------------

TEST(MemoryStore, AppendCreatesAHistoryAndReturnsTheLastSeq) {
  memory_store store;
  EXPECT_EQ(store.size(), 0u);
  auto res = store.append("a", opening());
  ASSERT_TRUE(res) << saga::describe(res.error());
  EXPECT_EQ(*res, 2u);
  EXPECT_EQ(store.size(), 1u);
  auto events = store.read("a");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].type, event_type::saga_started);
  EXPECT_EQ((*events)[0].data, "{\"name\":\"s\"}");
  EXPECT_EQ((*events)[1].type, event_type::step_started);
  EXPECT_EQ((*events)[1].step, 0);
  EXPECT_EQ((*events)[1].attempt, 1u);
  EXPECT_EQ((*events)[1].time_ms, 20);
}

TEST(MemoryStore, AppendContinuesTheHistoryInOrder) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  auto res = store.append("a", {make_event(3, event_type::step_succeeded, 0, 1),
                                make_event(4, event_type::step_started, 1, 1)});
  ASSERT_TRUE(res) << saga::describe(res.error());
  EXPECT_EQ(*res, 4u);
  res = store.append("a", {make_event(5, event_type::step_succeeded, 1, 1)});
  ASSERT_TRUE(res);
  EXPECT_EQ(*res, 5u);
  auto events = store.read("a");
  ASSERT_TRUE(events);
  EXPECT_EQ(seqs_of(*events), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(events->back().type, event_type::step_succeeded);
  EXPECT_EQ(events->back().step, 1);
}

TEST(MemoryStore, HistoriesOfDifferentSagasAreSeparate) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  ASSERT_TRUE(store.append("b", {make_event(1, event_type::saga_started)}));
  EXPECT_EQ(store.read("a")->size(), 2u);
  EXPECT_EQ(store.read("b")->size(), 1u);
  EXPECT_EQ(store.size(), 2u);
}

TEST(MemoryStore, FirstBatchMustStartWithSagaStarted) {
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

TEST(MemoryStore, FirstBatchMustStartAtSeqOne) {
  memory_store store;
  auto res = store.append("a", {make_event(2, event_type::saga_started)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::journal_conflict))
    << saga::describe(res.error());
  EXPECT_FALSE(store.read("a"));
  EXPECT_TRUE(all_unfinished(store).empty());
}

TEST(MemoryStore, SeqGapIsAConflictAndWritesNothing) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  auto res
    = store.append("a", {make_event(4, event_type::step_succeeded, 0, 1)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::journal_conflict))
    << saga::describe(res.error());
  EXPECT_EQ(seqs_of(*store.read("a")), (std::vector<uint64_t>{1, 2}));
}

TEST(MemoryStore, RepeatedSeqIsAConflictAndWritesNothing) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  // A second writer that also believes it appends event #2.
  auto res = store.append("a", {make_event(2, event_type::step_failed, 0, 1)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::journal_conflict));
  // A second writer that restarts the saga (a saga_started of its own).
  auto restart = opening();
  restart.front().time_ms += 1;
  res = store.append("a", restart);
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::journal_conflict));
  auto events = store.read("a");
  ASSERT_TRUE(events);
  EXPECT_EQ(seqs_of(*events), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ((*events)[1].type, event_type::step_started);
}

TEST(MemoryStore, ABatchSentAgainIsAcknowledgedOnce) {
  // A saga actor sends its batch again after a journal timeout, but the
  // first send had landed: acknowledged, as by the Redis append script, and
  // stored once.
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  std::vector<event> next{make_event(3, event_type::step_succeeded, 0, 1),
                          make_event(4, event_type::step_started, 1, 1)};
  ASSERT_TRUE(store.append("a", next));
  auto again = store.append("a", next);
  ASSERT_TRUE(again) << saga::describe(again.error());
  EXPECT_EQ(*again, 4u);
  EXPECT_EQ(seqs_of(*store.read("a")), (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST(MemoryStore, BatchWithInternalGapIsRejectedAtomically) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  // The first event fits, the second one does not: nothing is written.
  auto res = store.append("a", {make_event(3, event_type::step_succeeded, 0, 1),
                                make_event(5, event_type::saga_completed)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::journal_conflict));
  EXPECT_EQ(seqs_of(*store.read("a")), (std::vector<uint64_t>{1, 2}));
  // Also for a new saga.
  res = store.append("b", {make_event(1, event_type::saga_started),
                           make_event(1, event_type::step_started, 0, 1)});
  ASSERT_FALSE(res);
  EXPECT_FALSE(store.read("b"));
  EXPECT_EQ(all_unfinished(store), (std::vector<saga::saga_id>{"a"}));
}

TEST(MemoryStore, EmptyBatchIsAnError) {
  memory_store store;
  auto res = store.append("a", {});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::invalid_event));
  EXPECT_FALSE(store.read("a"));
  ASSERT_TRUE(store.append("a", opening()));
  res = store.append("a", {});
  ASSERT_FALSE(res);
  EXPECT_EQ(store.read("a")->size(), 2u);
}

TEST(MemoryStore, ReadOfUnknownSagaFails) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  auto res = store.read("b");
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::unknown_saga));
  EXPECT_NE(saga::describe(res.error()).find("'b'"), std::string::npos)
    << saga::describe(res.error());
}

// -- the unfinished index -----------------------------------------------------

TEST(MemoryStore, StartedSagaIsListedAsUnfinished) {
  memory_store store;
  ASSERT_TRUE(store.append("b", opening()));
  ASSERT_TRUE(store.append("a", {make_event(1, event_type::saga_started)}));
  auto page = store.unfinished("", 10);
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"a", "b"}));
  EXPECT_TRUE(page.next.empty());
}

TEST(MemoryStore, TerminalBatchRemovesSagaFromUnfinished) {
  for (auto terminal : {event_type::saga_completed,
                        event_type::saga_compensated,
                        event_type::saga_failed}) {
    SCOPED_TRACE(saga::to_string(terminal));
    memory_store store;
    ASSERT_TRUE(store.append("a", opening()));
    ASSERT_TRUE(store.append("b", opening()));
    ASSERT_TRUE(store.append("a", {make_event(3, event_type::step_succeeded),
                                   make_event(4, terminal)}));
    EXPECT_EQ(all_unfinished(store), (std::vector<saga::saga_id>{"b"}));
    // The finished history stays readable.
    EXPECT_EQ(store.read("a")->size(), 4u);
    // finish() of a saga that ended reports that it was not listed.
    EXPECT_FALSE(store.finish("a"));
  }
}

TEST(MemoryStore, WholeHistoryInOneBatchIsNeverListed) {
  memory_store store;
  ASSERT_TRUE(store.append("a", whole()));
  EXPECT_TRUE(all_unfinished(store).empty());
  EXPECT_EQ(store.read("a")->size(), 4u);
}

TEST(MemoryStore, NonTerminalLastEventKeepsSagaListed) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  // A terminal event in the middle of a batch does not count; only the last.
  ASSERT_TRUE(
    store.append("a", {make_event(3, event_type::step_succeeded),
                       make_event(4, event_type::step_started, 1, 1)}));
  EXPECT_EQ(all_unfinished(store), (std::vector<saga::saga_id>{"a"}));
}

TEST(MemoryStore, FinishRemovesOnceAndThenReturnsFalse) {
  memory_store store;
  ASSERT_TRUE(store.append("a", opening()));
  ASSERT_TRUE(store.append("b", opening()));
  EXPECT_TRUE(store.finish("a"));
  EXPECT_EQ(all_unfinished(store), (std::vector<saga::saga_id>{"b"}));
  EXPECT_FALSE(store.finish("a"));
  EXPECT_FALSE(store.finish("never-seen"));
  // The history itself is kept.
  EXPECT_EQ(store.read("a")->size(), 2u);
}

TEST(MemoryStore, PagingVisitsEveryUnfinishedSagaOnceInOrder) {
  memory_store store;
  // Inserted out of order; ids sort as strings.
  std::vector<saga::saga_id> ids;
  for (int i : {7, 2, 9, 0, 5, 3, 8, 1, 6, 4})
    ids.push_back("saga-" + std::to_string(i));
  for (const auto& id : ids)
    ASSERT_TRUE(store.append(id, opening()));
  // A finished one must not show up.
  ASSERT_TRUE(store.append("saga-10", whole()));
  std::vector<saga::saga_id> visited;
  std::string after;
  size_t pages = 0;
  for (;;) {
    auto page = store.unfinished(after, 3);
    ++pages;
    ASSERT_LE(pages, 10u) << "paging does not terminate";
    EXPECT_LE(page.ids.size(), 3u);
    visited.insert(visited.end(), page.ids.begin(), page.ids.end());
    if (page.next.empty()) {
      EXPECT_EQ(page.ids.size(), 1u); // 10 = 3 + 3 + 3 + 1
      break;
    }
    EXPECT_EQ(page.ids.size(), 3u);
    EXPECT_EQ(page.next, page.ids.back());
    after = page.next;
  }
  EXPECT_EQ(pages, 4u);
  std::vector<saga::saga_id> expected;
  for (int i = 0; i < 10; ++i)
    expected.push_back("saga-" + std::to_string(i));
  EXPECT_EQ(visited, expected);
}

TEST(MemoryStore, LastFullPageHasEmptyNext) {
  memory_store store;
  for (auto id : {"a", "b", "c"})
    ASSERT_TRUE(store.append(id, opening()));
  auto page = store.unfinished("", 3);
  EXPECT_EQ(page.ids.size(), 3u);
  EXPECT_TRUE(page.next.empty());
  page = store.unfinished("c", 3);
  EXPECT_TRUE(page.ids.empty());
  EXPECT_TRUE(page.next.empty());
  // `after` need not be a listed id.
  page = store.unfinished("aa", 3);
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"b", "c"}));
}

// -- retention ----------------------------------------------------------------

TEST(MemoryStore, KeepsAtMostMaxFinishedHistories) {
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

TEST(MemoryStore, RetentionCountsFinishInOrderOfFinishing) {
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

TEST(MemoryStore, ManyUnfinishedSagasAreNeverDropped) {
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
class JournalActor : public ::testing::Test {
protected:
  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    saga::add_message_types(cfg);
    return cfg;
  }

  caf::expected<uint64_t> append(const saga::journal_actor& j,
                                 const saga::saga_id& id,
                                 std::vector<event> events) {
    caf::expected<uint64_t> result{uint64_t{0}};
    self->request(j, caf::infinite, saga::append_atom::value, id,
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

  saga::unfinished_page unfinished(const saga::journal_actor& j,
                                   const std::string& after, uint32_t max) {
    saga::unfinished_page result;
    self->request(j, caf::infinite, saga::unfinished_atom::value, after, max)
      .receive([&](saga::unfinished_page& page) { result = std::move(page); },
               [&](caf::error& err) {
                 ADD_FAILURE() << saga::describe(err);
               });
    return result;
  }

  bool finish(const saga::journal_actor& j, const saga::saga_id& id) {
    bool result = false;
    self->request(j, caf::infinite, saga::finish_atom::value, id,
                  std::string{}, std::string{}, int64_t{0})
      .receive([&](bool x) { result = x; },
               [&](caf::error& err) { ADD_FAILURE() << saga::describe(err); });
    return result;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{configured(cfg)};
  caf::scoped_actor self{sys};
};

} // namespace

TEST_F(JournalActor, ServesTheSharedStore) {
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

TEST_F(JournalActor, RepliesWithErrorsOfTheStore) {
  auto j = saga::spawn_memory_journal(sys, std::make_shared<memory_store>());
  ASSERT_TRUE(append(j, "a", opening()));
  auto conflict = append(j, "a", {make_event(2, event_type::step_failed)});
  ASSERT_FALSE(conflict);
  EXPECT_TRUE(saga::is(conflict.error(), errc::journal_conflict))
    << saga::describe(conflict.error());
  auto unknown = read(j, "nobody");
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(saga::is(unknown.error(), errc::unknown_saga))
    << saga::describe(unknown.error());
  auto events = read(j, "a");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 2u);
}

TEST_F(JournalActor, ListsAndFinishesUnfinishedSagas) {
  auto j = saga::spawn_memory_journal(sys, std::make_shared<memory_store>());
  for (auto id : {"c", "a", "b", "d"})
    ASSERT_TRUE(append(j, id, opening()));
  auto page = unfinished(j, "", 2);
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"a", "b"}));
  EXPECT_EQ(page.next, "b");
  page = unfinished(j, page.next, 2);
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"c", "d"}));
  EXPECT_TRUE(page.next.empty());
  EXPECT_TRUE(finish(j, "b"));
  EXPECT_FALSE(finish(j, "b"));
  page = unfinished(j, "", 10);
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"a", "c", "d"}));
}

// -- make_journal -------------------------------------------------------------

TEST_F(JournalActor, MakeJournalOpensMemoryUrl) {
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

TEST_F(JournalActor, MakeJournalRejectsInvalidUrls) {
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

// -- ownership and fencing ----------------------------------------------------

namespace {

using saga::saga_owner;

std::vector<saga::saga_id> unfinished_of(const memory_store& store,
                                         const std::string& node) {
  return store.unfinished("", 1000, node).ids;
}

// The step after opening(): step 0 succeeded, step 1 started.
std::vector<event> next_batch() {
  return {make_event(3, event_type::step_succeeded, 0, 1),
          make_event(4, event_type::step_started, 1, 1)};
}

// Every page of adopt(node, below, ..., max, owner), concatenated.
std::vector<saga::saga_id> adopt_all(memory_store& store,
                                     const std::string& node, uint64_t below,
                                     uint32_t max, const saga_owner& owner,
                                     size_t* pages = nullptr) {
  std::vector<saga::saga_id> result;
  std::string after;
  for (size_t n = 1;; ++n) {
    auto page = store.adopt(node, below, after, max, owner);
    EXPECT_LE(page.ids.size(), max);
    result.insert(result.end(), page.ids.begin(), page.ids.end());
    if (page.next.empty()) {
      if (pages != nullptr)
        *pages = n;
      return result;
    }
    EXPECT_GT(page.next, after) << "the cursor must advance";
    after = page.next;
    if (n > 1000) {
      ADD_FAILURE() << "adopt paging does not terminate";
      return result;
    }
  }
}

} // namespace

TEST(MemoryStore, FirstAppendRecordsTheOwnerAndListsItInItsNodesIndex) {
  memory_store store;
  ASSERT_TRUE(store.append("s", opening(), saga_owner{"a", 1}));
  auto owner = store.owner_of("s");
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->node, "a");
  EXPECT_EQ(owner->epoch, 1u);
  EXPECT_EQ(unfinished_of(store, "a"), (std::vector<saga::saga_id>{"s"}));
  EXPECT_TRUE(unfinished_of(store, "b").empty());
  EXPECT_TRUE(unfinished_of(store, "default").empty());
  EXPECT_FALSE(store.owner_of("never-written"));
}

TEST(MemoryStore, AppendByAnotherNodeIsFencedAndWritesNothing) {
  memory_store store;
  ASSERT_TRUE(store.append("s", opening(), saga_owner{"a", 1}));
  auto res = store.append("s", next_batch(), saga_owner{"b", 1});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::fenced))
    << saga::describe(res.error());
  // A fenced terminal append neither writes nor unlists the saga.
  res = store.append("s", {make_event(3, event_type::saga_completed)},
                     saga_owner{"b", 1});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::fenced));
  EXPECT_EQ(seqs_of(*store.read("s")), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(unfinished_of(store, "a"), (std::vector<saga::saga_id>{"s"}));
  EXPECT_TRUE(unfinished_of(store, "b").empty());
  EXPECT_EQ(store.owner_of("s")->node, "a");
  // The owner goes on.
  auto ok = store.append("s", next_batch(), saga_owner{"a", 1});
  ASSERT_TRUE(ok) << saga::describe(ok.error());
  EXPECT_EQ(*ok, 4u);
}

TEST(MemoryStore, AppendByANewerOrOlderEpochOfTheSameNodeIsFenced) {
  memory_store store;
  ASSERT_TRUE(store.append("s", opening(), saga_owner{"a", 2}));
  for (uint64_t epoch : {1u, 3u}) {
    SCOPED_TRACE("epoch " + std::to_string(epoch));
    auto res = store.append("s", next_batch(), saga_owner{"a", epoch});
    ASSERT_FALSE(res);
    EXPECT_TRUE(saga::is(res.error(), errc::fenced))
      << saga::describe(res.error());
  }
  EXPECT_EQ(store.read("s")->size(), 2u);
  EXPECT_TRUE(store.append("s", next_batch(), saga_owner{"a", 2}));
}

TEST(MemoryStore, FencingWinsOverASeqConflict) {
  // Even a batch that would also conflict is refused as fenced: a stale
  // owner learns that the saga is not its own any more.
  memory_store store;
  ASSERT_TRUE(store.append("s", opening(), saga_owner{"a", 1}));
  ASSERT_TRUE(store.append("s", next_batch(), saga_owner{"a", 1}));
  auto res = store.append("s", {make_event(3, event_type::step_failed, 0, 1)},
                          saga_owner{"b", 1});
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::fenced))
    << saga::describe(res.error());
}

TEST(MemoryStore, AdoptTakesEpochsBelowTheBoundAndSkipsLiveOnes) {
  memory_store store;
  ASSERT_TRUE(store.append("s1", opening(), saga_owner{"a", 1}));
  ASSERT_TRUE(store.append("s2", opening(), saga_owner{"a", 2}));
  ASSERT_TRUE(store.append("s3", opening(), saga_owner{"a", 3})); // live
  ASSERT_TRUE(store.append("s4", opening(), saga_owner{"a", 4})); // live
  auto page = store.adopt("a", 3, "", 100, saga_owner{"b", 7});
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"s1", "s2"}));
  EXPECT_TRUE(page.next.empty());
  for (auto id : {"s1", "s2"}) {
    auto o = store.owner_of(id);
    ASSERT_TRUE(o) << id;
    EXPECT_EQ(o->node, "b") << id;
    EXPECT_EQ(o->epoch, 7u) << id;
  }
  EXPECT_EQ(store.owner_of("s3")->node, "a");
  EXPECT_EQ(store.owner_of("s3")->epoch, 3u);
  EXPECT_EQ(store.owner_of("s4")->epoch, 4u);
  // The index moved: adopted sagas are the adopter's, live ones stay.
  EXPECT_EQ(unfinished_of(store, "b"),
            (std::vector<saga::saga_id>{"s1", "s2"}));
  EXPECT_EQ(unfinished_of(store, "a"),
            (std::vector<saga::saga_id>{"s3", "s4"}));
  // A second walk finds nothing more to take.
  EXPECT_TRUE(store.adopt("a", 3, "", 100, saga_owner{"b", 7}).ids.empty());
  EXPECT_EQ(unfinished_of(store, "a"),
            (std::vector<saga::saga_id>{"s3", "s4"}));
  // The histories did not change.
  EXPECT_EQ(store.read("s1")->size(), 2u);
}

TEST(MemoryStore, AfterAdoptTheOldOwnerIsFencedAndTheNewOneWrites) {
  memory_store store;
  ASSERT_TRUE(store.append("s", opening(), saga_owner{"a", 1}));
  auto page = store.adopt("a", 2, "", 10, saga_owner{"b", 1});
  ASSERT_EQ(page.ids, (std::vector<saga::saga_id>{"s"}));
  auto old = store.append("s", next_batch(), saga_owner{"a", 1});
  ASSERT_FALSE(old);
  EXPECT_TRUE(saga::is(old.error(), errc::fenced))
    << saga::describe(old.error());
  auto terminal = store.append("s", {make_event(3, event_type::saga_failed)},
                               saga_owner{"a", 1});
  ASSERT_FALSE(terminal);
  EXPECT_TRUE(saga::is(terminal.error(), errc::fenced));
  EXPECT_EQ(store.read("s")->size(), 2u);
  EXPECT_EQ(unfinished_of(store, "b"), (std::vector<saga::saga_id>{"s"}));
  // The adopter continues the same history and ends it: it leaves the
  // adopter's index.
  auto res = store.append("s", next_batch(), saga_owner{"b", 1});
  ASSERT_TRUE(res) << saga::describe(res.error());
  EXPECT_EQ(*res, 4u);
  res = store.append("s", {make_event(5, event_type::saga_completed)},
                     saga_owner{"b", 1});
  ASSERT_TRUE(res) << saga::describe(res.error());
  EXPECT_TRUE(unfinished_of(store, "b").empty());
  EXPECT_TRUE(unfinished_of(store, "a").empty());
  EXPECT_EQ(store.read("s")->back().type, event_type::saga_completed);
}

TEST(MemoryStore, AdoptOfTheOwnNodeKeepsTheIndexAndFencesOlderEpochs) {
  memory_store store;
  ASSERT_TRUE(store.append("s1", opening(), saga_owner{"a", 1}));
  ASSERT_TRUE(store.append("s2", opening(), saga_owner{"a", 2}));
  ASSERT_TRUE(store.append("s3", opening(), saga_owner{"a", 3}));
  // Incarnation 2 of node a recovers: it takes epoch 1's saga, lists its
  // own, and leaves the newer incarnation's alone.
  auto page = store.adopt("a", 2, "", 10, saga_owner{"a", 2});
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"s1", "s2"}));
  EXPECT_EQ(store.owner_of("s1")->epoch, 2u);
  EXPECT_EQ(store.owner_of("s3")->epoch, 3u);
  EXPECT_EQ(unfinished_of(store, "a"),
            (std::vector<saga::saga_id>{"s1", "s2", "s3"}));
  auto stale = store.append("s1", next_batch(), saga_owner{"a", 1});
  ASSERT_FALSE(stale);
  EXPECT_TRUE(saga::is(stale.error(), errc::fenced));
  // A fenced terminal append of the old incarnation keeps s1 listed.
  stale = store.append("s1", {make_event(3, event_type::saga_completed)},
                       saga_owner{"a", 1});
  ASSERT_FALSE(stale);
  EXPECT_EQ(unfinished_of(store, "a"),
            (std::vector<saga::saga_id>{"s1", "s2", "s3"}));
  EXPECT_TRUE(store.append("s1", next_batch(), saga_owner{"a", 2}));
}

TEST(MemoryStore, RacingAdoptersEachGetEverySagaExactlyOnce) {
  memory_store store;
  std::set<saga::saga_id> all;
  for (int i = 0; i < 25; ++i) {
    auto id = "s-" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    ASSERT_TRUE(store.append(id, opening(), saga_owner{"a", 1}));
    all.insert(id);
  }
  const saga_owner b{"b", 1};
  const saga_owner c{"c", 1};
  std::vector<saga::saga_id> got_b;
  std::vector<saga::saga_id> got_c;
  std::string after_b;
  std::string after_c;
  bool done_b = false;
  bool done_c = false;
  // The two walks interleave page by page, each with its own cursor.
  for (int round = 0; round < 100 && !(done_b && done_c); ++round) {
    if (!done_b) {
      auto page = store.adopt("a", 2, after_b, 3, b);
      got_b.insert(got_b.end(), page.ids.begin(), page.ids.end());
      done_b = page.next.empty();
      after_b = page.next;
    }
    if (!done_c) {
      auto page = store.adopt("a", 2, after_c, 4, c);
      got_c.insert(got_c.end(), page.ids.begin(), page.ids.end());
      done_c = page.next.empty();
      after_c = page.next;
    }
  }
  ASSERT_TRUE(done_b && done_c);
  EXPECT_FALSE(got_b.empty());
  EXPECT_FALSE(got_c.empty());
  std::set<saga::saga_id> set_b(got_b.begin(), got_b.end());
  std::set<saga::saga_id> set_c(got_c.begin(), got_c.end());
  EXPECT_EQ(set_b.size(), got_b.size()) << "b got a saga twice";
  EXPECT_EQ(set_c.size(), got_c.size()) << "c got a saga twice";
  for (const auto& id : set_b)
    EXPECT_EQ(set_c.count(id), 0u) << id << " went to both adopters";
  std::set<saga::saga_id> both = set_b;
  both.insert(set_c.begin(), set_c.end());
  EXPECT_EQ(both, all);
  // What each was told it got is what it owns and lists.
  for (const auto& id : set_b)
    EXPECT_EQ(store.owner_of(id)->node, "b") << id;
  for (const auto& id : set_c)
    EXPECT_EQ(store.owner_of(id)->node, "c") << id;
  EXPECT_EQ(unfinished_of(store, "b"), got_b);
  EXPECT_EQ(unfinished_of(store, "c"), got_c);
  EXPECT_TRUE(unfinished_of(store, "a").empty());
  // A late walk of either adopter over a's index finds nothing.
  EXPECT_TRUE(adopt_all(store, "a", 2, 5, b).empty());
}

TEST(MemoryStore, RacingAdopterThreadsNeverShareASaga) {
  memory_store store;
  constexpr int n = 400;
  for (int i = 0; i < n; ++i)
    ASSERT_TRUE(
      store.append("s-" + std::to_string(1000 + i), opening(), {"a", 1}));
  std::vector<saga::saga_id> got[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&store, &got, t] {
      got[t] = adopt_all(store, "a", 2, 7,
                         saga_owner{"n" + std::to_string(t), 1});
    });
  for (auto& th : threads)
    th.join();
  std::set<saga::saga_id> seen;
  size_t total = 0;
  for (int t = 0; t < 4; ++t) {
    total += got[t].size();
    for (const auto& id : got[t]) {
      EXPECT_TRUE(seen.insert(id).second) << id << " adopted twice";
      EXPECT_EQ(store.owner_of(id)->node, "n" + std::to_string(t)) << id;
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(n));
  EXPECT_TRUE(unfinished_of(store, "a").empty());
}

TEST(MemoryStore, AdoptPagesWithASmallMaxCoverEveryId) {
  memory_store store;
  std::vector<saga::saga_id> old_ones;
  std::vector<saga::saga_id> live_ones;
  // Interleaved: every third saga belongs to a live incarnation.
  for (int i = 0; i < 20; ++i) {
    auto id = "s-" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    bool live = i % 3 == 2;
    ASSERT_TRUE(store.append(id, opening(), saga_owner{"a", live ? 5u : 4u}));
    (live ? live_ones : old_ones).push_back(id);
  }
  for (uint32_t max : {1u, 2u, 3u}) {
    SCOPED_TRACE("max " + std::to_string(max));
    // Adopting for a node with a bound that takes nothing: every page is
    // visited and nothing moves.
    size_t pages = 0;
    EXPECT_TRUE(adopt_all(store, "a", 4, max, saga_owner{"x", 1}, &pages)
                  .empty());
    EXPECT_GE(pages, (20 + max - 1) / max);
    EXPECT_EQ(unfinished_of(store, "a").size(), 20u);
  }
  size_t pages = 0;
  auto got = adopt_all(store, "a", 5, 2, saga_owner{"b", 1}, &pages);
  EXPECT_EQ(got, old_ones);
  EXPECT_GE(pages, 10u);
  EXPECT_EQ(unfinished_of(store, "a"), live_ones);
  EXPECT_EQ(unfinished_of(store, "b"), old_ones);
}

TEST(MemoryStore, AdoptPageOfOnlyLiveSagasStillAdvances) {
  memory_store store;
  for (auto id : {"a1", "a2", "a3"})
    ASSERT_TRUE(store.append(id, opening(), saga_owner{"a", 9}));
  ASSERT_TRUE(store.append("a4", opening(), saga_owner{"a", 1}));
  auto page = store.adopt("a", 5, "", 2, saga_owner{"b", 1});
  EXPECT_TRUE(page.ids.empty());
  EXPECT_EQ(page.next, "a2");
  page = store.adopt("a", 5, page.next, 2, saga_owner{"b", 1});
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"a4"}));
  EXPECT_TRUE(page.next.empty());
}

TEST(MemoryStore, FinishedSagasAreNotAdopted) {
  memory_store store;
  ASSERT_TRUE(store.append("done", opening(), saga_owner{"a", 1}));
  ASSERT_TRUE(store.append("done", {make_event(3, event_type::saga_compensated)},
                           saga_owner{"a", 1}));
  ASSERT_TRUE(store.append("whole", whole(), saga_owner{"a", 1}));
  ASSERT_TRUE(store.append("finished", opening(), saga_owner{"a", 1}));
  EXPECT_TRUE(store.finish("finished", "a"));
  ASSERT_TRUE(store.append("open", opening(), saga_owner{"a", 1}));
  auto got = adopt_all(store, "a", 2, 1, saga_owner{"b", 1});
  EXPECT_EQ(got, (std::vector<saga::saga_id>{"open"}));
  for (auto id : {"done", "whole", "finished"}) {
    auto o = store.owner_of(id);
    ASSERT_TRUE(o) << id;
    EXPECT_EQ(o->node, "a") << id;
    EXPECT_EQ(o->epoch, 1u) << id;
  }
  EXPECT_EQ(unfinished_of(store, "b"), (std::vector<saga::saga_id>{"open"}));
  EXPECT_TRUE(unfinished_of(store, "a").empty());
}

TEST(MemoryStore, AdoptOfAnUnknownNodeIsAnEmptyLastPage) {
  memory_store store;
  ASSERT_TRUE(store.append("s", opening(), saga_owner{"a", 1}));
  auto page = store.adopt("nobody", 100, "", 10, saga_owner{"b", 1});
  EXPECT_TRUE(page.ids.empty());
  EXPECT_TRUE(page.next.empty());
  EXPECT_EQ(store.owner_of("s")->node, "a");
}

// -- ownership through the journal actor --------------------------------------

namespace {

class JournalOwnership : public JournalActor {
protected:
  saga::unfinished_page adopt(const saga::journal_actor& j,
                              const std::string& node, uint64_t below,
                              const std::string& after, uint32_t max) {
    saga::unfinished_page result;
    self->request(j, std::chrono::seconds{10}, saga::adopt_atom::value, node,
                  below, after, max)
      .receive([&](saga::unfinished_page& page) { result = std::move(page); },
               [&](caf::error& err) { ADD_FAILURE() << saga::describe(err); });
    return result;
  }

  std::shared_ptr<memory_store> store = std::make_shared<memory_store>();
};

} // namespace

TEST_F(JournalOwnership, AppendsOfAnotherOwnerAreFenced) {
  auto a = saga::spawn_memory_journal(sys, store, {"a", 1});
  auto b = saga::spawn_memory_journal(sys, store, {"b", 1});
  auto a2 = saga::spawn_memory_journal(sys, store, {"a", 2});
  ASSERT_TRUE(append(a, "s", opening()));
  for (auto* j : {&b, &a2}) {
    auto res = append(*j, "s", next_batch());
    ASSERT_FALSE(res);
    EXPECT_TRUE(saga::is(res.error(), errc::fenced))
      << saga::describe(res.error());
  }
  EXPECT_EQ(read(b, "s")->size(), 2u); // anyone may read
  EXPECT_EQ(unfinished(a, "", 10).ids, (std::vector<saga::saga_id>{"s"}));
  EXPECT_TRUE(unfinished(b, "", 10).ids.empty());
  EXPECT_FALSE(unfinished(a2, "", 10).ids.empty())
    << "a's index is shared by its incarnations";
  auto res = append(a, "s", next_batch());
  ASSERT_TRUE(res) << saga::describe(res.error());
}

TEST_F(JournalOwnership, AdoptOfAnotherNodeMovesItsSagas) {
  auto a = saga::spawn_memory_journal(sys, store, {"a", 3});
  auto a_new = saga::spawn_memory_journal(sys, store, {"a", 4});
  auto b = saga::spawn_memory_journal(sys, store, {"b", 1});
  for (auto id : {"s1", "s2", "s3"})
    ASSERT_TRUE(append(a, id, opening()));
  ASSERT_TRUE(append(a_new, "s4", opening()));
  // A bound at a's epoch leaves it alone.
  auto page = adopt(b, "a", 3, "", 10);
  EXPECT_TRUE(page.ids.empty());
  EXPECT_EQ(unfinished(a, "", 10).ids.size(), 4u);
  page = adopt(b, "a", 4, "", 10);
  EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"s1", "s2", "s3"}));
  EXPECT_EQ(unfinished(b, "", 10).ids,
            (std::vector<saga::saga_id>{"s1", "s2", "s3"}));
  EXPECT_EQ(unfinished(a, "", 10).ids, (std::vector<saga::saga_id>{"s4"}));
  auto old = append(a, "s1", next_batch());
  ASSERT_FALSE(old);
  EXPECT_TRUE(saga::is(old.error(), errc::fenced));
  EXPECT_TRUE(append(b, "s1", next_batch()));
  EXPECT_TRUE(append(a_new, "s4", next_batch())); // still a's newer epoch
}

TEST_F(JournalOwnership, AdoptOfTheOwnNodeUsesTheJournalsOwnEpoch) {
  auto a1 = saga::spawn_memory_journal(sys, store, {"a", 1});
  auto a2 = saga::spawn_memory_journal(sys, store, {"a", 2});
  auto a3 = saga::spawn_memory_journal(sys, store, {"a", 3});
  ASSERT_TRUE(append(a1, "s1", opening()));
  ASSERT_TRUE(append(a2, "s2", opening()));
  ASSERT_TRUE(append(a3, "s3", opening()));
  // The `below` argument does not apply to the own node: a2 must not take
  // the newer incarnation's saga however high it is.
  for (const std::string& node : {std::string{}, std::string{"a"}}) {
    SCOPED_TRACE("node '" + node + "'");
    auto page = adopt(a2, node, 1000, "", 10);
    EXPECT_EQ(page.ids, (std::vector<saga::saga_id>{"s1", "s2"}));
  }
  EXPECT_EQ(store->owner_of("s1")->epoch, 2u);
  EXPECT_EQ(store->owner_of("s3")->epoch, 3u);
  EXPECT_EQ(unfinished(a2, "", 10).ids,
            (std::vector<saga::saga_id>{"s1", "s2", "s3"}));
  auto stale = append(a1, "s1", next_batch());
  ASSERT_FALSE(stale);
  EXPECT_TRUE(saga::is(stale.error(), errc::fenced));
  EXPECT_TRUE(append(a2, "s1", next_batch()));
}

TEST(AllocateEpoch, MemoryEpochsStrictlyIncrease) {
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
bool done(memory_store& store, const saga::saga_id& id,
          const std::string& step, barrier_op op, const std::string& owner,
          saga::step_reply reply) {
  auto res = store.done(id, step, op, owner, std::move(reply));
  EXPECT_TRUE(res) << saga::describe(res.error());
  return res && *res;
}

} // namespace

TEST(MemoryBarrier, DoneWithoutAnyClaimIsRefusedAndRecordsNothing) {
  memory_store store;
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_reply("\"one\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::compensate, "t1",
                    ok_reply("\"one\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    failed_reply("no")));
  // Nothing was recorded: the first real claim proceeds.
  auto c = store.claim("s", "pay", barrier_op::execute, "t2");
  EXPECT_EQ(c.verdict, barrier_verdict::proceed);
}

TEST(MemoryBarrier, ReClaimOfAnUnfinishedClaimProceeds) {
  memory_store store;
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
}

TEST(MemoryBarrier, DoneOfAReplacedClaimIsRefusedAndKeepsTheWinnersRecord) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t2",
                   ok_reply("\"two\"")));
  // t1 hung past its saga's timeout and wakes up now: fenced.
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_reply("\"one\"")));
  auto dup = store.claim("s", "pay", barrier_op::execute, "t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_TRUE(dup.reply.ok);
  EXPECT_EQ(dup.reply.result, "\"two\"");
}

TEST(MemoryBarrier, LateFailureOfAReplacedClaimDoesNotEraseTheRecord) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::execute, "t2",
                   ok_reply("\"two\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    failed_reply("timed out")));
  auto dup = store.claim("s", "pay", barrier_op::execute, "t3");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate)
    << "the late failure erased the settled record";
  EXPECT_TRUE(dup.reply.ok);
  EXPECT_EQ(dup.reply.result, "\"two\"");
}

TEST(MemoryBarrier, FailureOfAReplacedClaimDoesNotDropTheNewClaim) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  // t1 fails while t2 still runs: t2's claim stays, and t2 records.
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    failed_reply("declined")));
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t2",
                   ok_reply("\"two\"")));
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t3").verdict,
            barrier_verdict::duplicate);
}

TEST(MemoryBarrier, FailureOfTheOwnClaimForgetsItSoARetryProceeds) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1",
                   failed_reply("declined")));
  // The claim is gone: a second done of t1 has nothing to settle.
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_reply("\"late\"")));
  EXPECT_EQ(store.claim("s", "pay", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
}

TEST(MemoryBarrier, ACopyOfAFailedAttemptGetsItsFailureALaterAttemptRuns) {
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

TEST(MemoryBarrier, ANullCompensationIsOkWithoutAnError) {
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

TEST(MemoryBarrier, ASettledRecordIsNotWrittenAgainByItsOwnClaimant) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1",
                   ok_reply("\"one\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    ok_reply("\"again\"")));
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t1",
                    failed_reply("late")));
  auto dup = store.claim("s", "pay", barrier_op::execute, "t2");
  EXPECT_EQ(dup.verdict, barrier_verdict::duplicate);
  EXPECT_EQ(dup.reply.result, "\"one\"");
}

TEST(MemoryBarrier, CompensationsAreFencedLikeExecutes) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "x").verdict,
            barrier_verdict::proceed);
  ASSERT_TRUE(done(store, "s", "pay", barrier_op::execute, "x",
                   ok_reply("\"paid\"")));
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

TEST(MemoryBarrier, RecordsOfDifferentStepsAndSagasAreSeparate) {
  memory_store store;
  ASSERT_EQ(store.claim("s", "pay", barrier_op::execute, "t1").verdict,
            barrier_verdict::proceed);
  // Another step's or saga's claim by another token does not replace t1's.
  ASSERT_EQ(store.claim("s", "ship", barrier_op::execute, "t2").verdict,
            barrier_verdict::proceed);
  ASSERT_EQ(store.claim("u", "pay", barrier_op::execute, "t3").verdict,
            barrier_verdict::proceed);
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "t2",
                    ok_reply("\"wrong\"")));
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1",
                   ok_reply("\"one\"")));
  EXPECT_FALSE(done(store, "u", "pay", barrier_op::execute, "t1",
                    ok_reply("\"wrong\"")));
}

TEST(MemoryBarrier, AHungExecuteCannotRecordAfterItsCompensation) {
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
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "hung",
                    ok_reply("\"paid\"")))
    << "the hung execute recorded after its step was compensated";
  auto late = store.claim("s", "pay", barrier_op::execute, "retry");
  EXPECT_EQ(late.verdict, barrier_verdict::refused);
}

TEST_F(JournalActor, BarrierDoneOfAReplacedClaimAnswersFalse) {
  auto store = std::make_shared<memory_store>();
  auto j = saga::spawn_memory_journal(sys, store);
  auto claim = [&](const std::string& owner) {
    saga::barrier_claim result;
    self->request(j, caf::infinite, saga::barrier_claim_atom::value,
                  saga::saga_id{"s"}, std::string{"pay"}, barrier_op::execute,
                  owner)
      .receive([&](saga::barrier_claim& c) { result = std::move(c); },
               [&](caf::error& err) { ADD_FAILURE() << saga::describe(err); });
    return result;
  };
  auto settle = [&](const std::string& owner, saga::step_reply reply) {
    bool result = false;
    self->request(j, caf::infinite, saga::barrier_done_atom::value,
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
              const std::string& owner,
              barrier_op op = barrier_op::execute) {
  ASSERT_EQ(store.claim("s", step, op, owner).verdict,
            barrier_verdict::proceed);
}

} // namespace

TEST(MemoryBarrier, EffectsApplyExactlyOnceWithTheRecord) {
  memory_store store;
  EXPECT_TRUE(store.read_hash("balance").empty());
  claim_ok(store, "pay", "t1");
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1",
                   ok_with({effect::incr_by("balance", "alice", -30)},
                           "\"paid\"")));
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

TEST(MemoryBarrier, EffectsOfACompensationApplyLikeThoseOfAnExecute) {
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

TEST(MemoryBarrier, IncrByAddsSignedIntegersLikeRedis) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(done(store, "s", "a", barrier_op::execute, "t1",
                   ok_with({effect::incr_by("k", "n", 5),
                            effect::incr_by("k", "n", -12),
                            effect::incr_by("k", "m", INT64_MIN),
                            effect::incr_by("k", "p", INT64_MAX),
                            effect::incr_by("k", "z", 0)})));
  EXPECT_EQ(store.read_hash("k"),
            (hash_fields{{"n", "-7"},
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

TEST(MemoryBarrier, IncrByOfAFieldThatIsNotAnInt64FailsAndAppliesNothing) {
  for (std::string bad : {"", "1.5", "+1", " 1", "1 ", "01", "-0", "abc",
                          "9223372036854775808", "-9223372036854775809",
                          "99999999999999999999"}) {
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

TEST(MemoryBarrier, IncrByThatWouldOverflowAppliesNothing) {
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
  EXPECT_EQ(store.read_hash("k"),
            (hash_fields{{"n", "9223372036854775807"}}));
}

TEST(MemoryBarrier, HsetWritesAndOverwrites) {
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

TEST(MemoryBarrier, HsetnxWritesOnlyAbsentFields) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(done(store, "s", "a", barrier_op::execute, "t1",
                   ok_with({effect::hset("k", "a", "1"),
                            effect::hsetnx("k", "a", "2"),
                            effect::hsetnx("k", "b", "3")})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"a", "1"}, {"b", "3"}}));
}

TEST(MemoryBarrier, HdelAndDelRemoveFieldsAndHashes) {
  memory_store store;
  claim_ok(store, "a", "t1");
  ASSERT_TRUE(done(store, "s", "a", barrier_op::execute, "t1",
                   ok_with({effect::hset("k", "a", "1"),
                            effect::hset("k", "b", "2"),
                            effect::hset("k", "c", "3"),
                            effect::hset("gone", "x", "1")})));
  claim_ok(store, "b", "t2");
  ASSERT_TRUE(done(store, "s", "b", barrier_op::execute, "t2",
                   ok_with({effect::hdel("k", "a"), effect::hdel("k", "c"),
                            effect::hdel("k", "missing"),
                            effect::hdel("nohash", "f"), effect::del("gone"),
                            effect::del("nokey")})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"b", "2"}}));
  EXPECT_TRUE(store.read_hash("gone").empty());
  // A hash emptied by hdel no longer exists: hsetnx starts it afresh.
  claim_ok(store, "c", "t3");
  ASSERT_TRUE(done(store, "s", "c", barrier_op::execute, "t3",
                   ok_with({effect::hdel("k", "b"),
                            effect::hsetnx("k", "b", "9")})));
  EXPECT_EQ(store.read_hash("k"), (hash_fields{{"b", "9"}}));
}

TEST(MemoryBarrier, AnEffectWithoutKeyFailsAppliesNothingAndKeepsTheClaim) {
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

TEST(MemoryBarrier, ARejectedBatchLeavesTheCallersClaimOpen) {
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

TEST(MemoryBarrier, MalformedEffectsAreRejected) {
  // Only an empty key, or a kind no factory makes (a corrupt message), is
  // malformed: the factories make every other effect well-formed.
  const std::vector<effect> bad_effects = {
    effect::hset("", "f", "v"), effect::hsetnx("", "f", "v"),
    effect::hdel("", "f"),      effect::incr_by("", "f", 1),
    effect::del(""),            effect{},
  };
  for (const auto& bad : bad_effects) {
    memory_store store;
    claim_ok(store, "a", "t1");
    auto res = store.done("s", "a", barrier_op::execute, "t1",
                          ok_with({effect::hset("k", "before", "1"), bad}));
    ASSERT_FALSE(res) << "accepted a " << saga::to_string(bad.what())
                      << " on '" << bad.key() << "'";
    EXPECT_TRUE(saga::is(res.error(), errc::invalid_config));
    EXPECT_NE(saga::describe(res.error()).find("atomic effect 2"),
              std::string::npos)
      << saga::describe(res.error());
    EXPECT_TRUE(store.read_hash("k").empty());
  }
}

TEST(MemoryBarrier, IncrByOfANonIntegerFieldFailsAndAppliesNothing) {
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
  EXPECT_NE(saga::describe(res.error()).find("atomic effect 2 (incr_by on 'k')"),
            std::string::npos)
    << saga::describe(res.error());
  EXPECT_EQ(store.read_hash("k"),
            (hash_fields{{"name", "alice"}, {"n", "5"}}));
  // A value written earlier in the same batch counts too.
  auto res2 = store.done("s", "pay", barrier_op::execute, "t1",
                         ok_with({effect::hset("k", "n", "x"),
                                  effect::incr_by("k", "n", 1)}));
  ASSERT_FALSE(res2);
  EXPECT_EQ(store.read_hash("k"),
            (hash_fields{{"name", "alice"}, {"n", "5"}}));
}

TEST(MemoryBarrier, FencedDoneAppliesNoEffects) {
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

TEST(MemoryBarrier, ARevokedExecuteAppliesNoEffects) {
  memory_store store;
  claim_ok(store, "pay", "hung");
  auto c = store.claim("s", "pay", barrier_op::compensate, "comp");
  ASSERT_EQ(c.verdict, barrier_verdict::proceed);
  EXPECT_TRUE(c.execute_unrecorded);
  EXPECT_FALSE(done(store, "s", "pay", barrier_op::execute, "hung",
                    ok_with({effect::incr_by("k", "n", -30)})));
  EXPECT_TRUE(store.read_hash("k").empty());
}

TEST(MemoryBarrier, FailedOutcomesApplyNoEffects) {
  memory_store store;
  claim_ok(store, "pay", "t1");
  auto r = failed_reply("declined");
  r.effects = {effect::incr_by("k", "n", 1), effect::hset("", "f", "v")};
  EXPECT_TRUE(done(store, "s", "pay", barrier_op::execute, "t1", r));
  EXPECT_TRUE(store.read_hash("k").empty());
}

TEST(MemoryBarrier, HashesOutliveTheRetirementOfFinishedHistories) {
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

TEST_F(JournalActor, BarrierDoneAppliesEffectsOnce) {
  auto store = std::make_shared<memory_store>();
  auto j = saga::spawn_memory_journal(sys, store);
  auto claim = [&](const std::string& owner) {
    saga::barrier_claim result;
    self->request(j, caf::infinite, saga::barrier_claim_atom::value,
                  saga::saga_id{"s"}, std::string{"pay"}, barrier_op::execute,
                  owner)
      .receive([&](saga::barrier_claim& c) { result = std::move(c); },
               [&](caf::error& err) { ADD_FAILURE() << saga::describe(err); });
    return result;
  };
  auto settle = [&](const std::string& owner, saga::step_reply reply,
                    caf::error* err_out = nullptr) {
    bool result = false;
    self->request(j, caf::infinite, saga::barrier_done_atom::value,
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
