// Unit tests of saga::definition: the fluent builder, validate() and the JSON
// form stored in journals.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "saga/definition.hpp"
#include "saga/errc.hpp"

using namespace std::chrono_literals;
using saga::definition;
using saga::errc;
using saga::json;
using saga::retry_policy;

namespace {

// A valid two-step definition; tests break one aspect of it at a time.
definition valid_def() {
  definition def{"order"};
  def.step("reserve", "inventory", json{{"sku", "A-1"}, {"qty", 2}})
    .step("charge", "payments", json{{"amount", 42}});
  return def;
}

// Checks that `err` carries `code` and that its message contains `needle`.
::testing::AssertionResult fails_with(const caf::error& err, errc code,
                                      const std::string& needle) {
  if (!err)
    return ::testing::AssertionFailure()
           << "expected " << saga::to_string(code) << ", got no error";
  auto text = saga::describe(err);
  if (!saga::is(err, code))
    return ::testing::AssertionFailure()
           << "expected " << saga::to_string(code) << ", got " << text;
  if (text.find(needle) == std::string::npos)
    return ::testing::AssertionFailure()
           << "message '" << text << "' does not mention '" << needle << "'";
  return ::testing::AssertionSuccess();
}

// A definition whose only step "s" has its retry (or compensation retry)
// policy replaced by `p`.
definition with_policy(const retry_policy& p, bool compensation) {
  definition def{"saga"};
  def.step("s", "p");
  if (compensation)
    def.compensation_retry(p);
  else
    def.retry(p);
  return def;
}

const double not_a_number = std::numeric_limits<double>::quiet_NaN();

} // namespace

// -- the fluent builder -------------------------------------------------------

TEST(definition_builder, step_appends_steps_in_order_with_defaults) {
  definition def{"order"};
  EXPECT_EQ(def.name(), "order");
  EXPECT_TRUE(def.steps().empty());
  def.step("reserve", "inventory", json{{"sku", "A-1"}});
  def.step("charge", "payments");
  ASSERT_EQ(def.steps().size(), 2u);
  const auto& s0 = def.steps()[0];
  const auto& s1 = def.steps()[1];
  EXPECT_EQ(s0.name, "reserve");
  EXPECT_EQ(s0.participant, "inventory");
  EXPECT_EQ(s0.payload, (json{{"sku", "A-1"}}));
  EXPECT_EQ(s1.name, "charge");
  EXPECT_EQ(s1.participant, "payments");
  EXPECT_EQ(s1.payload, json::object());
  // Defaults of a fresh step.
  EXPECT_EQ(s1.timeout, 5000ms);
  EXPECT_EQ(s1.compensation_timeout, 5000ms);
  EXPECT_EQ(s1.retry.max_attempts, 1u);
  EXPECT_EQ(s1.compensation_retry.max_attempts,
            retry_policy::compensation_default().max_attempts);
  EXPECT_EQ(def.deadline(), 0ms);
}

TEST(definition_builder, action_defaults_to_step_name) {
  definition def{"order"};
  def.step("reserve", "inventory");
  EXPECT_EQ(def.steps()[0].action, "reserve");
}

TEST(definition_builder, modifiers_apply_to_the_last_step_only) {
  definition def{"order"};
  def.step("reserve", "inventory")
    .step("charge", "payments")
    .action("debit")
    .timeout(250ms)
    .retry(retry_policy{3, 10ms, 3.0, 500ms, 0.5})
    .compensation_timeout(750ms)
    .compensation_retry(retry_policy{7, 20ms, 1.5, 900ms, 0.1});
  ASSERT_EQ(def.steps().size(), 2u);
  const auto& first = def.steps()[0];
  EXPECT_EQ(first.action, "reserve");
  EXPECT_EQ(first.timeout, 5000ms);
  EXPECT_EQ(first.compensation_timeout, 5000ms);
  EXPECT_EQ(first.retry.max_attempts, 1u);
  const auto& last = def.steps()[1];
  EXPECT_EQ(last.action, "debit");
  EXPECT_EQ(last.timeout, 250ms);
  EXPECT_EQ(last.retry.max_attempts, 3u);
  EXPECT_EQ(last.retry.initial_backoff, 10ms);
  EXPECT_EQ(last.retry.multiplier, 3.0);
  EXPECT_EQ(last.retry.max_backoff, 500ms);
  EXPECT_EQ(last.retry.jitter, 0.5);
  EXPECT_EQ(last.compensation_timeout, 750ms);
  EXPECT_EQ(last.compensation_retry.max_attempts, 7u);
  EXPECT_EQ(last.compensation_retry.initial_backoff, 20ms);
  EXPECT_EQ(last.compensation_retry.multiplier, 1.5);
  EXPECT_EQ(last.compensation_retry.max_backoff, 900ms);
  EXPECT_EQ(last.compensation_retry.jitter, 0.1);
}

