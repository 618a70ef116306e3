// What operators see of a saga, computed from its history alone: list
// entries, timelines with one operation per attempt, operator actions.

#include <gtest/gtest.h>

#include "admin/saga_view.hpp"
#include "saga/definition.hpp"

namespace saga {
namespace {

constexpr int64_t t0 = 1'700'000'000'000;

struct history {
  std::vector<event> events;

  history& add(event_type type, int32_t step = -1, uint32_t attempt = 0,
               std::string data = {}, std::string error = {}, int64_t dt = -1) {
    event ev;
    ev.seq = events.size() + 1;
    ev.type = type;
    ev.step = step;
    ev.attempt = attempt;
    ev.data = std::move(data);
    ev.error = std::move(error);
    ev.time_ms = t0 + (dt >= 0 ? dt : static_cast<int64_t>(ev.seq) * 10);
    events.push_back(std::move(ev));
    return *this;
  }
};

std::string purchase_text() {
  definition d{"purchase"};
  d.step("deduct_balance", "account").step("add_item", "inventory");
  return d.to_json().dump();
}

/// deduct_balance succeeds; add_item times out once, then fails for good;
/// both are compensated, deduct_balance on the second try.
history compensated_purchase() {
  history h;
  h.add(event_type::saga_started, -1, 0, purchase_text(), {}, 0)
    .add(event_type::step_started, 0, 1, {}, {}, 1)
    .add(event_type::step_succeeded, 0, 1, R"({"txId":"t-1"})", {}, 4)
    .add(event_type::step_started, 1, 1, {}, {}, 5)
    .add(event_type::step_attempt_timed_out, 1, 1, {}, "no answer", 15)
    .add(event_type::step_started, 1, 2, {}, {}, 20)
    .add(event_type::step_failed, 1, 2, {}, "sold out", 22)
    .add(event_type::compensation_started, 1, 0, R"({"code":"step_failed"})",
         "sold out", 23)
    .add(event_type::step_compensating, 1, 1, {}, {}, 24)
    .add(event_type::step_compensated, 1, 1, {}, {}, 26)
    .add(event_type::step_compensating, 0, 1, {}, {}, 27)
    .add(event_type::compensation_attempt_failed, 0, 1, {}, "busy", 28)
    .add(event_type::step_compensating, 0, 2, {}, {}, 30)
    .add(event_type::step_compensated, 0, 2, {}, {}, 32)
    .add(event_type::saga_compensated, -1, 0, {}, {}, 33);
  return h;
}

TEST(saga_view, owner_tokens_split_at_the_last_slash) {
  EXPECT_EQ(parse_owner_token("orders/7"),
            std::make_pair(std::string{"orders"}, uint64_t{7}));
  EXPECT_EQ(parse_owner_token("a/b/12").first, "a/b");
  EXPECT_EQ(parse_owner_token("a/b/12").second, 12u);
  EXPECT_EQ(parse_owner_token("lonely").first, "lonely");
  EXPECT_EQ(parse_owner_token("lonely").second, 0u);
  EXPECT_EQ(parse_owner_token("x/notanumber").second, 0u);
  EXPECT_EQ(parse_owner_token("").first, "");
}

TEST(saga_view, a_step_waiting_for_its_retry_says_which_attempt_and_when) {
  definition d{"purchase"};
  // Attempt 2 waits 100 ms at most (its delay without jitter).
  d.step("deduct_balance", "account")
    .retry(retry_policy{5, std::chrono::milliseconds{100}, 2.0,
                        std::chrono::seconds{10}});
  d.step("add_item", "inventory");
  history h;
  h.add(event_type::saga_started, -1, 0, d.to_json().dump(), {}, 0)
    .add(event_type::step_started, 0, 1, {}, {}, 1)
    .add(event_type::step_attempt_failed, 0, 1, {}, "busy", 50);
  auto st = replay("s-1", h.events);
  ASSERT_TRUE(st) << describe(st.error());
  auto x = retrying_json(*st, h.events);
  EXPECT_EQ(x, json({{"step", "deduct_balance"},
                     {"op", "execute"},
                     {"attempt", 1},
                     {"max_attempts", 5},
                     {"next_at_ms", t0 + 50 + 100},
                     {"error", "busy"}}))
    << x.dump();
  // The next attempt started: nothing waits any more.
  h.add(event_type::step_started, 0, 2, {}, {}, 150);
  st = replay("s-1", h.events);
  ASSERT_TRUE(st);
  EXPECT_TRUE(retrying_json(*st, h.events).is_null());
  // A compensation waits under its own policy.
  auto c = compensated_purchase();
  c.events.resize(12); // ... compensation_attempt_failed of deduct_balance
  st = replay("s-2", c.events);
  ASSERT_TRUE(st) << describe(st.error());
  auto y = retrying_json(*st, c.events);
  EXPECT_EQ(y.value("step", ""), "deduct_balance") << y.dump();
  EXPECT_EQ(y.value("op", ""), "compensate");
  EXPECT_EQ(y.value("attempt", 0), 1);
  EXPECT_EQ(y.value("error", ""), "busy");
  EXPECT_GT(y.value("next_at_ms", int64_t{0}), t0 + 28);
  // The timeline carries it too.
  EXPECT_EQ(saga_timeline_json("s-2", c.events, "orders", 7)["retrying"], y);
}

TEST(saga_view, a_summary_names_state_times_and_the_failed_step) {
  auto h = compensated_purchase();
  auto st = replay("s-1", h.events);
  ASSERT_TRUE(st) << describe(st.error());
  auto x = saga_summary_json(*st, "orders", 7);
  EXPECT_EQ(x["id"], "s-1");
  EXPECT_EQ(x["definition"], "purchase");
  EXPECT_EQ(x["state"], "compensated");
  EXPECT_EQ(x["owner"], "orders");
  EXPECT_EQ(x["epoch"], 7);
  EXPECT_EQ(x["started_ms"], t0);
  EXPECT_EQ(x["ended_ms"], t0 + 33);
  EXPECT_EQ(x["steps"], 2);
  EXPECT_EQ(x["steps_done"], 1);
  EXPECT_EQ(x["failed_step"], "add_item");
  EXPECT_EQ(x["error"], "sold out");
}

TEST(saga_view, the_timeline_has_one_operation_per_attempt) {
  auto h = compensated_purchase();
  auto x = saga_timeline_json("s-1", h.events, "orders", 7);
  EXPECT_EQ(x["state"], "compensated");
  EXPECT_EQ(x["error_code"], "step_failed");
  EXPECT_EQ(x["failed_step"], "add_item");
  EXPECT_FALSE(x.contains("invalid_history"));
  ASSERT_EQ(x["steps"].size(), 2u);
  const auto& s0 = x["steps"][0];
  EXPECT_EQ(s0["name"], "deduct_balance");
  EXPECT_EQ(s0["participant"], "account");
  EXPECT_EQ(s0["action"], "deduct_balance");
  EXPECT_EQ(s0["status"], "compensated");
  EXPECT_EQ(s0["result"], json({{"txId", "t-1"}}));
  EXPECT_EQ(s0["compensation_attempts"], 2);
  ASSERT_EQ(s0["operations"].size(), 3u);
  EXPECT_EQ(s0["operations"][0], json({{"op", "execute"},
                                       {"attempt", 1},
                                       {"started_ms", t0 + 1},
                                       {"ended_ms", t0 + 4},
                                       {"outcome", "succeeded"},
                                       {"error", ""}}));
  EXPECT_EQ(s0["operations"][1]["op"], "compensate");
  EXPECT_EQ(s0["operations"][1]["outcome"], "compensation_failed");
  EXPECT_EQ(s0["operations"][1]["error"], "busy");
  EXPECT_EQ(s0["operations"][2]["attempt"], 2);
  EXPECT_EQ(s0["operations"][2]["outcome"], "compensated");
  EXPECT_EQ(s0["operations"][2]["ended_ms"], t0 + 32);
  const auto& s1 = x["steps"][1];
  EXPECT_EQ(s1["status"], "compensated");
  EXPECT_EQ(s1["after"], json::array({"deduct_balance"}));
  ASSERT_EQ(s1["operations"].size(), 3u);
  EXPECT_EQ(s1["operations"][0]["outcome"], "timed_out");
  EXPECT_EQ(s1["operations"][0]["error"], "no answer");
  EXPECT_EQ(s1["operations"][1]["outcome"], "failed");
  EXPECT_EQ(s1["operations"][1]["error"], "sold out");
  EXPECT_EQ(s1["operations"][2]["op"], "compensate");
  EXPECT_EQ(s1["operations"][2]["outcome"], "compensated");
  ASSERT_EQ(x["events"].size(), h.events.size());
  EXPECT_EQ(x["events"][0], json({{"seq", 1},
                                  {"type", "saga_started"},
                                  {"step", nullptr},
                                  {"attempt", 0},
                                  {"error", ""},
                                  {"time_ms", t0}}));
  EXPECT_EQ(x["events"][4]["step"], 1);
  EXPECT_TRUE(x["operator_actions"].empty());
}

TEST(saga_view, an_unanswered_attempt_is_pending) {
  history h;
  h.add(event_type::saga_started, -1, 0, purchase_text())
    .add(event_type::step_started, 0, 1);
  auto x = saga_timeline_json("s-2", h.events, "", 0);
  EXPECT_EQ(x["state"], "running");
  EXPECT_EQ(x["ended_ms"], 0);
  ASSERT_EQ(x["steps"][0]["operations"].size(), 1u);
  EXPECT_EQ(x["steps"][0]["operations"][0]["outcome"], "pending");
  EXPECT_EQ(x["steps"][0]["operations"][0]["ended_ms"], 0);
  EXPECT_TRUE(x["steps"][1]["operations"].empty());
}

TEST(saga_view, aborts_and_retries_are_operator_actions) {
  history h;
  h.add(event_type::saga_started, -1, 0, purchase_text())
    .add(event_type::step_started, 0, 1)
    .add(event_type::step_succeeded, 0, 1, "{}")
    .add(event_type::compensation_started, 0, 0,
         R"({"code":"aborted","by":"alice"})", "aborted by alice", 500);
  auto actions = operator_actions_json(h.events);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0], json({{"action", "abort"},
                              {"by", "alice"},
                              {"time_ms", t0 + 500},
                              {"seq", 4}}));
  // A compensation for a failure is nobody's action.
  auto plain = compensated_purchase();
  EXPECT_TRUE(operator_actions_json(plain.events).empty());
  // Retries by the event's name, its data read generically.
  auto retried = parse_event_type("saga_retried");
  ASSERT_TRUE(retried);
  history r;
  r.add(event_type::saga_started, -1, 0, purchase_text());
  r.add(*retried, -1, 0, R"({"by":"bob","action":"retry"})", {}, 900);
  auto xs = operator_actions_json(r.events);
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0]["action"], "retry");
  EXPECT_EQ(xs[0]["by"], "bob");
  EXPECT_EQ(xs[0]["time_ms"], t0 + 900);
}

