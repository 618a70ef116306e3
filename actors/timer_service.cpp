#include "actors/timer_service.hpp"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace saga::detail {

namespace {

using time_point = caf::actor_clock::time_point;

struct timer_entry {
  time_point at;
  caf::actor_id target;
  /// Orders the heap: earliest on top.
  bool operator>(const timer_entry& other) const noexcept {
    return at > other.at;
  }
};

} // namespace

struct timer_table {
  /// Pending wake-ups, earliest first (a binary heap: 16 bytes each).
  std::vector<timer_entry> heap;
  /// Who to wake, by actor id; weak, so finished actors go away.
  std::unordered_map<caf::actor_id, caf::weak_actor_ptr> targets;
};

namespace {

struct timer_service_state {
  static inline const char* name = "saga.timers";
  std::shared_ptr<timer_table> table;
  /// When our own CAF timer fires next (max: none armed), and its
  /// generation: CAF 0.17 timers cannot be cancelled, stale ticks are
  /// ignored.
  time_point next_tick = time_point::max();
  uint64_t tick_generation = 0;
};

using service_pointer
  = timer_service_actor::stateful_pointer<timer_service_state>;

void arm_tick(service_pointer self) {
  auto& s = self->state;
  const auto& heap = s.table->heap;
  if (heap.empty() || heap.front().at >= s.next_tick)
    return;
  s.next_tick = heap.front().at;
  auto now = self->clock().now();
  auto delay = s.next_tick > now ? s.next_tick - now : caf::timespan{0};
  self->delayed_send(self, delay, timer_tick_atom::value, ++s.tick_generation);
}

void fire_due(service_pointer self) {
  auto& s = *self->state.table;
  auto now = self->clock().now();
  while (!s.heap.empty() && s.heap.front().at <= now) {
    std::pop_heap(s.heap.begin(), s.heap.end(), std::greater<>{});
    auto e = s.heap.back();
    s.heap.pop_back();
    auto i = s.targets.find(e.target);
    if (i == s.targets.end())
      continue; // disarmed
    auto target = caf::actor_cast<caf::strong_actor_ptr>(i->second);
    if (!target) {
      s.targets.erase(i); // gone without disarming (crashed)
      continue;
    }
    caf::anon_send(caf::actor_cast<caf::actor>(target), wake_atom::value, e.at);
  }
}

timer_service_actor::behavior_type
timer_service(service_pointer self, std::shared_ptr<timer_table> table) {
  self->state.table = std::move(table);
  arm_tick(self); // what an earlier incarnation left
  return {
    [self](arm_atom, time_point at, caf::actor_addr& who) {
      auto& s = *self->state.table;
      if (!who)
        return;
      auto id = who.id();
      s.targets.try_emplace(id, caf::actor_cast<caf::weak_actor_ptr>(who));
      s.heap.push_back(timer_entry{at, id});
      std::push_heap(s.heap.begin(), s.heap.end(), std::greater<>{});
      arm_tick(self);
    },
    [self](disarm_atom, caf::actor_id id) {
      self->state.table->targets.erase(id);
    },
    [self](timer_tick_atom, uint64_t generation) {
      auto& s = self->state;
      if (generation != s.tick_generation)
        return; // superseded by an earlier tick
      s.next_tick = time_point::max();
      fire_due(self);
      arm_tick(self);
    },
  };
}

} // namespace

std::shared_ptr<timer_table> make_timer_table() {
  return std::make_shared<timer_table>();
}

timer_service_actor spawn_timer_service(caf::actor_system& sys,
                                        std::shared_ptr<timer_table> table) {
  return sys.spawn(timer_service, std::move(table));
}

void wake_up::at_latest(const timer_service_actor& service,
                        caf::actor_addr self, time_point at) {
  if (at >= armed_ || !service)
    return;
  armed_ = at;
  known_ = true;
  caf::anon_send(service, arm_atom::value, at, std::move(self));
}

void wake_up::release(const timer_service_actor& service, caf::actor_id self) {
  if (!known_ || !service)
    return;
  armed_ = time_point::max();
  known_ = false;
  caf::anon_send(service, disarm_atom::value, self);
}

} // namespace saga::detail