TEST(definition_builder, deadline_sets_the_saga_deadline) {
  auto def = valid_def();
  def.deadline(30s);
  EXPECT_EQ(def.deadline(), 30'000ms);
  EXPECT_FALSE(def.validate());
}

TEST(definition_builder, index_of_finds_steps_by_name) {
  auto def = valid_def();
  EXPECT_EQ(def.index_of("reserve"), 0);
  EXPECT_EQ(def.index_of("charge"), 1);
  EXPECT_EQ(def.index_of("ship"), -1);
}

// -- validate(): valid definitions --------------------------------------------

TEST(definition_validate, valid_definition_has_no_error) {
  auto def = valid_def();
  def.action("debit")
    .timeout(1ms)
    .retry(retry_policy{5, 1ms, 1.0, 1ms, 0.0})
    .compensation_timeout(1ms)
    .compensation_retry(retry_policy{1, 1ms, 2.0, 10ms, 1.0})
    .deadline(0ms);
  auto err = def.validate();
  EXPECT_FALSE(err) << saga::describe(err);
}

// -- validate(): saga-level problems ------------------------------------------

TEST(definition_validate, rejects_definition_without_steps) {
  definition def{"order"};
  EXPECT_TRUE(
    fails_with(def.validate(), errc::no_steps, "'order' has no steps"));
}

TEST(definition_validate, rejects_empty_saga_name) {
  definition def{""};
  def.step("reserve", "inventory");
  EXPECT_TRUE(fails_with(def.validate(), errc::empty_name, "no name"));
  EXPECT_TRUE(fails_with(definition{}.step("a", "b").validate(),
                         errc::empty_name, "no name"));
}

TEST(definition_validate, rejects_negative_deadline) {
  auto def = valid_def();
  def.deadline(-1ms);
  EXPECT_TRUE(fails_with(def.validate(), errc::invalid_timeout, "deadline"));
}

TEST(definition_validate, rejects_modifier_called_before_any_step) {
  definition def{"order"};
  def.timeout(100ms).step("reserve", "inventory");
  EXPECT_TRUE(fails_with(def.validate(), errc::no_steps,
                         "timeout() was called before any step()"));
  // The misuse does not leak into the step added afterwards.
  EXPECT_EQ(def.steps()[0].timeout, 5000ms);
}

TEST(definition_validate, rejects_every_modifier_called_before_any_step) {
  using modifier = std::function<void(definition&)>;
  const std::pair<const char*, modifier> cases[] = {
    {"action()", [](definition& d) { d.action("x"); }},
    {"timeout()", [](definition& d) { d.timeout(1ms); }},
    {"retry()", [](definition& d) { d.retry(retry_policy{}); }},
    {"compensation_timeout()",
     [](definition& d) { d.compensation_timeout(1ms); }},
    {"compensation_retry()",
     [](definition& d) { d.compensation_retry(retry_policy{}); }},
  };
  for (const auto& [name, apply] : cases) {
    definition def{"order"};
    apply(def);
    def.step("reserve", "inventory");
    EXPECT_TRUE(fails_with(def.validate(), errc::no_steps, name)) << name;
  }
}

// -- validate(): step-level problems ------------------------------------------

TEST(definition_validate, rejects_empty_step_name) {
  definition def{"order"};
  def.step("reserve", "inventory").step("", "payments");
  EXPECT_TRUE(fails_with(def.validate(), errc::empty_name, "step #2"));
  EXPECT_TRUE(fails_with(def.validate(), errc::empty_name, "empty name"));
}

TEST(definition_validate, rejects_duplicate_step_names) {
  definition def{"order"};
  def.step("reserve", "inventory")
    .step("charge", "payments")
    .step("reserve", "warehouse");
  EXPECT_TRUE(fails_with(def.validate(), errc::duplicate_step,
                         "step 'reserve' is defined twice"));
}

TEST(definition_validate, rejects_empty_participant) {
  definition def{"order"};
  def.step("reserve", "");
  EXPECT_TRUE(fails_with(def.validate(), errc::empty_name,
                         "step 'reserve' names no participant"));
}

TEST(definition_validate, rejects_empty_action) {
  auto def = valid_def();
  def.action("");
  EXPECT_TRUE(fails_with(def.validate(), errc::empty_name,
                         "step 'charge' has an empty action"));
}

TEST(definition_validate, rejects_payload_that_is_not_an_object) {
  const std::pair<json, const char*> cases[] = {
    {json::array({1, 2}), "array"}, {json("text"), "string"},
    {json(42), "number"},           {json(1.5), "number"},
    {json(nullptr), "null"},        {json(true), "boolean"},
  };
  for (const auto& [payload, type] : cases) {
    definition def{"order"};
    def.step("reserve", "inventory", payload);
    auto err = def.validate();
    EXPECT_TRUE(fails_with(err, errc::invalid_payload, "step 'reserve'"))
      << payload.dump();
    EXPECT_TRUE(fails_with(err, errc::invalid_payload, type)) << payload.dump();
  }
}

TEST(definition_validate, accepts_empty_and_nested_object_payloads) {
  definition def{"order"};
  def.step("a", "p", json::object())
    .step("b", "p",
          json{{"x", {{"y", json::array({1, json{{"z", nullptr}}})}}}});
  EXPECT_FALSE(def.validate());
}

TEST(definition_validate, rejects_non_positive_timeout) {
  for (auto t : {0ms, -1ms, -5000ms}) {
    auto def = valid_def();
    def.timeout(t);
    EXPECT_TRUE(fails_with(def.validate(), errc::invalid_timeout,
                           "the timeout of step 'charge'"))
      << t.count();
  }
}

TEST(definition_validate, rejects_non_positive_compensation_timeout) {
  for (auto t : {0ms, -1ms}) {
    auto def = valid_def();
    def.compensation_timeout(t);
    EXPECT_TRUE(fails_with(def.validate(), errc::invalid_timeout,
                           "compensation timeout of step 'charge'"))
      << t.count();
  }
}

TEST(definition_validate, reports_the_first_invalid_step) {
  definition def{"order"};
  def.step("a", "p").timeout(0ms).step("b", "").step("c", "p");
  EXPECT_TRUE(fails_with(def.validate(), errc::invalid_timeout, "step 'a'"));
}

// -- validate(): retry policies -----------------------------------------------

// Runs the same checks against the retry policy and the compensation retry
// policy; `which` is the policy name the message must mention.
class definition_policy_validate : public ::testing::TestWithParam<bool> {
protected:
  bool compensation() const {
    return GetParam();
  }

  std::string which() const {
    return compensation() ? "the compensation retry policy of step 's'"
                          : "the retry policy of step 's'";
  }

  caf::error check(const retry_policy& p) const {
    return with_policy(p, compensation()).validate();
  }
};

TEST_P(definition_policy_validate, accepts_valid_policy) {
  auto err = check(retry_policy{3, 10ms, 2.0, 1000ms, 0.2});
  EXPECT_FALSE(err) << saga::describe(err);
}

TEST_P(definition_policy_validate, rejects_zero_max_attempts) {
  retry_policy p{0, 10ms};
  EXPECT_TRUE(fails_with(check(p), errc::invalid_retry, which()));
  EXPECT_TRUE(fails_with(check(p), errc::invalid_retry, "max_attempts"));
}

TEST_P(definition_policy_validate, rejects_non_positive_initial_backoff) {
  for (auto b : {0ms, -10ms}) {
    retry_policy p{3, b};
    EXPECT_TRUE(fails_with(check(p), errc::invalid_backoff, which()));
    EXPECT_TRUE(fails_with(check(p), errc::invalid_backoff,
                           "initial backoff must be positive"));
  }
}

TEST_P(definition_policy_validate, rejects_max_backoff_below_initial) {
  retry_policy p{3, 100ms, 2.0, 99ms};
  EXPECT_TRUE(fails_with(check(p), errc::invalid_backoff, which()));
  EXPECT_TRUE(fails_with(check(p), errc::invalid_backoff,
                         "max backoff is below the initial backoff"));
  // Equal bounds are fine.
  EXPECT_FALSE(check(retry_policy{3, 100ms, 2.0, 100ms}));
}

TEST_P(definition_policy_validate, rejects_multiplier_below_one_or_na_n) {
  for (auto m : {0.99, 0.0, -2.0, not_a_number,
                 std::numeric_limits<double>::infinity()}) {
    retry_policy p{3, 10ms, m};
    EXPECT_TRUE(fails_with(check(p), errc::invalid_backoff, which())) << m;
    EXPECT_TRUE(fails_with(check(p), errc::invalid_backoff, "multiplier")) << m;
  }
  EXPECT_FALSE(check(retry_policy{3, 10ms, 1.0}));
}

TEST_P(definition_policy_validate, rejects_jitter_outside_unit_interval) {
  for (auto j : {-0.01, 1.01, not_a_number}) {
    retry_policy p{3, 10ms, 2.0, 1000ms, j};
    EXPECT_TRUE(fails_with(check(p), errc::invalid_retry, which())) << j;
    EXPECT_TRUE(fails_with(check(p), errc::invalid_retry, "jitter")) << j;
  }
  EXPECT_FALSE(check(retry_policy{3, 10ms, 2.0, 1000ms, 0.0}));
  EXPECT_FALSE(check(retry_policy{3, 10ms, 2.0, 1000ms, 1.0}));
}

INSTANTIATE_TEST_SUITE_P(execute_and_compensation, definition_policy_validate,
                         ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "compensation_retry" : "retry";
                         });

