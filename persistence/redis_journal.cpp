#include "persistence/redis_journal.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <functional>
#include <optional>
#include <variant>
#include <vector>

#include <hiredis/hiredis.h>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "persistence/effects.hpp"
#include "persistence/follow_ups.hpp"
#include "persistence/lua_scripts.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_directory.hpp"
#include "persistence/stream_codec.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"
#include "saga/supervisor.hpp"

namespace saga {

namespace {

using std::chrono::milliseconds;

using flush_atom = caf::atom_constant<caf::atom("sg_rflush")>;
using trim_atom = caf::atom_constant<caf::atom("sg_rtrim")>;

/// A Redis writer: the journal interface plus its own retry timer, the
/// trim timer of the ended indexes (and the marker set of counted sagas) and
/// a fault-injection hook.
using writer_actor
  = journal_actor::extend<caf::reacts_to<flush_atom>, caf::reacts_to<trim_atom>,
                          caf::reacts_to<crash_atom>>;

/// How often the first writer trims the ended indexes (and the marker set of
/// counted sagas) to the retention.
constexpr auto trim_interval = std::chrono::seconds{1};

/// Entries one trim call removes at most (per sorted set): a backlog (after
/// an outage, or a shorter retention) goes in slices, so no call blocks
/// Redis for long; the next slice follows at once.
constexpr uint32_t trim_max_entries = 1'000;

/// The answer of an append with pre-claims: its last seq and verdicts.
using claims_promise
  = caf::typed_response_promise<uint64_t, std::vector<barrier_claim>>;

struct pending_append {
  caf::typed_response_promise<uint64_t> rp;
  saga_id id;
  std::vector<event> events;
  /// Claims made with the events (see append.lua); answered through
  /// `rp_claims` then, `rp` otherwise.
  std::vector<barrier_preclaim> preclaims;
  /// Outcomes recorded with the events (see append.lua).
  std::vector<barrier_outcome> outcomes;
  /// Whether the append asked for verdicts: it is answered through
  /// `rp_claims` then.
  bool with_claims = false;
  claims_promise rp_claims;

  /// Answers the append with `err`.
  void fail(caf::error err) {
    if (!with_claims)
      rp.deliver(std::move(err));
    else
      rp_claims.deliver(std::move(err));
  }
};

struct pending_claim {
  caf::typed_response_promise<barrier_claim> rp;
  saga_id id;
  std::string step;
  barrier_op op;
  std::string owner;
};

struct pending_done {
  caf::typed_response_promise<bool> rp;
  saga_id id;
  std::string step;
  barrier_op op;
  std::string owner;
  step_reply reply;
};

struct pending_reopen {
  caf::typed_response_promise<uint64_t> rp;
  saga_id id;
  event ev;
};

/// One buffered request: appends and barrier records share the pipeline.
using pending_op
  = std::variant<pending_append, pending_claim, pending_done, pending_reopen>;

/// Returns `r` as JSON text, the form barrier records store.
std::string encode_reply(const step_reply& r) {
  return json{{"ok", r.ok}, {"t", r.retryable}, {"r", r.result}, {"e", r.error}}
    .dump();
}

/// Returns the reply a barrier record stores as JSON text (`encode_reply`).
step_reply decode_reply(std::string_view text) {
  step_reply r;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) {
    r.error = "unreadable barrier record";
    return r;
  }
  r.ok = j.value("ok", false);
  r.retryable = j.value("t", false);
  r.result = j.value("r", std::string{});
  // An ok reply carries no error: null compensations recorded by earlier
  // versions stored one.
  if (!r.ok)
    r.error = j.value("e", std::string{});
  return r;
}

std::string barrier_key(const saga_id& id) {
  return "saga:{" + id + "}:barrier";
}

/// Returns the string field `key` of the JSON object `text`, or "_unknown".
std::string json_field(const std::string& text, const char* key) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_object())
    if (auto i = j.find(key); i != j.end() && i->is_string())
      return i->get<std::string>();
  return "_unknown";
}

/// Returns how long a business key's index keeps a saga: twice the
/// retention, so a saga is found by its key as long as its history lives
/// (a saga running longer than that is still found by id).
int64_t business_key_ttl_s(const journal_options& opts) {
  return 2 * static_cast<int64_t>(opts.retention.count());
}

/// Returns the state a terminal event ends a saga in, as the index names it.
const char* ended_state(event_type x) {
  switch (x) {
    case event_type::saga_completed: return "completed";
    case event_type::saga_compensated: return "compensated";
    default: return "failed";
  }
}

struct writer_state {
  static inline const char* name = "saga.redis_writer";
  redis_endpoint ep;
  journal_options opts;
  std::string index_key;
  std::string retention;
  /// "<node>/<epoch>": the owner token of the sagas this journal writes.
  std::string token;
  std::optional<redis_connection> conn;
  std::string script_sha;
  std::string claim_sha;
  std::string adopt_sha;
  std::string done_sha;
  std::string reopen_sha;
  std::string list_sha;
  /// The keys of our node's lease and record (the listing script's fence).
  std::string lease_key;
  std::string record_key;
  std::string epoch_text;
  std::string trim_sha;
  std::string count_sha;
  /// Fixed replies of the barrier, JSON text.
  std::string refusal;
  std::string null_compensation;
  std::vector<pending_op> buffer;
  /// First batches whose listing found our node without its lease: they
  /// wait (each holds up only its own saga) and are listed again with the
  /// next pipeline, or after `lease_poll`.
  std::vector<pending_op> lease_wait;
  /// What follows accepted writes with the next pipeline (see `flush`):
  /// the per-state indexes, counts and unlisting of ended sagas. All
  /// idempotent: a pipeline that broke sends them all again.
  detail::follow_ups follow_ups;
  milliseconds backoff{0};
  bool retry_armed = false;
  bool logged_outage = false;
};

using writer_pointer = writer_actor::stateful_pointer<writer_state>;

