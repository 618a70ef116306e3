#include "persistence/memory_journal.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "persistence/effects.hpp"
#include "saga/errc.hpp"

namespace saga {

namespace {

std::string describe_owner(const saga_owner& o) {
  return o.node + "/" + std::to_string(o.epoch);
}

/// Returns the barrier field of operation `op` of `step`: "<step>/x" or
/// "<step>/c", as in Redis (docs/redis-layout.md).
std::string field_of(const std::string& step, barrier_op op) {
  return step + (op == barrier_op::execute ? "/x" : "/c");
}

} // namespace

caf::expected<uint64_t> memory_store::append(const saga_id& id,
                                             const std::vector<event>& events,
                                             const saga_owner& owner) {
  std::lock_guard<std::mutex> guard{mtx_};
  bool fresh = false;
  return append_locked(id, events, owner, fresh);
}

caf::expected<std::pair<uint64_t, std::vector<barrier_claim>>>
memory_store::append(const saga_id& id, const std::vector<event>& events,
                     const saga_owner& owner,
                     const std::vector<barrier_preclaim>& preclaims,
                     const std::vector<barrier_outcome>& outcomes) {
  std::lock_guard<std::mutex> guard{mtx_};
  uint64_t landed = 0;
  if (auto err = vet_locked(id, events, owner, landed))
    return err;
  std::vector<barrier_claim> verdicts;
  if (landed > 0) // a batch stored already records and claims nothing
    return std::make_pair(landed, std::move(verdicts));
  // The outcomes land before the events, or the append fails whole.
  if (auto err = settle_locked(id, outcomes))
    return err;
  auto last = store_locked(id, events, owner);
  for (const auto& p : preclaims)
    verdicts.push_back(claim_locked(id, p.step, p.op, p.token));
  return std::make_pair(last, std::move(verdicts));
}

caf::expected<uint64_t>
memory_store::append_locked(const saga_id& id, const std::vector<event>& events,
                            const saga_owner& owner, bool& fresh) {
  uint64_t landed = 0;
  if (auto err = vet_locked(id, events, owner, landed))
    return err;
  if (landed > 0)
    return landed;
  fresh = true;
  return store_locked(id, events, owner);
}

caf::error memory_store::vet_locked(const saga_id& id,
                                    const std::vector<event>& events,
                                    const saga_owner& owner,
                                    uint64_t& landed) const {
  if (events.empty())
    return make_error(errc::invalid_event,
                      "empty append for saga '" + id + "'");
  auto i = histories_.find(id);
  auto stored = i == histories_.end() ? uint64_t{0} : i->second.size();
  if (auto o = owners_.find(id); o != owners_.end() && !(o->second == owner))
    return make_error(errc::fenced, "saga '" + id + "' is owned by "
                                      + describe_owner(o->second) + ", not "
                                      + describe_owner(owner));
  // A batch that already landed (same first event: type, step, attempt,
  // time) is acknowledged again, as the Redis append script does: a retry
  // after a journal timeout is idempotent.
  auto first = events.front().seq;
  auto last = first + events.size() - 1;
  if (first >= 1 && last <= stored) {
    const auto& had = i->second[first - 1];
    const auto& got = events.front();
    if (had.type == got.type && had.step == got.step
        && had.attempt == got.attempt && had.time_ms == got.time_ms) {
      landed = last;
      return caf::error{};
    }
  }
  for (size_t k = 0; k < events.size(); ++k)
    if (events[k].seq != stored + 1 + k)
      return make_error(errc::journal_conflict,
                        "saga '" + id + "' has " + std::to_string(stored)
                          + " events; got seq "
                          + std::to_string(events[k].seq));
  if (i == histories_.end() && events.front().type != event_type::saga_started)
    return make_error(errc::invalid_event,
                      "saga '" + id + "' must start with saga_started");
  return caf::error{};
}

uint64_t memory_store::store_locked(const saga_id& id,
                                    const std::vector<event>& events,
                                    const saga_owner& owner) {
  auto i = histories_.find(id);
  if (i == histories_.end()) {
    i = histories_.emplace(id, std::vector<event>{}).first;
    owners_[id] = owner;
    unfinished_[owner.node].insert(id);
  }
  i->second.insert(i->second.end(), events.begin(), events.end());
  auto last = i->second.back().seq;
  if (is_terminal(events.back().type) && unfinished_[owner.node].erase(id) > 0)
    retire(id);
  return last;
}

caf::expected<uint64_t> memory_store::reopen(const saga_id& id, const event& ev,
                                             const saga_owner& owner) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = histories_.find(id);
  if (i == histories_.end() || i->second.empty())
    return make_error(errc::unknown_saga, "no saga '" + id + "'");
  auto& events = i->second;
  if (ev.type != event_type::saga_retried)
    return make_error(errc::invalid_event,
                      "saga '" + id + "': only saga_retried reopens a saga");
  if (ev.seq != events.size() + 1)
    return make_error(errc::journal_conflict,
                      "saga '" + id + "' has " + std::to_string(events.size())
                        + " events; got seq " + std::to_string(ev.seq));
  auto last = events.back().type;
  if (last != event_type::saga_failed && last != event_type::saga_parked)
    return make_error(errc::invalid_state,
                      "saga '" + id + "' has not failed (its last event is "
                        + std::string{to_string(last)} + ")");
  owners_[id] = owner;
  for (auto& [node, ids] : unfinished_)
    ids.erase(id);
  unfinished_[owner.node].insert(id);
  finished_.erase(std::remove(finished_.begin(), finished_.end(), id),
                  finished_.end());
  events.push_back(ev);
  return ev.seq;
}

