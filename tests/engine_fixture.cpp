#include "tests/engine_fixture.hpp"

#include <unordered_map>

#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace saga::test {

std::vector<std::string> script::trace() const {
  std::vector<std::string> result;
  for (const auto& c : calls)
    result.push_back(c.str());
  return result;
}

std::vector<std::string> script::trace(const std::string& op) const {
  std::vector<std::string> result;
  for (const auto& c : calls)
    if (c.op == op)
      result.push_back(c.str());
  return result;
}

engine_fixture::engine_fixture() : script_(std::make_shared<script>()) {
  cfg_.set("scheduler.policy", caf::atom("testing"));
  cfg_.set("logger.verbosity", caf::atom("quiet"));
  add_message_types(cfg_);
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  store_ = std::make_shared<memory_store>();
  journal_ = spawn_memory_journal(*sys_, store_);
  runtime_config rc;
  rt_ = std::make_unique<runtime>(*sys_, journal_, rc);
  run();
}

engine_fixture::~engine_fixture() {
  script_->hung.clear();
  rt_.reset();
  for (auto& p : raw_participants_)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(journal_, caf::exit_reason::user_shutdown);
  run();
  // Drain timers so no actor lingers on a pending delayed message.
  while (sched_->has_pending_timeout()) {
    sched_->trigger_timeouts();
    run();
  }
  journal_ = nullptr;
  sys_.reset();
}

void engine_fixture::run() {
  sched_->run();
}

void engine_fixture::advance(std::chrono::milliseconds d) {
  sched_->advance_time(d);
  run();
}

void script::play(const call& c, std::function<void(step_outcome)> deliver) {
  calls.push_back(c);
  if (observer)
    observer(calls.back());
  auto& queue = plans[c.op + ":" + c.step];
  auto r = reaction::ok();
  if (!queue.empty()) {
    r = queue.front();
    queue.pop_front();
  }
  switch (r.what) {
    case reaction::kind::ok: deliver(step_outcome::ok(r.result)); break;
    case reaction::kind::fail:
      deliver(step_outcome::fail(r.error, false));
      break;
    case reaction::kind::fail_retryable:
      deliver(step_outcome::fail(r.error, true));
      break;
    case reaction::kind::hang:
      hung[c.op + ":" + c.step + "#" + std::to_string(c.attempt)].push_back(
        std::move(deliver));
      break;
  }
}

namespace {

/// The scripted participant hands a delayed answer to itself.
using deliver_atom = caf::atom_constant<caf::atom("t_deliver")>;

using scripted_actor = participant_actor::extend<
  caf::reacts_to<deliver_atom, uint64_t, step_reply>>;

struct scripted_state {
  uint64_t next = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<step_reply>> pending;
};

/// A participant actor that answers per script, without any barrier.
scripted_actor::behavior_type
scripted(scripted_actor::stateful_pointer<scripted_state> self,
         const std::shared_ptr<script>& s) {
  auto handle = [self, s](const char* op, const step_command& cmd) {
    auto rp = self->make_response_promise<step_reply>();
    auto token = ++self->state.next;
    self->state.pending.emplace(token, rp);
    auto results = cmd.results.empty() ? json::object()
                                       : json::parse(cmd.results);
    auto me = caf::actor_cast<scripted_actor>(self);
    s->play(call{op, cmd.step, cmd.attempt, results, cmd.id},
            [me, token](const step_outcome& o) {
              step_reply r;
              r.ok = o.is_ok();
              r.retryable = o.retryable();
              r.result = r.ok ? o.result().dump() : std::string{};
              r.error = o.error();
              caf::anon_send(me, deliver_atom::value, token, std::move(r));
            });
    return rp;
  };
  return {
    [handle](execute_atom, const step_command& cmd) {
      return handle("execute", cmd);
    },
    [handle](compensate_atom, const step_command& cmd) {
      return handle("compensate", cmd);
    },
    [self](deliver_atom, uint64_t token, step_reply& r) {
      auto i = self->state.pending.find(token);
      if (i == self->state.pending.end())
        return;
      i->second.deliver(std::move(r));
      self->state.pending.erase(i);
    },
  };
}

} // namespace

void engine_fixture::add_participant(const std::string& name,
                                     const std::vector<std::string>& actions) {
  added_.emplace_back(name, actions);
  auto h = sys_->spawn(scripted, script_);
  raw_participants_.push_back(caf::actor_cast<caf::actor>(h));
  rt_->register_participant(name, caf::actor_cast<participant_actor>(h));
  run();
}

