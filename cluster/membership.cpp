#include "cluster/membership.hpp"

#include <map>
#include <set>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/coordinator_impl.hpp"
#include "cluster/remote_participant.hpp"
#include "persistence/redis_directory.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"
#include "saga/supervisor.hpp"

namespace saga::detail {

namespace {

using clock_type = std::chrono::steady_clock;

/// One pass of the membership loop; `sync` waiters get their answer when
/// every request the pass made has answered.
struct pass {
  std::vector<caf::typed_response_promise<bool>> waiters;
  size_t outstanding = 0;
  /// Whether the pass renewed (or took) our lease; true without Redis.
  bool held = true;
};

/// A gateway this node talks to.
struct peer {
  std::string host;
  uint16_t port = 0;
  /// From the directory (0 for static peers).
  uint64_t epoch = 0;
  /// The node id its gateway reported (empty until connected).
  std::string node_id;
  gateway_actor gateway;
  bool connecting = false;
  /// Passes that wait for the connection under way.
  std::vector<std::shared_ptr<pass>> waiting;
};

struct membership_state {
  static inline const char* name = "saga.membership";
  membership_config cfg;
  directory_ptr dir;
  route_table_ptr routes;
  std::optional<redis_directory> store;
  /// By node id (directory) or "host:port" (static peers).
  std::map<std::string, peer> peers;
  /// Participant stand-ins this node registered, stopped with us (their
  /// pending requests would keep them alive until their timeouts).
  std::shared_ptr<std::map<std::string, participant_actor>> stand_ins
    = std::make_shared<std::map<std::string, participant_actor>>();
  /// Dead nodes whose sagas the coordinator is adopting right now.
  std::set<std::string> adopting;
  std::shared_ptr<pass> current;
  std::vector<caf::typed_response_promise<bool>> sync_waiters;
  bool held_lease = false;
  bool redis_down_logged = false;
  /// Whether the last call to Redis failed; dead members are adopted only
  /// from `adopt_from` on, a full lease after Redis answered again.
  bool redis_failed = false;
  clock_type::time_point adopt_from{};
  bool stopped = false;
};

using membership_pointer = membership_actor::stateful_pointer<membership_state>;

void done_one(const std::shared_ptr<pass>& p) {
  if (--p->outstanding > 0)
    return;
  for (auto& w : p->waiters)
    w.deliver(p->held);
  p->waiters.clear();
}

void drop_peer(membership_pointer self, peer& x) {
  if (!x.node_id.empty())
    self->state.routes->drop_node(x.node_id);
  if (x.gateway)
    self->demonitor(x.gateway.address());
  x.gateway = nullptr;
}

/// Registers a stand-in for every participant in `names` this node does
/// not host itself.
void stand_in_for(membership_pointer self,
                  const std::vector<std::string>& names) {
  auto& s = self->state;
  for (const auto& name : names) {
    if (s.routes->is_local(name) || s.stand_ins->count(name) > 0)
      continue;
    auto h = spawn_remote_participant(self->system(), name, s.routes,
                                      s.cfg.remote_timeout, s.cfg.chaos);
    s.stand_ins->emplace(name, h);
    s.dir->set_participant(name, h);
  }
}

/// Asks peer `key` what it hosts and updates the routes.
void ask_info(membership_pointer self, const std::string& key,
              const std::shared_ptr<pass>& p) {
  auto& s = self->state;
  auto i = s.peers.find(key);
  if (i == s.peers.end() || !i->second.gateway)
    return;
  ++p->outstanding;
  auto gw = i->second.gateway;
  self->request(gw, s.cfg.connect_timeout, info_atom::value)
    .then(
      [self, key, gw, p](std::string& text) {
        auto& s = self->state;
        auto i = s.peers.find(key);
        if (i != s.peers.end() && i->second.gateway == gw) {
          auto j = json::parse(text, nullptr, false);
          std::vector<std::string> names;
          // A peer's answer is input like any other: an id that is no
          // string (json::value would throw here) is not a node to route to.
          auto id_field = j.is_object() ? j.find("id") : j.end();
          if (j.is_object() && id_field != j.end() && id_field->is_string()
              && !id_field->get_ref<const std::string&>().empty()) {
            if (j.contains("participants") && j["participants"].is_array())
              for (const auto& n : j["participants"])
                if (n.is_string())
                  names.push_back(n.get<std::string>());
            auto id = j["id"].get<std::string>();
            if (!i->second.node_id.empty() && i->second.node_id != id)
              s.routes->drop_node(i->second.node_id);
            i->second.node_id = id;
            s.routes->set_node(id, gw, names);
            stand_in_for(self, names);
          }
        }
        done_one(p);
      },
      [self, key, gw, p](caf::error&) {
        // Hung or gone: stop routing to it; the next pass reconnects.
        auto& s = self->state;
        auto i = s.peers.find(key);
        if (i != s.peers.end() && i->second.gateway == gw)
          drop_peer(self, i->second);
        done_one(p);
      });
}

/// Connects to peer `key` (asynchronously, through the middleman).
void connect(membership_pointer self, const std::string& key,
             const std::shared_ptr<pass>& p) {
  auto& s = self->state;
  auto& x = s.peers[key];
  if (x.gateway)
    return;
  ++p->outstanding;
  x.waiting.push_back(p);
  if (x.connecting)
    return;
  x.connecting = true;
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, s.cfg.connect_timeout, caf::connect_atom::value, x.host,
              x.port)
    .then(
      [self, key](const caf::node_id&, caf::strong_actor_ptr& ptr,
                  const std::set<std::string>&) {
        auto& s = self->state;
        auto i = s.peers.find(key);
        if (i == s.peers.end())
          return;
        auto waiting = std::move(i->second.waiting);
        i->second.waiting.clear();
        i->second.connecting = false;
        if (ptr) {
          i->second.gateway = caf::actor_cast<gateway_actor>(ptr);
          self->monitor(i->second.gateway);
          for (auto& w : waiting)
            ask_info(self, key, w);
        }
        for (auto& w : waiting)
          done_one(w);
      },
      [self, key](caf::error&) {
        auto i = self->state.peers.find(key);
        if (i == self->state.peers.end())
          return;
        auto waiting = std::move(i->second.waiting);
        i->second.waiting.clear();
        i->second.connecting = false;
        for (auto& w : waiting)
          done_one(w);
      });
}

/// Has the coordinator adopt the sagas of dead node `rec`, then removes the
/// node from the directory once nothing of it is left.
void adopt(membership_pointer self, const node_record& rec) {
  auto& s = self->state;
  if (!s.cfg.coordinates || !s.adopting.insert(rec.id).second)
    return;
  auto coord = caf::actor_cast<local_coordinator_actor>(s.dir->coordinator());
  if (!coord) {
    s.adopting.erase(rec.id);
    return;
  }
  auto started = clock_type::now();
  // Bounded, so a coordinator that died meanwhile (its promise dropped)
  // does not block this node's adoption forever; a second walk over the
  // same node is harmless (adopt and resume are idempotent).
  self
    ->request(coord, std::chrono::minutes{5}, recover_atom::value, rec.id,
              rec.epoch + 1)
    .then(
      [self, rec, started](uint64_t n) {
        auto& s = self->state;
        s.adopting.erase(rec.id);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    clock_type::now() - started)
                    .count();
        if (n > 0)
          s.dir->stats()->failovers.fetch_add(1, std::memory_order_relaxed);
        if (n > 0)
          aout(self) << "caf-saga: node " << s.cfg.node_id << " resumed " << n
                     << " sagas of node " << rec.id << " (epoch " << rec.epoch
                     << ") in " << ms << " ms" << std::endl;
        if (s.store && !s.stopped)
          if (auto gone = s.store->forget(rec.id, rec.epoch); gone && *gone)
            aout(self) << "caf-saga: node " << rec.id << " left the directory"
                       << std::endl;
      },
      [self, rec](caf::error& err) {
        auto& s = self->state;
        s.adopting.erase(rec.id); // the next pass tries again
        aout(self) << "caf-saga: adopting the sagas of node " << rec.id
                   << " failed: " << describe(err) << std::endl;
      });
}

