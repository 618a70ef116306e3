#pragma once

// The base URL of an HTTP participant, parsed and checked. Value type.

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace saga::detail {

/// `http://host[:port][/prefix]` or `https://...`.
struct http_url {
  bool tls = false;
  /// A name, an IPv4 address, or an IPv6 address without its brackets.
  std::string host;
  uint16_t port = 0;
  /// The path prefix without a trailing '/', possibly empty.
  std::string prefix;

  /// Returns the URL as written back: scheme, host, port, prefix.
  std::string text() const;
};

/// Returns `text` parsed, or an `errc::invalid_url` error naming what is
/// wrong: not http or https, no host, a bad port, user info, a query or
/// fragment, control characters or spaces.
caf::expected<http_url> parse_http_url(std::string_view text);

} // namespace saga::detail