/// Returns a usable connection, connecting (and loading the script) if
/// needed, or nothing when Redis cannot be reached right now.
redis_connection* connection(writer_pointer self, caf::error* why = nullptr) {
  auto& s = self->state;
  if (s.conn && !s.conn->broken())
    return &*s.conn;
  s.conn.reset();
  auto c = redis_connection::connect(s.ep, s.opts.io_timeout);
  caf::error err;
  if (c) {
    // append.lua and claim.lua decide claims with the function of
    // barrier_claim.lua; append.lua and done.lua record outcomes with the
    // functions of barrier_record.lua.
    const auto& claim_fn = lua_script("barrier_claim.lua");
    const auto& record_fn = lua_script("barrier_record.lua");
    auto sha = c->command(
      {"SCRIPT", "LOAD", claim_fn + record_fn + lua_script("append.lua")});
    auto claim = c->command(
      {"SCRIPT", "LOAD", claim_fn + lua_script("claim.lua")});
    auto adopt = c->command({"SCRIPT", "LOAD", lua_script("adopt.lua")});
    auto done = c->command(
      {"SCRIPT", "LOAD", record_fn + lua_script("done.lua")});
    auto reopen = c->command({"SCRIPT", "LOAD", lua_script("reopen.lua")});
    if (reopen && (*reopen)->type == REDIS_REPLY_STRING)
      s.reopen_sha.assign((*reopen)->str, (*reopen)->len);
    auto list = c->command({"SCRIPT", "LOAD", lua_script("list.lua")});
    if (list && (*list)->type == REDIS_REPLY_STRING)
      s.list_sha.assign((*list)->str, (*list)->len);
    auto trim = c->command({"SCRIPT", "LOAD", lua_script("trim.lua")});
    if (trim && (*trim)->type == REDIS_REPLY_STRING)
      s.trim_sha.assign((*trim)->str, (*trim)->len);
    auto count = c->command({"SCRIPT", "LOAD", lua_script("count.lua")});
    if (count && (*count)->type == REDIS_REPLY_STRING)
      s.count_sha.assign((*count)->str, (*count)->len);
    if (sha && (*sha)->type == REDIS_REPLY_STRING && claim
        && (*claim)->type == REDIS_REPLY_STRING && adopt
        && (*adopt)->type == REDIS_REPLY_STRING && done
        && (*done)->type == REDIS_REPLY_STRING && !s.list_sha.empty()
        && !s.trim_sha.empty() && !s.count_sha.empty()) {
      s.done_sha.assign((*done)->str, (*done)->len);
      s.script_sha.assign((*sha)->str, (*sha)->len);
      s.claim_sha.assign((*claim)->str, (*claim)->len);
      s.adopt_sha.assign((*adopt)->str, (*adopt)->len);
      s.conn = std::move(*c);
      s.backoff = milliseconds{0};
      if (s.logged_outage)
        aout(self) << "caf-saga: redis " << s.ep.describe() << " is back"
                   << std::endl;
      s.logged_outage = false;
      return &*s.conn;
    }
    err = !sha     ? sha.error()
          : !claim ? claim.error()
          : !adopt ? adopt.error()
          : !done  ? done.error()
          : !trim  ? trim.error()
          : !count
            ? count.error()
            : make_error(errc::journal_failure, "SCRIPT LOAD: bad reply");
  } else {
    err = c.error();
  }
  if (!s.logged_outage) {
    aout(self) << "caf-saga: " << describe(err) << "; retrying" << std::endl;
    s.logged_outage = true;
  }
  if (why != nullptr)
    *why = std::move(err);
  return nullptr;
}

void arm_retry(writer_pointer self) {
  auto& s = self->state;
  if (s.retry_armed)
    return;
  s.backoff = s.backoff.count() == 0
                ? s.opts.reconnect_backoff
                : std::min(s.backoff * 2, s.opts.max_reconnect_backoff);
  s.retry_armed = true;
  self->delayed_send(self, s.backoff, flush_atom::value);
}

caf::error reply_error(const redisReply& r) {
  auto text = error_text(r);
  if (text.rfind("CONFLICT", 0) == 0)
    return make_error(errc::journal_conflict, "redis: " + text);
  if (text.rfind("FENCED", 0) == 0)
    return make_error(errc::fenced, "redis: " + text);
  if (text.rfind("NOTFAILED", 0) == 0)
    return make_error(errc::invalid_state, "redis: " + text);
  if (text.rfind("UNKNOWN", 0) == 0)
    return make_error(errc::unknown_saga, "redis: " + text);
  if (text.rfind("EFFECT ", 0) == 0) // a bad atomic effect (done.lua)
    return make_error(errc::invalid_config, "redis: " + text.substr(7));
  return make_error(errc::journal_failure, "redis: " + text);
}

/// Adds a barrier record's arguments to `argv`: its field, the claim it
/// needs ("R:<token>") and the value it stores (see `done.lua`).
void append_record(const std::string& step, barrier_op op,
                   const std::string& token, const step_reply& reply,
                   std::vector<std::string_view>& argv,
                   std::deque<std::string>& texts) {
  texts.push_back(step + (op == barrier_op::execute ? "/x" : "/c"));
  argv.push_back(texts.back());
  texts.push_back("R:" + token);
  argv.push_back(texts.back());
  if (reply.ok) {
    texts.push_back("D1:" + encode_reply(reply));
  } else if (op == barrier_op::execute) {
    // The attempt's number leads its claim token ("<attempt>:..."): copies
    // of it are answered with this failure (see `claim.lua`).
    texts.push_back("F" + token.substr(0, token.find(':')) + ":"
                    + encode_reply(reply));
  } else {
    texts.emplace_back(); // a failed compensation: a retry runs it again
  }
  argv.push_back(texts.back());
}

/// Adds a successful reply's atomic effects to `argv`: their count, then
/// each as its argument count and Redis command (checked when queued).
void append_effects(const step_reply& reply,
                    std::vector<std::string_view>& argv,
                    std::deque<std::string>& texts) {
  auto count = reply.ok ? reply.effects.size() : size_t{0};
  texts.push_back(std::to_string(count));
  argv.push_back(texts.back());
  for (size_t n = 0; n < count; ++n) {
    auto cmd = detail::redis_command(reply.effects[n]);
    texts.push_back(std::to_string(cmd.size()));
    argv.push_back(texts.back());
    for (auto& arg : cmd) {
      texts.push_back(std::move(arg));
      argv.push_back(texts.back());
    }
  }
}

