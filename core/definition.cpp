#include "saga/definition.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "core/http_endpoint.hpp"
#include "core/json_depth.hpp"
#include "saga/errc.hpp"
#include "saga/saga_id.hpp"

namespace saga {

namespace {

using std::chrono::milliseconds;

/// Checks policy `p`; `what` names it in the message, e.g. "the retry
/// policy of step 'pay'".
caf::error check_policy(const retry_policy& p, const std::string& what) {
  auto where = [&] { return what; };
  if (p.max_attempts == 0)
    return make_error(errc::invalid_retry,
                      where() + ": max_attempts must be at least 1");
  if (p.initial_backoff.count() <= 0)
    return make_error(errc::invalid_backoff,
                      where() + ": initial backoff must be positive");
  if (p.max_backoff < p.initial_backoff)
    return make_error(errc::invalid_backoff,
                      where() + ": max backoff is below the initial backoff");
  if (!std::isfinite(p.multiplier) || p.multiplier < 1.0)
    return make_error(errc::invalid_backoff,
                      where() + ": multiplier must be a finite number >= 1");
  if (!std::isfinite(p.jitter) || p.jitter < 0.0 || p.jitter > 1.0)
    return make_error(errc::invalid_retry,
                      where() + ": jitter must be in [0, 1]");
  return caf::none;
}

json policy_to_json(const retry_policy& p);

/// Returns whether `x` and `y` are the same policy (as stored).
bool same_policy(const retry_policy& x, const retry_policy& y) {
  return policy_to_json(x) == policy_to_json(y);
}

json policy_to_json(const retry_policy& p) {
  return json{{"max_attempts", p.max_attempts},
              {"initial_backoff_ms", p.initial_backoff.count()},
              {"multiplier", p.multiplier},
              {"max_backoff_ms", p.max_backoff.count()},
              {"jitter", p.jitter}};
}

// Returns whether `x` holds a value of exactly the kind `T` asks for: no
// booleans for numbers, no fractions or out-of-range values for integers.
template <class T>
bool fits(const json& x) {
  if constexpr (std::is_same_v<T, std::string>) {
    return x.is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    return x.is_boolean();
  } else if constexpr (std::is_floating_point_v<T>) {
    return x.is_number();
  } else {
    static_assert(std::is_integral_v<T>);
    if (x.is_number_unsigned())
      return x.get<uint64_t>()
             <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    if (x.is_number_integer()) {
      auto v = x.get<int64_t>();
      return v >= static_cast<int64_t>(std::numeric_limits<T>::min())
             && (v < 0
                 || static_cast<uint64_t>(v)
                      <= static_cast<uint64_t>(std::numeric_limits<T>::max()));
    }
    return false;
  }
}

// Reads field `key` of `obj` into `out`; a wrong type or range is an error.
template <class T>
caf::error read_field(const json& obj, const char* key, T& out,
                      bool required = true) {
  auto i = obj.find(key);
  if (i == obj.end()) {
    if (required)
      return make_error(errc::invalid_payload,
                        std::string{"definition JSON lacks '"} + key + "'");
    return caf::none;
  }
  if (!fits<T>(*i))
    return make_error(errc::invalid_payload,
                      std::string{"definition JSON field '"} + key
                        + "' has the wrong type or is out of range");
  out = i->template get<T>();
  return caf::none;
}

caf::error read_ms(const json& obj, const char* key, milliseconds& out) {
  int64_t n = out.count();
  if (auto err = read_field(obj, key, n, false))
    return err;
  out = milliseconds{n};
  return caf::none;
}

caf::error policy_from_json(const json& obj, retry_policy& p) {
  if (!obj.is_object())
    return make_error(errc::invalid_payload,
                      "definition JSON: a retry policy is not an object");
  if (auto err = read_field(obj, "max_attempts", p.max_attempts, false))
    return err;
  if (auto err = read_ms(obj, "initial_backoff_ms", p.initial_backoff))
    return err;
  if (auto err = read_field(obj, "multiplier", p.multiplier, false))
    return err;
  if (auto err = read_ms(obj, "max_backoff_ms", p.max_backoff))
    return err;
  return read_field(obj, "jitter", p.jitter, false);
}

/// Checks the endpoints step `s` sets (one left at its default is unset).
caf::error check_http(const step_definition& s) {
  auto check = [&s](const http_endpoint& e, const char* op) -> caf::error {
    if (e.path.empty() && e.method == http_endpoint{}.method)
      return caf::none;
    auto why = detail::http_endpoint_problem(e);
    if (why.empty())
      return caf::none;
    return make_error(errc::invalid_url, "the HTTP " + std::string{op}
                                           + " endpoint of step '" + s.name
                                           + "': " + why);
  };
  if (auto err = check(s.http.execute, "execute"))
    return err;
  return check(s.http.compensate, "compensate");
}

json endpoint_to_json(const http_endpoint& e) {
  return json{{"method", e.method}, {"path", e.path}};
}

/// Reads the endpoint `key` ("execute", "compensate") of a step's "http"
/// object `obj`, if it is there.
caf::error endpoint_from_json(const json& obj, const char* key,
                              http_endpoint& out) {
  auto i = obj.find(key);
  if (i == obj.end())
    return caf::none;
  if (!i->is_object())
    return make_error(errc::invalid_payload,
                      std::string{"definition JSON: http '"} + key
                        + "' is not an object with 'method' and 'path'");
  if (auto err = read_field(*i, "method", out.method, false))
    return err;
  return read_field(*i, "path", out.path);
}

/// Reads a step's "http" object, if it has one, into `s.http`.
caf::error http_from_json(const json& js, step_definition& s) {
  auto i = js.find("http");
  if (i == js.end())
    return caf::none;
  if (!i->is_object()
      || (!i->contains("execute") && !i->contains("compensate")))
    return make_error(errc::invalid_payload,
                      "definition JSON: 'http' of step '" + s.name
                        + "' is not an object with 'execute' or 'compensate'");
  if (auto err = endpoint_from_json(*i, "execute", s.http.execute))
    return err;
  return endpoint_from_json(*i, "compensate", s.http.compensate);
}

} // namespace

definition& definition::step(std::string name, std::string participant,
                             json payload) {
  changed();
  step_definition s;
  s.action = name;
  s.name = std::move(name);
  s.participant = std::move(participant);
  s.payload = std::move(payload);
  s.retry = default_retry_;
  s.compensation_retry = default_compensation_retry_;
  if (in_group_) {
    s.after = group_base_;
    group_.push_back(s.name);
  } else {
    s.after = frontier_;
    frontier_ = {s.name};
  }
  steps_.push_back(std::move(s));
  return *this;
}

definition& definition::http(http_endpoint execute, http_endpoint compensate) {
  changed();
  auto& s = last_step("http");
  s.http.execute = std::move(execute);
  s.http.compensate = std::move(compensate);
  return *this;
}

definition& definition::after(std::vector<std::string> steps) {
  changed();
  last_step("after").after = std::move(steps);
  return *this;
}

definition& definition::fork() {
  changed();
  if (!in_group_) {
    in_group_ = true;
    group_base_ = frontier_;
    group_.clear();
  }
  return *this;
}

definition& definition::join() {
  changed();
  if (in_group_) {
    in_group_ = false;
    if (!group_.empty())
      frontier_ = group_;
  }
  return *this;
}

definition& definition::pivot() {
  changed();
  last_step("pivot").pivot = true;
  return *this;
}

namespace {

/// Returns the longest operations under `p` can take, in milliseconds:
/// every attempt waits its full `timeout_ms`, every backoff its full base
/// delay. In double, so huge policies saturate instead of overflowing.
double policy_bound_ms(const retry_policy& p, milliseconds timeout) {
  auto attempts = std::max<uint32_t>(p.max_attempts, 1);
  auto total = static_cast<double>(attempts)
               * static_cast<double>(timeout.count());
  // Backoffs grow to the cap and stay there: sum them until they reach it,
  // then count the rest at the cap (a policy of 4 billion attempts loops
  // only as long as its delays still grow).
  for (uint32_t n = 2; n <= attempts; ++n) {
    auto d = p.base_delay(n);
    if (d >= p.max_backoff) {
      total += static_cast<double>(attempts - n + 1)
               * static_cast<double>(p.max_backoff.count());
      break;
    }
    total += static_cast<double>(d.count());
  }
  return total;
}

} // namespace

milliseconds definition::time_bound() const {
  auto g = graph();
  double before_ms = 0; // steps before the pivot (all, without one)
  double after_ms = 0;  // steps after it: retried, never compensated
  double back_ms = 0;   // compensations
  double longest_timeout_ms = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    if (i < g.after_pivot.size() && g.after_pivot[i]) {
      after_ms += policy_bound_ms(forward_retry_, s.timeout);
      continue;
    }
    before_ms += policy_bound_ms(s.retry, s.timeout);
    back_ms += policy_bound_ms(s.compensation_retry, s.compensation_timeout);
    longest_timeout_ms = std::max(longest_timeout_ms,
                                  static_cast<double>(s.timeout.count()));
  }
  // Past the deadline no attempt starts; those in flight are awaited.
  if (deadline_.count() > 0)
    before_ms = std::min(before_ms, static_cast<double>(deadline_.count())
                                      + longest_timeout_ms);
  auto total_ms = before_ms + std::max(after_ms, back_ms);
  if (!(total_ms < static_cast<double>(milliseconds::max().count())))
    return milliseconds::max();
  return milliseconds{static_cast<int64_t>(total_ms)};
}

