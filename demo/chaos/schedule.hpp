// demo/chaos/schedule.hpp: the seeded fault schedule: which fault hits
// which node when, for how long, and the knobs of the incarnation a restart
// brings. Drawn up front from the campaign's seed (the same seed gives the
// same schedule); plain values, computed on one thread.

#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "demo/chaos/options.hpp"
#include "demo/chaos/processes.hpp"

namespace chaos {

enum class fault_kind : uint8_t {
  participant_kill,
  participant_pause_short,
  participant_pause_long,
  participant_restart,
  coordinator_kill,
  coordinator_pause_short,
  coordinator_pause_long,
  redis_restart,
};
constexpr size_t fault_kinds = 8;

/// Returns the fault's line in the report.
const char* fault_label(fault_kind k);

struct fault {
  ms at;
  fault_kind kind;
  size_t target = 0; // node index (unused for Redis)
  ms length{0};
  knobs next; // the restarted incarnation's
};

/// Returns the knobs of a node incarnation, drawn from `rng`: a third of
/// the incarnations run without the fault, the rest at a rate up to the
/// maximum of `o`.
knobs draw_knobs(std::mt19937_64& rng, const options& o, bool coordinator);

/// Returns the faults of the campaign, in time order: a fault starts every
/// `fault_interval` on average (exponentially distributed), at most two are
/// in effect at once, and never two on one node.
std::vector<fault> make_schedule(std::mt19937_64& rng, const options& o,
                                 const std::vector<node_proc>& nodes);

} // namespace chaos
