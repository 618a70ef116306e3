// The journal protocol (include/saga/journal.hpp) as every journal keeps it:
// one typed suite, run against the memory journal and against the Redis
// journal on a real redis-server, and (built again) on a real Redis
// Cluster. Append and read, seq conflicts and retried batches, the unfinished
// index and its pages, owners, fencing and adoption. What only one journal does
// is tested beside it: persistence/memory_journal_test.cpp,
// tests/redis_journal_test.cpp.

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/journal_fixture.hpp"

namespace saga::test {
namespace {

template <class Kind>
class journal_conformance : public journal_fixture<Kind> {};

// The cluster build of this file (journal_conformance_cluster_tests) runs
// the suite on a real Redis Cluster, all in one process: one cluster.
#ifdef SAGA_CONFORMANCE_ON_CLUSTER
using journal_kinds = ::testing::Types<redis_cluster_kind>;
#else
using journal_kinds = ::testing::Types<memory_kind, redis_kind>;
#endif

/// Names the instances journal_conformance/memory and
/// journal_conformance/redis.
struct kind_name {
  template <class Kind>
  // gtest's name generator interface:
  // NOLINTNEXTLINE(readability-identifier-naming)
  static std::string GetName(int) {
    return Kind::name;
  }
};

TYPED_TEST_SUITE(journal_conformance, journal_kinds, kind_name);

void expect_same_events(const std::vector<event>& got,
                        const std::vector<event>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(got[i].seq, want[i].seq);
    EXPECT_EQ(got[i].type, want[i].type);
    EXPECT_EQ(got[i].step, want[i].step);
    EXPECT_EQ(got[i].attempt, want[i].attempt);
    EXPECT_EQ(got[i].data, want[i].data);
    EXPECT_EQ(got[i].error, want[i].error);
    EXPECT_EQ(got[i].time_ms, want[i].time_ms);
  }
}

// -- append and read ----------------------------------------------------------

TYPED_TEST(journal_conformance,
           append_returns_the_last_seq_and_read_preserves_every_field) {
  auto j = this->journal_for(this->node("a"), 1);
  std::string tricky = R"({"q":"\"quotes\" \\ ünïcødé \n","nul":"a)";
  tricky += '\0';
  tricky += R"(b"})";
  std::vector<event> evs{started(), make(2, event_type::step_started),
                         make(3, event_type::step_succeeded, 0, 1, tricky),
                         make(4, event_type::step_failed, 0, 2, {}, "boom: ß")};
  evs[3].step = 7;
  auto n = this->append(j, this->sid("s"), evs);
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(*n, 4u);
  auto back = this->read(j, this->sid("s"));
  ASSERT_TRUE(back) << describe(back.error());
  expect_same_events(*back, evs);
  // An opening batch alone.
  n = this->append(j, this->sid("o"), opening());
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(*n, 2u);
  back = this->read(j, this->sid("o"));
  ASSERT_TRUE(back) << describe(back.error());
  expect_same_events(*back, opening());
}

TYPED_TEST(journal_conformance, append_continues_the_history_in_order) {
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("a");
  ASSERT_TRUE(this->append(j, id, opening()));
  auto res = this->append(j, id, next_batch());
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(*res, 4u);
  res = this->append(j, id, {make(5, event_type::step_succeeded, 1, 1)});
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(*res, 5u);
  auto events = this->read(j, id);
  ASSERT_TRUE(events) << describe(events.error());
  EXPECT_EQ(seqs_of(*events), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(events->back().type, event_type::step_succeeded);
  EXPECT_EQ(events->back().step, 1);
}

TYPED_TEST(journal_conformance, histories_of_different_sagas_are_separate) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->append(j, this->sid("a"), opening()));
  ASSERT_TRUE(this->append(j, this->sid("b"), {started()}));
  EXPECT_EQ(this->read(j, this->sid("a"))->size(), 2u);
  EXPECT_EQ(this->read(j, this->sid("b"))->size(), 1u);
}

TYPED_TEST(journal_conformance, a_seq_gap_is_a_conflict_and_writes_nothing) {
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("a");
  ASSERT_TRUE(this->append(j, id, opening()));
  auto res = this->append(j, id, {make(4, event_type::step_succeeded)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::journal_conflict)) << describe(res.error());
  auto events = this->read(j, id);
  ASSERT_TRUE(events) << describe(events.error());
  EXPECT_EQ(seqs_of(*events), (std::vector<uint64_t>{1, 2}));
}

TYPED_TEST(journal_conformance,
           a_repeated_seq_is_a_conflict_and_writes_nothing) {
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("a");
  ASSERT_TRUE(this->append(j, id, opening()));
  // A second writer that also believes it appends event #2.
  auto res = this->append(j, id, {make(2, event_type::step_failed)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::journal_conflict)) << describe(res.error());
  // ... or #2 and #3.
  res = this->append(j, id,
                     {make(2, event_type::step_failed),
                      make(3, event_type::compensation_started)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::journal_conflict)) << describe(res.error());
  // A second writer that restarts the saga (a saga_started of its own).
  auto restart = opening();
  restart.front().time_ms += 1;
  res = this->append(j, id, restart);
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::journal_conflict)) << describe(res.error());
  auto events = this->read(j, id);
  ASSERT_TRUE(events) << describe(events.error());
  EXPECT_EQ(seqs_of(*events), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ((*events)[1].type, event_type::step_started);
}