/// Queues the commands of append `p`; returns how many replies it gets and
/// which of them is the script's.
std::pair<uint8_t, uint8_t> write_append(writer_state& s,
                                         redis_connection& conn,
                                         const pending_append& p,
                                         std::deque<std::string>& texts) {
  // A first batch was listed already (`list_first_batches`).
  const auto& first = p.events.front();
  auto terminal = is_terminal(p.events.back().type);
  std::vector<std::string_view> argv;
  argv.reserve(10 + p.events.size() * 6);
  texts.push_back(redis_events_key(p.id));
  const auto& stream = texts.back();
  texts.push_back(redis_owner_key(p.id));
  const auto& owner = texts.back();
  // A terminal append also names the barrier hash: it expires with the
  // history (see append.lua).
  const bool barrier = !p.preclaims.empty() || !p.outcomes.empty() || terminal;
  if (!barrier) {
    argv.insert(argv.end(), {"EVALSHA", s.script_sha, "2", stream, owner});
  } else {
    texts.push_back(barrier_key(p.id));
    argv.insert(argv.end(),
                {"EVALSHA", s.script_sha, "3", stream, owner, texts.back()});
  }
  texts.push_back(std::to_string(first.seq));
  argv.push_back(texts.back());
  texts.push_back(std::to_string(p.events.size()));
  argv.push_back(texts.back());
  argv.push_back(s.retention);
  argv.push_back(terminal ? "1" : "0");
  argv.push_back(s.token);
  for (const auto& ev : p.events)
    append_event_fields(ev, argv, texts);
  if (barrier) {
    argv.push_back(s.refusal);
    argv.push_back(s.null_compensation);
    texts.push_back(std::to_string(p.preclaims.size()));
    argv.push_back(texts.back());
    for (const auto& c : p.preclaims) {
      argv.push_back(c.step);
      argv.push_back(c.op == barrier_op::compensate ? "c" : "x");
      argv.push_back(c.token);
    }
    texts.push_back(std::to_string(p.outcomes.size()));
    argv.push_back(texts.back());
    for (const auto& o : p.outcomes) {
      append_record(o.step, o.op, o.token, o.reply, argv, texts);
      append_effects(o.reply, argv, texts);
    }
  }
  conn.append(argv);
  // A terminal append unlists the saga only once the script accepted it
  // (see `flush`): a fenced old owner must not unlist a saga it lost.
  return {1, 0};
}

/// Queues a reopen: list the saga in our index, then the script (see
/// `reopen.lua`). Returns the replies, as `write_append`.
std::pair<uint8_t, uint8_t> write_reopen(writer_state& s,
                                         redis_connection& conn,
                                         const pending_reopen& p,
                                         std::deque<std::string>& texts) {
  conn.append({"ZADD", s.index_key, "0", p.id});
  std::vector<std::string_view> argv;
  texts.push_back(redis_events_key(p.id));
  auto& stream = texts.back();
  texts.push_back(redis_owner_key(p.id));
  auto& owner = texts.back();
  texts.push_back(barrier_key(p.id));
  argv.insert(argv.end(),
              {"EVALSHA", s.reopen_sha, "3", stream, owner, texts.back()});
  texts.push_back(std::to_string(p.ev.seq));
  argv.push_back(texts.back());
  argv.push_back(s.token);
  argv.push_back(s.retention);
  append_event_fields(p.ev, argv, texts);
  conn.append(argv);
  return {2, 1};
}

/// Returns a call of `count.lua`: `op` for saga `id` of definition `def`;
/// `ended` also takes the end `state` and time.
std::vector<std::string> count_call(const writer_state& s, const char* op,
                                    const saga_id& id, std::string def,
                                    std::string_view state = {},
                                    int64_t end_ms = 0) {
  std::vector<std::string>
    cmd{"EVALSHA",       s.count_sha, "3", redis_counts_key(), redis_seen_key(),
        redis_ids_key(), op,          id,  std::move(def)};
  if (!state.empty()) {
    cmd.emplace_back(state);
    cmd.push_back(detail::end_score(end_ms));
  }
  return cmd;
}

/// Queues what follows an accepted append (with the next pipeline; each
/// command idempotent, so a batch stored already, a resend, repeats them
/// harmlessly): a first batch counts a start of its definition; a terminal
/// one records the saga in its state's index, counts its end, and only
/// then unlists it, so an unlisted saga is always indexed and counted (a
/// crash before the unlisting leaves it listed: recovery settles it).
void follow_up(writer_state& s, const pending_append& a) {
  const auto& first = a.events.front();
  const auto& last = a.events.back();
  if (first.seq == 1 && first.type == event_type::saga_started) {
    // One parse of the definition for both fields.
    auto def = json::parse(first.data, nullptr, false);
    auto field = [&def](const char* key) -> std::string {
      if (def.is_object())
        if (auto i = def.find(key); i != def.end() && i->is_string())
          return i->get<std::string>();
      return {};
    };
    auto name = field("name");
    s.follow_ups.started(a.id, name.empty() ? "_unknown" : std::move(name),
                         field("business_key"), first.time_ms);
  }
  if (is_terminal(last.type))
    s.follow_ups.ended(a.id, ended_state(last.type),
                       json_field(last.data, "definition"), last.time_ms);
}

/// Records ended saga `id` as the follow-ups of its terminal batch do (for
/// recovery: its writer died before sending them), idempotently: its
/// `state`'s index at `end_ms`, then its counts. Returns the first error
/// (an I/O error breaks the connection); the caller unlists the saga only
/// without one, so a failure leaves it listed for the next recovery.
caf::error settle(writer_state& s, redis_connection& conn, const saga_id& id,
                  const std::string& state, const std::string& def,
                  int64_t end_ms) {
  conn.append({"ZADD", redis_ended_key(state), detail::end_score(end_ms), id});
  auto cmd = count_call(s, "ended", id, def, state, end_ms);
  conn.append(std::vector<std::string_view>(cmd.begin(), cmd.end()));
  caf::error failure;
  for (int i = 0; i < 2; ++i) {
    auto r = conn.read();
    if (!r)
      return r.error();
    if (is_error(**r) && !failure)
      failure = reply_error(**r);
  }
  return failure;
}

/// Trims the ended indexes and the marker set of counted sagas to the
/// retention, up to `trim_max_entries` per set, so an entry never outlives
/// the history it points to. Returns whether a set had more to trim than
/// one call removes, or an I/O error (the connection is broken then).
caf::expected<bool> trim_ended(writer_state& s, redis_connection& conn) {
  auto wall = std::chrono::duration_cast<milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  auto cutoff = "(" + std::to_string(wall - s.opts.retention.count() * 1000);
  auto limit = std::to_string(trim_max_entries);
  std::vector<std::string> keys;
  for (auto state : {"completed", "compensated", "failed"}) {
    keys.push_back(redis_ended_key(state));
    conn.append(
      {"EVALSHA", s.trim_sha, "1", keys.back(), "-inf", cutoff, limit});
  }
  // Markers of ended sagas only (score > 0, their end time): a 0 marks an
  // open saga whose start was counted; it goes when the saga ends.
  // Their ids leave the id index with them.
  keys.push_back(redis_seen_key());
  auto ids_key = redis_ids_key();
  conn.append(
    {"EVALSHA", s.trim_sha, "2", keys.back(), ids_key, "(0", cutoff, limit});
  bool more = false;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto r = conn.read();
    if (!r)
      return r.error();
    // An error reply (say, a key of the wrong type) trims nothing there.
    more = more
           || ((*r)->type == REDIS_REPLY_INTEGER
               && (*r)->integer >= static_cast<long long>(trim_max_entries));
  }
  return more;
}

