// demo/chaos/report.hpp: the report a campaign prints at its end: the
// faults injected, what the nodes did about them, the sagas' outcomes and
// a PASS or FAIL line per invariant with the first examples of each kind of
// violation. Printed once, on the main thread, to stdout.

#pragma once

#include <array>
#include <cstddef>

#include "demo/chaos/checker.hpp"
#include "demo/chaos/options.hpp"
#include "demo/chaos/processes.hpp"
#include "demo/chaos/schedule.hpp"
#include "demo/chaos/violations.hpp"
#include "demo/chaos/watcher.hpp"

namespace chaos {

/// What the campaign counted while it ran.
struct run_counts {
  std::array<size_t, fault_kinds> injected{};
  size_t skipped = 0;            // faults whose node was not up again yet
  size_t node_start_retries = 0; // node starts retried (Redis was away)
  size_t client_reconnects = 0;
  size_t sent = 0; // sagas the client asked for
  size_t refused_no_coordinator = 0;
  log_tally logged; // what every node incarnation logged
};

/// Prints the report, all but its verdict (the caller's PASS or FAIL line).
void print_report(const options& o, const run_counts& c, const figures& figs,
                  const final_figures& f, const violations& v);

} // namespace chaos