void memory_store::retire(const saga_id& id) {
  finished_.push_back(id);
  while (finished_.size() > max_finished_) {
    histories_.erase(finished_.front());
    barriers_.erase(finished_.front());
    owners_.erase(finished_.front());
    finished_.pop_front();
  }
}

caf::expected<std::vector<event>> memory_store::read(const saga_id& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = histories_.find(id);
  if (i == histories_.end())
    return make_error(errc::unknown_saga, "no saga '" + id + "'");
  return i->second;
}

unfinished_page memory_store::unfinished(const std::string& after, uint32_t max,
                                         const std::string& node) const {
  unfinished_page page;
  max = std::max<uint32_t>(max, 1); // a page of 0 could never advance
  std::lock_guard<std::mutex> guard{mtx_};
  auto idx = unfinished_.find(node);
  if (idx == unfinished_.end())
    return page;
  const auto& ids = idx->second;
  auto i = after.empty() ? ids.begin() : ids.upper_bound(after);
  for (; i != ids.end() && page.ids.size() < max; ++i)
    page.ids.push_back(*i);
  if (i != ids.end() && !page.ids.empty())
    page.next = page.ids.back();
  return page;
}

bool memory_store::finish(const saga_id& id, const std::string& node) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (unfinished_[node].erase(id) == 0)
    return false;
  retire(id);
  return true;
}

unfinished_page memory_store::adopt(const std::string& node, uint64_t below,
                                    const std::string& after, uint32_t max,
                                    const saga_owner& owner) {
  unfinished_page page;
  max = std::max<uint32_t>(max, 1);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& ids = unfinished_[node];
  auto i = after.empty() ? ids.begin() : ids.upper_bound(after);
  uint32_t seen = 0;
  while (i != ids.end() && seen < max) {
    ++seen;
    auto id = *i;
    auto o = owners_.find(id);
    bool keep = true;  // stays in `node`'s index
    bool mine = false; // listed in the reply
    if (o == owners_.end() || o->second.node != node) {
      keep = false; // ended long ago, or moved already
    } else if (o->second == owner) {
      mine = true;
    } else if (o->second.epoch < below) {
      o->second = owner;
      unfinished_[owner.node].insert(id);
      mine = true;
      keep = node == owner.node;
    }
    if (mine)
      page.ids.push_back(id);
    if (!keep) {
      i = ids.erase(i);
      // `unfinished_[owner.node]` may be `ids` itself: erase keeps `i` valid.
    } else {
      ++i;
    }
    if (seen == max && i != ids.end())
      page.next = id;
  }
  return page;
}

std::optional<saga_owner> memory_store::owner_of(const saga_id& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = owners_.find(id);
  if (i == owners_.end())
    return std::nullopt;
  return i->second;
}

size_t memory_store::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return histories_.size();
}

