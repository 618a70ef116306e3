#include "saga/runtime.hpp"

#include <thread>

#include <caf/actor_ostream.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/coordinator_impl.hpp"
#include "actors/local_participant.hpp"
#include "saga/errc.hpp"
#include "saga/replay.hpp"

namespace saga {

caf::error runtime_config::validate() const {
  if (journal_url.empty())
    return make_error(errc::invalid_config, "journal_url is empty");
  if (journal_timeout.count() <= 0)
    return make_error(errc::invalid_config, "journal_timeout must be positive");
  if (late_reply_window.count() < 0)
    return make_error(errc::invalid_config,
                      "late_reply_window must not be negative");
  if (blocking_workers == 0)
    return make_error(errc::invalid_config,
                      "blocking_workers must be at least 1");
  if (recovery_concurrency == 0)
    return make_error(errc::invalid_config,
                      "recovery_concurrency must be at least 1");
  if (max_active_sagas == 0)
    return make_error(errc::invalid_config,
                      "max_active_sagas must be at least 1");
  if (journal.writers == 0 || journal.max_batch == 0)
    return make_error(errc::invalid_config,
                      "journal.writers and journal.max_batch must be at least 1");
  if (journal.node_id.empty())
    return make_error(errc::invalid_config, "journal.node_id is empty");
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
  init(std::move(cfg));
}

runtime::runtime(caf::actor_system& sys, runtime_config cfg) : sys_(&sys) {
  init(std::move(cfg));
}

runtime::runtime(caf::actor_system& sys, journal_actor journal,
                 runtime_config cfg)
  : sys_(&sys), journal_(std::move(journal)), owns_journal_(false) {
  init(std::move(cfg));
}

void runtime::init(runtime_config cfg) {
  if (auto err = cfg.validate()) {
    start_error_ = std::move(err);
    return;
  }
  blocking_workers_ = cfg.blocking_workers;
  journal_timeout_ = cfg.journal_timeout;
  if (!journal_) {
    auto j = make_journal(*sys_, cfg.journal_url, cfg.journal);
    if (!j) {
      start_error_ = std::move(j.error());
      return;
    }
    journal_ = std::move(*j);
  }
  detail::coordinator_options opts;
  opts.journal_timeout = cfg.journal_timeout;
  opts.late_reply_window = cfg.late_reply_window;
  opts.recovery = cfg.recovery;
  opts.recovery_concurrency = cfg.recovery_concurrency;
  opts.max_active_sagas = cfg.max_active_sagas;
  opts.max_queued_sagas = cfg.max_queued_sagas;
  coordinator_ = caf::actor_cast<caf::actor>(
    detail::spawn_coordinator(*sys_, journal_, opts));
}

runtime::~runtime() {
  // Stop what we spawned; the actor system (ours or the caller's) then has
  // nothing of ours left running. Unfinished sagas stay in the journal.
  if (coordinator_)
    caf::anon_send_exit(coordinator_, caf::exit_reason::user_shutdown);
  {
    std::lock_guard<std::mutex> guard{participants_mtx_};
    for (auto& kvp : participants_)
      caf::anon_send_exit(kvp.second->handle(),
                          caf::exit_reason::user_shutdown);
  }
  if (journal_ && owns_journal_)
    caf::anon_send_exit(journal_, caf::exit_reason::user_shutdown);
}

coordinator_actor runtime::coordinator() const noexcept {
  return caf::actor_cast<coordinator_actor>(coordinator_);
}

participant_builder& runtime::participant(const std::string& name) {
  std::lock_guard<std::mutex> guard{participants_mtx_};
  auto i = participants_.find(name);
  if (i != participants_.end())
    return *i->second;
  auto registry = std::make_shared<detail::handler_registry>();
  auto handle = detail::spawn_local_participant(*sys_, name, registry,
                                                blocking_workers_);
  auto builder = std::make_unique<participant_builder>(
    name, caf::actor_cast<participant_actor>(handle), std::move(registry));
  if (coordinator_)
    caf::anon_send(coordinator(), register_atom::value, name,
                   builder->handle());
  return *participants_.emplace(name, std::move(builder)).first->second;
}

void runtime::register_participant(const std::string& name,
                                   participant_actor handle) {
  if (coordinator_)
    caf::anon_send(coordinator(), register_atom::value, name,
                   std::move(handle));
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
  caf::anon_send(caf::actor_cast<detail::local_coordinator_actor>(coordinator_),
                 run_atom::value, std::make_shared<const definition>(def),
                 std::move(done));
}

std::optional<saga::saga_log> runtime::saga_log(const saga_id& id) {
  if (!journal_)
    return std::nullopt;
  std::optional<saga::saga_log> result;
  caf::scoped_actor self{*sys_};
  self->request(journal_, journal_timeout_, read_atom::value, id)
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

std::size_t runtime::recover() {
  if (!coordinator_)
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
