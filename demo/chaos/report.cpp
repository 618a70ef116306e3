#include "demo/chaos/report.hpp"

#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

namespace chaos {

namespace {

/// Prints a row of a section: its label, then its value right-aligned.
template <class T>
void row(const std::string& label, T value) {
  std::cout << "  " << std::left << std::setw(58) << label << std::right
            << std::setw(8) << value << "\n";
}

/// Prints the faults injected and what the nodes did about them.
void print_faults(const options& o, const run_counts& c, const figures& figs) {
  std::cout << "\n== chaos campaign report: seed " << o.seed << ", "
            << show_duration(o.duration) << " ==\n"
            << "cluster: redis-server (appendonly yes, appendfsync always), "
            << o.coordinators << " coordinators, " << 3 * o.replicas
            << " game-server nodes (" << o.replicas
            << " each), lease 1 s, retention " << o.retention.count()
            << " s\n\nfaults injected\n";
  for (size_t k = 0; k < fault_kinds; ++k)
    row(fault_label(static_cast<fault_kind>(k)), c.injected[k]);
  row("step commands duplicated by the coordinators", c.logged.duplicated);
  row("step commands delayed by up to " + show_duration(o.max_delay),
      c.logged.delayed);
  row("executes failed by the participants (journals)", figs.injected_failures);
  row("step attempts timed out (journals)", figs.timeouts);
  if (c.skipped > 0)
    row("faults skipped (their node was not up again yet)", c.skipped);
  std::cout << "what the nodes did about it (their logs)\n";
  row("sagas of dead or paused nodes adopted by a coordinator",
      c.logged.adopted);
  row("sagas resumed by a coordinator restarted with its id",
      c.logged.recovered);
  row("nodes that found their lease expired and took it again",
      c.logged.lease_retaken);
  row("late outcomes dropped by the barrier (settled meanwhile)",
      c.logged.dropped);
  row("sagas parked failed", c.logged.parked);
  if (c.node_start_retries > 0)
    row("node starts retried (Redis was away)", c.node_start_retries);
}

/// Prints the sagas' outcomes per definition and the client's view.
void print_outcomes(const options& o, const run_counts& c, const figures& figs,
                    const final_figures& f) {
  std::cout << "\nsagas           completed  compensated  failed   total\n";
  size_t all = 0;
  std::map<saga::saga_status, size_t> totals;
  // A copy of each: by[] adds the states a definition never ended in.
  for (auto [def, by] : f.outcomes) {
    size_t t = 0;
    for (auto& [st, n] : by) {
      t += n;
      totals[st] += n;
    }
    all += t;
    std::cout << "  " << std::left << std::setw(12) << def << std::right
              << std::setw(11) << by[saga::saga_status::completed]
              << std::setw(13) << by[saga::saga_status::compensated]
              << std::setw(8) << by[saga::saga_status::failed] << std::setw(8)
              << t << "\n";
  }
  std::cout << "  " << std::left << std::setw(12) << "all" << std::right
            << std::setw(11) << totals[saga::saga_status::completed]
            << std::setw(13) << totals[saga::saga_status::compensated]
            << std::setw(8) << totals[saga::saga_status::failed] << std::setw(8)
            << all << "\n"
            << "  longest saga: " << std::fixed << std::setprecision(1)
            << static_cast<double>(figs.max_saga_ms) / 1000
            << " s from start to end (retention " << o.retention.count()
            << " s)\n"
            << "  client: " << c.sent << " sagas asked for, " << f.answered
            << " answered with their outcome, " << f.answer_errors
            << " answered with an error (coordinator killed, paused or "
               "fenced: "
            << f.unpersisted << " of them never persisted), " << f.unanswered
            << " unanswered";
  if (c.client_reconnects > 0)
    std::cout << "; reconnected " << c.client_reconnects
              << " times to a coordinator that had dropped the connection";
  if (c.refused_no_coordinator > 0)
    std::cout << ", " << c.refused_no_coordinator
              << " not sent (no coordinator up)";
}

/// Prints one line per invariant, PASS or FAIL, with examples.
void print_invariants(const options& o, const figures& figs,
                      const final_figures& f, const violations& v) {
  std::cout << "\n\ninvariants\n";
  auto line = [&](const char* inv, const std::string& text) {
    auto n = v.count(inv);
    std::cout << "  " << (n == 0 ? "PASS" : "FAIL") << "  " << text;
    if (n > 0)
      std::cout << " -- " << n << " violation" << (n == 1 ? "" : "s");
    std::cout << "\n";
    for (auto& [count, examples] : v.kinds(inv)) {
      std::cout << "          " << count << " x " << examples.front() << "\n";
      for (size_t i = 1; i < examples.size(); ++i)
        std::cout << "              also " << examples[i] << "\n";
    }
  };
  std::ostringstream s;
  s << "every saga reached a terminal state: " << f.sagas << " sagas, "
    << f.open << " unfinished; unfinished indexes empty";
  line("terminal", s.str());
  s.str("");
  s << "money and items conserved: money " << f.money_before << " -> "
    << f.money_after << " (" << f.spent << " logged as spent), items "
    << f.items_before << " -> " << f.items_after << " (" << f.bought
    << " bought); " << f.keys_compared
    << " balances, item counts and purchase records exactly as the journals "
       "imply";
  line("conservation", s.str());
  s.str("");
  s << "no step applied twice: " << f.executes << " executes and "
    << f.compensations
    << " compensations took effect, each (saga, step) at most once";
  line("applied-once", s.str());
  s.str("");
  s << "journals replay to what sagactl and the participants report: "
    << figs.replayed << " replayed, " << figs.catalog_equal
    << " equal to sagactl show's view, " << figs.sagactl_runs
    << " sagactl --json show runs identical, " << figs.barrier_records
    << " barrier records agree, " << f.results_compared
    << " client results agree";
  line("replay", s.str());
  s.str("");
  s << "no Redis key outlives its retention: " << figs.ttl_keys
    << " keys of ended sagas expire within " << o.retention.count()
    << " s (longest TTL " << figs.max_ttl_ms << " ms), " << figs.expired_on_time
    << " seen gone on time, ended indexes checked " << figs.ended_index_checks
    << " times (oldest entry " << figs.max_ended_age_ms / 1000 << " s), "
    << f.scanned_keys << " keys scanned at the end (" << f.planted_owners
    << " planted owners of sagas never written)";
  line("retention", s.str());
  std::cout << "  (the checker kept up: tracking passes at most "
            << figs.max_track_gap_ms << " ms apart, sagas checked at most "
            << figs.max_verify_lag_ms / 1000 << " s after they ended, "
            << figs.sagactl_skipped << " sampled sagactl runs left out)\n";
}

} // namespace

void print_report(const options& o, const run_counts& c, const figures& figs,
                  const final_figures& f, const violations& v) {
  print_faults(o, c, figs);
  print_outcomes(o, c, figs, f);
  print_invariants(o, figs, f, v);
}

} // namespace chaos