namespace {

step_reply refusal() {
  step_reply r;
  r.error = "refused: the step was compensated before it executed";
  return r;
}

/// Returns the answer to a null compensation: "compensated", and an ok
/// reply carries no error.
step_reply null_compensation() {
  step_reply r;
  r.ok = true;
  return r;
}

// -- atomic effects -----------------------------------------------------------

using hash = std::unordered_map<std::string, std::string>;
using keyspace = std::unordered_map<std::string, hash>;

/// Parses `text` as a 64-bit integer exactly like Redis' `string2ll`: an
/// optional '-', then digits without leading zeros (or just "0"); no
/// spaces, no '+', no overflow.
std::optional<int64_t> parse_int64(const std::string& text) {
  if (text.empty() || text.size() > 20)
    return std::nullopt;
  if (text == "0")
    return int64_t{0};
  size_t pos = 0;
  bool negative = text[0] == '-';
  if (negative)
    ++pos;
  if (pos == text.size() || text[pos] < '1' || text[pos] > '9')
    return std::nullopt;
  uint64_t magnitude = 0;
  for (; pos < text.size(); ++pos) {
    auto c = text[pos];
    if (c < '0' || c > '9')
      return std::nullopt;
    auto digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (UINT64_MAX - digit) / 10)
      return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1)
      return std::nullopt;
    return magnitude == static_cast<uint64_t>(INT64_MAX) + 1
             ? INT64_MIN
             : -static_cast<int64_t>(magnitude);
  }
  if (magnitude > static_cast<uint64_t>(INT64_MAX))
    return std::nullopt;
  return static_cast<int64_t>(magnitude);
}

/// The hashes a batch of effects touches, copied on first touch, so the
/// whole batch runs on copies and lands only if every command succeeded.
/// `std::nullopt` marks a key the batch deleted (or never had).
class staged_keyspace {
public:
  explicit staged_keyspace(const keyspace& base) : base_(base) {
    // nop
  }

  /// Returns the staged hash `key`, creating it (empty) if absent.
  hash& get_or_create(const std::string& key) {
    auto& slot = slot_of(key);
    if (!slot)
      slot.emplace();
    return *slot;
  }

  /// Returns the staged hash `key`, or null if it does not exist.
  hash* find(const std::string& key) {
    auto& slot = slot_of(key);
    return slot ? &*slot : nullptr;
  }

  void erase(const std::string& key) {
    slot_of(key).reset();
  }

  /// Writes the staged hashes into `dst`; empty hashes vanish, as in Redis.
  void commit(keyspace& dst) {
    for (auto& [key, slot] : staged_) {
      if (!slot || slot->empty())
        dst.erase(key);
      else
        dst[key] = std::move(*slot);
    }
  }

private:
  std::optional<hash>& slot_of(const std::string& key) {
    auto i = staged_.find(key);
    if (i != staged_.end())
      return i->second;
    std::optional<hash> copy;
    if (auto j = base_.find(key); j != base_.end())
      copy = j->second;
    return staged_.emplace(key, std::move(copy)).first->second;
  }

  const keyspace& base_;
  std::unordered_map<std::string, std::optional<hash>> staged_;
};

/// Runs `effects` on a staged copy of the touched hashes of `hashes` and
/// commits them only if every effect is valid (see `check_effects`) and
/// succeeds; otherwise returns an `errc::invalid_config` error naming the
/// first bad effect, leaving `hashes` untouched.
caf::error apply_effects(keyspace& hashes, const std::vector<effect>& effects) {
  if (auto err = detail::check_effects(effects))
    return err;
  staged_keyspace staged{hashes};
  for (size_t n = 0; n < effects.size(); ++n) {
    const auto& x = effects[n];
    auto fail = [&](const std::string& why) {
      return make_error(errc::invalid_config,
                        detail::describe_effect(n, x)
                          + " on the memory journal: " + why
                          + "; nothing was applied");
    };
    switch (x.what()) {
      case effect::kind::hset:
        staged.get_or_create(x.key())[x.field()] = x.value();
        break;
      case effect::kind::hsetnx:
        staged.get_or_create(x.key()).emplace(x.field(), x.value());
        break;
      case effect::kind::hdel:
        if (auto* h = staged.find(x.key()))
          h->erase(x.field());
        break;
      case effect::kind::incr_by: {
        int64_t current = 0;
        if (auto* h = staged.find(x.key())) {
          if (auto i = h->find(x.field()); i != h->end()) {
            auto parsed = parse_int64(i->second);
            if (!parsed)
              return fail("hash value is not an integer");
            current = *parsed;
          }
        }
        int64_t sum = 0;
        if (__builtin_add_overflow(current, x.by(), &sum))
          return fail("increment or decrement would overflow");
        staged.get_or_create(x.key())[x.field()] = std::to_string(sum);
        break;
      }
      case effect::kind::del: staged.erase(x.key()); break;
    }
  }
  staged.commit(hashes);
  return caf::error{};
}

} // namespace

