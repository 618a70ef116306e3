// demo/chaos/processes.hpp: the campaign's child processes, its private
// redis-server and the saga_node incarnations, and what a node's log tells
// about recovery. The campaign's main thread owns them all (it starts,
// signals and reaps them); nothing here is thread-safe.

#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "demo/chaos/options.hpp"
#include "tests/support/child_process.hpp"

namespace chaos {

/// The private redis-server: restarted on the same port and folder, so it
/// loads its AOF again. `appendfsync always`: the campaign checks that
/// nothing Redis acknowledged is lost across a SIGKILL, which `everysec`
/// does not promise (while a background fsync stalls, Redis answers for up
/// to 2 s before it writes the AOF; an ASan run lost acknowledged appends
/// that way).
class redis_process {
public:
  redis_process(std::string exe, std::string dir, std::string log)
    : exe_(std::move(exe)), dir_(std::move(dir)), log_(std::move(log)) {
  }

  /// Starts it (on a free port the first time, then on the same one) and
  /// returns whether it answers within 30 s; tries 5 times.
  bool start();

  /// SIGKILLs it and waits for it to exit.
  void kill();

  std::string url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
  }

private:
  /// Waits until it answers PING (not LOADING) or exits.
  bool ready(ms timeout);

  std::string exe_;
  std::string dir_;
  std::string log_;
  uint16_t port_ = 0;
  std::unique_ptr<saga::test::child_process> proc_;
};

/// What a node incarnation is started with: game servers' failure and slow
/// rates, coordinators' duplicate and delay rates, and their seed.
struct knobs {
  double fail = 0;
  double slow = 0;
  double duplicate = 0;
  double delay = 0;
  uint64_t seed = 0;
};

/// What a node incarnation's log tells about recovery and the barrier.
struct log_tally {
  uint64_t duplicated = 0;    // step commands sent twice (coordinators)
  uint64_t delayed = 0;       // step commands sent late (coordinators)
  uint64_t adopted = 0;       // sagas of dead nodes resumed here
  uint64_t recovered = 0;     // sagas of earlier incarnations resumed here
  uint64_t lease_retaken = 0; // woke up without its lease (then fenced)
  uint64_t dropped = 0; // outcomes the barrier dropped (settled meanwhile)
  uint64_t parked = 0;  // sagas parked failed

  log_tally& operator+=(const log_tally& x);
};

/// One saga_node of the cluster, across its incarnations.
struct node_proc {
  enum class state { down, starting, up, paused };
  std::string id;
  bool coordinator = false;
  std::string server; // the game server it hosts; empty for coordinators
  std::unique_ptr<saga::test::child_process> proc;
  state st = state::down;
  uint16_t port = 0;
  int incarnation = 0;
  steady::time_point started_at;
  steady::time_point respawn_at;
  steady::time_point reconnect_at;
  knobs k;
  /// What finished incarnations logged.
  log_tally logged;
  int start_failures = 0;
};

/// Returns what the current incarnation of node `n` printed.
log_tally tally_log(const node_proc& n);

} // namespace chaos
