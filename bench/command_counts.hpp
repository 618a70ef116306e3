#pragma once

// Counting the commands Redis executed, for "Redis commands per saga".

#include <chrono>
#include <cstdlib>
#include <string>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_url.hpp"

namespace saga::bench {

/// Commands Redis executed so far (INFO commandstats: those run inside
/// scripts included, INFO itself excluded), and the XADDs and EVALSHAs
/// among them; -1 when Redis could not be asked.
struct command_counts {
  long long total = -1;
  long long xadd = -1;
  long long evalsha = -1;
  /// Redis's CPU time so far in microseconds (INFO cpu: used_cpu_sys +
  /// used_cpu_user, its main thread and any others).
  double cpu_us = -1;
};

/// Returns the value of `field` ("name:") in an INFO text, or -1.
inline double info_field(const std::string& text, const std::string& field) {
  auto pos = text.find("\n" + field);
  if (pos == std::string::npos)
    return -1;
  return std::atof(text.c_str() + pos + 1 + field.size());
}

/// Returns the counts of the Redis server at `url` (-1s for a URL that is
/// not Redis, or a server that does not answer).
inline command_counts redis_commands(const std::string& url) {
  command_counts result;
  if (url.rfind("redis://", 0) != 0 && url.rfind("rediss://", 0) != 0
      && url.rfind("unix://", 0) != 0)
    return result;
  auto ep = parse_redis_url(url);
  if (!ep)
    return result;
  auto c = redis_connection::connect(*ep, std::chrono::seconds{2});
  if (!c)
    return result;
  auto r = c->command({"INFO", "commandstats"});
  if (!r || (*r)->type != REDIS_REPLY_STRING)
    return result;
  std::string text{(*r)->str, (*r)->len};
  result = {0, 0, 0};
  // Lines look like: cmdstat_xadd:calls=323200,usec=...
  for (size_t pos = 0;
       (pos = text.find("cmdstat_", pos)) != std::string::npos;) {
    pos += 8;
    auto colon = text.find(':', pos);
    auto name = text.substr(pos, colon - pos);
    auto calls = std::atoll(text.c_str() + text.find("calls=", colon) + 6);
    if (name == "info")
      continue;
    result.total += calls;
    if (name == "xadd")
      result.xadd += calls;
    if (name == "evalsha")
      result.evalsha += calls;
  }
  auto cpu = c->command({"INFO", "cpu"});
  if (cpu && (*cpu)->type == REDIS_REPLY_STRING) {
    std::string t{"\n"};
    t.append((*cpu)->str, (*cpu)->len);
    auto sys = info_field(t, "used_cpu_sys:");
    auto user = info_field(t, "used_cpu_user:");
    if (sys >= 0 && user >= 0)
      result.cpu_us = (sys + user) * 1e6;
  }
  return result;
}

} // namespace saga::bench
