#include "http/http_url.hpp"

#include "core/parse_number.hpp"
#include "saga/errc.hpp"

namespace saga::detail {

namespace {

caf::error bad_url(std::string_view text, const std::string& why) {
  return make_error(errc::invalid_url,
                    "HTTP URL '" + std::string{text} + "': " + why);
}

/// Returns whether `c` may stand in a URL as we take it: printable ASCII
/// without space (percent-encoded bytes pass as '%' and hex digits).
bool url_char(char c) {
  return c > 0x20 && c < 0x7f;
}

} // namespace

std::string http_url::text() const {
  std::string out = tls ? "https://" : "http://";
  if (host.find(':') != std::string::npos)
    out.append("[").append(host).append("]");
  else
    out.append(host);
  out.append(":").append(std::to_string(port)).append(prefix);
  return out;
}

caf::expected<http_url> parse_http_url(std::string_view text) {
  http_url url;
  for (char c : text)
    if (!url_char(c))
      return bad_url(text, "it holds a space or a control character");
  std::string_view rest = text;
  if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
  } else if (rest.substr(0, 8) == "https://") {
    url.tls = true;
    rest.remove_prefix(8);
  } else {
    return bad_url(text, "the scheme must be http:// or https://");
  }
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  auto path = slash == std::string_view::npos ? std::string_view{}
                                              : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return bad_url(text, "user info is not taken (send credentials as a "
                         "header)");
  if (path.find_first_of("?#") != std::string_view::npos)
    return bad_url(text, "a base URL has no query or fragment");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return bad_url(text, "the IPv6 address lacks its ']'");
    url.host = std::string{authority.substr(1, close - 1)};
    auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      return bad_url(text, "unexpected text after the IPv6 address");
    if (!after.empty())
      port_text = after.substr(1);
  } else {
    auto colon = authority.find(':');
    url.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos)
      port_text = authority.substr(colon + 1);
  }
  if (url.host.empty())
    return bad_url(text, "no host");
  url.port = url.tls ? 443 : 80;
  if (!port_text.empty() || authority.back() == ':')
    if (!parse_number(port_text, url.port) || url.port == 0)
      return bad_url(text, "the port must be a number from 1 to 65535");
  while (!path.empty() && path.back() == '/')
    path.remove_suffix(1);
  url.prefix = std::string{path};
  return url;
}

} // namespace saga::detail
