#include "persistence/redis_url.hpp"

#include <limits>

#include "core/parse_number.hpp"
#include "core/percent_decode.hpp"
#include "saga/errc.hpp"

namespace saga {

namespace {} // namespace

std::string masked_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  auto at = url.rfind('@');
  if (at == std::string::npos || at < start)
    return url;
  // Up to the last '@', which may stand in a query ("?ca_file=/a@b"): a
  // user is kept only when a ':' ends it before the first '@'.
  auto colon = url.find(':', start);
  auto first_at = url.find('@', start);
  if (colon == std::string::npos || colon > first_at)
    return url.substr(0, start) + "***" + url.substr(at);
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

namespace {

caf::error bad_url(const std::string& url, const std::string& why) {
  return make_error(errc::invalid_url,
                    "journal URL '" + masked_url(url) + "': " + why);
}

/// The most seeds a cluster URL may name: enough for any cluster's masters.
constexpr size_t cluster_seeds_max = 64;

/// Returns the host and port of `hostport` ("host[:port]", "[v6][:port]")
/// in `url`, or a `bad_url` error whose reason starts with `what`.
caf::expected<redis_host> parse_host_port(const std::string& url,
                                          const std::string& hostport,
                                          const std::string& what = "") {
  auto fail = [&](const std::string& why) { return bad_url(url, what + why); };
  if (hostport.empty())
    return fail("no host");
  redis_host out;
  std::string port_text;
  bool has_port = false;
  if (hostport.front() == '[') { // [ipv6]:port
    auto close = hostport.find(']');
    if (close == std::string::npos)
      return fail("unterminated IPv6 address");
    out.host = hostport.substr(1, close - 1);
    auto after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return fail("garbage after the IPv6 address");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    auto colon = hostport.rfind(':');
    out.host = hostport.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = hostport.substr(colon + 1);
      has_port = true;
    }
  }
  if (has_port && port_text.empty())
    return fail("empty port");
  if (out.host.empty())
    return fail("no host");
  if (has_port) {
    uint32_t port = 0;
    if (!parse_number(port_text, port) || port == 0 || port > 65535)
      return fail("port '" + port_text + "' is not in 1..65535");
    out.port = static_cast<uint16_t>(port);
  }
  return out;
}

/// Sets the seeds of `ep` from "host:port,host:port...", or returns the
/// problem.
caf::error parse_seeds(const std::string& url, const std::string& list,
                       redis_endpoint& ep) {
  size_t start = 0;
  while (true) {
    auto comma = list.find(',', start);
    auto seed = parse_host_port(url, list.substr(start, comma - start),
                                "seed "
                                  + std::to_string(ep.cluster_seeds.size() + 1)
                                  + ": ");
    if (!seed)
      return std::move(seed.error());
    if (ep.cluster_seeds.size() == cluster_seeds_max)
      return bad_url(url, "more than " + std::to_string(cluster_seeds_max)
                            + " seeds");
    ep.cluster_seeds.push_back(std::move(*seed));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  ep.host = ep.cluster_seeds.front().host;
  ep.port = ep.cluster_seeds.front().port;
  return {};
}

/// Sets the TLS settings of `ep` from the query `query` ("a=b&c=d") of
/// `url`, or returns the problem.
caf::error parse_tls_query(const std::string& url, const std::string& query,
                           redis_tls& tls) {
  const std::pair<const char*, std::string redis_tls::*> fields[] = {
    {"ca_file", &redis_tls::ca_file},
    {"cert_file", &redis_tls::cert_file},
    {"key_file", &redis_tls::key_file},
    {"server_name", &redis_tls::server_name},
  };
  size_t start = 0;
  while (start <= query.size()) {
    auto amp = query.find('&', start);
    auto item = query.substr(start, amp - start);
    auto eq = item.find('=');
    auto key = item.substr(0, eq);
    std::string redis_tls::*field = nullptr;
    for (const auto& [name, member] : fields)
      if (key == name)
        field = member;
    if (field == nullptr) {
      // Quoted only if it looks like a name: after a '?' in a password, the
      // "key" is the rest of the password.
      const bool name_like = key.size() <= 32
                             && key.find_first_not_of(
                                  "abcdefghijklmnopqrstuvwxyz_")
                                  == std::string::npos;
      return bad_url(url, (name_like ? "unknown query parameter '" + key + "'"
                                     : std::string{"unknown query parameter"})
                            + " (expected ca_file, cert_file, key_file or "
                              "server_name; a '?' in a password is written "
                              "%3F)");
    }
    if (eq == std::string::npos || eq + 1 == item.size())
      return bad_url(url, "query parameter '" + key + "' needs a value");
    auto value = percent_decode(item.substr(eq + 1));
    if (!value)
      return bad_url(url,
                     "query parameter '" + key + "': malformed percent escape");
    if (!(tls.*field).empty())
      return bad_url(url, "query parameter '" + key + "' given twice");
    tls.*field = std::move(*value);
    if (amp == std::string::npos)
      break;
    start = amp + 1;
  }
  if (tls.cert_file.empty() != tls.key_file.empty())
    return bad_url(url, "cert_file and key_file go together (a client "
                        "certificate needs its key)");
  return {};
}

} // namespace

std::string redis_endpoint::describe() const {
  if (!socket_path.empty())
    return "unix:" + socket_path + "/" + std::to_string(db);
  std::string out = tls ? "tls " : "";
  if (cluster()) {
    // The first seed names the cluster in messages; a count stands for
    // the others, which would make every message as long as the URL.
    const auto& first = cluster_seeds.front();
    out += "cluster " + first.host + ":" + std::to_string(first.port);
    if (cluster_seeds.size() > 1)
      out += ",+" + std::to_string(cluster_seeds.size() - 1);
    return out;
  }
  return out + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

caf::expected<redis_endpoint> parse_redis_url(const std::string& url) {
  redis_endpoint ep;
  auto sep = url.find("://");
  if (sep == std::string::npos)
    return bad_url(url, "no scheme (expected redis://, rediss://, "
                        "redis+cluster://, rediss+cluster:// or unix://)");
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
  const bool cluster = scheme == "redis+cluster" || scheme == "rediss+cluster";
  if (scheme != "redis" && scheme != "rediss" && !cluster)
    return bad_url(url, "unsupported scheme '" + scheme
                          + "' (expected redis://, rediss://, "
                            "redis+cluster://, rediss+cluster:// or "
                            "unix://)");
  // The query starts at the first '?': a '?' in a password is written %3F.
  if (auto q = rest.find('?'); q != std::string::npos) {
    if (scheme.rfind("rediss", 0) != 0)
      return bad_url(url, "a query ('?') holds TLS settings: use rediss:// "
                          "or rediss+cluster:// (a '?' in a password is "
                          "written %3F)");
    ep.tls.emplace();
    if (auto err = parse_tls_query(url, rest.substr(q + 1), *ep.tls))
      return err;
    rest.resize(q);
  } else if (scheme.rfind("rediss", 0) == 0) {
    ep.tls.emplace();
  }
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
    if (cluster && ep.db != 0)
      return bad_url(url, "a cluster has only database 0");
  }
  if (cluster) {
    if (auto err = parse_seeds(url, hostport, ep))
      return err;
    return ep;
  }
  auto where = parse_host_port(url, hostport);
  if (!where)
    return std::move(where.error());
  ep.host = std::move(where->host);
  ep.port = where->port;
  return ep;
}

} // namespace saga