namespace {

/// Makes `x` the saga-wide default `current` of the policy `member`, and
/// the policy of every step that still has the old default.
void set_default(std::vector<step_definition>& steps,
                 retry_policy step_definition::*member, retry_policy& current,
                 const retry_policy& x) {
  for (auto& s : steps)
    if (same_policy(s.*member, current))
      s.*member = x;
  current = x;
}

} // namespace

definition& definition::default_retry(retry_policy x) {
  changed();
  set_default(steps_, &step_definition::retry, default_retry_, x);
  return *this;
}

definition& definition::default_compensation_retry(retry_policy x) {
  changed();
  set_default(steps_, &step_definition::compensation_retry,
              default_compensation_retry_, x);
  return *this;
}

definition& definition::forward_retry(retry_policy x) {
  changed();
  forward_retry_ = x;
  return *this;
}

step_graph definition::graph() const {
  step_graph g;
  auto n = steps_.size();
  g.deps.resize(n);
  g.dependents.resize(n);
  g.after_pivot.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (steps_[i].pivot && g.pivot < 0)
      g.pivot = static_cast<int32_t>(i);
    for (const auto& d : steps_[i].after) {
      auto j = index_of(d);
      if (j < 0)
        continue; // validate() reports it
      g.deps[i].push_back(j);
      g.dependents[static_cast<size_t>(j)].push_back(static_cast<int32_t>(i));
    }
  }
  if (g.pivot >= 0) {
    // Everything reachable from the pivot runs after it.
    std::vector<int32_t> todo{g.pivot};
    while (!todo.empty()) {
      auto k = todo.back();
      todo.pop_back();
      for (auto d : g.dependents[static_cast<size_t>(k)])
        if (!g.after_pivot[static_cast<size_t>(d)]) {
          g.after_pivot[static_cast<size_t>(d)] = true;
          todo.push_back(d);
        }
    }
  }
  return g;
}

