#include "actors/lifecycle_hub.hpp"

#include <algorithm>

#include <caf/send.hpp>

namespace saga {

std::string_view to_string(lifecycle_kind x) noexcept {
  switch (x) {
    case lifecycle_kind::saga_started: return "saga_started";
    case lifecycle_kind::step_completed: return "step_completed";
    case lifecycle_kind::step_failed: return "step_failed";
    case lifecycle_kind::compensation_started: return "compensation_started";
    case lifecycle_kind::step_compensated: return "step_compensated";
    case lifecycle_kind::saga_completed: return "saga_completed";
    case lifecycle_kind::saga_compensated: return "saga_compensated";
    case lifecycle_kind::saga_failed: return "saga_failed";
    case lifecycle_kind::saga_retried: return "saga_retried";
    case lifecycle_kind::step_attempt_failed: return "step_attempt_failed";
  }
  return "unknown";
}

bool lifecycle_filter::matches(const lifecycle_event& ev) const noexcept {
  auto in = [](const auto& xs, const auto& x) {
    return xs.empty() || std::find(xs.begin(), xs.end(), x) != xs.end();
  };
  return in(definitions, ev.definition) && in(kinds, ev.kind);
}

} // namespace saga

namespace saga::detail {

uint64_t lifecycle_hub::subscribe(lifecycle_filter filter,
                                  lifecycle_actor subscriber) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto next = std::make_shared<list>(*subs_);
  auto id = ++next_id_;
  next->push_back(subscription{id, std::move(filter), std::move(subscriber)});
  count_.store(next->size(), std::memory_order_relaxed);
  subs_ = std::move(next);
  return id;
}

lifecycle_actor lifecycle_hub::unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto next = std::make_shared<list>(*subs_);
  auto i = std::find_if(next->begin(), next->end(),
                        [id](const subscription& x) { return x.id == id; });
  if (i == next->end())
    return {};
  auto actor = std::move(i->actor);
  next->erase(i);
  count_.store(next->size(), std::memory_order_relaxed);
  subs_ = std::move(next);
  return actor;
}

void lifecycle_hub::publish(const lifecycle_event& ev) const {
  std::shared_ptr<const list> snapshot;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    snapshot = subs_;
  }
  for (const auto& s : *snapshot)
    if (s.filter.matches(ev))
      caf::anon_send(s.actor, ev);
}

std::vector<lifecycle_actor> lifecycle_hub::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<lifecycle_actor> result;
  for (const auto& s : *subs_)
    result.push_back(s.actor);
  subs_ = std::make_shared<list>();
  count_.store(0, std::memory_order_relaxed);
  return result;
}

} // namespace saga::detail
