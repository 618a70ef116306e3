#include "saga/step_context.hpp"

#include "saga/messages.hpp"

namespace saga {

step_context::step_context(const step_command& cmd, json results)
  : id_(cmd.id),
    saga_name_(cmd.saga_name),
    step_(cmd.step),
    attempt_(cmd.attempt),
    execute_recorded_(!cmd.execute_unrecorded),
    results_(std::move(results)) {
  if (!results_.is_object())
    results_ = json::object();
}

const json& step_context::result_of(std::string_view name) const {
  static const json null_value;
  auto i = results_.find(name);
  return i != results_.end() ? *i : null_value;
}

bool step_context::has_result(std::string_view name) const {
  return results_.find(name) != results_.end();
}

} // namespace saga
