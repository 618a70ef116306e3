#include "actors/scheduler_config.hpp"

#include <algorithm>
#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

namespace saga::detail {

void configure_scheduler(caf::actor_system_config& cfg, size_t threads) {
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", threads);
  // Zero: the moderate phase polls without sleeping (a few microseconds in
  // all), then the worker waits on its condition variable.
  cfg.set("work-stealing.moderate-sleep-duration", caf::timespan{0});
}

} // namespace saga::detail
