#include "actors/local_participant.hpp"

#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory.hpp"
#include "saga/errc.hpp"
#include "saga/supervisor.hpp"

namespace saga {

void responder::deliver(step_outcome outcome) const {
  if (!participant_)
    return;
  step_reply reply;
  reply.ok = outcome.is_ok();
  reply.retryable = outcome.retryable();
  if (reply.ok)
    reply.result = outcome.result().dump();
  else
    reply.error = outcome.error();
  caf::anon_send(caf::actor_cast<detail::local_participant_actor>(participant_),
                 deliver_atom::value, token_, std::move(reply));
}

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
  results = cmd.results.empty() ? json::object()
                                : json::parse(cmd.results, nullptr, false);
  if (results.is_discarded()) {
    err = "results sent with step '" + cmd.step + "' are not valid JSON";
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
blocking_worker(participant_actor::pointer self,
                std::shared_ptr<handler_registry> registry) {
  auto run = [self, registry](bool compensate, const step_command& cmd) {
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

struct participant_state {
  static inline const char* name = "saga.participant";
  std::string participant_name;
  std::shared_ptr<handler_registry> registry;
  size_t max_workers = 1;
  std::vector<participant_actor> workers;
  size_t next_worker = 0;
  uint64_t next_token = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<step_reply>>
    pending;
};

using participant_pointer
  = local_participant_actor::stateful_pointer<participant_state>;

participant_actor next_worker(participant_pointer self) {
  auto& st = self->state;
  if (st.workers.size() < st.max_workers) {
    auto w = self->spawn<caf::detached + caf::linked>(
      blocking_worker, st.registry);
    st.workers.push_back(w);
    return w;
  }
  return st.workers[st.next_worker++ % st.workers.size()];
}

caf::result<step_reply> dispatch(participant_pointer self, bool compensate,
                                 step_command& cmd) {
  auto& st = self->state;
  auto table = st.registry->snapshot();
  auto entry = find_entry(*table, cmd.action);
  if (entry == nullptr)
    return fail_reply("participant '" + st.participant_name
                      + "' has no action '" + cmd.action + "'");
  switch (entry->how) {
    case handler_entry::mode::in_actor:
      return run_sync(compensate ? entry->compensate : entry->execute, cmd);
    case handler_entry::mode::blocking: {
      auto worker = next_worker(self);
      auto rp = self->make_response_promise<step_reply>();
      auto on_reply = [rp](step_reply& r) mutable { rp.deliver(std::move(r)); };
      auto on_error = [rp](caf::error& e) mutable {
        rp.deliver(fail_reply("blocking worker failed: " + describe(e), true));
      };
      if (compensate)
        self->request(worker, caf::infinite, compensate_atom::value, cmd)
          .then(on_reply, on_error);
      else
        self->request(worker, caf::infinite, execute_atom::value, cmd)
          .then(on_reply, on_error);
      return rp;
    }
    case handler_entry::mode::async: {
      const auto& fn = compensate ? entry->async_compensate
                                  : entry->async_execute;
      if (!fn)
        return fail_reply("no handler for action '" + cmd.action + "'");
      json payload;
      json results;
      std::string err;
      if (!parse_command(cmd, payload, results, err))
        return fail_reply(std::move(err));
      auto rp = self->make_response_promise<step_reply>();
      auto token = ++st.next_token;
      st.pending.emplace(token, rp);
      try {
        step_context ctx{cmd, std::move(results)};
        fn(ctx, payload,
           responder{caf::actor_cast<caf::strong_actor_ptr>(self), token});
      } catch (const std::exception& e) {
        st.pending.erase(token);
        rp.deliver(fail_reply(std::string{"handler threw: "} + e.what()));
      }
      return rp;
    }
  }
  return fail_reply("unreachable");
}

local_participant_actor::behavior_type
local_participant(participant_pointer self, std::string name,
                  std::shared_ptr<handler_registry> registry,
                  size_t blocking_workers) {
  keep_crash_reason(self);
  self->state.participant_name = std::move(name);
  self->state.registry = std::move(registry);
  self->state.max_workers = std::max<size_t>(blocking_workers, 1);
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
    [self](deliver_atom, uint64_t token, step_reply& reply) {
      auto i = self->state.pending.find(token);
      if (i == self->state.pending.end())
        return; // answered already: the first delivery wins
      i->second.deliver(std::move(reply));
      self->state.pending.erase(i);
    },
  };
}

} // namespace

local_participant_actor
spawn_local_participant(caf::actor_system& sys, std::string name,
                        std::shared_ptr<handler_registry> registry,
                        size_t blocking_workers) {
  return sys.spawn(local_participant, std::move(name), std::move(registry),
                   blocking_workers);
}

} // namespace detail
} // namespace saga
