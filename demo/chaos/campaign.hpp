// demo/chaos/campaign.hpp: one chaos campaign, from start to report: it
// starts the cluster (a private redis-server and the saga_node processes),
// runs the client and the watcher on their threads, injects the scheduled
// faults from the main thread, drains, checks and reports. The campaign
// owns every process, thread and check; run() is called once, on the main
// thread, which alone touches the processes.

#pragma once

#include <array>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "demo/chaos/checker.hpp"
#include "demo/chaos/options.hpp"
#include "demo/chaos/processes.hpp"
#include "demo/chaos/report.hpp"
#include "demo/chaos/schedule.hpp"
#include "demo/chaos/violations.hpp"
#include "demo/chaos/watcher.hpp"
#include "demo/chaos/workload.hpp"

namespace chaos {

class campaign {
public:
  explicit campaign(options o) : o_(std::move(o)), rng_(o_.seed) {
  }

  /// Runs the campaign; returns the exit status: 0 when every invariant
  /// holds, 1 on a violation, 2 when the cluster could not be run.
  int run();

private:
  /// Starts Redis, the nodes and the client's actor system; false (after a
  /// message) when the cluster does not come up.
  bool setup();
  /// Makes the logs folder (a new one if --logs named none) and the Redis
  /// folder in it, with none of the campaign's own files left over; false
  /// (after a message) on failure.
  bool prepare_logs();
  /// Declares the nodes with the knobs of their first incarnation.
  void declare_nodes(std::mt19937_64& node_rng);
  /// Gives every player 1000 coins and 3 items.
  bool seed_game_data();
  void spawn(node_proc& n);
  /// Returns the saga_node arguments of node `n`'s next incarnation.
  std::vector<std::string> node_args(const node_proc& n) const;
  /// Moves starting nodes along: connected once ready, started again when
  /// they exited (e.g. Redis was away). Returns false on a node that does
  /// not come up within a minute.
  bool poll_nodes();
  /// Moves starting node `n` along (see poll_nodes).
  bool poll_starting(node_proc& n);
  bool wait_all_up(ms timeout);
  /// Injects the faults of the schedule until the client stops; returns
  /// false when a node does not come up again.
  bool inject_faults(steady::time_point stop_at);
  /// Prints the progress line every 10 s.
  void print_progress(steady::time_point now);
  void begin(const fault& f);
  void end(const fault& f);
  void drain();
  /// Stops every process (after taking the coordinators' chaos counts).
  void shutdown();
  /// Prints the report and the verdict; returns the exit status.
  int finish();
  /// The files the campaign writes into the logs folder.
  std::vector<std::string> own_files() const;
  std::string repro() const {
    return "scripts/chaos.sh --seed " + std::to_string(o_.seed) + " --duration "
           + show_duration(o_.duration);
  }

  options o_;
  std::mt19937_64 rng_;
  std::string dir_;
  std::unique_ptr<violations> v_;
  std::unique_ptr<redis_process> redis_;
  std::string url_;
  std::vector<node_proc> nodes_;
  std::vector<fault> schedule_;
  run_counts counts_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  gateway_table gateways_;
  client_book book_;
  std::unique_ptr<watcher> watcher_;
  std::thread client_;
  uint64_t workload_seed_ = 0;
  uint64_t watcher_seed_ = 0;
  steady::time_point t0_;
  steady::time_point last_print_; // of the progress line
  final_figures f_;
};

} // namespace chaos
