// The Redis journal against a real redis-server: the journal contract, the
// layout in docs/redis-layout.md, and start-up errors.

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

/// One redis-server for the whole suite (started on first use).
class redis_journal : public ::testing::Test {
protected:
  redis_journal() {
    add_message_types(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    opts_.node_id = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    opts_.retention = std::chrono::seconds{3600};
    auto j = make_journal(*sys_, shared_server().url(), opts_);
    EXPECT_TRUE(j) << describe(j.error());
    if (j)
      journal_ = *j;
    auto ep = parse_redis_url(shared_server().url());
    conn_ = std::move(*redis_connection::connect(*ep, 2s));
  }

  ~redis_journal() override {
    caf::anon_send_exit(journal_, caf::exit_reason::user_shutdown);
  }

  caf::expected<uint64_t> append(const saga_id& id, std::vector<event> evs) {
    caf::expected<uint64_t> result{uint64_t{0}};
    caf::scoped_actor self{*sys_};
    self->request(journal_, 10s, append_atom::value, id, std::move(evs))
      .receive([&](uint64_t n) { result = n; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<std::vector<event>> read(const saga_id& id) {
    caf::expected<std::vector<event>> result{std::vector<event>{}};
    caf::scoped_actor self{*sys_};
    self->request(journal_, 10s, read_atom::value, id)
      .receive([&](std::vector<event>& xs) { result = std::move(xs); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  unfinished_page unfinished(const std::string& after, uint32_t max) {
    unfinished_page result;
    caf::scoped_actor self{*sys_};
    self->request(journal_, 10s, unfinished_atom::value, after, max)
      .receive([&](unfinished_page& p) { result = std::move(p); },
               [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  bool finish(const saga_id& id) {
    bool result = false;
    caf::scoped_actor self{*sys_};
    self->request(journal_, 10s, finish_atom::value, id)
      .receive([&](bool b) { result = b; },
               [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  /// Returns the saga_started event of a one-step saga.
  static event started(uint64_t seq = 1) {
    definition d{"t"};
    d.step("a", "p");
    event ev;
    ev.seq = seq;
    ev.type = event_type::saga_started;
    ev.data = d.to_json().dump();
    ev.time_ms = 1700000000000;
    return ev;
  }

  static event make(uint64_t seq, event_type type, int32_t step = 0,
                    uint32_t attempt = 1, std::string data = {},
                    std::string error = {}) {
    event ev;
    ev.seq = seq;
    ev.type = type;
    ev.step = step;
    ev.attempt = attempt;
    ev.data = std::move(data);
    ev.error = std::move(error);
    ev.time_ms = 1700000000000 + static_cast<int64_t>(seq);
    return ev;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  journal_options opts_;
  journal_actor journal_;
  redis_connection conn_;
};

TEST_F(redis_journal, append_then_read_preserves_every_field) {
  std::string tricky = R"({"q":"\"quotes\" \\ ünïcødé \n","nul":"a)";
  tricky += '\0';
  tricky += R"(b"})";
  std::vector<event> evs{started(),
                         make(2, event_type::step_started),
                         make(3, event_type::step_succeeded, 0, 1, tricky),
                         make(4, event_type::step_failed, 0, 2, {}, "boom: ß")};
  evs[3].step = 7;
  auto n = append("s-1", evs);
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(*n, 4u);
  auto back = read("s-1");
  ASSERT_TRUE(back) << describe(back.error());
  ASSERT_EQ(back->size(), evs.size());
  for (size_t i = 0; i < evs.size(); ++i) {
    EXPECT_EQ((*back)[i].seq, evs[i].seq);
    EXPECT_EQ((*back)[i].type, evs[i].type);
    EXPECT_EQ((*back)[i].step, evs[i].step);
    EXPECT_EQ((*back)[i].attempt, evs[i].attempt);
    EXPECT_EQ((*back)[i].data, evs[i].data);
    EXPECT_EQ((*back)[i].error, evs[i].error);
    EXPECT_EQ((*back)[i].time_ms, evs[i].time_ms);
  }
}

TEST_F(redis_journal, the_stream_lives_under_a_hash_tag_with_seq_ids) {
  ASSERT_TRUE(append("layout-1", {started()}));
  auto r = conn_.command({"XRANGE", "saga:{layout-1}:events", "-", "+"});
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)->elements, 1u);
  EXPECT_EQ(std::string((*r)->element[0]->element[0]->str), "0-1");
  auto type = conn_.command({"TYPE", "saga:{layout-1}:events"});
  EXPECT_EQ(std::string((*type)->str), "stream");
}

TEST_F(redis_journal, gaps_and_overlaps_are_conflicts_and_write_nothing) {
  ASSERT_TRUE(append("c-1", {started(), make(2, event_type::step_started)}));
  auto gap = append("c-1", {make(4, event_type::step_succeeded)});
  ASSERT_FALSE(gap);
  EXPECT_TRUE(is(gap.error(), errc::journal_conflict)) << describe(gap.error());
  auto overlap = append("c-1", {make(2, event_type::step_failed),
                                make(3, event_type::compensation_started)});
  ASSERT_FALSE(overlap);
  EXPECT_TRUE(is(overlap.error(), errc::journal_conflict));
  auto back = read("c-1");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), 2u);
  EXPECT_EQ(back->back().type, event_type::step_started);
}

TEST_F(redis_journal, a_retried_batch_that_landed_is_acknowledged_again) {
  std::vector<event> batch{started(), make(2, event_type::step_started)};
  ASSERT_TRUE(append("r-1", batch));
  auto again = append("r-1", batch);
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(*again, 2u);
  EXPECT_EQ(read("r-1")->size(), 2u);
}

TEST_F(redis_journal, unknown_saga) {
  auto r = read("never-was");
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::unknown_saga));
}

TEST_F(redis_journal, unfinished_index_pages_and_terminal_events_expire) {
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(append("u-" + std::to_string(i), {started()}));
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = unfinished(after, 3);
    seen.insert(seen.end(), page.ids.begin(), page.ids.end());
    if (page.next.empty())
      break;
    after = page.next;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"u-0", "u-1", "u-2", "u-3", "u-4",
                                            "u-5", "u-6"}));
  // A terminal batch leaves the index and gets the retention as TTL.
  ASSERT_TRUE(append("u-3", {make(2, event_type::saga_completed, -1, 0)}));
  auto page = unfinished("", 100);
  EXPECT_EQ(std::count(page.ids.begin(), page.ids.end(), "u-3"), 0);
  auto ttl = conn_.command({"TTL", "saga:{u-3}:events"});
  ASSERT_TRUE(ttl);
  EXPECT_GT((*ttl)->integer, 3000);
  EXPECT_LE((*ttl)->integer, 3600);
  auto open_ttl = conn_.command({"TTL", "saga:{u-4}:events"});
  EXPECT_EQ((*open_ttl)->integer, -1) << "unfinished sagas never expire";
  EXPECT_TRUE(finish("u-4"));
  EXPECT_FALSE(finish("u-4"));
}

TEST_F(redis_journal, the_index_is_per_node) {
  ASSERT_TRUE(append("n-1", {started()}));
  auto key = redis_unfinished_key(opts_.node_id);
  auto r = conn_.command({"ZSCORE", key, "n-1"});
  ASSERT_TRUE(r);
  EXPECT_NE((*r)->type, REDIS_REPLY_NIL);
  auto other = conn_.command({"ZCARD", redis_unfinished_key("other-node")});
  EXPECT_EQ((*other)->integer, 0);
}

TEST_F(redis_journal, redis_error_replies_fail_the_append_visibly) {
  // Make the stream key the wrong type: Redis answers WRONGTYPE.
  ASSERT_TRUE(conn_.command({"SET", "saga:{w-1}:events", "not a stream"}));
  auto r = append("w-1", {started()});
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::journal_failure));
  EXPECT_NE(describe(r.error()).find("WRONGTYPE"), std::string::npos)
    << describe(r.error());
}

TEST(redis_journal_start, bad_urls_are_rejected_naming_the_problem) {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  for (const char* url : {"redis://", "redis://h:99999", "redis:/h:1",
                          "unix://relative"}) {
    auto j = make_journal(sys, url);
    ASSERT_FALSE(j) << url;
    EXPECT_TRUE(is(j.error(), errc::invalid_url)) << url;
  }
}

TEST(redis_journal_start, redis_down_is_a_clear_error) {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto url = "redis://127.0.0.1:" + std::to_string(free_port());
  auto j = make_journal(sys, url);
  ASSERT_FALSE(j);
  EXPECT_TRUE(is(j.error(), errc::journal_failure));
  EXPECT_NE(describe(j.error()).find("cannot connect"), std::string::npos)
    << describe(j.error());
}

TEST(redis_journal_start, a_wrong_password_is_a_clear_error) {
  redis_server secured{{"--requirepass", "s3cret"}};
  ASSERT_TRUE(secured.start());
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto port = std::to_string(secured.port());
  auto wrong = make_journal(sys, "redis://:nope@127.0.0.1:" + port);
  ASSERT_FALSE(wrong);
  EXPECT_NE(describe(wrong.error()).find("AUTH failed"), std::string::npos)
    << describe(wrong.error());
  auto none = make_journal(sys, "redis://127.0.0.1:" + port);
  ASSERT_FALSE(none);
  EXPECT_NE(describe(none.error()).find("NOAUTH"), std::string::npos)
    << describe(none.error());
  auto right = make_journal(sys, "redis://:s3cret@127.0.0.1:" + port);
  ASSERT_TRUE(right) << describe(right.error());
  caf::anon_send_exit(*right, caf::exit_reason::user_shutdown);
}

} // namespace
} // namespace saga::test
