// demo/chaos/watcher.hpp: the watcher, which finds every saga of the
// campaign in Redis (a SCAN over the campaign's own store) and checks each
// one soon after it ended, while its history and barrier records are within
// their retention: replay, sagactl's view, barrier records, expiry.
//
// Two threads, each with its own Redis connection: the tracker (discovery,
// the last event of every open saga, the ended indexes) every 500 ms, and
// the verifier (the checks of ended sagas, oldest first). Verification is
// the slow part (a sagactl subprocess per sampled saga); apart, it can no
// longer hold up the tracking, which must see every saga end within the
// retention. status() and the atomics are safe from any thread, the rest
// (sagas(), figs(), pass()) only once stop() returned.

#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <saga/saga.hpp>

#include "admin/saga_catalog.hpp"
#include "demo/chaos/options.hpp"
#include "demo/chaos/redis_client.hpp"
#include "demo/chaos/violations.hpp"

namespace chaos {

/// What the checker knows of one saga.
struct saga_info {
  std::string id;
  bool ended = false;    // its last event is terminal
  bool verified = false; // checked after it ended
  int verify_tries = 0;
  steady::time_point verify_at;
  int64_t first_seen_ms = 0;
  int64_t end_ms = 0;
  // From its history (set by the check).
  std::string tag;
  std::string definition;
  saga::saga_status status = saga::saga_status::pending;
  struct step {
    std::string name;
    std::string participant;
    std::string action;
    json payload;
    saga::step_status status = saga::step_status::pending;
    /// 1: the journal says its effect stands; 0: it does not; -1: the
    /// journal cannot say (a failed saga's step that may or may not have
    /// landed).
    int expected = 0;
  };
  std::vector<step> steps;
  std::vector<std::string> compensated_order;
  /// Keys to check for expiry, with when Redis said they expire.
  std::vector<std::pair<std::string, int64_t>> expiries;
  bool expiry_checked = false;
};

/// Figures the watcher and the end-of-run checks report.
struct figures {
  size_t replayed = 0;
  size_t catalog_equal = 0;
  size_t sagactl_runs = 0;
  size_t barrier_records = 0;
  size_t ttl_keys = 0;
  int64_t max_ttl_ms = 0;
  size_t expired_on_time = 0;
  int64_t max_expiry_lag_ms = 0; // expiry beyond end + retention
  size_t injected_failures = 0;  // executes failed by the participants
  size_t timeouts = 0;           // step attempts timed out
  int64_t max_saga_ms = 0;       // the longest saga, start to end
  size_t ended_index_checks = 0;
  int64_t max_ended_age_ms = 0;
  // How far the checker itself fell behind (a busy machine): the longest
  // gap between two tracking passes, the longest time from a saga's end to
  // its check, and the sampled sagactl runs left out to keep up.
  int64_t max_track_gap_ms = 0;
  int64_t max_verify_lag_ms = 0;
  size_t sagactl_skipped = 0;
};

class watcher {
public:
  watcher(const options& o, const std::string& url, violations& v,
          uint64_t seed);

  /// Starts the tracker (a pass every 500 ms) and the verifier.
  void start();

  /// Stops both threads and waits for them.
  void stop();

  /// Whether the ended indexes are checked on every pass (see
  /// docs/chaos.md).
  std::atomic<bool> live_index_check{true};
  /// Until when (wall ms) the index check waits: every node's journal trims
  /// the ended indexes once a second, writing or not, but none can while
  /// Redis is down, nor for a moment after.
  std::atomic<int64_t> index_check_after_ms{0};

  /// Moves index_check_after_ms to `until_ms` unless it is later already.
  void hold_index_check(int64_t until_ms);

  struct progress {
    size_t discovered = 0;
    size_t open = 0;       // not ended yet
    size_t unverified = 0; // ended, not checked yet
    int64_t last_discovery_ms = 0;
  };

  /// Returns how far discovery and checks are.
  progress status();

  /// After stop(): the sagas and figures, for the final checks.
  std::map<std::string, saga_info>& sagas() {
    return sagas_;
  }

  figures& figs() {
    return figs_;
  }

  /// One tracking pass and the checks of what is due, on the calling thread
  /// (at the end, after stop()).
  void pass(bool final_pass);

  /// Checks that no ended index (nor the counted-saga markers) holds a saga
  /// that ended longer than the retention ago.
  void check_ended_indexes();

  /// How much later than the retention an ended index may hold an entry:
  /// journals trim once a second (a busy machine delays that a little).
  static constexpr int64_t slack_ms = 5'000;

private:
  /// The tracker's thread: discovery, open sagas, ended indexes.
  void track_loop();
  /// The verifier's thread: checks of ended sagas and of their expiry.
  void verify_loop();
  void track();
  void discover();
  /// Looks at the last event of every saga not known to have ended.
  void poll_open();
  /// Checks the ended sagas that are due, the longest ended first.
  void verify_due(bool final_pass);
  /// Checks saga `s` that ended; returns false to try again later (Redis
  /// unreachable).
  bool verify(saga_info& s);
  /// Copies the definition's steps and their replayed state into `s`.
  static void record_steps(saga_info& s, const saga::saga_state& st);
  /// Counts the journal's injected failures and timeouts of one saga.
  void count_faults(const std::vector<saga::event>& events);
  /// Checks the barrier records of saga `s` against its journal.
  void check_barrier(const saga_info& s, const redisReply& records);
  /// Checks the expiry of saga `s`'s keys (PTTL replies `pttls`, read at
  /// `now`) and notes when they are due to be gone.
  void record_expiries(saga_info& s, const std::string (&keys)[3],
                       const saga::redis_reply* pttls, int64_t now);
  /// Returns what differs between replayed state `st` and the catalog's
  /// JSON (what `sagactl --json show` prints), or "".
  static std::string compare_with_catalog(const saga::saga_state& st,
                                          const json& j);
  /// Runs `sagactl --json show id` and compares its output to `shown`.
  void run_sagactl(const std::string& id, const json& shown);
  void check_expiries();

  const options& opts_;
  std::string url_;
  redis_client redis_;         // the verifier's
  redis_client tracker_redis_; // the tracker's
  saga::saga_catalog catalog_; // the verifier's
  violations& v_;
  std::mt19937_64 rng_;
  std::atomic<bool> stop_{false};
  std::thread tracker_;
  std::thread verifier_;
  std::mutex mtx_;
  std::map<std::string, saga_info> sagas_;
  int64_t last_discovery_ms_ = 0;
  figures figs_;
};

} // namespace chaos