TYPED_TEST(journal_conformance, a_batch_sent_again_is_acknowledged_once) {
  // A saga actor sends its batch again after a journal timeout, but the
  // first send had landed: acknowledged again, and stored once.
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("a");
  ASSERT_TRUE(this->append(j, id, opening()));
  auto again = this->append(j, id, opening());
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(*again, 2u);
  ASSERT_TRUE(this->append(j, id, next_batch()));
  again = this->append(j, id, next_batch());
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(*again, 4u);
  EXPECT_EQ(seqs_of(*this->read(j, id)), (std::vector<uint64_t>{1, 2, 3, 4}));
}

TYPED_TEST(journal_conformance,
           a_batch_with_an_internal_gap_is_rejected_atomically) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->append(j, this->sid("a"), opening()));
  // The first event fits, the second one does not: nothing is written.
  auto res = this->append(j, this->sid("a"),
                          {make(3, event_type::step_succeeded),
                           make(5, event_type::saga_completed, -1, 0)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::journal_conflict)) << describe(res.error());
  EXPECT_EQ(seqs_of(*this->read(j, this->sid("a"))),
            (std::vector<uint64_t>{1, 2}));
  // Also for a new saga.
  res = this->append(j, this->sid("b"),
                     {started(), make(1, event_type::step_started)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::journal_conflict)) << describe(res.error());
  EXPECT_FALSE(this->read(j, this->sid("b")));
  EXPECT_EQ(this->index_of(this->node("a")),
            (std::vector<std::string>{this->sid("a")}));
}

// -- pre-claims: barrier claims made with the saga's append -----------------

TYPED_TEST(journal_conformance, a_preclaim_is_recorded_with_the_append) {
  // The claim made with the events holds like the participant's own: its
  // token records the outcome, and a copy then finds it done.
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("p");
  auto r = this->append(j, id, opening(),
                        {barrier_preclaim{"s1", barrier_op::execute, "1:t-1"}});
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->first, 2u);
  ASSERT_EQ(r->second.size(), 1u);
  EXPECT_EQ(r->second[0].verdict, barrier_verdict::proceed);
  EXPECT_EQ(seqs_of(*this->read(j, id)), (std::vector<uint64_t>{1, 2}));
  step_reply ok;
  ok.ok = true;
  ok.result = R"({"n":1})";
  auto recorded = this->done(j, id, "s1", barrier_op::execute, "1:t-1", ok);
  ASSERT_TRUE(recorded) << describe(recorded.error());
  EXPECT_TRUE(*recorded) << "the pre-claim's token owns the claim";
  auto copy = this->claim(j, id, "s1", barrier_op::execute, "1:other-1");
  ASSERT_TRUE(copy) << describe(copy.error());
  EXPECT_EQ(copy->verdict, barrier_verdict::duplicate);
  EXPECT_EQ(copy->reply.result, ok.result);
}

TYPED_TEST(journal_conformance, a_preclaim_decides_as_a_claim_would) {
  // An execute pre-claimed after its compensation was claimed is refused;
  // a compensation pre-claimed for a step never executed is a null one.
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("d");
  ASSERT_TRUE(this->append(j, id, opening()));
  auto c = this->claim(j, id, "s1", barrier_op::compensate, "1:t-1");
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->verdict, barrier_verdict::null_compensated);
  auto r
    = this->append(j, id, next_batch(),
                   {barrier_preclaim{"s1", barrier_op::execute, "2:t-2"},
                    barrier_preclaim{"s2", barrier_op::compensate, "1:t-3"}});
  ASSERT_TRUE(r) << describe(r.error());
  ASSERT_EQ(r->second.size(), 2u);
  EXPECT_EQ(r->second[0].verdict, barrier_verdict::refused);
  EXPECT_EQ(r->second[1].verdict, barrier_verdict::null_compensated);
}

/// Returns the outcome of pre-claimed step `step`'s execute under `token`:
/// a success that adds `by` to field "v" of hash `key`.
barrier_outcome outcome(const std::string& step, const std::string& token,
                        const std::string& key, int64_t by) {
  barrier_outcome o;
  o.step = step;
  o.token = token;
  o.reply.ok = true;
  o.reply.result = R"({"paid":true})";
  o.reply.effects = {effect::incr_by(key, "v", by)};
  return o;
}

TYPED_TEST(journal_conformance, an_outcome_is_recorded_with_the_next_append) {
  // The participant left its outcome to the saga: the append that says the
  // step succeeded records it and applies its effects, once, even when the
  // batch is sent again.
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("o");
  auto key = "{" + id + "}:balance";
  ASSERT_TRUE(
    this->append(j, id, opening(),
                 {barrier_preclaim{"s1", barrier_op::execute, "1:t-1"}}));
  auto r = this->append(j, id, next_batch(), {},
                        {outcome("s1", "1:t-1", key, 5)});
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->first, 4u);
  EXPECT_TRUE(r->second.empty());
  EXPECT_EQ(this->hash_field(key, "v"), "5");
  auto again = this->append(j, id, next_batch(), {},
                            {outcome("s1", "1:t-1", key, 5)});
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(again->first, 4u);
  EXPECT_EQ(this->hash_field(key, "v"), "5") << "applied twice";
  auto copy = this->claim(j, id, "s1", barrier_op::execute, "1:other-1");
  ASSERT_TRUE(copy) << describe(copy.error());
  EXPECT_EQ(copy->verdict, barrier_verdict::duplicate);
  EXPECT_EQ(copy->reply.result, R"({"paid":true})");
}

