#include "persistence/redis_url.hpp"

#include <limits>

#include "core/parse_number.hpp"
#include "core/percent_decode.hpp"
#include "saga/errc.hpp"

namespace saga {

namespace {

/// Returns `url` with the password masked: between ':' and '@', or all of
/// the credentials when they have no ':' (redis://password@host); also when
/// the scheme is missing (":password@host").
std::string masked(const std::string& url) {
  auto scheme_end = url.find("://");
  auto start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  auto at = url.rfind('@');
  if (at == std::string::npos || at < start)
    return url;
  auto colon = url.find(':', start);
  if (colon == std::string::npos || colon > at)
    return url.substr(0, start) + "***" + url.substr(at);
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

caf::error bad_url(const std::string& url, const std::string& why) {
  return make_error(errc::invalid_url,
                    "journal URL '" + masked(url) + "': " + why);
}

} // namespace

std::string redis_endpoint::describe() const {
  if (!socket_path.empty())
    return "unix:" + socket_path + "/" + std::to_string(db);
  return host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

caf::expected<redis_endpoint> parse_redis_url(const std::string& url) {
  redis_endpoint ep;
  auto sep = url.find("://");
  if (sep == std::string::npos)
    return bad_url(url, "no scheme (expected redis:// or unix://)");
  auto scheme = url.substr(0, sep);
  auto rest = url.substr(sep + 3);
  if (scheme == "unix") {
    auto query = rest.find('?');
    auto path = rest.substr(0, query);
    if (path.empty() || path.front() != '/')
      return bad_url(url, "the socket path must be absolute (unix:///path)");
    ep.socket_path = path;
    if (query != std::string::npos) {
      auto q = rest.substr(query + 1);
      if (q.rfind("db=", 0) != 0 || !parse_number(q.substr(3), ep.db))
        return bad_url(url, "the only query parameter is db=<number>");
    }
    return ep;
  }
  if (scheme != "redis")
    return bad_url(url, "unsupported scheme '" + scheme
                          + "' (expected redis:// or unix://)");
  // Credentials end at the last '@' so passwords may contain '@' encoded or
  // not.
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    auto cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    std::string user = colon == std::string::npos ? cred
                                                  : cred.substr(0, colon);
    std::string pass = colon == std::string::npos ? std::string{}
                                                  : cred.substr(colon + 1);
    if (colon == std::string::npos) {
      // redis://password@host is a common shorthand: treat it as password.
      pass = user;
      user.clear();
    }
    auto decoded_user = percent_decode(user);
    auto decoded_pass = percent_decode(pass);
    if (!decoded_user || !decoded_pass)
      return bad_url(url, "malformed percent escape in the credentials");
    ep.user = std::move(*decoded_user);
    ep.password = std::move(*decoded_pass);
    if (ep.password.empty())
      return bad_url(url, "empty password");
  }
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  if (slash != std::string::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty() && !parse_number(db, ep.db))
      return bad_url(url, "database '" + db + "' is not a number");
  }
  if (hostport.empty())
    return bad_url(url, "no host");
  std::string port_text;
  if (hostport.front() == '[') { // [ipv6]:port
    auto close = hostport.find(']');
    if (close == std::string::npos)
      return bad_url(url, "unterminated IPv6 address");
    ep.host = hostport.substr(1, close - 1);
    auto after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return bad_url(url, "garbage after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty())
        return bad_url(url, "empty port");
    }
  } else {
    auto colon = hostport.rfind(':');
    ep.host = hostport.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty())
        return bad_url(url, "empty port");
    }
  }
  if (ep.host.empty())
    return bad_url(url, "no host");
  if (!port_text.empty()) {
    uint32_t port = 0;
    if (!parse_number(port_text, port) || port == 0 || port > 65535)
      return bad_url(url, "port '" + port_text + "' is not in 1..65535");
    ep.port = static_cast<uint16_t>(port);
  }
  return ep;
}

} // namespace saga
