// demo/chaos/checker.hpp: the invariant checks after the run: every saga
// ended (terminal), the client's answers against the journals (replay),
// each effect applied at most once (applied-once), the game servers' data
// exactly as the journals imply (conservation), and no key left behind
// (retention). Runs once on the main thread, after the watcher stopped and
// with the nodes still up; it borrows everything it reads.

#pragma once

#include <map>
#include <string>
#include <vector>

#include "demo/chaos/options.hpp"
#include "demo/chaos/processes.hpp"
#include "demo/chaos/redis_client.hpp"
#include "demo/chaos/violations.hpp"
#include "demo/chaos/watcher.hpp"
#include "demo/chaos/workload.hpp"

namespace chaos {

/// What the checks after the run count (the report's figures).
struct final_figures {
  int64_t money_before = 0, money_after = 0, spent = 0;
  int64_t items_before = 0, items_after = 0, bought = 0;
  size_t keys_compared = 0;
  size_t executes = 0, compensations = 0;
  size_t scanned_keys = 0;
  /// Owners an adopter planted on sagas listed but never written.
  size_t planted_owners = 0;
  size_t answered = 0, answer_errors = 0, unanswered = 0, unpersisted = 0;
  size_t results_compared = 0;
  std::map<std::string, std::map<saga::saga_status, size_t>> outcomes;
  size_t sagas = 0, open = 0;
};

/// Runs the checks after the run, adding what fails to `v`; returns the
/// figures.
final_figures check_after_run(const options& o,
                              const std::map<std::string, saga_info>& sagas,
                              const std::vector<node_proc>& nodes,
                              client_book& book, const std::string& url,
                              violations& v);

} // namespace chaos
