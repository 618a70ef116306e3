#include "saga/supervisor.hpp"

#include <algorithm>
#include <deque>
#include <list>
#include <set>
#include <unordered_map>
#include <vector>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "saga/errc.hpp"

namespace saga {

void keep_crash_reason(caf::scheduled_actor* self) {
  self->set_exception_handler([](std::exception_ptr& eptr) -> caf::error {
    try {
      std::rethrow_exception(eptr);
    } catch (const std::exception& e) {
      return caf::make_error(caf::sec::runtime_error, e.what());
    } catch (...) {
      return caf::make_error(caf::sec::runtime_error, "non-standard exception");
    }
  });
}

bool is_normal_exit(const caf::error& reason) noexcept {
  return !reason || reason == caf::exit_reason::normal
         || reason == caf::exit_reason::user_shutdown
         || reason == caf::exit_reason::unreachable;
}

namespace {

using clock_type = caf::actor_clock;
using time_point = clock_type::time_point;
using std::chrono::milliseconds;

enum class phase : uint8_t {
  /// An incarnation runs.
  running,
  /// We asked it to stop and wait for its down message.
  stopping,
  /// Waiting for the restart timer.
  restarting,
  /// Not running and not coming back.
  stopped,
};

struct child {
  child_spec spec;
  caf::actor handle;
  phase ph = phase::stopped;
  /// Restarts of this child inside the current window. A vector: an empty
  /// std::deque allocates 576 bytes, once per saga actor here.
  std::vector<time_point> restarts;
  size_t total_restarts = 0;
  bool dynamic = false;
  std::list<std::string>::iterator pos;
};

/// Stops children one after the other (reverse start order, each within its
/// shutdown timeout, then killed), then runs `then`.
struct stop_sequence {
  std::deque<std::string> queue;
  std::string current;
  std::function<void()> then;
};

struct supervisor_state {
  static inline const char* name = "saga.supervisor";
  supervisor_config cfg;
  std::unordered_map<std::string, child> children;
  std::list<std::string> order;
  std::unordered_map<caf::actor_addr, std::string> by_addr;
  std::vector<time_point> restarts;
  /// Children waiting for the restart timer of each generation.
  std::unordered_map<uint64_t, std::vector<std::string>> to_restart;
  uint64_t restart_gen = 0;
  std::optional<stop_sequence> stopping;
  uint64_t stop_gen = 0;
  /// Ends of children (name, why) that happened during a stop sequence,
  /// handled after it.
  std::deque<std::pair<std::string, caf::down_msg>> deferred;
  bool shutting_down = false;
  /// Replies to terminate_child that wait for the child's end.
  std::unordered_map<std::string, caf::typed_response_promise<bool>>
    terminating;
  /// Running children, shared with the termination functor that kills them
  /// if the supervisor itself dies without stopping them.
  std::shared_ptr<std::set<caf::actor>> live
    = std::make_shared<std::set<caf::actor>>();
};

using supervisor_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

void handle_down(supervisor_pointer self, caf::down_msg& msg);
void child_ended(supervisor_pointer self, const std::string& name,
                 caf::down_msg& msg);

/// Forgets the window entries older than `window`.
void trim(std::vector<time_point>& xs, time_point now, milliseconds window) {
  auto recent = std::find_if(xs.begin(), xs.end(),
                             [&](time_point t) { return now - t <= window; });
  xs.erase(xs.begin(), recent); // few: at most the restart intensity
}

/// Starts the child `name`; returns false if its start function failed.
bool start_child(supervisor_pointer self, const std::string& name,
                 caf::error* why = nullptr) {
  auto& s = self->state;
  auto i = s.children.find(name);
  if (i == s.children.end())
    return true;
  auto& c = i->second;
  caf::expected<caf::actor> h = make_error(errc::child_start_failed,
                                           "no start function");
  if (c.spec.start)
    h = c.spec.start(self->system());
  if (!h || !*h) {
    auto err = h ? make_error(errc::child_start_failed,
                              "child '" + name + "' started nothing")
                 : make_error(errc::child_start_failed,
                              "child '" + name
                                + "' failed to start: " + describe(h.error()));
    if (why != nullptr)
      *why = err;
    c.ph = phase::stopped;
    return false;
  }
  c.handle = *h;
  c.ph = phase::running;
  self->monitor(c.handle);
  s.by_addr[c.handle.address()] = name;
  s.live->insert(c.handle);
  return true;
}

void forget(supervisor_pointer self, const std::string& name) {
  auto& s = self->state;
  auto i = s.children.find(name);
  if (i == s.children.end())
    return;
  if (i->second.handle)
    s.by_addr.erase(i->second.handle.address());
  s.order.erase(i->second.pos);
  s.children.erase(i);
}

void run_stop_sequence(supervisor_pointer self);

/// Stops `names` (given in start order) in reverse order, then runs `then`.
void stop_children(supervisor_pointer self, std::vector<std::string> names,
                   std::function<void()> then) {
  auto& s = self->state;
  stop_sequence seq;
  for (auto i = names.rbegin(); i != names.rend(); ++i)
    seq.queue.push_back(*i);
  seq.then = std::move(then);
  s.stopping = std::move(seq);
  run_stop_sequence(self);
}

void run_stop_sequence(supervisor_pointer self) {
  auto& s = self->state;
  while (s.stopping && !s.stopping->queue.empty()) {
    auto name = s.stopping->queue.front();
    s.stopping->queue.pop_front();
    auto i = s.children.find(name);
    if (i == s.children.end() || i->second.ph != phase::running) {
      if (i != s.children.end() && i->second.ph == phase::restarting)
        i->second.ph = phase::stopped;
      continue;
    }
    auto& c = i->second;
    c.ph = phase::stopping;
    s.stopping->current = name;
    self->send_exit(c.handle, caf::exit_reason::user_shutdown);
    self->delayed_send(self, c.spec.shutdown_timeout, stop_timer_atom::value,
                       ++s.stop_gen);
    return; // continue on its down message or the timer
  }
  if (!s.stopping)
    return;
  auto then = std::move(s.stopping->then);
  s.stopping.reset();
  if (then)
    then();
  // Crashes that happened meanwhile.
  while (!s.stopping && !s.deferred.empty()) {
    auto [name, msg] = std::move(s.deferred.front());
    s.deferred.pop_front();
    child_ended(self, name, msg);
  }
}

/// Stops every child in reverse order and exits with `reason`.
void shut_down(supervisor_pointer self, const caf::error& reason) {
  auto& s = self->state;
  if (s.shutting_down)
    return;
  s.shutting_down = true;
  s.to_restart.clear();
  ++s.restart_gen; // cancels a pending restart
  std::vector<std::string> names(s.order.begin(), s.order.end());
  auto finish = [self, reason] { self->quit(reason); };
  if (s.stopping) {
    // Let the current sequence end, dropping what it would have done next
    // (a restart); then stop the rest.
    s.stopping->then = [self, names, finish] {
      stop_children(self, names, finish);
    };
    return;
  }
  stop_children(self, names, finish);
}

milliseconds backoff_for(const supervisor_config& cfg, size_t nth_restart) {
  auto d = cfg.initial_backoff;
  for (size_t k = 1; k < nth_restart && d < cfg.max_backoff; ++k)
    d *= 2;
  return std::min(d, cfg.max_backoff);
}

/// Restarts `names` (in start order) after `delay`.
void schedule_restart(supervisor_pointer self,
                      const std::vector<std::string>& names,
                      milliseconds delay) {
  auto& s = self->state;
  for (auto& n : names) {
    auto i = s.children.find(n);
    if (i != s.children.end())
      i->second.ph = phase::restarting;
  }
  s.to_restart[++s.restart_gen] = names;
  self->delayed_send(self, delay, restart_atom::value, s.restart_gen);
}

void on_restart_timer(supervisor_pointer self, uint64_t gen) {
  auto& s = self->state;
  auto p = s.to_restart.find(gen);
  if (p == s.to_restart.end() || s.shutting_down)
    return;
  // Start in the supervisor's order, not in crash order.
  auto pending = std::move(p->second);
  s.to_restart.erase(p);
  std::vector<std::pair<std::string, caf::error>> failed;
  for (const auto& name : s.order) {
    if (std::find(pending.begin(), pending.end(), name) == pending.end())
      continue;
    auto i = s.children.find(name);
    if (i == s.children.end() || i->second.ph != phase::restarting)
      continue;
    caf::error why;
    if (!start_child(self, name, &why)) {
      i->second.ph = phase::running;
      failed.emplace_back(name, why);
    }
  }
  // A failed restart is a crash of that child.
  for (auto& [name, why] : failed) {
    auto i = s.children.find(name);
    if (i == s.children.end() || i->second.ph != phase::running)
      continue;
    caf::down_msg fake{caf::actor_addr{}, why};
    child_ended(self, name, fake);
  }
}

void handle_down(supervisor_pointer self, caf::down_msg& msg) {
  auto& s = self->state;
  if (!msg.source)
    return;
  auto a = s.by_addr.find(msg.source);
  if (a == s.by_addr.end())
    return; // an old incarnation, or not ours
  auto name = a->second;
  s.by_addr.erase(a);
  child_ended(self, name, msg);
}

void child_ended(supervisor_pointer self, const std::string& name,
                 caf::down_msg& msg) {
  auto& s = self->state;
  auto i = s.children.find(name);
  if (i == s.children.end())
    return;
  auto& c = i->second;
  s.live->erase(c.handle);
  c.handle = nullptr;
  // Ends we asked for.
  if (s.stopping && s.stopping->current == name && c.ph == phase::stopping) {
    c.ph = phase::stopped;
    s.stopping->current.clear();
    if (auto t = s.terminating.find(name); t != s.terminating.end()) {
      t->second.deliver(true);
      s.terminating.erase(t);
      forget(self, name);
    }
    run_stop_sequence(self);
    return;
  }
  if (s.shutting_down) {
    c.ph = phase::stopped;
    return;
  }
  if (s.stopping) {
    // Decide after the running sequence; keep its reason.
    c.ph = phase::stopped;
    s.deferred.emplace_back(name, std::move(msg));
    return;
  }
  auto normal = is_normal_exit(msg.reason);
  if (c.spec.restart == restart_type::temporary
      || (c.spec.restart == restart_type::transient && normal)) {
    c.ph = phase::stopped;
    if (c.dynamic)
      forget(self, name);
    return;
  }
  auto now = self->clock().now();
  // A child with its own intensity is given up alone.
  if (c.spec.own_intensity) {
    trim(c.restarts, now, c.spec.own_intensity->window);
    if (c.restarts.size() >= c.spec.own_intensity->max_restarts) {
      aout(self) << "caf-saga: " << s.cfg.name << ": giving up child '" << name
                 << "' after " << c.total_restarts
                 << " restarts: " << describe(msg.reason) << std::endl;
      auto give_up = c.spec.on_give_up;
      forget(self, name);
      if (give_up)
        give_up(msg.reason);
      return;
    }
  } else {
    trim(s.restarts, now, s.cfg.intensity.window);
    if (s.restarts.size() >= s.cfg.intensity.max_restarts) {
      auto reason
        = make_error(errc::restart_intensity,
                     s.cfg.name + ": more than "
                       + std::to_string(s.cfg.intensity.max_restarts)
                       + " restarts within "
                       + std::to_string(s.cfg.intensity.window.count())
                       + "ms; last: child '" + name
                       + "': " + describe(msg.reason));
      aout(self) << "caf-saga: " << describe(reason) << std::endl;
      c.ph = phase::stopped;
      shut_down(self, reason);
      return;
    }
    s.restarts.push_back(now);
  }
  trim(c.restarts, now,
       c.spec.own_intensity ? c.spec.own_intensity->window
                            : s.cfg.intensity.window);
  c.restarts.push_back(now);
  ++c.total_restarts;
  auto delay = backoff_for(s.cfg, c.restarts.size());
  if (s.cfg.on_restart)
    s.cfg.on_restart(name, msg.reason, c.total_restarts);
  else
    aout(self) << "caf-saga: " << s.cfg.name << ": restarting child '" << name
               << "' (restart #" << c.total_restarts << ", in " << delay.count()
               << "ms): " << describe(msg.reason) << std::endl;
  c.ph = phase::restarting;
  // Which siblings go down and come back with it.
  std::vector<std::string> group;
  auto after = false;
  for (const auto& n : s.order) {
    auto take = s.cfg.strategy == restart_strategy::one_for_all
                || (s.cfg.strategy == restart_strategy::rest_for_one && after)
                || n == name;
    if (n == name)
      after = true;
    if (take)
      group.push_back(n);
  }
  std::vector<std::string> siblings;
  std::vector<std::string> back;
  for (const auto& n : group) {
    if (n != name && s.children[n].ph == phase::running)
      siblings.push_back(n);
    if (s.children[n].spec.restart != restart_type::temporary)
      back.push_back(n);
  }
  if (siblings.empty()) {
    schedule_restart(self, back, delay);
    return;
  }
  stop_children(self, siblings,
                [self, back, delay] { schedule_restart(self, back, delay); });
}

supervisor_actor::behavior_type supervisor(supervisor_pointer self,
                                           supervisor_config cfg,
                                           std::vector<child_spec> specs) {
  keep_crash_reason(self);
  auto& s = self->state;
  s.cfg = std::move(cfg);
  self->set_down_handler(
    [self](caf::down_msg& msg) { handle_down(self, msg); });
  // Children are monitored, not linked: a child's normal end must not look
  // like a request to stop. If we die without stopping them (an exception,
  // a kill), they die with us.
  self->attach_functor([live = s.live](const caf::error&) {
    for (const auto& child : *live)
      caf::anon_send_exit(child, caf::exit_reason::kill);
    live->clear();
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (is_normal_exit(msg.reason)
        && msg.reason != caf::exit_reason::user_shutdown)
      return; // a linked actor ended normally; nobody asked us to stop
    if (msg.reason == caf::exit_reason::kill)
      self->quit(msg.reason);
    else
      shut_down(self, msg.reason);
  });
  // Ordered start; a failure stops the ones already running.
  for (auto& spec : specs) {
    auto name = spec.name;
    if (name.empty() || s.children.count(name) > 0) {
      shut_down(self,
                make_error(errc::child_start_failed,
                           "child name '" + name + "' is empty or not unique"));
      break;
    }
    s.order.push_back(name);
    auto& c = s.children[name];
    c.spec = std::move(spec);
    c.pos = std::prev(s.order.end());
    caf::error why;
    if (!start_child(self, name, &why)) {
      shut_down(self, why);
      break;
    }
  }
  return {
    [self](start_child_atom, child_spec& spec) -> caf::result<caf::actor> {
      auto& s = self->state;
      if (s.shutting_down)
        return make_error(errc::shutting_down, s.cfg.name + " stops");
      auto name = spec.name;
      if (name.empty() || s.children.count(name) > 0)
        return make_error(errc::child_start_failed,
                          "child name '" + name + "' is empty or taken");
      s.order.push_back(name);
      auto& c = s.children[name];
      c.spec = std::move(spec);
      c.dynamic = true;
      c.pos = std::prev(s.order.end());
      caf::error why;
      if (!start_child(self, name, &why)) {
        forget(self, name);
        return why;
      }
      return s.children[name].handle;
    },
    [self](terminate_child_atom, const std::string& name) -> caf::result<bool> {
      auto& s = self->state;
      auto i = s.children.find(name);
      if (i == s.children.end())
        return false;
      if (i->second.ph != phase::running) {
        forget(self, name);
        return true;
      }
      auto rp = self->make_response_promise<bool>();
      s.terminating.emplace(name, rp);
      if (s.stopping)
        s.stopping->queue.push_back(name);
      else
        stop_children(self, {name}, [] {});
      return rp;
    },
    [self](which_child_atom,
           const std::string& name) -> caf::result<caf::actor> {
      auto& s = self->state;
      auto i = s.children.find(name);
      if (i == s.children.end() || i->second.ph != phase::running)
        return make_error(errc::unknown_child,
                          s.cfg.name + " has no running child '" + name + "'");
      return i->second.handle;
    },
    [self](count_children_atom) {
      uint64_t n = 0;
      for (const auto& kvp : self->state.children)
        if (kvp.second.ph == phase::running)
          ++n;
      return n;
    },
    [self](restart_atom, uint64_t gen) { on_restart_timer(self, gen); },
    [self](stop_timer_atom, uint64_t gen) {
      auto& s = self->state;
      if (!s.stopping || gen != s.stop_gen || s.stopping->current.empty())
        return;
      auto i = s.children.find(s.stopping->current);
      if (i != s.children.end() && i->second.handle) {
        aout(self) << "caf-saga: " << s.cfg.name << ": child '"
                   << s.stopping->current
                   << "' did not stop in time; killing it" << std::endl;
        self->send_exit(i->second.handle, caf::exit_reason::kill);
      }
    },
  };
}

} // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg,
                                  std::vector<child_spec> children) {
  return sys.spawn(supervisor, std::move(cfg), std::move(children));
}

} // namespace saga
