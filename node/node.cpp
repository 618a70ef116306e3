#include "saga/node.hpp"

#include <atomic>
#include <cctype>
#include <iostream>
#include <mutex>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/runtime_access.hpp"
#include "actors/scheduler_config.hpp"
#include "admin/dashboard_assets.hpp"
#include "admin/http_server.hpp"
#include "admin/node_backend.hpp"
#include "cluster/gateway.hpp"
#include "cluster/membership.hpp"
#include "cluster/routes.hpp"
#include "node/fault_injection.hpp"
#include "persistence/redis_directory.hpp"
#include "persistence/redis_url.hpp"
#include "saga/errc.hpp"

namespace saga {

namespace {

/// Returns `err` with `where` put before its message, keeping its code, so
/// that a wrapped error names its code once ("saga::invalid_url: redis_url:
/// journal URL ..."), not twice.
caf::error located(const caf::error& err, const std::string& where) {
  const auto& ctx = err.context();
  if (err.category() != error_category() || ctx.size() != 1
      || !ctx.match_element<std::string>(0))
    return make_error(errc::invalid_config, where + describe(err));
  return make_error(static_cast<errc>(err.code()),
                    where + ctx.get_as<std::string>(0));
}

} // namespace

caf::error node_config::validate() const {
  if (node_id.empty())
    return make_error(errc::invalid_config, "node_id is empty");
  for (auto c : node_id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_'
        && c != '-')
      return make_error(
        errc::invalid_config,
        "node_id '" + node_id
          + "' may hold only letters, digits, '.', '_' and '-'");
  if (host.empty())
    return make_error(errc::invalid_config, "host is empty");
  for (const auto& p : peers) {
    auto colon = p.rfind(':');
    unsigned long port = 0;
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < p.size();
    if (ok) {
      for (size_t i = colon + 1; i < p.size(); ++i)
        ok = ok && std::isdigit(static_cast<unsigned char>(p[i]));
      if (ok && p.size() - colon - 1 <= 5)
        port = std::stoul(p.substr(colon + 1));
    }
    if (!ok || port == 0 || port > 65535)
      return make_error(errc::invalid_config,
                        "peer '" + p + "' is not host:port");
  }
  if (!redis_url.empty())
    if (auto ep = parse_redis_url(redis_url); !ep)
      return located(ep.error(), "redis_url: ");
  if (admin.enabled && admin.host.empty())
    return make_error(errc::invalid_config, "admin.host is empty");
  if (admin.max_body == 0)
    return make_error(errc::invalid_config, "admin.max_body must be positive");
  if (admin.max_connections == 0)
    return make_error(errc::invalid_config,
                      "admin.max_connections must be positive");
  if (admin.idle_timeout.count() <= 0)
    return make_error(errc::invalid_config,
                      "admin.idle_timeout must be positive");
  if (admin.audit_retention.count() <= 0
      || admin.audit_retention > std::chrono::hours{24 * 3660})
    return make_error(errc::invalid_config,
                      "admin.audit_retention must be positive and at most "
                      "10 years");
  if (lease < std::chrono::milliseconds{100})
    return make_error(errc::invalid_config, "lease must be at least 100ms");
  if (remote_timeout.count() <= 0)
    return make_error(errc::invalid_config, "remote_timeout must be positive");
  if (heartbeat_interval.count() <= 0
      || connection_timeout <= heartbeat_interval)
    return make_error(errc::invalid_config,
                      "heartbeat_interval must be positive and below "
                      "connection_timeout");
  return caf::none;
}

struct node::impl {
  node_config cfg;
  caf::error start_error;
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<runtime> rt;
  detail::route_table_ptr routes = std::make_shared<detail::route_table>();
  gateway_actor gateway;
  detail::membership_actor membership;
  std::unique_ptr<detail::admin_server> admin;
  /// The membership's last lease renewal, for the admin API's /healthz.
  std::shared_ptr<detail::node_health> health
    = std::make_shared<detail::node_health>();
  /// Off unless a test hook set it (node/fault_injection.hpp).
  detail::fault_injection faults;
  uint16_t port = 0;
  uint64_t epoch = 0;
  std::mutex mtx;
  std::function<void()> on_replaced;
  /// Set by the membership actor's thread when a newer incarnation of our
  /// id took over.
  std::atomic<bool> replaced{false};
  bool started = false;
  bool stopped = false;
};

node::node(node_config cfg) : impl_(std::make_unique<impl>()) {
  auto& d = *impl_;
  d.cfg = std::move(cfg);
  if (auto err = d.cfg.validate()) {
    d.start_error = std::move(err);
    return;
  }
  // Journal to the directory's Redis unless told otherwise.
  auto rcfg = d.cfg.runtime;
  if (!d.cfg.redis_url.empty() && rcfg.journal_url == "memory://")
    rcfg.journal_url = d.cfg.redis_url;
  rcfg.journal.node_id = d.cfg.node_id;
  if (auto err = rcfg.validate()) {
    d.start_error = std::move(err);
    return;
  }
  auto epoch = allocate_epoch(d.cfg.redis_url.empty() ? rcfg.journal_url
                                                      : d.cfg.redis_url,
                              rcfg.journal);
  if (!epoch) {
    d.start_error = std::move(epoch.error());
    return;
  }
  d.epoch = *epoch;
  rcfg.journal.epoch = d.epoch;
  add_message_types(d.sys_cfg);
  d.sys_cfg.load<caf::io::middleman>();
  d.sys_cfg.set("middleman.heartbeat-interval",
                caf::timespan{d.cfg.heartbeat_interval});
  d.sys_cfg.set("middleman.connection-timeout",
                caf::timespan{d.cfg.connection_timeout});
  detail::configure_scheduler(d.sys_cfg, rcfg.scheduler_threads);
  d.sys = std::make_unique<caf::actor_system>(d.sys_cfg);
  d.rt = std::make_unique<runtime>(*d.sys, rcfg);
  if (d.rt->start_error())
    d.start_error = d.rt->start_error();
}

node::~node() {
  stop();
}

const caf::error& node::start_error() const noexcept {
  return impl_->start_error;
}

participant_builder& node::participant(const std::string& name) {
  impl_->routes->add_local(name);
  return impl_->rt->participant(name);
}

caf::error node::http_participant(const std::string& name,
                                  const http_participant_config& cfg) {
  if (auto err = impl_->rt->http_participant(name, cfg))
    return err;
  impl_->routes->add_local(name);
  return {};
}

runtime& node::rt() {
  return *impl_->rt;
}

uint16_t node::port() const noexcept {
  return impl_->port;
}

uint16_t node::admin_port() const noexcept {
  return impl_->admin ? impl_->admin->port() : 0;
}

uint64_t node::epoch() const noexcept {
  return impl_->epoch;
}

void node::on_replaced(std::function<void()> callback) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->on_replaced = std::move(callback);
}

