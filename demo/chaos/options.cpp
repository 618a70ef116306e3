#include "demo/chaos/options.hpp"

#include <algorithm>
#include <cstdlib>

#include "tools/args.hpp"

namespace chaos {

namespace {

constexpr const char* summary =
  R"(chaos_campaign: a seeded chaos campaign on a loopback cluster, then a
checker of its invariants (docs/chaos.md). Exit: 0 pass, 1 violation, 2 the
cluster could not be run.)";

/// Declares the options of the cluster and the workload.
void declare_workload(saga::tools::arg_parser& p, options& o, ms& retention) {
  using saga::tools::option;
  p.integer("--seed", o.seed, "seed of every random choice")
    .shown_default("random, printed");
  p.duration("--duration", o.duration,
             "how long sagas are started: 90s, 2m, 30m", 10s, 1000);
  p.number("--rate", o.rate, "sagas started per second", 0.0)
    .check([&o] { return o.rate > 0; }, "a number > 0");
  p.integer("--max-in-flight", o.max_in_flight,
            "sagas in flight at most; the rate waits beyond", size_t{1});
  p.integer("--players", o.players, "players, each with 1000 coins and 3 items",
            size_t{2});
  p.number("--trade-share", o.trade_share, "share of trades among the sagas",
           0.0, 1.0);
  p.integer("--replicas", o.replicas, "saga_node processes per game server",
            size_t{1});
  p.integer("--coordinators", o.coordinators,
            "coordinating saga_node processes", size_t{1});
  p.duration("--retention", retention,
             "journal.retention of the nodes, whole seconds", 5s, 1000)
    .shown_default("60s; 120s for campaigns longer than 10 minutes");
}

/// Declares the options of the faults, the checks and the files.
void declare_faults(saga::tools::arg_parser& p, options& o) {
  p.duration("--fault-interval", o.fault_interval,
             "mean time between two faults", 100ms, 1000);
  p.duration("--quiet", o.quiet, "no new faults during the last D", 1s, 1000)
    .shown_default("a tenth of --duration, 15s to 60s");
  p.duration("--drain", o.drain, "bound on the wait for the last sagas to end",
             1s, 1000);
  p.number("--sagactl-sample", o.sagactl_sample,
           "share of sagas also checked with the sagactl binary\n"
           "(failed sagas always)",
           0.0, 1.0);
  p.number("--max-fail-rate", o.max_fail,
           "participants' execute failure rate, at most", 0.0, 1.0);
  p.number("--max-slow-rate", o.max_slow,
           "participants' rate of executes past their timeout", 0.0, 1.0);
  p.number("--max-duplicate-rate", o.max_duplicate,
           "coordinators' duplicated step commands, at most", 0.0, 1.0);
  p.number("--max-delay-rate", o.max_delay_rate,
           "coordinators' delayed step commands, at most", 0.0, 1.0);
  p.duration("--max-delay", o.max_delay, "longest injected delay", 0ms, 1000);
  p.text("--logs", o.logs, "node and Redis logs")
    .value_name("DIR")
    .shown_default("a new temporary folder");
  p.flag("--keep-logs", o.keep_logs, "keep them after a passing run");
  p.text("--saga-node", o.saga_node, "the saga_node to run").value_name("PATH");
  p.text("--sagactl", o.sagactl, "the sagactl to run").value_name("PATH");
  p.text("--redis-server", o.redis_server, "the redis-server to run")
    .value_name("PATH");
}

} // namespace

options parse_options(int argc, char** argv) {
  options o;
  ms retention{0};
  saga::tools::arg_parser p{"chaos_campaign", summary};
  declare_workload(p, o, retention);
  declare_faults(p, o);
  p.parse_or_exit(argc, argv);
  o.seeded = p.given("--seed");
  if (p.given("--retention"))
    o.retention = std::chrono::duration_cast<std::chrono::seconds>(retention);
  if (o.quiet.count() == 0)
    o.quiet = std::clamp<ms>(o.duration / 10, 15s, 60s);
  if (o.retention.count() == 0)
    o.retention = o.duration > 10min ? 120s : 60s;
  if (o.quiet >= o.duration)
    std::exit(p.usage_error("--quiet must be shorter than --duration"));
  return o;
}

std::string show_duration(ms d) {
  return saga::tools::show_duration(d);
}

int64_t wall_ms() {
  return saga::tools::now_ms();
}

} // namespace chaos
