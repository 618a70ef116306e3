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
#include "persistence/redis_url.hpp"
#include "saga/errc.hpp"
#include "tests/support/redis_cluster.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

class redis_cluster_test : public ::testing::Test {
protected:
  void SetUp() override {
    cluster_ = shared_cluster();
    ASSERT_NE(cluster_, nullptr) << "the cluster did not start (see stderr)";
  }

  /// Returns the slot the cluster computes for `key`.
  static long long cluster_keyslot(redis_connection& c,
                                   const std::string& key) {
    auto r = c.command({"CLUSTER", "KEYSLOT", key});
    return r && (*r)->type == REDIS_REPLY_INTEGER ? (*r)->integer : -1;
  }

  /// Returns a connection to the whole cluster (redis+cluster://).
  redis_connection connect_cluster() {
    auto ep = parse_redis_url(cluster_->url());
    EXPECT_TRUE(ep) << describe(ep.error());
    auto c = redis_connection::connect(*ep, 2s);
    if (!c)
      throw std::runtime_error("cannot connect: " + describe(c.error()));
    return std::move(*c);
  }

  redis_cluster* cluster_ = nullptr;
};

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
  auto c = must_connect(cluster_->nodes().front()->port());
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
  auto c = must_connect(cluster_->nodes().front()->port());
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
    auto c = must_connect(n->port());
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

// -- the routing of redis+cluster:// connections --------------------------------

/// Returns keys whose slots fall on every master: 64 sagas' event streams.
std::vector<std::string> spread_keys(const std::string& tag) {
  std::vector<std::string> keys;
  keys.reserve(64);
  for (int i = 0; i < 64; ++i)
    keys.push_back(redis_events_key(tag + "-" + std::to_string(i)));
  return keys;
}

TEST_F(redis_cluster_test, a_pipeline_is_routed_by_slot_and_answered_in_order) {
  auto c = connect_cluster();
  auto keys = spread_keys("pipe");
  for (const auto& k : keys)
    c.append({"SET", k, "v:" + k});
  for (const auto& k : keys)
    c.append({"GET", k});
  for (size_t i = 0; i < keys.size(); ++i) {
    auto r = c.read();
    ASSERT_TRUE(r) << describe(r.error());
    EXPECT_EQ(reply_text(r->get()), "OK") << keys[i];
  }
  for (const auto& k : keys) {
    auto r = c.read();
    ASSERT_TRUE(r) << describe(r.error());
    EXPECT_EQ(reply_text(r->get()), "v:" + k);
  }
  EXPECT_EQ(c.servers(), 3u) << "one connection per master, none to replicas";
  EXPECT_FALSE(c.broken());
}

TEST_F(redis_cluster_test, scripts_loaded_once_run_on_every_master) {
  auto c = connect_cluster();
  auto keys = spread_keys("script");
  // Reach one master only, then load: the others learn it when first used.
  ASSERT_TRUE(c.command({"GET", keys.front()}));
  auto sha = c.command(
    {"SCRIPT", "LOAD", "return redis.call('INCR', KEYS[1])"});
  ASSERT_TRUE(sha) << describe(sha.error());
  std::string digest{reply_text(sha->get())};
  for (const auto& k : keys) {
    auto r = c.command({"EVALSHA", digest, "1", k + ":n"});
    ASSERT_TRUE(r) << k << ": " << describe(r.error());
    EXPECT_EQ((*r)->integer, 1);
  }
}

