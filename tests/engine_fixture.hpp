#pragma once

// Test bed for saga scenarios on CAF's deterministic test scheduler. Actors
// run only inside run(); delayed messages (step timers, backoff, deadlines)
// fire only when the test advances the clock. Everything runs on the test
// thread, so the scripted participants need no locks.

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "persistence/memory_journal.hpp"
#include "saga/saga.hpp"

namespace saga::test {

/// How a scripted participant answers one request.
struct reaction {
  enum class kind { ok, fail, fail_retryable, hang };
  kind what = kind::ok;
  json result = json::object();
  std::string error = "scripted failure";

  static reaction ok(json result = json::object()) {
    return {kind::ok, std::move(result), {}};
  }
  static reaction fail(std::string error = "scripted failure") {
    return {kind::fail, json::object(), std::move(error)};
  }
  static reaction fail_retryable(std::string error = "transient failure") {
    return {kind::fail_retryable, json::object(), std::move(error)};
  }
  /// Never answers by itself; the test may answer later with `answer`.
  static reaction hang() {
    return {kind::hang, json::object(), {}};
  }
};

/// One request as a scripted participant saw it.
struct call {
  std::string op;   // "execute" or "compensate"
  std::string step; // step name
  uint32_t attempt;
  json results;   // ctx.results() at the time
  std::string id; // saga id

  std::string str() const {
    return op + ":" + step + "#" + std::to_string(attempt);
  }
};

/// Scripts, and the record of what every participant was asked, in order.
struct script {
  /// Reactions per "execute:<step>" / "compensate:<step>"; ok when empty.
  std::map<std::string, std::deque<reaction>> plans;
  std::vector<call> calls;
  /// Answers of hung requests, keyed "execute:<step>#<attempt>", oldest
  /// first (several sagas may hang on the same step).
  std::map<std::string, std::deque<std::function<void(step_outcome)>>> hung;

  /// Records `c` and answers it per plan through `deliver` (now, or later
  /// through `hung`).
  void play(const call& c, std::function<void(step_outcome)> deliver);
  /// Called with every request before it is answered.
  std::function<void(const call&)> observer;

  void plan(const std::string& op_step, std::vector<reaction> xs) {
    for (auto& x : xs)
      plans[op_step].push_back(std::move(x));
  }

  /// Returns the calls rendered as "op:step#attempt".
  std::vector<std::string> trace() const;

  /// Returns the calls of one operation ("execute" / "compensate").
  std::vector<std::string> trace(const std::string& op) const;
};

class engine_fixture : public ::testing::Test {
protected:
  engine_fixture();
  ~engine_fixture() override;

  /// Runs all actors until nothing is left to do.
  void run();

  /// Advances the test clock by `d` (firing due timers) and runs.
  void advance(std::chrono::milliseconds d);

  /// Registers a scripted participant actor as `name` (any action). It has
  /// no barrier: these tests are about the engine.
  void add_participant(const std::string& name,
                       const std::vector<std::string>& actions);

  /// Registers participant `name` through `rt.participant()`: supervised
  /// and behind the barrier, with scripted handlers for `actions`.
  void add_supervised_participant(const std::string& name,
                                  const std::vector<std::string>& actions);

  /// Returns a definition whose steps `names` each run on participant
  /// "p-<name>" (registered here), with 1s timeouts, no retries, and fast,
  /// jitter-free compensation retries.
  definition make_def(const std::vector<std::string>& names);

  /// Starts `def`; the result arrives in the returned slot once it ended.
  std::shared_ptr<std::optional<saga_result>> start(const definition& def);

  /// Starts `def`, runs, and returns the result (which must be there).
  saga_result execute(const definition& def);

  /// Answers the hung request `key` ("execute:<step>#<attempt>").
  void answer(const std::string& key, step_outcome outcome);

  /// Returns the journal's events of saga `id`.
  std::vector<event> events_of(const saga_id& id);

  /// Returns the current actor of running saga `id` (null if none).
  caf::actor saga_actor_of(const saga_id& id);

  /// Asks the coordinator to recover and returns how many sagas it resumed.
  uint64_t recover();

  /// Replaces the runtime with a fresh one on the same journal, as after a
  /// crash of the node: the old sagas stop, their journal stays.
  void restart_runtime(const runtime_config& cfg = {});

  /// Checks that replaying the journal reproduces `live`: same state,
  /// steps, failed step and error, and that every prefix of the history is
  /// a valid state too.
  void expect_replay_matches(const saga_result& live);

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<memory_store> store_;
  journal_actor journal_;
  std::unique_ptr<runtime> rt_;
  std::shared_ptr<script> script_;
  /// Participants added so far, to register them again after a restart.
  std::vector<std::pair<std::string, std::vector<std::string>>> added_;
  std::vector<caf::actor> raw_participants_;
};

/// Releases (true) or rejects (false) the oldest append a gated journal holds.
using gate_atom = caf::atom_constant<caf::atom("t_gate")>;

/// A journal whose appends wait until the test releases or rejects them, to
/// observe what happens before the journal acknowledges. Reads are served
/// from `store` at once.
using gated_journal_actor
  = journal_actor::extend<caf::reacts_to<gate_atom, bool>>;

/// The appends a gated journal holds, shared with the test.
struct journal_gate {
  std::shared_ptr<memory_store> store;
  size_t held = 0;
  /// Barrier claims participants asked for themselves.
  size_t claims = 0;
  /// Barrier records participants wrote themselves.
  size_t records = 0;
};

/// Returns a journal that holds appends until it receives `gate_atom`.
gated_journal_actor spawn_gated_journal(caf::actor_system& sys,
                                        std::shared_ptr<journal_gate> gate);

/// Returns the event types of `events`, in order.
std::vector<event_type> types_of(const std::vector<event>& events);

} // namespace saga::test
