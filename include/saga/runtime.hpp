#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include "saga/coordinator.hpp"
#include "saga/definition.hpp"
#include "saga/http_participant.hpp"
#include "saga/journal/journal.hpp"
#include "saga/lifecycle.hpp"
#include "saga/metrics.hpp"
#include "saga/participant.hpp"
#include "saga/runtime_config.hpp"
#include "saga/saga_result.hpp"
#include "saga/step_context.hpp"
#include "saga/step_outcome.hpp"
#include "saga/supervisor.hpp"

namespace saga {

namespace detail {
struct responder_state;
} // namespace detail

/// Lets an asynchronous step handler answer later, from any thread. The first
/// `deliver` wins; later ones are ignored. Cheap to copy; all copies share
/// one answer. When the last copy is destroyed without an answer, the
/// participant learns at once that none will come and answers the saga
/// "outcome unknown" (the saga retries or compensates the step without
/// waiting for its timeout).
class responder {
public:
  responder() = default;

  /// Used by the runtime: answers through `state`.
  explicit responder(std::shared_ptr<detail::responder_state> state)
    : state_(std::move(state)) {
    // nop
  }

  /// Sends `outcome` as the reply of the step operation. Thread-safe.
  void deliver(const step_outcome& outcome) const;

private:
  std::shared_ptr<detail::responder_state> state_;
};

/// A synchronous step handler: runs inside its participant actor.
using step_handler
  = std::function<step_outcome(const step_context&, const json& payload)>;

/// An asynchronous step handler: returns at once and answers through the
/// responder, possibly from another thread.
using async_step_handler = std::function<
  void(const step_context&, const json& payload, responder reply)>;

namespace detail {
struct handler_registry;
class directory;
struct runtime_access;
} // namespace detail

/// Registers the handlers of one participant hosted by a runtime. Owned by
/// the runtime; handlers may be added at any time (thread-safe), each action
/// replacing an earlier one of the same name.
class participant_builder {
public:
  participant_builder(std::string name,
                      std::shared_ptr<detail::handler_registry> registry,
                      std::shared_ptr<detail::directory> dir);

  /// Adds `action`, whose handlers run inside the participant actor. They
  /// must not block.
  participant_builder& on(std::string action, step_handler execute,
                          step_handler compensate);

  /// Adds `action`, whose handlers may block (database calls, files): they
  /// run on the participant's dedicated worker threads, never on the actor
  /// scheduler.
  participant_builder& on_blocking(std::string action, step_handler execute,
                                   step_handler compensate);

  /// Adds `action`, whose handlers answer later through a `responder`.
  participant_builder& on_async(std::string action, async_step_handler execute,
                                async_step_handler compensate);

  /// Returns the participant's name.
  const std::string& name() const noexcept {
    return name_;
  }

  /// Returns the participant's current incarnation (it changes when its
  /// supervisor restarts it).
  participant_actor handle() const;

private:
  std::string name_;
  std::shared_ptr<detail::handler_registry> registry_;
  std::shared_ptr<detail::directory> dir_;
};

/// Receives the result of a saga started with a callback. Runs on one of the
/// runtime's threads: it must not block.
using result_callback = std::function<void(saga_result)>;

/// Runs sagas: owns (or borrows) a CAF actor system and a supervision tree of
/// the journal, the participants registered here and the coordinator with
/// its saga actors (see docs/ARCHITECTURE.md). Thread-safe: any thread may
/// call any member. The destructor stops the tree; sagas still running stay
/// unfinished in the journal, for `recover()`.
class runtime {
public:
  /// Creates a runtime with its own actor system. If `cfg` is invalid or the
  /// journal cannot be opened, `start_error()` says why and every saga is
  /// answered with that error.
  explicit runtime(runtime_config cfg = {});

  /// Creates a runtime on `sys`, which must outlive it. `sys` must have been
  /// configured with `saga::add_message_types`.
  runtime(caf::actor_system& sys, runtime_config cfg = {});

  /// Creates a runtime on `sys` that persists to `journal` (shared with other
  /// runtimes, e.g. to recover one's sagas in another) instead of opening
  /// `cfg.journal_url`. The runtime does not stop `journal`.
  runtime(caf::actor_system& sys, journal_actor journal,
          runtime_config cfg = {});

  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Returns why the runtime could not start, or none.
  const caf::error& start_error() const noexcept;

  /// Returns the actor system the runtime runs on.
  caf::actor_system& system() noexcept;

  /// Returns the builder of the participant `name`, creating (and
  /// registering) the participant on first use.
  participant_builder& participant(const std::string& name);

