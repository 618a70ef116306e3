// The Redis journal against a real redis-server, in what only it does: the
// layout in docs/redis-layout.md, expiry, start-up errors, node records and
// leases, corrupt streams. The journal protocol both journals keep is
// tests/journal_conformance_test.cpp.

#include <cerrno>
#include <cstring>
#include <future>
#include <set>
#include <string_view>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/await_saga.hpp"
#include "tests/journal_fixture.hpp"
#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

/// One journal of the test's own node (an allocated epoch) on this
/// program's redis-server, and a connection for looking at its keys.
class redis_journal : public journal_fixture<redis_kind> {
protected:
  using journal_fixture<redis_kind>::append;
  using journal_fixture<redis_kind>::read;

  caf::expected<uint64_t> append(const saga_id& id, std::vector<event> evs) {
    return append(journal_, id, std::move(evs));
  }

  caf::expected<std::vector<event>> read(const saga_id& id) {
    return read(journal_, id);
  }

  std::string self_node_ = node("self");
  journal_actor journal_ = journal_for(self_node_, 0);
  redis_connection& conn_ = kind_.conn();
};

TEST_F(redis_journal, the_stream_lives_under_a_hash_tag_with_seq_ids) {
  ASSERT_TRUE(append(sid("layout"), {started()}));
  auto r = conn_.command(
    {"XRANGE", "saga:{" + sid("layout") + "}:events", "-", "+"});
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)->elements, 1u);
  EXPECT_EQ(std::string((*r)->element[0]->element[0]->str), "0-1");
  auto type = conn_.command({"TYPE", "saga:{" + sid("layout") + "}:events"});
  EXPECT_EQ(std::string((*type)->str), "stream");
}

TEST_F(redis_journal, barrier_records_expire_with_the_history_not_before) {
  // A claim made with the saga's append creates the barrier hash without a
  // TTL: a saga that runs longer than the retention keeps its records. The
  // terminal append, though it carries no claim or record, gives the hash
  // the history's TTL.
  auto id = sid("b");
  auto key = "saga:{" + id + "}:barrier";
  auto r = append(journal_, id, opening(),
                  {barrier_preclaim{"s1", barrier_op::execute, "1:t-1"}});
  ASSERT_TRUE(r) << describe(r.error());
  auto claimed = conn_.command({"HGET", key, "s1/x"});
  ASSERT_TRUE(claimed);
  ASSERT_EQ((*claimed)->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string((*claimed)->str), "R:1:t-1");
  auto running = conn_.command({"TTL", key});
  EXPECT_EQ((*running)->integer, -1) << "the records of a running saga expire";
  auto last = append(id, {make(3, event_type::saga_completed, -1, 0)});
  ASSERT_TRUE(last) << describe(last.error());
  EXPECT_EQ(*last, 3u);
  auto ended = conn_.command({"TTL", key});
  EXPECT_GT((*ended)->integer, 3000);
  EXPECT_LE((*ended)->integer, 3600);
}

TEST_F(redis_journal, an_ended_history_gets_the_retention_as_ttl) {
  for (auto id : {"u-3", "u-4"})
    ASSERT_TRUE(append(sid(id), {started()}));
  ASSERT_TRUE(append(sid("u-3"), {make(2, event_type::saga_completed, -1, 0)}));
  ASSERT_TRUE(read(sid("u-3"))); // after the unlisting (same writer)
  auto ttl = conn_.command({"TTL", redis_events_key(sid("u-3"))});
  ASSERT_TRUE(ttl);
  EXPECT_GT((*ttl)->integer, 3000);
  EXPECT_LE((*ttl)->integer, 3600);
  auto open_ttl = conn_.command({"TTL", redis_events_key(sid("u-4"))});
  EXPECT_EQ((*open_ttl)->integer, -1) << "unfinished sagas never expire";
}