TYPED_TEST(journal_conformance,
           an_outcome_whose_claim_was_taken_fails_the_append_whole) {
  // The step's compensation revoked the execute's claim before the saga's
  // append came: neither the events nor the effects may land.
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("t");
  auto key = "{" + id + "}:balance";
  ASSERT_TRUE(
    this->append(j, id, opening(),
                 {barrier_preclaim{"s1", barrier_op::execute, "1:t-1"}}));
  auto c = this->claim(j, id, "s1", barrier_op::compensate, "1:t-2");
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_TRUE(c->execute_unrecorded);
  auto r = this->append(j, id, next_batch(), {},
                        {outcome("s1", "1:t-1", key, 5)});
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::journal_conflict)) << describe(r.error());
  EXPECT_NE(describe(r.error()).find("s1/x"), std::string::npos)
    << describe(r.error());
  EXPECT_EQ(seqs_of(*this->read(j, id)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(this->hash_field(key, "v"), "(nil)");
}

TYPED_TEST(journal_conformance, a_resent_append_claims_nothing) {
  // A batch sent again after a lost reply is acknowledged without verdicts:
  // its participants claim themselves, so the decision is never made twice.
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("r");
  std::vector<barrier_preclaim> pre{{"s1", barrier_op::execute, "1:t-1"}};
  ASSERT_TRUE(this->append(j, id, opening(), pre));
  auto again = this->append(j, id, opening(), pre);
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(again->first, 2u);
  EXPECT_TRUE(again->second.empty());
}

TYPED_TEST(journal_conformance, a_refused_append_claims_nothing) {
  // A conflicting or fenced append writes nothing, its pre-claims neither:
  // the participant's own claim afterwards is the first.
  auto a = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  auto id = this->sid("f");
  ASSERT_TRUE(this->append(a, id, opening()));
  auto fenced
    = this->append(b, id, next_batch(),
                   {barrier_preclaim{"s1", barrier_op::execute, "1:b-1"}});
  ASSERT_FALSE(fenced);
  EXPECT_TRUE(is(fenced.error(), errc::fenced)) << describe(fenced.error());
  auto c = this->claim(a, id, "s1", barrier_op::compensate, "1:a-1");
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->verdict, barrier_verdict::null_compensated)
    << "no execute was claimed";
}

TYPED_TEST(journal_conformance, an_empty_batch_is_an_error) {
  auto j = this->journal_for(this->node("a"), 1);
  auto id = this->sid("a");
  auto res = this->append(j, id, {});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::invalid_event)) << describe(res.error());
  EXPECT_FALSE(this->read(j, id));
  ASSERT_TRUE(this->append(j, id, opening()));
  res = this->append(j, id, {});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::invalid_event)) << describe(res.error());
  EXPECT_EQ(this->read(j, id)->size(), 2u);
}

TYPED_TEST(journal_conformance, a_read_of_an_unknown_saga_fails_naming_it) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->append(j, this->sid("a"), opening()));
  auto res = this->read(j, this->sid("b"));
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::unknown_saga)) << describe(res.error());
  EXPECT_NE(describe(res.error()).find("'" + this->sid("b") + "'"),
            std::string::npos)
    << describe(res.error());
  auto events = this->read(j, this->sid("a"));
  ASSERT_TRUE(events) << describe(events.error());
  EXPECT_EQ(events->size(), 2u);
}

// -- the unfinished index -----------------------------------------------------

TYPED_TEST(journal_conformance, a_started_saga_is_listed_as_unfinished) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->append(j, this->sid("b"), opening()));
  ASSERT_TRUE(this->append(j, this->sid("a"), {started()}));
  auto page = this->unfinished(j, "", 10);
  EXPECT_EQ(page.ids,
            (std::vector<std::string>{this->sid("a"), this->sid("b")}));
  EXPECT_TRUE(page.next.empty());
  EXPECT_EQ(this->index_of(this->node("a")), page.ids);
}

TYPED_TEST(journal_conformance, a_terminal_batch_unlists_the_saga) {
  for (auto terminal :
       {event_type::saga_completed, event_type::saga_compensated,
        event_type::saga_failed}) {
    auto name = std::string{to_string(terminal)};
    SCOPED_TRACE(name);
    auto j = this->journal_for(this->node(name), 1);
    auto a = this->sid(name + "-a");
    auto b = this->sid(name + "-b");
    ASSERT_TRUE(this->append(j, a, opening()));
    ASSERT_TRUE(this->append(j, b, opening()));
    ASSERT_TRUE(this->append(j, a,
                             {make(3, event_type::step_succeeded),
                              make(4, terminal, -1, 0)}));
    // The ended history stays readable. (Redis: the unlisting rides on the
    // saga's writer's next pipeline; a read of the saga comes after it.)
    EXPECT_EQ(this->read(j, a)->size(), 4u);
    EXPECT_EQ(this->unfinished(j).ids, (std::vector<std::string>{b}));
    // finish() of a saga that ended reports that it was not listed.
    EXPECT_FALSE(this->finish(j, a));
  }
}

TYPED_TEST(journal_conformance, a_whole_history_in_one_batch_is_never_listed) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->append(j, this->sid("a"), whole()));
  EXPECT_EQ(this->read(j, this->sid("a"))->size(), 4u);
  EXPECT_TRUE(this->unfinished(j).ids.empty());
}

