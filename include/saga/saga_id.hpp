#pragma once

#include <cstddef>
#include <string_view>

#include <caf/error.hpp>

namespace saga {

/// The longest saga id and business key, in bytes.
constexpr size_t max_saga_id_bytes = 200;

/// Returns whether `id` is a well-formed saga id: 1 to `max_saga_id_bytes`
/// characters of letters, digits, '.', '_', ':' and '-'. Ids the runtime
/// makes itself are of this form; ids clients choose must be.
bool valid_saga_id(std::string_view id) noexcept;

/// Returns an `errc::invalid_id` error naming what is wrong with the client
/// chosen saga id `id`, or none.
caf::error check_saga_id(std::string_view id);

/// Returns an `errc::invalid_id` error naming what is wrong with business key
/// `key` (1 to `max_saga_id_bytes` bytes, no control characters), or none.
caf::error check_business_key(std::string_view key);

} // namespace saga
