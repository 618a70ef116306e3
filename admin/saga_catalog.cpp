#include "admin/saga_catalog.hpp"

#include <algorithm>

#include <hiredis/hiredis.h>

#include "admin/saga_view.hpp"
#include "core/parse_number.hpp"
#include "persistence/redis_directory.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/stream_codec.hpp"
#include "saga/errc.hpp"
#include "saga/replay.hpp"

namespace saga {

namespace {

constexpr const char* members_key = "saga:nodes";

/// The operators' actions, kept for their own retention (its own slot).
constexpr const char* audit_key = "saga:audit";

constexpr uint32_t max_limit = 500;

/// Candidates whose whole histories one round trip reads at most.
constexpr uint32_t batch_max = 100;

/// Upper bound of `scan`: a page never reads more histories than this.
constexpr uint32_t max_scan = 10'000;

/// The longest cursor made: the positions of the pages before, newest last;
/// older ones are dropped beyond it (previous stops there). Cursors given
/// may be up to twice as long (one more position of the longest kind).
constexpr size_t max_cursor_bytes = 1024;

/// Where a page walk is. Without a business key or id prefix the phases come
/// in this order (a filter by state uses only one of them); with one, its
/// index is the only phase.
enum class phase : uint8_t {
  unfinished,
  failed,
  compensated,
  completed,
  by_key,
  by_id,
  end
};

constexpr const char* phase_names[] = {"unfinished", "failed", "compensated",
                                       "completed",  "key",    "ids"};

struct position {
  phase at = phase::unfinished;
  /// unfinished: the node whose index is walked (empty: the first node).
  std::string node;
  /// The last saga examined in this phase (or node); empty: none yet.
  std::string id;
  /// ended phases: the score (end time) of `id`.
  int64_t score = 0;
};

/// One saga to examine.
struct candidate {
  std::string id;
  std::string node; // unfinished phase: the index it came from
  int64_t score = 0;
};

std::string_view text(const redisReply* r) noexcept {
  return reply_text(r);
}

int64_t integer(const redisReply* r) {
  if (r == nullptr)
    return 0;
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer;
  int64_t x = 0;
  parse_number(text(r), x);
  return x;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

std::string hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  result.reserve(s.size() * 2);
  for (unsigned char c : s) {
    result += digits[c >> 4];
    result += digits[c & 0xf];
  }
  return result;
}

bool unhex(std::string_view s, std::string& out) {
  if (s.size() % 2 != 0)
    return false;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    return -1;
  };
  out.clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    auto hi = val(s[i]);
    auto lo = val(s[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out += static_cast<char>(hi * 16 + lo);
  }
  return true;
}

/// Returns the cursor of `pos`: `<phase>~<hex of node, or score>~<id>`.
std::string encode(const position& pos) {
  if (pos.at == phase::end)
    return {};
  std::string result = phase_names[static_cast<size_t>(pos.at)];
  result += '~';
  if (pos.at == phase::unfinished)
    result += hex(pos.node);
  else if (!pos.id.empty())
    result += std::to_string(pos.score);
  result += '~';
  result += pos.id;
  return result;
}

caf::expected<position> decode(const std::string& cursor) {
  auto bad = [&] {
    return make_error(errc::invalid_request,
                      "cursor: '" + cursor + "' is not a cursor of this list");
  };
  auto a = cursor.find('~');
  auto b = a == std::string::npos ? a : cursor.find('~', a + 1);
  if (b == std::string::npos)
    return bad();
  position pos;
  auto name = cursor.substr(0, a);
  auto i = std::find(std::begin(phase_names), std::end(phase_names), name);
  if (i == std::end(phase_names))
    return bad();
  pos.at = static_cast<phase>(i - std::begin(phase_names));
  auto middle = std::string_view{cursor}.substr(a + 1, b - a - 1);
  pos.id = cursor.substr(b + 1);
  if (!pos.id.empty() && !valid_saga_id(pos.id))
    return bad();
  // The middle is the node (hex) of an unfinished index's cursor, else the
  // score of the id that follows (none without an id).
  bool middle_ok = false;
  if (pos.at == phase::unfinished)
    middle_ok = unhex(middle, pos.node);
  else if (pos.id.empty())
    middle_ok = middle.empty();
  else
    middle_ok = parse_number(middle, pos.score);
  if (!middle_ok)
    return bad();
  return pos;
}

/// Returns the positions of cursor stack `cursor` (`,`-separated, the
/// page to show last).
std::vector<std::string> split_cursor(const std::string& cursor) {
  std::vector<std::string> result;
  size_t from = 0;
  for (;;) {
    auto comma = cursor.find(',', from);
    result.push_back(cursor.substr(from, comma - from));
    if (comma == std::string::npos)
      return result;
    from = comma + 1;
  }
}

/// Returns `stack` as a cursor, dropping its oldest entries while longer
/// than `max_cursor_bytes`; empty for an empty stack.
std::string join_cursor(std::vector<std::string> stack) {
  auto size = [&stack] {
    size_t n = 0;
    for (const auto& x : stack)
      n += x.size() + 1;
    return n;
  };
  while (stack.size() > 1 && size() > max_cursor_bytes)
    stack.erase(stack.begin());
  std::string result;
  for (const auto& x : stack) {
    if (!result.empty())
      result += ',';
    result += x;
  }
  return result;
}

saga_status phase_state(phase p) {
  switch (p) {
    case phase::failed: return saga_status::failed;
    case phase::compensated: return saga_status::compensated;
    default: return saga_status::completed;
  }
}

/// Returns whether phase `p` walks one of the ended indexes.
bool ended_phase(phase p) {
  return p == phase::failed || p == phase::compensated || p == phase::completed;
}

/// Returns the phases a filter walks, in order.
std::vector<phase> phases_of(const saga_filter& f) {
  if (!f.business_key.empty())
    return {phase::by_key};
  if (!f.id_prefix.empty())
    return {phase::by_id};
  if (!f.state)
    return {phase::unfinished, phase::failed, phase::compensated,
            phase::completed};
  switch (*f.state) {
    case saga_status::failed: return {phase::failed};
    case saga_status::compensated: return {phase::compensated};
    case saga_status::completed: return {phase::completed};
    default: return {phase::unfinished};
  }
}

caf::error io_error(const std::string& what, const redisReply& r) {
  return make_error(errc::journal_failure,
                    "redis: " + what + ": " + error_text(r));
}

/// Returns the show JSON of a history that cannot even be decoded: its
/// entries as stored, and `why`.
json raw_timeline(const std::string& id, const redisReply& r,
                  const std::string& why, const std::string& owner,
                  uint64_t epoch) {
  auto evs = json::array();
  for (size_t i = 0; i < r.elements; ++i) {
    const auto* entry = r.element[i];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
      continue;
    auto sid = text(entry->element[0]);
    uint64_t seq = 0;
    if (sid.size() > 2)
      parse_number(sid.substr(2), seq);
    json ev{{"seq", seq},   {"type", ""},  {"step", nullptr},
            {"attempt", 0}, {"error", ""}, {"time_ms", 0}};
    const auto* fields = entry->element[1];
    for (size_t k = 0; k + 1 < fields->elements; k += 2) {
      auto name = text(fields->element[k]);
      auto value = std::string{text(fields->element[k + 1])};
      int64_t n = 0;
      if (name == "type")
        ev["type"] = value;
      else if (name == "error")
        ev["error"] = value;
      else if (name == "step" && parse_number(value, n) && n >= 0)
        ev["step"] = n;
      else if (name == "attempt" && parse_number(value, n))
        ev["attempt"] = n;
      else if (name == "time" && parse_number(value, n))
        ev["time_ms"] = n;
    }
    evs.push_back(std::move(ev));
  }
  return json{{"id", id},
              {"definition", ""},
              {"state", "unknown"},
              {"owner", owner},
              {"epoch", epoch},
              {"started_ms", 0},
              {"ended_ms", 0},
              {"error", why},
              {"error_code", ""},
              {"failed_step", ""},
              {"invalid_history", true},
              {"steps", json::array()},
              {"events", std::move(evs)},
              {"operator_actions", json::array()}};
}

/// One call of `saga_catalog::list`: walks the filter's phases from the
/// cursor's position, one index at a time, reads each batch of candidates'
/// histories and owners in one round trip, and keeps the ones that match,
/// until the page is full, the scan budget is spent or nothing follows.
/// Lives for one call; borrows the connection and the filter.
class page_walk {
public:
  page_walk(redis_connection& rc, const saga_filter& f)
    : rc_(rc), f_(f), phases_(phases_of(f)), now_ms_(now_ms()) {
    pos_.at = phases_.front();
    // The cursor is a stack: where each page before began, then this one.
    stack_ = f.cursor.empty() ? std::vector<std::string>{encode(pos_)}
                              : split_cursor(f.cursor);
    pos_ = *decode(stack_.back()); // checked by validate
    budget_ = f.scan != 0 ? f.scan : 10 * f.limit;
    // Filters the indexes do not answer make candidates fail: read more at
    // a time then.
    post_filtered_ = !f.definition.empty() || f.min_age_s || f.max_age_s
                     || !f.node.empty() || f.from_ms || f.to_ms
                     || phases_.front() == phase::by_key
                     || phases_.front() == phase::by_id;
    // The start times a saga must have: [min_start_ms_, max_start_ms_]. Ended
    // sagas started no earlier ended no earlier either: min_start_ms_ is also
    // a sound bound on the end times to read.
    min_start_ms_ = f.from_ms;
    if (f.max_age_s)
      min_start_ms_ = std::max(min_start_ms_.value_or(INT64_MIN),
                               now_ms_ - *f.max_age_s * 1000);
    max_start_ms_ = f.to_ms;
    if (f.min_age_s)
      max_start_ms_ = std::min(max_start_ms_.value_or(INT64_MAX),
                               now_ms_ - *f.min_age_s * 1000);
  }