namespace {

/// How long `start()` waits for its first lease at most, in leases: a busy
/// Redis may miss a few heartbeats' I/O timeouts (a quarter lease each).
constexpr int lease_wait_max_leases = 20;

/// Runs membership passes until one took our lease; returns an error if a
/// newer incarnation took over meanwhile or none did within
/// `lease_wait_max_leases`. Our record must name our epoch before we walk
/// our own index (`recover()`): from then on an older incarnation of our id
/// can list no new saga (see the listing script in
/// persistence/redis_journal.cpp), so the walk sees every saga it still
/// could start. Walking earlier let a replaced process that still served
/// list sagas behind the walk, orphans nobody would adopt (found by the
/// same-id overlap test under load, where heartbeats miss their I/O
/// timeout). A pass also connects the peers, so that sagas started or
/// resumed next find their participants.
caf::error await_lease(caf::actor_system& sys,
                       const detail::membership_actor& membership,
                       const node_config& cfg, uint64_t epoch,
                       const std::atomic<bool>& replaced) {
  auto wait_max = cfg.lease * lease_wait_max_leases;
  auto deadline = std::chrono::steady_clock::now() + wait_max;
  caf::scoped_actor self{sys};
  for (;;) {
    bool held = false;
    self->request(membership, caf::infinite, detail::sync_atom::value)
      .receive([&](bool ok) { held = ok; }, [](caf::error&) {});
    if (held)
      return caf::none;
    if (replaced)
      return make_error(errc::fenced, "node " + cfg.node_id + " (epoch "
                                        + std::to_string(epoch)
                                        + ") was replaced while starting");
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(errc::journal_failure,
                        "node " + cfg.node_id
                          + " could not take its lease within "
                          + std::to_string(wait_max.count())
                          + " ms (is Redis answering?)");
    // A pass that failed on Redis answers at once: pace the next one.
    std::this_thread::sleep_for(cfg.lease / 8);
  }
}

} // namespace

