#include "demo/chaos/schedule.hpp"

#include <algorithm>
#include <optional>

namespace chaos {

const char* fault_label(fault_kind k) {
  switch (k) {
    case fault_kind::participant_kill:
      return "participant node SIGKILL, restarted after 0.2-3 s";
    case fault_kind::participant_pause_short:
      return "participant node SIGSTOP 0.1-0.7 s (< lease)";
    case fault_kind::participant_pause_long:
      return "participant node SIGSTOP 1.5-5 s (> lease)";
    case fault_kind::participant_restart:
      return "participant node SIGTERM, restarted (new rates)";
    case fault_kind::coordinator_kill:
      return "coordinator SIGKILL, restarted after 0.1-3 s";
    case fault_kind::coordinator_pause_short:
      return "coordinator SIGSTOP 0.1-0.7 s (< lease)";
    case fault_kind::coordinator_pause_long:
      return "coordinator SIGSTOP 1.5-5 s (> lease)";
    case fault_kind::redis_restart:
      return "redis-server SIGKILL, restarted from its AOF";
  }
  return "?";
}

knobs draw_knobs(std::mt19937_64& rng, const options& o, bool coordinator) {
  std::uniform_real_distribution<double> unit{0, 1};
  knobs k;
  // A third of the incarnations run without the fault, the rest at a rate
  // up to the maximum.
  auto pick = [&](double max) {
    return unit(rng) < 1.0 / 3 ? 0.0 : max * unit(rng);
  };
  if (coordinator) {
    k.duplicate = pick(o.max_duplicate);
    k.delay = pick(o.max_delay_rate);
  } else {
    k.fail = pick(o.max_fail);
    k.slow = pick(o.max_slow);
  }
  k.seed = rng() | 1;
  return k;
}

namespace {

/// Returns whether faults of kind `k` hit a coordinator.
bool hits_coordinator(fault_kind k) {
  return k == fault_kind::coordinator_kill
         || k == fault_kind::coordinator_pause_short
         || k == fault_kind::coordinator_pause_long;
}

/// Draws how long fault `f` lasts and the knobs of the incarnation that
/// follows it (the draws, in this order, are part of what a seed gives).
void draw_length(std::mt19937_64& rng, const options& o, fault& f) {
  // Stateless (generate_canonical): a fresh one draws as the caller's would.
  std::uniform_real_distribution<double> unit{0, 1};
  auto uniform_ms = [&](int64_t lo, int64_t hi) {
    return ms{lo
              + static_cast<int64_t>(unit(rng) * static_cast<double>(hi - lo))};
  };
  switch (f.kind) {
    case fault_kind::participant_kill:
    case fault_kind::coordinator_kill:
      f.length = f.kind == fault_kind::participant_kill ? uniform_ms(200, 3000)
                                                        : uniform_ms(100, 3000);
      f.next = draw_knobs(rng, o, hits_coordinator(f.kind));
      break;
    case fault_kind::participant_pause_short:
    case fault_kind::coordinator_pause_short:
      f.length = uniform_ms(100, 700);
      break;
    case fault_kind::participant_pause_long:
    case fault_kind::coordinator_pause_long:
      f.length = uniform_ms(1500, 5000);
      break;
    case fault_kind::participant_restart:
      f.next = draw_knobs(rng, o, false);
      break;
    case fault_kind::redis_restart: f.length = uniform_ms(200, 2000); break;
  }
}

/// Returns the node fault `f` hits at time `f.at`: one of its kind not busy
/// then, chosen by `pick` in [0, 1); Redis is `nodes.size()`. None when every
/// such node is busy.
std::optional<size_t> pick_target(const fault& f, double pick,
                                  const std::vector<node_proc>& nodes,
                                  const std::vector<ms>& busy_until) {
  if (f.kind == fault_kind::redis_restart)
    return nodes.size();
  std::vector<size_t> free;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].coordinator == hits_coordinator(f.kind)
        && busy_until[i] <= f.at)
      free.push_back(i);
  if (free.empty())
    return std::nullopt;
  return free[std::min(free.size() - 1,
                       static_cast<size_t>(
                         pick * static_cast<double>(free.size())))];
}

} // namespace

std::vector<fault> make_schedule(std::mt19937_64& rng, const options& o,
                                 const std::vector<node_proc>& nodes) {
  std::vector<fault> result;
  std::uniform_real_distribution<double> unit{0, 1};
  std::exponential_distribution<double> gap{
    1.0 / static_cast<double>(o.fault_interval.count())};
  const double weights[fault_kinds] = {3, 2, 2, 1, 2, 1, 2, 1.5};
  std::discrete_distribution<int> kind{std::begin(weights), std::end(weights)};
  auto end = o.duration - o.quiet;
  std::vector<ms> busy_until(nodes.size() + 1, ms{0}); // last: Redis
  std::vector<ms> active; // end times of the faults in effect
  ms t = 3s;
  while (true) {
    t += ms{static_cast<int64_t>(gap(rng))};
    if (t >= end)
      break;
    auto k = static_cast<fault_kind>(kind(rng));
    auto pick = unit(rng);
    active.erase(std::remove_if(active.begin(), active.end(),
                                [&](ms x) { return x <= t; }),
                 active.end());
    if (active.size() >= 2)
      continue; // two faults in effect already
    fault f{t, k, 0, ms{0}, {}};
    auto target = pick_target(f, pick, nodes, busy_until);
    if (!target || busy_until[*target] > t)
      continue;
    f.target = *target;
    draw_length(rng, o, f);
    if (t + f.length >= end)
      continue;
    // A restarted node needs a moment before it is a target again.
    busy_until[f.target] = t + f.length + 2s;
    active.push_back(t + f.length + 1s);
    result.push_back(f);
  }
  return result;
}

} // namespace chaos
