#include "http/http_participant.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <unordered_map>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "core/http_endpoint.hpp"
#include "http/http_client.hpp"
#include "http/http_protocol.hpp"
#include "saga/errc.hpp"

namespace saga::detail {

/// An answer (or the error in its place) that the client's I/O thread hands
/// to the participant actor. Local only.
struct http_answer_msg {
  uint64_t id = 0;
  caf::expected<http_answer> answer{http_answer{}};
};

} // namespace saga::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(saga::detail::http_answer_msg)

namespace saga::detail {

namespace {

using answer_atom = caf::atom_constant<caf::atom("sg_hanswer")>;
using resend_atom = caf::atom_constant<caf::atom("sg_hresend")>;

using http_participant_actor
  = participant_actor::extend<caf::reacts_to<answer_atom, http_answer_msg>,
                              caf::reacts_to<resend_atom, uint64_t>>;

/// Requests in flight at most per participant actor beyond the client's
/// own queue: a bound on the map below, whatever the sagas send.
constexpr size_t requests_max = 65'536;

/// One step operation under way.
struct request_state {
  caf::typed_response_promise<step_reply> rp;
  http_call call;
  bool compensate = false;
  /// "POST http://host:port/path", for errors.
  std::string what;
  /// When the service first answered 425 for it, if it did.
  std::optional<caf::actor_clock::time_point> still_working_since;
};

struct http_participant_state {
  static inline const char* name = "saga.http_participant";
  std::string participant;
  http_participant_config cfg;
  http_url origin;
  std::shared_ptr<http_client> client;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, request_state> requests;

  ~http_participant_state() {
    if (client)
      client->stop(); // joins its I/O thread; its answers find us gone
  }
};

using self_pointer
  = http_participant_actor::stateful_pointer<http_participant_state>;

/// Sends request `id` (again, after a 425) through the client.
void send_request(self_pointer self, uint64_t id) {
  auto i = self->state.requests.find(id);
  if (i == self->state.requests.end())
    return;
  caf::weak_actor_ptr weak{self->ctrl()};
  self->state.client->send(i->second.call, [weak, id](auto answer) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<http_participant_actor>(strong),
                     answer_atom::value,
                     http_answer_msg{id, std::move(answer)});
  });
}

caf::typed_response_promise<step_reply>
start(self_pointer self, const step_command& cmd, bool compensate) {
  auto rp = self->make_response_promise<step_reply>();
  auto& s = self->state;
  if (s.requests.size() >= requests_max) {
    step_reply busy;
    busy.retryable = true;
    busy.error = "HTTP participant '" + s.participant + "' has "
                 + std::to_string(s.requests.size()) + " requests in flight";
    rp.deliver(std::move(busy));
    return rp;
  }
  auto call = make_call(cmd, compensate, s.cfg, s.origin);
  if (!call) {
    step_reply bad;
    bad.error = "HTTP participant '" + s.participant + "', step '" + cmd.step
                + "': " + describe(call.error());
    rp.deliver(std::move(bad)); // nothing was sent; no attempt can do better
    return rp;
  }
  request_state r;
  r.rp = rp;
  r.compensate = compensate;
  r.call = std::move(*call);
  r.what = r.call.method + " " + s.origin.text()
           + r.call.target.substr(s.origin.prefix.size());
  auto id = s.next_id++;
  s.requests.emplace(id, std::move(r));
  send_request(self, id);
  return rp;
}

void on_answer(self_pointer self, http_answer_msg& msg) {
  auto& s = self->state;
  auto i = s.requests.find(msg.id);
  if (i == s.requests.end())
    return;
  auto& r = i->second;
  auto v = judge(msg.answer, r.compensate, r.what);
  if (v.still_working) {
    auto now = self->clock().now();
    if (!r.still_working_since)
      r.still_working_since = now;
    if (now - *r.still_working_since < s.cfg.still_working_max) {
      self->delayed_send(self, v.wait, resend_atom::value, msg.id);
      return;
    }
    // It may still act: the saga must not take this for "nothing happened".
    v.unknown = make_error(errc::outcome_unknown,
                           r.what + " still answered 425 (still working) after "
                             + std::to_string(s.cfg.still_working_max.count())
                             + " ms (still_working_max)");
  }
  if (v.unknown)
    r.rp.deliver(std::move(v.unknown));
  else
    r.rp.deliver(std::move(v.reply));
  s.requests.erase(i);
}

