// A real Redis Cluster changing under running sagas (issue 22): with
// `journal.replicas` an append is acknowledged only once a replica has it
// (WAIT); sagas running while a master is SIGKILLed stall until its replica
// is promoted, then all end, none of the acknowledged ones lost; sagas
// running while slots move between masters (redis-cli --cluster reshard)
// follow ASK and MOVED and all end.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/redis_slot.hpp"
#include "saga/saga.hpp"
#include "tests/journal_fixture.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/redis_cluster.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

class redis_cluster_journal : public journal_fixture<redis_cluster_kind> {};

TEST_F(redis_cluster_journal,
       with_replicas_an_append_is_acknowledged_only_once_a_replica_has_it) {
  auto* cluster = shared_cluster();
  ASSERT_NE(cluster, nullptr) << "the cluster did not start (see stderr)";
  opts_.replicas = 1;
  opts_.io_timeout = 1s; // WAIT gives up after 500 ms, then tries again
  auto j = journal_for("waiting-node", 0);
  ASSERT_TRUE(append(j, sid("first"), opening())); // WAIT confirms it
  const auto id = sid("gated");
  const auto key = redis_events_key(id);
  const int seed = cluster->nodes().front()->port();
  const int master = redis_cluster::master_of(seed, redis_key_slot(key));
  const int replica = redis_cluster::replica_of(master);
  auto* stopped = cluster->node_at(replica);
  ASSERT_NE(stopped, nullptr) << "no replica of the master on " << master;
  ::kill(stopped->pid(), SIGSTOP);
  auto pending = std::async(std::launch::async,
                            [&] { return append(j, id, opening()); });
  // The master has the events at once; without a replica that confirms
  // them, the append stays unanswered, WAIT after WAIT.
  const bool early = pending.wait_for(3s) == std::future_status::ready;
  ::kill(stopped->pid(), SIGCONT);
  EXPECT_FALSE(early) << "acknowledged before any replica had it";
  auto done = pending.get();
  ASSERT_TRUE(done) << describe(done.error());
  EXPECT_EQ(*done, 2u);
  // Answered now, so the replica has the history.
  auto rc = must_connect(replica);
  ASSERT_TRUE(rc.command({"READONLY"}));
  auto len = rc.command({"XLEN", key});
  ASSERT_TRUE(len) << describe(len.error());
  EXPECT_GE((*len)->integer, 1);
}

TEST_F(redis_cluster_journal,
       an_atomic_effect_outside_its_sagas_slot_is_refused_naming_it) {
  auto j = journal_for("effects-node", 0);
  const auto id = sid("effects");
  ASSERT_TRUE(append(j, id, opening(),
                     {barrier_preclaim{"s1", barrier_op::execute, "1:t-1"}}));
  auto outcome_on = [](const std::string& key) {
    barrier_outcome o;
    o.step = "s1";
    o.token = "1:t-1";
    o.reply.ok = true;
    o.reply.result = "{}";
    o.reply.effects = {effect::incr_by(key, "v", 5)};
    return o;
  };
  // A shared key in a slot of its own: a script cannot reach it.
  auto r = append(j, id, next_batch(), {}, {outcome_on("shop:balance")});
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::invalid_config));
  EXPECT_NE(describe(r.error()).find("'shop:balance'"), std::string::npos)
    << describe(r.error());
  EXPECT_NE(describe(r.error()).find("tag the key {" + id + "}"),
            std::string::npos)
    << describe(r.error());
  EXPECT_EQ(hash_field("shop:balance", "v"), "(nil)") << "applied anyway";
  // Tagged like the saga: applied with the append.
  const auto tagged = "{" + id + "}:balance";
  r = append(j, id, next_batch(), {}, {outcome_on(tagged)});
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(hash_field(tagged, "v"), "5");
}

/// Three steps that succeed at once.
definition three_steps() {
  definition d{"failover"};
  for (const char* step : {"s1", "s2", "s3"})
    d.step(step, "p").timeout(60s).retry(retry_policy{10, 50ms, 2.0, 1s, 0.2});
  return d;
}