TEST_F(redis_journal, the_index_is_per_node) {
  ASSERT_TRUE(append(sid("n-1"), {started()}));
  auto key = redis_unfinished_key(self_node_);
  auto r = conn_.command({"ZSCORE", key, sid("n-1")});
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
  for (const char* url :
       {"redis://", "redis://h:99999", "redis:/h:1", "unix://relative"}) {
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

TEST(redis_journal_start, replicas_the_server_does_not_have_are_a_clear_error) {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  journal_options opts;
  opts.replicas = 1; // the shared server has none
  opts.io_timeout = std::chrono::milliseconds{400};
  auto j = make_journal(sys, shared_server().url(), opts);
  ASSERT_FALSE(j) << "a journal that could never acknowledge started";
  EXPECT_TRUE(is(j.error(), errc::journal_failure));
  EXPECT_NE(describe(j.error()).find(": journal.replicas is 1 but the master "
                                     "has 0 connected replicas"),
            std::string::npos)
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
  // Said once: the code and the server lead, then the step, then Redis.
  EXPECT_EQ(describe(wrong.error())
              .rfind("saga::journal_failure: redis 127.0.0.1:" + port
                       + "/0: AUTH failed: WRONGPASS ",
                     0),
            0u)
    << describe(wrong.error());
  EXPECT_EQ(describe(wrong.error()).find("journal_failure", 10),
            std::string::npos)
    << describe(wrong.error());
  auto none = make_journal(sys, "redis://127.0.0.1:" + port);
  ASSERT_FALSE(none);
  EXPECT_NE(describe(none.error()).find("NOAUTH"), std::string::npos)
    << describe(none.error());
  auto right = make_journal(sys, "redis://:s3cret@127.0.0.1:" + port);
  ASSERT_TRUE(right) << describe(right.error());
  caf::anon_send_exit(*right, caf::exit_reason::user_shutdown);
}

TEST(redis_journal_retention, ended_indexes_are_trimmed_while_no_saga_writes) {
  // Sagas that ended two minutes ago, more than one trim call removes (a
  // backlog), and one that just ended; the retention is a minute. No saga
  // writes anything: only the journal's own timer can trim (issue 17: the
  // trim rode on writes, so an idle node never trimmed).
  redis_server server;
  ASSERT_TRUE(server.start());
  auto ep = parse_redis_url(server.url());
  ASSERT_TRUE(ep);
  auto conn = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(conn) << describe(conn.error());
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  auto old_score = std::to_string(now_ms - 120'000);
  auto completed = redis_ended_key("completed");
  auto failed = redis_ended_key("failed");
  constexpr int backlog = 2'500;
  std::vector<std::string> ids;
  ids.reserve(backlog);
  for (int i = 0; i < backlog; ++i)
    ids.push_back("old-" + std::to_string(i));
  for (const auto& id : ids)
    conn->append({"ZADD", completed, old_score, id});
  conn->append({"ZADD", failed, old_score, "old-failed"});
  conn->append({"ZADD", completed, std::to_string(now_ms), "fresh"});
  // The marker set of counted sagas: ended ones (their end time) go with
  // the retention, open ones (0) stay.
  auto seen = redis_seen_key();
  conn->append({"ZADD", seen, old_score, "old-ended", "0", "old-open",
                std::to_string(now_ms), "fresh"});
  // The id index: its members leave with their ended markers.
  auto ids_key = redis_ids_key();
  conn->append(
    {"ZADD", ids_key, "0", "old-ended", "0", "old-open", "0", "fresh"});
  for (int i = 0; i < backlog + 4; ++i)
    ASSERT_TRUE(conn->read());
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  journal_options opts;
  opts.node_id = "idle";
  opts.retention = std::chrono::seconds{60};
  auto j = make_journal(sys, server.url(), opts);
  ASSERT_TRUE(j) << describe(j.error());
  auto card = [&conn](const std::string& key) {
    auto r = conn->command({"ZCARD", key});
    return r ? (*r)->integer : -1;
  };
  auto in = [&conn](const std::string& key, const char* id) {
    auto r = conn->command({"ZSCORE", key, id});
    return r && (*r)->type == REDIS_REPLY_STRING;
  };
  auto marked = [&](const char* id) { return in(seen, id); };
  // Polling Redis (bounded): the trim happens in another process' view.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((card(completed) != 1 || card(failed) != 0 || marked("old-ended")
          || in(ids_key, "old-ended"))
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(card(completed), 1) << "the old entries outlived the retention";
  EXPECT_EQ(card(failed), 0);
  auto fresh = conn->command({"ZSCORE", completed, "fresh"});
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)->type, REDIS_REPLY_STRING) << "within the retention";
  EXPECT_FALSE(in(ids_key, "old-ended")) << "outlived the retention";
  EXPECT_TRUE(in(ids_key, "old-open"));
  EXPECT_TRUE(in(ids_key, "fresh"));
  EXPECT_FALSE(marked("old-ended")) << "outlived the retention";
  EXPECT_TRUE(marked("old-open")) << "an open saga's marker was trimmed";
  EXPECT_TRUE(marked("fresh"));
  caf::anon_send_exit(*j, caf::exit_reason::user_shutdown);
}

