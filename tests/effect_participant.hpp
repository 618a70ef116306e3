#pragma once

// A participant whose effects are recorded in Redis, so they survive the
// death of the process that applied them. Used by the crash tests: a child
// process runs sagas and is killed; the parent recovers them and checks the
// recorded effects.
//
// Keys: calls:{<tag>} and effects:{<tag>}, hashes with fields
// "<saga id>/<step>/<exec|comp>". `calls` counts every request; `effects`
// is set once (HSETNX), as an idempotent participant would apply it.

#include <string>

#include "saga/saga.hpp"

namespace saga::test {

/// Registers participant "acct" with actions s1, s2, s3 (blocking handlers).
/// s3 fails when its payload has "fail": true. With `print_progress`, writes
/// "e" to stdout after each recorded effect; `on_effect` (if set) is called
/// after each one too.
void add_effect_participant(runtime& rt, const std::string& redis_url,
                            const std::string& tag, bool print_progress,
                            const std::function<void()>& on_effect = {});

/// Returns the definition of crash-test saga number `index`: every third
/// one fails at s3 and compensates s2 and s1. Each attempt may take
/// `timeout`; each operation is tried up to `attempts` times.
definition
crash_saga(int index,
           std::chrono::milliseconds timeout = std::chrono::seconds{10},
           uint32_t attempts = 1);

} // namespace saga::test