TYPED_TEST(journal_conformance,
           a_non_terminal_last_event_keeps_the_saga_listed) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->open_all(j, {"a", "b"}));
  ASSERT_TRUE(this->append(j, this->sid("a"), next_batch()));
  // A terminal event in the middle of a batch does not count; only the last.
  ASSERT_TRUE(this->append(j, this->sid("b"),
                           {make(3, event_type::saga_compensated, -1, 0),
                            make(4, event_type::step_started, 1, 1)}));
  for (auto id : {"a", "b"})
    EXPECT_EQ(this->read(j, this->sid(id))->size(), 4u) << id;
  EXPECT_EQ(this->unfinished(j).ids,
            (std::vector<std::string>{this->sid("a"), this->sid("b")}));
}

TYPED_TEST(journal_conformance, finish_unlists_once_and_then_answers_false) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->append(j, this->sid("a"), opening()));
  ASSERT_TRUE(this->append(j, this->sid("b"), opening()));
  EXPECT_TRUE(this->finish(j, this->sid("a")));
  EXPECT_EQ(this->unfinished(j).ids,
            (std::vector<std::string>{this->sid("b")}));
  EXPECT_FALSE(this->finish(j, this->sid("a")));
  EXPECT_FALSE(this->finish(j, this->sid("never-seen")));
  // The history itself is kept.
  EXPECT_EQ(this->read(j, this->sid("a"))->size(), 2u);
}

TYPED_TEST(journal_conformance,
           paging_visits_every_unfinished_saga_once_in_order) {
  auto j = this->journal_for(this->node("a"), 1);
  // Appended out of order; ids sort as strings.
  for (int i : {7, 2, 9, 0, 5, 3, 8, 1, 6, 4})
    ASSERT_TRUE(
      this->append(j, this->sid("saga-" + std::to_string(i)), opening()));
  // An ended one must not show up.
  ASSERT_TRUE(this->append(j, this->sid("saga-10"), whole()));
  ASSERT_TRUE(this->read(j, this->sid("saga-10")));
  std::vector<std::string> visited;
  std::string after;
  size_t pages = 0;
  for (;;) {
    auto page = this->unfinished(j, after, 3);
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
  std::vector<std::string> expected;
  expected.reserve(10);
  for (int i = 0; i < 10; ++i)
    expected.push_back(this->sid("saga-" + std::to_string(i)));
  EXPECT_EQ(visited, expected);
}

TYPED_TEST(journal_conformance, pages_continue_after_next_and_finish_unlists) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->open_all(j, {"c", "a", "b", "d"}));
  auto page = this->unfinished(j, "", 2);
  EXPECT_EQ(page.ids,
            (std::vector<std::string>{this->sid("a"), this->sid("b")}));
  EXPECT_EQ(page.next, this->sid("b"));
  page = this->unfinished(j, page.next, 2);
  EXPECT_EQ(page.ids,
            (std::vector<std::string>{this->sid("c"), this->sid("d")}));
  EXPECT_TRUE(this->finish(j, this->sid("b")));
  EXPECT_FALSE(this->finish(j, this->sid("b")));
  page = this->unfinished(j, "", 10);
  EXPECT_EQ(page.ids, (std::vector<std::string>{this->sid("a"), this->sid("c"),
                                                this->sid("d")}));
  EXPECT_TRUE(page.next.empty());
}

TYPED_TEST(journal_conformance, a_page_starts_after_any_cursor) {
  auto j = this->journal_for(this->node("a"), 1);
  ASSERT_TRUE(this->open_all(j, {"a", "b", "c"}));
  auto page = this->unfinished(j, this->sid("c"), 3);
  EXPECT_TRUE(page.ids.empty());
  EXPECT_TRUE(page.next.empty());
  // `after` need not be a listed id.
  page = this->unfinished(j, this->sid("aa"), 3);
  EXPECT_EQ(page.ids,
            (std::vector<std::string>{this->sid("b"), this->sid("c")}));
  EXPECT_TRUE(page.next.empty());
}

// -- owners and fencing -------------------------------------------------------

TYPED_TEST(journal_conformance,
           the_first_append_records_the_owner_and_lists_it_in_its_nodes_index) {
  auto a = this->journal_for(this->node("a"), 5);
  ASSERT_TRUE(this->append(a, this->sid("s"), opening()));
  EXPECT_EQ(this->owner_of(this->sid("s")), token(this->node("a"), 5));
  EXPECT_EQ(this->index_of(this->node("a")),
            (std::vector<std::string>{this->sid("s")}));
  EXPECT_TRUE(this->index_of(this->node("b")).empty());
  EXPECT_TRUE(this->index_of(this->node("default")).empty());
  EXPECT_EQ(this->owner_of(this->sid("never-written")), "(nil)");
}

