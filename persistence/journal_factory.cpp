#include <caf/actor_system.hpp>

#include "persistence/memory_journal.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/redis_url.hpp"
#include "saga/errc.hpp"
#include "saga/journal.hpp"

namespace saga {

caf::expected<journal_actor> make_journal(caf::actor_system& sys,
                                          const std::string& url,
                                          const journal_options& opts) {
  auto sep = url.find("://");
  if (sep == std::string::npos || sep == 0)
    return make_error(errc::invalid_url,
                      "journal URL '" + url
                        + "' has no scheme (expected e.g. memory://)");
  auto scheme = url.substr(0, sep);
  if (scheme == "memory") {
    if (url.size() > sep + 3)
      return make_error(errc::invalid_url,
                        "journal URL '" + url
                          + "': memory:// takes no host or path");
    return spawn_memory_journal(sys, std::make_shared<memory_store>());
  }
  if (scheme == "redis" || scheme == "unix") {
    auto ep = parse_redis_url(url);
    if (!ep)
      return ep.error();
    return spawn_redis_journal(sys, *ep, opts);
  }
  return make_error(errc::invalid_url,
                    "journal URL '" + url + "': unsupported scheme '" + scheme
                      + "' (supported: memory://, redis://, unix://)");
}

} // namespace saga