/// A TCP listener on 127.0.0.1 that never answers: the kernel completes
/// connections into its backlog, nothing ever reads or writes them. Stands
/// in for a hung server (a paused or wedged Redis).
class silent_listener {
public:
  silent_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0
        || ::listen(fd_, 16) != 0
        || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      ADD_FAILURE() << "cannot listen on 127.0.0.1: " << std::strerror(errno);
    port_ = ntohs(addr.sin_port);
  }

  ~silent_listener() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;

  int port() const noexcept {
    return port_;
  }

private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(redis_journal_start,
     a_server_that_never_answers_is_named_with_the_timeout) {
  silent_listener hung;
  auto where = "redis 127.0.0.1:" + std::to_string(hung.port()) + "/0";
  // The default I/O timeout (2 s), through the journal's start-up.
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto j = make_journal(sys,
                        "redis://127.0.0.1:" + std::to_string(hung.port()));
  ASSERT_FALSE(j);
  EXPECT_EQ(describe(j.error()), "saga::journal_failure: " + where
                                   + ": did not answer within 2000 ms");
  // A shorter one, while logging in: the step is named once, too.
  auto ep = parse_redis_url("redis://:pw@127.0.0.1:"
                            + std::to_string(hung.port()));
  ASSERT_TRUE(ep);
  auto c = redis_connection::connect(*ep, 300ms);
  ASSERT_FALSE(c);
  EXPECT_EQ(describe(c.error()), "saga::journal_failure: " + where
                                   + ": AUTH failed: did not answer within "
                                     "300 ms");
}

} // namespace
} // namespace saga::test

// -- ownership, fencing and adoption ------------------------------------------

namespace saga::test {
namespace {

/// Several journals on the shared server, each writing for its own owner
/// (journal_for). Node ids and saga ids carry the test's name and run.
class redis_ownership : public redis_journal {
protected:
  long long stream_length(const saga_id& id) {
    auto r = conn_.command({"XLEN", redis_events_key(id)});
    EXPECT_TRUE(r);
    return r ? (*r)->integer : -1;
  }
};

TEST_F(redis_ownership,
       a_journal_made_with_epoch_0_writes_with_an_allocated_one) {
  ASSERT_TRUE(append(sid("f"), {started()}));
  auto t = owner_of(sid("f"));
  auto prefix = self_node_ + "/";
  ASSERT_EQ(t.rfind(prefix, 0), 0u) << t;
  EXPECT_GT(std::stoull(t.substr(prefix.size())), 0u) << t;
}

TEST_F(redis_ownership, a_fenced_terminal_append_sets_no_expiry) {
  auto a = journal_for(node("a"), 1);
  auto b = journal_for(node("b"), 1);
  ASSERT_TRUE(append(a, sid("s"), opening()));
  auto r = append(b, sid("s"), {make(3, event_type::saga_completed, -1, 0)});
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::fenced)) << describe(r.error());
  EXPECT_EQ(stream_length(sid("s")), 2);
  auto ttl = conn_.command({"TTL", redis_events_key(sid("s"))});
  EXPECT_EQ((*ttl)->integer, -1);
  auto owner_ttl = conn_.command({"TTL", redis_owner_key(sid("s"))});
  EXPECT_EQ((*owner_ttl)->integer, -1);
}