void definition::changed() noexcept {
  if (snapshot_)
    std::atomic_store(&snapshot_, definition_ptr{});
  json_text_.clear();
}

definition_ptr definition::snapshot() const {
  if (auto p = std::atomic_load(&snapshot_))
    return p;
  // Two threads may both get here; each makes an equal copy and the last
  // store wins, which is harmless.
  auto copy = std::make_shared<definition>(*this);
  copy->snapshot_ = nullptr;
  copy->json_text_ = copy->to_json().dump();
  definition_ptr p = std::move(copy);
  std::atomic_store(&snapshot_, p);
  return p;
}

const std::string& definition::json_text() const {
  if (!json_text_.empty())
    return json_text_;
  return snapshot()->json_text_;
}

step_definition& definition::last_step(const char* modifier) {
  if (steps_.empty()) {
    // Remember the misuse for validate(); modify a scratch step meanwhile.
    if (misuse_.empty())
      misuse_ = std::string{modifier} + "() was called before any step()";
    static thread_local step_definition scratch;
    return scratch;
  }
  return steps_.back();
}

definition& definition::action(std::string name) {
  changed();
  last_step("action").action = std::move(name);
  return *this;
}

definition& definition::timeout(milliseconds x) {
  changed();
  last_step("timeout").timeout = x;
  return *this;
}

