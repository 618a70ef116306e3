#pragma once

#include <chrono>
#include <string>

#include <caf/expected.hpp>

#include "admin/admin_backend.hpp"

namespace saga::detail {

/// The longest `wait` a start may ask for.
constexpr std::chrono::milliseconds max_start_wait{60'000};

/// Returns the start that the body of `POST /api/sagas` asks for
/// (docs/admin-api.md): `{"definition": {...}, "id", "business_key",
/// "wait"}`, the last three optional, `wait` as "500ms" or "5s". Without an
/// id it makes one (128 random bits). Errors name the problem: a malformed
/// body or member is `errc::invalid_request`; a bad definition carries the
/// definition's own code (`validate()`, `invalid_id`). Pure; thread-safe.
caf::expected<start_request> parse_start_body(const std::string& body);

} // namespace saga::detail
