#include "actors/participant_barrier.hpp"

#include <cstdio>
#include <random>

namespace saga::detail {

std::string make_incarnation() {
  std::random_device rd;
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%08x%08x", rd(), rd());
  return buf;
}

gate_op* find_op(barrier_gate& g, const std::string& key, uint64_t claim) {
  auto i = g.inflight.find(key);
  return i != g.inflight.end() && i->second.claim == claim ? &i->second
                                                           : nullptr;
}

caf::error unknown_outcome(std::string why) {
  return make_error(errc::outcome_unknown, std::move(why));
}

void strip_internal(step_reply& reply) {
  reply.effects.clear(); // participant-internal
}

void strip_internal(caf::error&) {
  // nothing internal in an error
}

caf::actor_clock::time_point round_up(caf::actor_clock::time_point t) {
  auto tick = std::chrono::duration_cast<caf::timespan>(barrier_tick);
  auto since = t.time_since_epoch();
  auto rest = since % tick;
  return rest.count() == 0 ? t : t + (tick - rest);
}

} // namespace saga::detail