TEST_F(redis_cluster_test, a_migrating_slot_is_followed_by_ask_then_moved) {
  auto c = connect_cluster();
  const std::string old_key = redis_events_key("migrating-1");
  const std::string new_key = redis_owner_key("migrating-1"); // same slot
  const auto slot = redis_key_slot(old_key);
  const int seed = cluster_->nodes().front()->port();
  const int from = redis_cluster::master_of(seed, slot);
  ASSERT_NE(from, 0);
  int to = 0;
  for (int i = 0; i < 3 && to == 0; ++i) {
    int p = cluster_->nodes()[static_cast<size_t>(i)]->port();
    if (p != from)
      to = p;
  }
  ASSERT_TRUE(c.command({"SET", old_key, "before"}));
  auto from_c = must_connect(from);
  auto to_c = must_connect(to);
  const auto slot_text = std::to_string(slot);
  ASSERT_TRUE(to_c.command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING",
                            redis_cluster::node_id(from)}));
  ASSERT_TRUE(from_c.command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING",
                              redis_cluster::node_id(to)}));
  // Migrating: a key the old master has is served there; a key it has not
  // is asked for at the new one (ASK, then ASKING + the command).
  auto r = c.command({"SET", new_key, "during"});
  ASSERT_TRUE(r) << describe(r.error());
  to_c.append({"ASKING"});
  to_c.append({"GET", new_key});
  ASSERT_TRUE(to_c.read());
  auto there = to_c.read();
  ASSERT_TRUE(there);
  EXPECT_EQ(reply_text(there->get()), "during") << "written at the new master";
  r = c.command({"GET", old_key});
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(reply_text(r->get()), "before");
  // Migrated: the old master answers MOVED, and the connection follows.
  ASSERT_TRUE(from_c.command({"MIGRATE", "127.0.0.1", std::to_string(to), "",
                              "0", "5000", "KEYS", old_key}));
  for (int p : {to, from}) { // the new owner first, as the spec asks
    auto nc = must_connect(p);
    ASSERT_TRUE(nc.command(
      {"CLUSTER", "SETSLOT", slot_text, "NODE", redis_cluster::node_id(to)}));
  }
  r = c.command({"GET", old_key});
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(reply_text(r->get()), "before");
  r = c.command({"GET", new_key});
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(reply_text(r->get()), "during");
  EXPECT_FALSE(c.broken());
  // Put the slot back for the other tests (whose keys may live in it).
  ASSERT_TRUE(to_c.command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING",
                            redis_cluster::node_id(from)}));
  ASSERT_TRUE(from_c.command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING",
                              redis_cluster::node_id(to)}));
  ASSERT_TRUE(to_c.command({"MIGRATE", "127.0.0.1", std::to_string(from), "",
                            "0", "5000", "KEYS", old_key, new_key}));
  for (int p : {from, to}) { // the new owner first
    auto nc = must_connect(p);
    ASSERT_TRUE(nc.command(
      {"CLUSTER", "SETSLOT", slot_text, "NODE", redis_cluster::node_id(from)}));
  }
}

TEST_F(redis_cluster_test, bad_seeds_are_refused_naming_the_problem) {
  // A server without cluster mode.
  auto& single = shared_server();
  auto ep = parse_redis_url("redis+cluster://127.0.0.1:"
                            + std::to_string(single.port()));
  ASSERT_TRUE(ep);
  auto c = redis_connection::connect(*ep, 2s);
  ASSERT_FALSE(c);
  EXPECT_NE(describe(c.error()).find("not a cluster node"), std::string::npos)
    << describe(c.error());
  // Nothing listening: every seed is tried, the last failure is named.
  ep = parse_redis_url("redis+cluster://127.0.0.1:"
                       + std::to_string(free_port())
                       + ",127.0.0.1:" + std::to_string(free_port()));
  ASSERT_TRUE(ep);
  c = redis_connection::connect(*ep, 2s);
  ASSERT_FALSE(c);
  EXPECT_NE(describe(c.error()).find("cannot connect"), std::string::npos)
    << describe(c.error());
  // A dead seed first, a live one after: the live one suffices.
  ep = parse_redis_url("redis+cluster://127.0.0.1:"
                       + std::to_string(free_port()) + "," + cluster_->seeds());
  ASSERT_TRUE(ep);
  c = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(c) << describe(c.error());
}

} // namespace
} // namespace saga::test