void maybe_flush(writer_pointer self);

/// Trims the ended indexes (see `trim_ended`) and schedules the next trim:
/// on a timer of its own, so entries go on time even when no saga writes.
/// While Redis is away, the trim waits for the reconnect backoff.
void on_trim_tick(writer_pointer self) {
  auto& s = self->state;
  auto next = milliseconds{trim_interval};
  if (!s.retry_armed) {
    if (auto conn = connection(self); conn == nullptr) {
      arm_retry(self);
    } else if (auto more = trim_ended(s, *conn); !more) {
      aout(self) << "caf-saga: " << describe(more.error()) << "; reconnecting"
                 << std::endl;
      arm_retry(self);
    } else if (*more) {
      next = milliseconds{0}; // a backlog: the next slice at once
    }
  }
  if (next.count() == 0)
    self->send(self, trim_atom::value);
  else
    self->delayed_send(self, next, trim_atom::value);
  // An append that arrived just before this tick is buffered: send it now
  // (while a retry is armed, that retry's flush sends it).
  if (!s.retry_armed)
    maybe_flush(self);
}

/// Queues a barrier claim (one script call).
void write_claim(writer_state& s, redis_connection& conn,
                 const pending_claim& p, std::deque<std::string>& texts) {
  texts.push_back(barrier_key(p.id));
  conn.append({"EVALSHA", s.claim_sha, "1", texts.back(), p.step,
               p.op == barrier_op::execute ? "x" : "c", p.owner, s.retention,
               s.refusal, s.null_compensation});
}

/// Queues a barrier record (one script call; see `done.lua`).
void write_done(writer_state& s, redis_connection& conn, const pending_done& p,
                std::deque<std::string>& texts) {
  std::vector<std::string_view> argv;
  texts.push_back(barrier_key(p.id));
  argv.insert(argv.end(), {"EVALSHA", s.done_sha, "1", texts.back()});
  append_record(p.step, p.op, p.owner, p.reply, argv, texts);
  argv.push_back(s.retention);
  append_effects(p.reply, argv, texts);
  conn.append(argv);
}

/// How often first batches waiting for our lease are listed again.
constexpr milliseconds lease_poll{50};

/// Lists the buffered first batches in our unfinished index (one pipeline of
/// `list.lua` calls) before any of them is written: a saga is listed
/// before it has an event, so an adoption walk after its listing finds it,
/// and a listing after a newer incarnation registered (whose walk may be
/// over) is refused, its append answered `errc::fenced` and never sent.
/// Returns false after an I/O error (the buffer stays for the retry).
bool list_first_batches(writer_pointer self, redis_connection& conn) {
  auto& s = self->state;
  std::vector<size_t> firsts;
  for (size_t i = 0; i < s.buffer.size(); ++i)
    if (auto a = std::get_if<pending_append>(&s.buffer[i]))
      if (a->events.front().seq == 1)
        firsts.push_back(i);
  if (firsts.empty())
    return true;
  // One call lists them all: the script's check is the node's, not a
  // saga's, so its answer holds for every first batch of this pipeline.
  std::vector<std::string_view> argv{"EVALSHA",   s.list_sha,  "3",
                                     s.index_key, s.lease_key, s.record_key,
                                     s.epoch_text};
  for (auto i : firsts)
    argv.emplace_back(std::get<pending_append>(s.buffer[i]).id);
  conn.append(argv);
  auto r = conn.read();
  if (!r) {
    aout(self) << "caf-saga: " << describe(r.error()) << "; reconnecting"
               << std::endl;
    arm_retry(self);
    return false;
  }
  if (!is_error(**r))
    return true;
  const bool waiting = error_text(**r).rfind("NOLEASE", 0) == 0;
  for (auto i : firsts) {
    if (waiting)
      s.lease_wait.push_back(std::move(s.buffer[i]));
    else
      std::get<pending_append>(s.buffer[i]).fail(reply_error(**r));
  }
  for (auto k = firsts.rbegin(); k != firsts.rend(); ++k)
    s.buffer.erase(s.buffer.begin() + static_cast<std::ptrdiff_t>(*k));
  if (waiting)
    self->delayed_send(self, lease_poll, flush_atom::value);
  return true;
}

/// Returns an error if batch `events` of saga `id` cannot be appended as it
/// is: empty, or seqs that do not follow the first one's (the script
/// numbers the events from the first seq, so such a batch is refused before
/// it is sent).
caf::error check_batch(const saga_id& id, const std::vector<event>& events) {
  if (events.empty())
    return make_error(errc::invalid_event,
                      "empty append for saga '" + id + "'");
  for (size_t k = 1; k < events.size(); ++k)
    if (events[k].seq != events.front().seq + k)
      return make_error(errc::journal_conflict,
                        "saga '" + id + "': the batch starting at seq "
                          + std::to_string(events.front().seq) + " has seq "
                          + std::to_string(events[k].seq) + " at position "
                          + std::to_string(k + 1));
  return caf::none;
}

/// Returns a claim script's verdict `r` ({verdict, stored reply[,
/// 'unrecorded']}), or an error for any other reply.
caf::expected<barrier_claim> parse_claim(const redisReply* r) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
    return make_error(errc::journal_failure, "barrier claim: unexpected reply");
  std::string_view verdict{r->element[0]->str, r->element[0]->len};
  std::string_view stored{r->element[1]->str, r->element[1]->len};
  barrier_claim result;
  if (verdict == "proceed")
    result.verdict = barrier_verdict::proceed;
  else if (verdict == "busy")
    result.verdict = barrier_verdict::busy;
  else if (verdict == "refused")
    result.verdict = barrier_verdict::refused;
  else if (verdict == "null_compensated")
    result.verdict = barrier_verdict::null_compensated;
  else
    result.verdict = barrier_verdict::duplicate;
  if (!stored.empty())
    result.reply = decode_reply(stored);
  result.execute_unrecorded = r->elements > 2;
  return result;
}