definition& definition::retry(retry_policy x) {
  changed();
  last_step("retry").retry = x;
  return *this;
}

definition& definition::compensation_timeout(milliseconds x) {
  changed();
  last_step("compensation_timeout").compensation_timeout = x;
  return *this;
}

definition& definition::compensation_retry(retry_policy x) {
  changed();
  last_step("compensation_retry").compensation_retry = x;
  return *this;
}

definition& definition::id(saga_id x) {
  changed();
  id_ = std::move(x);
  return *this;
}

definition& definition::business_key(std::string x) {
  changed();
  business_key_ = std::move(x);
  return *this;
}

definition& definition::deadline(milliseconds x) {
  changed();
  deadline_ = x;
  return *this;
}

int definition::index_of(std::string_view name) const noexcept {
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].name == name)
      return static_cast<int>(i);
  return -1;
}

caf::error definition::validate() const {
  if (name_.empty())
    return make_error(errc::empty_name, "the saga definition has no name");
  if (!misuse_.empty())
    return make_error(errc::no_steps, "saga '" + name_ + "': " + misuse_);
  if (steps_.empty())
    return make_error(errc::no_steps, "saga '" + name_ + "' has no steps");
  if (deadline_.count() < 0)
    return make_error(errc::invalid_timeout,
                      "saga '" + name_ + "': the deadline is negative");
  if (!id_.empty())
    if (auto err = check_saga_id(id_))
      return err;
  if (!business_key_.empty())
    if (auto err = check_business_key(business_key_))
      return err;
  std::unordered_set<std::string_view> names;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    if (s.name.empty())
      return make_error(errc::empty_name, "step #" + std::to_string(i + 1)
                                            + " of saga '" + name_
                                            + "' has an empty name");
    if (!names.insert(s.name).second)
      return make_error(errc::duplicate_step,
                        "step '" + s.name + "' is defined twice");
    if (s.participant.empty())
      return make_error(errc::empty_name,
                        "step '" + s.name + "' names no participant");
    if (s.action.empty())
      return make_error(errc::empty_name,
                        "step '" + s.name + "' has an empty action name");
    if (!s.payload.is_object())
      return make_error(errc::invalid_payload, "the payload of step '" + s.name
                                                 + "' is not a JSON object but "
                                                 + s.payload.type_name());
    if (detail::nests_deeper_than(s.payload, detail::max_json_depth))
      return make_error(errc::invalid_payload,
                        "the payload of step '" + s.name
                          + "' nests arrays and objects deeper than "
                          + std::to_string(detail::max_json_depth) + " levels");
    if (s.timeout.count() <= 0)
      return make_error(errc::invalid_timeout, "the timeout of step '" + s.name
                                                 + "' must be positive");
    if (s.compensation_timeout.count() <= 0)
      return make_error(errc::invalid_timeout,
                        "the compensation timeout of step '" + s.name
                          + "' must be positive");
    if (auto err = check_policy(s.retry,
                                "the retry policy of step '" + s.name + "'"))
      return err;
    if (auto err = check_policy(s.compensation_retry,
                                "the compensation retry policy of step '"
                                  + s.name + "'"))
      return err;
    if (auto err = check_http(s))
      return err;
    for (const auto& d : s.after)
      if (index_of(d) < 0)
        return make_error(errc::unknown_dependency,
                          "step '" + s.name + "' waits for '" + d
                            + "', which is not defined");
  }
  if (auto err = check_policy(forward_retry_, "the forward retry policy of "
                                              "saga '"
                                                + name_ + "'"))
    return err;
  return check_graph();
}

