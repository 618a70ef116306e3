// Fuzz target: the event decoder (persistence/stream_codec.hpp,
// parse_events: an XRANGE reply of a saga's Redis stream -> saga::event),
// and what reads a decoded history next: replay, the saga log and the admin
// API's views (admin/saga_view.hpp), as the catalog and recovery do.
//
// The input describes a synthetic hiredis reply, one stream entry per line:
//
//   <entry id> TAB <field> TAB <value> TAB <field> TAB <value> ...
//
// e.g.
// "0-2\ttype\tstep_started\tstep\t0\tattempt\t1\tdata\t\terror\t\ttime\t5". In
// a token, "\n", "\t" and "\\" (backslash escapes) stand for a newline, a tab
// and a backslash. A line may start with "~<c>" to shape its entry the way a
// broken or foreign stream could: ~s the entry is a string, ~1 an array of the
// ID alone, ~3 an array of three, ~n the ID is nil, ~i the ID is an integer, ~f
// the fields are a string, ~z the fields are nil, ~v every field value is nil.
// An input starting with "~top" is a string reply instead of an array.
//
// Checks, besides "no crash, no sanitizer finding":
// 1. decode(encode(x)) == x: the decoded events written back as stream
//    entries (append_event_fields, the fields the append script writes)
//    decode to the same events;
// 2. nothing is silently cut: a step or attempt number written in the
//    entry as a plain decimal decodes to that number (or the entry is
//    rejected);
// 3. a rejected reply is an error of the right kind (invalid_event for a
//    bad entry, journal_failure for a reply that is no array);
// 4. on decoded events: replay is deterministic; a history that replays
//    also replays in every prefix; the timeline view (GET /api/sagas/<id>)
//    marks a history invalid exactly when replay rejects it, names the
//    replayed state and its last seq; summaries, logs and JSON dumps of
//    whatever the events hold do not fail.
//
// A check that fails prints what it saw and calls __builtin_trap().

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "admin/saga_view.hpp"
#include "persistence/stream_codec.hpp"
#include "saga/errc.hpp"
#include "saga/event.hpp"
#include "saga/replay.hpp"
#include "saga/status.hpp"

namespace {

using saga::event;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "stream_codec_fuzz: %s\n  %s\n", what, detail.c_str());
  __builtin_trap();
}

/// Owns a tree of synthetic redisReply nodes (never freeReplyObject'd).
class reply_builder {
public:
  redisReply* string(std::string_view text) {
    auto* r = node(REDIS_REPLY_STRING);
    texts_.emplace_back(text);
    auto& t = texts_.back();
    r->str = t.data();
    r->len = t.size();
    return r;
  }

  redisReply* nil() {
    return node(REDIS_REPLY_NIL);
  }

  redisReply* integer(long long x) {
    auto* r = node(REDIS_REPLY_INTEGER);
    r->integer = x;
    return r;
  }

  redisReply* array(std::vector<redisReply*> xs) {
    auto* r = node(REDIS_REPLY_ARRAY);
    arrays_.push_back(std::move(xs));
    auto& a = arrays_.back();
    r->elements = a.size();
    r->element = a.empty() ? nullptr : a.data();
    return r;
  }

private:
  redisReply* node(int type) {
    nodes_.push_back(std::make_unique<redisReply>());
    auto* r = nodes_.back().get();
    *r = redisReply{};
    r->type = type;
    return r;
  }

  std::vector<std::unique_ptr<redisReply>> nodes_;
  std::deque<std::string> texts_;
  std::deque<std::vector<redisReply*>> arrays_;
};

std::string unescape(std::string_view x) {
  std::string out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '\\' && i + 1 < x.size()) {
      auto c = x[i + 1];
      if (c == 'n' || c == 't' || c == '\\') {
        out += c == 'n' ? '\n' : c == 't' ? '\t' : '\\';
        ++i;
        continue;
      }
    }
    out += x[i];
  }
  return out;
}

std::vector<std::string> split(std::string_view x, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto pos = x.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(x.substr(start));
      return out;
    }
    out.emplace_back(x.substr(start, pos - start));
    start = pos + 1;
  }
}

/// One entry as written in the input, after unescaping.
struct raw_entry {
  char shape = 0;
  std::vector<std::string> tokens; // id, then field names and values
};