TEST(saga_view, a_history_that_does_not_replay_still_shows_its_events) {
  history h;
  h.add(event_type::saga_started, -1, 0, purchase_text())
    .add(event_type::step_started, 0, 1)
    .add(event_type::step_succeeded, 0, 1, "{}")
    .add(event_type::step_compensated, 0, 1); // never compensating
  auto x = saga_timeline_json("s-3", h.events, "orders", 2);
  EXPECT_TRUE(x["invalid_history"]);
  EXPECT_NE(x["error"].get<std::string>().find("event #4"), std::string::npos)
    << x["error"];
  // The state up to the bad event.
  EXPECT_EQ(x["state"], "running");
  EXPECT_EQ(x["steps"][0]["status"], "completed");
  EXPECT_EQ(x["events"].size(), 4u);
  EXPECT_EQ(x["owner"], "orders");
  EXPECT_EQ(x["epoch"], 2);
}

TEST(saga_view, a_history_without_its_start_has_no_steps) {
  history h;
  h.add(event_type::step_started, 0, 1);
  auto x = saga_timeline_json("s-4", h.events, "", 0);
  EXPECT_TRUE(x["invalid_history"]);
  EXPECT_TRUE(x["steps"].empty());
  EXPECT_EQ(x["definition"], "");
  EXPECT_EQ(x["events"].size(), 1u);
}