caf::error definition::check_graph() const {
  auto g = graph();
  auto n = steps_.size();
  // Cycles: Kahn's algorithm; whatever is left over sits on a cycle.
  std::vector<size_t> waiting(n);
  std::vector<size_t> ready;
  for (size_t i = 0; i < n; ++i) {
    waiting[i] = g.deps[i].size();
    if (waiting[i] == 0)
      ready.push_back(i);
  }
  size_t done = 0;
  while (!ready.empty()) {
    auto i = ready.back();
    ready.pop_back();
    ++done;
    for (auto d : g.dependents[i])
      if (--waiting[static_cast<size_t>(d)] == 0)
        ready.push_back(static_cast<size_t>(d));
  }
  if (done < n)
    for (size_t i = 0; i < n; ++i)
      if (waiting[i] > 0)
        return make_error(errc::dependency_cycle,
                          "step '" + steps_[i].name
                            + "' waits for itself through a cycle of 'after'");
  // The pivot: one at most, and a cut through the graph.
  size_t pivots = 0;
  for (const auto& s : steps_)
    pivots += s.pivot ? 1 : 0;
  if (pivots > 1)
    return make_error(errc::invalid_pivot,
                      "saga '" + name_ + "' has " + std::to_string(pivots)
                        + " pivots; at most one is allowed");
  if (g.pivot >= 0) {
    std::vector<bool> before(n, false);
    std::vector<int32_t> todo{g.pivot};
    while (!todo.empty()) {
      auto k = todo.back();
      todo.pop_back();
      for (auto d : g.deps[static_cast<size_t>(k)])
        if (!before[static_cast<size_t>(d)]) {
          before[static_cast<size_t>(d)] = true;
          todo.push_back(d);
        }
    }
    for (size_t i = 0; i < n; ++i)
      if (static_cast<int32_t>(i) != g.pivot && !before[i] && !g.after_pivot[i])
        return make_error(errc::invalid_pivot,
                          "step '" + steps_[i].name
                            + "' runs neither before nor after the pivot '"
                            + steps_[static_cast<size_t>(g.pivot)].name + "'");
  }
  return caf::none;
}

json definition::to_json() const {
  // Fields at their defaults are left out: a saga_started event carries the
  // definition, once per saga in the journal, and the defaults are part of
  // the stored format (from_json fills them in). A 3-step definition takes
  // about 200 bytes instead of 1,250.
  const step_definition fresh;
  const auto& same = same_policy;
  auto steps = json::array();
  const std::string* previous = nullptr;
  for (const auto& s : steps_) {
    json js{{"name", s.name}, {"participant", s.participant}};
    if (s.action != s.name)
      js["action"] = s.action;
    if (s.payload != fresh.payload)
      js["payload"] = s.payload;
    if (s.timeout != fresh.timeout)
      js["timeout_ms"] = s.timeout.count();
    // Step policies are stored where they differ from the saga's defaults.
    if (!same(s.retry, default_retry_))
      js["retry"] = policy_to_json(s.retry);
    if (s.compensation_timeout != fresh.compensation_timeout)
      js["compensation_timeout_ms"] = s.compensation_timeout.count();
    if (!same(s.compensation_retry, default_compensation_retry_))
      js["compensation_retry"] = policy_to_json(s.compensation_retry);
    // Left out, "after" means "the step before" (or none for the first).
    auto implied = previous ? std::vector<std::string>{*previous}
                            : std::vector<std::string>{};
    if (s.after != implied)
      js["after"] = s.after;
    if (s.pivot)
      js["pivot"] = true;
    if (!s.http.execute.path.empty())
      js["http"]["execute"] = endpoint_to_json(s.http.execute);
    if (!s.http.compensate.path.empty())
      js["http"]["compensate"] = endpoint_to_json(s.http.compensate);
    steps.push_back(std::move(js));
    previous = &s.name;
  }
  json result{{"name", name_}, {"steps", std::move(steps)}};
  if (!id_.empty())
    result["id"] = id_;
  if (!business_key_.empty())
    result["business_key"] = business_key_;
  if (deadline_.count() != 0)
    result["deadline_ms"] = deadline_.count();
  if (!same(forward_retry_, retry_policy::compensation_default()))
    result["forward_retry"] = policy_to_json(forward_retry_);
  if (!same(default_retry_, fresh.retry))
    result["retry"] = policy_to_json(default_retry_);
  if (!same(default_compensation_retry_, fresh.compensation_retry))
    result["compensation_retry"] = policy_to_json(default_compensation_retry_);
  return result;
}

