#include "actors/cluster/remote_participant.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "saga/errc.hpp"
#include "saga/supervisor.hpp"

namespace saga::detail {

namespace {

struct remote_participant_state {
  static inline const char* name = "saga.remote_participant";
  std::string participant;
  route_table_ptr routes;
  std::chrono::milliseconds timeout;
  /// Index of the next route: requests go round the nodes hosting the
  /// participant, so load spreads and a retry after a failure goes to
  /// another node when there is one.
  size_t next = 0;
};

using remote_pointer
  = participant_actor::stateful_pointer<remote_participant_state>;

step_reply no_route_reply(const std::string& name) {
  step_reply r;
  r.retryable = true;
  r.error = "no live node hosts participant '" + name + "'";
  return r;
}

template <class Op>
caf::result<step_reply> forward(remote_pointer self, Op op,
                                step_command& cmd) {
  auto& s = self->state;
  auto routes = s.routes->routes(s.participant);
  if (routes.empty())
    return no_route_reply(s.participant);
  auto pick = routes[s.next++ % routes.size()];
  auto rp = self->make_response_promise<step_reply>();
  self
    ->request(pick.gateway, s.timeout, op, s.participant, std::move(cmd))
    .then([rp](step_reply& reply) mutable { rp.deliver(std::move(reply)); },
          [self, rp, node = pick.node](caf::error& err) mutable {
            // The node died, hung or dropped the request, and the step may
            // or may not have run there: an error (not a failed reply)
            // tells the saga the outcome is unknown, like a timeout. The
            // next request goes to the next node.
            rp.deliver(make_error(errc::no_route, "node " + node + ": "
                                                    + describe(err)));
          });
  return rp;
}

participant_actor::behavior_type
remote_participant(remote_pointer self, std::string name,
                   route_table_ptr routes, std::chrono::milliseconds timeout) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.participant = std::move(name);
  s.routes = std::move(routes);
  s.timeout = timeout;
  return {
    [self](execute_atom op, step_command& cmd) {
      return forward(self, op, cmd);
    },
    [self](compensate_atom op, step_command& cmd) {
      return forward(self, op, cmd);
    },
  };
}

} // namespace

participant_actor spawn_remote_participant(caf::actor_system& sys,
                                           std::string name,
                                           route_table_ptr routes,
                                           std::chrono::milliseconds timeout) {
  return sys.spawn(remote_participant, std::move(name), std::move(routes),
                   timeout);
}

} // namespace saga::detail
