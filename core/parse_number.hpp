#pragma once

#include <charconv>
#include <string_view>
#include <system_error>

namespace saga {

/// Returns whether all of `s` is a decimal number that fits `T`, and stores
/// it in `out` if so. Thread-safe (pure).
template <class T>
bool parse_number(std::string_view s, T& out) noexcept {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

} // namespace saga
