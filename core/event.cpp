#include "saga/event.hpp"

#include <charconv>

namespace saga {

namespace {

constexpr event_type all_event_types[] = {
  event_type::saga_started,
  event_type::step_started,
  event_type::step_succeeded,
  event_type::step_attempt_failed,
  event_type::step_attempt_timed_out,
  event_type::step_failed,
  event_type::step_timed_out,
  event_type::compensation_started,
  event_type::step_compensating,
  event_type::step_compensated,
  event_type::compensation_attempt_failed,
  event_type::compensation_failed,
  event_type::saga_completed,
  event_type::saga_compensated,
  event_type::saga_failed,
  event_type::saga_parked,
  event_type::saga_retried,
};

} // namespace

std::string_view to_string(event_type x) noexcept {
  switch (x) {
    case event_type::saga_started: return "saga_started";
    case event_type::step_started: return "step_started";
    case event_type::step_succeeded: return "step_succeeded";
    case event_type::step_attempt_failed: return "step_attempt_failed";
    case event_type::step_attempt_timed_out: return "step_attempt_timed_out";
    case event_type::step_failed: return "step_failed";
    case event_type::step_timed_out: return "step_timed_out";
    case event_type::compensation_started: return "compensation_started";
    case event_type::step_compensating: return "step_compensating";
    case event_type::step_compensated: return "step_compensated";
    case event_type::compensation_attempt_failed:
      return "compensation_attempt_failed";
    case event_type::compensation_failed: return "compensation_failed";
    case event_type::saga_completed: return "saga_completed";
    case event_type::saga_compensated: return "saga_compensated";
    case event_type::saga_failed: return "saga_failed";
    case event_type::saga_parked: return "saga_parked";
    case event_type::saga_retried: return "saga_retried";
  }
  return "unknown";
}

std::optional<event_type> parse_event_type(std::string_view name) noexcept {
  for (auto x : all_event_types)
    if (to_string(x) == name)
      return x;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(),
                                   value);
  if (ec == std::errc{} && end == name.data() + name.size())
    for (auto x : all_event_types)
      if (static_cast<unsigned>(x) == value)
        return x;
  return std::nullopt;
}

std::string to_string(const event& x) {
  std::string result = "#";
  result += std::to_string(x.seq);
  result += ' ';
  result += to_string(x.type);
  if (x.step >= 0) {
    result += " step=";
    result += std::to_string(x.step);
  }
  if (x.attempt > 0) {
    result += " attempt=";
    result += std::to_string(x.attempt);
  }
  if (!x.error.empty()) {
    result += " error=\"";
    result += x.error;
    result += '"';
  }
  if (!x.data.empty() && x.type != event_type::saga_started) {
    result += " data=";
    result += x.data;
  }
  return result;
}

} // namespace saga