caf::error node::start() {
  auto& d = *impl_;
  if (d.start_error)
    return d.start_error;
  if (d.started)
    return caf::none;
  d.started = true;
  detail::gateway_identity id{d.cfg.node_id, d.epoch, d.cfg.coordinate,
                              d.cfg.runtime.max_payload_bytes};
  // Runs that arrive before the first membership pass found the cluster
  // (a client reconnecting to a restarted node) wait for it, and for a
  // participant node being connected, rather than being refused. start()
  // opens the gate once a pass took the lease (await_lease), or fails
  // within lease_wait_max_leases leases; the gate's own bound is as long,
  // so that a slow first pass (a busy machine: a hold of one lease plus a
  // connection timeout let runs through before it, refused as
  // unknown_participant) never opens it early.
  id.hold_runs = d.cfg.lease * lease_wait_max_leases + d.cfg.connection_timeout;
  d.gateway = detail::spawn_gateway(*d.sys, id,
                                    detail::runtime_access::directory_of(*d.rt),
                                    d.routes);
  auto port = d.sys->middleman().publish(d.gateway, d.cfg.port,
                                         d.cfg.host.c_str(), true);
  if (!port) {
    d.start_error = make_error(errc::invalid_config,
                               "cannot listen on " + d.cfg.host + ":"
                                 + std::to_string(d.cfg.port) + ": "
                                 + describe(port.error()));
    return d.start_error;
  }
  d.port = *port;
  if (d.cfg.admin.enabled && !d.cfg.redis_url.empty()) {
    detail::node_backend_config bc;
    bc.node_id = d.cfg.node_id;
    bc.redis = *parse_redis_url(d.cfg.redis_url);
    bc.io_timeout = d.cfg.runtime.journal.io_timeout;
    bc.token = d.cfg.admin.token;
    bc.health = d.health;
    bc.lease = d.cfg.lease;
    bc.epoch = d.epoch;
    bc.audit_retention = d.cfg.admin.audit_retention;
    detail::admin_server_config sc;
    sc.host = d.cfg.admin.host;
    sc.port = d.cfg.admin.port;
    sc.token = d.cfg.admin.token;
    sc.max_body = d.cfg.admin.max_body;
    sc.max_connections = d.cfg.admin.max_connections;
    sc.io_timeout = d.cfg.admin.idle_timeout;
    sc.assets = detail::dashboard_assets();
    auto server = detail::admin_server::start(
      std::move(sc), std::make_shared<detail::node_backend>(*d.rt, bc));
    if (!server) {
      d.start_error = located(server.error(), "admin API: ");
      return d.start_error;
    }
    d.admin = std::move(*server);
  }
  detail::membership_config mc;
  if (d.admin)
    mc.admin = d.cfg.admin.host + ":" + std::to_string(d.admin->port());
  mc.node_id = d.cfg.node_id;
  mc.epoch = d.epoch;
  mc.host = d.cfg.host;
  mc.port = d.port;
  mc.coordinates = d.cfg.coordinate;
  if (!d.cfg.redis_url.empty())
    mc.redis = *parse_redis_url(d.cfg.redis_url);
  mc.peers = d.cfg.peers;
  mc.lease = d.cfg.lease;
  mc.health = d.health;
  // A heartbeat stuck on a slow Redis must not outlast our own lease.
  mc.io_timeout = std::min(d.cfg.runtime.journal.io_timeout, d.cfg.lease / 4);
  mc.connect_timeout = d.cfg.connection_timeout;
  mc.remote_timeout = d.cfg.remote_timeout;
  mc.chaos = d.faults;
  auto* self_impl = &d;
  mc.on_replaced = [self_impl] {
    self_impl->replaced = true;
    std::function<void()> cb;
    {
      std::lock_guard<std::mutex> guard{self_impl->mtx};
      cb = self_impl->on_replaced;
    }
    if (cb)
      cb();
  };
  d.membership
    = detail::spawn_membership(*d.sys, std::move(mc),
                               detail::runtime_access::directory_of(*d.rt),
                               d.routes);
  if (auto err = await_lease(*d.sys, d.membership, d.cfg, d.epoch,
                             d.replaced)) {
    d.start_error = std::move(err);
    return d.start_error;
  }
  detail::open_gateway(d.gateway);
  if (d.cfg.coordinate) {
    // Sagas of our earlier incarnations.
    if (auto n = d.rt->recover(); n > 0)
      std::cout << "caf-saga: node " << d.cfg.node_id << " resumed " << n
                << " sagas of its earlier incarnations" << std::endl;
  }
  return caf::none;
}

caf::error detail::node_fault_injection::set(node& n, fault_injection faults) {
  if (auto err = faults.validate())
    return err;
  auto& d = *n.impl_;
  if (d.started)
    return make_error(errc::invalid_state,
                      "fault injection must be set before start()");
  d.faults = std::move(faults);
  return caf::none;
}

void node::stop() {
  auto& d = *impl_;
  if (d.stopped || !d.sys)
    return;
  d.stopped = true;
  if (d.membership)
    caf::anon_send_exit(d.membership, caf::exit_reason::user_shutdown);
  d.membership = nullptr;
  if (d.gateway) {
    d.sys->middleman().unpublish(d.gateway, d.port);
    caf::anon_send_exit(d.gateway, caf::exit_reason::kill); // see gateway.cpp
  }
  d.gateway = nullptr;
  if (d.admin)
    d.admin->stop(); // its backend borrows the runtime
  d.admin.reset();
  d.rt.reset(); // stops the sagas; they stay unfinished in the journal
  if (d.started && !d.cfg.redis_url.empty()) {
    // Let the survivors take over at once instead of after the lease.
    redis_directory dir{*parse_redis_url(d.cfg.redis_url),
                        d.cfg.runtime.journal.io_timeout};
    dir.release(d.cfg.node_id, d.epoch);
  }
  d.routes->clear();
  d.sys.reset();
}

} // namespace saga
