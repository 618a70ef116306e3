// The node directory (saga::redis_directory) against a real redis-server:
// leases taken, held, lost and replaced; the member list; forgetting dead
// nodes; releasing a lease on a clean stop.

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_directory.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/redis_url.hpp"
#include "saga/errc.hpp"
#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

const char* describe_status(lease_status s) {
  switch (s) {
    case lease_status::held: return "held";
    case lease_status::taken: return "taken";
    case lease_status::replaced: return "replaced";
  }
  return "?";
}

class directory : public ::testing::Test {
protected:
  directory() {
    auto ep = parse_redis_url(shared_server().url());
    EXPECT_TRUE(ep) << describe(ep.error());
    if (!ep)
      return;
    ep_ = *ep;
    dir_.emplace(ep_, 2s);
    auto c = redis_connection::connect(ep_, 2s);
    EXPECT_TRUE(c) << describe(c.error());
    if (c)
      conn_.emplace(std::move(*c));
    id_ = std::string{"dir-"}
          + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  node_record me(uint64_t epoch, uint16_t port = 4000) const {
    node_record r;
    r.id = id_;
    r.host = "127.0.0.1";
    r.port = port;
    r.epoch = epoch;
    r.coordinates = true;
    r.participants = {"account", "inventory"};
    return r;
  }

  /// Heartbeat that fails the test on an error; returns the status as text.
  std::string beat(const node_record& rec,
                   std::chrono::milliseconds lease = 10s) {
    auto s = dir_->heartbeat(rec, lease);
    EXPECT_TRUE(s) << describe(s.error());
    return s ? describe_status(*s) : "error";
  }

  /// Returns our node's entry of list(), if it is listed.
  std::optional<node_record> find(const std::string& id) {
    auto all = dir_->list();
    EXPECT_TRUE(all) << describe(all.error());
    if (!all)
      return std::nullopt;
    for (auto& rec : *all)
      if (rec.id == id)
        return rec;
    return std::nullopt;
  }

  std::optional<node_record> find() {
    return find(id_);
  }

  bool forget(uint64_t epoch) {
    auto r = dir_->forget(id_, epoch);
    EXPECT_TRUE(r) << describe(r.error());
    return r && *r;
  }

  bool release(uint64_t epoch) {
    auto r = dir_->release(id_, epoch);
    EXPECT_TRUE(r) << describe(r.error());
    return r && *r;
  }

  /// Runs `argv` on the test's own connection; returns the reply as text
  /// ("<nil>" for none), or its integer as text.
  std::string redis(const std::vector<std::string_view>& argv) {
    if (!conn_)
      return "<no connection>";
    auto r = conn_->command(argv);
    if (!r)
      return "<error: " + describe(r.error()) + ">";
    if ((*r)->type == REDIS_REPLY_INTEGER)
      return std::to_string((*r)->integer);
    if ((*r)->type == REDIS_REPLY_STRING || (*r)->type == REDIS_REPLY_STATUS)
      return std::string((*r)->str, (*r)->len);
    return "<nil>";
  }

  std::string lease_key() const {
    return redis_lease_key(id_);
  }

  redis_endpoint ep_;
  std::optional<redis_directory> dir_;
  std::optional<redis_connection> conn_;
  std::string id_;
};

TEST_F(directory, keys_carry_the_node_id_as_hash_tag) {
  EXPECT_EQ(redis_lease_key("n1"), "saga:lease:{n1}");
  EXPECT_EQ(redis_node_key("n1"), "saga:node:{n1}");
}

TEST_F(directory, first_heartbeat_takes_the_lease_and_the_next_holds_it) {
  ASSERT_TRUE(dir_);
  EXPECT_EQ(beat(me(7)), "taken");
  EXPECT_EQ(beat(me(7)), "held");
  EXPECT_EQ(beat(me(7)), "held");
  EXPECT_EQ(redis({"GET", lease_key()}), "7");
}

TEST_F(directory, the_lease_expires_one_lease_after_the_last_heartbeat) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(3), 5s), "taken");
  auto pttl = std::stoll(redis({"PTTL", lease_key()}));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 5000);
  // A renewal extends it to a full lease again.
  ASSERT_EQ(redis({"PEXPIRE", lease_key(), "1000"}), "1");
  ASSERT_EQ(beat(me(3), 5s), "held");
  EXPECT_GT(std::stoll(redis({"PTTL", lease_key()})), 1000);
}