void engine_fixture::add_supervised_participant(
  const std::string& name, const std::vector<std::string>& actions) {
  auto& p = rt_->participant(name);
  for (const auto& action : actions) {
    auto make = [s = script_](const std::string& op) {
      return [s, op](const step_context& ctx, const json&, responder reply) {
        s->play(call{op, ctx.step(), ctx.attempt(), ctx.results(), ctx.id()},
                [reply](const step_outcome& o) { reply.deliver(o); });
      };
    };
    p.on_async(action, make("execute"), make("compensate"));
  }
  run();
}

definition engine_fixture::make_def(const std::vector<std::string>& names) {
  definition d{"test-saga"};
  for (const auto& n : names) {
    add_participant("p-" + n, {n});
    d.step(n, "p-" + n, json{{"step", n}})
      .timeout(std::chrono::seconds{1})
      .compensation_timeout(std::chrono::seconds{1})
      .compensation_retry(retry_policy{5, std::chrono::milliseconds{100}, 2.0,
                                       std::chrono::milliseconds{1000}, 0.0});
  }
  return d;
}

std::shared_ptr<std::optional<saga_result>>
engine_fixture::start(const definition& def) {
  auto slot = std::make_shared<std::optional<saga_result>>();
  rt_->execute(def, [slot](saga_result r) { *slot = std::move(r); });
  run();
  return slot;
}

saga_result engine_fixture::execute(const definition& def) {
  auto slot = start(def);
  EXPECT_TRUE(slot->has_value()) << "the saga did not end";
  return slot->value_or(saga_result{});
}

void engine_fixture::answer(const std::string& key, step_outcome outcome) {
  auto i = script_->hung.find(key);
  ASSERT_NE(i, script_->hung.end()) << "no hung request " << key;
  auto reply = i->second.front();
  i->second.pop_front();
  if (i->second.empty())
    script_->hung.erase(i);
  reply(std::move(outcome));
  run();
}

std::vector<event> engine_fixture::events_of(const saga_id& id) {
  auto res = store_->read(id);
  EXPECT_TRUE(res) << describe(res.error());
  return res ? *res : std::vector<event>{};
}

void engine_fixture::expect_replay_matches(const saga_result& live) {
  auto events = events_of(live.saga_id);
  ASSERT_FALSE(events.empty());
  auto st = replay(live.saga_id, events);
  ASSERT_TRUE(st) << describe(st.error());
  auto replayed = summarize(*st);
  EXPECT_EQ(replayed.state, live.state);
  EXPECT_EQ(replayed.success, live.success);
  EXPECT_EQ(replayed.completed_steps, live.completed_steps);
  EXPECT_EQ(replayed.compensated_steps, live.compensated_steps);
  EXPECT_EQ(replayed.failed_step, live.failed_step);
  EXPECT_EQ(describe(replayed.error), describe(live.error));
  // Every prefix is a state the saga actually went through.
  for (size_t n = 1; n <= events.size(); ++n) {
    std::vector<event> prefix(events.begin(),
                              events.begin() + static_cast<std::ptrdiff_t>(n));
    auto partial = replay(live.saga_id, prefix);
    EXPECT_TRUE(partial) << "prefix of " << n
                         << " events: " << describe(partial.error());
  }
}

caf::actor engine_fixture::saga_actor_of(const saga_id& id) {
  auto result = std::make_shared<caf::actor>();
  auto coord = rt_->coordinator();
  sys_->spawn([coord, id, result](caf::event_based_actor* self) {
    self->request(coord, caf::infinite, which_child_atom::value, id)
      .then([result](const caf::actor& h) { *result = h; }, [](caf::error&) {});
  });
  run();
  return *result;
}

uint64_t engine_fixture::recover() {
  auto count = std::make_shared<std::optional<uint64_t>>();
  auto coord = rt_->coordinator();
  sys_->spawn([coord, count](caf::event_based_actor* self) {
    self->request(coord, caf::infinite, recover_atom::value)
      .then([count](uint64_t n) { *count = n; },
            [](caf::error& err) { ADD_FAILURE() << describe(err); });
  });
  run();
  EXPECT_TRUE(count->has_value()) << "recover() did not answer";
  return count->value_or(0);
}

void engine_fixture::restart_runtime(const runtime_config& cfg) {
  script_->hung.clear();
  rt_.reset();
  run();
  rt_ = std::make_unique<runtime>(*sys_, journal_, cfg);
  auto added = std::move(added_);
  added_.clear();
  for (const auto& [name, actions] : added)
    add_participant(name, actions);
  run();
}

