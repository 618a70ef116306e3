#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "saga/event.hpp"
#include "saga/json.hpp"
#include "saga/replay.hpp"

namespace saga {

/// What operators see of a saga (docs/admin-api.md), computed from its
/// history alone: the list entry of a replayed state and the timeline of a
/// whole history. Pure functions without I/O; thread-safe.

/// Returns the node and epoch of the owner token `token` ("<node>/<epoch>");
/// the epoch is 0 when it is missing or not a number.
std::pair<std::string, uint64_t> parse_owner_token(std::string_view token);

/// Returns the list entry of saga `st` owned by `owner` in incarnation
/// `epoch`: `{"id", "definition", "state", "owner", "epoch", "started_ms",
/// "ended_ms", "steps", "steps_done", "failed_step", "error"}`.
json saga_summary_json(const saga_state& st, const std::string& owner,
                       uint64_t epoch);

/// Returns the retry saga `st` waits for, from its history `events`, or
/// null when none: `{"step", "op" (execute or compensate), "attempt" (the
/// failed one, counted from the last operator retry), "max_attempts",
/// "next_at_ms" (the latest time the next attempt starts: the policy's
/// delay without jitter after the failure), "error"}`.
json retrying_json(const saga_state& st, const std::vector<event>& events);

/// Returns event `ev` as `{"seq", "type", "step", "attempt", "error",
/// "time_ms"}` (`step` is null for saga-level events).
json event_json(const event& ev);

/// Returns one entry per execute and compensate attempt of step `index` in
/// `events`: `{"op", "attempt", "started_ms", "ended_ms", "outcome",
/// "error"}`, in the order they started.
json step_operations_json(const std::vector<event>& events, int32_t index);

/// Returns the operator actions in `events` (retries: `saga_retried`;
/// aborts: `compensation_started` with code `aborted`) as `{"action", "by",
/// "time_ms", "seq"}`.
json operator_actions_json(const std::vector<event>& events);

/// Returns the timeline of saga `id` from its whole history `events` (shape
/// of `GET /api/sagas/<id>`). A history that does not replay still shows its
/// events and the state up to the first bad event; `error` then names the
/// replay error and `invalid_history` is true.
json saga_timeline_json(const saga_id& id, const std::vector<event>& events,
                        const std::string& owner, uint64_t epoch);

} // namespace saga