TEST_F(directory, list_shows_the_node_alive_with_its_record) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(5, 4321)), "taken");
  auto rec = find();
  ASSERT_TRUE(rec) << "the node is not listed";
  EXPECT_TRUE(rec->alive);
  EXPECT_EQ(rec->host, "127.0.0.1");
  EXPECT_EQ(rec->port, 4321);
  EXPECT_EQ(rec->epoch, 5u);
  EXPECT_TRUE(rec->coordinates);
  EXPECT_EQ(rec->participants,
            (std::vector<std::string>{"account", "inventory"}));
  EXPECT_EQ(redis({"ZSCORE", "saga:nodes", id_}), "0");
}

TEST_F(directory, a_heartbeat_refreshes_the_record) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(5, 4321)), "taken");
  auto changed = me(5, 4322);
  changed.coordinates = false;
  changed.participants = {"purchase_log"};
  ASSERT_EQ(beat(changed), "held");
  auto rec = find();
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->port, 4322);
  EXPECT_FALSE(rec->coordinates);
  EXPECT_EQ(rec->participants, (std::vector<std::string>{"purchase_log"}));
}

TEST_F(directory, list_holds_every_registered_node) {
  ASSERT_TRUE(dir_);
  auto a = me(1, 5001);
  a.id = id_ + "-a";
  auto b = me(2, 5002);
  b.id = id_ + "-b";
  b.participants = {};
  ASSERT_EQ(beat(a), "taken");
  ASSERT_EQ(beat(b), "taken");
  auto ra = find(a.id);
  auto rb = find(b.id);
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->port, 5001);
  EXPECT_EQ(rb->port, 5002);
  EXPECT_EQ(rb->epoch, 2u);
  EXPECT_TRUE(rb->participants.empty());
  EXPECT_TRUE(ra->alive && rb->alive);
}

TEST_F(directory, a_lost_lease_shows_dead_and_is_taken_again) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(4)), "taken");
  ASSERT_EQ(beat(me(4)), "held");
  // The lease expires (deterministically: gone).
  ASSERT_EQ(redis({"DEL", lease_key()}), "1");
  auto rec = find();
  ASSERT_TRUE(rec) << "a dead node stays listed until it is forgotten";
  EXPECT_FALSE(rec->alive);
  EXPECT_EQ(rec->epoch, 4u);
  EXPECT_EQ(beat(me(4)), "taken") << "the node must learn it lost its lease";
  EXPECT_EQ(beat(me(4)), "held");
  rec = find();
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->alive);
}

TEST_F(directory, a_lease_expires_on_its_own) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(4), 200ms), "taken");
  // Let Redis expire it now rather than waiting out the lease.
  ASSERT_EQ(redis({"PEXPIRE", lease_key(), "1"}), "1");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::optional<node_record> rec;
  do {
    rec = find();
    ASSERT_TRUE(rec);
  } while (rec->alive && std::chrono::steady_clock::now() < deadline);
  EXPECT_FALSE(rec->alive) << "the lease never expired";
  EXPECT_EQ(beat(me(4), 200ms), "taken");
}

TEST_F(directory, a_higher_epoch_replaces_the_older_incarnation) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(10, 1111)), "taken");
  // A restart under the same id, while the old one still holds the lease.
  EXPECT_EQ(beat(me(11, 2222)), "taken");
  EXPECT_EQ(beat(me(10, 1111)), "replaced");
  EXPECT_EQ(beat(me(10, 1111)), "replaced");
  EXPECT_EQ(beat(me(11, 2222)), "held");
  auto rec = find();
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->alive);
  EXPECT_EQ(rec->epoch, 11u);
  EXPECT_EQ(rec->port, 2222) << "the replaced incarnation wrote the record";
  EXPECT_EQ(redis({"GET", lease_key()}), "11");
}

TEST_F(directory, an_older_epoch_whose_lease_expired_is_replaced_too) {
  // The old incarnation was paused; the new one registered and then died
  // (its lease expired). The old one wakes: it must still learn that it was
  // replaced, and the record must keep naming the newer epoch, whose sagas
  // survivors must adopt (below = record epoch + 1).
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(20, 1111)), "taken");
  ASSERT_EQ(beat(me(21, 2222)), "taken");
  ASSERT_EQ(redis({"DEL", lease_key()}), "1");
  EXPECT_EQ(beat(me(20, 1111)), "replaced");
  auto rec = find();
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->epoch, 21u);
  EXPECT_FALSE(rec->alive);
}

