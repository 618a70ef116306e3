#include "cluster/gateway.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/coordinator_impl.hpp"
#include "saga/definition.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"
#include "saga/supervisor.hpp"

namespace saga::detail {

namespace {

using gate_open_atom = caf::atom_constant<caf::atom("sg_gopen")>;

/// The published interface plus the node's "open" (also its own timer).
using gateway_impl = gateway_actor::extend<caf::reacts_to<gate_open_atom>>;

/// A `run` waiting for the node to know its cluster.
struct held_run {
  caf::typed_response_promise<saga_result> rp;
  definition_ptr def;
};

struct gateway_state {
  static inline const char* name = "saga.gateway";
  gateway_identity id;
  directory_ptr dir;
  route_table_ptr routes;
  /// Closed until the node's first membership pass is done (or the hold
  /// passed): every run waits until then.
  bool open = true;
  std::vector<held_run> held;
};

/// Held runs at most; more are refused as `errc::overloaded`.
constexpr size_t max_held_runs = 4'096;

using gateway_pointer = gateway_impl::stateful_pointer<gateway_state>;

/// Opens the gate and hands the held runs to the coordinator (which
/// refuses a run whose participant is still unknown).
void release_held(gateway_pointer self) {
  auto& s = self->state;
  s.open = true;
  auto coord = caf::actor_cast<local_coordinator_actor>(s.dir->coordinator());
  for (auto& h : s.held) {
    if (coord)
      h.rp.delegate(coord, run_atom::value, std::move(h.def));
    else
      h.rp.deliver(make_error(errc::shutting_down, "no coordinator"));
  }
  s.held.clear();
}

/// Returns the local participant `name`, or an error if this node hosts
/// none (remote stand-ins do not count: no request is forwarded twice).
caf::expected<participant_actor> local(gateway_pointer self,
                                       const std::string& name) {
  auto& s = self->state;
  if (s.routes->is_local(name))
    if (auto h = s.dir->participant(name))
      return h;
  return make_error(errc::no_route, "node " + s.id.node_id
                                      + " hosts no participant '" + name + "'");
}

gateway_impl::behavior_type gateway(gateway_pointer self, gateway_identity id,
                                    directory_ptr dir, route_table_ptr routes) {
  keep_crash_reason(self);
  // Any peer can send a published actor an exit message: ignore them all.
  // The node stops its gateway with exit_reason::kill, which cannot be
  // trapped.
  self->set_exit_handler([](caf::exit_msg&) {});
  // A message no handler takes is dropped without printing it: CAF 0.17's
  // printer reads out of bounds for some malformed values a peer can send
  // (a caf::duration with a bad unit; see cluster/wire_fuzz.cpp).
  self->set_default_handler(caf::drop);
  auto& s = self->state;
  s.id = std::move(id);
  s.dir = std::move(dir);
  s.routes = std::move(routes);
  if (s.id.hold_runs.count() > 0) {
    // Bounded: a first pass that takes too long (Redis slow, a peer that
    // does not answer) must not hold runs forever.
    s.open = false;
    self->delayed_send(self, s.id.hold_runs, gate_open_atom::value);
  }
  return {
    [self](execute_atom op, const std::string& name,
           step_command& cmd) -> caf::result<step_reply> {
      auto h = local(self, name);
      if (!h)
        return h.error();
      return self->delegate(*h, op, std::move(cmd));
    },
    [self](compensate_atom op, const std::string& name,
           step_command& cmd) -> caf::result<step_reply> {
      auto h = local(self, name);
      if (!h)
        return h.error();
      return self->delegate(*h, op, std::move(cmd));
    },
    [self](run_atom op, const std::string& text) -> caf::result<saga_result> {
      auto& s = self->state;
      if (!s.id.coordinates)
        return make_error(errc::invalid_config,
                          "node " + s.id.node_id
                            + " does not coordinate sagas");
      if (text.size() > s.id.max_definition_bytes)
        return make_error(errc::invalid_payload,
                          "the saga definition is "
                            + std::to_string(text.size()) + " bytes; node "
                            + s.id.node_id + " accepts at most "
                            + std::to_string(s.id.max_definition_bytes)
                            + " (max_payload_bytes)");
      auto j = json::parse(text, nullptr, false);
      if (j.is_discarded())
        return make_error(errc::invalid_payload,
                          "the saga definition is not valid JSON");
      auto def = definition::from_json(j);
      if (!def)
        return def.error();
      auto ptr = std::make_shared<const definition>(std::move(*def));
      if (!s.open) {
        // The node does not know its cluster yet (it has just started):
        // its participants may be registered a moment later. Wait for
        // that instead of refusing the saga.
        if (s.held.size() >= max_held_runs)
          return make_error(errc::overloaded,
                            "node " + s.id.node_id + " holds "
                              + std::to_string(max_held_runs)
                              + " runs until it has found its cluster");
        auto rp = self->make_response_promise<saga_result>();
        s.held.push_back(held_run{rp, std::move(ptr)});
        return rp;
      }
      auto coord = caf::actor_cast<local_coordinator_actor>(
        s.dir->coordinator());
      if (!coord)
        return make_error(errc::shutting_down, "no coordinator");
      return self->delegate(coord, op, std::move(ptr));
    },
    [self](gate_open_atom) {
      if (!self->state.open)
        release_held(self);
    },
    [self](info_atom) {
      auto& s = self->state;
      return json{{"id", s.id.node_id},
                  {"epoch", s.id.epoch},
                  {"coordinates", s.id.coordinates},
                  {"participants", s.routes->local()}}
        .dump();
    },
  };
}

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, gateway_identity id,
                            directory_ptr dir, route_table_ptr routes) {
  return caf::actor_cast<gateway_actor>(
    sys.spawn(gateway, std::move(id), std::move(dir), std::move(routes)));
}

void open_gateway(const gateway_actor& gw) {
  caf::anon_send(caf::actor_cast<caf::actor>(gw), gate_open_atom::value);
}

} // namespace saga::detail