TYPED_TEST(journal_conformance, appends_by_another_node_or_epoch_are_fenced) {
  auto a = this->journal_for(this->node("a"), 5);
  auto b = this->journal_for(this->node("b"), 5);
  auto a_newer = this->journal_for(this->node("a"), 6);
  auto a_older = this->journal_for(this->node("a"), 4);
  auto s = this->sid("s");
  ASSERT_TRUE(this->append(a, s, opening()));
  for (auto* j : {&b, &a_newer, &a_older}) {
    auto r = this->append(*j, s, next_batch());
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), errc::fenced)) << describe(r.error());
  }
  EXPECT_EQ(this->read(b, s)->size(), 2u); // anyone may read
  EXPECT_EQ(this->unfinished(a).ids, (std::vector<std::string>{s}));
  EXPECT_TRUE(this->unfinished(b).ids.empty());
  EXPECT_EQ(this->unfinished(a_newer).ids, (std::vector<std::string>{s}))
    << "a's index is shared by its incarnations";
  // Even a retry of the batch that did land is refused to another owner.
  // (The Redis journal lists a first batch before its append script runs,
  // so a refused one may leave an entry in the refused node's index until
  // that node's next walk: redis_journal_test.cpp,
  // a_refused_first_batch_leaves_no_entry_past_the_next_walk.)
  for (auto* j : {&b, &a_newer, &a_older}) {
    auto r = this->append(*j, s, opening());
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), errc::fenced)) << describe(r.error());
  }
  EXPECT_EQ(this->read(b, s)->size(), 2u);
  EXPECT_EQ(this->owner_of(s), token(this->node("a"), 5));
  EXPECT_EQ(this->index_of(this->node("a")), (std::vector<std::string>{s}));
  auto ok = this->append(a, s, next_batch());
  ASSERT_TRUE(ok) << describe(ok.error());
  EXPECT_EQ(*ok, 4u);
}

TYPED_TEST(journal_conformance, a_fenced_terminal_append_changes_nothing) {
  auto a = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  auto s = this->sid("s");
  ASSERT_TRUE(this->append(a, s, opening()));
  auto r = this->append(b, s, {make(3, event_type::saga_completed, -1, 0)});
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::fenced)) << describe(r.error());
  // A read through the fenced writer comes after anything it queued.
  EXPECT_EQ(seqs_of(*this->read(b, s)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(this->index_of(this->node("a")), (std::vector<std::string>{s}));
  EXPECT_TRUE(this->index_of(this->node("b")).empty());
  EXPECT_EQ(this->owner_of(s), token(this->node("a"), 1));
}

TYPED_TEST(journal_conformance, fencing_wins_over_a_seq_conflict) {
  // Even a batch that would also conflict is refused as fenced: a stale
  // owner learns that the saga is not its own any more.
  auto a = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  auto s = this->sid("s");
  ASSERT_TRUE(this->append(a, s, opening()));
  ASSERT_TRUE(this->append(a, s, next_batch()));
  auto res = this->append(b, s, {make(3, event_type::step_failed)});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::fenced)) << describe(res.error());
}

// -- adoption -----------------------------------------------------------------

TYPED_TEST(journal_conformance,
           adopt_takes_epochs_below_the_bound_and_skips_live_ones) {
  std::vector<journal_actor> a;
  for (uint64_t epoch = 1; epoch <= 4; ++epoch)
    a.push_back(this->journal_for(this->node("a"), epoch));
  auto b = this->journal_for(this->node("b"), 7);
  for (size_t i = 0; i < a.size(); ++i) // s3 and s4 are live
    ASSERT_TRUE(
      this->append(a[i], this->sid("s" + std::to_string(i + 1)), opening()));
  auto page = this->adopt(b, this->node("a"), 3, "", 100);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_EQ(page->ids,
            (std::vector<std::string>{this->sid("s1"), this->sid("s2")}));
  EXPECT_TRUE(page->next.empty());
  for (auto id : {"s1", "s2"})
    EXPECT_EQ(this->owner_of(this->sid(id)), token(this->node("b"), 7)) << id;
  EXPECT_EQ(this->owner_of(this->sid("s3")), token(this->node("a"), 3));
  EXPECT_EQ(this->owner_of(this->sid("s4")), token(this->node("a"), 4));
  // The index moved: adopted sagas are the adopter's, live ones stay.
  EXPECT_EQ(this->index_of(this->node("b")),
            (std::vector<std::string>{this->sid("s1"), this->sid("s2")}));
  EXPECT_EQ(this->index_of(this->node("a")),
            (std::vector<std::string>{this->sid("s3"), this->sid("s4")}));
  // A second walk finds nothing more to take.
  page = this->adopt(b, this->node("a"), 3, "", 100);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_TRUE(page->ids.empty());
  EXPECT_EQ(this->index_of(this->node("a")),
            (std::vector<std::string>{this->sid("s3"), this->sid("s4")}));
  // The histories did not change.
  EXPECT_EQ(this->read(b, this->sid("s1"))->size(), 2u);
}

