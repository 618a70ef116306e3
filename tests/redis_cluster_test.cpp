// A real Redis Cluster (3 masters, 3 replicas; tests/support/redis_cluster)
// and the key layout (docs/redis-layout.md): the slot function agrees with
// the cluster's own, every script's keys share one slot, and a key sent to
// the wrong master is redirected (MOVED) to its slot's master, the protocol
// a cluster client follows (issue 22).

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_directory.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/redis_slot.hpp"
#include "saga/errc.hpp"
#include "tests/support/redis_cluster.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

class redis_cluster_test : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    cluster_ = new redis_cluster;
    if (!cluster_->start()) {
      delete cluster_;
      cluster_ = nullptr;
    }
  }

  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "the cluster did not start (see stderr)";
  }

  static redis_connection connect(int port) {
    redis_endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = static_cast<uint16_t>(port);
    auto c = redis_connection::connect(ep, 2s);
    if (!c)
      throw std::runtime_error("cannot connect: " + describe(c.error()));
    return std::move(*c);
  }

  /// Returns the slot the cluster computes for `key`.
  static long long cluster_keyslot(redis_connection& c,
                                   const std::string& key) {
    auto r = c.command({"CLUSTER", "KEYSLOT", key});
    return r && (*r)->type == REDIS_REPLY_INTEGER ? (*r)->integer : -1;
  }

  static redis_cluster* cluster_;
};

redis_cluster* redis_cluster_test::cluster_ = nullptr;

/// The keys each script (and each multi-key command) takes, for one saga
/// and one node (docs/redis-layout.md).
std::map<std::string, std::vector<std::string>> keys_per_call() {
  const std::string id = "order-7";
  const std::string node = "node-a";
  return {
    {"append.lua / reopen.lua",
     {redis_events_key(id), redis_owner_key(id), "saga:{" + id + "}:barrier"}},
    {"list.lua / forget.lua",
     {redis_unfinished_key(node), redis_lease_key(node), redis_node_key(node)}},
    {"count.lua / trim.lua",
     {redis_counts_key(), redis_seen_key(), redis_ids_key()}},
  };
}

TEST_F(redis_cluster_test, the_slot_function_agrees_with_the_cluster) {
  auto c = connect(cluster_->nodes().front()->port());
  std::vector<std::string> keys{"123456789",
                                "",
                                "a",
                                "{user1000}.following",
                                "foo{}{bar}",
                                "foo{{bar}}zap",
                                redis_business_key_key("user-42"),
                                "saga:ended:{completed}",
                                "saga:audit"};
  for (const auto& [call, ks] : keys_per_call())
    keys.insert(keys.end(), ks.begin(), ks.end());
  for (int i = 0; i < 200; ++i)
    keys.push_back("saga:{s-" + std::to_string(i * 7919) + "}:events");
  for (const auto& k : keys)
    EXPECT_EQ(cluster_keyslot(c, k), redis_key_slot(k)) << k;
}

TEST_F(redis_cluster_test, every_script_takes_keys_of_one_slot) {
  auto c = connect(cluster_->nodes().front()->port());
  for (const auto& [call, keys] : keys_per_call()) {
    std::set<long long> slots;
    for (const auto& k : keys)
      slots.insert(cluster_keyslot(c, k));
    EXPECT_EQ(slots.size(), 1u)
      << call << " spans " << slots.size() << " slots";
  }
}

TEST_F(redis_cluster_test, a_key_at_the_wrong_master_is_moved_to_its_slot) {
  const std::string key = redis_events_key("order-7");
  const auto slot = redis_key_slot(key);
  int served = 0;
  int moved = 0;
  for (const auto& n : cluster_->nodes()) {
    auto c = connect(n->port());
    auto role = c.command({"ROLE"});
    ASSERT_TRUE(role) << describe(role.error());
    if (reply_text((*role)->element[0]) != "master")
      continue;
    // append + read: the error reply itself, not an error made of it.
    c.append({"XLEN", key});
    auto r = c.read();
    ASSERT_TRUE(r) << describe(r.error());
    if ((*r)->type == REDIS_REPLY_INTEGER) {
      ++served;
      continue;
    }
    // "MOVED <slot> <host>:<port>": where the slot's master is.
    auto text = std::string{(*r)->str, (*r)->len};
    EXPECT_EQ(text.rfind("MOVED " + std::to_string(slot) + " 127.0.0.1:", 0),
              0u)
      << text;
    ++moved;
  }
  EXPECT_EQ(served, 1) << "exactly one master serves a slot";
  EXPECT_EQ(moved, 2);
}

} // namespace
} // namespace saga::test