  /// Returns the page (shape: `saga_catalog::list`).
  caf::expected<json> run() {
    if (auto err = load_nodes())
      return err;
    while (pos_.at != phase::end && sagas_.size() < f_.limit
           && fetched_ < budget_) {
      if (pos_.at == phase::unfinished && pos_.node.empty()) {
        if (nodes_.empty()) {
          next_phase();
          continue;
        }
        pos_.node = nodes_.front();
      }
      auto want = f_.limit - static_cast<uint32_t>(sagas_.size());
      if (post_filtered_ || pos_.at == phase::unfinished)
        want += f_.limit;
      auto n = std::min({budget_ - fetched_, want, batch_max});
      bool exhausted = false;
      auto cands = fetch(n, exhausted);
      if (!cands)
        return cands.error();
      fetched_ += static_cast<uint32_t>(cands->size());
      auto full = examine(*cands);
      if (!full)
        return full.error();
      if (!*full && exhausted)
        next_index();
    }
    return page();
  }

private:
  /// Reads the unfinished indexes to walk, in id order (all members'
  /// unless the filter names a node).
  caf::error load_nodes() {
    if (!f_.node.empty()) {
      nodes_.push_back(f_.node);
      return caf::none;
    }
    if (pos_.at != phase::unfinished)
      return caf::none;
    auto r = rc_.command({"ZRANGE", members_key, "0", "-1"});
    if (!r)
      return r.error();
    if (is_error(**r))
      return io_error(std::string{"ZRANGE "} + members_key, **r);
    for (size_t i = 0; i < (*r)->elements; ++i)
      nodes_.emplace_back(text((*r)->element[i]));
    return caf::none;
  }

