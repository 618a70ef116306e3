// Fuzz target: the journal URL parser (persistence/redis_url.hpp). The
// input is the URL. Checks, besides "no crash, no sanitizer finding":
//
// 1. an endpoint parsed from a URL is one of the two forms: TCP (host, port
//    1..65535, no socket path) or a unix socket (absolute path, no host);
//    a password is never empty when credentials were given;
// 2. describe() is exactly [tls ]host:port/db or unix:path/db: no user or
//    password in it, ever (it goes into logs and error messages); TLS
//    settings only on rediss:// endpoints, a client certificate with its key;
// 3. an error quotes the URL with its password masked: everything between
//    the first ':' of the credentials (or their start) and the last '@',
//    whatever the scheme, even a missing one;
// 4. round trip: the endpoint written back as a URL (credentials
//    percent-encoded) parses to the same endpoint.
//
// A check that fails prints what it saw and calls __builtin_trap().

#include <cstdint>
#include <cstdio>
#include <string>

#include "persistence/redis_url.hpp"
#include "saga/errc.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& url,
                       const std::string& detail) {
  std::fprintf(stderr, "redis_url_fuzz: %s\n  url: '%s'\n  %s\n", what,
               url.c_str(), detail.c_str());
  __builtin_trap();
}

std::string percent_encode(const std::string& x) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : x) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::string expected_describe(const saga::redis_endpoint& ep) {
  if (!ep.socket_path.empty())
    return "unix:" + ep.socket_path + "/" + std::to_string(ep.db);
  std::string tls = ep.tls ? "tls " : "";
  if (ep.cluster()) {
    const auto& first = ep.cluster_seeds.front();
    auto out = tls + "cluster " + first.host + ":" + std::to_string(first.port);
    if (ep.cluster_seeds.size() > 1)
      out += ",+" + std::to_string(ep.cluster_seeds.size() - 1);
    return out;
  }
  return tls + ep.host + ":" + std::to_string(ep.port) + "/"
         + std::to_string(ep.db);
}

/// Returns the query that sets `ep`'s TLS settings ("" for none).
std::string tls_query(const saga::redis_endpoint& ep) {
  if (!ep.tls)
    return "";
  std::string out;
  const std::pair<const char*, const std::string*> fields[] = {
    {"ca_file", &ep.tls->ca_file},
    {"cert_file", &ep.tls->cert_file},
    {"key_file", &ep.tls->key_file},
    {"server_name", &ep.tls->server_name},
  };
  for (const auto& [name, value] : fields)
    if (!value->empty())
      out += (out.empty() ? "?" : "&") + std::string{name} + "="
             + percent_encode(*value);
  return out;
}

/// Writes `ep` back as a URL that parse_redis_url reads as `ep`.
std::string to_url(const saga::redis_endpoint& ep) {
  if (!ep.socket_path.empty())
    return "unix://" + ep.socket_path + "?db=" + std::to_string(ep.db);
  std::string url = ep.tls ? "rediss" : "redis";
  url += ep.cluster() ? "+cluster://" : "://";
  if (!ep.password.empty()) {
    url += percent_encode(ep.user);
    url += ':';
    url += percent_encode(ep.password);
    url += '@';
  }
  // The host runs up to the last ':' unless it starts with '[': bracket it
  // when that is possible (no ']' inside), else write it as it is; either
  // way with an explicit port.
  auto host_port = [&url](const std::string& host, uint16_t port) {
    if (host.find(']') == std::string::npos)
      url += "[" + host + "]";
    else
      url += host;
    url += ":" + std::to_string(port);
  };
  if (!ep.cluster()) {
    host_port(ep.host, ep.port);
    return url + "/" + std::to_string(ep.db) + tls_query(ep);
  }
  for (const auto& x : ep.cluster_seeds) {
    if (&x != &ep.cluster_seeds.front())
      url += ',';
    host_port(x.host, x.port);
  }
  return url + tls_query(ep);
}

bool same(const saga::redis_endpoint& x, const saga::redis_endpoint& y) {
  if (x.cluster_seeds.size() != y.cluster_seeds.size())
    return false;
  for (size_t i = 0; i < x.cluster_seeds.size(); ++i)
    if (x.cluster_seeds[i].host != y.cluster_seeds[i].host
        || x.cluster_seeds[i].port != y.cluster_seeds[i].port)
      return false;
  if (x.tls.has_value() != y.tls.has_value())
    return false;
  if (x.tls
      && (x.tls->ca_file != y.tls->ca_file
          || x.tls->cert_file != y.tls->cert_file
          || x.tls->key_file != y.tls->key_file
          || x.tls->server_name != y.tls->server_name))
    return false;
  return x.host == y.host && x.port == y.port && x.socket_path == y.socket_path
         && x.user == y.user && x.password == y.password && x.db == y.db;
}

