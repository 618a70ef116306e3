#include "actors/local_participant.hpp"

#include "actors/ask_participant.hpp"

#include <unordered_map>
#include <vector>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory.hpp"
#include "actors/participant_barrier.hpp"
#include "core/json_depth.hpp"
#include "saga/errc.hpp"
#include "saga/supervisor.hpp"

namespace saga {

participant_builder::participant_builder(
  std::string name, std::shared_ptr<detail::handler_registry> registry,
  std::shared_ptr<detail::directory> dir)
  : name_(std::move(name)),
    registry_(std::move(registry)),
    dir_(std::move(dir)) {
  // nop
}

participant_actor participant_builder::handle() const {
  return dir_->participant(name_);
}

participant_builder& participant_builder::on(std::string action,
                                             step_handler execute,
                                             step_handler compensate) {
  detail::handler_entry e;
  e.execute = std::move(execute);
  e.compensate = std::move(compensate);
  registry_->add(std::move(action), std::move(e));
  return *this;
}

participant_builder& participant_builder::on_blocking(std::string action,
                                                      step_handler execute,
                                                      step_handler compensate) {
  detail::handler_entry e;
  e.how = detail::handler_entry::mode::blocking;
  e.execute = std::move(execute);
  e.compensate = std::move(compensate);
  registry_->add(std::move(action), std::move(e));
  return *this;
}

participant_builder&
participant_builder::on_async(std::string action, async_step_handler execute,
                              async_step_handler compensate) {
  detail::handler_entry e;
  e.how = detail::handler_entry::mode::async;
  e.async_execute = std::move(execute);
  e.async_compensate = std::move(compensate);
  registry_->add(std::move(action), std::move(e));
  return *this;
}

namespace detail {

void handler_registry::add(std::string action, handler_entry entry) {
  std::lock_guard<std::mutex> guard{write_mtx_};
  auto next = std::make_shared<handler_table>(*snapshot());
  (*next)[std::move(action)] = std::move(entry);
  std::atomic_store(&table_, std::shared_ptr<const handler_table>{next});
}

namespace {

step_reply fail_reply(std::string error, bool retryable = false) {
  step_reply r;
  r.retryable = retryable;
  r.error = std::move(error);
  return r;
}

step_reply to_reply(const step_outcome& x) {
  step_reply r;
  r.ok = x.is_ok();
  r.retryable = x.retryable();
  if (r.ok)
    r.result = x.result().dump();
  else
    r.error = x.error();
  r.effects = x.effects();
  return r;
}

/// Parses the payload and results of `cmd`; on bad JSON returns false and
/// sets `err`.
bool parse_command(const step_command& cmd, json& payload, json& results,
                   std::string& err) {
  payload = cmd.payload.empty() ? json::object()
                                : json::parse(cmd.payload, nullptr, false);
  if (payload.is_discarded()) {
    err = "payload of step '" + cmd.step + "' is not valid JSON";
    return false;
  }
  if (!payload.is_object()) {
    err = "payload of step '" + cmd.step + "' is not a JSON object but "
          + payload.type_name();
    return false;
  }
  if (nests_deeper_than(payload, max_json_depth)) {
    err = "payload of step '" + cmd.step + "' nests deeper than "
          + std::to_string(max_json_depth) + " levels";
    return false;
  }
  results = cmd.results.empty() ? json::object()
                                : json::parse(cmd.results, nullptr, false);
  if (results.is_discarded()) {
    err = "results sent with step '" + cmd.step + "' are not valid JSON";
    return false;
  }
  if (nests_deeper_than(results, max_json_depth)) {
    err = "results sent with step '" + cmd.step + "' nest deeper than "
          + std::to_string(max_json_depth) + " levels";
    return false;
  }
  return true;
}

/// Runs a synchronous handler. An exception counts as a failure that may
/// have had no effect: the handler's author decides retries explicitly.
step_reply run_sync(const step_handler& fn, const step_command& cmd) {
  if (!fn)
    return fail_reply("no handler for action '" + cmd.action + "'");
  json payload;
  json results;
  std::string err;
  if (!parse_command(cmd, payload, results, err))
    return fail_reply(std::move(err));
  try {
    step_context ctx{cmd, std::move(results)};
    return to_reply(fn(ctx, payload));
  } catch (const std::exception& e) {
    return fail_reply(std::string{"handler threw: "} + e.what());
  } catch (...) {
    return fail_reply("handler threw a non-standard exception");
  }
}

const handler_entry* find_entry(const handler_table& table,
                                const std::string& action) {
  auto i = table.find(action);
  return i == table.end() ? nullptr : &i->second;
}

/// A detached worker that runs blocking handlers on its own thread.
participant_actor::behavior_type
blocking_worker(participant_actor::pointer,
                const std::shared_ptr<handler_registry>& registry) {
  auto run = [registry](bool compensate, const step_command& cmd) {
    auto table = registry->snapshot();
    auto entry = find_entry(*table, cmd.action);
    if (entry == nullptr)
      return fail_reply("unknown action '" + cmd.action + "'");
    return run_sync(compensate ? entry->compensate : entry->execute, cmd);
  };
  return {
    [run](execute_atom, const step_command& cmd) { return run(false, cmd); },
    [run](compensate_atom, const step_command& cmd) { return run(true, cmd); },
  };
}

/// Detached workers for blocking handlers of one kind (executes, or
/// compensations), spawned on first use. Each request goes to an idle
/// worker, or to the least busy one when all `max_workers` are busy.
struct worker_pool {
  size_t max_workers = 1;
  std::vector<participant_actor> workers;
  /// Requests handed to each worker and not answered yet.
  std::vector<uint32_t> busy;
};

struct participant_state {
  static inline const char* name = "saga.participant";
  std::string participant_name;
  std::shared_ptr<handler_registry> registry;
  /// Separate pools: a compensation never queues behind a hung execute on
  /// the same thread (it revokes that execute, see through_barrier).
  worker_pool executes;
  worker_pool compensations;
  uint64_t next_token = 0;
  /// Continuations of asynchronous handlers, by responder token.
  std::unordered_map<uint64_t, reply_fn> pending;
  barrier_gate barrier;
};

using participant_pointer
  = local_participant_actor::stateful_pointer<participant_state>;

/// Returns the index in `pool` of the worker for the next request: an idle
/// one, a new one while the pool may grow, else the least busy.
size_t pick_worker(participant_pointer self, worker_pool& pool) {
  auto least = std::min_element(pool.busy.begin(), pool.busy.end());
  if (least != pool.busy.end() && *least == 0)
    return static_cast<size_t>(least - pool.busy.begin());
  if (pool.workers.size() < pool.max_workers) {
    pool.workers.push_back(
      self->spawn<caf::detached + caf::linked>(blocking_worker,
                                               self->state.registry));
    pool.busy.push_back(0);
    return pool.workers.size() - 1;
  }
  return static_cast<size_t>(least - pool.busy.begin());
}

/// Runs `cmd` on a blocking worker and passes its reply to `k`.
void run_blocking(participant_pointer self, bool compensate,
                  const step_command& cmd, const reply_fn& k) {
  auto& pool = compensate ? self->state.compensations : self->state.executes;
  auto idx = pick_worker(self, pool);
  ++pool.busy[idx];
  auto done = [&pool, idx] { --pool.busy[idx]; };
  ask_participant(self, pool.workers[idx], caf::infinite, compensate, cmd)
    .then(
      [k, done](step_reply& r) {
        done();
        k(std::move(r));
      },
      [k, done](caf::error& e) {
        done();
        // The handler may have run: nothing can say "failed".
        k(unknown_outcome("blocking worker failed: " + describe(e)));
      });
}

/// Runs the handler for `cmd` and passes its reply to `k`.
void run_handler(participant_pointer self, bool compensate,
                 const step_command& cmd, const reply_fn& k) {
  auto& st = self->state;
  auto table = st.registry->snapshot();
  auto entry = find_entry(*table, cmd.action);
  if (entry == nullptr) {
    k(fail_reply("participant '" + st.participant_name + "' has no action '"
                 + cmd.action + "'"));
    return;
  }
  switch (entry->how) {
    case handler_entry::mode::in_actor:
      k(run_sync(compensate ? entry->compensate : entry->execute, cmd));
      return;
    case handler_entry::mode::blocking:
      run_blocking(self, compensate, cmd, k);
      return;
    case handler_entry::mode::async: {
      const auto& fn = compensate ? entry->async_compensate
                                  : entry->async_execute;
      if (!fn) {
        k(fail_reply("no handler for action '" + cmd.action + "'"));
        return;
      }
      json payload;
      json results;
      std::string err;
      if (!parse_command(cmd, payload, results, err)) {
        k(fail_reply(std::move(err)));
        return;
      }
      auto token = ++st.next_token;
      st.pending.emplace(token, k);
      try {
        step_context ctx{cmd, std::move(results)};
        fn(ctx, payload,
           responder{std::make_shared<responder_state>(
             caf::actor_cast<caf::weak_actor_ptr>(self), token)});
      } catch (const std::exception& e) {
        st.pending.erase(token);
        k(fail_reply(std::string{"handler threw: "} + e.what()));
      } catch (...) {
        st.pending.erase(token);
        k(fail_reply("handler threw a non-standard exception"));
      }
      return;
    }
  }
}

/// Continues the asynchronous handler of `token` with its answer; the first
/// one wins.
void on_deliver(participant_pointer self, uint64_t token,
                caf::expected<step_reply> answer) {
  auto i = self->state.pending.find(token);
  if (i == self->state.pending.end())
    return; // answered already
  auto k = std::move(i->second);
  self->state.pending.erase(i);
  k(std::move(answer));
}

caf::result<step_reply> dispatch(participant_pointer self, bool compensate,
                                 step_command& cmd) {
  return through_barrier(self, self->state.barrier, compensate, cmd,
                         [self, compensate](const step_command& c,
                                            const reply_fn& k) {
                           run_handler(self, compensate, c, k);
                         });
}

local_participant_actor::behavior_type
local_participant(participant_pointer self, std::string name,
                  std::shared_ptr<handler_registry> registry,
                  size_t blocking_workers, directory_ptr dir) {
  keep_crash_reason(self);
  self->state.participant_name = std::move(name);
  self->state.registry = std::move(registry);
  self->state.executes.max_workers = std::max<size_t>(blocking_workers, 1);
  self->state.compensations.max_workers = self->state.executes.max_workers;
  self->state.barrier.dir = std::move(dir);
  self->state.barrier.incarnation = make_incarnation();
  return {
    [self](execute_atom, step_command& cmd) {
      return dispatch(self, false, cmd);
    },
    [self](compensate_atom, step_command& cmd) {
      return dispatch(self, true, cmd);
    },
    [self](crash_atom) {
      throw std::runtime_error("injected fault in participant '"
                               + self->state.participant_name + "'");
    },
    [self](wake_atom, caf::actor_clock::time_point at) {
      on_barrier_wake(self, self->state.barrier, at);
    },
    [self](deliver_atom, uint64_t token, step_reply& reply) {
      on_deliver(self, token, std::move(reply));
    },
    [self](deliver_atom, uint64_t token, caf::error& err) {
      // The handler dropped its responder unanswered.
      on_deliver(self, token, std::move(err));
    },
  };
}

struct proxy_state {
  static inline const char* name = "saga.barrier";
  participant_actor inner;
  barrier_gate barrier;
};

/// The barrier in front of any participant actor.
using barrier_proxy_actor = participant_actor::extend<wake_message>;

barrier_proxy_actor::behavior_type
barrier_proxy(barrier_proxy_actor::stateful_pointer<proxy_state> self,
              participant_actor inner, directory_ptr dir) {
  keep_crash_reason(self);
  self->state.inner = std::move(inner);
  self->state.barrier.dir = std::move(dir);
  self->state.barrier.incarnation = make_incarnation();
  auto run = [self](bool compensate) {
    return [self, compensate](const step_command& c, const reply_fn& k) {
      ask_participant(self, self->state.inner, caf::infinite, compensate, c)
        .then([k](step_reply& r) { k(std::move(r)); },
              [k](caf::error& e) {
                // It may have run: nothing can say "failed". An inner
                // participant that says so itself (an HTTP service that
                // gave no usable answer) is passed on as it is.
                if (is(e, errc::outcome_unknown))
                  k(std::move(e));
                else
                  k(unknown_outcome("participant unreachable: " + describe(e)));
              });
    };
  };
  return {
    [self, run](execute_atom, step_command& cmd) {
      return through_barrier(self, self->state.barrier, false, cmd, run(false));
    },
    [self, run](compensate_atom, step_command& cmd) {
      return through_barrier(self, self->state.barrier, true, cmd, run(true));
    },
    [self](wake_atom, caf::actor_clock::time_point at) {
      on_barrier_wake(self, self->state.barrier, at);
    },
  };
}

} // namespace

} // namespace detail

void responder::deliver(const step_outcome& outcome) const {
  if (!state_ || state_->answered.exchange(true))
    return;                                // the first answer wins
  if (auto p = state_->participant.lock()) // else: it is gone
    caf::anon_send(caf::actor_cast<detail::local_participant_actor>(p),
                   deliver_atom::value, state_->token,
                   detail::to_reply(outcome));
}

namespace detail {

responder_state::~responder_state() {
  if (answered.load())
    return;
  auto p = participant.lock();
  if (!p)
    return; // the participant is gone, and its requests with it
  caf::anon_send(caf::actor_cast<local_participant_actor>(p),
                 deliver_atom::value, token,
                 make_error(errc::outcome_unknown,
                            "the handler dropped its responder without "
                            "answering"));
}

} // namespace detail

namespace detail {

local_participant_actor
spawn_local_participant(caf::actor_system& sys, std::string name,
                        std::shared_ptr<handler_registry> registry,
                        size_t blocking_workers, directory_ptr dir) {
  return sys.spawn(local_participant, std::move(name), std::move(registry),
                   blocking_workers, std::move(dir));
}

participant_actor spawn_barrier(caf::actor_system& sys, participant_actor inner,
                                directory_ptr dir) {
  return caf::actor_cast<participant_actor>(
    sys.spawn(barrier_proxy, std::move(inner), std::move(dir)));
}

} // namespace detail
} // namespace saga
