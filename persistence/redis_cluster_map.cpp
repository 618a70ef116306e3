#include "persistence/redis_cluster_map.hpp"

#include <algorithm>
#include <cctype>

#include <hiredis/hiredis.h>

#include "core/parse_number.hpp"
#include "persistence/redis_slot.hpp"
#include "saga/errc.hpp"

namespace saga {

namespace {

caf::error malformed(const std::string& what) {
  return make_error(errc::journal_failure,
                    "CLUSTER SLOTS: malformed reply: " + what);
}

/// Returns whether `a` equals the upper-case `upper`, ignoring case.
bool is_named(std::string_view a, std::string_view upper) noexcept {
  return a.size() == upper.size()
         && std::equal(a.begin(), a.end(), upper.begin(), [](char x, char y) {
              return std::toupper(static_cast<unsigned char>(x)) == y;
            });
}

/// Commands whose arguments hold no key: any master answers them.
bool keyless(std::string_view name) noexcept {
  for (auto x :
       {"SCRIPT",  "PING",  "INFO",     "CLUSTER",  "CLIENT",  "CONFIG",
        "WAIT",    "TIME",  "DBSIZE",   "FLUSHALL", "FLUSHDB", "SELECT",
        "AUTH",    "HELLO", "ASKING",   "READONLY", "COMMAND", "LATENCY",
        "SLOWLOG", "DEBUG", "FUNCTION", "ECHO"})
    if (is_named(name, x))
      return true;
  return false;
}

/// Returns "host:port" of `text` as a host, or nothing.
std::optional<redis_host> parse_address(std::string_view text) {
  // An empty host (":6381") means the replying node's host.
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  redis_host out;
  out.host.assign(text.substr(0, colon));
  // A cluster bus port may follow as "@port" (CLUSTER NODES style).
  auto port = text.substr(colon + 1);
  port = port.substr(0, port.find('@'));
  if (!parse_number(port, out.port) || out.port == 0)
    return std::nullopt;
  return out;
}

} // namespace

caf::expected<std::vector<redis_slot_range>>
parse_cluster_slots(const redisReply& reply, const std::string& asked_host) {
  if (reply.type != REDIS_REPLY_ARRAY)
    return malformed("not an array");
  std::vector<redis_slot_range> out;
  out.reserve(reply.elements);
  for (size_t i = 0; i < reply.elements; ++i) {
    const auto* e = reply.element[i];
    // [first, last, [host, port, id, ...], replicas...]
    if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements < 3
        || e->element[0]->type != REDIS_REPLY_INTEGER
        || e->element[1]->type != REDIS_REPLY_INTEGER
        || e->element[2]->type != REDIS_REPLY_ARRAY
        || e->element[2]->elements < 2
        || e->element[2]->element[0]->type != REDIS_REPLY_STRING
        || e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
      return malformed("range " + std::to_string(i));
    auto first = e->element[0]->integer;
    auto last = e->element[1]->integer;
    auto port = e->element[2]->element[1]->integer;
    if (first < 0 || last < first || last >= redis_slot_count || port <= 0
        || port > 65535)
      return malformed("range " + std::to_string(i) + " out of bounds");
    redis_slot_range r;
    r.first = static_cast<uint16_t>(first);
    r.last = static_cast<uint16_t>(last);
    const auto* host = e->element[2]->element[0];
    r.master.host.assign(host->str, host->len);
    if (r.master.host.empty() || r.master.host == "?")
      r.master.host = asked_host;
    r.master.port = static_cast<uint16_t>(port);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<uint16_t>
redis_command_slot(const std::vector<std::string_view>& argv) noexcept {
  if (argv.size() < 2 || keyless(argv[0]))
    return std::nullopt;
  if (is_named(argv[0], "EVAL") || is_named(argv[0], "EVALSHA")
      || is_named(argv[0], "EVAL_RO") || is_named(argv[0], "EVALSHA_RO")
      || is_named(argv[0], "FCALL")) {
    size_t keys = 0;
    if (argv.size() < 4 || !parse_number(argv[2], keys) || keys == 0)
      return std::nullopt;
    return redis_key_slot(argv[3]);
  }
  if (is_named(argv[0], "XINFO") || is_named(argv[0], "XGROUP")
      || is_named(argv[0], "OBJECT") || is_named(argv[0], "MEMORY")) {
    if (argv.size() < 3)
      return std::nullopt;
    return redis_key_slot(argv[2]);
  }
  return redis_key_slot(argv[1]);
}

redis_redirect parse_redirect(std::string_view error) {
  redis_redirect out;
  auto word_end = error.find(' ');
  auto word = error.substr(0, word_end);
  if (word == "TRYAGAIN" || word == "CLUSTERDOWN") {
    out.kind = redis_redirect::retry;
    return out;
  }
  if (word != "MOVED" && word != "ASK")
    return out;
  // "MOVED <slot> <host>:<port>"
  auto rest = error.substr(word_end == std::string_view::npos ? error.size()
                                                              : word_end + 1);
  auto space = rest.find(' ');
  if (space == std::string_view::npos)
    return out;
  uint16_t slot = 0;
  if (!parse_number(rest.substr(0, space), slot) || slot >= redis_slot_count)
    return out;
  auto to = parse_address(rest.substr(space + 1));
  if (!to)
    return out;
  out.kind = word == "MOVED" ? redis_redirect::moved : redis_redirect::ask;
  out.slot = slot;
  out.to = std::move(*to);
  return out;
}

} // namespace saga