TEST_F(redis_ownership,
       a_refused_first_batch_leaves_no_entry_past_the_next_walk) {
  // A first batch is listed in the writer's node index before its append
  // script runs (list.lua), so a batch the script fences (here a retry, by
  // another node, of an opening that landed) may leave an entry there. The
  // node's next walk of its own index drops it: the saga is owned elsewhere.
  auto a = journal_for(node("a"), 5);
  auto b = journal_for(node("b"), 5);
  ASSERT_TRUE(append(a, sid("s"), opening()));
  auto r = append(b, sid("s"), opening());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::fenced)) << describe(r.error());
  auto page = adopt(b, "", 0, "", 10);
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_TRUE(page->ids.empty());
  EXPECT_TRUE(index_of(node("b")).empty());
  EXPECT_EQ(index_of(node("a")), (std::vector<std::string>{sid("s")}));
  EXPECT_EQ(owner_of(sid("s")), token(node("a"), 5));
  EXPECT_EQ(stream_length(sid("s")), 2);
}

TEST_F(redis_ownership, an_adopted_sagas_owner_key_expires_with_its_history) {
  auto a = journal_for(node("a"), 1);
  auto b = journal_for(node("b"), 1);
  ASSERT_TRUE(append(a, sid("s"), opening()));
  auto page = adopt(b, node("a"), 2, "", 10);
  ASSERT_TRUE(page) << describe(page.error());
  ASSERT_EQ(page->ids, (std::vector<std::string>{sid("s")}));
  ASSERT_TRUE(append(b, sid("s"), next_batch()));
  ASSERT_TRUE(
    append(b, sid("s"), {make(5, event_type::saga_completed, -1, 0)}));
  ASSERT_TRUE(read(b, sid("s"))); // after the unlisting (same writer)
  EXPECT_EQ(stream_length(sid("s")), 5);
  auto ttl = conn_.command({"TTL", redis_owner_key(sid("s"))});
  EXPECT_GT((*ttl)->integer, 0);
}

TEST_F(redis_ownership, every_entry_names_the_owner_that_wrote_it) {
  // Fencing audited from the data alone: the entries before the adoption
  // carry a's token, those after it b's.
  auto a = journal_for(node("a"), 3);
  auto b = journal_for(node("b"), 7);
  ASSERT_TRUE(append(a, sid("s"), opening()));
  auto page = adopt(b, node("a"), 4, "", 10);
  ASSERT_TRUE(page) << describe(page.error());
  ASSERT_TRUE(append(b, sid("s"), next_batch()));
  auto r = conn_.command({"XRANGE", redis_events_key(sid("s")), "-", "+"});
  ASSERT_TRUE(r);
  std::vector<std::string> owners;
  for (size_t i = 0; i < (*r)->elements; ++i) {
    const auto* fields = (*r)->element[i]->element[1];
    for (size_t k = 0; k + 1 < fields->elements; k += 2)
      if (std::string_view{fields->element[k]->str} == "owner")
        owners.emplace_back(fields->element[k + 1]->str);
  }
  EXPECT_EQ(owners,
            (std::vector<std::string>{token(node("a"), 3), token(node("a"), 3),
                                      token(node("b"), 7),
                                      token(node("b"), 7)}));
  // The decoder leaves the field to the store: the events read back whole.
  auto events = read(b, sid("s"));
  ASSERT_TRUE(events) << describe(events.error());
  EXPECT_EQ(events->size(), 4u);
}

