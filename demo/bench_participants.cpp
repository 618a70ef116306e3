#include "demo/bench_participants.hpp"

#include <random>

namespace demo {

std::string bench_participant_name(int i) {
  return "bench-" + std::to_string(i);
}

void add_bench_participant(saga::participant_builder& p, double fail_rate) {
  auto noop = [](const saga::step_context&, const saga::json&) {
    return saga::step_outcome::ok();
  };
  auto maybe_fail = [fail_rate](const saga::step_context&, const saga::json&) {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    thread_local std::uniform_real_distribution<double> dist{0.0, 1.0};
    if (fail_rate > 0 && dist(gen) < fail_rate)
      return saga::step_outcome::fail("injected failure");
    return saga::step_outcome::ok();
  };
  p.on("op", noop, noop);
  p.on("last", maybe_fail, noop);
}

} // namespace demo