// -- JSON round trip ----------------------------------------------------------

TEST(definition_json, round_trip_preserves_everything) {
  definition def{"order"};
  def
    .step("reserve", "inventory",
          json{{"sku", "A-1"},
               {"qty", 2},
               {"nested",
                {{"list", json::array({1, "two", 3.5})},
                 {"obj", {{"deep", true}}}}}})
    .timeout(1234ms)
    .retry(retry_policy{4, 15ms, 1.5, 700ms, 0.25})
    .compensation_timeout(4321ms)
    .compensation_retry(retry_policy{9, 33ms, 3.0, 9000ms, 0.75})
    .step("charge", "payments")
    .action("debit")
    .deadline(60'000ms);
  ASSERT_FALSE(def.validate());
  // Through the text form, as stored in journals.
  auto text = def.to_json().dump();
  auto back = definition::from_json(json::parse(text));
  ASSERT_TRUE(back) << saga::describe(back.error());
  EXPECT_EQ(back->name(), "order");
  EXPECT_EQ(back->deadline(), 60'000ms);
  ASSERT_EQ(back->steps().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& x = def.steps()[i];
    const auto& y = back->steps()[i];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(y.name, x.name);
    EXPECT_EQ(y.participant, x.participant);
    EXPECT_EQ(y.action, x.action);
    EXPECT_EQ(y.payload, x.payload);
    EXPECT_EQ(y.timeout, x.timeout);
    EXPECT_EQ(y.compensation_timeout, x.compensation_timeout);
    for (auto [p, q] :
         {std::pair{&x.retry, &y.retry},
          std::pair{&x.compensation_retry, &y.compensation_retry}}) {
      EXPECT_EQ(q->max_attempts, p->max_attempts);
      EXPECT_EQ(q->initial_backoff, p->initial_backoff);
      EXPECT_EQ(q->multiplier, p->multiplier);
      EXPECT_EQ(q->max_backoff, p->max_backoff);
      EXPECT_EQ(q->jitter, p->jitter);
    }
  }
  // Spot checks against the literal values, so that a field dropped on both
  // sides cannot pass as equal defaults.
  EXPECT_EQ(back->steps()[0].payload["nested"]["obj"]["deep"], true);
  EXPECT_EQ(back->steps()[0].retry.max_attempts, 4u);
  EXPECT_EQ(back->steps()[0].compensation_retry.jitter, 0.75);
  EXPECT_EQ(back->steps()[1].action, "debit");
  // And the JSON form is stable.
  EXPECT_EQ(back->to_json(), def.to_json());
}

TEST(definition_json, from_json_fills_defaults_for_optional_fields) {
  auto j = json::parse(R"({"name": "order",
                           "steps": [{"name": "reserve",
                                      "participant": "inventory"}]})");
  auto def = definition::from_json(j);
  ASSERT_TRUE(def) << saga::describe(def.error());
  EXPECT_EQ(def->deadline(), 0ms);
  const auto& s = def->steps().at(0);
  EXPECT_EQ(s.action, "reserve");
  EXPECT_EQ(s.payload, json::object());
  EXPECT_EQ(s.timeout, 5000ms);
  EXPECT_EQ(s.retry.max_attempts, 1u);
  EXPECT_EQ(s.compensation_retry.max_attempts,
            retry_policy::compensation_default().max_attempts);
}

TEST(definition_json, from_json_rejects_malformed_shapes) {
  const char* cases[] = {
    // not an object
    R"([])",
    R"("order")",
    R"(42)",
    R"(null)",
    // missing or malformed steps
    R"({"name": "order"})",
    R"({"name": "order", "steps": {}})",
    R"({"name": "order", "steps": "reserve"})",
    // missing saga name
    R"({"steps": [{"name": "a", "participant": "p"}]})",
    // a step that is not an object
    R"({"name": "order", "steps": ["reserve"]})",
    R"({"name": "order", "steps": [42]})",
    // missing step fields
    R"({"name": "order", "steps": [{"participant": "p"}]})",
    R"({"name": "order", "steps": [{"name": "a"}]})",
    // wrong field types
    R"({"name": 42, "steps": [{"name": "a", "participant": "p"}]})",
    R"({"name": "order", "deadline_ms": "soon",
        "steps": [{"name": "a", "participant": "p"}]})",
    R"({"name": "order", "steps": [{"name": 1, "participant": "p"}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": ["p"]}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "action": {}}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "timeout_ms": "5s"}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "compensation_timeout_ms": null}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "retry": 3}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "retry": {"max_attempts": "3"}}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "retry": {"multiplier": "2"}}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "compensation_retry": []}]})",
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "compensation_retry":
                                      {"jitter": [0.1]}}]})",
  };
  for (const char* text : cases) {
    auto def = definition::from_json(json::parse(text));
    ASSERT_FALSE(def) << text;
    EXPECT_TRUE(saga::is(def.error(), errc::invalid_payload))
      << text << " -> " << saga::describe(def.error());
  }
}