TYPED_TEST(journal_conformance, adopt_moves_sagas_between_node_indexes) {
  auto a = this->journal_for(this->node("a"), 3);
  auto a_live = this->journal_for(this->node("a"), 4);
  auto b = this->journal_for(this->node("b"), 1);
  ASSERT_TRUE(this->open_all(a, {"s1", "s2", "s3"}));
  ASSERT_TRUE(this->append(a_live, this->sid("s4"), opening()));
  // A bound at a's epoch: everything is live, nothing moves.
  auto page = this->adopt(b, this->node("a"), 3, "", 100);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_TRUE(page->ids.empty());
  EXPECT_EQ(this->index_of(this->node("a")).size(), 4u);
  EXPECT_EQ(this->unfinished(a).ids.size(), 4u);
  EXPECT_TRUE(this->index_of(this->node("b")).empty());
  page = this->adopt(b, this->node("a"), 4, "", 100);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_EQ(page->ids,
            (std::vector<std::string>{this->sid("s1"), this->sid("s2"),
                                      this->sid("s3")}));
  EXPECT_TRUE(page->next.empty());
  EXPECT_EQ(this->index_of(this->node("a")),
            (std::vector<std::string>{this->sid("s4")}));
  EXPECT_EQ(this->index_of(this->node("b")),
            (std::vector<std::string>{this->sid("s1"), this->sid("s2"),
                                      this->sid("s3")}));
  EXPECT_EQ(this->unfinished(b).ids, this->index_of(this->node("b")));
  EXPECT_EQ(this->unfinished(a).ids,
            (std::vector<std::string>{this->sid("s4")}));
  for (auto s : {"s1", "s2", "s3"})
    EXPECT_EQ(this->owner_of(this->sid(s)), token(this->node("b"), 1)) << s;
  EXPECT_EQ(this->owner_of(this->sid("s4")), token(this->node("a"), 4));
  // The histories did not change.
  EXPECT_EQ(this->read(b, this->sid("s1"))->size(), 2u);
  // The old owner is fenced; the adopter and a's newer epoch write.
  auto old = this->append(a, this->sid("s1"), next_batch());
  ASSERT_FALSE(old);
  EXPECT_TRUE(is(old.error(), errc::fenced)) << describe(old.error());
  EXPECT_TRUE(this->append(b, this->sid("s1"), next_batch()));
  EXPECT_TRUE(this->append(a_live, this->sid("s4"), next_batch()));
}

TYPED_TEST(journal_conformance,
           after_adopt_the_old_owner_is_fenced_and_the_new_one_writes) {
  auto a = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  auto s = this->sid("s");
  ASSERT_TRUE(this->append(a, s, opening()));
  auto page = this->adopt(b, this->node("a"), 2, "", 10);
  ASSERT_TRUE(page) << describe(page.error());
  ASSERT_EQ(page->ids, (std::vector<std::string>{s}));
  auto old = this->append(a, s, next_batch());
  ASSERT_FALSE(old);
  EXPECT_TRUE(is(old.error(), errc::fenced)) << describe(old.error());
  old = this->append(a, s, {make(3, event_type::saga_failed, -1, 0)});
  ASSERT_FALSE(old);
  EXPECT_TRUE(is(old.error(), errc::fenced)) << describe(old.error());
  EXPECT_EQ(this->read(a, s)->size(), 2u);
  EXPECT_EQ(this->index_of(this->node("b")), (std::vector<std::string>{s}));
  // The adopter continues the same history.
  auto r = this->append(b, s, next_batch());
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, 4u);
  // The old owner's terminal append is refused and writes nothing.
  old = this->append(a, s, {make(5, event_type::saga_failed, -1, 0)});
  ASSERT_FALSE(old);
  EXPECT_TRUE(is(old.error(), errc::fenced)) << describe(old.error());
  EXPECT_EQ(this->read(a, s)->size(), 4u);
  EXPECT_EQ(this->index_of(this->node("b")), (std::vector<std::string>{s}));
  // The adopter ends the saga: it leaves the adopter's index.
  r = this->append(b, s, {make(5, event_type::saga_completed, -1, 0)});
  ASSERT_TRUE(r) << describe(r.error());
  auto back = this->read(b, s); // after the unlisting (same writer)
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->size(), 5u);
  EXPECT_EQ(back->back().type, event_type::saga_completed);
  EXPECT_TRUE(this->index_of(this->node("b")).empty());
  EXPECT_TRUE(this->index_of(this->node("a")).empty());
}

TYPED_TEST(journal_conformance, adopting_the_own_node_takes_only_older_epochs) {
  auto a1 = this->journal_for(this->node("a"), 1);
  auto a2 = this->journal_for(this->node("a"), 2);
  auto a3 = this->journal_for(this->node("a"), 3);
  ASSERT_TRUE(this->append(a1, this->sid("s1"), opening()));
  ASSERT_TRUE(this->append(a2, this->sid("s2"), opening()));
  ASSERT_TRUE(this->append(a3, this->sid("s3"), opening()));
  // `below` does not apply to the own node (empty or named): the journal's
  // own epoch is the bound, so a2 never takes the newer incarnation's saga.
  for (const std::string& n : {std::string{}, this->node("a")}) {
    SCOPED_TRACE("node '" + n + "'");
    auto page = this->adopt(a2, n, 1000, "", 10);
    ASSERT_TRUE(page) << describe(page.error());
    EXPECT_EQ(page->ids,
              (std::vector<std::string>{this->sid("s1"), this->sid("s2")}));
  }
  EXPECT_EQ(this->owner_of(this->sid("s1")), token(this->node("a"), 2));
  EXPECT_EQ(this->owner_of(this->sid("s3")), token(this->node("a"), 3));
  std::vector<std::string> all{this->sid("s1"), this->sid("s2"),
                               this->sid("s3")};
  EXPECT_EQ(this->index_of(this->node("a")), all);
  EXPECT_EQ(this->unfinished(a2).ids, all);
  auto stale = this->append(a1, this->sid("s1"), next_batch());
  ASSERT_FALSE(stale);
  EXPECT_TRUE(is(stale.error(), errc::fenced)) << describe(stale.error());
  EXPECT_TRUE(this->append(a2, this->sid("s1"), next_batch()));
}

