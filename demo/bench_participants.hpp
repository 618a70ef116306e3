#pragma once

// The load generator's participants (bench/saga_bench.cpp), hosted in the
// bench's own process or, for `saga_bench --participants remote`, by a
// saga_node (`--participants=bench`, with `--fail-rate=F`): both sides run
// this same code.
//
//   bench-1 .. bench-10, each with two actions, all handlers in-actor:
//     op    execute and compensate do nothing
//     last  execute fails with probability `fail_rate` (doing nothing, so
//           the saga compensates the steps before it); compensate does
//           nothing
//
// A saga of N steps uses bench-1 .. bench-N, its last step with action
// "last".

#include <string>

#include <saga/saga.hpp>

namespace demo {

/// How many bench participants there are (bench-1 .. bench-10).
constexpr int bench_participant_count = 10;

/// Returns the name of bench participant `i` (1-based): "bench-<i>".
std::string bench_participant_name(int i);

/// Adds the actions "op" and "last" (see above) to `p`.
void add_bench_participant(saga::participant_builder& p, double fail_rate);

} // namespace demo
