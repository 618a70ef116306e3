// demo/chaos/redis_client.hpp: the campaign's blocking view of its private
// Redis, on the library's saga::redis_link (which connects again on the next
// call after an error: Redis restarts during the campaign), with the reply
// helpers the checks share. Not thread-safe: one owner thread per client.

#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"

namespace chaos {

/// Returns the text of a string or status reply, or "" for any other.
std::string str(const redisReply* r);

/// Returns the value of field `name` in a stream entry's field list.
std::string entry_field(const redisReply* fields, const char* name);

/// Returns whether `t` names a terminal event type.
bool terminal_type(const std::string& t);

class redis_client {
public:
  /// `url` is one the campaign made (redis://127.0.0.1:port): valid.
  explicit redis_client(const std::string& url);

  /// Returns the reply, or null when Redis is unreachable (or loading).
  saga::redis_reply run(const std::vector<std::string>& args);

  /// Runs `cmds` in one pipeline; an empty result when any failed.
  std::vector<saga::redis_reply>
  pipeline(const std::vector<std::vector<std::string>>& cmds);

  /// Returns every key matching `pattern` (SCAN: test data only).
  std::optional<std::vector<std::string>> scan(const std::string& pattern);

  /// Returns the hash at `key`; `ok`, when given, is cleared when it could
  /// not be read (and left as it was otherwise, so that one flag can cover
  /// several reads).
  std::map<std::string, std::string> hgetall(const std::string& key,
                                             bool* ok = nullptr);

private:
  saga::redis_link link_;
};

} // namespace chaos