TYPED_TEST(journal_conformance,
           a_stale_incarnations_fenced_terminal_append_keeps_the_index) {
  // Incarnation 1 of node a is paused; incarnation 2 adopts its saga (same
  // index). When 1 wakes up and tries to end the saga, the append is
  // fenced: the saga must stay listed for incarnation 2, which owns it.
  auto a1 = this->journal_for(this->node("a"), 1);
  auto a2 = this->journal_for(this->node("a"), 2);
  auto s = this->sid("s");
  ASSERT_TRUE(this->append(a1, s, opening()));
  auto page = this->adopt(a2, "", 0, "", 10);
  ASSERT_TRUE(page) << describe(page.error());
  ASSERT_EQ(page->ids, (std::vector<std::string>{s}));
  for (auto terminal :
       {event_type::saga_compensated, event_type::saga_completed}) {
    SCOPED_TRACE(to_string(terminal));
    auto stale = this->append(a1, s, {make(3, terminal, -1, 0)});
    ASSERT_FALSE(stale);
    EXPECT_TRUE(is(stale.error(), errc::fenced)) << describe(stale.error());
    // A read through the stale writer comes after anything it queued.
    EXPECT_EQ(this->read(a1, s)->size(), 2u);
    EXPECT_EQ(this->index_of(this->node("a")), (std::vector<std::string>{s}))
      << "the unfinished saga of incarnation 2 was unlisted by a fenced "
         "append";
    EXPECT_EQ(this->unfinished(a2).ids, (std::vector<std::string>{s}));
  }
  EXPECT_TRUE(this->append(a2, s, next_batch()));
}

TYPED_TEST(journal_conformance, racing_adopters_get_every_saga_exactly_once) {
  auto a = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  auto c = this->journal_for(this->node("c"), 1);
  std::set<std::string> all;
  for (int i = 0; i < 25; ++i) {
    auto id = this->sid((i < 10 ? "0" : "") + std::to_string(i));
    ASSERT_TRUE(this->append(a, id, opening()));
    all.insert(id);
  }
  std::vector<std::string> got_b;
  std::vector<std::string> got_c;
  std::string after_b;
  std::string after_c;
  bool done_b = false;
  bool done_c = false;
  // The two walks interleave page by page, each with its own cursor.
  for (int round = 0; round < 100 && !(done_b && done_c); ++round) {
    if (!done_b) {
      auto page = this->adopt(b, this->node("a"), 2, after_b, 3);
      ASSERT_TRUE(page) << describe(page.error());
      got_b.insert(got_b.end(), page->ids.begin(), page->ids.end());
      done_b = page->next.empty();
      after_b = page->next;
    }
    if (!done_c) {
      auto page = this->adopt(c, this->node("a"), 2, after_c, 4);
      ASSERT_TRUE(page) << describe(page.error());
      got_c.insert(got_c.end(), page->ids.begin(), page->ids.end());
      done_c = page->next.empty();
      after_c = page->next;
    }
  }
  ASSERT_TRUE(done_b && done_c);
  EXPECT_FALSE(got_b.empty());
  EXPECT_FALSE(got_c.empty());
  std::set<std::string> set_b(got_b.begin(), got_b.end());
  std::set<std::string> set_c(got_c.begin(), got_c.end());
  EXPECT_EQ(set_b.size(), got_b.size()) << "b got a saga twice";
  EXPECT_EQ(set_c.size(), got_c.size()) << "c got a saga twice";
  for (const auto& id : set_b)
    EXPECT_EQ(set_c.count(id), 0u) << id << " went to both adopters";
  std::set<std::string> both = set_b;
  both.insert(set_c.begin(), set_c.end());
  EXPECT_EQ(both, all);
  // What each was told it got is what it owns and lists.
  for (const auto& id : set_b)
    EXPECT_EQ(this->owner_of(id), token(this->node("b"), 1)) << id;
  for (const auto& id : set_c)
    EXPECT_EQ(this->owner_of(id), token(this->node("c"), 1)) << id;
  EXPECT_EQ(this->index_of(this->node("b")), got_b);
  EXPECT_EQ(this->index_of(this->node("c")), got_c);
  EXPECT_TRUE(this->index_of(this->node("a")).empty());
  // A late walk of either adopter over a's index finds nothing.
  EXPECT_TRUE(this->adopt_all(b, this->node("a"), 2, 5).empty());
}

TYPED_TEST(journal_conformance, racing_adopter_threads_never_share_a_saga) {
  auto a = this->journal_for(this->node("a"), 1);
  constexpr int n = 400;
  for (int i = 0; i < n; ++i) {
    auto r = this->append(a, this->sid(std::to_string(1000 + i)), opening());
    ASSERT_TRUE(r) << "saga " << i << ": " << describe(r.error());
  }
  constexpr int k = 4;
  std::vector<journal_actor> adopters;
  adopters.reserve(k);
  for (int t = 0; t < k; ++t)
    adopters.push_back(
      this->journal_for(this->node("n" + std::to_string(t)), 1));
  std::vector<std::string> got[k];
  std::vector<std::thread> threads;
  threads.reserve(k);
  for (int t = 0; t < k; ++t)
    threads.emplace_back(
      [&, t] { got[t] = this->adopt_all(adopters[t], this->node("a"), 2, 5); });
  for (auto& th : threads)
    th.join();
  std::set<std::string> seen;
  for (int t = 0; t < k; ++t)
    for (const auto& id : got[t]) {
      EXPECT_TRUE(seen.insert(id).second) << id << " adopted twice";
      EXPECT_EQ(this->owner_of(id),
                token(this->node("n" + std::to_string(t)), 1))
        << id;
    }
  EXPECT_EQ(seen.size(), static_cast<size_t>(n));
  EXPECT_TRUE(this->index_of(this->node("a")).empty());
  size_t listed = 0;
  for (int t = 0; t < k; ++t)
    listed += this->index_of(this->node("n" + std::to_string(t))).size();
  EXPECT_EQ(listed, static_cast<size_t>(n))
    << "every saga is listed once, by its owner";
}