std::vector<raw_entry> read_entries(std::string_view input) {
  std::vector<raw_entry> result;
  if (input.empty())
    return result;
  if (input.back() == '\n')
    input.remove_suffix(1);
  for (auto& line : split(input, '\n')) {
    raw_entry e;
    std::string_view rest = line;
    if (rest.size() >= 2 && rest[0] == '~') {
      e.shape = rest[1];
      rest.remove_prefix(2);
    }
    for (auto& t : split(rest, '\t'))
      e.tokens.push_back(unescape(t));
    result.push_back(std::move(e));
  }
  return result;
}

redisReply* build_entry(reply_builder& b, const raw_entry& e) {
  const auto& id = e.tokens.front();
  if (e.shape == 's')
    return b.string(id);
  auto* id_node = e.shape == 'n' ? b.nil()
                  : e.shape == 'i'
                    ? b.integer(static_cast<long long>(id.size()))
                    : b.string(id);
  if (e.shape == '1')
    return b.array({id_node});
  redisReply* fields = nullptr;
  if (e.shape == 'f') {
    fields = b.string(e.tokens.size() > 1 ? e.tokens[1] : std::string{});
  } else if (e.shape == 'z') {
    fields = b.nil();
  } else {
    std::vector<redisReply*> xs;
    for (size_t i = 1; i < e.tokens.size(); ++i)
      xs.push_back(e.shape == 'v' && i % 2 == 0 ? b.nil()
                                                : b.string(e.tokens[i]));
    fields = b.array(std::move(xs));
  }
  if (e.shape == '3')
    return b.array({id_node, fields, b.string("extra")});
  return b.array({id_node, fields});
}

/// Writes `events` as the XRANGE reply of a stream the append script wrote.
redisReply* encode(reply_builder& b, const std::vector<event>& events) {
  static const char* names[] = {"type", "step",  "attempt",
                                "data", "error", "time"};
  std::vector<redisReply*> entries;
  for (const auto& ev : events) {
    std::vector<std::string_view> argv;
    std::deque<std::string> texts;
    saga::append_event_fields(ev, argv, texts);
    if (argv.size() != 6)
      fail("append_event_fields did not give six values",
           std::to_string(argv.size()));
    std::vector<redisReply*> fields;
    for (size_t i = 0; i < argv.size(); ++i) {
      fields.push_back(b.string(names[i]));
      fields.push_back(b.string(argv[i]));
    }
    entries.push_back(b.array(
      {b.string("0-" + std::to_string(ev.seq)), b.array(std::move(fields))}));
  }
  return b.array(std::move(entries));
}

bool same(const event& x, const event& y) {
  return x.seq == y.seq && x.type == y.type && x.step == y.step
         && x.attempt == y.attempt && x.data == y.data && x.error == y.error
         && x.time_ms == y.time_ms;
}

/// Returns whether `x` is a decimal number as std::to_string writes one.
bool plain_decimal(const std::string& x) {
  size_t i = !x.empty() && x[0] == '-' ? 1 : 0;
  if (i == x.size() || x.size() > 20)
    return false;
  if (x[i] == '0' && x.size() > i + 1)
    return false;
  if (x == "-0")
    return false;
  for (; i < x.size(); ++i)
    if (x[i] < '0' || x[i] > '9')
      return false;
  return true;
}

void check_no_silent_cut(const std::vector<raw_entry>& raw,
                         const std::vector<event>& events) {
  for (size_t i = 0; i < raw.size() && i < events.size(); ++i) {
    const auto& e = raw[i];
    if (e.shape == 'v' || e.shape == 'f' || e.shape == 'z')
      continue;
    // The decoder takes the last occurrence of a field.
    std::string step;
    std::string attempt;
    bool has_step = false;
    bool has_attempt = false;
    for (size_t k = 1; k + 1 < e.tokens.size(); k += 2) {
      if (e.tokens[k] == "step") {
        step = e.tokens[k + 1];
        has_step = true;
      } else if (e.tokens[k] == "attempt") {
        attempt = e.tokens[k + 1];
        has_attempt = true;
      }
    }
    if (has_step && plain_decimal(step)
        && std::to_string(events[i].step) != step)
      fail("a step number was cut silently",
           "entry " + std::to_string(i) + ": step '" + step + "' decoded as "
             + std::to_string(events[i].step));
    if (has_attempt && plain_decimal(attempt)
        && std::to_string(events[i].attempt) != attempt)
      fail("an attempt number was cut silently",
           "entry " + std::to_string(i) + ": attempt '" + attempt
             + "' decoded as " + std::to_string(events[i].attempt));
  }
}

std::string dump(const saga::json& j) {
  // As the admin server sends it: bytes that are no UTF-8 replaced.
  return j.dump(-1, ' ', false, saga::json::error_handler_t::replace);
}