namespace {

struct held_append {
  caf::typed_response_promise<uint64_t> rp;
  saga_id id;
  std::vector<event> events;
  /// An append with pre-claims answers through `rp_claims` instead.
  std::vector<barrier_preclaim> preclaims;
  std::vector<barrier_outcome> outcomes;
  caf::typed_response_promise<uint64_t, std::vector<barrier_claim>> rp_claims;
  bool claiming = false;
};

struct gated_state {
  std::deque<held_append> held;
  journal_actor inner;
};

gated_journal_actor::behavior_type
gated_journal(gated_journal_actor::stateful_pointer<gated_state> self,
              const std::shared_ptr<journal_gate>& gate) {
  self->state.inner = spawn_memory_journal(self->system(), gate->store);
  self->link_to(self->state.inner); // it stops with us
  return {
    [self, gate](append_atom, saga_id& id,
                 std::vector<event>& events) -> caf::result<uint64_t> {
      held_append h;
      h.rp = self->make_response_promise<uint64_t>();
      h.id = std::move(id);
      h.events = std::move(events);
      auto rp = h.rp;
      self->state.held.push_back(std::move(h));
      gate->held = self->state.held.size();
      return rp;
    },
    [self, gate](append_atom, saga_id& id, std::vector<event>& events,
                 std::vector<barrier_preclaim>& preclaims,
                 std::vector<barrier_outcome>& outcomes)
      -> caf::result<uint64_t, std::vector<barrier_claim>> {
      held_append h;
      h.id = std::move(id);
      h.events = std::move(events);
      h.preclaims = std::move(preclaims);
      h.outcomes = std::move(outcomes);
      h.rp_claims
        = self->make_response_promise<uint64_t, std::vector<barrier_claim>>();
      h.claiming = true;
      auto rp = h.rp_claims;
      self->state.held.push_back(std::move(h));
      gate->held = self->state.held.size();
      return rp;
    },
    [self, gate](gate_atom, bool release) {
      if (self->state.held.empty())
        return;
      auto h = std::move(self->state.held.front());
      self->state.held.pop_front();
      gate->held = self->state.held.size();
      if (h.claiming) {
        if (!release) {
          h.rp_claims.deliver(
            make_error(errc::journal_failure, "disk on fire"));
          return;
        }
        auto res = gate->store->append(h.id, h.events, {}, h.preclaims,
                                       h.outcomes);
        if (res)
          h.rp_claims.deliver(res->first, std::move(res->second));
        else
          h.rp_claims.deliver(res.error());
        return;
      }
      if (!release) {
        h.rp.deliver(make_error(errc::journal_failure, "disk on fire"));
        return;
      }
      auto res = gate->store->append(h.id, h.events);
      if (res)
        h.rp.deliver(*res);
      else
        h.rp.deliver(res.error());
    },
    // Everything but appends goes straight to a memory journal on the store.
    [self](read_atom a, saga_id& id) {
      return self->delegate(self->state.inner, a, std::move(id));
    },
    [self](unfinished_atom a, std::string& after, uint32_t max) {
      return self->delegate(self->state.inner, a, std::move(after), max);
    },
    [self](finish_atom a, saga_id& id, std::string& state, std::string& def,
           int64_t end_ms) {
      return self->delegate(self->state.inner, a, std::move(id),
                            std::move(state), std::move(def), end_ms);
    },
    [self](recount_atom a, saga_id& id, std::string& def) {
      self->send(self->state.inner, a, std::move(id), std::move(def));
    },
    [self](adopt_atom a, std::string& node, uint64_t below, std::string& after,
           uint32_t max) {
      return self->delegate(self->state.inner, a, std::move(node), below,
                            std::move(after), max);
    },
    [self, gate](barrier_claim_atom a, saga_id& id, std::string& step,
                 barrier_op op, std::string& owner) {
      ++gate->claims;
      return self->delegate(self->state.inner, a, std::move(id),
                            std::move(step), op, std::move(owner));
    },
    [self, gate](barrier_done_atom a, saga_id& id, std::string& step,
                 barrier_op op, std::string& owner, step_reply& reply) {
      ++gate->records;
      return self->delegate(self->state.inner, a, std::move(id),
                            std::move(step), op, std::move(owner),
                            std::move(reply));
    },
    [self](reopen_atom a, saga_id& id, event& ev) {
      return self->delegate(self->state.inner, a, std::move(id), std::move(ev));
    },
  };
}

} // namespace

gated_journal_actor spawn_gated_journal(caf::actor_system& sys,
                                        std::shared_ptr<journal_gate> gate) {
  return sys.spawn(gated_journal, std::move(gate));
}

std::vector<event_type> types_of(const std::vector<event>& events) {
  std::vector<event_type> result;
  result.reserve(events.size());
  for (const auto& ev : events)
    result.push_back(ev.type);
  return result;
}

} // namespace saga::test