namespace {

/// Returns the attempt that leads a claim token ("<attempt>:..."), or 0.
uint32_t attempt_of(const std::string& token) {
  uint32_t n = 0;
  for (auto c : token) {
    if (c == ':')
      return n;
    if (c < '0' || c > '9' || n > 100'000'000)
      return 0;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return 0;
}

} // namespace

barrier_claim memory_store::claim(const saga_id& id, const std::string& step,
                                  barrier_op op, const std::string& owner) {
  std::lock_guard<std::mutex> guard{mtx_};
  return claim_locked(id, step, op, owner);
}

barrier_claim memory_store::claim_locked(const saga_id& id,
                                         const std::string& step, barrier_op op,
                                         const std::string& owner) {
  auto& recs = barriers_[id];
  auto xi = recs.find(step + "/x");
  auto ci = recs.find(step + "/c");
  auto* x = xi == recs.end() ? nullptr : &xi->second;
  auto* c = ci == recs.end() ? nullptr : &ci->second;
  barrier_claim result;
  auto& mine = op == barrier_op::execute ? x : c;
  if (op == barrier_op::execute && c != nullptr) {
    // Hanging: the compensation (or null compensation) came first.
    if (x == nullptr || !x->done)
      recs[step + "/x"] = barrier_record{true, owner, refusal()};
    result.verdict = barrier_verdict::refused;
    result.reply = recs[step + "/x"].reply;
    return result;
  }
  if (mine != nullptr && mine->done) {
    result.verdict = barrier_verdict::duplicate;
    result.reply = mine->reply;
    return result;
  }
  // A failed attempt's copies (and earlier attempts') get its failure, so
  // they cannot take effect after the saga was told nothing happened; a
  // later attempt runs (as the Redis claim script does).
  auto failed = x != nullptr && x->failed_attempt > 0 && x->owner.empty();
  if (op == barrier_op::execute && failed
      && attempt_of(owner) <= x->failed_attempt) {
    result.verdict = barrier_verdict::duplicate;
    result.reply = x->reply;
    return result;
  }
  if (op == barrier_op::compensate
      && (x == nullptr || failed || (x->done && !x->reply.ok && !x->revoked))) {
    // Nothing took effect: record a null compensation.
    recs[step + "/c"] = barrier_record{true, owner, null_compensation()};
    result.verdict = barrier_verdict::null_compensated;
    result.reply = recs[step + "/c"].reply;
    return result;
  }
  // First claim, or one whose claimant never finished: claim (again).
  if (op == barrier_op::compensate && !x->done) {
    // The execute's attempt crashed, hung or was cut off: revoke it, so it
    // can never record its outcome; the compensation runs, told so, and so
    // do its retries.
    *x = barrier_record{true, x->owner, refusal(), true};
  }
  if (op == barrier_op::compensate && x->revoked)
    result.execute_unrecorded = true;
  recs[field_of(step, op)] = barrier_record{false, owner, {}};
  return result;
}

caf::expected<bool> memory_store::done(const saga_id& id,
                                       const std::string& step, barrier_op op,
                                       const std::string& owner,
                                       step_reply reply) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& recs = barriers_[id];
  auto i = recs.find(field_of(step, op));
  if (i == recs.end() || !i->second.claimed_by(owner))
    return false; // no longer our claim: someone else settled it
  if (!reply.ok) {
    // No effect. A compensation's claim is forgotten (a retry runs it
    // again); an execute's failure is kept with its attempt (see `claim`).
    auto attempt = attempt_of(owner);
    if (op == barrier_op::compensate || attempt == 0) {
      recs.erase(i);
      return true;
    }
    reply.effects.clear();
    i->second = barrier_record{false, {}, std::move(reply), false, attempt};
    return true;
  }
  // Effects land with the record or not at all (same lock); a bad batch
  // leaves the claim open, so nothing of this attempt is recorded.
  if (auto err = apply_effects(hashes_, reply.effects))
    return err;
  i->second.succeed(std::move(reply));
  return true;
}

namespace {

/// Returns the error of an outcome whose claim `field` of saga `id` is no
/// longer `token`'s.
caf::error claim_lost(const saga_id& id, const std::string& field,
                      const std::string& token) {
  return make_error(errc::journal_conflict,
                    "saga '" + id + "': the claim of " + field
                      + " is no longer " + token
                      + "; its outcome was not recorded");
}

} // namespace

