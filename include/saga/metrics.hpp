#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace saga {

/// A histogram with fixed bucket bounds (seconds, or a count). Thread-safe:
/// `observe` is lock-free (relaxed atomics), so any actor may record.
class histogram {
public:
  /// Creates a histogram with the ascending upper bounds `bounds` (plus an
  /// implicit +Inf bucket).
  explicit histogram(std::vector<double> bounds);

  /// Records one observation of `value`.
  void observe(double value) noexcept;

  /// Returns the bounds, without +Inf.
  const std::vector<double>& bounds() const noexcept {
    return bounds_;
  }

  /// Returns the count of observations <= bounds()[i] (cumulative, as
  /// Prometheus wants it); i == bounds().size() is +Inf, the total count.
  uint64_t cumulative(size_t i) const noexcept;

  /// Returns the number of observations.
  uint64_t count() const noexcept;

  /// Returns the sum of all observations.
  double sum() const noexcept;

  /// Returns the bounds of step and journal latencies: 0.5 ms to 10 s.
  static std::vector<double> latency_bounds();

  /// Returns the bounds of batch sizes: 1 to 1024.
  static std::vector<double> size_bounds();

  /// Returns the bounds of saga durations: 1 ms to 1 h.
  static std::vector<double> duration_bounds();

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_; // one per bucket, +Inf last
  std::atomic<uint64_t> sum_micros_{0};             // sum * 1e6, rounded
};

/// What the sagas of one definition did. Thread-safe; lives as long as the
/// `metrics` that made it.
struct definition_metrics {
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> compensated{0};
  std::atomic<uint64_t> failed{0};
  /// Execute and compensate attempts sent again after a failure or timeout.
  std::atomic<uint64_t> retries{0};

  /// Returns the latency histogram of step `step` (execute attempts that got
  /// an answer, in seconds), creating it on first use. At most
  /// `metrics::max_steps_per_definition` steps get their own; the rest share
  /// the step label "_other". The reference stays valid.
  histogram& step_latency(const std::string& step);

private:
  friend class metrics;
  std::shared_mutex mtx_;
  std::map<std::string, std::unique_ptr<histogram>> steps_;
};

/// The metrics of one runtime (a node): what its sagas, journal and cluster
/// did since it started. Thread-safe: any thread records and reads; after
/// the first lookup of a definition, recording takes no lock.
class metrics {
public:
  /// Distinct definition names (and steps per definition) that get their
  /// own series; the rest are counted under "_other", so a user who makes up
  /// names cannot grow the exposition without bound.
  static constexpr size_t max_definitions = 256;
  static constexpr size_t max_steps_per_definition = 64;

  metrics();

  /// Returns the counters of definition `name`, creating them on first use.
  /// The reference stays valid as long as this object.
  definition_metrics& of(const std::string& name);

  /// Saga actors restarted by their supervisor, and sagas parked after
  /// too many restarts.
  std::atomic<uint64_t> saga_restarts{0};
  std::atomic<uint64_t> sagas_parked{0};
  /// Sagas resumed from the journal by recovery (own or adopted), recovery
  /// walks started, and dead nodes whose sagas this node adopted.
  std::atomic<uint64_t> sagas_recovered{0};
  std::atomic<uint64_t> recoveries{0};
  std::atomic<uint64_t> failovers{0};
  /// Gauges: sagas this node's coordinator runs now (started, resumed or
  /// joined, not yet ended), and starts waiting for a slot
  /// (`max_active_sagas`).
  std::atomic<uint64_t> sagas_in_flight{0};
  std::atomic<uint64_t> sagas_queued{0};
  /// Seconds from a saga's start (or resumption here) to its end, for the
  /// sagas that ended on this node.
  histogram saga_duration;
  /// Operator calls (retry, abort) this node carried out.
  std::atomic<uint64_t> operator_retries{0};
  std::atomic<uint64_t> operator_aborts{0};
  /// Appends per journal round trip, and the time from sending a batch to
  /// its last reply (seconds).
  histogram journal_batch_size;
  histogram journal_batch_latency;

  /// A gauge whose value this object does not hold (e.g. counted in Redis
  /// by someone else); `name` and `help` must outlive the call.
  struct gauge_sample {
    const char* name;
    const char* help;
    int64_t value; // < 0: unknown, the gauge is left out
  };

  /// Returns everything in the Prometheus text exposition format 0.0.4,
  /// metric names prefixed `saga_`, definition and step names as escaped
  /// label values, followed by the gauges in `extra`.
  std::string
  prometheus_text(const std::vector<gauge_sample>& extra = {}) const;

private:
  mutable std::shared_mutex mtx_;
  std::map<std::string, std::unique_ptr<definition_metrics>> defs_;
};

using metrics_ptr = std::shared_ptr<metrics>;

} // namespace saga