TEST_F(redis_ownership,
       an_ownerless_index_entry_is_dropped_and_planted_with_the_adopter) {
  auto a = journal_for(node("a"), 1);
  auto b = journal_for(node("b"), 1);
  ASSERT_TRUE(append(a, sid("open"), opening()));
  // A stale index entry without an owner (its history expired).
  ASSERT_TRUE(conn_.command(
    {"ZADD", redis_unfinished_key(node("a")), "0", sid("ghost")}));
  auto got = adopt_all(b, node("a"), 2, 1);
  EXPECT_EQ(got, (std::vector<std::string>{sid("open")}));
  // The ownerless entry may be a saga whose first batch is still on its
  // way: the adopter is planted as its owner (expiring), so that batch is
  // fenced (see a_first_batch_behind_an_adopters_walk_is_fenced).
  EXPECT_EQ(owner_of(sid("ghost")), token(node("b"), 1));
  auto ttl = conn_.command({"TTL", redis_owner_key(sid("ghost"))});
  EXPECT_GT((*ttl)->integer, 0);
  EXPECT_TRUE(index_of(node("a")).empty());
  EXPECT_EQ(index_of(node("b")), (std::vector<std::string>{sid("open")}));
}

TEST_F(redis_ownership, a_first_batch_behind_an_adopters_walk_is_fenced) {
  // a listed "late" (listing comes first) but its first batch has not
  // landed when b walks a's index: that batch must not start a saga b has
  // walked past and nobody would ever drive.
  auto a = journal_for(node("a"), 1);
  auto b = journal_for(node("b"), 1);
  ASSERT_TRUE(
    conn_.command({"ZADD", redis_unfinished_key(node("a")), "0", sid("late")}));
  EXPECT_TRUE(adopt_all(b, node("a"), 2, 10).empty());
  auto r = append(a, sid("late"), opening());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::fenced)) << describe(r.error());
  EXPECT_EQ(stream_length(sid("late")), 0);
  EXPECT_EQ(owner_of(sid("late")), token(node("b"), 1));
}

TEST_F(redis_ownership,
       an_own_walk_that_planted_itself_lets_its_first_batch_in) {
  // A node's own recovery walk may meet its own saga between listing and
  // first batch: it plants its own token, which its batch then makes
  // permanent (a running saga's owner must not expire).
  auto a = journal_for(node("a"), 4);
  ASSERT_TRUE(
    conn_.command({"ZADD", redis_unfinished_key(node("a")), "0", sid("mine")}));
  adopt_all(a, node("a"), 0, 10);
  EXPECT_EQ(owner_of(sid("mine")), token(node("a"), 4));
  auto r = append(a, sid("mine"), opening());
  ASSERT_TRUE(r) << describe(r.error());
  auto ttl = conn_.command({"TTL", redis_owner_key(sid("mine"))});
  EXPECT_EQ((*ttl)->integer, -1);
}

TEST_F(redis_ownership, a_replaced_incarnation_cannot_start_a_saga) {
  // A newer incarnation of node a registered (its record names epoch 6)
  // and walked a's index: epoch 5 may not list, so writes nothing at all.
  auto a5 = journal_for(node("a"), 5);
  ASSERT_TRUE(
    conn_.command({"HSET", "saga:node:{" + node("a") + "}", "epoch", "6"}));
  ASSERT_TRUE(conn_.command({"SET", "saga:lease:{" + node("a") + "}", "6"}));
  auto r = append(a5, sid("s"), opening());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::fenced)) << describe(r.error());
  EXPECT_TRUE(index_of(node("a")).empty());
  EXPECT_EQ(stream_length(sid("s")), 0);
  EXPECT_EQ(owner_of(sid("s")), "(nil)");
  // The newer one starts sagas as usual.
  auto a6 = journal_for(node("a"), 6);
  ASSERT_TRUE(append(a6, sid("t"), opening()));
  EXPECT_EQ(index_of(node("a")), (std::vector<std::string>{sid("t")}));
}

