#include "saga/errc.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace saga {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::no_steps: return "no_steps";
    case errc::empty_name: return "empty_name";
    case errc::duplicate_step: return "duplicate_step";
    case errc::unknown_participant: return "unknown_participant";
    case errc::invalid_timeout: return "invalid_timeout";
    case errc::invalid_backoff: return "invalid_backoff";
    case errc::invalid_retry: return "invalid_retry";
    case errc::invalid_payload: return "invalid_payload";
    case errc::step_failed: return "step_failed";
    case errc::step_timeout: return "step_timeout";
    case errc::deadline_exceeded: return "deadline_exceeded";
    case errc::compensation_failed: return "compensation_failed";
    case errc::saga_crashed: return "saga_crashed";
    case errc::unknown_action: return "unknown_action";
    case errc::handler_failed: return "handler_failed";
    case errc::journal_failure: return "journal_failure";
    case errc::journal_conflict: return "journal_conflict";
    case errc::unknown_saga: return "unknown_saga";
    case errc::invalid_event: return "invalid_event";
    case errc::invalid_url: return "invalid_url";
    case errc::invalid_config: return "invalid_config";
    case errc::shutting_down: return "shutting_down";
    case errc::overloaded: return "overloaded";
    case errc::recovered_compensate: return "recovered_compensate";
    case errc::restart_intensity: return "restart_intensity";
    case errc::child_start_failed: return "child_start_failed";
    case errc::unknown_child: return "unknown_child";
    case errc::saga_parked: return "saga_parked";
    case errc::injected_fault: return "injected_fault";
    case errc::unknown_dependency: return "unknown_dependency";
    case errc::dependency_cycle: return "dependency_cycle";
    case errc::invalid_pivot: return "invalid_pivot";
    case errc::forward_recovery_failed: return "forward_recovery_failed";
    case errc::fenced: return "fenced";
    case errc::no_route: return "no_route";
    case errc::invalid_request: return "invalid_request";
    case errc::invalid_state: return "invalid_state";
    case errc::aborted: return "aborted";
    case errc::outcome_unknown: return "outcome_unknown";
    case errc::invalid_id: return "invalid_id";
    case errc::in_progress: return "in_progress";
  }
  return "unknown_error";
}

std::optional<errc> parse_errc(std::string_view name) noexcept {
  for (auto i = static_cast<uint8_t>(errc::no_steps);
       i <= static_cast<uint8_t>(errc::in_progress); ++i)
    if (name == to_string(static_cast<errc>(i)))
      return static_cast<errc>(i);
  return std::nullopt;
}

caf::atom_value error_category() noexcept {
  return caf::atom("saga");
}

caf::error make_error(errc code) {
  return caf::error{static_cast<uint8_t>(code), error_category()};
}

caf::error make_error(errc code, std::string what) {
  return caf::error{static_cast<uint8_t>(code), error_category(),
                    caf::make_message(std::move(what))};
}

bool is(const caf::error& err, errc code) noexcept {
  return err && err.category() == error_category()
         && err.code() == static_cast<uint8_t>(code);
}

std::string describe(const caf::error& err) {
  if (!err)
    return "none";
  std::string result;
  if (err.category() == error_category()) {
    result = "saga::";
    result += to_string(static_cast<errc>(err.code()));
  } else if (err.category() == caf::atom("system")) {
    result = "caf::";
    result += caf::to_string(static_cast<caf::sec>(err.code()));
  } else {
    return caf::to_string(err);
  }
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) {
    result += ": ";
    result += ctx.get_as<std::string>(0);
  } else if (!ctx.empty()) {
    result += ": ";
    result += caf::to_string(ctx);
  }
  return result;
}

} // namespace saga