TEST(definition_json, from_json_names_the_missing_field) {
  auto def = definition::from_json(
    json::parse(R"({"name": "order", "steps": [{"name": "a"}]})"));
  ASSERT_FALSE(def);
  EXPECT_TRUE(fails_with(def.error(), errc::invalid_payload, "participant"));
  def = definition::from_json(json::parse(
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "timeout_ms": "5s"}]})"));
  ASSERT_FALSE(def);
  EXPECT_TRUE(fails_with(def.error(), errc::invalid_payload,
                         "'timeout_ms' has the wrong type"));
}

TEST(definition_json, from_json_rejects_parsable_but_invalid_definitions) {
  auto dup = definition::from_json(json::parse(
    R"({"name": "order", "steps": [{"name": "a", "participant": "p"},
                                   {"name": "a", "participant": "q"}]})"));
  ASSERT_FALSE(dup);
  EXPECT_TRUE(fails_with(dup.error(), errc::duplicate_step, "'a'"));
  auto none = definition::from_json(
    json::parse(R"({"name": "order", "steps": []})"));
  ASSERT_FALSE(none);
  EXPECT_TRUE(saga::is(none.error(), errc::no_steps));
  auto bad_timeout = definition::from_json(json::parse(
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "timeout_ms": 0}]})"));
  ASSERT_FALSE(bad_timeout);
  EXPECT_TRUE(saga::is(bad_timeout.error(), errc::invalid_timeout));
  auto bad_payload = definition::from_json(json::parse(
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "payload": [1]}]})"));
  ASSERT_FALSE(bad_payload);
  EXPECT_TRUE(saga::is(bad_payload.error(), errc::invalid_payload));
  auto bad_retry = definition::from_json(json::parse(
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "retry": {"max_attempts": 0}}]})"));
  ASSERT_FALSE(bad_retry);
  EXPECT_TRUE(saga::is(bad_retry.error(), errc::invalid_retry));
  auto bad_deadline = definition::from_json(json::parse(
    R"({"name": "order", "deadline_ms": -5,
        "steps": [{"name": "a", "participant": "p"}]})"));
  ASSERT_FALSE(bad_deadline);
  EXPECT_TRUE(saga::is(bad_deadline.error(), errc::invalid_timeout));
}

TEST(definition_json, from_json_rejects_boolean_for_millisecond_field) {
  auto def = definition::from_json(json::parse(
    R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                    "timeout_ms": true}]})"));
  ASSERT_FALSE(def) << "accepted with timeout_ms = "
                    << def->steps()[0].timeout.count();
  EXPECT_TRUE(fails_with(def.error(), errc::invalid_payload, "timeout_ms"));
}

// Regression (fixed): core/definition.cpp:55, read_field<uint32_t>() for
// "max_attempts" goes through nlohmann's generic arithmetic conversion, which
// neither range- checks nor rejects booleans: {"retry": {"max_attempts": -1}}
// yields max_attempts == 4294967295, 4294967297 wraps to 1, and true yields 1;
// all of them then pass validate(). Expected: errc::invalid_payload, like any
// other malformed field. Actual: accepted (-1: ~4 billion attempts). Same for
// "compensation_retry".
TEST(definition_json, from_json_rejects_out_of_range_or_boolean_max_attempts) {
  for (const char* value : {"-1", "true", "4294967297"}) {
    SCOPED_TRACE(std::string{"max_attempts: "} + value);
    for (const char* policy : {"retry", "compensation_retry"}) {
      SCOPED_TRACE(policy);
      auto text = std::string{R"({"name": "order", "steps": [{"name": "a",
                                  "participant": "p", ")"}
                  + policy + R"(": {"max_attempts": )" + value + "}}]}";
      auto def = definition::from_json(json::parse(text));
      EXPECT_FALSE(def) << "accepted with max_attempts = "
                        << def->steps()[0].retry.max_attempts << " / "
                        << def->steps()[0].compensation_retry.max_attempts;
      if (!def) {
        EXPECT_TRUE(saga::is(def.error(), errc::invalid_payload))
          << saga::describe(def.error());
      }
    }
  }
}