TEST_F(redis_ownership, a_registered_node_starts_sagas_only_under_its_lease) {
  // Node a is registered (a record) but its lease ran out: a first batch
  // waits in the writer until the lease is a's again, then lands.
  auto a = journal_for(node("a"), 5);
  ASSERT_TRUE(
    conn_.command({"HSET", "saga:node:{" + node("a") + "}", "epoch", "5"}));
  auto pending = std::async(std::launch::async,
                            [&] { return append(a, sid("s"), opening()); });
  // Nothing may be written while a holds no lease (a negative: there is no
  // event to await, so give the writer a few of its 50 ms polls).
  EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);
  EXPECT_TRUE(index_of(node("a")).empty());
  EXPECT_EQ(stream_length(sid("s")), 0);
  ASSERT_TRUE(conn_.command(
    {"SET", "saga:lease:{" + node("a") + "}", "5", "PX", "60000"}));
  auto r = pending.get();
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, 2u);
  EXPECT_EQ(index_of(node("a")), (std::vector<std::string>{sid("s")}));
}

TEST_F(redis_ownership, an_error_reply_during_adopt_leaves_the_journal_usable) {
  // One writer: adopt and the later reads share its connection.
  auto a = journal_for(node("a"), 1);
  auto b = journal_for(node("b"), 1, 1);
  // "aa" sorts first; its owner key has the wrong type, so the adopt script
  // fails on it (WRONGTYPE). "zz" is a regular saga on the same page.
  ASSERT_TRUE(
    conn_.command({"ZADD", redis_unfinished_key(node("a")), "0", sid("aa")}));
  ASSERT_TRUE(conn_.command({"RPUSH", redis_owner_key(sid("aa")), "x"}));
  ASSERT_TRUE(append(a, sid("zz"), opening()));
  ASSERT_TRUE(append(b, sid("mine"), opening()));
  auto page = adopt(b, node("a"), 2, "", 10);
  // The unreadable saga stays listed for an operator; the rest is adopted.
  ASSERT_TRUE(page) << describe(page.error());
  EXPECT_EQ(page->ids, (std::vector<std::string>{sid("zz")}));
  EXPECT_EQ(index_of(node("a")), (std::vector<std::string>{sid("aa")}));
  // The journal's later replies must still match its requests.
  EXPECT_EQ(unfinished(b).ids, index_of(node("b")));
  auto r = append(b, sid("mine"), next_batch());
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, 4u);
  auto back = read(b, sid("mine"));
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->size(), 4u);
}

TEST(redis_epochs, allocate_epoch_returns_strictly_increasing_values) {
  auto url = shared_server().url();
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto e = allocate_epoch(url);
    ASSERT_TRUE(e) << describe(e.error());
    EXPECT_GT(*e, last);
    last = *e;
  }
  // make_journal with epoch 0 allocates one too: the next call is higher.
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  journal_options opts;
  opts.node_id = "epochs";
  auto j = make_journal(sys, url, opts);
  ASSERT_TRUE(j) << describe(j.error());
  caf::anon_send_exit(*j, caf::exit_reason::user_shutdown);
  auto after = allocate_epoch(url);
  ASSERT_TRUE(after);
  EXPECT_GT(*after, last + 1);
  // Concurrent callers never get the same epoch.
  std::vector<uint64_t> got[4];
  std::vector<std::thread> threads;
  for (auto& xs : got)
    threads.emplace_back([&xs, url] {
      for (int i = 0; i < 20; ++i)
        if (auto e = allocate_epoch(url))
          xs.push_back(*e);
    });
  for (auto& th : threads)
    th.join();
  std::set<uint64_t> all;
  for (auto& xs : got) {
    EXPECT_EQ(xs.size(), 20u);
    for (size_t i = 1; i < xs.size(); ++i)
      EXPECT_GT(xs[i], xs[i - 1]);
    all.insert(xs.begin(), xs.end());
  }
  EXPECT_EQ(all.size(), 80u);
  EXPECT_GT(*all.begin(), *after);
}

TEST(redis_epochs, allocate_epoch_reports_an_unreachable_server) {
  auto e = allocate_epoch("redis://127.0.0.1:" + std::to_string(free_port()));
  ASSERT_FALSE(e);
  EXPECT_TRUE(is(e.error(), errc::journal_failure)) << describe(e.error());
}

