#include "persistence/stream_codec.hpp"

#include <charconv>

#include <hiredis/hiredis.h>

#include "saga/errc.hpp"

namespace saga {

namespace {

bool parse_u64(const char* p, size_t n, uint64_t& out) {
  auto [end, ec] = std::from_chars(p, p + n, out);
  return ec == std::errc{} && end == p + n;
}

} // namespace

void append_event_fields(const event& ev, std::vector<std::string_view>& argv,
                         std::deque<std::string>& texts) {
  argv.push_back(to_string(ev.type));
  texts.push_back(std::to_string(ev.step));
  argv.push_back(texts.back());
  texts.push_back(std::to_string(ev.attempt));
  argv.push_back(texts.back());
  argv.push_back(ev.data);
  argv.push_back(ev.error);
  texts.push_back(std::to_string(ev.time_ms));
  argv.push_back(texts.back());
}

caf::expected<std::vector<event>> parse_events(const redisReply& r,
                                               const saga_id& id) {
  std::vector<event> result;
  if (r.type != REDIS_REPLY_ARRAY)
    return make_error(errc::journal_failure, "XRANGE: unexpected reply");
  result.reserve(r.elements);
  for (size_t i = 0; i < r.elements; ++i) {
    const auto* entry = r.element[i];
    auto bad = [&](const std::string& why) {
      return make_error(errc::invalid_event,
                        "saga " + id + ", stream entry " + std::to_string(i)
                          + ": " + why);
    };
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
      return bad("not an entry");
    std::string_view sid{entry->element[0]->str, entry->element[0]->len};
    event ev;
    if (sid.size() < 3 || sid.substr(0, 2) != "0-"
        || !parse_u64(sid.data() + 2, sid.size() - 2, ev.seq))
      return bad("entry ID '" + std::string{sid} + "' is not 0-<seq>");
    const auto* fields = entry->element[1];
    for (size_t k = 0; k + 1 < fields->elements; k += 2) {
      std::string_view name{fields->element[k]->str,
                            fields->element[k]->len};
      std::string_view value{fields->element[k + 1]->str,
                             fields->element[k + 1]->len};
      if (name == "type") {
        auto t = parse_event_type(value);
        if (!t)
          return bad("unknown event type '" + std::string{value} + "'");
        ev.type = *t;
      } else if (name == "step") {
        int64_t step = 0;
        auto [end, ec] = std::from_chars(value.data(),
                                         value.data() + value.size(), step);
        if (ec != std::errc{} || end != value.data() + value.size())
          return bad("bad step '" + std::string{value} + "'");
        ev.step = static_cast<int32_t>(step);
      } else if (name == "attempt") {
        uint64_t a = 0;
        if (!parse_u64(value.data(), value.size(), a))
          return bad("bad attempt '" + std::string{value} + "'");
        ev.attempt = static_cast<uint32_t>(a);
      } else if (name == "data") {
        ev.data = value;
      } else if (name == "error") {
        ev.error = value;
      } else if (name == "time") {
        int64_t t = 0;
        std::from_chars(value.data(), value.data() + value.size(), t);
        ev.time_ms = t;
      }
    }
    result.push_back(std::move(ev));
  }
  return result;
}

} // namespace saga
