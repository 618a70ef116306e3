#include "core/http_endpoint.hpp"

#include <algorithm>

#include "saga/errc.hpp"

namespace saga::detail {

namespace {

/// Bytes of a method at most (the longest registered one has 17; none
/// caf-saga sends has more than 7).
constexpr size_t method_bytes_max = 16;

/// Returns `x` cut to 60 bytes with bytes outside printable ASCII as '?':
/// safe to quote in an error.
std::string quotable(std::string_view x) {
  std::string out{x.substr(0, 60)};
  std::replace_if(
    out.begin(), out.end(),
    [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u < 0x20 || u >= 0x7f;
    },
    '?');
  return x.size() > 60 ? out + "..." : out;
}

} // namespace

std::string http_endpoint_problem(const http_endpoint& e) {
  if (e.method.empty() || e.method.size() > method_bytes_max
      || !std::all_of(e.method.begin(), e.method.end(),
                      [](char c) { return c >= 'A' && c <= 'Z'; }))
    return "method '" + quotable(e.method)
           + "' is not an upper-case HTTP method";
  if (e.path.empty() || e.path.front() != '/')
    return "path '" + quotable(e.path) + "' does not start with '/'";
  if (e.path.size() > http_path_bytes_max)
    return "path is longer than " + std::to_string(http_path_bytes_max)
           + " bytes";
  if (std::any_of(e.path.begin(), e.path.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f || c == '#';
      }))
    return "path '" + quotable(e.path)
           + "' holds a space, a control character, '#' or a byte outside "
             "ASCII (percent-encode it)";
  return {};
}

std::string to_text(const http_endpoint& e) {
  return e.method + ' ' + e.path;
}

caf::expected<http_endpoint> http_endpoint_from_text(std::string_view text) {
  auto space = text.find(' ');
  if (space == std::string_view::npos)
    return make_error(errc::invalid_url, "endpoint '" + quotable(text)
                                           + "' is not 'METHOD /path'");
  http_endpoint e;
  e.method = std::string{text.substr(0, space)};
  e.path = std::string{text.substr(space + 1)};
  if (auto why = http_endpoint_problem(e); !why.empty())
    return make_error(errc::invalid_url, "endpoint: " + why);
  return e;
}

} // namespace saga::detail
