// demo/chaos/options.hpp: the chaos campaign's options (its command line)
// and the names every file of the campaign shares. Parsed once by main;
// read-only afterwards, so any thread may read them.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <saga/json.hpp>

namespace chaos {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using saga::json;

struct options {
  uint64_t seed = 0;
  bool seeded = false; // --seed given; otherwise drawn at random
  ms duration = 120s;
  double rate = 12;
  size_t max_in_flight = 64;
  size_t players = 40;
  double trade_share = 0.35;
  size_t replicas = 2;
  size_t coordinators = 2;
  std::chrono::seconds retention{0}; // 0: 60 s, 120 s beyond 10 minutes
  ms fault_interval = 3s;
  ms quiet{0}; // 0: a tenth of the duration, 15 s to 60 s
  ms drain = 120s;
  double sagactl_sample = 0.05;
  double max_fail = 0.10;
  double max_slow = 0.04;
  double max_duplicate = 0.20;
  double max_delay_rate = 0.20;
  ms max_delay = 1'500ms;
  std::string logs;
  bool keep_logs = false;
  std::string saga_node = SAGA_NODE_EXE;
  std::string sagactl = SAGACTL_EXE;
  std::string redis_server = "redis-server";
};

/// Returns the options of `argv`, with the defaults that depend on others
/// filled in; prints the help and exits 0 on --help, and exits 2 with a
/// message naming the option on a bad one.
options parse_options(int argc, char** argv);

/// Returns `d` as "2m", "90s" or "1500ms" (how the report and the
/// reproduction command state durations).
std::string show_duration(ms d);

/// Returns the wall-clock time in ms since the epoch.
int64_t wall_ms();

} // namespace chaos
