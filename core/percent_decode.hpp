#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace saga {

/// Returns `x` with its `%XX` escapes decoded (and '+' as a space if
/// `plus_is_space`, as in HTML form queries), or nullopt for a broken
/// escape. Used for Redis URLs and the admin API's paths and queries.
/// Thread-safe (pure).
std::optional<std::string> percent_decode(std::string_view x,
                                          bool plus_is_space = false);

} // namespace saga
