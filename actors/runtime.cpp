#include "saga/runtime.hpp"

#include <algorithm>
#include <cctype>
#include <thread>

#include <caf/actor_ostream.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/coordinator_impl.hpp"
#include "actors/directory.hpp"
#include "actors/local_participant.hpp"
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
  for (auto c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_'
        && c != '-')
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
    return make_error(errc::invalid_config,
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

runtime::runtime(runtime_config cfg)
  : own_cfg_(std::make_unique<caf::actor_system_config>()) {
  add_message_types(*own_cfg_);
  auto threads = cfg.scheduler_threads;
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  own_cfg_->set("scheduler.max-threads", threads);
  own_sys_ = std::make_unique<caf::actor_system>(*own_cfg_);
  sys_ = own_sys_.get();
  init(std::move(cfg), journal_actor{});
}

runtime::runtime(caf::actor_system& sys, runtime_config cfg) : sys_(&sys) {
  init(std::move(cfg), journal_actor{});
}

runtime::runtime(caf::actor_system& sys, journal_actor journal,
                 runtime_config cfg)
  : sys_(&sys) {
  init(std::move(cfg), std::move(journal));
}

struct runtime::participant_tree {
  std::mutex mtx;
  supervisor_actor sup;
  std::vector<child_spec> specs;
};

namespace {

/// Returns a child spec whose first start adopts `first` (spawned before the
/// supervisor existed) and whose restarts call `restart`.
child_spec adopt_child(
  std::string name, caf::actor first,
  std::function<caf::expected<caf::actor>(caf::actor_system&)> restart) {
  auto pending = std::make_shared<caf::actor>(std::move(first));
  child_spec spec;
  spec.name = std::move(name);
  spec.start = [pending, restart](caf::actor_system& sys)
    -> caf::expected<caf::actor> {
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

void runtime::init(runtime_config cfg, journal_actor given_journal) {
  dir_ = std::make_shared<detail::directory>();
  ptree_ = std::make_shared<participant_tree>();
  if (auto err = cfg.validate()) {
    start_error_ = std::move(err);
    return;
  }
  blocking_workers_ = cfg.blocking_workers;
  journal_timeout_ = cfg.journal_timeout;
  admission_limit_ = cfg.max_active_sagas + cfg.max_queued_sagas;
  cfg.journal.metrics = dir_->stats();
  auto dir = dir_;
  std::vector<child_spec> children;
  // -- the journal --------------------------------------------------------------
  if (given_journal) {
    dir_->set_journal(std::move(given_journal)); // the caller's, unsupervised
    // Its epoch, if the caller said; otherwise adopt() takes every one.
    if (cfg.journal.epoch != 0)
      adopt_below_ = cfg.journal.epoch;
  } else {
    // One epoch for the runtime's life: a restarted journal must keep
    // writing as the same owner, or it would fence its own sagas.
    if (cfg.journal.epoch == 0) {
      auto epoch = allocate_epoch(cfg.journal_url, cfg.journal);
      if (!epoch) {
        start_error_ = std::move(epoch.error());
        return;
      }
      cfg.journal.epoch = *epoch;
    }
    adopt_below_ = cfg.journal.epoch;
    std::function<caf::expected<journal_actor>(caf::actor_system&)> make;
    if (cfg.journal_url == "memory://") {
      // Restarts must find the same histories: keep the store.
      auto store = std::make_shared<memory_store>();
      saga_owner owner{cfg.journal.node_id, cfg.journal.epoch};
      make = [store, owner](caf::actor_system& sys)
        -> caf::expected<journal_actor> {
        return spawn_memory_journal(sys, store, owner);
      };
    } else {
      make = [url = cfg.journal_url, opts = cfg.journal](
               caf::actor_system& sys) { return make_journal(sys, url, opts); };
    }
    auto first = make(*sys_);
    if (!first) {
      start_error_ = std::move(first.error());
      return;
    }
    dir_->set_journal(*first);
    children.push_back(adopt_child(
      "journal", caf::actor_cast<caf::actor>(*first),
      [make, dir](caf::actor_system& sys) -> caf::expected<caf::actor> {
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
  auto first_timers = detail::spawn_timer_service(*sys_, timer_table);
  dir_->set_timers(first_timers);
  children.insert(children.begin(), adopt_child(
    "timers", caf::actor_cast<caf::actor>(first_timers),
    [dir, timer_table](caf::actor_system& sys) -> caf::expected<caf::actor> {
      auto h = detail::spawn_timer_service(sys, timer_table);
      dir->set_timers(h);
      return caf::actor_cast<caf::actor>(h);
    }));
  // -- the participants supervisor -------------------------------------------------
  supervisor_config psup;
  psup.name = "participants";
  psup.intensity = cfg.supervisor_restarts;
  auto first_psup = spawn_supervisor(*sys_, psup, {});
  ptree_->sup = first_psup;
  auto tree = ptree_;
  children.push_back(adopt_child(
    "participants", caf::actor_cast<caf::actor>(first_psup),
    [psup, tree](caf::actor_system& sys) -> caf::expected<caf::actor> {
      // A new incarnation starts every participant afresh.
      std::lock_guard<std::mutex> guard{tree->mtx};
      tree->sup = spawn_supervisor(sys, psup, tree->specs);
      return caf::actor_cast<caf::actor>(tree->sup);
    }));
  // -- the coordinator and its saga supervisor -----------------------------------------
  auto first_coord = detail::spawn_coordinator(*sys_, dir_, cfg);
  dir_->set_coordinator(caf::actor_cast<caf::actor>(first_coord));
  children.push_back(adopt_child(
    "coordinator", caf::actor_cast<caf::actor>(first_coord),
    [dir, cfg](caf::actor_system& sys) -> caf::expected<caf::actor> {
      return caf::actor_cast<caf::actor>(
        detail::spawn_coordinator(sys, dir, cfg));
    }));
  supervisor_config root;
  root.name = "root";
  root.intensity = cfg.supervisor_restarts;
  root_ = spawn_supervisor(*sys_, root, std::move(children));
}

runtime::~runtime() {
  // Callback subscribers are ours; an application's actors are not.
  if (dir_) {
    dir_->lifecycle()->clear();
    std::lock_guard<std::mutex> guard{callbacks_mtx_};
    for (auto& h : callback_subscribers_)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    callback_subscribers_.clear();
  }
  // Stop the tree (coordinator and sagas first, journal last). Unfinished
  // sagas stay in the journal.
  if (root_)
    caf::anon_send_exit(root_, caf::exit_reason::user_shutdown);
  else if (auto c = dir_ ? dir_->coordinator() : caf::actor{})
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  if (own_sys_)
    own_sys_.reset(); // waits for every actor
  if (dir_)
    dir_->clear(); // breaks the cycle actor -> directory -> actor
}

journal_actor runtime::journal() const {
  return dir_->journal();
}

coordinator_actor runtime::coordinator() const noexcept {
  return caf::actor_cast<coordinator_actor>(dir_->coordinator());
}

participant_builder& runtime::participant(const std::string& name) {
  std::lock_guard<std::mutex> guard{participants_mtx_};
  auto i = participants_.find(name);
  if (i != participants_.end())
    return *i->second;
  auto registry = std::make_shared<detail::handler_registry>();
  auto builder = std::make_unique<participant_builder>(name, registry, dir_);
  if (!start_error_) {
    // The first incarnation now (so a saga started right after finds it);
    // its supervisor adopts it and starts new ones after crashes.
    auto spawn = [name, registry, dir = dir_,
                  workers = blocking_workers_](caf::actor_system& sys) {
      auto h = detail::spawn_local_participant(sys, name, registry, workers,
                                               dir);
      dir->set_participant(name, caf::actor_cast<participant_actor>(h));
      return caf::actor_cast<caf::actor>(h);
    };
    auto restart = [spawn](caf::actor_system& sys)
      -> caf::expected<caf::actor> { return spawn(sys); };
    std::lock_guard<std::mutex> tree_guard{ptree_->mtx};
    child_spec fresh;
    fresh.name = name;
    fresh.start = restart;
    ptree_->specs.push_back(std::move(fresh));
    caf::anon_send(ptree_->sup, start_child_atom::value,
                   adopt_child(name, spawn(*sys_), restart));
  }
  return *participants_.emplace(name, std::move(builder)).first->second;
}

void runtime::register_participant(const std::string& name,
                                   participant_actor handle) {
  dir_->set_participant(name, std::move(handle));
}

participant_actor runtime::with_barrier(participant_actor inner) {
  return detail::spawn_barrier(*sys_, std::move(inner), dir_);
}

std::future<saga_result> runtime::execute(const definition& def) {
  auto promise = std::make_shared<std::promise<saga_result>>();
  auto result = promise->get_future();
  execute(def, [promise](saga_result r) { promise->set_value(std::move(r)); });
  return result;
}

void runtime::execute(const definition& def, result_callback done) {
  if (start_error_) {
    saga_result r;
    r.error = start_error_;
    done(std::move(r));
    return;
  }
  // Backpressure at the door: a caller that starts sagas faster than they
  // end is refused here, at once and in its own thread, instead of filling
  // the coordinator's mailbox (which has no bound of its own).
  if (submitted_->fetch_add(1, std::memory_order_relaxed) >= admission_limit_) {
    submitted_->fetch_sub(1, std::memory_order_relaxed);
    saga_result r;
    r.error = make_error(errc::overloaded,
                         std::to_string(admission_limit_)
                           + " sagas were started and have not ended yet "
                             "(max_active_sagas + max_queued_sagas); try "
                             "again later");
    done(std::move(r));
    return;
  }
  auto wrapped = [submitted = submitted_, done = std::move(done)](
                   saga_result r) {
    submitted->fetch_sub(1, std::memory_order_relaxed);
    done(std::move(r));
  };
  caf::anon_send(
    caf::actor_cast<detail::local_coordinator_actor>(dir_->coordinator()),
    run_atom::value, def.snapshot(), result_callback{std::move(wrapped)});
}

std::optional<saga::saga_log> runtime::saga_log(const saga_id& id) {
  auto journal = dir_->journal();
  if (!journal)
    return std::nullopt;
  std::optional<saga::saga_log> result;
  caf::scoped_actor self{*sys_};
  self->request(journal, journal_timeout_, read_atom::value, id)
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
  return dir_->stats();
}

uint64_t runtime::subscribe(lifecycle_filter filter,
                            lifecycle_actor subscriber) {
  return dir_->lifecycle()->subscribe(std::move(filter), std::move(subscriber));
}

uint64_t runtime::subscribe(lifecycle_filter filter,
                            lifecycle_callback callback) {
  auto h = sys_->spawn([cb = std::move(callback)]()
                         -> lifecycle_actor::behavior_type {
    return {[cb](const lifecycle_event& ev) { cb(ev); }};
  });
  {
    std::lock_guard<std::mutex> guard{callbacks_mtx_};
    callback_subscribers_.push_back(h);
  }
  return dir_->lifecycle()->subscribe(std::move(filter), h);
}

void runtime::unsubscribe(uint64_t id) {
  auto h = dir_->lifecycle()->unsubscribe(id);
  if (!h)
    return;
  {
    std::lock_guard<std::mutex> guard{callbacks_mtx_};
    auto& xs = callback_subscribers_;
    auto i = std::find(xs.begin(), xs.end(), h);
    if (i == xs.end())
      return; // an actor's subscription: the caller owns that actor
    xs.erase(i);
  }
  // Returns only once the callback can no longer run: its owner may free
  // what the callback uses right after (node_backend's destructor did, while
  // the callback still recorded an event on another thread).
  caf::scoped_actor self{*sys_};
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
  if (start_error_)
    return start_error_;
  return operate(*sys_, coordinator(), retry_atom::value, id, by);
}

caf::expected<saga_status> runtime::abort(const saga_id& id,
                                          const std::string& by) {
  if (start_error_)
    return start_error_;
  return operate(*sys_, coordinator(), abort_atom::value, id, by);
}

caf::expected<std::size_t> runtime::adopt(const std::string& node_id) {
  if (start_error_)
    return start_error_;
  if (auto err = check_node_id(node_id, "adopt: node_id"))
    return err;
  caf::expected<std::size_t> result{std::size_t{0}};
  caf::scoped_actor self{*sys_};
  self
    ->request(coordinator(), caf::infinite, recover_atom::value, node_id,
              adopt_below_)
    .receive([&](uint64_t n) { result = static_cast<size_t>(n); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

std::size_t runtime::recover() {
  if (start_error_)
    return 0;
  std::size_t result = 0;
  caf::scoped_actor self{*sys_};
  self->request(coordinator(), caf::infinite, recover_atom::value)
    .receive([&](uint64_t n) { result = static_cast<size_t>(n); },
             [&](caf::error& err) {
               aout(self) << "caf-saga: recovery failed: " << describe(err)
                          << std::endl;
             });
  return result;
}

} // namespace saga
