#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor.hpp>

#include "actors/lifecycle_hub.hpp"
#include "actors/timer_service.hpp"
#include "saga/journal/journal.hpp"
#include "saga/metrics.hpp"
#include "saga/participant.hpp"

namespace saga::detail {

/// Returns a random name for one incarnation (16 hex digits).
std::string make_incarnation();

/// The current incarnation of every restartable actor of a runtime: the
/// journal, the coordinator and the participants. Supervisors' start
/// functions update it; saga actors, the coordinator and the runtime read it
/// on every use, so nobody holds a dead handle after a restart. Thread-safe
/// (reads share a lock).
class directory {
public:
  /// Returns the participant registered as `name`, or an invalid handle.
  participant_actor participant(const std::string& name) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = participants_.find(name);
    return i == participants_.end() ? participant_actor{} : i->second;
  }

  /// Registers (or replaces) `name`; returns whether the name was new.
  /// `preclaims`: it runs behind the barrier on this directory's journal
  /// and honors claims made with a saga's append (`step_command::preclaim`;
  /// a participant of this runtime), so sagas make them.
  bool set_participant(const std::string& name, participant_actor h,
                       bool preclaims = false) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    if (preclaims)
      preclaiming_.insert(name);
    else
      preclaiming_.erase(name);
    return participants_.insert_or_assign(name, std::move(h)).second;
  }

  /// Returns whether sagas may claim for `name` with their appends.
  bool takes_preclaims(const std::string& name) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return preclaiming_.count(name) > 0;
  }

  /// Returns this runtime's random incarnation: claim tokens made here
  /// carry it, so no other process ever makes the same token.
  const std::string& incarnation() const noexcept {
    return incarnation_;
  }

  journal_actor journal() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return journal_;
  }

  void set_journal(journal_actor h) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    journal_ = std::move(h);
  }

  timer_service_actor timers() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return timers_;
  }
  void set_timers(timer_service_actor h) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    timers_ = std::move(h);
  }
  caf::actor coordinator() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return coordinator_;
  }

  void set_coordinator(caf::actor h) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    coordinator_ = std::move(h);
  }

  /// Returns the runtime's metrics and lifecycle subscriptions. Set once,
  /// before any actor of the runtime starts; never null after that.
  const metrics_ptr& stats() const noexcept {
    return metrics_;
  }
  const lifecycle_hub_ptr& lifecycle() const noexcept {
    return lifecycle_;
  }
  void set_observers(metrics_ptr m, lifecycle_hub_ptr hub) {
    metrics_ = std::move(m);
    lifecycle_ = std::move(hub);
  }

  /// Drops every handle (shutdown), so no actor is kept alive by it.
  void clear() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    participants_.clear();
    preclaiming_.clear();
    journal_ = nullptr;
    timers_ = nullptr;
    coordinator_ = nullptr;
  }

private:
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, participant_actor> participants_;
  std::unordered_set<std::string> preclaiming_;
  const std::string incarnation_ = make_incarnation();
  journal_actor journal_;
  timer_service_actor timers_;
  caf::actor coordinator_;
  metrics_ptr metrics_ = std::make_shared<saga::metrics>();
  lifecycle_hub_ptr lifecycle_ = std::make_shared<lifecycle_hub>();
};

using directory_ptr = std::shared_ptr<directory>;

} // namespace saga::detail
