#include <atomic>

#include <caf/actor_system.hpp>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"

#include "persistence/memory_journal.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/redis_url.hpp"
#include "saga/errc.hpp"
#include "saga/journal/journal.hpp"

namespace saga {

namespace {

/// Returns the scheme of `url`, or an error naming what is wrong with it.
caf::expected<std::string> scheme_of(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos || sep == 0)
    return make_error(errc::invalid_url,
                      "journal URL '" + masked_url(url)
                        + "' has no scheme (expected e.g. memory://)");
  auto scheme = url.substr(0, sep);
  if (scheme == "memory" || scheme == "redis" || scheme == "redis+cluster"
      || scheme == "rediss" || scheme == "rediss+cluster" || scheme == "unix")
    return scheme;
  return make_error(errc::invalid_url,
                    "journal URL '" + masked_url(url)
                      + "': unsupported scheme '" + scheme
                      + "' (supported: memory://, redis://, rediss://, "
                        "redis+cluster://, rediss+cluster://, unix://)");
}

} // namespace

caf::expected<uint64_t> allocate_epoch(const std::string& url,
                                       const journal_options& opts) {
  auto scheme = scheme_of(url);
  if (!scheme)
    return scheme.error();
  if (*scheme == "memory") {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
  }
  auto ep = parse_redis_url(url);
  if (!ep)
    return ep.error();
  auto conn = redis_connection::connect(*ep, opts.io_timeout);
  if (!conn)
    return conn.error();
  auto r = conn->command({"INCR", "saga:epochs"});
  if (!r)
    return r.error();
  if ((*r)->type != REDIS_REPLY_INTEGER || (*r)->integer <= 0)
    return make_error(errc::journal_failure,
                      "INCR saga:epochs: unexpected reply");
  return static_cast<uint64_t>((*r)->integer);
}

caf::expected<journal_actor> make_journal(caf::actor_system& sys,
                                          const std::string& url,
                                          const journal_options& given) {
  auto scheme = scheme_of(url);
  if (!scheme)
    return scheme.error();
  if (*scheme == "memory" && url != "memory://")
    return make_error(errc::invalid_url,
                      "journal URL '" + masked_url(url)
                        + "': memory:// takes no host or path");
  auto opts = given;
  if (opts.epoch == 0) {
    auto epoch = allocate_epoch(url, opts);
    if (!epoch)
      return epoch.error();
    opts.epoch = *epoch;
  }
  if (*scheme == "memory")
    return spawn_memory_journal(sys, std::make_shared<memory_store>(),
                                {opts.node_id, opts.epoch});
  auto ep = parse_redis_url(url);
  if (!ep)
    return ep.error();
  return spawn_redis_journal(sys, *ep, opts);
}

} // namespace saga
