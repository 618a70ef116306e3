#include "http/http_participants_file.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>

#include "core/json_depth.hpp"
#include "saga/errc.hpp"

namespace saga::detail {

namespace {

/// Reads the fields of one participant's object, naming it in errors.
class field_reader {
public:
  field_reader(const std::string& where, const std::string& name,
               const json& obj)
    : who_(where + "participant '" + name + "'"), obj_(obj) {
    // nop
  }

  /// Returns an error naming the first field no reader asked for.
  caf::error unknown_fields() const {
    for (const auto& [key, value] : obj_.items())
      if (known_.count(key) == 0)
        return bad("unknown field '" + key + "'");
    return {};
  }

  caf::error text(const char* key, std::string& out) {
    return read(key, "a string", &json::is_string, [&](const json& v) {
      out = v.get<std::string>();
      return caf::error{};
    });
  }

  template <class T>
  caf::error count(const char* key, T& out) {
    return read(key, "a non-negative integer", &json::is_number_unsigned,
                [&](const json& v) {
                  out = static_cast<T>(
                    std::min<uint64_t>(v.get<uint64_t>(),
                                       std::numeric_limits<T>::max()));
                  return caf::error{};
                });
  }

  caf::error ms(const char* key, std::chrono::milliseconds& out) {
    int64_t n = out.count();
    if (auto err = count(key, n))
      return err;
    out = std::chrono::milliseconds{n};
    return {};
  }

  caf::error headers(std::vector<std::pair<std::string, std::string>>& out) {
    return read("headers", "an object of strings", &json::is_object,
                [&](const json& v) -> caf::error {
                  for (const auto& [h, value] : v.items()) {
                    if (!value.is_string())
                      return bad("header '" + h + "' is not a string");
                    out.emplace_back(h, value.get<std::string>());
                  }
                  return {};
                });
  }

  caf::error routes(std::map<std::string, http_route>& out) {
    return read("routes", "an object", &json::is_object,
                [&](const json& v) -> caf::error {
                  for (const auto& [action, route] : v.items())
                    if (auto err = route_of(action, route, out[action]))
                      return err;
                  return {};
                });
  }

private:
  /// Marks `key` known and, if present, checks it with `test` and hands
  /// it to `store`, which returns an error for a bad part of it.
  template <class Test, class Store>
  caf::error read(const char* key, const char* kind, Test test, Store store) {
    known_.insert(key);
    auto i = obj_.find(key);
    if (i == obj_.end())
      return {};
    if (!((*i).*test)())
      return bad("'" + std::string{key} + "' is not " + kind);
    return store(*i);
  }

  caf::error route_of(const std::string& action, const json& x,
                      http_route& out) const {
    if (!x.is_object() || !x.contains("execute") || !x.contains("compensate"))
      return bad("route '" + action
                 + "' is not an object with 'execute' and 'compensate'");
    for (auto [key, ep] : {std::pair{"execute", &out.execute},
                           std::pair{"compensate", &out.compensate}}) {
      const auto& e = x.at(key);
      auto method = e.is_object() ? e.value("method", json("POST")) : json{};
      auto path = e.is_object() ? e.value("path", json{}) : json{};
      if (!method.is_string() || !path.is_string())
        return bad("route '" + action + "' " + key
                   + " is not an object with 'method' and 'path'");
      ep->method = method.get<std::string>();
      ep->path = path.get<std::string>();
    }
    return {};
  }

  caf::error bad(const std::string& why) const {
    return make_error(errc::invalid_config, who_ + ": " + why);
  }

  std::string who_;
  const json& obj_;
  std::set<std::string> known_;
};

caf::error read_participant(const std::string& where, const std::string& name,
                            const json& obj, http_participant_config& cfg) {
  if (!obj.is_object())
    return make_error(errc::invalid_config,
                      where + "participant '" + name + "' is not an object");
  field_reader r{where, name, obj};
  for (auto err :
       {r.text("base_url", cfg.base_url), r.ms("timeout_ms", cfg.timeout),
        r.headers(cfg.headers), r.routes(cfg.routes),
        r.count("max_in_flight", cfg.max_in_flight),
        r.count("queue_max", cfg.queue_max),
        r.count("response_bytes_max", cfg.response_bytes_max),
        r.ms("still_working_max_ms", cfg.still_working_max),
        r.text("ca_file", cfg.ca_file), r.text("cert_file", cfg.cert_file),
        r.text("key_file", cfg.key_file),
        r.text("server_name", cfg.server_name), r.unknown_fields()})
    if (err)
      return err;
  if (cfg.base_url.empty())
    return make_error(errc::invalid_config,
                      where + "participant '" + name + "' has no 'base_url'");
  return {};
}

} // namespace

caf::expected<http_participant_list>
http_participants_from_json(const json& x,
                            const http_participant_config& defaults,
                            const std::string& source) {
  auto where = source.empty() ? std::string{} : source + ": ";
  if (!x.is_object() || x.empty())
    return make_error(errc::invalid_config,
                      where + "not an object of participants by name");
  if (nests_deeper_than(x, 8))
    return make_error(errc::invalid_config,
                      where + "nests deeper than 8 levels");
  http_participant_list out;
  for (const auto& [name, obj] : x.items()) {
    auto cfg = defaults;
    cfg.base_url.clear();
    if (auto err = read_participant(where, name, obj, cfg))
      return err;
    out.emplace_back(name, std::move(cfg));
  }
  return out;
}

caf::expected<http_participant_list>
read_http_participants_file(const std::string& path,
                            const http_participant_config& defaults) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_config, path + ": " + why);
  };
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return bad("cannot be read");
  std::string text(http_participants_file_bytes_max + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > http_participants_file_bytes_max)
    return bad("is larger than "
               + std::to_string(http_participants_file_bytes_max) + " bytes");
  auto x = json::parse(text, nullptr, false);
  if (x.is_discarded())
    return bad("is not valid JSON");
  return http_participants_from_json(x, defaults, path);
}

} // namespace saga::detail