TEST(redis_cluster_failover,
     a_master_killed_mid_run_loses_no_acknowledged_saga) {
  // Two replicas per master: after the failover the promoted replica still
  // has one to confirm its writes (journal.replicas = 1). A short node
  // timeout: a replica takes over within a few seconds.
  redis_cluster cluster{3, 2, 2000};
  ASSERT_TRUE(cluster.start()) << "the cluster did not start (see stderr)";
  runtime_config cfg;
  cfg.journal_url = cluster.url();
  cfg.journal.node_id = "failover-node";
  cfg.journal.replicas = 1;
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error()) << describe(rt.start_error());
  auto ok = [](const step_context&, const json&) {
    return step_outcome::ok({{"done", true}});
  };
  auto& p = rt.participant("p");
  for (const char* step : {"s1", "s2", "s3"})
    p.on(step, ok, ok);
  std::vector<std::future<saga_result>> before;
  before.reserve(50);
  for (int i = 0; i < 50; ++i)
    before.push_back(rt.execute(three_steps()));
  std::set<saga_id> acknowledged;
  for (auto& f : before) {
    auto r = f.get();
    ASSERT_TRUE(r.success) << describe(r.error);
    acknowledged.insert(r.saga_id);
  }
  // The master of this node's index: every saga's first batch waits on it.
  const int seed = cluster.nodes().back()->port();
  const int victim
    = redis_cluster::master_of(seed, redis_key_slot(
                                       redis_unfinished_key("failover-node")));
  ASSERT_NE(cluster.node_at(victim), nullptr);
  std::vector<std::future<saga_result>> during;
  during.reserve(100);
  for (int i = 0; i < 100; ++i)
    during.push_back(rt.execute(three_steps()));
  cluster.node_at(victim)->stop(true); // SIGKILL
  const auto killed_at = std::chrono::steady_clock::now();
  for (auto& f : during) {
    ASSERT_EQ(f.wait_for(90s), std::future_status::ready)
      << "a saga did not end after the failover";
    auto r = f.get();
    EXPECT_TRUE(r.success) << r.saga_id << ": " << describe(r.error);
    acknowledged.insert(r.saga_id);
  }
  const auto stalled = std::chrono::steady_clock::now() - killed_at;
  std::printf(
    "the last of %zu sagas ended %lld ms after the SIGKILL\n", during.size(),
    static_cast<long long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(stalled).count()));
  // The promoted replica serves the dead master's slots now.
  EXPECT_NE(redis_cluster::master_of(seed, redis_key_slot(redis_unfinished_key(
                                             "failover-node"))),
            victim);
  // Every saga acknowledged as completed, before or during the failover,
  // is completed in the journal.
  for (const auto& id : acknowledged) {
    auto log = rt.saga_log(id);
    ASSERT_TRUE(log) << id << ": lost";
    EXPECT_EQ(log->status, saga_status::completed) << id;
  }
}

/// Returns how often the node on `port` answered `error` (INFO errorstats).
long long error_count(int port, const std::string& error) {
  auto c = must_connect(port);
  auto r = c.command({"INFO", "errorstats"});
  if (!r)
    return -1;
  auto text = std::string{reply_text(r->get())};
  const auto field = "errorstat_" + error + ":count=";
  auto at = text.find(field);
  return at == std::string::npos ? 0
                                 : std::atoll(text.c_str() + at + field.size());
}

TEST(redis_cluster_failover,
     a_reshard_mid_run_is_followed_and_every_saga_ends) {
  redis_cluster cluster;
  ASSERT_TRUE(cluster.start()) << "the cluster did not start (see stderr)";
  runtime_config cfg;
  cfg.journal_url = cluster.url();
  cfg.journal.node_id = "reshard-node";
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error()) << describe(rt.start_error());
  auto ok = [](const step_context&, const json&) {
    return step_outcome::ok({{"done", true}});
  };
  auto& p = rt.participant("p");
  for (const char* step : {"s1", "s2", "s3"})
    p.on(step, ok, ok);
  // Sagas start, 16 at a time, until the reshard is over.
  std::atomic<bool> resharding{true};
  std::mutex mtx;
  std::vector<std::future<saga_result>> running;
  std::thread starter{[&] {
    while (resharding) {
      std::vector<std::future<saga_result>> wave;
      wave.reserve(16);
      for (int i = 0; i < 16; ++i)
        wave.push_back(rt.execute(three_steps()));
      for (auto& f : wave)
        f.wait();
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& f : wave)
        running.push_back(std::move(f));
    }
  }};
  // Move 3,000 slots (and their keys) from the first master to the second.
  const int from = cluster.nodes()[0]->port();
  const int to = cluster.nodes()[1]->port();
  child_process reshard{"redis-cli",
                        {"--cluster", "reshard",
                         "127.0.0.1:" + std::to_string(from), "--cluster-from",
                         redis_cluster::node_id(from), "--cluster-to",
                         redis_cluster::node_id(to), "--cluster-slots", "3000",
                         "--cluster-yes"}};
  auto code = reshard.wait_exit(std::chrono::seconds{240});
  resharding = false;
  starter.join();
  reshard.wait_for_eof(std::chrono::seconds{5});
  ASSERT_TRUE(code && *code == 0) << "redis-cli --cluster reshard failed";
  EXPECT_EQ(redis_cluster::master_of(to, 0), to) << "slot 0 did not move";
  // Every saga ended, completed, its history where the slot is now.
  ASSERT_GT(running.size(), 16u);
  for (auto& f : running) {
    auto r = f.get();
    EXPECT_TRUE(r.success) << r.saga_id << ": " << describe(r.error);
    auto log = rt.saga_log(r.saga_id);
    ASSERT_TRUE(log) << r.saga_id << ": lost";
    EXPECT_EQ(log->status, saga_status::completed) << r.saga_id;
  }
  // Commands met the moving slots and were redirected.
  EXPECT_GT(error_count(from, "ASK") + error_count(from, "MOVED"), 0)
    << "no command was redirected: the test moved nothing in use";
  std::printf("%zu sagas ran during the reshard; the old master answered "
              "ASK %lld and MOVED %lld times\n",
              running.size(), error_count(from, "ASK"),
              error_count(from, "MOVED"));
}

} // namespace
} // namespace saga::test