/// Answers accepted append `a` from the append script's reply `r`: the last
/// seq (negated: stored already), or with pre-claims {last seq, verdicts}.
void answer_append(pending_append& a, const redisReply* r) {
  auto seq_of = [&a](const redisReply* x) {
    auto seq = x != nullptr && x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
    return seq != 0 ? static_cast<uint64_t>(seq < 0 ? -seq : seq)
                    : a.events.back().seq;
  };
  if (!a.with_claims) {
    // With the barrier hash named (a terminal batch), the script answers
    // {last seq}.
    const bool listed = r != nullptr && r->type == REDIS_REPLY_ARRAY
                        && r->elements > 0;
    a.rp.deliver(seq_of(listed ? r->element[0] : r));
    return;
  }
  std::vector<barrier_claim> verdicts;
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
    // Stored already: nothing was claimed, the participants claim.
    a.rp_claims.deliver(seq_of(r), std::move(verdicts));
    return;
  }
  for (size_t k = 1; k < r->elements; ++k) {
    auto v = parse_claim(r->element[k]);
    if (!v) {
      a.rp_claims.deliver(v.error());
      return;
    }
    verdicts.push_back(std::move(*v));
  }
  if (r->elements == 0 || verdicts.size() != a.preclaims.size()) {
    a.rp_claims.deliver(
      make_error(errc::journal_failure, "append: unexpected pre-claim reply"));
    return;
  }
  a.rp_claims.deliver(seq_of(r->element[0]), std::move(verdicts));
}

/// What Redis answered one buffered request: its first error reply, if
/// any, and the reply its answer is read from.
struct request_result {
  caf::error failure;
  redis_reply last;
};

/// Appends the commands of every buffered request to `conn`; returns per
/// request its number of replies and which of them holds its answer.
std::vector<std::pair<uint8_t, uint8_t>> send_buffer(writer_state& s,
                                                     redis_connection& conn) {
  // Keys and numbers rendered per request. A deque never moves its elements
  // on push_back, so the string_views handed to hiredis stay valid until
  // hiredis has copied them into its output buffer.
  std::deque<std::string> texts;
  std::vector<std::pair<uint8_t, uint8_t>> shape; // replies, script reply
  shape.reserve(s.buffer.size());
  for (const auto& op : s.buffer) {
    texts.clear();
    if (auto a = std::get_if<pending_append>(&op))
      shape.push_back(write_append(s, conn, *a, texts));
    else if (auto r = std::get_if<pending_reopen>(&op))
      shape.push_back(write_reopen(s, conn, *r, texts));
    else if (auto c = std::get_if<pending_claim>(&op)) {
      write_claim(s, conn, *c, texts);
      shape.emplace_back(1, 0);
    } else {
      write_done(s, conn, std::get<pending_done>(op), texts);
      shape.emplace_back(1, 0);
    }
    // hiredis copied the arguments into its output buffer already.
  }
  return shape;
}

/// Returns what Redis answered each buffered request (sent as `shape`
/// says), or the I/O error that lost a reply.
caf::expected<std::vector<request_result>>
read_buffer(redis_connection& conn,
            const std::vector<std::pair<uint8_t, uint8_t>>& shape) {
  std::vector<request_result> results(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    for (uint8_t k = 0; k < shape[i].first; ++k) {
      auto r = conn.read();
      if (!r)
        return std::move(r.error());
      if (is_error(**r) && !results[i].failure)
        results[i].failure = reply_error(**r);
      if (k == shape[i].second)
        results[i].last = std::move(*r);
    }
  }
  return results;
}

/// Answers buffered request `op` from what Redis answered it.
void answer(writer_state& s, pending_op& op, request_result& result) {
  auto& failure = result.failure;
  if (auto a = std::get_if<pending_append>(&op)) {
    if (failure) {
      a->fail(std::move(failure));
    } else {
      follow_up(s, *a);
      answer_append(*a, result.last.get());
    }
  } else if (auto ro = std::get_if<pending_reopen>(&op)) {
    if (failure) {
      ro->rp.deliver(std::move(failure));
    } else {
      // Also after "stored already" (a resend): both are idempotent.
      s.follow_ups.reopened(ro->id, json_field(ro->ev.data, "definition"));
      ro->rp.deliver(ro->ev.seq);
    }
  } else if (auto c = std::get_if<pending_claim>(&op)) {
    auto v = failure ? caf::expected<barrier_claim>{std::move(failure)}
                     : parse_claim(result.last.get());
    if (v)
      c->rp.deliver(std::move(*v));
    else
      c->rp.deliver(v.error());
  } else {
    auto& d = std::get<pending_done>(op);
    const auto& last = result.last;
    if (failure)
      d.rp.deliver(std::move(failure));
    else
      d.rp.deliver(last && last->type == REDIS_REPLY_INTEGER
                   && last->integer == 1);
  }
}

/// Writes the buffered requests in one pipeline and answers each after
/// Redis replied to all of them and, with `journal.replicas`, after that
/// many replicas of every master written confirmed them (one WAIT per
/// master). Requests whose replies were lost to an I/O error, or whose
/// writes were not confirmed, stay buffered and are sent again after
/// reconnecting (appends and claims are idempotent; a barrier record is
/// simply written again).
void flush(writer_pointer self) {
  auto& s = self->state;
  for (auto& op : s.lease_wait)
    s.buffer.push_back(std::move(op));
  s.lease_wait.clear();
  if (s.buffer.empty() && s.follow_ups.empty())
    return;
  auto conn = connection(self);
  if (conn == nullptr) {
    arm_retry(self);
    return;
  }
  // Sagas that ended in earlier pipelines leave the index in this one: a
  // terminal append unlists only once the script accepted it (a fenced old
  // owner must not unlist a saga it lost), and riding along costs no round
  // trip of its own. Lost to a crash, an entry stays listed; recovery finds
  // the saga ended and settles it then (indexes, counts, unlisting).
  if (!list_first_batches(self, *conn))
    return;
  auto unlisting = std::move(s.follow_ups);
  s.follow_ups = {};
  const auto follow_cmds = unlisting.commands(s.count_sha, s.index_key,
                                              business_key_ttl_s(s.opts));
  std::vector<std::string_view> follow_argv;
  for (const auto& cmd : follow_cmds) {
    follow_argv.assign(cmd.begin(), cmd.end());
    conn->append(follow_argv);
  }
  auto sent_at = std::chrono::steady_clock::now();
  auto batch = s.buffer.size();
  auto shape = send_buffer(s, *conn);
  caf::error lost;
  for (size_t i = 0; i < follow_cmds.size() && !lost; ++i)
    if (auto r = conn->read(); !r)
      lost = std::move(r.error());
  auto results = lost ? caf::expected<std::vector<request_result>>{lost}
                      : read_buffer(*conn, shape);
  if (results && s.opts.replicas > 0)
    if (auto err = conn->wait_replicas(s.opts.replicas, s.opts.io_timeout / 2))
      results = std::move(err);
  if (!results) {
    // Nothing was answered: the follow-ups and the whole buffer are sent
    // again, all of them idempotent (the counts through `count.lua`).
    aout(self) << "caf-saga: " << describe(results.error()) << "; reconnecting"
               << std::endl;
    s.follow_ups = std::move(unlisting);
    arm_retry(self);
    return;
  }
  for (size_t i = 0; i < s.buffer.size(); ++i)
    answer(s, s.buffer[i], (*results)[i]);
  s.buffer.clear();
  if (auto& m = s.opts.metrics; m && batch > 0) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                         - sent_at;
    m->journal_batch_size.observe(static_cast<double>(batch));
    m->journal_batch_latency.observe(took.count());
  }
  // Under load the next pipeline comes soon; otherwise this message (queued
  // behind whatever arrived meanwhile) sends the follow-ups.
  if (!s.follow_ups.empty())
    self->send(self, flush_atom::value);
}

