#pragma once

#include <string>
#include <vector>

#include <caf/error.hpp>

#include "saga/effect.hpp"

namespace saga::detail {

/// Returns an `errc::invalid_config` error naming the first effect of
/// `effects` that no journal applies (an empty key, or a kind outside
/// `effect::kind`, which only a corrupt message can hold), or no error.
/// Both journals call it before any effect of a batch runs.
caf::error check_effects(const std::vector<effect>& effects);

/// Returns an `errc::invalid_config` error naming the first effect of
/// `effects` whose key is not in the hash slot of saga `id`'s keys, or no
/// error. On a Redis Cluster a script may only touch keys of its own slot,
/// so an atomic effect there must be hash-tagged like its saga (`{<id>}`).
caf::error check_effect_slots(const std::string& id,
                              const std::vector<effect>& effects);

/// Returns `x` as the Redis command that applies it (argv), e.g.
/// {"HINCRBY", key, field, "-30"}. `x` passed `check_effects`.
std::vector<std::string> redis_command(const effect& x);

/// Returns how an error message names effect `n` (0-based) of a batch:
/// "atomic effect 2 (incr_by on 'shop:balance')".
std::string describe_effect(size_t n, const effect& x);

} // namespace saga::detail