void check_history(const saga::saga_id& id, const std::vector<event>& events) {
  auto st = saga::replay(id, events);
  auto again = saga::replay(id, events);
  if (static_cast<bool>(st) != static_cast<bool>(again)
      || (st && !st->same_as(*again)))
    fail("replay is not deterministic",
         std::to_string(events.size()) + " events");
  auto timeline = saga::saga_timeline_json(id, events, "node-a", 7);
  auto text = dump(timeline);
  auto invalid = timeline.value("invalid_history", false);
  if (!st) {
    if (st.error().category() != saga::error_category())
      fail("replay failed with a foreign error", saga::describe(st.error()));
    if (!events.empty() && !invalid)
      fail("the timeline shows a history that does not replay as valid",
           saga::describe(st.error()) + "\n  " + text);
    // What the catalog lists: the state up to the first bad event.
    saga::saga_state partial;
    partial.saga_id = id;
    for (const auto& ev : events)
      if (partial.apply(ev))
        break;
    dump(saga::saga_summary_json(partial, "node-a", 7));
    return;
  }
  if (invalid)
    fail("the timeline marks a history that replays as invalid", text);
  if (timeline["last_seq"] != st->last_seq || st->last_seq != events.back().seq)
    fail("the timeline's last seq is not the history's", text);
  if (timeline["state"] != std::string{saga::to_string(st->status)})
    fail("the timeline's state is not the replayed state", text);
  if (!st->def || timeline["steps"].size() != st->def->steps().size())
    fail("the timeline's steps are not the definition's", text);
  // Every prefix of a valid history is a valid history (recovery may read
  // any of them).
  auto n = events.size();
  auto step = n <= 48 ? size_t{1} : n / 16;
  for (size_t k = 1; k < n; k += step) {
    std::vector<event> prefix(events.begin(),
                              events.begin() + static_cast<ptrdiff_t>(k));
    auto p = saga::replay(id, prefix);
    if (!p)
      fail("a prefix of a valid history does not replay",
           "prefix of " + std::to_string(k) + " of " + std::to_string(n)
             + " events: " + saga::describe(p.error()));
  }
  auto result = saga::summarize(*st);
  if (result.state != st->status
      || result.success != (st->status == saga::saga_status::completed))
    fail("summarize disagrees with the replayed state",
         std::string{saga::to_string(st->status)});
  dump(saga::saga_summary_json(*st, "node-a", 7));
  auto log = saga::make_log(*st, events);
  if (log.saga_id != id || log.events.size() != events.size()
      || log.steps.size() != st->def->steps().size())
    fail("the saga log is not the replayed state's", "");
  // Every log renders, whatever times a damaged stream holds (finding 4 of
  // docs/fuzzing.md, fixed).
  auto rendered = saga::to_string(log);
  if (rendered.find(id) == std::string::npos)
    fail("the saga log does not name its saga", rendered);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const saga::saga_id id = "fuzz-1";
  reply_builder b;
  redisReply* reply = nullptr;
  std::vector<raw_entry> raw;
  if (input.substr(0, 4) == "~top") {
    reply = b.string(input.substr(4));
  } else {
    raw = read_entries(input);
    std::vector<redisReply*> entries;
    entries.reserve(raw.size());
    for (const auto& e : raw)
      entries.push_back(build_entry(b, e));
    reply = b.array(std::move(entries));
  }
  auto events = saga::parse_events(*reply, id);
  if (!events) {
    auto code = reply->type == REDIS_REPLY_ARRAY ? saga::errc::invalid_event
                                                 : saga::errc::journal_failure;
    if (!saga::is(events.error(), code))
      fail("a rejected reply has the wrong error",
           saga::describe(events.error()));
    return 0;
  }
  if (events->size() != raw.size())
    fail("not one event per entry",
         std::to_string(events->size()) + " of " + std::to_string(raw.size()));
  check_no_silent_cut(raw, *events);
  // decode(encode(x)) == x
  reply_builder b2;
  auto decoded = saga::parse_events(*encode(b2, *events), id);
  if (!decoded)
    fail("decoded events written back do not decode",
         saga::describe(decoded.error()));
  if (decoded->size() != events->size())
    fail("decoded events written back decode to a different count", "");
  for (size_t i = 0; i < events->size(); ++i)
    if (!same((*events)[i], (*decoded)[i]))
      fail("decoded events written back decode differently",
           saga::to_string((*events)[i]) + " vs. "
             + saga::to_string((*decoded)[i]));
  check_history(id, *events);
  return 0;
}
