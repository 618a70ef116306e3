// Unit tests of the in-memory journal: saga::memory_store directly, the
// journal actor around it, and make_journal's URL handling.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "persistence/memory_journal.hpp"
#include "saga/errc.hpp"
#include "saga/event.hpp"
#include "saga/journal.hpp"
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
  // A second writer that restarts the saga.
  res = store.append("a", opening());
  ASSERT_FALSE(res);
  EXPECT_TRUE(saga::is(res.error(), errc::journal_conflict));
  auto events = store.read("a");
  ASSERT_TRUE(events);
  EXPECT_EQ(seqs_of(*events), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ((*events)[1].type, event_type::step_started);
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
    self->request(j, caf::infinite, saga::finish_atom::value, id)
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
