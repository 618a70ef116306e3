#include "persistence/redis_directory.hpp"

#include <hiredis/hiredis.h>

#include "core/parse_number.hpp"
#include "persistence/lua_scripts.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"

namespace saga {

namespace {

constexpr const char* members_key = "saga:nodes";

std::string_view text(const redisReply* r) noexcept {
  return reply_text(r);
}

} // namespace

std::string redis_lease_key(const std::string& id) {
  return "saga:lease:{" + id + "}";
}

std::string redis_node_key(const std::string& id) {
  return "saga:node:{" + id + "}";
}

redis_directory::redis_directory(redis_endpoint ep,
                                 std::chrono::milliseconds io_timeout)
  : link_(std::move(ep), io_timeout) {
  // nop
}

caf::expected<lease_status>
redis_directory::heartbeat(const node_record& self,
                           std::chrono::milliseconds lease) {
  auto c = conn();
  if (!c)
    return c.error();
  auto lease_key = redis_lease_key(self.id);
  auto node_key = redis_node_key(self.id);
  auto epoch = std::to_string(self.epoch);
  auto ms = std::to_string(lease.count());
  auto port = std::to_string(self.port);
  auto names = json(self.participants).dump();
  // EVAL (not EVALSHA): a heartbeat every few hundred milliseconds per
  // node is no load, and it survives a Redis restart without NOSCRIPT.
  (*c)->append({"EVAL", lua_script("heartbeat.lua"), "2", lease_key, node_key,
                epoch, ms, self.host, port, self.coordinates ? "1" : "0", names,
                self.admin});
  (*c)->append({"ZADD", members_key, "0", self.id});
  auto r = (*c)->read();
  auto z = (*c)->read();
  if (!r)
    return r.error();
  if (!z)
    return z.error();
  if (is_error(**r))
    return make_error(errc::journal_failure, "redis: lease of node " + self.id
                                               + ": " + error_text(**r));
  auto status = text(r->get());
  if (status == "held")
    return lease_status::held;
  if (status == "taken")
    return lease_status::taken;
  return lease_status::replaced;
}

caf::expected<std::pair<int64_t, int64_t>>
redis_directory::saga_counts(const std::string& id) {
  auto c = conn();
  if (!c)
    return c.error();
  (*c)->append({"ZCARD", redis_unfinished_key(id)});
  (*c)->append({"ZCARD", redis_ended_key("failed")});
  auto unfinished = (*c)->read();
  auto failed = (*c)->read();
  for (const auto* r : {&unfinished, &failed}) {
    if (!*r)
      return r->error();
    if ((**r)->type != REDIS_REPLY_INTEGER)
      return make_error(errc::journal_failure,
                        "redis: ZCARD answered " + error_text(***r));
  }
  return std::make_pair(static_cast<int64_t>((*unfinished)->integer),
                        static_cast<int64_t>((*failed)->integer));
}

caf::expected<std::vector<node_record>> redis_directory::list() {
  auto c = conn();
  if (!c)
    return c.error();
  auto ids = (*c)->command({"ZRANGE", members_key, "0", "-1"});
  if (!ids)
    return ids.error();
  std::vector<node_record> result;
  std::vector<std::string> keys;
  keys.reserve((*ids)->elements * 2);
  for (size_t i = 0; i < (*ids)->elements; ++i) {
    node_record rec;
    rec.id = std::string{text((*ids)->element[i])};
    keys.push_back(redis_node_key(rec.id));
    (*c)->append(node_hash_read(keys.back()));
    keys.push_back(redis_lease_key(rec.id));
    (*c)->append({"GET", keys.back()});
    result.push_back(std::move(rec));
  }
  for (auto& rec : result) {
    auto fields = (*c)->read();
    auto lease = (*c)->read();
    if (!fields)
      return fields.error();
    if (!lease)
      return lease.error();
    rec = node_from_replies(std::move(rec.id), fields->get(), lease->get());
  }
  return result;
}

std::vector<std::string_view> node_hash_read(std::string_view key) {
  return {"HMGET", key,           "epoch",        "host",
          "port",  "coordinates", "participants", "admin"};
}

node_record node_from_replies(std::string id, const redisReply* hash,
                              const redisReply* lease) {
  node_record rec;
  rec.id = std::move(id);
  if (hash == nullptr || hash->type != REDIS_REPLY_ARRAY || hash->elements != 6)
    return rec; // not readable: like a node that never registered
  auto* f = hash->element;
  parse_number(text(f[0]), rec.epoch);
  rec.host = std::string{text(f[1])};
  parse_number(text(f[2]), rec.port);
  rec.coordinates = text(f[3]) == "1";
  rec.admin = std::string{text(f[5])};
  auto names = json::parse(text(f[4]), nullptr, false);
  if (names.is_array())
    for (const auto& n : names)
      if (n.is_string())
        rec.participants.push_back(n.get<std::string>());
  uint64_t holder = 0;
  rec.alive = parse_number(text(lease), holder) && holder == rec.epoch
              && rec.epoch != 0;
  return rec;
}

caf::expected<bool> redis_directory::forget(const std::string& id,
                                            uint64_t epoch) {
  auto c = conn();
  if (!c)
    return c.error();
  auto lease_key = redis_lease_key(id);
  auto node_key = redis_node_key(id);
  auto index_key = redis_unfinished_key(id);
  auto e = std::to_string(epoch);
  auto r = (*c)->command(
    {"EVAL", lua_script("forget.lua"), "3", lease_key, node_key, index_key, e});
  if (!r)
    return r.error();
  if ((*r)->integer != 1)
    return false;
  // A node that registers again in between adds itself back on its next
  // heartbeat.
  if (auto z = (*c)->command({"ZREM", members_key, id}); !z)
    return z.error();
  return true;
}

caf::expected<bool> redis_directory::release(const std::string& id,
                                             uint64_t epoch) {
  auto c = conn();
  if (!c)
    return c.error();
  auto key = redis_lease_key(id);
  auto e = std::to_string(epoch);
  auto r = (*c)->command({"EVAL", lua_script("release.lua"), "1", key, e});
  if (!r)
    return r.error();
  return (*r)->integer == 1;
}

} // namespace saga