// -- bad input (docs/bad-input.md) ------------------------------------------------

TEST(saga_view, bad_input_a_result_nested_too_deep_is_shown_as_text) {
  // Dumping 100,000 nested arrays would overflow the stack (nlohmann dumps
  // recursively); the timeline shows such a result as its text instead.
  std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  history h;
  h.add(event_type::saga_started, -1, 0, purchase_text(), {}, 0)
    .add(event_type::step_started, 0, 1, {}, {}, 1)
    .add(event_type::step_succeeded, 0, 1, deep, {}, 4)
    .add(event_type::saga_retried, -1, 0, "{\"by\": " + deep + "}", {}, 5);
  auto j = saga_timeline_json("s-deep", h.events, "orders", 1);
  auto text = j.dump();
  const auto& result = j["steps"][0]["result"];
  ASSERT_TRUE(result.is_string()) << result.type_name();
  EXPECT_EQ(result.get<std::string>(), deep);
  // A shallow result is still shown as JSON.
  history ok;
  ok.add(event_type::saga_started, -1, 0, purchase_text(), {}, 0)
    .add(event_type::step_started, 0, 1, {}, {}, 1)
    .add(event_type::step_succeeded, 0, 1, R"({"a": [[1]]})", {}, 4);
  auto k = saga_timeline_json("s-ok", ok.events, "orders", 1);
  EXPECT_TRUE(k["steps"][0]["result"].is_object());
}

} // namespace
} // namespace saga
