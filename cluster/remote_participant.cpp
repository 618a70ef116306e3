#include "cluster/remote_participant.hpp"

#include <memory>
#include <optional>
#include <random>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "saga/errc.hpp"
#include "saga/supervisor.hpp"

namespace saga::detail {

namespace {

/// A held command is due (chaos only): its token.
using release_atom = caf::atom_constant<caf::atom("sg_chrel")>;

/// The stand-in's interface: a participant, plus its own chaos timer.
using remote_actor
  = participant_actor::extend<caf::reacts_to<release_atom, uint64_t>>;

/// Fault injection of one stand-in (see cluster/fault_injection.hpp).
struct chaos_state {
  fault_injection cfg;
  std::mt19937_64 rng;
  /// A command waiting for its delay: the promise is empty for a copy,
  /// whose reply nobody waits for; `duplicate` sends a copy after it.
  struct held {
    bool compensate = false;
    step_command cmd;
    std::optional<caf::typed_response_promise<step_reply>> rp;
    bool duplicate = false;
  };
  std::unordered_map<uint64_t, held> waiting;
  uint64_t next_token = 0;

  bool draw(double rate) {
    return rate > 0 && std::uniform_real_distribution<double>{0, 1}(rng) < rate;
  }

  std::chrono::milliseconds delay() {
    auto max = std::max<int64_t>(0, cfg.max_delay.count());
    return std::chrono::milliseconds{
      std::uniform_int_distribution<int64_t>{0, max}(rng)};
  }
};

struct remote_participant_state {
  static inline const char* name = "saga.remote_participant";
  std::string participant;
  route_table_ptr routes;
  std::chrono::milliseconds timeout;
  /// Index of the next route: requests go round the nodes hosting the
  /// participant, so load spreads and a retry after a failure goes to
  /// another node when there is one.
  size_t next = 0;
  /// Null unless fault injection is on.
  std::unique_ptr<chaos_state> chaos;
};

using remote_pointer = remote_actor::stateful_pointer<remote_participant_state>;

using promise = caf::typed_response_promise<step_reply>;

step_reply no_route_reply(const std::string& name) {
  step_reply r;
  r.retryable = true;
  r.error = "no live node hosts participant '" + name + "'";
  return r;
}

/// Sends `cmd` to the next node hosting the participant and delivers the
/// reply, or an error, to `rp` when there is one. Returns false when no
/// node hosts the participant (nothing was sent).
template <class Op>
bool send(remote_pointer self, Op op, step_command cmd,
          std::optional<promise> rp) {
  auto& s = self->state;
  auto routes = s.routes->routes(s.participant);
  if (routes.empty()) {
    if (rp)
      rp->deliver(no_route_reply(s.participant));
    return false;
  }
  auto pick = routes[s.next++ % routes.size()];
  self->request(pick.gateway, s.timeout, op, s.participant, std::move(cmd))
    .then(
      [rp](step_reply& reply) mutable {
        if (rp)
          rp->deliver(std::move(reply));
      },
      [rp, node = pick.node](caf::error& err) mutable {
        // The node died, hung or dropped the request, and the step may
        // or may not have run there: an error (not a failed reply)
        // tells the saga the outcome is unknown, like a timeout. The
        // next request goes to the next node.
        if (rp)
          rp->deliver(
            make_error(errc::no_route, "node " + node + ": " + describe(err)));
      });
  return true;
}

bool send(remote_pointer self, bool compensate, step_command cmd,
          std::optional<promise> rp) {
  if (compensate)
    return send(self, compensate_atom::value, std::move(cmd), std::move(rp));
  return send(self, execute_atom::value, std::move(cmd), std::move(rp));
}

/// Holds `cmd` for a random delay (chaos only).
void hold(remote_pointer self, bool compensate, const step_command& cmd,
          std::optional<promise> rp, bool duplicate = false) {
  auto& c = *self->state.chaos;
  auto token = ++c.next_token;
  c.waiting.emplace(token, chaos_state::held{compensate, cmd, std::move(rp),
                                             duplicate});
  self->delayed_send(self, c.delay(), release_atom::value, token);
}

/// Sends `cmd` and, if it left and `duplicate`, a copy of it later: a
/// network duplicates only what was sent (a command answered "no route"
/// never left, so neither does a copy).
void send_maybe_twice(remote_pointer self, bool compensate, step_command cmd,
                      std::optional<promise> rp, bool duplicate) {
  auto copy = duplicate ? std::optional<step_command>{cmd} : std::nullopt;
  if (!send(self, compensate, std::move(cmd), std::move(rp)) || !copy)
    return;
  hold(self, compensate, *copy, std::nullopt);
  if (auto& f = self->state.chaos->cfg.on_injected)
    f(true);
}

/// Forwards with fault injection: maybe late, maybe twice.
caf::result<step_reply> forward_with_chaos(remote_pointer self, bool compensate,
                                           step_command& cmd) {
  auto& c = *self->state.chaos;
  auto rp = self->make_response_promise<step_reply>();
  auto duplicate = c.draw(c.cfg.duplicate_rate);
  auto delay = c.draw(c.cfg.delay_rate);
  if (delay) {
    hold(self, compensate, cmd, rp, duplicate);
    if (c.cfg.on_injected)
      c.cfg.on_injected(false);
  } else {
    send_maybe_twice(self, compensate, std::move(cmd), rp, duplicate);
  }
  return rp;
}

template <class Op>
caf::result<step_reply> forward(remote_pointer self, Op op, step_command& cmd) {
  if (self->state.chaos)
    return forward_with_chaos(self, std::is_same<Op, compensate_atom>::value,
                              cmd);
  auto& s = self->state;
  auto routes = s.routes->routes(s.participant);
  if (routes.empty())
    return no_route_reply(s.participant);
  auto rp = self->make_response_promise<step_reply>();
  send(self, op, std::move(cmd), rp);
  return rp;
}

remote_actor::behavior_type
remote_participant(remote_pointer self, std::string name,
                   route_table_ptr routes, std::chrono::milliseconds timeout,
                   fault_injection chaos) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.participant = std::move(name);
  s.routes = std::move(routes);
  s.timeout = timeout;
  if (chaos.enabled()) {
    s.chaos = std::make_unique<chaos_state>();
    // FNV-1a of the name: stand-ins of one node draw different sequences.
    uint64_t h = 14695981039346656037ull;
    for (auto ch : s.participant)
      h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    s.chaos->rng.seed(chaos.seed ^ h);
    s.chaos->cfg = std::move(chaos);
  }
  return {
    [self](execute_atom op, step_command& cmd) {
      return forward(self, op, cmd);
    },
    [self](compensate_atom op, step_command& cmd) {
      return forward(self, op, cmd);
    },
    [self](release_atom, uint64_t token) {
      auto& c = self->state.chaos;
      if (!c)
        return;
      auto i = c->waiting.find(token);
      if (i == c->waiting.end())
        return;
      auto h = std::move(i->second);
      c->waiting.erase(i);
      send_maybe_twice(self, h.compensate, std::move(h.cmd), std::move(h.rp),
                       h.duplicate);
    },
  };
}

} // namespace

caf::error fault_injection::validate() const {
  if (!(duplicate_rate >= 0 && duplicate_rate <= 1)
      || !(delay_rate >= 0 && delay_rate <= 1))
    return make_error(errc::invalid_config,
                      "chaos.duplicate_rate and chaos.delay_rate must be in "
                      "[0, 1]");
  if (max_delay.count() < 0)
    return make_error(errc::invalid_config,
                      "chaos.max_delay must not be negative");
  return caf::none;
}

participant_actor spawn_remote_participant(caf::actor_system& sys,
                                           std::string name,
                                           route_table_ptr routes,
                                           std::chrono::milliseconds timeout,
                                           const fault_injection& chaos) {
  return sys.spawn(remote_participant, std::move(name), std::move(routes),
                   timeout, chaos);
}

} // namespace saga::detail
