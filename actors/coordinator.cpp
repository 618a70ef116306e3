#include "actors/coordinator_impl.hpp"

#include <cstdio>
#include <deque>
#include <random>
#include <unordered_map>
#include <variant>
#include <vector>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/saga_actor.hpp"
#include "saga/errc.hpp"

namespace saga::detail {

namespace {

/// Someone waiting for a saga's result.
using waiter = std::variant<caf::typed_response_promise<saga_result>,
                            result_callback>;

struct running_saga {
  saga_actor handle;
  std::vector<waiter> waiters;
  /// Started by recover(): counts against `recovery_concurrency`.
  bool recovered = false;
};

/// A saga waiting for a free slot (see `max_active_sagas`).
struct queued_saga {
  definition_ptr def;
  waiter w;
};

/// Progress of one recover() call: it walks the unfinished index page by
/// page and fetches the next page only while fewer than
/// `recovery_concurrency` recovered sagas run.
struct recovery {
  caf::typed_response_promise<uint64_t> rp;
  uint64_t resumed = 0;
  /// Journal reads of the current page still unanswered.
  size_t outstanding = 0;
  std::string next;
  bool last_page = false;
  /// Set while the walk waits for recovered sagas to finish.
  bool waiting_for_capacity = false;
};

struct coordinator_state {
  static inline const char* name = "saga.coordinator";
  journal_actor journal;
  coordinator_options opts;
  std::unordered_map<std::string, participant_actor> participants;
  std::unordered_map<saga_id, running_saga> running;
  std::unordered_map<caf::actor_addr, saga_id> by_addr;
  std::string id_prefix;
  uint64_t next_id = 0;
  std::deque<queued_saga> queue;
  size_t recovered_running = 0;
  std::shared_ptr<recovery> active_recovery;
};

using coordinator_pointer
  = local_coordinator_actor::stateful_pointer<coordinator_state>;

/// Recovery reads this many histories at a time, so a journal with a million
/// unfinished sagas does not flood the journal or the mailbox at once.
constexpr uint32_t recovery_page_size = 256;

saga_result error_result(saga_id id, caf::error err) {
  saga_result r;
  r.saga_id = std::move(id);
  r.error = std::move(err);
  return r;
}

void notify(waiter& w, const saga_result& r) {
  if (auto rp = std::get_if<caf::typed_response_promise<saga_result>>(&w))
    rp->deliver(r);
  else if (auto& cb = std::get<result_callback>(w))
    cb(r);
}

/// Returns a new saga id: a random per-coordinator prefix (64 bits) and a
/// counter, unique across restarts and nodes without coordination.
saga_id make_id(coordinator_pointer self) {
  auto& s = self->state;
  char buf[24];
  std::snprintf(buf, sizeof(buf), "-%llx",
                static_cast<unsigned long long>(++s.next_id));
  return s.id_prefix + buf;
}

void start_new(coordinator_pointer self, const definition_ptr& def,
               waiter w);
void recover_page(coordinator_pointer self, std::shared_ptr<recovery> rec);

void finish(coordinator_pointer self, const saga_id& id,
            const saga_result& r) {
  auto& s = self->state;
  auto i = s.running.find(id);
  if (i == s.running.end())
    return;
  auto entry = std::move(i->second);
  s.running.erase(i);
  s.by_addr.erase(entry.handle.address());
  self->demonitor(entry.handle.address());
  for (auto& w : entry.waiters)
    notify(w, r);
  // A slot is free: admit a queued saga, or let a recovery walk go on.
  if (entry.recovered && s.recovered_running > 0)
    --s.recovered_running;
  while (!s.queue.empty() && s.running.size() < s.opts.max_active_sagas) {
    auto next = std::move(s.queue.front());
    s.queue.pop_front();
    start_new(self, next.def, std::move(next.w));
  }
  if (auto rec = s.active_recovery; rec && rec->waiting_for_capacity
                                    && s.recovered_running
                                         < s.opts.recovery_concurrency) {
    rec->waiting_for_capacity = false;
    recover_page(self, rec);
  }
}

/// Resolves the participant of every step of `def`.
caf::expected<std::vector<participant_actor>>
resolve(coordinator_pointer self, const definition& def) {
  std::vector<participant_actor> result;
  result.reserve(def.steps().size());
  for (const auto& sd : def.steps()) {
    auto i = self->state.participants.find(sd.participant);
    if (i == self->state.participants.end())
      return make_error(errc::unknown_participant,
                        "step '" + sd.name + "' names participant '"
                          + sd.participant + "', which is not registered");
    result.push_back(i->second);
  }
  return result;
}

/// Spawns and runs a saga actor for `state`; `w` receives the result.
void launch(coordinator_pointer self, saga_state state,
            std::vector<participant_actor> participants, waiter w,
            bool recovered = false) {
  auto& s = self->state;
  auto id = state.saga_id;
  saga_actor_args args;
  args.state = std::move(state);
  args.participants = std::move(participants);
  args.journal = s.journal;
  args.journal_timeout = s.opts.journal_timeout;
  args.late_reply_window = s.opts.late_reply_window;
  args.compensate_on_resume = recovered
                              && s.opts.recovery == recovery_policy::compensate;
  auto handle = spawn_saga(self->system(), std::move(args));
  self->monitor(handle);
  s.by_addr.emplace(handle.address(), id);
  auto& entry = s.running[id];
  entry.handle = handle;
  entry.waiters.push_back(std::move(w));
  entry.recovered = recovered;
  if (recovered)
    ++s.recovered_running;
  self->request(handle, caf::infinite, run_atom::value)
    .then([self, id](saga_result& r) { finish(self, id, r); },
          [self, id](caf::error& err) {
            finish(self, id, error_result(id, std::move(err)));
          });
}

void start_new(coordinator_pointer self, const definition_ptr& def,
               waiter w) {
  if (!def) {
    notify(w, error_result({}, make_error(errc::no_steps,
                                          "no definition was given")));
    return;
  }
  if (auto err = def->validate()) {
    notify(w, error_result({}, std::move(err)));
    return;
  }
  auto participants = resolve(self, *def);
  if (!participants) {
    notify(w, error_result({}, std::move(participants.error())));
    return;
  }
  auto& s = self->state;
  if (s.running.size() >= s.opts.max_active_sagas) {
    if (s.queue.size() >= s.opts.max_queued_sagas) {
      notify(w, error_result({}, make_error(
                                   errc::overloaded,
                                   std::to_string(s.running.size())
                                     + " sagas run and "
                                     + std::to_string(s.queue.size())
                                     + " wait; try again later")));
      return;
    }
    s.queue.push_back({def, std::move(w)});
    return;
  }
  saga_state st;
  st.saga_id = make_id(self);
  st.def = def;
  launch(self, std::move(st), std::move(*participants), std::move(w));
}

/// Resumes saga `id` from the journal unless it runs here already. Calls
/// `started(true)` once it runs (or ran already), `started(false)` if it
/// cannot be resumed; `w` gets the result either way.
void resume(coordinator_pointer self, const saga_id& id, waiter w,
            std::function<void(bool)> started) {
  auto& s = self->state;
  if (auto i = s.running.find(id); i != s.running.end()) {
    i->second.waiters.push_back(std::move(w));
    started(false);
    return;
  }
  self->request(s.journal, s.opts.journal_timeout, read_atom::value, id)
    .then(
      [self, id, w, started](std::vector<event>& events) mutable {
        auto& s = self->state;
        if (auto i = s.running.find(id); i != s.running.end()) {
          i->second.waiters.push_back(std::move(w));
          started(false);
          return;
        }
        auto st = replay(id, events);
        if (!st) {
          // Kept listed: an operator must look at a history we cannot read.
          aout(self) << "caf-saga: cannot resume saga " << id << ": "
                     << describe(st.error()) << std::endl;
          notify(w, error_result(id, std::move(st.error())));
          started(false);
          return;
        }
        if (is_terminal(st->status)) {
          // Ended, but still listed (e.g. a crash between two writes).
          caf::anon_send(s.journal, finish_atom::value, id);
          saga_result r;
          r.saga_id = id;
          r.success = st->status == saga_status::completed;
          r.state = st->status;
          notify(w, r);
          started(false);
          return;
        }
        auto participants = resolve(self, *st->def);
        if (!participants) {
          notify(w, error_result(id, std::move(participants.error())));
          started(false);
          return;
        }
        launch(self, std::move(*st), std::move(*participants), std::move(w),
               true);
        started(true);
      },
      [self, w, id, started](caf::error& err) mutable {
        // Listed but no history: the saga never wrote its first event (the
        // index entry is written first). Nothing to resume; unlist it.
        if (is(err, errc::unknown_saga))
          caf::anon_send(self->state.journal, finish_atom::value, id);
        notify(w, error_result(id, std::move(err)));
        started(false);
      });
}

void recovery_done(coordinator_pointer self, std::shared_ptr<recovery> rec) {
  rec->rp.deliver(rec->resumed);
  if (self->state.active_recovery == rec)
    self->state.active_recovery.reset();
}

void recover_page(coordinator_pointer self, std::shared_ptr<recovery> rec) {
  auto& s = self->state;
  if (s.recovered_running >= s.opts.recovery_concurrency) {
    rec->waiting_for_capacity = true; // finish() continues the walk
    return;
  }
  auto room = s.opts.recovery_concurrency - s.recovered_running;
  auto page_size = static_cast<uint32_t>(
    std::min<size_t>(room, recovery_page_size));
  self
    ->request(s.journal, s.opts.journal_timeout, unfinished_atom::value,
              rec->next, page_size)
    .then(
      [self, rec](unfinished_page& page) {
        rec->next = page.next;
        rec->last_page = page.next.empty();
        if (page.ids.empty()) {
          recovery_done(self, rec);
          return;
        }
        rec->outstanding = page.ids.size();
        for (auto& id : page.ids)
          resume(self, id, result_callback{}, [self, rec](bool started) {
            if (started)
              ++rec->resumed;
            if (--rec->outstanding > 0)
              return;
            if (rec->last_page)
              recovery_done(self, rec);
            else
              recover_page(self, rec);
          });
      },
      [self, rec](caf::error& err) {
        rec->rp.deliver(std::move(err));
        if (self->state.active_recovery == rec)
          self->state.active_recovery.reset();
      });
}

local_coordinator_actor::behavior_type
coordinator(coordinator_pointer self, journal_actor journal,
            coordinator_options opts) {
  auto& s = self->state;
  s.journal = std::move(journal);
  s.opts = opts;
  std::random_device rd;
  uint64_t prefix = (uint64_t{rd()} << 32) ^ rd();
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(prefix));
  s.id_prefix = buf;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& s = self->state;
    auto i = s.by_addr.find(msg.source);
    if (i == s.by_addr.end())
      return;
    auto id = i->second;
    // Died without a result: its reason is all the waiters can get. The
    // saga stays unfinished in the journal for recovery.
    auto reason = msg.reason ? describe(msg.reason) : "quit without a result";
    finish(self, id,
           error_result(id, make_error(errc::saga_crashed,
                                       "saga " + id + " died: " + reason)));
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Shutting down: stop the sagas too; they resume from the journal later.
    // Their waiters learn why instead of waiting forever.
    auto running = std::move(self->state.running);
    self->state.running.clear();
    for (auto& [id, entry] : running) {
      self->send_exit(entry.handle, msg.reason);
      auto r = error_result(id, make_error(errc::shutting_down,
                                           "the runtime stopped; saga " + id
                                             + " stays unfinished"));
      for (auto& w : entry.waiters)
        notify(w, r);
    }
    for (auto& q : self->state.queue)
      notify(q.w, error_result({}, make_error(errc::shutting_down,
                                              "the runtime stopped")));
    self->state.queue.clear();
    self->quit(msg.reason);
  });
  return {
    [self](run_atom, definition_ptr& def) -> caf::result<saga_result> {
      auto rp = self->make_response_promise<saga_result>();
      start_new(self, def, rp);
      return rp;
    },
    [self](run_atom, definition_ptr& def, result_callback& done) {
      start_new(self, def, std::move(done));
    },
    [self](resume_atom, const saga_id& id) -> caf::result<saga_result> {
      auto rp = self->make_response_promise<saga_result>();
      resume(self, id, rp, [](bool) {});
      return rp;
    },
    [self](recover_atom) -> caf::result<uint64_t> {
      auto rec = std::make_shared<recovery>();
      rec->rp = self->make_response_promise<uint64_t>();
      self->state.active_recovery = rec;
      recover_page(self, rec);
      return rec->rp;
    },
    [self](register_atom, std::string& name, participant_actor& handle) {
      auto& slot = self->state.participants[name];
      auto fresh = !slot;
      slot = std::move(handle);
      return fresh;
    },
    [self](lookup_atom,
           const std::string& name) -> caf::result<participant_actor> {
      auto i = self->state.participants.find(name);
      if (i == self->state.participants.end())
        return make_error(errc::unknown_participant,
                          "no participant '" + name + "'");
      return i->second;
    },
  };
}

} // namespace

local_coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                          journal_actor journal,
                                          coordinator_options opts) {
  return sys.spawn(coordinator, std::move(journal), opts);
}

} // namespace saga::detail
