#include "saga/status.hpp"

namespace saga {

std::string_view to_string(saga_status x) noexcept {
  switch (x) {
    case saga_status::pending: return "pending";
    case saga_status::running: return "running";
    case saga_status::completed: return "completed";
    case saga_status::compensating: return "compensating";
    case saga_status::compensated: return "compensated";
    case saga_status::failed: return "failed";
  }
  return "unknown";
}

std::string_view to_string(step_status x) noexcept {
  switch (x) {
    case step_status::pending: return "pending";
    case step_status::executing: return "executing";
    case step_status::completed: return "completed";
    case step_status::compensating: return "compensating";
    case step_status::compensated: return "compensated";
    case step_status::failed: return "failed";
  }
  return "unknown";
}

std::optional<saga_status> parse_saga_status(std::string_view name) noexcept {
  for (auto x : {saga_status::pending, saga_status::running,
                 saga_status::completed, saga_status::compensating,
                 saga_status::compensated, saga_status::failed})
    if (to_string(x) == name)
      return x;
  return std::nullopt;
}

} // namespace saga