TEST_F(directory, a_lower_epoch_than_the_holder_never_takes_the_lease) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(31)), "taken");
  EXPECT_EQ(beat(me(30)), "replaced");
  EXPECT_EQ(redis({"GET", lease_key()}), "31");
}

TEST_F(directory, forget_refuses_while_the_lease_lives) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(6)), "taken");
  EXPECT_FALSE(forget(6));
  auto rec = find();
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->alive);
}

TEST_F(directory, forget_refuses_while_unfinished_sagas_are_listed) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(6)), "taken");
  auto index = redis_unfinished_key(id_);
  ASSERT_EQ(redis({"ZADD", index, "0", "saga-1"}), "1");
  ASSERT_EQ(redis({"DEL", lease_key()}), "1");
  EXPECT_FALSE(forget(6)) << "saga-1 still waits to be adopted";
  ASSERT_TRUE(find()) << "refused, yet the node is gone";
  ASSERT_EQ(redis({"ZREM", index, "saga-1"}), "1");
  EXPECT_TRUE(forget(6));
  EXPECT_FALSE(find()) << "forgotten, yet listed";
  EXPECT_EQ(redis({"EXISTS", redis_node_key(id_)}), "0");
  EXPECT_EQ(redis({"ZSCORE", "saga:nodes", id_}), "<nil>");
}

TEST_F(directory, forget_of_a_dead_node_with_nothing_left_removes_it) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(8)), "taken");
  ASSERT_EQ(redis({"DEL", lease_key()}), "1");
  EXPECT_TRUE(forget(8));
  EXPECT_FALSE(find());
  EXPECT_FALSE(forget(8)) << "nothing left to forget";
  // It registers again on its next heartbeat.
  EXPECT_EQ(beat(me(8)), "taken");
  auto rec = find();
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->alive);
}

TEST_F(directory, forget_refuses_when_a_newer_incarnation_registered) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(8)), "taken");
  ASSERT_EQ(beat(me(9)), "taken");
  ASSERT_EQ(redis({"DEL", lease_key()}), "1");
  // The adopter saw epoch 8 dead; the record names 9 now.
  EXPECT_FALSE(forget(8));
  ASSERT_TRUE(find());
  EXPECT_TRUE(forget(9));
  EXPECT_FALSE(find());
}

TEST_F(directory, release_deletes_only_its_own_epochs_lease) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(12)), "taken");
  EXPECT_FALSE(release(11)) << "an older epoch released the lease";
  EXPECT_FALSE(release(13)) << "a newer epoch released the lease";
  EXPECT_EQ(redis({"GET", lease_key()}), "12");
  EXPECT_TRUE(release(12));
  EXPECT_EQ(redis({"EXISTS", lease_key()}), "0");
  auto rec = find();
  ASSERT_TRUE(rec);
  EXPECT_FALSE(rec->alive);
  EXPECT_FALSE(release(12)) << "released twice";
  // A released node can be forgotten at once.
  EXPECT_TRUE(forget(12));
}

TEST_F(directory, release_by_a_replaced_incarnation_keeps_the_new_lease) {
  ASSERT_TRUE(dir_);
  ASSERT_EQ(beat(me(14)), "taken");
  ASSERT_EQ(beat(me(15)), "taken");
  EXPECT_FALSE(release(14));
  EXPECT_EQ(redis({"GET", lease_key()}), "15");
  auto rec = find();
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->alive);
}

TEST_F(directory, an_unreachable_redis_is_an_error_not_a_status) {
  redis_endpoint nowhere;
  nowhere.host = "127.0.0.1";
  nowhere.port = static_cast<uint16_t>(free_port());
  redis_directory dir{nowhere, 500ms};
  auto hb = dir.heartbeat(me(1), 1s);
  EXPECT_FALSE(hb);
  EXPECT_FALSE(dir.list());
  EXPECT_FALSE(dir.forget(id_, 1));
  EXPECT_FALSE(dir.release(id_, 1));
}

} // namespace
} // namespace saga::test