/// Every handler ends by flushing (or calling this): a request buffered
/// while other messages were queued is sent once the mailbox runs empty,
/// whichever message came last (a trim tick, a page of the index, ...).
void maybe_flush(writer_pointer self) {
  auto& s = self->state;
  if (s.buffer.size() >= s.opts.max_batch || self->mailbox().empty())
    flush(self);
}

/// Reads one page of `node`'s unfinished index and adopts its sagas (see
/// `journal_actor`). Two pipelines: first, per saga, list it in our index
/// and then run the owner compare-and-set; second, drop the entries that do
/// not belong where they are listed. Listing before claiming means a crash
/// in between leaves an extra entry, which the next walk drops, and never
/// an owned saga that no index lists.
caf::expected<unfinished_page>
adopt_page(writer_state& s, redis_connection& conn, const std::string& node,
           uint64_t below, const std::string& after, uint32_t max) {
  bool own = node.empty() || node == s.opts.node_id;
  const auto& from_node = own ? s.opts.node_id : node;
  auto from_key = own ? s.index_key : redis_unfinished_key(node);
  auto bound = std::to_string(own ? s.opts.epoch : below);
  max = std::max<uint32_t>(max, 1);
  auto from = after.empty() ? std::string{"-"} : "(" + after;
  auto count = std::to_string(max);
  auto r = conn.command(
    {"ZRANGEBYLEX", from_key, from, "+", "LIMIT", "0", count});
  if (!r)
    return r.error();
  if ((*r)->type != REDIS_REPLY_ARRAY)
    return make_error(errc::journal_failure, "ZRANGEBYLEX: unexpected reply");
  unfinished_page page;
  std::vector<std::string> ids;
  for (size_t i = 0; i < (*r)->elements; ++i)
    ids.emplace_back((*r)->element[i]->str, (*r)->element[i]->len);
  if (ids.size() == max)
    page.next = ids.back();
  if (ids.empty())
    return page;
  std::vector<std::string> owner_keys;
  owner_keys.reserve(ids.size());
  for (const auto& id : ids) {
    if (!own)
      conn.append({"ZADD", s.index_key, "0", id});
    owner_keys.push_back(redis_owner_key(id));
    conn.append({"EVALSHA", s.adopt_sha, "1", owner_keys.back(), from_node,
                 bound, s.token, s.retention});
  }
  std::vector<std::string> verdicts;
  verdicts.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!own) {
      auto z = conn.read();
      if (!z)
        return z.error();
    }
    auto v = conn.read();
    if (!v)
      return v.error(); // I/O error: the connection is broken and reset
    // An error reply (say, a corrupt owner key) concerns that saga only:
    // it stays listed where it is, for an operator, and the walk goes on.
    if (is_error(**v) || (*v)->type != REDIS_REPLY_STRING)
      verdicts.emplace_back("unreadable");
    else
      verdicts.emplace_back((*v)->str, (*v)->len);
  }
  size_t removals = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& v = verdicts[i];
    // Our own entry without an owner may be a saga whose first append is
    // still in flight on another writer: the coordinator reads it (after
    // that writer flushed) and unlists it only if it really has no history.
    bool mine = v == "claimed" || v == "mine" || (own && v == "gone");
    if (mine)
      page.ids.push_back(ids[i]);
    // Off the index walked: another node's saga we adopted, that moved or
    // is gone; our own one only once it moved.
    if ((!own && v != "live" && v != "unreadable") || (own && v == "moved")) {
      conn.append({"ZREM", from_key, ids[i]});
      ++removals;
    }
    if (!own && !mine) {
      conn.append({"ZREM", s.index_key, ids[i]}); // not ours after all
      ++removals;
    }
  }
  for (size_t i = 0; i < removals; ++i)
    if (auto z = conn.read(); !z)
      return z.error();
  return page;
}