/// Publishes what renewing the lease found (see `node_health`).
void report_health(const membership_config& cfg,
                   const caf::expected<lease_status>& hb) {
  if (!cfg.health)
    return;
  auto& h = *cfg.health;
  h.redis_reachable = static_cast<bool>(hb);
  h.lease_held = hb && *hb != lease_status::replaced;
  if (h.lease_held)
    h.record_renewal();
}

/// Records this node's saga counts for the admin API's /metrics gauges.
void report_counts(const membership_config& cfg, redis_directory& store) {
  if (!cfg.health)
    return;
  auto counts = store.saga_counts(cfg.node_id);
  cfg.health->unfinished_sagas = counts ? counts->first : -1;
  cfg.health->failed_sagas = counts ? counts->second : -1;
}

/// Renews our lease and walks the directory; returns false if this node
/// must stop (replaced by a newer incarnation).
bool walk_directory(membership_pointer self, const std::shared_ptr<pass>& p) {
  auto& s = self->state;
  node_record me;
  me.id = s.cfg.node_id;
  me.host = s.cfg.host;
  me.port = s.cfg.port;
  me.epoch = s.cfg.epoch;
  me.coordinates = s.cfg.coordinates;
  me.admin = s.cfg.admin;
  me.participants = s.routes->local();
  auto hb = s.store->heartbeat(me, s.cfg.lease);
  report_health(s.cfg, hb);
  if (hb)
    report_counts(s.cfg, *s.store);
  if (!hb) {
    p->held = false;
    s.redis_failed = true;
    if (!s.redis_down_logged)
      aout(self) << "caf-saga: node " << me.id
                 << " cannot renew its lease: " << describe(hb.error())
                 << std::endl;
    s.redis_down_logged = true;
    return true;
  }
  s.redis_down_logged = false;
  if (s.redis_failed) {
    // Every lease may have run out while Redis was away, the live
    // members' too: give them a full lease of Redis to renew theirs
    // before any of them counts as dead.
    s.redis_failed = false;
    s.adopt_from = clock_type::now() + s.cfg.lease;
  }
  if (*hb == lease_status::replaced) {
    p->held = false;
    aout(self) << "caf-saga: node " << me.id << " (epoch " << me.epoch
               << ") was replaced by a newer incarnation; stopping"
               << std::endl;
    return false;
  }
  if (*hb == lease_status::taken && s.held_lease)
    aout(self) << "caf-saga: node " << me.id
               << " had lost its lease (paused or cut off) and took it again;"
                  " sagas adopted meanwhile are fenced"
               << std::endl;
  s.held_lease = true;
  auto members = s.store->list();
  if (!members) {
    s.redis_failed = true;
    return true;
  }
  bool may_adopt = clock_type::now() >= s.adopt_from;
  std::set<std::string> listed;
  for (const auto& rec : *members) {
    if (rec.id == me.id || rec.epoch == 0)
      continue;
    listed.insert(rec.id);
    auto& x = s.peers[rec.id];
    if (rec.alive) {
      if (x.epoch != rec.epoch || x.host != rec.host || x.port != rec.port) {
        drop_peer(self, x); // restarted or moved
        x.epoch = rec.epoch;
        x.host = rec.host;
        x.port = rec.port;
      }
      if (!x.gateway)
        connect(self, rec.id, p);
      else
        ask_info(self, rec.id, p);
    } else {
      drop_peer(self, x);
      if (may_adopt)
        adopt(self, rec);
    }
  }
  for (auto i = s.peers.begin(); i != s.peers.end();) {
    if (i->first.find(':') == std::string::npos
        && listed.count(i->first) == 0) {
      drop_peer(self, i->second);
      auto waiting = std::move(i->second.waiting);
      i = s.peers.erase(i);
      for (auto& w : waiting)
        done_one(w);
    } else {
      ++i;
    }
  }
  return true;
}