// -- bad input: corrupt stream entries (docs/bad-input.md) --------------------------
//
// A saga's stream is written only by the append and reopen scripts; entries
// written by anything else (a hand-made XADD, a damaged restore, another
// program on the same keys) are refused on the way back with
// errc::invalid_event naming the saga and the entry, and reading changes
// nothing.

/// Returns the raw XRANGE of stream `key` as text, to compare before/after.
std::string raw_stream(redis_connection& c, const std::string& key) {
  auto r = c.command({"XRANGE", key, "-", "+"});
  if (!r)
    return "error: " + describe(r.error());
  std::string out;
  for (size_t i = 0; i < (*r)->elements; ++i) {
    const auto* e = (*r)->element[i];
    out += std::string{e->element[0]->str, e->element[0]->len} + ":";
    for (size_t k = 0; k < e->element[1]->elements; ++k)
      out += std::string{e->element[1]->element[k]->str,
                         e->element[1]->element[k]->len}
             + ",";
    out += "\n";
  }
  return out;
}

/// The fields the append script writes for a step_started of step 0.
std::vector<std::string> good_fields() {
  return {"type", "step_started", "step", "0",    "attempt",      "1", "data",
          "",     "error",        "",     "time", "1700000000002"};
}

TEST_F(redis_journal,
       bad_input_corrupt_entries_are_invalid_events_naming_them) {
  auto with = [](const std::string& field, std::string value) {
    auto f = good_fields();
    for (size_t i = 0; i + 1 < f.size(); i += 2)
      if (f[i] == field) {
        f[i + 1] = std::move(value);
        break; // field names are unique
      }
    return f;
  };
  auto without = [](const std::string& field) {
    auto f = good_fields();
    for (size_t i = 0; i + 1 < f.size(); i += 2)
      if (f[i] == field) {
        f.erase(f.begin() + static_cast<ptrdiff_t>(i),
                f.begin() + static_cast<ptrdiff_t>(i) + 2);
        break;
      }
    return f;
  };
  struct bad_case {
    std::string entry_id;
    std::vector<std::string> fields;
    std::string needle;
  };
  const std::vector<bad_case> cases = {
    {"0-2", without("type"), "the field 'type' is missing"},
    {"0-2", without("step"), "the field 'step' is missing"},
    {"0-2", without("attempt"), "the field 'attempt' is missing"},
    {"0-2", without("data"), "the field 'data' is missing"},
    {"0-2", without("error"), "the field 'error' is missing"},
    {"0-2", without("time"), "the field 'time' is missing"},
    {"0-2", {"note", "hand-written"}, "the field 'type' is missing"},
    {"0-2", with("type", "from_the_future"),
     "unknown event type 'from_the_future'"},
    {"0-2", with("type", ""), "unknown event type ''"},
    {"0-2", with("step", "first"), "bad step 'first'"},
    {"0-2", with("step", "4294967296"), "bad step '4294967296'"},
    {"0-2", with("step", "1.5"), "bad step '1.5'"},
    {"0-2", with("attempt", "-1"), "bad attempt '-1'"},
    {"0-2", with("attempt", "4294967296"), "bad attempt '4294967296'"},
    {"0-2", with("attempt", " 1"), "bad attempt ' 1'"},
    {"0-2", with("time", "soon"), "bad time 'soon'"},
    {"0-2", with("time", ""), "bad time ''"},
    {"7-2", good_fields(), "entry ID '7-2' is not 0-<seq>"},
  };
  for (size_t n = 0; n < cases.size(); ++n) {
    const auto& c = cases[n];
    auto id = sid("corrupt-" + std::to_string(n));
    SCOPED_TRACE("saga " + id + ": " + c.needle);
    ASSERT_TRUE(append(id, {started()}));
    auto key = redis_events_key(id);
    std::vector<std::string> xadd{"XADD", key, c.entry_id};
    xadd.insert(xadd.end(), c.fields.begin(), c.fields.end());
    std::vector<std::string_view> argv(xadd.begin(), xadd.end());
    auto added = conn_.command(argv);
    ASSERT_TRUE(added) << describe(added.error());
    ASSERT_NE((*added)->type, REDIS_REPLY_ERROR)
      << std::string{(*added)->str, (*added)->len};
    auto before = raw_stream(conn_, key);
    auto r = read(id);
    ASSERT_FALSE(r) << "a corrupt history was read as " << r->size()
                    << " events";
    EXPECT_TRUE(is(r.error(), errc::invalid_event)) << describe(r.error());
    auto text = describe(r.error());
    EXPECT_NE(text.find("saga " + id + ", stream entry 1"), std::string::npos)
      << text;
    EXPECT_NE(text.find(c.needle), std::string::npos) << text;
    // Reading wrote nothing, and the journal still serves other sagas.
    EXPECT_EQ(raw_stream(conn_, key), before);
    auto ok = read(id + "-ok");
    EXPECT_TRUE(!ok && is(ok.error(), errc::unknown_saga));
  }
  // The well-formed entry the cases start from does decode.
  auto id = sid("corrupt-control");
  ASSERT_TRUE(append(id, {started()}));
  std::vector<std::string> xadd{"XADD", redis_events_key(id), "0-2"};
  auto f = good_fields();
  xadd.insert(xadd.end(), f.begin(), f.end());
  std::vector<std::string_view> argv(xadd.begin(), xadd.end());
  ASSERT_TRUE(conn_.command(argv));
  auto back = read(id);
  ASSERT_TRUE(back) << describe(back.error());
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].type, event_type::step_started);
  EXPECT_EQ((*back)[1].step, 0);
  EXPECT_EQ((*back)[1].attempt, 1u);
  EXPECT_EQ((*back)[1].time_ms, 1700000000002);
}