/// Returns the behavior of a Redis writer; the one that `trims` also trims
/// the ended indexes once a second.
writer_actor::behavior_type redis_writer(writer_pointer self, redis_endpoint ep,
                                         journal_options opts, bool trims) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.ep = std::move(ep);
  s.opts = std::move(opts);
  if (trims)
    self->delayed_send(self, trim_interval, trim_atom::value);
  s.index_key = redis_unfinished_key(s.opts.node_id);
  s.lease_key = redis_lease_key(s.opts.node_id);
  s.record_key = redis_node_key(s.opts.node_id);
  s.epoch_text = std::to_string(s.opts.epoch);
  s.token = s.opts.node_id + "/" + std::to_string(s.opts.epoch);
  s.retention = std::to_string(std::max<int64_t>(1, s.opts.retention.count()));
  // A clean stop (the router's exit) can overtake the flush message a
  // pipeline sent itself for its follow-ups: the terminal batches it just
  // acknowledged would then stay listed as unfinished, out of their ended
  // index and count (a node stepping down lost completed sagas from
  // `saga:ended:{completed}` this way). Send them before leaving, on the
  // connection we have (a dead Redis must not hold up the stop).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& s = self->state;
    for (int round = 0; round < 2; ++round)
      if (s.conn && !s.conn->broken())
        flush(self); // the second round sends what the first one accepted
    self->quit(std::move(msg.reason));
  });
  {
    step_reply refusal;
    refusal.error = "refused: the step was compensated before it executed";
    s.refusal = encode_reply(refusal);
    step_reply null_comp; // "compensated": an ok reply carries no error
    null_comp.ok = true;
    s.null_compensation = encode_reply(null_comp);
  }
  return {
    [self](append_atom, saga_id& id,
           std::vector<event>& events) -> caf::result<uint64_t> {
      if (auto err = check_batch(id, events))
        return err;
      pending_append a;
      a.rp = self->make_response_promise<uint64_t>();
      a.id = std::move(id);
      a.events = std::move(events);
      auto rp = a.rp;
      self->state.buffer.emplace_back(std::move(a));
      maybe_flush(self);
      return rp;
    },
    [self](append_atom, saga_id& id, std::vector<event>& events,
           std::vector<barrier_preclaim>& preclaims,
           std::vector<barrier_outcome>& outcomes)
      -> caf::result<uint64_t, std::vector<barrier_claim>> {
      if (auto err = check_batch(id, events))
        return err;
      // A bad effect is refused before anything is sent, as with
      // barrier_done; only successful outcomes ride with appends.
      for (const auto& o : outcomes) {
        if (!o.reply.ok)
          return make_error(errc::invalid_event,
                            "saga '" + id + "': the outcome of step '" + o.step
                              + "' is a failure; only successes are "
                                "recorded with an append");
        if (auto err = detail::check_effects(o.reply.effects))
          return err;
        if (self->state.ep.cluster())
          if (auto err = detail::check_effect_slots(id, o.reply.effects))
            return err;
      }
      auto rp
        = self->make_response_promise<uint64_t, std::vector<barrier_claim>>();
      pending_append a;
      a.id = std::move(id);
      a.events = std::move(events);
      a.preclaims = std::move(preclaims);
      a.outcomes = std::move(outcomes);
      a.with_claims = true;
      a.rp_claims = rp;
      self->state.buffer.emplace_back(std::move(a));
      maybe_flush(self);
      return rp;
    },
    [self](barrier_claim_atom, saga_id& id, std::string& step, barrier_op op,
           std::string& owner) -> caf::result<barrier_claim> {
      auto rp = self->make_response_promise<barrier_claim>();
      self->state.buffer.emplace_back(pending_claim{rp, std::move(id),
                                                    std::move(step), op,
                                                    std::move(owner)});
      maybe_flush(self);
      return rp;
    },
    [self](barrier_done_atom, saga_id& id, std::string& step, barrier_op op,
           std::string& owner, step_reply& reply) -> caf::result<bool> {
      // A bad effect is refused before anything is sent (nothing applied,
      // the claim stays open), as the memory journal refuses it.
      if (reply.ok) {
        if (auto err = detail::check_effects(reply.effects))
          return err;
        if (self->state.ep.cluster())
          if (auto err = detail::check_effect_slots(id, reply.effects))
            return err;
      }
      auto rp = self->make_response_promise<bool>();
      self->state.buffer.emplace_back(
        pending_done{rp, std::move(id), std::move(step), op, std::move(owner),
                     std::move(reply)});
      maybe_flush(self);
      return rp;
    },
    [self](reopen_atom, saga_id& id, event& ev) -> caf::result<uint64_t> {
      if (ev.type != event_type::saga_retried)
        return make_error(errc::invalid_event,
                          "saga '" + id
                            + "': only saga_retried reopens a saga");
      auto rp = self->make_response_promise<uint64_t>();
      self->state.buffer.emplace_back(
        pending_reopen{rp, std::move(id), std::move(ev)});
      maybe_flush(self);
      return rp;
    },
    [self](flush_atom) {
      self->state.retry_armed = false;
      flush(self);
    },
    [self](trim_atom) { on_trim_tick(self); },
    [](crash_atom) -> void {
      // Buffered appends die with us; their sagas send them again after
      // their journal timeout.
      throw std::runtime_error("injected fault in a redis writer");
    },
    [self](read_atom, const saga_id& id) -> caf::result<std::vector<event>> {
      flush(self); // read your own writes
      caf::error err;
      auto conn = connection(self, &err);
      if (conn == nullptr)
        return err;
      auto key = redis_events_key(id);
      auto r = conn->command({"XRANGE", key, "-", "+"});
      if (!r)
        return r.error();
      auto events = parse_events(**r, id);
      if (!events)
        return events.error();
      if (events->empty())
        return make_error(errc::unknown_saga, "no saga '" + id + "'");
      return std::move(*events);
    },
    [self](unfinished_atom, const std::string& after,
           uint32_t max) -> caf::result<unfinished_page> {
      maybe_flush(self); // see there
      caf::error err;
      auto conn = connection(self, &err);
      if (conn == nullptr)
        return err;
      max = std::max<uint32_t>(max, 1);
      auto from = after.empty() ? std::string{"-"} : "(" + after;
      auto count = std::to_string(max);
      auto r = conn->command(
        {"ZRANGEBYLEX", self->state.index_key, from, "+", "LIMIT", "0", count});
      if (!r)
        return r.error();
      unfinished_page page;
      for (size_t i = 0; i < (*r)->elements; ++i)
        page.ids.emplace_back((*r)->element[i]->str, (*r)->element[i]->len);
      if (page.ids.size() == max)
        page.next = page.ids.back();
      return page;
    },
    [self](adopt_atom, const std::string& node, uint64_t below,
           const std::string& after,
           uint32_t max) -> caf::result<unfinished_page> {
      flush(self); // our own appends first: they may create index entries
      caf::error err;
      auto conn = connection(self, &err);
      if (conn == nullptr)
        return err;
      auto page = adopt_page(self->state, *conn, node, below, after, max);
      if (!page)
        return page.error();
      return std::move(*page);
    },
    [self](finish_atom, const saga_id& id, const std::string& state,
           const std::string& def, int64_t end_ms) -> caf::result<bool> {
      maybe_flush(self); // see there
      caf::error err;
      auto conn = connection(self, &err);
      if (conn == nullptr)
        return err;
      if (!state.empty())
        if (auto failure = settle(self->state, *conn, id, state, def, end_ms))
          return failure;
      auto r = conn->command({"ZREM", self->state.index_key, id});
      if (!r)
        return r.error();
      return (*r)->integer > 0;
    },
    [self](recount_atom, const saga_id& id, const std::string& def) {
      // Rides on the next pipeline like our own counts. Without the script
      // (Redis away since we started) it is dropped: the saga's end counts
      // its start then (`count.lua` `ended`).
      auto& s = self->state;
      if (s.count_sha.empty() && connection(self) == nullptr)
        return;
      s.follow_ups.resumed(id, def);
      maybe_flush(self);
    },
  };
}

struct router_state {
  static inline const char* name = "saga.redis_journal";
  redis_endpoint ep;
  journal_options opts;
  std::vector<writer_actor> writers;
  /// Writers alive, shared with the functor that stops them with us.
  std::shared_ptr<std::vector<caf::actor>> live
    = std::make_shared<std::vector<caf::actor>>();
};

using router_pointer = redis_journal_actor::stateful_pointer<router_state>;

/// (Re)starts writer `i`. The router supervises its writers one for one: a
/// writer that dies abnormally is replaced at once; the sagas whose appends
/// it held send them again after their journal timeout (appends are
/// idempotent), so nothing acknowledged is lost and nothing is lost unseen.
void start_writer(router_pointer self, size_t i) {
  auto& s = self->state;
  // One writer trims the ended indexes for the journal: the first.
  auto w = self->system().spawn<caf::detached>(redis_writer, s.ep, s.opts,
                                               i == 0);
  self->monitor(w);
  s.writers[i] = w;
  (*s.live)[i] = caf::actor_cast<caf::actor>(w);
}