  /// Declares `name` as a participant that is a service over HTTP
  /// (docs/http-participants.md): its steps' operations become requests to
  /// `cfg.base_url`, behind the participant barrier, supervised like the
  /// participants above. Returns an `errc::invalid_config` error naming a
  /// bad setting (nothing is declared then), or the runtime's start error.
  caf::error http_participant(const std::string& name,
                              const http_participant_config& cfg);

  /// Registers `handle`, any actor speaking `participant_actor`, as `name`.
  /// It gets no barrier unless you wrap it: `with_barrier(handle)`.
  void register_participant(const std::string& name, participant_actor handle);

  /// Returns an actor that puts the participant barrier in front of `inner`
  /// (records in this runtime's journal). The caller owns it: stop it with
  /// `inner`.
  participant_actor with_barrier(participant_actor inner);

  /// Starts a saga of `def` and returns its eventual result.
  std::future<saga_result> execute(const definition& def);

  /// Starts a saga of `def`; `done` receives its result. When
  /// `max_active_sagas + max_queued_sagas` sagas started here have not
  /// ended yet, `done` gets `errc::overloaded` at once, on the caller's
  /// thread (backpressure: memory stays bounded under a flood).
  void execute(const definition& def, result_callback done);

  /// Returns the coordinator, for starting sagas from actors:
  /// `self->request(rt.coordinator(), caf::infinite, saga::run_atom::value,
  /// std::make_shared<const saga::definition>(def))`.
  coordinator_actor coordinator() const noexcept;

  /// Returns the journal actor (its current incarnation).
  journal_actor journal() const;

  /// Returns the root supervisor of the runtime's actors.
  supervisor_actor root() const noexcept;

  /// Returns the log of saga `id` rebuilt from the journal, or nothing when
  /// the journal does not know it (or cannot be read). Blocks the caller.
  std::optional<saga::saga_log> saga_log(const saga_id& id);

  /// Resumes every unfinished saga in the journal that this runtime is not
  /// running yet and returns how many it resumed. Blocks until they started.
  std::size_t recover();

  /// Takes over the unfinished sagas of node `node_id` (another runtime's
  /// `journal.node_id`, one that is gone) and resumes them here; returns how
  /// many, or the journal's error (`errc::invalid_config` for a malformed
  /// id). Blocks until they started. Takes what any incarnation of that node
  /// older than this runtime owns (its epoch is below ours), atomically per
  /// saga, so two runtimes adopting at once never get the same saga; a live
  /// old incarnation is fenced out of them. `adopt(own node id)` is
  /// `recover()`. A `saga::node` does this by itself when a lease expires.
  caf::expected<std::size_t> adopt(const std::string& node_id);

  /// Retries failed saga `id` on behalf of operator `by` (recorded in its
  /// journal as `saga_retried`): its compensations that gave up (or the
  /// steps after the pivot that did, or whatever a parked saga was doing)
  /// run again with a fresh retry budget, driven by this runtime. Returns
  /// the saga's new status once that is durable, or `errc::unknown_saga`,
  /// `errc::invalid_state` (it has not failed). Blocks the caller.
  caf::expected<saga_status> retry(const saga_id& id, const std::string& by);

  /// Compensates saga `id` now on behalf of operator `by` (recorded in its
  /// `compensation_started`): a saga this runtime runs, or a parked one
  /// that was running. Returns `compensating` once that is durable, or
  /// `errc::invalid_state` (ended, or past its pivot), `errc::no_route`
  /// (another node runs it). Blocks the caller.
  caf::expected<saga_status> abort(const saga_id& id, const std::string& by);

  /// Subscribes `subscriber` to the lifecycle events that `filter` passes,
  /// each sent once the journal event it reports is durable; returns the
  /// subscription's id. The runtime does not own `subscriber`.
  uint64_t subscribe(lifecycle_filter filter, lifecycle_actor subscriber);

  /// Subscribes `callback`: it runs in an actor the runtime owns, one event
  /// at a time (see `lifecycle_callback`).
  uint64_t subscribe(lifecycle_filter filter, lifecycle_callback callback);

  /// Ends subscription `id`. For a callback, returns once its actor has
  /// stopped: the callback never runs again, so what it uses may be freed.
  /// Must not be called from that callback itself (it would wait forever).
  void unsubscribe(uint64_t id);

  /// Returns the runtime's metrics (never null).
  const metrics_ptr& stats() const noexcept;

private:
  /// Lets the engine's own layers reach the runtime's internals (see
  /// actors/runtime_access.hpp); not part of the API.
  friend struct detail::runtime_access;

  /// Everything the runtime owns (actors/runtime.cpp).
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Registers caf-saga's message types and error category with `cfg`. Call it
/// on every actor_system_config that hosts caf-saga actors.
void add_message_types(caf::actor_system_config& cfg);

} // namespace saga

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(saga::result_callback)
