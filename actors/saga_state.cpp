#include "saga/replay.hpp"

#include <algorithm>
#include <cassert>
#include <sstream>

#include "saga/errc.hpp"

namespace saga {

namespace {

caf::error bad(const event& ev, const std::string& why) {
  return make_error(errc::invalid_event,
                    "event #" + std::to_string(ev.seq) + " ("
                      + std::string{to_string(ev.type)} + "): " + why);
}

// Returns the errc named in the `{"code": "..."}` object of `data`, if any.
std::optional<errc> code_of(const std::string& data) {
  if (data.empty())
    return std::nullopt;
  auto j = json::parse(data, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  auto i = j.find("code");
  if (i == j.end() || !i->is_string())
    return std::nullopt;
  return parse_errc(i->get_ref<const std::string&>());
}

/// Prints `t` as an offset from `t0` ("t+12ms"), or as itself ("@t ms")
/// when the difference does not fit: a damaged stream may hold any times.
void print_offset(std::ostream& out, int64_t t, int64_t t0) {
  int64_t d = 0;
  if (__builtin_sub_overflow(t, t0, &d))
    out << '@' << t << "ms";
  else
    out << "t+" << d << "ms";
}

} // namespace

bool saga_state::needs_compensation(size_t index) const noexcept {
  const auto& s = steps[index];
  return s.status == step_status::completed
         || (s.status == step_status::failed && s.outcome_unknown
             && s.compensation_attempts == 0);
}

bool saga_state::past_pivot() const noexcept {
  return graph.pivot >= 0
         && steps[static_cast<size_t>(graph.pivot)].status
              == step_status::completed;
}

std::optional<saga_status> saga_state::retry_status() const noexcept {
  if (status != saga_status::failed)
    return std::nullopt;
  if (error_code == errc::saga_parked)
    return internal.parked_from == saga_status::running
               || internal.parked_from == saga_status::compensating
             ? std::optional<saga_status>{internal.parked_from}
             : std::nullopt;
  for (size_t i = 0; i < steps.size(); ++i)
    if (compensation_gave_up(i))
      return saga_status::compensating;
  for (size_t i = 0; i < steps.size(); ++i)
    if (graph.after_pivot[i] && steps[i].status == step_status::failed)
      return saga_status::running;
  return std::nullopt;
}

bool saga_state::settled(size_t index) const noexcept {
  const auto& s = steps[index];
  switch (s.status) {
    case step_status::pending:
    case step_status::compensated: return true;
    case step_status::failed: return !needs_compensation(index);
    default: return false;
  }
}

void saga_state::set_definition(definition_ptr d) {
  def = std::move(d);
  graph = def->graph();
  steps.assign(def->steps().size(), step_state{});
}

bool saga_state::compensation_gave_up(size_t index) const noexcept {
  const auto& s = steps[index];
  return s.status == step_status::failed && s.compensation_attempts > 0;
}

bool saga_state::same_as(const saga_state& other) const {
  auto same_def = (def == nullptr) == (other.def == nullptr)
                  && (!def || def->to_json() == other.def->to_json());
  return same_def && saga_id == other.saga_id && status == other.status
         && steps == other.steps && failed_step == other.failed_step
         && error == other.error && error_code == other.error_code
         && started_at_ms == other.started_at_ms
         && ended_at_ms == other.ended_at_ms && last_seq == other.last_seq
         && internal == other.internal
         && operator_retries == other.operator_retries;
}

caf::error saga_state::apply(const event& ev) {
  if (ev.seq != last_seq + 1)
    return bad(ev, "expected seq " + std::to_string(last_seq + 1));
  if (ev.type == event_type::saga_started) {
    if (status != saga_status::pending)
      return bad(ev, "the saga has started already");
    // The live saga actor sets `def` before its first event; a replay reads
    // it from the event (tests check that both agree).
    if (!def) {
      auto d = definition::from_json_text(ev.data);
      if (!d)
        return bad(ev, describe(d.error()));
      set_definition(std::move(*d));
    } else if (steps.size() != def->steps().size()) {
      set_definition(def);
    }
    status = saga_status::running;
    started_at_ms = ev.time_ms;
    last_seq = ev.seq;
    return caf::none;
  }
  if (status == saga_status::pending)
    return bad(ev, "the saga has not started");
  if (ev.type == event_type::saga_retried)
    return reopen(ev);
  if (is_terminal(status))
    return bad(ev, "the saga has ended");
  step_state* s = nullptr;
  switch (ev.type) {
    case event_type::saga_started:
    case event_type::compensation_started:
    case event_type::saga_completed:
    case event_type::saga_compensated:
    case event_type::saga_failed:
    case event_type::saga_parked:
    case event_type::saga_retried: break;
    default:
      if (ev.step < 0 || static_cast<size_t>(ev.step) >= steps.size())
        return bad(ev, "no step #" + std::to_string(ev.step));
      s = &steps[static_cast<size_t>(ev.step)];
      if (ev.attempt == 0)
        return bad(ev, "attempt 0");
  }
  auto running = status == saga_status::running;
  auto compensating = status == saga_status::compensating;
  switch (ev.type) {
    case event_type::saga_started: break; // handled above
    case event_type::step_started:
      if (!running)
        return bad(ev, "steps start only while the saga runs");
      if (s->status == step_status::pending) {
        if (ev.attempt != 1)
          return bad(ev, "the first attempt must be 1");
        for (auto d : graph.deps[static_cast<size_t>(ev.step)])
          if (steps[static_cast<size_t>(d)].status != step_status::completed)
            return bad(ev, "step #" + std::to_string(d)
                             + " it waits for has not completed");
        s->started_at_ms = ev.time_ms;
      } else if (s->status != step_status::executing || !s->retry_due
                 || ev.attempt != s->attempts + 1) {
        return bad(ev, "no retry of this step is due");
      }
      s->status = step_status::executing;
      s->attempts = ev.attempt;
      s->retry_due = false;
      break;
    case event_type::step_succeeded:
      // A late success may arrive for a step that failed (timed out) and
      // waits for its compensation: it took effect after all.
      if (s->status != step_status::executing
          && !(s->status == step_status::failed && compensating
               && s->compensation_attempts == 0))
        return bad(ev, "the step is not executing");
      if (ev.attempt > s->attempts)
        return bad(ev, "attempt was never started");
      s->status = step_status::completed;
      s->succeeded = true;
      s->outcome_unknown = false;
      s->retry_due = false;
      s->result = ev.data;
      s->ended_at_ms = ev.time_ms;
      break;
    case event_type::step_attempt_failed:
    case event_type::step_attempt_timed_out:
    case event_type::step_failed:
    case event_type::step_timed_out: {
      if (s->status != step_status::executing)
        return bad(ev, "the step is not executing");
      if (ev.attempt != s->attempts)
        return bad(ev, "not the latest attempt");
      auto final_failure = ev.type == event_type::step_failed
                           || ev.type == event_type::step_timed_out;
      if (!final_failure && !running)
        return bad(ev, "no retries while compensating");
      if (ev.type == event_type::step_attempt_timed_out
          || ev.type == event_type::step_timed_out)
        s->outcome_unknown = true;
      s->error = ev.error;
      s->retry_due = !final_failure;
      if (final_failure) {
        s->status = step_status::failed;
        s->ended_at_ms = ev.time_ms;
      }
      break;
    }
    case event_type::compensation_started:
      if (!running)
        return bad(ev, "the saga is not running");
      if (past_pivot())
        return bad(ev, "the pivot completed: the saga only goes forward");
      if (ev.step < 0 || ev.step >= static_cast<int32_t>(steps.size()))
        return bad(ev, "no step #" + std::to_string(ev.step));
      status = saga_status::compensating;
      failed_step = ev.step;
      error = ev.error;
      error_code = code_of(ev.data);
      internal.turn_error = error;
      internal.turn_code = error_code;
      break;
    case event_type::step_compensating:
      if (!compensating)
        return bad(ev, "the saga is not compensating");
      if (s->status == step_status::compensating) {
        if (!s->compensation_retry_due
            || ev.attempt != s->compensation_attempts + 1)
          return bad(ev, "no compensation retry of this step is due");
      } else if (!needs_compensation(static_cast<size_t>(ev.step))
                 || ev.attempt != 1) {
        return bad(ev, "the step needs no compensation");
      }
      s->status = step_status::compensating;
      s->compensation_attempts = ev.attempt;
      s->compensation_retry_due = false;
      break;
    case event_type::step_compensated:
      if (s->status != step_status::compensating)
        return bad(ev, "the step is not compensating");
      if (ev.attempt > s->compensation_attempts)
        return bad(ev, "attempt was never started");
      s->status = step_status::compensated;
      s->compensation_retry_due = false;
      s->ended_at_ms = ev.time_ms;
      s->compensated_seq = ev.seq;
      break;
    case event_type::compensation_attempt_failed:
    case event_type::compensation_failed:
      if (s->status != step_status::compensating)
        return bad(ev, "the step is not compensating");
      if (ev.attempt != s->compensation_attempts)
        return bad(ev, "not the latest attempt");
      s->error = ev.error;
      if (ev.type == event_type::compensation_failed) {
        s->status = step_status::failed;
        s->compensation_retry_due = false;
      } else {
        s->compensation_retry_due = true;
      }
      break;
    case event_type::saga_completed:
      if (!running)
        return bad(ev, "the saga is not running");
      for (const auto& x : steps)
        if (x.status != step_status::completed)
          return bad(ev, "not every step completed");
      status = saga_status::completed;
      ended_at_ms = ev.time_ms;
      break;
    case event_type::saga_compensated:
      if (!compensating)
        return bad(ev, "the saga is not compensating");
      for (size_t i = 0; i < steps.size(); ++i)
        if (needs_compensation(i) || steps[i].status == step_status::executing
            || steps[i].status == step_status::compensating
            || compensation_gave_up(i))
          return bad(ev, "step #" + std::to_string(i) + " is not undone");
      status = saga_status::compensated;
      ended_at_ms = ev.time_ms;
      break;
    case event_type::saga_failed: {
      // A compensation that gave up, or a step after the pivot that did.
      auto gave_up = false;
      auto forward_failed = false;
      for (size_t i = 0; i < steps.size(); ++i) {
        gave_up = gave_up || compensation_gave_up(i);
        forward_failed = forward_failed
                         || (graph.after_pivot[i]
                             && steps[i].status == step_status::failed);
      }
      if (!(compensating && gave_up) && !(running && forward_failed))
        return bad(ev, "no compensation or step after the pivot failed");
      status = saga_status::failed;
      error = ev.error;
      error_code = code_of(ev.data);
      ended_at_ms = ev.time_ms;
      break;
    }
    case event_type::saga_retried: break; // handled above
    case event_type::saga_parked:
      // Any unfinished saga can be parked; what it did stays as it was.
      internal.parked_from = status;
      status = saga_status::failed;
      error = ev.error;
      error_code = errc::saga_parked;
      ended_at_ms = ev.time_ms;
      break;
  }
  last_seq = ev.seq;
  return caf::none;
}

caf::error saga_state::reopen(const event& ev) {
  auto next = retry_status();
  if (!next)
    return bad(ev, "only a failed saga can be retried (it is "
                     + std::string{to_string(status)} + ")");
  if (error_code != errc::saga_parked) {
    // The compensations that gave up, or else the steps after the pivot
    // that did, are due again with a fresh budget.
    for (size_t i = 0; i < steps.size(); ++i) {
      auto& x = steps[i];
      if (*next == saga_status::compensating && compensation_gave_up(i)) {
        x.status = step_status::compensating;
        x.compensation_retry_due = true;
        x.internal.compensation_attempt_base = x.compensation_attempts;
      } else if (*next == saga_status::running && graph.after_pivot[i]
                 && x.status == step_status::failed) {
        x.status = step_status::executing;
        x.retry_due = true;
        x.internal.attempt_base = x.attempts;
        x.ended_at_ms = 0;
      }
    }
  }
  status = *next;
  if (status == saga_status::compensating) {
    error = internal.turn_error;
    error_code = internal.turn_code;
  } else {
    error.clear();
    error_code.reset();
  }
  internal.parked_from = saga_status::pending;
  ended_at_ms = 0;
  ++operator_retries;
  last_seq = ev.seq;
  return caf::none;
}

caf::expected<saga_state> replay(const saga_id& id,
                                 const std::vector<event>& events) {
  saga_state st;
  st.saga_id = id;
  if (events.empty())
    return make_error(errc::unknown_saga, "saga '" + id + "' has no events");
  for (const auto& ev : events)
    if (auto err = st.apply(ev))
      return err;
  return st;
}

saga_result summarize(const saga_state& st) {
  saga_result r;
  r.success = st.status == saga_status::completed;
  r.saga_id = st.saga_id;
  r.state = st.status;
  if (!st.def)
    return r;
  const auto& defs = st.def->steps();
  for (size_t i = 0; i < defs.size(); ++i)
    if (st.steps[i].succeeded)
      r.completed_steps.push_back(defs[i].name);
  // In the order the compensations finished.
  std::vector<size_t> undone;
  for (size_t i = 0; i < defs.size(); ++i)
    if (st.steps[i].status == step_status::compensated)
      undone.push_back(i);
  std::sort(undone.begin(), undone.end(), [&](size_t x, size_t y) {
    return st.steps[x].compensated_seq < st.steps[y].compensated_seq;
  });
  for (auto i : undone)
    r.compensated_steps.push_back(defs[i].name);
  if (st.failed_step >= 0)
    r.failed_step = defs[static_cast<size_t>(st.failed_step)].name;
  if (!r.success && st.status != saga_status::running
      && st.status != saga_status::pending)
    r.error = make_error(st.error_code.value_or(errc::step_failed), st.error);
  return r;
}

saga_log make_log(const saga_state& state, std::vector<event> events) {
  saga_log log;
  log.saga_id = state.saga_id;
  log.status = state.status;
  log.error = state.error;
  if (state.def) {
    log.name = state.def->name();
    const auto& defs = state.def->steps();
    for (size_t i = 0; i < defs.size(); ++i) {
      const auto& s = state.steps[i];
      step_log x;
      x.name = defs[i].name;
      x.participant = defs[i].participant;
      x.action = defs[i].action;
      x.status = s.status;
      x.attempts = s.attempts;
      x.compensation_attempts = s.compensation_attempts;
      x.outcome_unknown = s.outcome_unknown;
      x.result = s.result;
      x.error = s.error;
      x.after = defs[i].after;
      x.pivot = defs[i].pivot;
      x.started_at_ms = s.started_at_ms;
      x.ended_at_ms = s.ended_at_ms;
      log.steps.push_back(std::move(x));
    }
  }
  log.events = std::move(events);
  return log;
}

std::string to_string(const saga_log& x) {
  std::ostringstream out;
  int64_t t0 = x.events.empty() ? 0 : x.events.front().time_ms;
  out << "saga " << x.saga_id << " (" << x.name << "): " << to_string(x.status);
  if (!x.error.empty())
    out << " -- " << x.error;
  out << "\n  steps:\n";
  for (size_t i = 0; i < x.steps.size(); ++i) {
    const auto& s = x.steps[i];
    out << "    " << i + 1 << ". " << s.name << " @" << s.participant;
    if (s.action != s.name)
      out << "/" << s.action;
    out << ": " << to_string(s.status) << " (attempts " << s.attempts;
    if (s.compensation_attempts > 0)
      out << ", compensation attempts " << s.compensation_attempts;
    out << ")";
    if (s.pivot)
      out << " [pivot]";
    if (!s.after.empty()) {
      out << " after";
      for (const auto& d : s.after)
        out << ' ' << d;
    }
    if (s.started_at_ms > 0) {
      out << ' ';
      print_offset(out, s.started_at_ms, t0);
    }
    if (s.ended_at_ms > 0) {
      out << "..";
      print_offset(out, s.ended_at_ms, t0);
    }
    if (s.outcome_unknown)
      out << " outcome unknown";
    if (!s.result.empty())
      out << " result=" << s.result;
    if (!s.error.empty())
      out << " error=\"" << s.error << '"';
    out << '\n';
  }
  out << "  events:\n";
  for (const auto& ev : x.events)
    out << "    " << to_string(ev) << '\n';
  return out.str();
}

const retry_policy& saga_state::policy_of(size_t index, bool compensate) const {
  assert(def && index < steps.size() && index < graph.after_pivot.size());
  const auto& sd = def->steps()[index];
  if (compensate)
    return sd.compensation_retry;
  return graph.after_pivot[index] ? def->forward_retry() : sd.retry;
}

int64_t saga_state::next_attempt_ms(size_t index, bool compensate,
                                    uint32_t attempt, int64_t failed_ms) const {
  const auto& x = steps[index];
  const auto& policy = policy_of(index, compensate);
  auto base = compensate ? x.internal.compensation_attempt_base
                         : x.internal.attempt_base;
  // Attempts count from the last operator retry (the policy's budget).
  auto nth = attempt > base ? attempt - base : 1;
  return failed_ms + policy.base_delay(nth + 1).count();
}

} // namespace saga
