// Fuzz target: the saga-definition parser (include/saga/definition.hpp):
// definition::from_json_text, as replay reads saga_started, and the
// gateway's path for a remote run (json::parse, then definition::from_json).
// The input is the JSON text.
//
// Checks, besides "no crash, no sanitizer finding":
// 1. both paths agree: one accepts a text exactly when the other does, with
//    the same definition; asking the cache again gives the same;
// 2. a definition accepted is valid (validate() finds nothing) and holds
//    what the text said: as many steps, their names, participants, actions
//    (the name when left out), pivots, dependencies ("after", or the step
//    before when left out), payloads, timeouts and the saga's deadline;
// 3. round trip: from_json(to_json(d)).to_json() == to_json(d), and
//    json_text() is to_json().dump() and reads back the same way;
// 4. to_json() is the compact stored form: no field at its default
//    (action == name, timeouts of 5 s, default retry policies, pivot
//    false, empty payload, "after" of just the step before, no deadline);
// 5. the graph is what validate() promises: deps and dependents mirror each
//    other, there is a topological order (no cycle), the pivot is the
//    pivot step, and after_pivot holds exactly the steps reachable from it;
// 6. every retry policy gives delays in [0, max backoff] that do not
//    shrink from one attempt to the next, jitter only shortening them.
//
// A check that fails prints what it saw and calls __builtin_trap().

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "saga/definition.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"

namespace {

using saga::definition;
using saga::json;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "definition_fuzz: %s\n  %s\n", what, detail.c_str());
  __builtin_trap();
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void check_policy(const saga::retry_policy& p, const std::string& where) {
  const uint32_t probes[] = {2,
                             3,
                             4,
                             5,
                             10,
                             31,
                             32,
                             63,
                             64,
                             65,
                             100,
                             1000,
                             p.max_attempts,
                             p.max_attempts + 1u,
                             4294967295u};
  std::chrono::milliseconds last{0};
  uint32_t last_n = 0;
  for (auto n : probes) {
    if (n < 2)
      continue;
    auto d = p.base_delay(n);
    if (d.count() < 0 || d > p.max_backoff)
      fail("a retry delay outside [0, max backoff]",
           where + ": attempt " + std::to_string(n) + ": "
             + std::to_string(d.count()) + " ms");
    if (n > last_n && d < last)
      fail("a retry delay shrinks", where + ": attempt " + std::to_string(n));
    if (n > last_n) {
      last = d;
      last_n = n;
    }
    for (double r : {0.0, 0.25, 0.999999})
      if (auto j = p.delay(n, r); j.count() < 0 || j > d)
        fail("jitter makes a delay longer or negative",
             where + ": attempt " + std::to_string(n));
  }
}

void check_graph(const definition& d) {
  auto g = d.graph();
  const auto& steps = d.steps();
  auto n = steps.size();
  if (g.deps.size() != n || g.dependents.size() != n
      || g.after_pivot.size() != n)
    fail("the graph does not have one entry per step", "");
  for (size_t i = 0; i < n; ++i) {
    if (g.deps[i].size() != steps[i].after.size())
      fail("deps are not the step's 'after'", steps[i].name);
    for (auto j : g.deps[i]) {
      if (j < 0 || static_cast<size_t>(j) >= n)
        fail("a dependency out of range", steps[i].name);
      const auto& back = g.dependents[static_cast<size_t>(j)];
      if (std::count(back.begin(), back.end(), static_cast<int32_t>(i))
          != std::count(g.deps[i].begin(), g.deps[i].end(), j))
        fail("deps and dependents do not mirror each other", steps[i].name);
    }
  }
  // A topological order (Kahn), independently of validate().
  std::vector<size_t> waiting(n);
  std::vector<size_t> ready;
  for (size_t i = 0; i < n; ++i)
    if ((waiting[i] = g.deps[i].size()) == 0)
      ready.push_back(i);
  size_t done = 0;
  while (!ready.empty()) {
    auto i = ready.back();
    ready.pop_back();
    ++done;
    for (auto k : g.dependents[i])
      if (--waiting[static_cast<size_t>(k)] == 0)
        ready.push_back(static_cast<size_t>(k));
  }
  if (done != n)
    fail("a valid definition has a cycle", d.name());
  int32_t pivot = -1;
  for (size_t i = 0; i < n; ++i)
    if (steps[i].pivot && pivot < 0)
      pivot = static_cast<int32_t>(i);
  if (g.pivot != pivot)
    fail("the graph's pivot is not the pivot step", d.name());
  std::vector<bool> reach(n, false);
  if (pivot >= 0) {
    std::vector<int32_t> todo{pivot};
    while (!todo.empty()) {
      auto k = todo.back();
      todo.pop_back();
      for (auto x : g.dependents[static_cast<size_t>(k)])
        if (!reach[static_cast<size_t>(x)]) {
          reach[static_cast<size_t>(x)] = true;
          todo.push_back(x);
        }
    }
  }
  if (reach != g.after_pivot)
    fail("after_pivot is not what the pivot reaches", d.name());
}

