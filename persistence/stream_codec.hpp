#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "saga/event.hpp"

struct redisReply;

namespace saga {

/// The form of saga events as Redis stream entries (entry ID `0-<seq>`,
/// fields type, step, attempt, data, error, time; docs/redis-layout.md).
/// Pure functions, thread-safe.

/// Appends the six field values of `ev` (type, step, attempt, data, error,
/// time) to `argv`, as the append script takes them. The number texts are
/// kept alive in `texts`; `argv` also points into `ev`.
void append_event_fields(const event& ev, std::vector<std::string_view>& argv,
                         std::deque<std::string>& texts);

/// Returns the events of an XRANGE reply of saga `id`'s stream, or an
/// `errc::invalid_event` error naming the first bad entry.
caf::expected<std::vector<event>> parse_events(const redisReply& r,
                                               const saga_id& id);

} // namespace saga
