#include "admin/start_body.hpp"

#include <cstdio>
#include <random>

#include "core/parse_number.hpp"
#include "saga/errc.hpp"
#include "saga/saga_id.hpp"

namespace saga::detail {

namespace {

caf::error bad(std::string what) {
  return make_error(errc::invalid_request, std::move(what));
}

/// Returns "<n>ms" or "<n>s" as milliseconds, up to `max_start_wait`.
caf::expected<std::chrono::milliseconds> parse_wait(const std::string& text) {
  const bool in_ms = text.size() > 2
                     && text.compare(text.size() - 2, 2, "ms") == 0;
  const bool in_s = !in_ms && text.size() > 1 && text.back() == 's';
  if (in_ms || in_s) {
    auto digits = std::string_view{text}.substr(0,
                                                text.size() - (in_ms ? 2 : 1));
    int64_t n = 0;
    if (parse_number(digits, n) && n >= 0 && n <= max_start_wait.count()) {
      std::chrono::milliseconds ms{in_ms ? n : n * 1000};
      if (ms <= max_start_wait)
        return ms;
    }
  }
  return bad("'wait' must be a duration such as \"500ms\" or \"5s\", at most "
             + std::to_string(max_start_wait.count() / 1000) + "s");
}

/// Returns a new saga id: 128 random bits, unique without coordination.
std::string random_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof(buf), "s-%016llx%016llx",
                static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

/// Reads optional string member `key` of `doc` into `out`.
caf::error read_string(const json& doc, const char* key, std::string& out) {
  auto i = doc.find(key);
  if (i == doc.end())
    return caf::none;
  if (!i->is_string())
    return bad(std::string{"'"} + key + "' must be a string");
  out = i->get<std::string>();
  return caf::none;
}

} // namespace

caf::expected<start_request> parse_start_body(const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded())
    return bad("body is not valid JSON");
  if (!doc.is_object())
    return bad("body is not a JSON object");
  for (auto i = doc.begin(); i != doc.end(); ++i)
    if (i.key() != "definition" && i.key() != "id" && i.key() != "business_key"
        && i.key() != "wait")
      return bad("unknown member '" + i.key().substr(0, 64) + "' in the body");
  auto d = doc.find("definition");
  if (d == doc.end() || !d->is_object())
    return bad("'definition' must be a JSON object (a saga definition)");
  auto def = definition::from_json(*d);
  if (!def)
    return std::move(def.error());
  std::string id;
  std::string key;
  std::string wait_text;
  for (auto err :
       {read_string(doc, "id", id), read_string(doc, "business_key", key),
        read_string(doc, "wait", wait_text)})
    if (err)
      return err;
  start_request req;
  if (!wait_text.empty()) {
    auto wait = parse_wait(wait_text);
    if (!wait)
      return std::move(wait.error());
    req.wait = *wait;
  }
  if (!id.empty() && !def->id().empty() && id != def->id())
    return bad("'id' is '" + id.substr(0, 64) + "' but the definition's is '"
               + def->id().substr(0, 64) + "'");
  if (!id.empty())
    def->id(std::move(id));
  if (def->id().empty())
    def->id(random_id());
  if (!key.empty())
    def->business_key(std::move(key));
  if (auto err = def->validate())
    return err;
  req.def = std::move(*def);
  return req;
}

} // namespace saga::detail