TEST(redis_journal_recovery, bad_input_a_corrupt_history_is_left_as_it_is) {
  // A node's index lists a saga whose stream holds an entry of an unknown
  // type: recovery reports it, resumes the others, and changes neither the
  // stream nor the index.
  auto ep = parse_redis_url(shared_server().url());
  auto c = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(c) << describe(c.error());
  const std::string node = "corrupt-recovery";
  definition d{"t"};
  d.step("a", "p");
  auto def = d.to_json().dump();
  for (std::string id : {"cr-bad", "cr-good"}) {
    auto key = redis_events_key(id);
    ASSERT_TRUE(c->command({"XADD", key, "0-1", "type", "saga_started", "step",
                            "-1", "attempt", "0", "data", def, "error", "",
                            "time", "1700000000001"}));
    ASSERT_TRUE(c->command({"XADD", key, "0-2", "type",
                            id == "cr-bad" ? "bogus" : "step_started", "step",
                            "0", "attempt", "1", "data", "", "error", "",
                            "time", "1700000000002"}));
    ASSERT_TRUE(c->command({"SET", redis_owner_key(id), node + "/1"}));
    ASSERT_TRUE(c->command({"ZADD", redis_unfinished_key(node), "0", id}));
  }
  auto before = raw_stream(*c, redis_events_key("cr-bad"));
  runtime_config cfg;
  cfg.journal_url = shared_server().url();
  cfg.journal.node_id = node;
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error()) << describe(rt.start_error());
  rt.participant("p").on(
    "a", [](const step_context&, const json&) { return step_outcome::ok(); },
    [](const step_context&, const json&) { return step_outcome::ok(); });
  EXPECT_EQ(rt.recover(), 1u) << "only the well-formed saga resumes";
  auto good = test::await_saga(rt, "cr-good");
  EXPECT_EQ(good.state, saga_status::completed) << describe(good.error);
  EXPECT_FALSE(rt.saga_log("cr-bad"));
  EXPECT_EQ(raw_stream(*c, redis_events_key("cr-bad")), before);
  auto listed = c->command({"ZSCORE", redis_unfinished_key(node), "cr-bad"});
  ASSERT_TRUE(listed);
  EXPECT_NE((*listed)->type, REDIS_REPLY_NIL)
    << "the corrupt saga left its node's index";
}

} // namespace
} // namespace saga::test
