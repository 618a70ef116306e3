#include "persistence/memory_journal.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "saga/errc.hpp"

namespace saga {

namespace {

std::string describe_owner(const saga_owner& o) {
  return o.node + "/" + std::to_string(o.epoch);
}

} // namespace

caf::expected<uint64_t> memory_store::append(const saga_id& id,
                                             const std::vector<event>& events,
                                             const saga_owner& owner) {
  if (events.empty())
    return make_error(errc::invalid_event, "empty append for saga '" + id + "'");
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = histories_.find(id);
  auto stored = i == histories_.end() ? uint64_t{0} : i->second.size();
  if (auto o = owners_.find(id); o != owners_.end() && !(o->second == owner))
    return make_error(errc::fenced, "saga '" + id + "' is owned by "
                                      + describe_owner(o->second) + ", not "
                                      + describe_owner(owner));
  for (size_t k = 0; k < events.size(); ++k)
    if (events[k].seq != stored + 1 + k)
      return make_error(errc::journal_conflict,
                        "saga '" + id + "' has " + std::to_string(stored)
                          + " events; got seq "
                          + std::to_string(events[k].seq));
  if (i == histories_.end()) {
    if (events.front().type != event_type::saga_started)
      return make_error(errc::invalid_event,
                        "saga '" + id + "' must start with saga_started");
    i = histories_.emplace(id, std::vector<event>{}).first;
    owners_[id] = owner;
    unfinished_[owner.node].insert(id);
  }
  i->second.insert(i->second.end(), events.begin(), events.end());
  if (is_terminal(events.back().type) && unfinished_[owner.node].erase(id) > 0)
    retire(id);
  return i->second.back().seq;
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

caf::expected<std::vector<event>>
memory_store::read(const saga_id& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = histories_.find(id);
  if (i == histories_.end())
    return make_error(errc::unknown_saga, "no saga '" + id + "'");
  return i->second;
}

unfinished_page memory_store::unfinished(const std::string& after,
                                         uint32_t max,
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

step_reply null_compensation() {
  step_reply r;
  r.ok = true;
  r.error = "null compensation: the step never executed";
  return r;
}

} // namespace

barrier_claim memory_store::claim(const saga_id& id, const std::string& step,
                                  barrier_op op, const std::string& owner) {
  std::lock_guard<std::mutex> guard{mtx_};
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
  if (op == barrier_op::compensate
      && (x == nullptr || (x->done && !x->reply.ok && !x->revoked))) {
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
  recs[step + (op == barrier_op::execute ? "/x" : "/c")]
    = barrier_record{false, owner, {}};
  return result;
}

caf::expected<bool> memory_store::done(const saga_id& id,
                                       const std::string& step, barrier_op op,
                                       const std::string& owner,
                                       step_reply reply) {
  if (reply.ok && !reply.effects.empty())
    return make_error(errc::invalid_config,
                      "atomic effects need the Redis journal");
  std::lock_guard<std::mutex> guard{mtx_};
  auto field = step + (op == barrier_op::execute ? "/x" : "/c");
  auto& recs = barriers_[id];
  auto i = recs.find(field);
  if (i == recs.end() || i->second.done || i->second.owner != owner)
    return false; // no longer our claim: someone else settled it
  if (!reply.ok) {
    // No effect: forget the claim, so a retry runs the handler again.
    recs.erase(i);
    return true;
  }
  auto& rec = i->second;
  rec.done = true;
  rec.owner = owner;
  rec.reply = std::move(reply);
  return true;
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
    [self](read_atom, const saga_id& id) -> caf::result<std::vector<event>> {
      auto res = self->state.store->read(id);
      if (!res)
        return res.error();
      return std::move(*res);
    },
    [self](unfinished_atom, const std::string& after, uint32_t max) {
      return self->state.store->unfinished(after, max, self->state.owner.node);
    },
    [self](finish_atom, const saga_id& id) {
      return self->state.store->finish(id, self->state.owner.node);
    },
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
  };
}

} // namespace

journal_actor spawn_memory_journal(caf::actor_system& sys,
                                   std::shared_ptr<memory_store> store,
                                   saga_owner owner) {
  return sys.spawn(memory_journal, std::move(store), std::move(owner));
}

} // namespace saga