caf::error
memory_store::settle_locked(const saga_id& id,
                            const std::vector<barrier_outcome>& outcomes) {
  if (outcomes.empty())
    return caf::error{};
  auto& recs = barriers_[id];
  std::vector<effect> effects;
  for (const auto& o : outcomes) {
    auto i = recs.find(field_of(o.step, o.op));
    if (i == recs.end() || !i->second.claimed_by(o.token))
      return claim_lost(id, field_of(o.step, o.op), o.token);
    effects.insert(effects.end(), o.reply.effects.begin(),
                   o.reply.effects.end());
  }
  // All outcomes' effects as one batch: all of them land, or none.
  if (auto err = apply_effects(hashes_, effects))
    return err;
  for (const auto& o : outcomes)
    recs[field_of(o.step, o.op)].succeed(o.reply);
  return caf::error{};
}

std::map<std::string, std::string>
memory_store::read_hash(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = hashes_.find(key);
  if (i == hashes_.end())
    return {};
  return {i->second.begin(), i->second.end()};
}

void memory_store::write_hash(
  const std::string& key, const std::map<std::string, std::string>& fields) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& h = hashes_[key];
  for (const auto& [f, v] : fields)
    h[f] = v;
}

namespace {

struct memory_journal_state {
  static inline const char* name = "saga.memory_journal";
  std::shared_ptr<memory_store> store;
  saga_owner owner;
};

journal_actor::behavior_type
memory_journal(journal_actor::stateful_pointer<memory_journal_state> self,
               std::shared_ptr<memory_store> store, saga_owner owner) {
  self->state.store = std::move(store);
  self->state.owner = std::move(owner);
  return {
    [self](append_atom, const saga_id& id,
           const std::vector<event>& events) -> caf::result<uint64_t> {
      auto res = self->state.store->append(id, events, self->state.owner);
      if (!res)
        return res.error();
      return *res;
    },
    [self](append_atom, const saga_id& id, const std::vector<event>& events,
           const std::vector<barrier_preclaim>& preclaims,
           const std::vector<barrier_outcome>& outcomes)
      -> caf::result<uint64_t, std::vector<barrier_claim>> {
      auto res = self->state.store->append(id, events, self->state.owner,
                                           preclaims, outcomes);
      if (!res)
        return res.error();
      return {res->first, std::move(res->second)};
    },
    [self](read_atom, const saga_id& id) -> caf::result<std::vector<event>> {
      auto res = self->state.store->read(id);
      if (!res)
        return res.error();
      return std::move(*res);
    },
    [self](unfinished_atom, const std::string& after, uint32_t max) {
      return self->state.store->unfinished(after, max, self->state.owner.node);
    },
    // The memory journal keeps no ended indexes or counts: settling an
    // ended saga is unlisting it, and a resumed saga has nothing to count.
    [self](finish_atom, const saga_id& id, const std::string&,
           const std::string&, int64_t) {
      return self->state.store->finish(id, self->state.owner.node);
    },
    [](recount_atom, const saga_id&, const std::string&) {},
    [self](adopt_atom, const std::string& node, uint64_t below,
           const std::string& after, uint32_t max) {
      const auto& me = self->state.owner;
      if (node.empty() || node == me.node)
        return self->state.store->adopt(me.node, me.epoch, after, max, me);
      return self->state.store->adopt(node, below, after, max, me);
    },
    [self](barrier_claim_atom, const saga_id& id, const std::string& step,
           barrier_op op, const std::string& owner) {
      return self->state.store->claim(id, step, op, owner);
    },
    [self](barrier_done_atom, const saga_id& id, const std::string& step,
           barrier_op op, const std::string& owner,
           step_reply& reply) -> caf::result<bool> {
      auto res = self->state.store->done(id, step, op, owner, std::move(reply));
      if (!res)
        return res.error();
      return *res;
    },
    [self](reopen_atom, const saga_id& id,
           const event& ev) -> caf::result<uint64_t> {
      auto res = self->state.store->reopen(id, ev, self->state.owner);
      if (!res)
        return res.error();
      return *res;
    },
  };
}

} // namespace

journal_actor spawn_memory_journal(caf::actor_system& sys,
                                   std::shared_ptr<memory_store> store,
                                   saga_owner owner) {
  return sys.spawn(memory_journal, std::move(store), std::move(owner));
}

} // namespace saga
