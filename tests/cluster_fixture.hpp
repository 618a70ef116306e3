#pragma once

// Multi-process cluster tests: a private redis-server, saga_node processes
// on free loopback ports, and a client actor system in the test process
// that starts sagas through a coordinator's gateway. Everything is real:
// processes, TCP, CAF's middleman, Redis.

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <saga/saga.hpp>

#include "tests/support/child_process.hpp"
#include "tests/support/redis_server.hpp"

namespace saga::test {

/// A running saga_node and its gateway port.
struct node_process {
  std::string id;
  uint16_t port = 0;
  uint64_t epoch = 0;
  std::unique_ptr<child_process> proc;
};

/// What the shop's data says about one saga.
struct shop_record {
  bool debited = false;
  bool granted = false;
  bool recorded = false;
};

class cluster_fixture : public ::testing::Test {
protected:
  /// Lease of every node in these tests: short, so failovers are quick.
  static constexpr const char* lease = "1s";

  void SetUp() override;
  void TearDown() override;

  /// Starts saga_node `id` with `args` (plus the Redis URL, lease and
  /// heartbeat settings) and waits for its ready line.
  node_process& start_node(const std::string& id,
                           std::vector<std::string> args);

  /// Returns the gateway of `n`, connected from the client system.
  gateway_actor gateway(const node_process& n);

  /// Starts one purchase per entry of `items` on `gw` at once and returns
  /// the results as they arrive (errors become results with `error` set).
  std::future<std::vector<saga_result>>
  run_purchases(const gateway_actor& gw, const std::vector<std::string>& items,
                int64_t price = 10);

  /// Starts a saga of each definition (JSON text) of `defs` on `gw` at once
  /// and returns the results as they arrive (errors become results).
  std::future<std::vector<saga_result>>
  run_definitions(const gateway_actor& gw,
                  const std::vector<std::string>& defs);

  /// Returns every saga id with a history in Redis (SCAN: test data only).
  std::vector<std::string> saga_ids();

  /// Returns the status of saga `id` replayed from Redis, or pending.
  saga_status status_of(const std::string& id);

  /// Waits until every saga in Redis has ended, polling Redis until
  /// `timeout`; returns the ids.
  std::vector<std::string>
  await_all_terminal(std::chrono::milliseconds timeout);

  /// Returns where a saga stands in Redis: owner, index entries, history.
  std::string where_is(const std::string& id);

  /// Checks that the shop's data matches the sagas' outcomes: a completed
  /// saga debited, granted and recorded once; any other left nothing; the
  /// balance of player "p" equals its start minus the debits.
  void expect_consistent(const std::vector<std::string>& ids);

  /// Returns the URL of the test's Redis (or Redis Cluster).
  std::string redis_url() const {
    return url_;
  }

  /// Returns the arguments of saga_node `id` that start_node() puts before
  /// the test's own (Redis URL, lease, heartbeats).
  std::vector<std::string> base_args(const std::string& id) const;

  /// Returns the log file of node `id` in this test.
  static std::string log_path(const std::string& id);

  /// Returns whether `pred` became true within `timeout`, checking it every
  /// 20 ms (for state other processes change in Redis, which sends no
  /// event).
  static bool eventually(const std::function<bool()>& pred,
                         std::chrono::milliseconds timeout);

  /// Returns the integer reply of one Redis command, or its string reply
  /// read as an integer (-1 on an error or another reply type; a nil reply
  /// is 0).
  long long redis_int(const std::vector<std::string>& cmd);

  /// Returns hash `key` of the test's Redis.
  std::map<std::string, std::string> redis_hash(const std::string& key);

  /// Extra redis-server arguments (a test fixture sets them before SetUp).
  std::vector<std::string> redis_args_;
  /// Whether the nodes use this test program's Redis Cluster
  /// (shared_cluster()) instead of a redis-server of the test's own (a test
  /// fixture sets it before SetUp).
  bool on_redis_cluster_ = false;
  std::string url_;

  std::unique_ptr<redis_server> redis_;
  std::map<std::string, node_process> nodes_;
  std::unique_ptr<caf::actor_system_config> client_cfg_;
  std::unique_ptr<caf::actor_system> client_;
  journal_actor reader_;
};

} // namespace saga::test
