#include "demo/chaos/redis_client.hpp"

#include <chrono>

#include "persistence/redis_url.hpp"

namespace chaos {

using namespace std::chrono_literals;

std::string str(const redisReply* r) {
  return std::string{saga::reply_text(r)};
}

std::string entry_field(const redisReply* fields, const char* name) {
  if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY)
    return {};
  for (size_t i = 0; i + 1 < fields->elements; i += 2)
    if (str(fields->element[i]) == name)
      return str(fields->element[i + 1]);
  return {};
}

bool terminal_type(const std::string& t) {
  return t == "saga_completed" || t == "saga_compensated" || t == "saga_failed"
         || t == "saga_parked";
}

redis_client::redis_client(const std::string& url)
  : link_(*saga::parse_redis_url(url), 2s) {
  // nop
}

saga::redis_reply redis_client::run(const std::vector<std::string>& args) {
  auto conn = link_.get();
  if (!conn)
    return nullptr;
  std::vector<std::string_view> argv(args.begin(), args.end());
  auto r = (*conn)->command(argv);
  if (!r)
    return nullptr; // a broken connection is made again on the next call
  return std::move(*r);
}

std::vector<saga::redis_reply>
redis_client::pipeline(const std::vector<std::vector<std::string>>& cmds) {
  std::vector<saga::redis_reply> out;
  auto conn = link_.get();
  if (cmds.empty() || !conn)
    return out;
  for (const auto& c : cmds) {
    std::vector<std::string_view> argv(c.begin(), c.end());
    (*conn)->append(argv);
  }
  for (size_t i = 0; i < cmds.size(); ++i) {
    auto r = (*conn)->read();
    if (!r) {
      out.clear();
      return out;
    }
    out.push_back(std::move(*r));
  }
  for (auto& r : out)
    if (saga::is_error(*r)) {
      out.clear(); // e.g. LOADING after a restart: try again later
      break;
    }
  return out;
}

std::optional<std::vector<std::string>>
redis_client::scan(const std::string& pattern) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto r = run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
      return std::nullopt;
    cursor = str(r->element[0]);
    auto* ks = r->element[1];
    for (size_t i = 0; i < ks->elements; ++i)
      keys.push_back(str(ks->element[i]));
  } while (cursor != "0");
  return keys;
}

std::map<std::string, std::string> redis_client::hgetall(const std::string& key,
                                                         bool* ok) {
  std::map<std::string, std::string> h;
  auto r = run({"HGETALL", key});
  if (ok != nullptr && !(r && r->type == REDIS_REPLY_ARRAY))
    *ok = false;
  if (r && r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i + 1 < r->elements; i += 2)
      h.emplace(str(r->element[i]), str(r->element[i + 1]));
  return h;
}

} // namespace chaos