// -- dependencies and the pivot ---------------------------------------------------

namespace {

std::vector<std::string> after_of(const saga::definition& d,
                                  const std::string& step) {
  return d.steps()[static_cast<size_t>(d.index_of(step))].after;
}

} // namespace

TEST(definition_graph, steps_are_sequential_by_default) {
  saga::definition d{"seq"};
  d.step("a", "p").step("b", "p").step("c", "p");
  EXPECT_TRUE(after_of(d, "a").empty());
  EXPECT_EQ(after_of(d, "b"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(after_of(d, "c"), (std::vector<std::string>{"b"}));
}

TEST(definition_graph, fork_and_join_make_a_parallel_group) {
  saga::definition d{"diamond"};
  d.step("a", "p").fork().step("b", "p").step("c", "p").join().step("d", "p");
  EXPECT_EQ(after_of(d, "b"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(after_of(d, "c"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(after_of(d, "d"), (std::vector<std::string>{"b", "c"}));
  auto g = d.graph();
  EXPECT_EQ(g.dependents[0], (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(g.deps[3], (std::vector<int32_t>{1, 2}));
  EXPECT_FALSE(d.validate());
}

TEST(definition_graph, after_replaces_the_default) {
  saga::definition d{"x"};
  d.step("a", "p").step("b", "p").after({}).step("c", "p").after({"a", "b"});
  EXPECT_TRUE(after_of(d, "b").empty());
  EXPECT_EQ(after_of(d, "c"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(d.validate());
}

TEST(definition_graph, unknown_dependencies_and_cycles_are_rejected) {
  saga::definition unknown{"u"};
  unknown.step("a", "p").after({"nope"});
  auto e1 = unknown.validate();
  EXPECT_TRUE(saga::is(e1, saga::errc::unknown_dependency));
  EXPECT_NE(saga::describe(e1).find("'nope'"), std::string::npos);
  saga::definition self_loop{"s"};
  self_loop.step("a", "p").after({"a"});
  EXPECT_TRUE(saga::is(self_loop.validate(), saga::errc::dependency_cycle));
  saga::definition cycle{"c"};
  cycle.step("a", "p").after({"c"}).step("b", "p").step("c", "p");
  EXPECT_TRUE(saga::is(cycle.validate(), saga::errc::dependency_cycle));
}

TEST(definition_graph, the_pivot_must_cut_the_graph) {
  saga::definition ok{"ok"};
  ok.step("a", "p").step("p", "p").pivot().fork().step("x", "p").step("y", "p");
  EXPECT_FALSE(ok.validate());
  auto g = ok.graph();
  EXPECT_EQ(g.pivot, 1);
  EXPECT_EQ(g.after_pivot, (std::vector<bool>{false, false, true, true}));
  saga::definition two{"two"};
  two.step("a", "p").pivot().step("b", "p").pivot();
  EXPECT_TRUE(saga::is(two.validate(), saga::errc::invalid_pivot));
  saga::definition beside{"beside"};
  beside.step("a", "p").step("p", "p").pivot().step("z", "p").after({"a"});
  auto e = beside.validate();
  EXPECT_TRUE(saga::is(e, saga::errc::invalid_pivot));
  EXPECT_NE(saga::describe(e).find("'z'"), std::string::npos);
}

TEST(definition_graph, json_keeps_dependencies_pivot_and_forward_retry) {
  saga::definition d{"j"};
  d.step("a", "p")
    .pivot()
    .fork()
    .step("b", "p")
    .step("c", "p")
    .join()
    .step("d", "p")
    .forward_retry(saga::retry_policy{7, std::chrono::milliseconds{30}});
  auto back = saga::definition::from_json(d.to_json());
  ASSERT_TRUE(back) << saga::describe(back.error());
  EXPECT_EQ(back->to_json(), d.to_json());
  EXPECT_EQ(after_of(*back, "d"), (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(back->steps()[0].pivot);
  EXPECT_EQ(back->forward_retry().max_attempts, 7u);
}

TEST(definition_graph, stored_definitions_without_after_stay_sequential) {
  auto j = saga::json::parse(R"({"name":"old","steps":[
    {"name":"a","participant":"p"},{"name":"b","participant":"p"}]})");
  auto d = saga::definition::from_json(j);
  ASSERT_TRUE(d);
  EXPECT_EQ(after_of(*d, "b"), (std::vector<std::string>{"a"}));
}

// -- snapshots ------------------------------------------------------------------

TEST(definition_snapshot, is_shared_until_the_definition_changes) {
  saga::definition d{"s"};
  d.step("a", "p");
  auto first = d.snapshot();
  EXPECT_EQ(d.snapshot(), first); // running it again copies nothing
  EXPECT_EQ(d.json_text(), d.to_json().dump());
  d.step("b", "p");
  auto second = d.snapshot();
  EXPECT_NE(second, first);
  EXPECT_EQ(second->steps().size(), 2u);
  EXPECT_EQ(first->steps().size(), 1u); // a running saga's copy is unchanged
  EXPECT_EQ(d.json_text(), d.to_json().dump());
  d.timeout(std::chrono::milliseconds{5});
  EXPECT_EQ(d.snapshot()->steps().back().timeout.count(), 5);
}

TEST(definition_from_json_text, parses_once_and_names_bad_text) {
  saga::definition d{"cached"};
  d.step("a", "p").step("b", "p");
  auto text = d.json_text();
  auto x = saga::definition::from_json_text(text);
  auto y = saga::definition::from_json_text(text);
  ASSERT_TRUE(x && y);
  EXPECT_EQ(*x, *y); // the same parsed definition, shared
  EXPECT_EQ((*x)->to_json(), d.to_json());
  auto bad = saga::definition::from_json_text("{not json");
  ASSERT_FALSE(bad);
  EXPECT_NE(saga::describe(bad.error()).find("not valid JSON"),
            std::string::npos);
}

TEST(definition_json, leaves_defaults_out_and_reads_them_back) {
  saga::definition d{"compact"};
  d.step("a", "p").step("b", "p").step("c", "p");
  auto j = d.to_json();
  EXPECT_LT(j.dump().size(), 200u) << j.dump();
  EXPECT_FALSE(j["steps"][1].contains("retry"));
  EXPECT_FALSE(j["steps"][1].contains("after")); // implied: the step before
  auto back = saga::definition::from_json(j);
  ASSERT_TRUE(back) << saga::describe(back.error());
  EXPECT_EQ(back->steps()[1].after, (std::vector<std::string>{"a"}));
  EXPECT_EQ(back->steps()[2].timeout, d.steps()[2].timeout);
  // Everything that differs from a default is kept.
  saga::definition e{"full"};
  e.step("a", "p")
    .fork()
    .step("b1", "q", json{{"n", 1}})
    .action("other")
    .timeout(123ms)
    .retry(retry_policy{3, 10ms})
    .step("b2", "q")
    .compensation_timeout(7ms)
    .join()
    .step("c", "p")
    .pivot()
    .deadline(9s);
  auto again = saga::definition::from_json(e.to_json());
  ASSERT_TRUE(again) << saga::describe(again.error());
  EXPECT_EQ(again->to_json(), e.to_json());
  EXPECT_EQ(again->steps()[2].after, (std::vector<std::string>{"a"}));
  EXPECT_EQ(again->steps()[3].after, (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(again->steps()[1].retry.max_attempts, 3u);
  EXPECT_TRUE(again->steps()[3].pivot);
  EXPECT_EQ(again->deadline(), 9s);
}

// -- bad input (docs/bad-input.md) ----------------------------------------------

TEST(bad_input_definition, an_invalid_forward_retry_policy_names_the_saga) {
  auto def = valid_def();
  def.forward_retry(retry_policy{0, 10ms});
  EXPECT_TRUE(fails_with(def.validate(), errc::invalid_retry,
                         "the forward retry policy of saga 'order'"));
  def.forward_retry(retry_policy{3, 0ms});
  EXPECT_TRUE(fails_with(def.validate(), errc::invalid_backoff,
                         "the forward retry policy of saga 'order'"));
  // The same from JSON (as a gateway or a journal hands it over).
  auto from = definition::from_json(json::parse(
    R"({"name": "order", "forward_retry": {"jitter": 2},
        "steps": [{"name": "a", "participant": "p"}]})"));
  ASSERT_FALSE(from);
  EXPECT_TRUE(fails_with(from.error(), errc::invalid_retry,
                         "forward retry policy of saga 'order': jitter"));
}

TEST(bad_input_definition, from_json_errors_name_the_field_or_shape) {
  struct bad_case {
    const char* text;
    const char* needle;
  };
  const bad_case cases[] = {
    {R"([{"name": "order"}])", "definition JSON is not an object"},
    {R"("order")", "definition JSON is not an object"},
    {R"({"name": "order"})", "lacks the 'steps' array"},
    {R"({"name": "order", "steps": {"a": 1}})", "lacks the 'steps' array"},
    {R"({"steps": []})", "lacks 'name'"},
    {R"({"name": 7, "steps": []})", "field 'name' has the wrong type"},
    {R"({"name": "order", "steps": ["a"]})", "a step is not an object"},
    {R"({"name": "order", "steps": [{"participant": "p"}]})", "lacks 'name'"},
    {R"({"name": "order", "steps": [{"name": "a"}]})", "lacks 'participant'"},
    {R"({"name": "order", "deadline_ms": 1.5,
         "steps": [{"name": "a", "participant": "p"}]})",
     "'deadline_ms' has the wrong type"},
    {R"({"name": "order", "deadline_ms": 1e300,
         "steps": [{"name": "a", "participant": "p"}]})",
     "'deadline_ms' has the wrong type or is out of range"},
    {R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                     "after": "b"}]})",
     "'after' of step 'a' is not an array"},
    {R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                     "after": [1]}]})",
     "'after' of step 'a' holds a non-string"},
    {R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                     "pivot": "yes"}]})",
     "'pivot' has the wrong type"},
    {R"({"name": "order", "forward_retry": 3,
         "steps": [{"name": "a", "participant": "p"}]})",
     "a retry policy is not an object"},
    {R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                     "retry": {"max_attempts": -1}}]})",
     "'max_attempts' has the wrong type or is out of range"},
    {R"({"name": "order", "steps": [{"name": "a", "participant": "p",
                                     "retry": {"initial_backoff_ms": "1s"}}]})",
     "'initial_backoff_ms' has the wrong type"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto def = definition::from_json(json::parse(c.text));
    ASSERT_FALSE(def);
    EXPECT_TRUE(fails_with(def.error(), errc::invalid_payload, c.needle));
  }
  // Parsable shapes that validate() refuses keep validate()'s code.
  auto graph = definition::from_json(json::parse(
    R"({"name": "order", "steps": [
          {"name": "a", "participant": "p", "after": ["b"]},
          {"name": "b", "participant": "p", "after": ["a"]}]})"));
  ASSERT_FALSE(graph);
  EXPECT_TRUE(fails_with(graph.error(), errc::dependency_cycle,
                         "through a cycle of 'after'"));
  auto ghost = definition::from_json(json::parse(
    R"({"name": "order", "steps": [
          {"name": "a", "participant": "p", "after": ["ghost"]}]})"));
  ASSERT_FALSE(ghost);
  EXPECT_TRUE(fails_with(ghost.error(), errc::unknown_dependency, "'ghost'"));
  auto pivots = definition::from_json(json::parse(
    R"({"name": "order", "steps": [
          {"name": "a", "participant": "p", "pivot": true},
          {"name": "b", "participant": "p", "pivot": true}]})"));
  ASSERT_FALSE(pivots);
  EXPECT_TRUE(fails_with(pivots.error(), errc::invalid_pivot, "2 pivots"));
}