std::string show(const saga::redis_endpoint& ep) {
  return "host='" + ep.host + "' port=" + std::to_string(ep.port) + " socket='"
         + ep.socket_path + "' user='" + ep.user + "' password='" + ep.password
         + "' db=" + std::to_string(ep.db);
}

void check_endpoint(const std::string& url, const saga::redis_endpoint& ep) {
  if (ep.socket_path.empty() == ep.host.empty())
    fail("neither TCP nor unix socket (or both)", url, show(ep));
  if (!ep.socket_path.empty()) {
    if (ep.socket_path.front() != '/')
      fail("relative socket path", url, show(ep));
    if (!ep.user.empty() || !ep.password.empty())
      fail("credentials on a unix socket", url, show(ep));
  } else if (ep.port == 0) {
    fail("port 0", url, show(ep));
  }
  if (ep.cluster()) {
    if (ep.db != 0)
      fail("a cluster on a database other than 0", url, show(ep));
    if (ep.cluster_seeds.size() > 64)
      fail("more than 64 seeds", url, show(ep));
    if (ep.cluster_seeds.front().host != ep.host
        || ep.cluster_seeds.front().port != ep.port)
      fail("host:port is not the first seed", url, show(ep));
    for (const auto& x : ep.cluster_seeds)
      if (x.host.empty() || x.port == 0)
        fail("a seed without host or port", url, show(ep));
  }
  if (!ep.user.empty() && ep.password.empty())
    fail("a user without a password", url, show(ep));
  if (ep.tls && (!ep.socket_path.empty() || url.rfind("rediss", 0) != 0))
    fail("TLS settings on an endpoint that is not rediss://", url, show(ep));
  if (ep.tls && ep.tls->cert_file.empty() != ep.tls->key_file.empty())
    fail("a client certificate without its key", url, show(ep));
  auto d = ep.describe();
  if (d != expected_describe(ep))
    fail("describe() is not host:port/db or unix:path/db", url,
         "describe: '" + d + "', " + show(ep));
  if (!ep.password.empty() && d.find(ep.password) != std::string::npos
      && expected_describe(ep).find(ep.password) == std::string::npos)
    fail("describe() shows the password", url, d);
}

/// Returns `url` as an error must quote it: the credentials are what
/// stands between the start of the authority (after "://", or the start of
/// the text when the scheme is missing) and the last '@'; the password is
/// what follows their first ':', or all of them (redis://password@host).
/// Any scheme: a password in a URL whose scheme is mistyped or missing is
/// still a password.
std::string expected_quote(const std::string& url) {
  auto sep = url.find("://");
  auto start = sep == std::string::npos ? 0 : sep + 3;
  auto at = url.rfind('@');
  if (at == std::string::npos || at < start)
    return url;
  // The user shows only when a ':' ends it before the first '@' (a later
  // '@' may stand in a TLS query: the password is before the first).
  auto cred = url.substr(start, at - start);
  auto colon = cred.find(':');
  auto first_at = cred.find('@');
  auto user = colon == std::string::npos || colon > first_at
                ? std::string{}
                : cred.substr(0, colon + 1);
  return url.substr(0, start) + user + "***" + url.substr(at);
}

void check_error(const std::string& url, const caf::error& err) {
  if (!saga::is(err, saga::errc::invalid_url))
    fail("not an invalid_url error", url, saga::describe(err));
  auto text = saga::describe(err);
  auto quote = "journal URL '" + expected_quote(url) + "': ";
  if (text.find(quote) == std::string::npos)
    fail("an error does not quote the URL with its password masked", url,
         text + "\n  expected: " + quote);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string url(reinterpret_cast<const char*>(data), size);
  auto ep = saga::parse_redis_url(url);
  if (!ep) {
    check_error(url, ep.error());
    return 0;
  }
  check_endpoint(url, *ep);
  auto again_url = to_url(*ep);
  auto again = saga::parse_redis_url(again_url);
  if (!again)
    fail("the endpoint written back as a URL does not parse", url,
         "written back: '" + again_url + "': " + saga::describe(again.error()));
  if (!same(*ep, *again))
    fail("the endpoint written back as a URL parses differently", url,
         "written back: '" + again_url + "'\n  first:  " + show(*ep)
           + "\n  second: " + show(*again));
  return 0;
}