  /// Moves to the next node's unfinished index, or else the next phase.
  void next_index() {
    if (pos_.at == phase::unfinished && f_.node.empty()) {
      auto i = std::upper_bound(nodes_.begin(), nodes_.end(), pos_.node);
      if (i != nodes_.end()) {
        pos_.node = *i;
        pos_.id.clear();
        return;
      }
    }
    next_phase();
  }

  /// Moves `pos_` to the start of the phase after its current one.
  void next_phase() {
    auto i = std::find(phases_.begin(), phases_.end(), pos_.at);
    pos_ = position{};
    pos_.at = (i == phases_.end() || i + 1 == phases_.end()) ? phase::end
                                                             : *(i + 1);
  }

  /// Returns up to `n` candidates after `pos_` in its phase; sets
  /// `exhausted` when nothing follows them there (in this node's index).
  caf::expected<std::vector<candidate>> fetch(uint32_t n, bool& exhausted) {
    if (pos_.at == phase::unfinished)
      return fetch_by_id(redis_unfinished_key(pos_.node),
                         pos_.id.empty() ? std::string{"-"} : "(" + pos_.id,
                         "+", n, exhausted);
    if (pos_.at == phase::by_id)
      // Every id with the prefix, in id order: [prefix, prefix + 0xff].
      return fetch_by_id(redis_ids_key(),
                         pos_.id.empty() ? "[" + f_.id_prefix : "(" + pos_.id,
                         "[" + f_.id_prefix + "\xff", n, exhausted);
    return fetch_by_score(n, exhausted);
  }

