// Runs a one-step saga against an installed caf-saga; exits 0 only when the
// saga succeeded.

#include <iostream>

#include <saga/saga.hpp>

int main() {
  saga::runtime rt{saga::runtime_config{}};
  if (auto err = rt.start_error()) {
    std::cerr << "consumer: cannot start: " << saga::describe(err) << '\n';
    return 1;
  }
  rt.participant("greeter").on(
    "greet",
    [](const saga::step_context&, const saga::json& data) {
      return saga::step_outcome::ok(
        {{"greeting", "hello " + data.at("name").get<std::string>()}});
    },
    [](const saga::step_context&, const saga::json&) {
      return saga::step_outcome::ok();
    });
  saga::definition d{"consumer"};
  d.step("greet", "greeter", {{"name", "installed caf-saga"}});
  auto r = rt.execute(d).get();
  std::cout << "consumer: saga " << r.saga_id << " -> "
            << saga::to_string(r.state) << '\n';
  if (!r.success) {
    std::cerr << "consumer: " << saga::describe(r.error) << '\n';
    return 1;
  }
  return r.state == saga::saga_status::completed ? 0 : 1;
}
