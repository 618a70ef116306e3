#include "admin/saga_view.hpp"

#include "core/json_depth.hpp"
#include "core/parse_number.hpp"
#include "saga/errc.hpp"

namespace saga {

namespace {

/// Returns the JSON object in `data`, or an empty object.
json data_object(const std::string& data) {
  if (data.empty())
    return json::object();
  auto j = json::parse(data, nullptr, false);
  // Too deep to copy or dump safely (core/json_depth.hpp): left out.
  if (!j.is_object() || detail::nests_deeper_than(j, detail::max_json_depth))
    return json::object();
  return j;
}

/// Returns the string member `key` of `obj`, or `fallback`.
std::string string_member(const json& obj, const char* key,
                          std::string fallback = {}) {
  auto i = obj.find(key);
  if (i != obj.end() && i->is_string())
    return i->get<std::string>();
  return fallback;
}

/// Returns the name of step `index` of `st`, or "".
std::string step_name(const saga_state& st, int32_t index) {
  if (!st.def || index < 0
      || static_cast<size_t>(index) >= st.def->steps().size())
    return {};
  return st.def->steps()[static_cast<size_t>(index)].name;
}

/// Returns the result text `text` as JSON (null when empty, the text itself
/// when it is not JSON).
json result_json(const std::string& text) {
  if (text.empty())
    return nullptr;
  auto j = json::parse(text, nullptr, false);
  // Not JSON, or too deep to dump safely (core/json_depth.hpp): as text.
  if (j.is_discarded() || detail::nests_deeper_than(j, detail::max_json_depth))
    return text;
  return j;
}

} // namespace

std::pair<std::string, uint64_t> parse_owner_token(std::string_view token) {
  auto slash = token.rfind('/');
  if (slash == std::string_view::npos)
    return {std::string{token}, 0};
  uint64_t epoch = 0;
  if (!parse_number(token.substr(slash + 1), epoch))
    epoch = 0;
  return {std::string{token.substr(0, slash)}, epoch};
}

json saga_summary_json(const saga_state& st, const std::string& owner,
                       uint64_t epoch) {
  size_t done = 0;
  for (const auto& s : st.steps)
    if (s.succeeded)
      ++done;
  return json{{"id", st.saga_id},
              {"definition", st.def ? st.def->name() : std::string{}},
              {"business_key", st.def ? st.def->business_key() : std::string{}},
              {"state", std::string{to_string(st.status)}},
              {"owner", owner},
              {"epoch", epoch},
              {"started_ms", st.started_at_ms},
              {"ended_ms", st.ended_at_ms},
              {"steps", st.def ? st.def->steps().size() : size_t{0}},
              {"steps_done", done},
              {"failed_step", step_name(st, st.failed_step)},
              {"error", st.error}};
}

json retrying_json(const saga_state& st, const std::vector<event>& events) {
  if (!st.def || is_terminal(st.status))
    return nullptr;
  const auto& defs = st.def->steps();
  for (size_t i = 0; i < st.steps.size() && i < defs.size(); ++i) {
    const auto& x = st.steps[i];
    const bool comp = x.compensation_retry_due;
    if (!x.retry_due && !comp)
      continue;
    auto base = comp ? x.internal.compensation_attempt_base
                     : x.internal.attempt_base;
    auto failed = comp ? x.compensation_attempts : x.attempts;
    // When the failed attempt ended: its failure is the step's latest
    // attempt event.
    int64_t failed_ms = 0;
    for (auto ev = events.rbegin(); ev != events.rend(); ++ev)
      if (ev->step == static_cast<int32_t>(i) && ev->attempt == failed) {
        failed_ms = ev->time_ms;
        break;
      }
    return json{{"step", defs[i].name},
                {"op", comp ? "compensate" : "execute"},
                {"attempt", failed - base},
                {"max_attempts", st.policy_of(i, comp).max_attempts},
                {"next_at_ms", st.next_attempt_ms(i, comp, failed, failed_ms)},
                {"error", x.error}};
  }
  return nullptr;
}

json event_json(const event& ev) {
  return json{{"seq", ev.seq},
              {"type", std::string{to_string(ev.type)}},
              {"step", ev.step < 0 ? json(nullptr) : json(ev.step)},
              {"attempt", ev.attempt},
              {"error", ev.error},
              {"time_ms", ev.time_ms}};
}

json step_operations_json(const std::vector<event>& events, int32_t index) {
  auto ops = json::array();
  // Settles the latest operation `op` of attempt `attempt` (a late answer
  // still settles the attempt it belongs to).
  auto settle = [&](const char* op, const event& ev, const char* outcome) {
    for (auto i = ops.size(); i-- > 0;) {
      auto& x = ops[i];
      if (x["op"] == op && x["attempt"] == ev.attempt) {
        x["ended_ms"] = ev.time_ms;
        x["outcome"] = outcome;
        x["error"] = ev.error;
        return;
      }
    }
  };
  auto start = [&](const char* op, const event& ev) {
    ops.push_back(json{{"op", op},
                       {"attempt", ev.attempt},
                       {"started_ms", ev.time_ms},
                       {"ended_ms", 0},
                       {"outcome", "pending"},
                       {"error", ""}});
  };
  for (const auto& ev : events) {
    if (ev.step != index)
      continue;
    switch (ev.type) {
      case event_type::step_started: start("execute", ev); break;
      case event_type::step_succeeded:
        settle("execute", ev, "succeeded");
        break;
      case event_type::step_attempt_failed:
      case event_type::step_failed: settle("execute", ev, "failed"); break;
      case event_type::step_attempt_timed_out:
      case event_type::step_timed_out:
        settle("execute", ev, "timed_out");
        break;
      case event_type::step_compensating: start("compensate", ev); break;
      case event_type::step_compensated:
        settle("compensate", ev, "compensated");
        break;
      case event_type::compensation_attempt_failed:
      case event_type::compensation_failed:
        settle("compensate", ev, "compensation_failed");
        break;
      default: break;
    }
  }
  return ops;
}

json operator_actions_json(const std::vector<event>& events) {
  auto result = json::array();
  for (const auto& ev : events) {
    // By name: the retry event is newer than some builds of this library.
    auto type = to_string(ev.type);
    std::string action;
    json data;
    if (type == "saga_retried") {
      data = data_object(ev.data);
      action = string_member(data, "action", "retry");
    } else if (ev.type == event_type::compensation_started) {
      data = data_object(ev.data);
      if (string_member(data, "code") != "aborted")
        continue;
      action = "abort";
    } else {
      continue;
    }
    result.push_back(json{{"action", action},
                          {"by", string_member(data, "by")},
                          {"time_ms", ev.time_ms},
                          {"seq", ev.seq}});
  }
  return result;
}

json saga_timeline_json(const saga_id& id, const std::vector<event>& events,
                        const std::string& owner, uint64_t epoch) {
  saga_state st;
  st.saga_id = id;
  std::string replay_error;
  for (const auto& ev : events)
    if (auto err = st.apply(ev)) {
      replay_error = describe(err);
      break;
    }
  auto result = saga_summary_json(st, owner, epoch);
  result.erase("steps");
  result.erase("steps_done");
  result["retrying"] = retrying_json(st, events);
  result["error_code"] = st.error_code ? to_string(*st.error_code) : "";
  result["last_seq"] = st.last_seq;
  if (!replay_error.empty()) {
    result["error"] = replay_error;
    result["invalid_history"] = true;
  }
  auto steps = json::array();
  if (st.def) {
    const auto& defs = st.def->steps();
    for (size_t i = 0; i < defs.size(); ++i) {
      const auto& d = defs[i];
      const auto& s = st.steps[i];
      steps.push_back(json{
        {"index", i},
        {"name", d.name},
        {"participant", d.participant},
        {"action", d.action},
        {"after", d.after},
        {"pivot", d.pivot},
        {"payload", d.payload},
        {"status", std::string{to_string(s.status)}},
        {"attempts", s.attempts},
        {"compensation_attempts", s.compensation_attempts},
        {"outcome_unknown", s.outcome_unknown},
        {"result", result_json(s.result)},
        {"error", s.error},
        {"started_ms", s.started_at_ms},
        {"ended_ms", s.ended_at_ms},
        {"operations", step_operations_json(events, static_cast<int32_t>(i))},
      });
    }
  }
  result["steps"] = std::move(steps);
  auto evs = json::array();
  for (const auto& ev : events)
    evs.push_back(event_json(ev));
  result["events"] = std::move(evs);
  result["operator_actions"] = operator_actions_json(events);
  return result;
}

} // namespace saga