  /// Returns up to `n` members of the lex-ordered index `key` in [from, to].
  caf::expected<std::vector<candidate>>
  fetch_by_id(const std::string& key, const std::string& from,
              const std::string& to, uint32_t n, bool& exhausted) {
    auto count = std::to_string(n);
    auto r = rc_.command({"ZRANGEBYLEX", key, from, to, "LIMIT", "0", count});
    if (!r)
      return r.error();
    std::vector<candidate> result;
    for (size_t i = 0; i < (*r)->elements; ++i)
      result.push_back(
        candidate{std::string{text((*r)->element[i])}, pos_.node, 0});
    exhausted = result.size() < n;
    return result;
  }

  /// Returns up to `n` candidates of a time-scored index (an ended index by
  /// end time, a business key's by start time), newest first, after
  /// `pos_`.
  caf::expected<std::vector<candidate>> fetch_by_score(uint32_t n,
                                                       bool& exhausted) {
    auto key = pos_.at == phase::by_key
                 ? redis_business_key_key(f_.business_key)
                 : redis_ended_key(to_string(phase_state(pos_.at)));
    auto count = std::to_string(n);
    auto min = min_start_ms_ ? std::to_string(*min_start_ms_)
                             : std::string{"-inf"};
    auto max = pos_.at == phase::by_key && max_start_ms_
                 ? std::to_string(*max_start_ms_)
                 : std::string{"+inf"};
    std::vector<candidate> result;
    if (pos_.id.empty()) {
      auto r = rc_.command(
        {"ZREVRANGEBYSCORE", key, max, min, "WITHSCORES", "LIMIT", "0", count});
      if (!r)
        return r.error();
      take(**r, false, result);
      exhausted = result.size() < n;
      return result;
    }
    // Continue from the last one's score, past the members with that score
    // already seen (reverse id order): by (score, id), not by rank, which
    // members added or removed above it (new ends, retries) would shift,
    // and whether the last one is still listed or not.
    auto score = std::to_string(pos_.score);
    for (uint32_t offset = 0;; offset += n) {
      auto off = std::to_string(offset);
      auto r = rc_.command({"ZREVRANGEBYSCORE", key, score, min, "WITHSCORES",
                            "LIMIT", off, count});
      if (!r)
        return r.error();
      auto got = (*r)->elements / 2;
      auto kept = take(**r, true, result);
      if (got < n || kept > 0) {
        exhausted = got < n;
        return result;
      }
    }
  }

  /// Appends the members of a `WITHSCORES` reply `r` to `out`, without
  /// those already seen (`skip_seen`) or before the time bound; returns
  /// how many it appended.
  size_t take(const redisReply& r, bool skip_seen,
              std::vector<candidate>& out) const {
    size_t kept = 0;
    for (size_t i = 0; i + 1 < r.elements; i += 2) {
      candidate x;
      x.id = std::string{text(r.element[i])};
      // Scores are integers (ms); Redis prints them so.
      auto s = std::string{text(r.element[i + 1])};
      x.score = static_cast<int64_t>(std::strtod(s.c_str(), nullptr));
      if (skip_seen && x.score == pos_.score && x.id >= pos_.id)
        continue;
      if (min_start_ms_ && x.score < *min_start_ms_)
        continue;
      out.push_back(std::move(x));
      ++kept;
    }
    return kept;
  }

