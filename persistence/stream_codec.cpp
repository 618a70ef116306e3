#include "persistence/stream_codec.hpp"

#include <hiredis/hiredis.h>

#include "core/parse_number.hpp"
#include "saga/errc.hpp"

namespace saga {

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
  auto is_text = [](const redisReply* x) {
    return x != nullptr && x->type == REDIS_REPLY_STRING;
  };
  for (size_t i = 0; i < r.elements; ++i) {
    const auto* entry = r.element[i];
    // Names the entry by position, and by its ID once that is known. Built
    // only on an error: this loop runs for every event of every history.
    std::string_view sid;
    auto bad = [&](const std::string& why) {
      std::string text = "saga ";
      text.append(id).append(", stream entry ").append(std::to_string(i));
      if (!sid.empty())
        text.append(" (").append(sid).append(")");
      text.append(": ").append(why);
      return make_error(errc::invalid_event, std::move(text));
    };
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY
        || entry->elements != 2)
      return bad("not an entry");
    if (!is_text(entry->element[0]))
      return bad("the entry ID is not a string");
    std::string_view id_text{entry->element[0]->str, entry->element[0]->len};
    event ev;
    if (id_text.size() < 3 || id_text.substr(0, 2) != "0-"
        || !parse_number(id_text.substr(2), ev.seq))
      return bad("entry ID '" + std::string{id_text} + "' is not 0-<seq>");
    sid = id_text;
    const auto* fields = entry->element[1];
    if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY
        || fields->elements % 2 != 0)
      return bad("the fields are not a list of name/value pairs");
    // The append script writes all six fields; a missing one means the
    // entry was not written by it (or was damaged).
    enum : unsigned {
      has_type = 1,
      has_step = 2,
      has_attempt = 4,
      has_data = 8,
      has_error = 16,
      has_time = 32,
      has_all = 63
    };
    unsigned seen = 0;
    for (size_t k = 0; k + 1 < fields->elements; k += 2) {
      if (!is_text(fields->element[k]) || !is_text(fields->element[k + 1]))
        return bad("field " + std::to_string(k / 2 + 1)
                   + " is not a name/value pair of strings");
      std::string_view name{fields->element[k]->str, fields->element[k]->len};
      std::string_view value{fields->element[k + 1]->str,
                             fields->element[k + 1]->len};
      if (name == "type") {
        auto t = parse_event_type(value);
        if (!t)
          return bad("unknown event type '" + std::string{value} + "'");
        ev.type = *t;
        seen |= has_type;
      } else if (name == "step") {
        int32_t step = 0;
        if (!parse_number(value, step))
          return bad("bad step '" + std::string{value}
                     + "' (expected a 32-bit integer)");
        ev.step = step;
        seen |= has_step;
      } else if (name == "attempt") {
        uint32_t a = 0;
        if (!parse_number(value, a))
          return bad("bad attempt '" + std::string{value}
                     + "' (expected a 32-bit unsigned integer)");
        ev.attempt = a;
        seen |= has_attempt;
      } else if (name == "data") {
        ev.data = value;
        seen |= has_data;
      } else if (name == "error") {
        ev.error = value;
        seen |= has_error;
      } else if (name == "time") {
        int64_t t = 0;
        if (!parse_number(value, t))
          return bad("bad time '" + std::string{value}
                     + "' (expected milliseconds since the epoch)");
        ev.time_ms = t;
        seen |= has_time;
      }
      // Other fields are left to newer writers.
    }
    if (seen != has_all) {
      static const char* names[] = {"type", "step",  "attempt",
                                    "data", "error", "time"};
      for (unsigned b = 0; b < 6; ++b)
        if ((seen & (1u << b)) == 0)
          return bad(std::string{"the field '"} + names[b] + "' is missing");
    }
    result.push_back(std::move(ev));
  }
  return result;
}

} // namespace saga
