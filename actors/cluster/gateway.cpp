#include "actors/cluster/gateway.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/coordinator_impl.hpp"
#include "saga/definition.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"
#include "saga/supervisor.hpp"

namespace saga::detail {

namespace {

struct gateway_state {
  static inline const char* name = "saga.gateway";
  gateway_identity id;
  directory_ptr dir;
  route_table_ptr routes;
};

using gateway_pointer = gateway_actor::stateful_pointer<gateway_state>;

/// Returns the local participant `name`, or an error if this node hosts
/// none (remote stand-ins do not count: no request is forwarded twice).
caf::expected<participant_actor> local(gateway_pointer self,
                                       const std::string& name) {
  auto& s = self->state;
  if (s.routes->is_local(name))
    if (auto h = s.dir->participant(name))
      return h;
  return make_error(errc::no_route, "node " + s.id.node_id
                                      + " hosts no participant '" + name
                                      + "'");
}

gateway_actor::behavior_type gateway(gateway_pointer self,
                                     gateway_identity id, directory_ptr dir,
                                     route_table_ptr routes) {
  keep_crash_reason(self);
  // Any peer can send a published actor an exit message: ignore them all.
  // The node stops its gateway with exit_reason::kill, which cannot be
  // trapped.
  self->set_exit_handler([](caf::exit_msg&) {});
  // A message no handler takes is dropped without printing it: CAF 0.17's
  // printer reads out of bounds for some malformed values a peer can send
  // (a caf::duration with a bad unit; see actors/cluster/wire_fuzz.cpp).
  self->set_default_handler(caf::drop);
  auto& s = self->state;
  s.id = std::move(id);
  s.dir = std::move(dir);
  s.routes = std::move(routes);
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
                          "node " + s.id.node_id + " does not coordinate sagas");
      if (text.size() > s.id.max_definition_bytes)
        return make_error(errc::invalid_payload,
                          "the saga definition is " + std::to_string(text.size())
                            + " bytes; node " + s.id.node_id
                            + " accepts at most "
                            + std::to_string(s.id.max_definition_bytes)
                            + " (max_payload_bytes)");
      auto j = json::parse(text, nullptr, false);
      if (j.is_discarded())
        return make_error(errc::invalid_payload,
                          "the saga definition is not valid JSON");
      auto def = definition::from_json(j);
      if (!def)
        return def.error();
      auto coord = caf::actor_cast<local_coordinator_actor>(
        s.dir->coordinator());
      if (!coord)
        return make_error(errc::shutting_down, "no coordinator");
      return self->delegate(coord, op,
                            std::make_shared<const definition>(
                              std::move(*def)));
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
  return sys.spawn(gateway, std::move(id), std::move(dir), std::move(routes));
}

} // namespace saga::detail