caf::expected<definition> definition::from_json(const json& x) {
  if (!x.is_object())
    return make_error(errc::invalid_payload,
                      "definition JSON is not an object");
  // Before anything is copied: copies recurse once per level.
  if (detail::nests_deeper_than(x, detail::max_json_depth))
    return make_error(errc::invalid_payload,
                      "definition JSON nests arrays and objects deeper than "
                        + std::to_string(detail::max_json_depth) + " levels");
  definition result;
  if (auto err = read_field(x, "name", result.name_))
    return err;
  if (auto err = read_ms(x, "deadline_ms", result.deadline_))
    return err;
  if (auto err = read_field(x, "id", result.id_, false))
    return err;
  if (auto err = read_field(x, "business_key", result.business_key_, false))
    return err;
  if (auto i = x.find("forward_retry"); i != x.end())
    if (auto err = policy_from_json(*i, result.forward_retry_))
      return err;
  // Saga-wide defaults, which steps without a policy of their own take.
  if (auto i = x.find("retry"); i != x.end())
    if (auto err = policy_from_json(*i, result.default_retry_))
      return err;
  if (auto i = x.find("compensation_retry"); i != x.end())
    if (auto err = policy_from_json(*i, result.default_compensation_retry_))
      return err;
  auto steps = x.find("steps");
  if (steps == x.end() || !steps->is_array())
    return make_error(errc::invalid_payload,
                      "definition JSON lacks the 'steps' array");
  std::string previous;
  for (const auto& js : *steps) {
    if (!js.is_object())
      return make_error(errc::invalid_payload,
                        "definition JSON: a step is not an object");
    step_definition s;
    s.retry = result.default_retry_;
    s.compensation_retry = result.default_compensation_retry_;
    if (auto err = read_field(js, "name", s.name))
      return err;
    if (auto err = read_field(js, "participant", s.participant))
      return err;
    s.action = s.name;
    if (auto err = read_field(js, "action", s.action, false))
      return err;
    if (auto i = js.find("payload"); i != js.end())
      s.payload = *i;
    if (auto err = read_ms(js, "timeout_ms", s.timeout))
      return err;
    if (auto i = js.find("retry"); i != js.end())
      if (auto err = policy_from_json(*i, s.retry))
        return err;
    if (auto err = read_ms(js, "compensation_timeout_ms",
                           s.compensation_timeout))
      return err;
    if (auto i = js.find("compensation_retry"); i != js.end())
      if (auto err = policy_from_json(*i, s.compensation_retry))
        return err;
    if (auto i = js.find("after"); i != js.end()) {
      if (!i->is_array())
        return make_error(errc::invalid_payload,
                          "definition JSON: 'after' of step '" + s.name
                            + "' is not an array");
      for (const auto& d : *i) {
        if (!d.is_string())
          return make_error(errc::invalid_payload,
                            "definition JSON: 'after' of step '" + s.name
                              + "' holds a non-string");
        s.after.push_back(d.get<std::string>());
      }
    } else if (!previous.empty()) {
      s.after = {previous}; // stored before dependencies existed: sequential
    }
    if (auto err = read_field(js, "pivot", s.pivot, false))
      return err;
    if (auto err = http_from_json(js, s))
      return err;
    previous = s.name;
    result.steps_.push_back(std::move(s));
  }
  if (auto err = result.validate())
    return err;
  return result;
}

caf::expected<definition_ptr>
definition::from_json_text(const std::string& text) {
  // Few saga types run at a time; a full cache starts over rather than
  // tracking use, which keeps it bounded and simple.
  constexpr size_t max_cached = 256;
  static std::mutex mtx;
  static std::unordered_map<std::string, definition_ptr> cache;
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (auto i = cache.find(text); i != cache.end())
      return i->second;
  }
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded())
    return make_error(errc::invalid_payload,
                      "the definition is not valid JSON");
  auto d = from_json(j);
  if (!d)
    return std::move(d.error());
  auto p = d->snapshot();
  std::lock_guard<std::mutex> guard{mtx};
  if (cache.size() >= max_cached)
    cache.clear();
  cache.emplace(text, p);
  return p;
}

} // namespace saga
