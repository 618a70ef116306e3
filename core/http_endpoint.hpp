#pragma once

// Checks of HTTP endpoints and their text form, shared by definitions (a
// step's endpoints) and HTTP participants (their routes). Pure functions,
// thread-safe.

#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "saga/http_endpoint.hpp"

namespace saga::detail {

/// Returns what is wrong with `e`, or an empty string: the method must be
/// upper-case letters (at most 16), the path start with '/', hold no space,
/// control character, '#' or byte outside ASCII, and be at most
/// `http_path_bytes_max` bytes.
std::string http_endpoint_problem(const http_endpoint& e);

/// Returns `e` as `METHOD /path`, the form a step's endpoint travels in
/// (`step_command::endpoint`).
std::string to_text(const http_endpoint& e);

/// Returns the endpoint `text` (as `to_text` writes it), or an
/// `errc::invalid_url` error naming the problem.
caf::expected<http_endpoint> http_endpoint_from_text(std::string_view text);

} // namespace saga::detail