http_participant_actor::behavior_type
http_participant(self_pointer self, std::string name,
                 http_participant_config cfg, http_url origin,
                 std::shared_ptr<http_client> client) {
  auto& s = self->state;
  s.participant = std::move(name);
  s.cfg = std::move(cfg);
  s.origin = std::move(origin);
  s.client = std::move(client);
  return {
    [self](execute_atom, const step_command& cmd) {
      return start(self, cmd, false);
    },
    [self](compensate_atom, const step_command& cmd) {
      return start(self, cmd, true);
    },
    [self](answer_atom, http_answer_msg& msg) { on_answer(self, msg); },
    [self](resend_atom, uint64_t id) { send_request(self, id); },
  };
}

/// Returns whether `c` may stand in a header name (an HTTP token).
bool token_char(unsigned char c) {
  return std::isalnum(c)
         || std::string_view{"!#$%&'*+-.^_`|~"}.find(static_cast<char>(c))
              != std::string_view::npos;
}

caf::error check_header(const std::string& who, const std::string& name,
                        const std::string& value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return token_char(static_cast<unsigned char>(c));
      }))
    return make_error(errc::invalid_config, who + ": header name '"
                                              + header_safe(name)
                                              + "' is not an HTTP token");
  if (std::any_of(value.begin(), value.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
      }))
    return make_error(errc::invalid_config,
                      who + ": the value of header '" + name
                        + "' holds a control character (CR or LF would "
                          "inject headers)");
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) {
                   return static_cast<char>(std::tolower(c));
                 });
  static const char* reserved[] = {"host",         "content-length",
                                   "content-type", "transfer-encoding",
                                   "connection",   "idempotency-key"};
  for (const char* r : reserved)
    if (lower == r)
      return make_error(errc::invalid_config,
                        std::string{who}
                          .append(": header '")
                          .append(name)
                          .append("' is set by caf-saga"));
  if (lower.rfind("saga-", 0) == 0)
    return make_error(errc::invalid_config,
                      who + ": headers named Saga-* are set by caf-saga");
  return {};
}

caf::error check_endpoint(const std::string& who, const std::string& action,
                          const char* op, const http_endpoint& e) {
  if (auto why = http_endpoint_problem(e); !why.empty())
    return make_error(errc::invalid_config,
                      who + ": route '" + action + "' " + op + ": " + why);
  return {};
}

} // namespace

caf::error check_http_participant(const std::string& name,
                                  const http_participant_config& cfg) {
  const auto who = "HTTP participant '" + name + "'";
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_config, who + ": " + why);
  };
  auto url = parse_http_url(cfg.base_url);
  if (!url)
    return bad("base_url: " + describe(url.error()));
  if (cfg.timeout.count() <= 0)
    return bad("timeout must be positive");
  if (cfg.still_working_max.count() <= 0)
    return bad("still_working_max must be positive");
  if (cfg.max_in_flight == 0 || cfg.max_in_flight > 1024)
    return bad("max_in_flight must be from 1 to 1024");
  if (cfg.queue_max > requests_max)
    return bad("queue_max must be at most " + std::to_string(requests_max));
  if (cfg.response_bytes_max < 1024 || cfg.response_bytes_max > (64u << 20))
    return bad("response_bytes_max must be from 1 KiB to 64 MiB");
  if (!url->tls
      && !(cfg.ca_file.empty() && cfg.cert_file.empty() && cfg.key_file.empty()
           && cfg.server_name.empty()))
    return bad("ca_file, cert_file, key_file and server_name need an "
               "https:// base_url");
  for (const auto& [h, v] : cfg.headers)
    if (auto err = check_header(who, h, v))
      return err;
  for (const auto& [action, route] : cfg.routes) {
    if (auto err = check_endpoint(who, action, "execute", route.execute))
      return err;
    if (auto err = check_endpoint(who, action, "compensate", route.compensate))
      return err;
  }
  return {};
}

caf::expected<participant_actor>
spawn_http_participant(caf::actor_system& sys, const std::string& name,
                       http_participant_config cfg) {
  if (auto err = check_http_participant(name, cfg))
    return err;
  auto origin = *parse_http_url(cfg.base_url);
  http_client_config cc;
  cc.origin = origin;
  cc.timeout = cfg.timeout;
  cc.max_in_flight = cfg.max_in_flight;
  cc.queue_max = cfg.queue_max;
  cc.response_bytes_max = cfg.response_bytes_max;
  cc.ca_file = cfg.ca_file;
  cc.cert_file = cfg.cert_file;
  cc.key_file = cfg.key_file;
  cc.server_name = cfg.server_name;
  auto client = http_client::make(std::move(cc));
  if (!client)
    return make_error(errc::invalid_config, "HTTP participant '" + name + "': "
                                              + describe(client.error()));
  auto h = sys.spawn(http_participant, name, std::move(cfg), std::move(origin),
                     std::move(*client));
  return caf::actor_cast<participant_actor>(h);
}

} // namespace saga::detail