/// Routes each saga to one writer (by id hash), so its appends stay in
/// order; the writer replies to the saga directly.
redis_journal_actor::behavior_type
redis_router(router_pointer self, redis_endpoint ep, journal_options opts) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.ep = std::move(ep);
  s.opts = std::move(opts);
  auto n = std::max<size_t>(1, s.opts.writers);
  s.writers.resize(n);
  s.live->resize(n);
  for (size_t i = 0; i < n; ++i)
    start_writer(self, i);
  self->attach_functor([live = s.live](const caf::error&) {
    for (const auto& w : *live)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& s = self->state;
    for (size_t i = 0; i < s.writers.size(); ++i)
      if (s.writers[i].address() == msg.source) {
        aout(self) << "caf-saga: redis writer " << i
                   << " died; restarting it: " << describe(msg.reason)
                   << std::endl;
        start_writer(self, i);
        return;
      }
  });
  auto pick = [self](const saga_id& id) {
    auto& ws = self->state.writers;
    return ws[std::hash<saga_id>{}(id) % ws.size()];
  };
  return {
    [self, pick](append_atom a, saga_id& id, std::vector<event>& events) {
      auto w = pick(id);
      return self->delegate(w, a, std::move(id), std::move(events));
    },
    [self, pick](append_atom a, saga_id& id, std::vector<event>& events,
                 std::vector<barrier_preclaim>& preclaims,
                 std::vector<barrier_outcome>& outcomes) {
      auto w = pick(id);
      return self->delegate(w, a, std::move(id), std::move(events),
                            std::move(preclaims), std::move(outcomes));
    },
    [self, pick](read_atom a, saga_id& id) {
      auto w = pick(id);
      return self->delegate(w, a, std::move(id));
    },
    [self](unfinished_atom a, std::string& after, uint32_t max) {
      return self->delegate(self->state.writers.front(), a, std::move(after),
                            max);
    },
    [self](adopt_atom a, std::string& node, uint64_t below, std::string& after,
           uint32_t max) {
      return self->delegate(self->state.writers.front(), a, std::move(node),
                            below, std::move(after), max);
    },
    [self, pick](finish_atom a, saga_id& id, std::string& state,
                 std::string& def, int64_t end_ms) {
      auto w = pick(id);
      return self->delegate(w, a, std::move(id), std::move(state),
                            std::move(def), end_ms);
    },
    [self, pick](recount_atom a, saga_id& id, std::string& def) {
      auto w = pick(id);
      self->send(w, a, std::move(id), std::move(def));
    },
    [self, pick](reopen_atom a, saga_id& id, event& ev) {
      auto w = pick(id);
      return self->delegate(w, a, std::move(id), std::move(ev));
    },
    [self, pick](barrier_claim_atom a, saga_id& id, std::string& step,
                 barrier_op op, std::string& owner) {
      auto w = pick(id);
      return self->delegate(w, a, std::move(id), std::move(step), op,
                            std::move(owner));
    },
    [self, pick](barrier_done_atom a, saga_id& id, std::string& step,
                 barrier_op op, std::string& owner, step_reply& reply) {
      auto w = pick(id);
      return self->delegate(w, a, std::move(id), std::move(step), op,
                            std::move(owner), std::move(reply));
    },
    [self](crash_atom, uint32_t i) {
      auto& ws = self->state.writers;
      caf::anon_send(ws[i % ws.size()], crash_atom::value);
    },
  };
}

} // namespace

std::string redis_events_key(const saga_id& id) {
  return "saga:{" + id + "}:events";
}

std::string redis_owner_key(const saga_id& id) {
  return "saga:{" + id + "}:owner";
}

std::string redis_unfinished_key(const std::string& node) {
  return "saga:unfinished:{" + node + "}";
}

std::string redis_ended_key(std::string_view state) {
  std::string key = "saga:ended:{";
  key += state;
  key += '}';
  return key;
}

std::string redis_counts_key() {
  return "saga:counts";
}

std::string redis_seen_key() {
  return "{saga:counts}:seen";
}

std::string redis_ids_key() {
  return "{saga:counts}:ids";
}

std::string redis_business_key_key(std::string_view key) {
  std::string result = "saga:key:{";
  result += key;
  result += '}';
  return result;
}

const std::string& redis_count_script() {
  return lua_script("count.lua");
}

namespace {

/// Returns an error unless the master `conn` reaches (a master of a
/// cluster) has at least `replicas` replicas connected. Counted, not timed
/// with a WAIT: a replica slow to confirm on a busy machine is a replica.
caf::error check_replicas(redis_connection& conn, uint32_t replicas,
                          const redis_endpoint& ep) {
  auto r = conn.command({"INFO", "replication"});
  if (!r)
    return std::move(r.error());
  auto text = reply_text(r->get());
  const std::string_view field = "connected_slaves:";
  auto pos = text.find(field);
  long long connected = 0;
  if (pos != std::string_view::npos)
    std::from_chars(text.data() + pos + field.size(), text.data() + text.size(),
                    connected);
  if (connected >= static_cast<long long>(replicas))
    return {};
  return make_error(errc::journal_failure,
                    "redis " + ep.describe() + ": journal.replicas is "
                      + std::to_string(replicas) + " but the master has "
                      + std::to_string(connected) + " connected replicas");
}

} // namespace

caf::expected<journal_actor> spawn_redis_journal(caf::actor_system& sys,
                                                 const redis_endpoint& ep,
                                                 const journal_options& opts) {
  if (opts.node_id.empty())
    return make_error(errc::invalid_config, "journal node_id is empty");
  if (opts.epoch == 0)
    return make_error(errc::invalid_config, "journal epoch is 0");
  if (opts.writers == 0 || opts.max_batch == 0)
    return make_error(errc::invalid_config,
                      "journal writers and max_batch must be at least 1");
  // Fail at start-up, not on the first saga: is Redis there, does it take
  // our credentials, does it run scripts?
  auto probe = redis_connection::connect(ep, opts.io_timeout);
  if (!probe)
    return probe.error();
  if (auto r = probe->command({"SCRIPT", "LOAD", lua_script("append.lua")}); !r)
    return r.error();
  // journal.replicas without as many replicas would stall every append:
  // say so at start instead.
  if (opts.replicas > 0)
    if (auto err = check_replicas(*probe, opts.replicas, ep))
      return err;
  return caf::actor_cast<journal_actor>(sys.spawn(redis_router, ep, opts));
}

} // namespace saga