/// Checks that `d` holds what `in` (the parsed input) said.
void check_faithful(const json& in, const definition& d) {
  const auto& js = in["steps"];
  const auto& steps = d.steps();
  if (js.size() != steps.size())
    fail("not one step per entry of 'steps'", dump(in));
  if (in["name"] != d.name())
    fail("the name is not the text's", dump(in));
  if (auto dl = in.find("deadline_ms"); dl != in.end()) {
    if (*dl != d.deadline().count())
      fail("the deadline is not the text's", dump(in));
  } else if (d.deadline().count() != 0) {
    fail("a deadline out of nowhere", dump(in));
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& x = js[i];
    const auto& s = steps[i];
    auto where = "step " + std::to_string(i) + " of " + dump(in);
    if (x["name"] != s.name || x["participant"] != s.participant)
      fail("a step's name or participant is not the text's", where);
    if (x.value("action", s.name) != s.action)
      fail("a step's action is not the text's", where);
    if (x.value("pivot", false) != s.pivot)
      fail("a step's pivot mark is not the text's", where);
    if (x.value("payload", json::object()) != s.payload)
      fail("a step's payload is not the text's", where);
    if (x.value("timeout_ms", int64_t{5000}) != s.timeout.count()
        || x.value("compensation_timeout_ms", int64_t{5000})
             != s.compensation_timeout.count())
      fail("a step's timeouts are not the text's", where);
    auto implied = i == 0 ? json::array() : json::array({steps[i - 1].name});
    if (x.value("after", implied) != json(s.after))
      fail("a step's dependencies are not the text's", where);
  }
}

/// Checks that `j` (a to_json()) leaves out every field at its default.
void check_compact(const definition& d, const json& j) {
  const saga::step_definition fresh;
  auto policy_default = [](const json& p, const saga::retry_policy& x) {
    return p
           == json{{"max_attempts", x.max_attempts},
                   {"initial_backoff_ms", x.initial_backoff.count()},
                   {"multiplier", x.multiplier},
                   {"max_backoff_ms", x.max_backoff.count()},
                   {"jitter", x.jitter}};
  };
  if (j.contains("deadline_ms") && j["deadline_ms"] == 0)
    fail("to_json() writes a zero deadline", dump(j));
  if (j.contains("forward_retry")
      && policy_default(j["forward_retry"],
                        saga::retry_policy::compensation_default()))
    fail("to_json() writes the default forward retry policy", dump(j));
  const auto& steps = j["steps"];
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& x = steps[i];
    auto where = "step " + std::to_string(i) + " of " + dump(j);
    if ((x.contains("action") && x["action"] == x["name"])
        || (x.contains("payload") && x["payload"] == fresh.payload)
        || (x.contains("timeout_ms")
            && x["timeout_ms"] == fresh.timeout.count())
        || (x.contains("compensation_timeout_ms")
            && x["compensation_timeout_ms"]
                 == fresh.compensation_timeout.count())
        || (x.contains("retry") && policy_default(x["retry"], fresh.retry))
        || (x.contains("compensation_retry")
            && policy_default(x["compensation_retry"],
                              fresh.compensation_retry))
        || (x.contains("pivot") && x["pivot"] == false))
      fail("to_json() writes a field at its default", where);
    if (x.contains("after")) {
      auto implied = i == 0 ? json::array()
                            : json::array({d.steps()[i - 1].name});
      if (x["after"] == implied)
        fail("to_json() writes the implied 'after'", where);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto cached = definition::from_json_text(text);
  // The gateway's path for (run_atom, definition JSON).
  auto parsed = json::parse(text, nullptr, false);
  auto direct = parsed.is_discarded()
                  ? caf::expected<definition>{saga::make_error(
                    saga::errc::invalid_payload, "not JSON")}
                  : definition::from_json(parsed);
  if (static_cast<bool>(cached) != static_cast<bool>(direct))
    fail("from_json_text and the gateway's path disagree",
         std::string{"from_json_text: "}
           + (cached ? "accepts" : saga::describe(cached.error()))
           + ", gateway: "
           + (direct ? "accepts" : saga::describe(direct.error())));
  if (!cached) {
    if (cached.error().category() != saga::error_category())
      fail("a foreign error", saga::describe(cached.error()));
    return 0;
  }
  const auto& d = **cached;
  auto j = d.to_json();
  if (direct->to_json() != j)
    fail("from_json_text and the gateway's path read different definitions",
         dump(j) + "\n  vs. " + dump(direct->to_json()));
  if (auto again = definition::from_json_text(text);
      !again || (*again)->to_json() != j)
    fail("the cache answers differently the second time", dump(j));
  if (auto err = d.validate())
    fail("an accepted definition is invalid", saga::describe(err));
  check_faithful(parsed, d);
  // Round trip through the stored form.
  auto back = definition::from_json(j);
  if (!back)
    fail("to_json() of an accepted definition is rejected",
         saga::describe(back.error()) + "\n  " + dump(j));
  if (back->to_json() != j)
    fail("from_json(to_json(d)) != d",
         dump(j) + "\n  vs. " + dump(back->to_json()));
  const auto& stored = d.json_text();
  if (stored != j.dump())
    fail("json_text() is not to_json().dump()", stored);
  auto reread = definition::from_json_text(stored);
  if (!reread || (*reread)->to_json() != j)
    fail("json_text() does not read back", stored);
  check_compact(d, j);
  check_graph(d);
  check_policy(d.forward_retry(), "forward_retry");
  for (const auto& s : d.steps()) {
    check_policy(s.retry, s.name + ".retry");
    check_policy(s.compensation_retry, s.name + ".compensation_retry");
  }
  return 0;
}