void run_pass(membership_pointer self) {
  auto& s = self->state;
  if (s.stopped)
    return;
  auto p = std::make_shared<pass>();
  p->outstanding = 1; // this function's own share
  p->waiters = std::move(s.sync_waiters);
  s.sync_waiters.clear();
  if (s.store && !walk_directory(self, p)) {
    s.stopped = true;
    if (s.cfg.on_replaced)
      s.cfg.on_replaced();
    done_one(p);
    return;
  }
  for (const auto& hp : s.cfg.peers) {
    auto& x = s.peers[hp];
    if (x.host.empty()) {
      auto colon = hp.rfind(':');
      x.host = hp.substr(0, colon);
      x.port = static_cast<uint16_t>(std::stoul(hp.substr(colon + 1)));
    }
    if (!x.gateway)
      connect(self, hp, p);
    else
      ask_info(self, hp, p);
  }
  done_one(p);
}

membership_actor::behavior_type membership(membership_pointer self,
                                           membership_config cfg,
                                           directory_ptr dir,
                                           route_table_ptr routes) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.cfg = std::move(cfg);
  s.dir = std::move(dir);
  s.routes = std::move(routes);
  if (s.cfg.redis)
    s.store.emplace(*s.cfg.redis, s.cfg.io_timeout);
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [key, x] : self->state.peers)
      if (x.gateway && x.gateway.address() == msg.source) {
        self->state.routes->drop_node(x.node_id);
        x.gateway = nullptr;
      }
  });
  self->attach_functor([stand_ins = s.stand_ins](const caf::error&) {
    for (auto& [name, h] : *stand_ins)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  });
  self->send(self, tick_atom::value);
  return {
    [self](tick_atom) {
      run_pass(self);
      auto& s = self->state;
      if (!s.stopped)
        self->delayed_send(self, s.cfg.lease / 4, tick_atom::value);
    },
    [self](sync_atom) -> caf::result<bool> {
      if (self->state.stopped)
        return false; // replaced: no more passes
      // An extra pass now, rather than waiting for the timer.
      auto rp = self->make_response_promise<bool>();
      self->state.sync_waiters.push_back(rp);
      run_pass(self);
      return rp;
    },
  };
}

} // namespace

membership_actor spawn_membership(caf::actor_system& sys, membership_config cfg,
                                  directory_ptr dir, route_table_ptr routes) {
  return sys.spawn<caf::detached>(membership, std::move(cfg), std::move(dir),
                                  std::move(routes));
}

} // namespace saga::detail
