// chaos_campaign: a bounded, seeded chaos campaign against a real cluster on
// 127.0.0.1, and the checker of its invariants (docs/chaos.md).
//
// The cluster: a private redis-server (appendonly yes, appendfsync
// always), two coordinating saga_node processes and `--replicas`
// saga_node processes per game server (account-server, inventory-server,
// log-server: demo/game_servers.hpp, with --audit-effects). This process is
// the client: it runs purchases and trades at a steady rate through the
// coordinators' gateways (as purchase_demo does), while its main thread
// injects faults on a schedule drawn from the seed:
//
//   - participant failures and timeouts (saga_node --fail-rate and
//     --slow-rate of the game servers, drawn anew at every restart);
//   - duplicated and delayed step commands (saga_node --chaos-* of the
//     coordinators: cluster/remote_participant.cpp);
//   - SIGKILL (then a restart) and SIGSTOP/SIGCONT (shorter and longer than
//     the lease) of participant and coordinator nodes;
//   - SIGKILL of redis-server, restarted on its port from its AOF.
//
// Faults stop `--quiet` before the end; the client stops at `--duration`;
// then every saga must end within `--drain`. A watcher thread finds every
// saga in Redis (a SCAN over the campaign's own store) and checks each one
// soon after it ended, while its history and barrier records are within
// their retention; the rest is checked at the end:
//
//   terminal      every saga reached a terminal state; no index lists one
//   conservation  the game servers' data is exactly what the journals imply
//   applied-once  each (saga, step) applied its effect at most once, and
//                 its compensation at most once
//   replay        each journal replays (saga::replay) to what sagactl
//                 (the catalog, and the binary for a sample) reports, to the
//                 barrier records, the participants' data and the client's
//                 results
//   retention     no Redis key of a saga outlives the retention
//
// Every random choice comes from one std::mt19937_64 seeded with --seed
// (the workload, the schedule and each node's own seeds are drawn from it
// up front). The seed reproduces the workload and the fault schedule, not
// the exact interleaving of a real cluster. Exit status: 0 when every
// invariant holds; 1 on a violation (the report names the seed); 2 when the
// cluster could not be run (or on bad usage).

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>

#include "demo/chaos/campaign.hpp"
#include "demo/chaos/options.hpp"

// The parts, in demo/chaos/: options (the command line), schedule (the
// seeded faults), processes (Redis and the nodes), workload (the client's
// sagas), watcher (each saga checked as it ends), checker (the invariants
// after the run), report, and campaign (which runs them in order).

int main(int argc, char** argv) {
  auto o = chaos::parse_options(argc, argv);
  if (!o.seeded)
    o.seed = std::random_device{}() % 1'000'000;
  std::signal(SIGPIPE, SIG_IGN);
  auto c = std::make_unique<chaos::campaign>(o);
  auto status = c->run();
  // Requests to coordinators that never answered keep client actors alive,
  // and the actor system would wait for them: leave without destructors.
  std::cout << std::flush;
  std::_Exit(status);
}