  /// Reads the histories and owners of `cands` in one round trip and keeps
  /// the sagas that match, moving `pos_` past each. Returns whether the
  /// page is full.
  caf::expected<bool> examine(const std::vector<candidate>& cands) {
    std::vector<std::string> keys;
    keys.reserve(cands.size() * 2);
    for (const auto& x : cands) {
      keys.push_back(redis_events_key(x.id));
      rc_.append({"XRANGE", keys.back(), "-", "+"});
      keys.push_back(redis_owner_key(x.id));
      rc_.append({"GET", keys.back()});
    }
    std::vector<std::pair<redis_reply, redis_reply>> replies;
    replies.reserve(cands.size());
    for (size_t i = 0; i < cands.size(); ++i) {
      auto h = rc_.read();
      auto o = rc_.read();
      if (!h)
        return h.error();
      if (!o)
        return o.error();
      replies.emplace_back(std::move(*h), std::move(*o));
    }
    for (size_t i = 0; i < cands.size(); ++i) {
      ++scanned_;
      pos_.id = cands[i].id;
      pos_.score = cands[i].score;
      if (auto entry = admit(cands[i], *replies[i].first, *replies[i].second))
        sagas_.push_back(std::move(*entry));
      if (sagas_.size() >= f_.limit)
        return true;
    }
    return false;
  }

  /// Returns the list entry of candidate `x` (history `h`, owner token
  /// `o`) if it matches the filter.
  std::optional<json> admit(const candidate& x, const redisReply& h,
                            const redisReply& o) const {
    if (is_error(h) || h.elements == 0)
      return std::nullopt; // gone (retention) or not a stream: nothing to show
    auto [owner, epoch] = parse_owner_token(text(&o));
    if (owner.empty())
      owner = x.node;
    auto evs = parse_events(h, x.id);
    saga_state st;
    st.saga_id = x.id;
    std::string bad_history;
    if (!evs)
      bad_history = describe(evs.error());
    else
      for (const auto& ev : *evs)
        if (auto err = st.apply(ev)) {
          bad_history = describe(err);
          break;
        }
    auto status = st.status;
    // A broken history listed as ended counts as what the index says.
    if (ended_phase(pos_.at) && !bad_history.empty())
      status = phase_state(pos_.at);
    if (!matches(x, st, status, owner))
      return std::nullopt;
    auto entry = saga_summary_json(st, owner, epoch);
    if (!bad_history.empty()) {
      entry["state"] = std::string{to_string(status)};
      entry["error"] = bad_history;
      entry["invalid_history"] = true;
    } else {
      entry["retrying"] = retrying_json(st, *evs);
    }
    return entry;
  }

  /// Returns whether saga `st` (of candidate `x`, in `status`, owned by
  /// `owner`) belongs on the page.
  bool matches(const candidate& x, const saga_state& st, saga_status status,
               const std::string& owner) const {
    if (ended_phase(pos_.at)) {
      if (status != phase_state(pos_.at))
        return false; // retried since: listed as unfinished
    } else {
      // Ended sagas left over in an unfinished index are listed by their
      // end state.
      if (pos_.at == phase::unfinished && is_terminal(status))
        return false;
      if (f_.state && status != *f_.state)
        return false;
      if (pos_.at == phase::by_key && !f_.id_prefix.empty()
          && x.id.rfind(f_.id_prefix, 0) != 0)
        return false;
    }
    if (pos_.at != phase::unfinished && !f_.node.empty() && owner != f_.node)
      return false;
    if (!f_.definition.empty() && (!st.def || st.def->name() != f_.definition))
      return false;
    if (max_start_ms_
        && (st.started_at_ms == 0 || st.started_at_ms > *max_start_ms_))
      return false;
    return !min_start_ms_ || st.started_at_ms >= *min_start_ms_;
  }

