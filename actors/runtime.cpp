#include "saga/runtime.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_ostream.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/coordinator_impl.hpp"
#include "actors/directory.hpp"
#include "actors/local_participant.hpp"
#include "actors/runtime_access.hpp"
#include "actors/scheduler_config.hpp"
#include "http/http_participant.hpp"
#include "persistence/memory_journal.hpp"
#include "saga/errc.hpp"
#include "saga/gateway.hpp"
#include "saga/replay.hpp"

namespace saga {

namespace {

/// Returns an `invalid_config` error naming `field` if node id `id` is empty
/// or holds other characters than letters, digits, '.', '_' and '-'.
caf::error check_node_id(const std::string& id, const std::string& field) {
  if (id.empty())
    return make_error(errc::invalid_config, field + " is empty");
  auto allowed = [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-';
  };
  if (!std::all_of(id.begin(), id.end(), allowed))
    return make_error(errc::invalid_config,
                      field + " '" + id
                        + "' may hold only letters, digits, '.', '_' and '-'");
  return caf::none;
}

} // namespace

caf::error runtime_config::validate() const {
  if (journal_url.empty())
    return make_error(errc::invalid_config, "journal_url is empty");
  if (journal_timeout.count() <= 0)
    return make_error(errc::invalid_config, "journal_timeout must be positive");
  if (blocking_workers == 0)
    return make_error(errc::invalid_config,
                      "blocking_workers must be at least 1");
  if (recovery_concurrency == 0)
    return make_error(errc::invalid_config,
                      "recovery_concurrency must be at least 1");
  if (max_steps == 0)
    return make_error(errc::invalid_config, "max_steps must be at least 1");
  if (max_payload_bytes < 256)
    return make_error(errc::invalid_config,
                      "max_payload_bytes must be at least 256");
  if (max_active_sagas == 0)
    return make_error(errc::invalid_config,
                      "max_active_sagas must be at least 1");
  if (journal.writers == 0 || journal.max_batch == 0)
    return make_error(
      errc::invalid_config,
      "journal.writers and journal.max_batch must be at least 1");
  if (auto err = check_node_id(journal.node_id, "journal.node_id"))
    return err;
  if (saga_restarts.max_restarts == 0 || supervisor_restarts.max_restarts == 0)
    return make_error(errc::invalid_config,
                      "restart intensities must allow at least 1 restart");
  if (journal.retention.count() <= 0)
    return make_error(errc::invalid_config,
                      "journal.retention must be positive");
  return caf::none;
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<step_command>("saga::step_command");
  cfg.add_message_type<step_reply>("saga::step_reply");
  cfg.add_message_type<event>("saga::event");
  cfg.add_message_type<saga_result>("saga::saga_result");
  cfg.add_message_type<unfinished_page>("saga::unfinished_page");
  cfg.add_message_type<participant_actor>("saga::participant_actor");
  cfg.add_message_type<gateway_actor>("saga::gateway_actor");
  cfg.add_message_type<lifecycle_event>("saga::lifecycle_event");
  cfg.add_message_type<saga_status>("saga::saga_status");
  cfg.add_error_category(error_category(),
                         [](uint8_t code, caf::atom_value category,
                            const caf::message& context) {
                           return describe(caf::error{code, category, context});
                         });
}

namespace {

/// The participants supervisor (current incarnation) and the specs a new
/// incarnation of it restarts every participant from.
struct participant_tree {
  std::mutex mtx;
  supervisor_actor sup;
  std::vector<child_spec> specs;
};

/// Starts an incarnation of a participant (its restart function).
using participant_start
  = std::function<caf::expected<caf::actor>(caf::actor_system&)>;

} // namespace

/// What a runtime owns. The order of the members is the order of their
/// destruction, backwards: the handles go before the directory, the actor
/// system (already stopped by `~runtime`) before its config, which is last.
struct runtime::impl {
  std::unique_ptr<caf::actor_system_config> own_cfg;
  std::unique_ptr<caf::actor_system> own_sys;
  caf::actor_system* sys = nullptr;
  caf::error start_error;
  std::shared_ptr<detail::directory> dir;
  supervisor_actor root;
  std::shared_ptr<participant_tree> ptree;
  std::mutex participants_mtx;
  std::map<std::string, std::unique_ptr<participant_builder>> participants;
  size_t blocking_workers = 2;
  /// Sagas started through `execute` that have not been answered yet, and
  /// how many may be (`max_active_sagas + max_queued_sagas`).
  std::shared_ptr<std::atomic<size_t>> submitted
    = std::make_shared<std::atomic<size_t>>(0);
  size_t admission_limit = 0;
  std::mutex callbacks_mtx;
  std::vector<lifecycle_actor> callback_subscribers;
  std::chrono::milliseconds journal_timeout{3'000};
  /// adopt() takes another node's sagas owned with an epoch below this:
  /// this runtime's own epoch (every older incarnation), or every epoch.
  uint64_t adopt_below = std::numeric_limits<uint64_t>::max();

  /// Builds the supervision tree on `sys` (or sets `start_error`).
  void init(runtime_config cfg, journal_actor given_journal);
};

runtime::runtime(runtime_config cfg) : impl_(std::make_unique<impl>()) {
  auto& d = *impl_;
  d.own_cfg = std::make_unique<caf::actor_system_config>();
  add_message_types(*d.own_cfg);
  detail::configure_scheduler(*d.own_cfg, cfg.scheduler_threads);
  d.own_sys = std::make_unique<caf::actor_system>(*d.own_cfg);
  d.sys = d.own_sys.get();
  d.init(std::move(cfg), journal_actor{});
}

runtime::runtime(caf::actor_system& sys, runtime_config cfg)
  : impl_(std::make_unique<impl>()) {
  impl_->sys = &sys;
  impl_->init(std::move(cfg), journal_actor{});
}

runtime::runtime(caf::actor_system& sys, journal_actor journal,
                 runtime_config cfg)
  : impl_(std::make_unique<impl>()) {
  impl_->sys = &sys;
  impl_->init(std::move(cfg), std::move(journal));
}

namespace {

/// Returns a child spec whose first start adopts `first` (spawned before the
/// supervisor existed) and whose restarts call `restart`.
child_spec adopt_child(
  std::string name, caf::actor first,
  const std::function<caf::expected<caf::actor>(caf::actor_system&)>& restart) {
  auto pending = std::make_shared<caf::actor>(std::move(first));
  child_spec spec;
  spec.name = std::move(name);
  spec.start = [pending,
                restart](caf::actor_system& sys) -> caf::expected<caf::actor> {
    if (*pending) {
      auto h = std::move(*pending);
      *pending = nullptr;
      return h;
    }
    return restart(sys);
  };
  return spec;
}

} // namespace

void runtime::impl::init(runtime_config cfg, journal_actor given_journal) {
  auto& d = *this;
  d.dir = std::make_shared<detail::directory>();
  d.ptree = std::make_shared<participant_tree>();
  if (auto err = cfg.validate()) {
    d.start_error = std::move(err);
    return;
  }
  d.blocking_workers = cfg.blocking_workers;
  d.journal_timeout = cfg.journal_timeout;
  d.admission_limit = cfg.max_active_sagas + cfg.max_queued_sagas;
  cfg.journal.metrics = d.dir->stats();
  auto dir = d.dir;
  std::vector<child_spec> children;
  // -- the journal --------------------------------------------------------------
  if (given_journal) {
    d.dir->set_journal(std::move(given_journal)); // the caller's, unsupervised
    // Its epoch, if the caller said; otherwise adopt() takes every one.
    if (cfg.journal.epoch != 0)
      d.adopt_below = cfg.journal.epoch;
  } else {
    // One epoch for the runtime's life: a restarted journal must keep
    // writing as the same owner, or it would fence its own sagas.
    if (cfg.journal.epoch == 0) {
      auto epoch = allocate_epoch(cfg.journal_url, cfg.journal);
      if (!epoch) {
        d.start_error = std::move(epoch.error());
        return;
      }
      cfg.journal.epoch = *epoch;
    }
    d.adopt_below = cfg.journal.epoch;
    std::function<caf::expected<journal_actor>(caf::actor_system&)> make;
    if (cfg.journal_url == "memory://") {
      // Restarts must find the same histories: keep the store.
      auto store = std::make_shared<memory_store>();
      saga_owner owner{cfg.journal.node_id, cfg.journal.epoch};
      make = [store,
              owner](caf::actor_system& sys) -> caf::expected<journal_actor> {
        return spawn_memory_journal(sys, store, owner);
      };
    } else {
      make = [url = cfg.journal_url, opts = cfg.journal](
               caf::actor_system& sys) { return make_journal(sys, url, opts); };
    }
    auto first = make(*d.sys);
    if (!first) {
      d.start_error = std::move(first.error());
      return;
    }
    d.dir->set_journal(*first);
    children.push_back(
      adopt_child("journal", caf::actor_cast<caf::actor>(*first),
                  [make,
                   dir](caf::actor_system& sys) -> caf::expected<caf::actor> {
                    auto j = make(sys);
                    if (!j)
                      return j.error();
                    dir->set_journal(*j);
                    return caf::actor_cast<caf::actor>(*j);
                  }));
  }
  // -- the timer service (the first child: stopped last) ------------------------------
  // Spawned once nothing can fail any more: an actor outside the tree would
  // keep the actor system from shutting down.
  // A restarted service carries on with the same table of wake-ups.
  auto timer_table = detail::make_timer_table();
  auto first_timers = detail::spawn_timer_service(*d.sys, timer_table);
  d.dir->set_timers(first_timers);
  children
    .insert(children.begin(),
            adopt_child("timers", caf::actor_cast<caf::actor>(first_timers),
                        [dir, timer_table](
                          caf::actor_system& sys) -> caf::expected<caf::actor> {
                          auto h = detail::spawn_timer_service(sys,
                                                               timer_table);
                          dir->set_timers(h);
                          return caf::actor_cast<caf::actor>(h);
                        }));
  // -- the participants supervisor -------------------------------------------------
  supervisor_config psup;
  psup.name = "participants";
  psup.intensity = cfg.supervisor_restarts;
  auto first_psup = spawn_supervisor(*d.sys, psup, {});
  d.ptree->sup = first_psup;
  auto tree = d.ptree;
  children.push_back(
    adopt_child("participants", caf::actor_cast<caf::actor>(first_psup),
                [psup,
                 tree](caf::actor_system& sys) -> caf::expected<caf::actor> {
                  // A new incarnation starts every participant afresh.
                  std::lock_guard<std::mutex> guard{tree->mtx};
                  tree->sup = spawn_supervisor(sys, psup, tree->specs);
                  return caf::actor_cast<caf::actor>(tree->sup);
                }));
  // -- the coordinator and its saga supervisor -----------------------------------------
  auto first_coord = detail::spawn_coordinator(*d.sys, d.dir, cfg);
  d.dir->set_coordinator(caf::actor_cast<caf::actor>(first_coord));
  children.push_back(
    adopt_child("coordinator", caf::actor_cast<caf::actor>(first_coord),
                [dir,
                 cfg](caf::actor_system& sys) -> caf::expected<caf::actor> {
                  return caf::actor_cast<caf::actor>(
                    detail::spawn_coordinator(sys, dir, cfg));
                }));
  supervisor_config root_cfg;
  root_cfg.name = "root";
  root_cfg.intensity = cfg.supervisor_restarts;
  d.root = spawn_supervisor(*d.sys, root_cfg, std::move(children));
}

runtime::~runtime() {
  auto& d = *impl_;
  // Callback subscribers are ours; an application's actors are not.
  if (d.dir) {
    d.dir->lifecycle()->clear();
    std::lock_guard<std::mutex> guard{d.callbacks_mtx};
    for (auto& h : d.callback_subscribers)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    d.callback_subscribers.clear();
  }
  // Stop the tree (coordinator and sagas first, journal last). Unfinished
  // sagas stay in the journal.
  if (d.root)
    caf::anon_send_exit(d.root, caf::exit_reason::user_shutdown);
  else if (auto c = d.dir ? d.dir->coordinator() : caf::actor{})
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  if (d.own_sys)
    d.own_sys.reset(); // waits for every actor
  if (d.dir)
    d.dir->clear(); // breaks the cycle actor -> directory -> actor
}

const caf::error& runtime::start_error() const noexcept {
  return impl_->start_error;
}

caf::actor_system& runtime::system() noexcept {
  return *impl_->sys;
}

supervisor_actor runtime::root() const noexcept {
  return impl_->root;
}

journal_actor runtime::journal() const {
  return impl_->dir->journal();
}

coordinator_actor runtime::coordinator() const noexcept {
  return caf::actor_cast<coordinator_actor>(impl_->dir->coordinator());
}

namespace {

/// Puts participant `name` under the participants supervisor: `first`, its
/// incarnation running already, now; `restart` after a crash and for each
/// new incarnation of the supervisor (`tree.specs`).
void supervise_participant(participant_tree& tree, const std::string& name,
                           caf::actor first, const participant_start& restart) {
  std::lock_guard<std::mutex> guard{tree.mtx};
  child_spec fresh;
  fresh.name = name;
  fresh.start = restart;
  tree.specs.push_back(std::move(fresh));
  caf::anon_send(tree.sup, start_child_atom::value,
                 adopt_child(name, std::move(first), restart));
}

} // namespace

participant_builder& runtime::participant(const std::string& name) {
  auto& d = *impl_;
  std::lock_guard<std::mutex> guard{d.participants_mtx};
  auto i = d.participants.find(name);
  if (i != d.participants.end())
    return *i->second;
  auto registry = std::make_shared<detail::handler_registry>();
  auto builder = std::make_unique<participant_builder>(name, registry, d.dir);
  if (!d.start_error) {
    // The first incarnation now (so a saga started right after finds it);
    // its supervisor adopts it and starts new ones after crashes.
    auto spawn = [name, registry, dir = d.dir,
                  workers = d.blocking_workers](caf::actor_system& sys) {
      auto h = detail::spawn_local_participant(sys, name, registry, workers,
                                               dir);
      dir->set_participant(name, caf::actor_cast<participant_actor>(h), true);
      return caf::actor_cast<caf::actor>(h);
    };
    supervise_participant(*d.ptree, name, spawn(*d.sys),
                          [spawn](caf::actor_system& sys)
                            -> caf::expected<caf::actor> {
                            return spawn(sys);
                          });
  }
  return *d.participants.emplace(name, std::move(builder)).first->second;
}

caf::error runtime::http_participant(const std::string& name,
                                     const http_participant_config& cfg) {
  auto& d = *impl_;
  if (d.start_error)
    return d.start_error;
  if (auto err = detail::check_http_participant(name, cfg))
    return err;
  // Each incarnation: the HTTP actor behind a barrier, which is the
  // supervised child; the HTTP actor (and its client) ends with it.
  auto spawn = [name, cfg, dir = d.dir](
                 caf::actor_system& sys) -> caf::expected<caf::actor> {
    auto inner = detail::spawn_http_participant(sys, name, cfg);
    if (!inner)
      return inner.error();
    auto outer = detail::spawn_barrier(sys, *inner, dir);
    // They live and die together: the supervisor sees the barrier end
    // (with the HTTP actor's reason, if that one failed) and starts both.
    caf::actor_cast<caf::strong_actor_ptr>(outer)->get()->attach_functor(
      [inner = *inner](const caf::error&) {
        caf::anon_send_exit(inner, caf::exit_reason::user_shutdown);
      });
    caf::actor_cast<caf::strong_actor_ptr>(*inner)->get()->attach_functor(
      [outer = caf::actor_cast<caf::actor>(outer)](const caf::error& reason) {
        if (reason)
          caf::anon_send(outer, caf::exit_msg{outer.address(), reason});
      });
    dir->set_participant(name, outer, true);
    return caf::actor_cast<caf::actor>(outer);
  };
  std::lock_guard<std::mutex> guard{d.participants_mtx};
  if (d.participants.count(name) > 0 || d.dir->participant(name))
    return make_error(errc::invalid_config,
                      "participant '" + name + "' is declared already");
  auto first = spawn(*d.sys);
  if (!first)
    return first.error();
  supervise_participant(*d.ptree, name, std::move(*first), spawn);
  return {};
}

void runtime::register_participant(const std::string& name,
                                   participant_actor handle) {
  impl_->dir->set_participant(name, std::move(handle));
}

participant_actor runtime::with_barrier(participant_actor inner) {
  return detail::spawn_barrier(*impl_->sys, std::move(inner), impl_->dir);
}

std::future<saga_result> runtime::execute(const definition& def) {
  auto promise = std::make_shared<std::promise<saga_result>>();
  auto result = promise->get_future();
  execute(def, [promise](saga_result r) { promise->set_value(std::move(r)); });
  return result;
}

void runtime::execute(const definition& def, result_callback done) {
  auto& d = *impl_;
  if (d.start_error) {
    saga_result r;
    r.error = d.start_error;
    done(std::move(r));
    return;
  }
  // Backpressure at the door: a caller that starts sagas faster than they
  // end is refused here, at once and in its own thread, instead of filling
  // the coordinator's mailbox (which has no bound of its own).
  if (d.submitted->fetch_add(1, std::memory_order_relaxed)
      >= d.admission_limit) {
    d.submitted->fetch_sub(1, std::memory_order_relaxed);
    saga_result r;
    r.error = make_error(errc::overloaded,
                         std::to_string(d.admission_limit)
                           + " sagas were started and have not ended yet "
                             "(max_active_sagas + max_queued_sagas); try "
                             "again later");
    done(std::move(r));
    return;
  }
  auto wrapped = [submitted = d.submitted,
                  done = std::move(done)](saga_result r) {
    submitted->fetch_sub(1, std::memory_order_relaxed);
    done(std::move(r));
  };
  caf::anon_send(caf::actor_cast<detail::local_coordinator_actor>(
                   d.dir->coordinator()),
                 run_atom::value, def.snapshot(),
                 result_callback{std::move(wrapped)});
}

std::optional<saga::saga_log> runtime::saga_log(const saga_id& id) {
  auto& d = *impl_;
  auto journal = d.dir->journal();
  if (!journal)
    return std::nullopt;
  std::optional<saga::saga_log> result;
  caf::scoped_actor self{*d.sys};
  self->request(journal, d.journal_timeout, read_atom::value, id)
    .receive(
      [&](std::vector<event>& events) {
        auto st = replay(id, events);
        if (st)
          result = make_log(*st, std::move(events));
      },
      [&](caf::error&) {
        // unknown saga or unreadable journal: nothing to show
      });
  return result;
}

const metrics_ptr& runtime::stats() const noexcept {
  return impl_->dir->stats();
}

uint64_t runtime::subscribe(lifecycle_filter filter,
                            lifecycle_actor subscriber) {
  return impl_->dir->lifecycle()->subscribe(std::move(filter),
                                            std::move(subscriber));
}

uint64_t runtime::subscribe(lifecycle_filter filter,
                            lifecycle_callback callback) {
  auto& d = *impl_;
  auto h = d.sys->spawn(
    [cb = std::move(callback)]() -> lifecycle_actor::behavior_type {
      return {[cb](const lifecycle_event& ev) { cb(ev); }};
    });
  {
    std::lock_guard<std::mutex> guard{d.callbacks_mtx};
    d.callback_subscribers.push_back(h);
  }
  return d.dir->lifecycle()->subscribe(std::move(filter), h);
}

void runtime::unsubscribe(uint64_t id) {
  auto& d = *impl_;
  auto h = d.dir->lifecycle()->unsubscribe(id);
  if (!h)
    return;
  {
    std::lock_guard<std::mutex> guard{d.callbacks_mtx};
    auto& xs = d.callback_subscribers;
    auto i = std::find(xs.begin(), xs.end(), h);
    if (i == xs.end())
      return; // an actor's subscription: the caller owns that actor
    xs.erase(i);
  }
  // Returns only once the callback can no longer run: its owner may free
  // what the callback uses right after (node_backend's destructor did, while
  // the callback still recorded an event on another thread).
  caf::scoped_actor self{*d.sys};
  self->monitor(h);
  self->send_exit(h, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {});
}

namespace {

/// Returns the coordinator's answer to an operator call, waiting at most a
/// minute.
template <class Atom>
caf::expected<saga_status> operate(caf::actor_system& sys,
                                   const coordinator_actor& coord, Atom atom,
                                   const saga_id& id, const std::string& by) {
  caf::expected<saga_status> result{saga_status::pending};
  caf::scoped_actor self{sys};
  self->request(coord, std::chrono::minutes{1}, atom, id, by)
    .receive([&](saga_status x) { result = x; },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

caf::expected<saga_status> runtime::retry(const saga_id& id,
                                          const std::string& by) {
  auto& d = *impl_;
  if (d.start_error)
    return d.start_error;
  return operate(*d.sys, coordinator(), retry_atom::value, id, by);
}

caf::expected<saga_status> runtime::abort(const saga_id& id,
                                          const std::string& by) {
  auto& d = *impl_;
  if (d.start_error)
    return d.start_error;
  return operate(*d.sys, coordinator(), abort_atom::value, id, by);
}

caf::expected<std::size_t> runtime::adopt(const std::string& node_id) {
  auto& d = *impl_;
  if (d.start_error)
    return d.start_error;
  if (auto err = check_node_id(node_id, "adopt: node_id"))
    return err;
  caf::expected<std::size_t> result{std::size_t{0}};
  caf::scoped_actor self{*d.sys};
  self
    ->request(coordinator(), caf::infinite, recover_atom::value, node_id,
              d.adopt_below)
    .receive([&](uint64_t n) { result = static_cast<size_t>(n); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

std::size_t runtime::recover() {
  auto& d = *impl_;
  if (d.start_error)
    return 0;
  std::size_t result = 0;
  caf::scoped_actor self{*d.sys};
  self->request(coordinator(), caf::infinite, recover_atom::value)
    .receive([&](uint64_t n) { result = static_cast<size_t>(n); },
             [&](caf::error& err) {
               aout(self) << "caf-saga: recovery failed: " << describe(err)
                          << std::endl;
             });
  return result;
}

std::shared_ptr<detail::directory>
detail::runtime_access::directory_of(const runtime& rt) {
  return rt.impl_->dir;
}

} // namespace saga