TYPED_TEST(journal_conformance, adopt_pages_with_a_small_max_cover_every_id) {
  auto old_a = this->journal_for(this->node("a"), 4);
  auto live_a = this->journal_for(this->node("a"), 5);
  auto b = this->journal_for(this->node("b"), 1);
  auto x = this->journal_for(this->node("x"), 1);
  std::vector<std::string> old_ones;
  std::vector<std::string> live_ones;
  // Interleaved: every third saga belongs to a live incarnation.
  for (int i = 0; i < 20; ++i) {
    auto id = this->sid((i < 10 ? "0" : "") + std::to_string(i));
    bool live = i % 3 == 2;
    ASSERT_TRUE(this->append(live ? live_a : old_a, id, opening()));
    (live ? live_ones : old_ones).push_back(id);
  }
  for (uint32_t max : {1u, 2u, 3u}) {
    SCOPED_TRACE("max " + std::to_string(max));
    // A bound that takes nothing: every page is visited, nothing moves.
    size_t pages = 0;
    EXPECT_TRUE(this->adopt_all(x, this->node("a"), 4, max, &pages).empty());
    EXPECT_GE(pages, (20 + max - 1) / max);
    EXPECT_EQ(this->index_of(this->node("a")).size(), 20u);
    EXPECT_TRUE(this->index_of(this->node("x")).empty());
  }
  size_t pages = 0;
  auto got = this->adopt_all(b, this->node("a"), 5, 2, &pages);
  EXPECT_EQ(got, old_ones);
  EXPECT_GE(pages, 10u);
  EXPECT_EQ(this->index_of(this->node("a")), live_ones);
  EXPECT_EQ(this->index_of(this->node("b")), old_ones);
}

TYPED_TEST(journal_conformance,
           an_adopt_page_of_only_live_sagas_still_advances) {
  auto live = this->journal_for(this->node("a"), 9);
  auto old = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  ASSERT_TRUE(this->open_all(live, {"a1", "a2", "a3"}));
  ASSERT_TRUE(this->append(old, this->sid("a4"), opening()));
  auto page = this->adopt(b, this->node("a"), 5, "", 2);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_TRUE(page->ids.empty());
  EXPECT_EQ(page->next, this->sid("a2"));
  page = this->adopt(b, this->node("a"), 5, page->next, 2);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_EQ(page->ids, (std::vector<std::string>{this->sid("a4")}));
  // A full page may be followed by an empty last one (see journal.hpp).
  if (!page->next.empty()) {
    page = this->adopt(b, this->node("a"), 5, page->next, 2);
    ASSERT_TRUE(page) << describe(page.error());
    EXPECT_TRUE(page->ids.empty());
    EXPECT_TRUE(page->next.empty());
  }
}

TYPED_TEST(journal_conformance, finished_sagas_are_not_adopted) {
  auto a = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  ASSERT_TRUE(this->append(a, this->sid("done"), opening()));
  ASSERT_TRUE(this->append(a, this->sid("done"),
                           {make(3, event_type::saga_compensated, -1, 0)}));
  ASSERT_TRUE(this->append(a, this->sid("whole"), whole()));
  ASSERT_TRUE(this->append(a, this->sid("finished"), opening()));
  EXPECT_TRUE(this->finish(a, this->sid("finished")));
  ASSERT_TRUE(this->append(a, this->sid("open"), opening()));
  // Reads after the unlisting of the ended ones (Redis: same writer).
  for (auto id : {"done", "whole"})
    ASSERT_TRUE(this->read(a, this->sid(id))) << id;
  auto got = this->adopt_all(b, this->node("a"), 2, 1);
  EXPECT_EQ(got, (std::vector<std::string>{this->sid("open")}));
  for (auto id : {"done", "whole", "finished"})
    EXPECT_EQ(this->owner_of(this->sid(id)), token(this->node("a"), 1)) << id;
  EXPECT_EQ(this->index_of(this->node("b")),
            (std::vector<std::string>{this->sid("open")}));
  EXPECT_TRUE(this->index_of(this->node("a")).empty());
}

TYPED_TEST(journal_conformance,
           adopting_an_unknown_node_is_an_empty_last_page) {
  auto a = this->journal_for(this->node("a"), 1);
  auto b = this->journal_for(this->node("b"), 1);
  ASSERT_TRUE(this->append(a, this->sid("s"), opening()));
  auto page = this->adopt(b, this->node("nobody"), 100, "", 10);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_TRUE(page->ids.empty());
  EXPECT_TRUE(page->next.empty());
  EXPECT_EQ(this->owner_of(this->sid("s")), token(this->node("a"), 1));
}

} // namespace
} // namespace saga::test