  /// Returns the page: its sagas and the cursors of the next, previous and
  /// this page.
  json page() {
    auto before = stack_;
    before.pop_back();
    auto after = stack_;
    after.push_back(encode(pos_));
    return json{{"sagas", std::move(sagas_)},
                {"next", pos_.at == phase::end ? "" : join_cursor(after)},
                {"prev", join_cursor(before)},
                {"cursor", f_.cursor.empty() ? "" : join_cursor(stack_)},
                {"scanned", scanned_}};
  }

  redis_connection& rc_;
  const saga_filter& f_;
  std::vector<phase> phases_;
  int64_t now_ms_;
  std::vector<std::string> stack_;
  position pos_;
  /// The unfinished indexes to walk (their nodes, in id order).
  std::vector<std::string> nodes_;
  uint32_t budget_ = 0;
  bool post_filtered_ = false;
  std::optional<int64_t> min_start_ms_;
  std::optional<int64_t> max_start_ms_;
  json sagas_ = json::array();
  uint32_t scanned_ = 0;
  uint32_t fetched_ = 0;
};

} // namespace

// -- free functions -----------------------------------------------------------

caf::error saga_filter::validate() const {
  auto bad = [](std::string what) {
    return make_error(errc::invalid_request, std::move(what));
  };
  if (state && *state == saga_status::pending)
    return bad("state: 'pending' is not listed; use running, compensating, "
               "completed, compensated or failed");
  if (limit < 1 || limit > max_limit)
    return bad("limit: " + std::to_string(limit) + " is not in 1 to 500");
  if (scan > max_scan)
    return bad("scan: " + std::to_string(scan) + " is more than "
               + std::to_string(max_scan));
  // Bounds keep the arithmetic on times (now - age) far from overflow.
  constexpr int64_t age_s_max = int64_t{100} * 366 * 24 * 3600;
  constexpr int64_t time_ms_max = int64_t{1} << 52;
  for (auto [name, x] :
       {std::pair{"min_age_s", min_age_s}, std::pair{"max_age_s", max_age_s}})
    if (x && (*x < 0 || *x > age_s_max))
      return bad(std::string{name} + ": not in 0 to "
                 + std::to_string(age_s_max) + " seconds");
  for (auto [name, x] :
       {std::pair{"from_ms", from_ms}, std::pair{"to_ms", to_ms}})
    if (x && (*x < 0 || *x > time_ms_max))
      return bad(std::string{name} + ": not in 0 to "
                 + std::to_string(time_ms_max) + " ms since the Unix epoch");
  if (min_age_s && max_age_s && *min_age_s > *max_age_s)
    return bad("min_age_s: more than max_age_s");
  if (definition.size() > 200)
    return bad("definition: longer than 200 characters");
  if (node.size() > 200)
    return bad("node: longer than 200 characters");
  if (!id_prefix.empty() && id_prefix.size() > max_saga_id_bytes)
    return bad("id_prefix: longer than 200 characters");
  if (!id_prefix.empty() && !valid_saga_id(id_prefix))
    return bad("id_prefix: '" + id_prefix
               + "' has a character no saga id has (ids are letters, "
                 "digits, '.', '_', ':' and '-')");
  if (!business_key.empty())
    if (auto err = check_business_key(business_key))
      return bad("business_key: " + err.context().get_as<std::string>(0));
  if (from_ms && to_ms && *from_ms > *to_ms)
    return bad("from_ms: later than to_ms");
  if (cursor.size() > 2 * max_cursor_bytes)
    return bad("cursor: too long");
  if (!cursor.empty()) {
    auto ps = phases_of(*this);
    for (const auto& x : split_cursor(cursor)) {
      auto pos = decode(x);
      if (!pos)
        return pos.error();
      if (std::find(ps.begin(), ps.end(), pos->at) == ps.end())
        return bad("cursor: '" + cursor + "' belongs to another filter");
    }
  }
  return caf::none;
}

// -- saga_catalog -------------------------------------------------------------

saga_catalog::saga_catalog(redis_endpoint ep,
                           std::chrono::milliseconds io_timeout)
  : link_(std::move(ep), io_timeout) {
  // nop
}

caf::expected<json> saga_catalog::list(const saga_filter& filter) {
  if (auto err = filter.validate())
    return err;
  auto c = conn();
  if (!c)
    return c.error();
  page_walk walk{**c, filter};
  return walk.run();
}

caf::expected<json> saga_catalog::show(const std::string& id) {
  if (!valid_saga_id(id))
    return make_error(errc::invalid_request, "'" + id + "' is not a saga id");
  auto c = conn();
  if (!c)
    return c.error();
  auto& rc = **c;
  auto events_key = redis_events_key(id);
  auto owner_key = redis_owner_key(id);
  rc.append({"XRANGE", events_key, "-", "+"});
  rc.append({"GET", owner_key});
  auto h = rc.read();
  auto o = rc.read();
  if (!h)
    return h.error();
  if (!o)
    return o.error();
  if (is_error(**h))
    return io_error("history of saga " + id, **h);
  if ((*h)->elements == 0)
    return make_error(errc::unknown_saga, "no saga '" + id + "'");
  auto [owner, epoch] = parse_owner_token(text(o->get()));
  auto evs = parse_events(**h, id);
  if (!evs)
    return raw_timeline(id, **h, describe(evs.error()), owner, epoch);
  return saga_timeline_json(id, *evs, owner, epoch);
}

caf::expected<json> saga_catalog::stats() {
  auto c = conn();
  if (!c)
    return c.error();
  auto& rc = **c;
  const saga_status ended[] = {saga_status::completed, saga_status::compensated,
                               saga_status::failed};
  std::vector<std::string> keys;
  for (auto s : ended)
    keys.push_back(redis_ended_key(to_string(s)));
  for (const auto& k : keys)
    rc.append({"ZCARD", k});
  rc.append({"ZRANGE", members_key, "0", "-1"});
  rc.append({"HGETALL", redis_counts_key()});
  auto states = json::object();
  for (size_t i = 0; i < 3; ++i) {
    auto r = rc.read();
    if (!r)
      return r.error();
    states[std::string{to_string(ended[i])}] = integer(r->get());
  }
  auto members = rc.read();
  auto counts = rc.read();
  if (!members)
    return members.error();
  if (!counts)
    return counts.error();
  if (is_error(**members))
    return io_error("node members", **members);
  if (is_error(**counts))
    return io_error(redis_counts_key(), **counts);
  std::vector<std::string> index_keys;
  for (size_t i = 0; i < (*members)->elements; ++i)
    index_keys.push_back(
      redis_unfinished_key(std::string{text((*members)->element[i])}));
  for (const auto& k : index_keys)
    rc.append({"ZCARD", k});
  int64_t unfinished = 0;
  for (size_t i = 0; i < index_keys.size(); ++i) {
    auto r = rc.read();
    if (!r)
      return r.error();
    unfinished += integer(r->get());
  }
  states["unfinished"] = unfinished;
  auto defs = json::object();
  for (size_t i = 0; i + 1 < (*counts)->elements; i += 2) {
    auto field = text((*counts)->element[i]);
    auto colon = field.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto what = std::string{field.substr(0, colon)};
    auto name = std::string{field.substr(colon + 1)};
    if (what != "started" && what != "completed" && what != "compensated"
        && what != "failed")
      continue;
    auto& d = defs[name];
    if (d.is_null())
      d = json{{"started", 0},
               {"completed", 0},
               {"compensated", 0},
               {"failed", 0}};
    d[what] = integer((*counts)->element[i + 1]);
  }
  return json{{"states", std::move(states)}, {"definitions", std::move(defs)}};
}

caf::error saga_catalog::append_audit(
  const std::vector<std::pair<std::string, std::string>>& fields,
  std::chrono::seconds retention) {
  auto c = conn();
  if (!c)
    return c.error();
  auto now = now_ms();
  auto min_id = std::to_string(now - retention.count() * 1000) + "-0";
  auto time = std::to_string(now);
  std::vector<std::string_view> argv{"XADD", audit_key, "MINID",   "~",
                                     min_id, "*",       "time_ms", time};
  for (const auto& [k, v] : fields) {
    argv.push_back(k);
    argv.push_back(v);
  }
  auto r = (*c)->command(argv);
  if (!r)
    return r.error();
  if (is_error(**r))
    return io_error("XADD " + std::string{audit_key}, **r);
  return caf::none;
}

caf::expected<json> saga_catalog::audit(uint32_t max) {
  if (max < 1 || max > max_limit)
    return make_error(errc::invalid_request,
                      "max: " + std::to_string(max) + " is not in 1 to 500");
  auto c = conn();
  if (!c)
    return c.error();
  auto count = std::to_string(max);
  auto r = (*c)->command({"XREVRANGE", audit_key, "+", "-", "COUNT", count});
  if (!r)
    return r.error();
  if (is_error(**r))
    return io_error("XREVRANGE " + std::string{audit_key}, **r);
  auto entries = json::array();
  for (size_t i = 0; i < (*r)->elements; ++i) {
    const auto* e = (*r)->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
      continue;
    json x{{"id", std::string{text(e->element[0])}}};
    const auto* fs = e->element[1];
    for (size_t k = 0; k + 1 < fs->elements; k += 2) {
      auto name = std::string{text(fs->element[k])};
      auto value = std::string{text(fs->element[k + 1])};
      if (name == "time_ms")
        x[name] = integer(fs->element[k + 1]);
      else
        x[name] = std::move(value);
    }
    entries.push_back(std::move(x));
  }
  return json{{"entries", std::move(entries)}};
}

caf::expected<json> saga_catalog::nodes() {
  auto c = conn();
  if (!c)
    return c.error();
  auto& rc = **c;
  auto ids = rc.command({"ZRANGE", members_key, "0", "-1"});
  if (!ids)
    return ids.error();
  std::vector<std::string> names;
  std::vector<std::string> keys;
  for (size_t i = 0; i < (*ids)->elements; ++i)
    names.emplace_back(text((*ids)->element[i]));
  keys.reserve(names.size() * 3);
  for (const auto& id : names) {
    keys.push_back(redis_node_key(id));
    rc.append(node_hash_read(keys.back()));
    keys.push_back(redis_lease_key(id));
    rc.append({"GET", keys.back()});
    rc.append({"PTTL", keys.back()});
    keys.push_back(redis_unfinished_key(id));
    rc.append({"ZCARD", keys.back()});
  }
  auto result = json::array();
  for (const auto& id : names) {
    redis_reply rs[4];
    for (auto& r : rs) {
      auto x = rc.read();
      if (!x)
        return x.error();
      r = std::move(*x);
    }
    auto n = node_from_replies(id, rs[0].get(), rs[1].get());
    auto pttl = rs[2]->type == REDIS_REPLY_INTEGER ? rs[2]->integer : -2;
    result.push_back(json{{"id", id},
                          {"epoch", n.epoch},
                          {"host", std::move(n.host)},
                          {"port", n.port},
                          {"admin", std::move(n.admin)},
                          {"coordinates", n.coordinates},
                          {"alive", n.alive},
                          {"lease_ms_left", n.alive && pttl > 0 ? pttl : 0},
                          {"participants", std::move(n.participants)},
                          {"unfinished", integer(rs[3].get())}});
  }
  return json{{"nodes", std::move(result)}};
}

caf::expected<std::pair<std::string, uint64_t>>
saga_catalog::owner(const std::string& id) {
  if (!valid_saga_id(id))
    return make_error(errc::invalid_request, "'" + id + "' is not a saga id");
  auto c = conn();
  if (!c)
    return c.error();
  auto r = (*c)->command({"GET", redis_owner_key(id)});
  if (!r)
    return r.error();
  if ((*r)->type != REDIS_REPLY_STRING)
    return make_error(errc::unknown_saga, "no saga '" + id + "'");
  return parse_owner_token(text(r->get()));
}

} // namespace saga