TEST(bad_input_definition, from_json_text_refuses_text_that_is_not_json) {
  for (const char* text : {"", "{", "nul", "{\"name\": \"a\",}", "\xff\xfe"}) {
    SCOPED_TRACE(std::string{"text '"} + text + "'");
    auto d = definition::from_json_text(text);
    ASSERT_FALSE(d);
    EXPECT_TRUE(fails_with(d.error(), errc::invalid_payload,
                           "the definition is not valid JSON"));
  }
  // Valid JSON of the wrong shape is named as such, not as bad JSON.
  auto arr = definition::from_json_text("[1, 2]");
  ASSERT_FALSE(arr);
  EXPECT_TRUE(fails_with(arr.error(), errc::invalid_payload,
                         "definition JSON is not an object"));
}

TEST(bad_input_definition,
     json_nested_too_deep_is_refused_before_it_is_copied) {
  // nlohmann::json copies and dumps recursively: 100,000 nested arrays in a
  // payload (200 KB of text) would overflow the stack of whoever copies the
  // definition. Parsing is iterative, so the text is read, then refused.
  auto nested = [](size_t n) {
    return std::string(n, '[') + std::string(n, ']');
  };
  for (size_t n : {size_t{300}, size_t{100'000}}) {
    SCOPED_TRACE(std::to_string(n) + " levels");
    auto text = R"({"name": "deep", "steps": [{"name": "a", "participant": "p",
                    "payload": {"x": )"
                + nested(n) + "}}]}";
    auto d = definition::from_json(json::parse(text));
    ASSERT_FALSE(d);
    EXPECT_TRUE(fails_with(d.error(), errc::invalid_payload,
                           "nests arrays and objects deeper than 256 levels"));
    auto t = definition::from_json_text(text);
    ASSERT_FALSE(t);
    EXPECT_TRUE(saga::is(t.error(), errc::invalid_payload));
  }
  // Built in code: validate() refuses it too (the definition is moved, never
  // copied, here).
  definition built{"deep"};
  built.step("a", "p", json::parse("{\"x\": " + nested(300) + "}"));
  EXPECT_TRUE(fails_with(built.validate(), errc::invalid_payload,
                         "the payload of step 'a' nests arrays and objects "
                         "deeper than 256 levels"));
  // A payload of 250 levels is fine.
  definition ok{"fine"};
  ok.step("a", "p", json::parse("{\"x\": " + nested(250) + "}"));
  EXPECT_FALSE(ok.validate()) << saga::describe(ok.validate());
}

// -- saga-wide default policies and the time bound (issue 17) -------------------

TEST(definition_defaults,
     steps_without_their_own_policy_take_the_saga_default) {
  retry_policy three{3, 50ms, 2.0, 1s, 0.0};
  retry_policy undo{7, 10ms, 2.0, 1s, 0.0};
  retry_policy own{2, 5ms, 2.0, 1s, 0.0};
  definition d{"order"};
  d.step("a", "p").retry(own); // its own: kept
  d.default_retry(three);      // applies to "a"? no: "a" has its own
  d.step("b", "p");            // added after: takes the default
  d.default_compensation_retry(undo);
  EXPECT_EQ(d.steps()[0].retry.max_attempts, 2u);
  EXPECT_EQ(d.steps()[1].retry.max_attempts, 3u);
  EXPECT_EQ(d.steps()[0].compensation_retry.max_attempts, 7u);
  EXPECT_EQ(d.steps()[1].compensation_retry.max_attempts, 7u);
  EXPECT_FALSE(d.validate());
}

TEST(definition_defaults, json_stores_them_once_and_reads_them_back) {
  definition d{"order"};
  d.default_compensation_retry(retry_policy{7, 10ms, 2.0, 1s, 0.0})
    .step("a", "p")
    .step("b", "p")
    .compensation_retry(retry_policy{2, 10ms, 2.0, 1s, 0.0});
  auto j = d.to_json();
  ASSERT_TRUE(j.contains("compensation_retry"));
  EXPECT_EQ(j["compensation_retry"]["max_attempts"], 7);
  EXPECT_FALSE(j["steps"][0].contains("compensation_retry"));
  EXPECT_EQ(j["steps"][1]["compensation_retry"]["max_attempts"], 2);
  EXPECT_FALSE(j.contains("retry")) << "the library's default is left out";
  auto back = definition::from_json(j);
  ASSERT_TRUE(back) << saga::describe(back.error());
  EXPECT_EQ(back->steps()[0].compensation_retry.max_attempts, 7u);
  EXPECT_EQ(back->steps()[1].compensation_retry.max_attempts, 2u);
  EXPECT_EQ(back->default_compensation_retry().max_attempts, 7u);
  EXPECT_EQ(back->to_json(), j);
  // A definition written by hand (saga_node, HTTP) sets them the same way.
  auto by_hand = definition::from_json(json::parse(R"({
    "name": "t", "retry": {"max_attempts": 4, "initial_backoff_ms": 10},
    "steps": [{"name": "a", "participant": "p"}]})"));
  ASSERT_TRUE(by_hand) << saga::describe(by_hand.error());
  EXPECT_EQ(by_hand->steps()[0].retry.max_attempts, 4u);
}

TEST(definition_time_bound,
     adds_every_attempt_and_backoff_then_every_compensation) {
  definition d{"order"};
  d.step("a", "p")
    .timeout(100ms)
    .retry(retry_policy{3, 10ms, 2.0, 1s, 0.5}) // 3 x 100 + 10 + 20
    .compensation_timeout(200ms)
    .compensation_retry(retry_policy{2, 50ms, 2.0, 1s, 0.0}) // 2 x 200 + 50
    .step("b", "p")
    .timeout(1s) // 1 attempt: 1000
    .compensation_timeout(300ms)
    .compensation_retry(retry_policy{1, 50ms}); // 300
  EXPECT_EQ(d.time_bound(), 330ms + 1000ms + 450ms + 300ms);
  // A deadline cuts the forward part: it plus the longest step timeout.
  d.deadline(200ms);
  EXPECT_EQ(d.time_bound(), 200ms + 1000ms + 450ms + 300ms);
}

TEST(definition_time_bound,
     counts_capped_backoffs_without_looping_and_saturates) {
  definition d{"order"};
  d.step("a", "p")
    .timeout(1ms)
    .retry(retry_policy{std::numeric_limits<uint32_t>::max(), 1ms, 2.0,
                        std::chrono::milliseconds{4}, 0.0})
    .compensation_retry(retry_policy{1, 1ms});
  auto n = static_cast<int64_t>(std::numeric_limits<uint32_t>::max());
  // n timeouts; backoffs 1, 2, then 4 for each of the n - 3 others.
  EXPECT_EQ(d.time_bound().count(), n * 1 + 1 + 2 + (n - 3) * 4 + 5'000);
  d.timeout(std::chrono::milliseconds{std::numeric_limits<int64_t>::max() / 2});
  EXPECT_EQ(d.time_bound(), std::chrono::milliseconds::max());
}

TEST(definition_time_bound,
     the_default_compensation_policy_takes_about_91_minutes) {
  definition d{"order"};
  d.step("a", "p").compensation_timeout(1ms).timeout(1ms);
  // 1 execute attempt (1 ms); 100 compensation attempts of 1 ms, and
  // backoffs 100 ms doubling (0.1 .. 51.2 s over 10) then 60 s for 89.
  auto backoffs_ms = int64_t{100} * ((1 << 10) - 1) + 89 * 60'000;
  EXPECT_EQ(d.time_bound().count(), 1 + 100 + backoffs_ms);
  EXPECT_EQ(backoffs_ms / 60'000, 90); // 90 min 42.3 s
}

// -- HTTP endpoints per step --------------------------------------------------------

TEST(definition_http, endpoints_round_trip_through_json) {
  saga::definition d{"pay"};
  d.step("charge", "payments")
    .http({"PUT", "/v1/charges"}, {"DELETE", "/v1/charges"})
    .step("notify", "mailer")
    .http({"POST", "/send"});
  auto j = d.to_json();
  EXPECT_EQ(j["steps"][0]["http"]["compensate"]["method"], "DELETE");
  EXPECT_FALSE(j["steps"][1]["http"].contains("compensate")); // not set
  EXPECT_FALSE(d.step("plain", "p").to_json()["steps"][2].contains("http"));
  auto back = saga::definition::from_json(j);
  ASSERT_TRUE(back) << saga::describe(back.error());
  const auto& s = back->steps();
  EXPECT_EQ(s[0].http.execute.method, "PUT");
  EXPECT_EQ(s[0].http.execute.path, "/v1/charges");
  EXPECT_EQ(s[0].http.compensate.path, "/v1/charges");
  EXPECT_EQ(s[1].http.execute.path, "/send");
  EXPECT_TRUE(s[1].http.compensate.path.empty());
  EXPECT_EQ(back->to_json(), j);
}

TEST(definition_http, the_method_defaults_to_post_in_json) {
  auto d = saga::definition::from_json(saga::json::parse(R"({"name":"s",
    "steps":[{"name":"a","participant":"p",
              "http":{"compensate":{"path":"/a/undo"}}}]})"));
  ASSERT_TRUE(d) << saga::describe(d.error());
  EXPECT_EQ(d->steps()[0].http.compensate.method, "POST");
  EXPECT_EQ(d->steps()[0].http.compensate.path, "/a/undo");
  EXPECT_TRUE(d->steps()[0].http.execute.path.empty());
}

TEST(bad_input_definition, a_bad_http_endpoint_names_the_step_and_problem) {
  auto error_of = [](const char* http) {
    auto text = std::string{R"({"name":"s","steps":[{"name":"pay",)"
                            R"("participant":"p","http":)"}
                + http + "}]}";
    auto d = saga::definition::from_json(saga::json::parse(text));
    EXPECT_FALSE(d) << http;
    return d ? std::string{} : saga::describe(d.error());
  };
  auto has = [](const std::string& text, const char* part) {
    return text.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(error_of(R"({"execute":{"path":"charge"}})"),
                  "execute endpoint of step 'pay': path 'charge' does not "
                  "start with '/'"));
  EXPECT_TRUE(has(error_of(R"({"execute":{"method":"post","path":"/c"}})"),
                  "method 'post' is not an upper-case HTTP method"));
  EXPECT_TRUE(has(error_of(R"({"compensate":{"path":"/a b"}})"),
                  "compensate endpoint of step 'pay': path '/a b' holds a "
                  "space"));
  EXPECT_TRUE(has(error_of(R"({"execute":{"path":"/a\r\nHost: x"}})"),
                  "control character"));
  EXPECT_TRUE(has(error_of(R"({"execute":{"method":"PUT"}})"), "lacks 'path'"));
  EXPECT_TRUE(has(error_of(R"({"execute":"/charge"})"),
                  "http 'execute' is not an object"));
  EXPECT_TRUE(has(error_of(R"({})"), "'http' of step 'pay' is not an object "
                                     "with 'execute' or 'compensate'"));
  auto long_path = "{\"execute\":{\"path\":\"/" + std::string(2'048, 'a')
                   + "\"}}";
  EXPECT_TRUE(has(error_of(long_path.c_str()), "longer than 2048 bytes"));
  // The same checks hold for a definition built in C++.
  saga::definition d{"s"};
  d.step("pay", "p").http({"GET", ""});
  auto err = d.validate();
  ASSERT_TRUE(err);
  EXPECT_TRUE(saga::is(err, errc::invalid_url)) << saga::describe(err);
}
