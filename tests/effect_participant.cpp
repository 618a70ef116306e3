#include "tests/effect_participant.hpp"

#include <cstdio>
#include <memory>
#include <optional>

#include "persistence/redis_connection.hpp"

namespace saga::test {

namespace {

/// Records one effect; returns false if Redis could not be reached.
bool record(const std::string& url, const std::string& tag,
            const std::string& field) {
  thread_local std::optional<redis_connection> conn;
  if (!conn || conn->broken()) {
    auto ep = parse_redis_url(url);
    auto c = redis_connection::connect(*ep, std::chrono::seconds{2});
    if (!c)
      return false;
    conn = std::move(*c);
  }
  auto calls = "calls:{" + tag + "}";
  auto effects = "effects:{" + tag + "}";
  conn->append({"HINCRBY", calls, field, "1"});
  conn->append({"HSETNX", effects, field, "1"});
  return conn->read() && conn->read();
}

} // namespace

void add_effect_participant(runtime& rt, const std::string& redis_url,
                            const std::string& tag, bool print_progress,
                            const std::function<void()>& on_effect) {
  auto handler = [redis_url, tag, print_progress, on_effect](std::string op) {
    return [=](const step_context& ctx, const json& data) {
      if (op == "exec" && data.value("fail", false))
        return step_outcome::fail("scripted failure at " + ctx.step());
      if (!record(redis_url, tag, ctx.id() + "/" + ctx.step() + "/" + op))
        return step_outcome::fail("cannot record the effect", true);
      if (print_progress) {
        std::fputs("e\n", stdout);
        std::fflush(stdout);
      }
      if (on_effect)
        on_effect();
      return step_outcome::ok({{"op", op}});
    };
  };
  auto& p = rt.participant("acct");
  for (const char* step : {"s1", "s2", "s3"})
    p.on_blocking(step, handler("exec"), handler("comp"));
}

definition crash_saga(int index, std::chrono::milliseconds timeout,
                      uint32_t attempts) {
  using namespace std::chrono_literals;
  definition d{"crash"};
  auto fail = index % 3 == 2;
  retry_policy retry{attempts, 20ms, 2.0, 200ms, 0.2};
  retry_policy comp{100, 20ms, 2.0, 200ms, 0.2};
  d.step("s1", "acct")
    .timeout(timeout)
    .retry(retry)
    .compensation_timeout(timeout)
    .compensation_retry(comp)
    .step("s2", "acct")
    .timeout(timeout)
    .retry(retry)
    .compensation_timeout(timeout)
    .compensation_retry(comp)
    .step("s3", "acct", json{{"fail", fail}})
    .timeout(timeout)
    .retry(retry);
  return d;
}

} // namespace saga::test
