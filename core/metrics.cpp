#include "saga/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <caf/config.hpp>

#ifndef SAGA_VERSION
#  define SAGA_VERSION "unknown"
#endif

namespace saga {

namespace {

const std::string other_name = "_other";

/// Returns `x` in the shortest form that reads back as the same double,
/// e.g. "0.0005", "10", "2.5" (whole numbers without an exponent); "+Inf",
/// "-Inf" and "NaN" as Prometheus spells them.
std::string format_double(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", x);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x)
      break;
  }
  return buf;
}

/// Appends `x` as a label value, escaped per the exposition format:
/// backslash, double quote and line feed.
void append_escaped(std::string& out, const std::string& x) {
  for (auto c : x) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_header(std::string& out, const char* name, const char* type,
                   const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

/// Returns `{definition="..."}` (empty labels: an empty string) with `extra`
/// labels (already rendered, e.g. `le="1"`) appended.
std::string render_labels(const std::string* definition,
                          const std::string* step, const std::string& extra) {
  if (!definition && !step && extra.empty())
    return {};
  std::string out = "{";
  bool first = true;
  auto sep = [&] {
    if (!first)
      out += ',';
    first = false;
  };
  if (definition) {
    sep();
    out += "definition=\"";
    append_escaped(out, *definition);
    out += '"';
  }
  if (step) {
    sep();
    out += "step=\"";
    append_escaped(out, *step);
    out += '"';
  }
  if (!extra.empty()) {
    sep();
    out += extra;
  }
  out += '}';
  return out;
}

void append_sample(std::string& out, const char* name, const char* suffix,
                   const std::string& labels, const std::string& value) {
  out += name;
  out += suffix;
  out += labels;
  out += ' ';
  out += value;
  out += '\n';
}

/// Appends the samples (buckets, sum, count) of one histogram series.
void append_histogram(std::string& out, const char* name,
                      const std::string* definition, const std::string* step,
                      const histogram& h) {
  const auto& bounds = h.bounds();
  // Read the buckets first and the count from them, so that a scrape racing
  // with `observe` never shows a +Inf bucket below a finite one.
  std::vector<uint64_t> cumulative(bounds.size() + 1);
  for (size_t i = 0; i <= bounds.size(); ++i)
    cumulative[i] = h.cumulative(i);
  for (size_t i = 1; i < cumulative.size(); ++i)
    cumulative[i] = std::max(cumulative[i], cumulative[i - 1]);
  for (size_t i = 0; i <= bounds.size(); ++i) {
    auto le = "le=\""
              + (i < bounds.size() ? format_double(bounds[i])
                                   : std::string{"+Inf"})
              + '"';
    append_sample(out, name, "_bucket", render_labels(definition, step, le),
                  std::to_string(cumulative[i]));
  }
  auto labels = render_labels(definition, step, {});
  append_sample(out, name, "_sum", labels, format_double(h.sum()));
  append_sample(out, name, "_count", labels, std::to_string(cumulative.back()));
}

/// Returns the entry `name` of `entries` under the cap `max` (names beyond
/// it share "_other"), creating it with `make` on first use. Takes a shared
/// lock for lookups and a unique lock to create.
template <class T, class Make>
T& find_or_create(std::shared_mutex& mtx,
                  std::map<std::string, std::unique_ptr<T>>& entries,
                  const std::string& name, size_t max, Make make) {
  {
    std::shared_lock<std::shared_mutex> guard{mtx};
    if (auto i = entries.find(name); i != entries.end())
      return *i->second;
  }
  std::unique_lock<std::shared_mutex> guard{mtx};
  if (auto i = entries.find(name); i != entries.end())
    return *i->second;
  auto own = entries.size() - (entries.count(other_name) > 0 ? 1 : 0);
  const auto& key = own < max ? name : other_name;
  auto& slot = entries[key];
  if (!slot)
    slot = make();
  return *slot;
}

} // namespace

// -- histogram ----------------------------------------------------------------

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)),
    counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double value) noexcept {
  if (std::isnan(value))
    return;
  // The first bucket whose bound is >= value; +Inf when none is.
  auto i = static_cast<size_t>(
    std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  // Negative observations (a clock that went back) add nothing to the sum.
  auto micros = value > 0 ? std::llround(std::min(value, 1e12) * 1e6) : 0;
  sum_micros_.fetch_add(static_cast<uint64_t>(micros),
                        std::memory_order_relaxed);
}

uint64_t histogram::cumulative(size_t i) const noexcept {
  i = std::min(i, bounds_.size());
  uint64_t total = 0;
  for (size_t j = 0; j <= i; ++j)
    total += counts_[j].load(std::memory_order_relaxed);
  return total;
}

uint64_t histogram::count() const noexcept {
  return cumulative(bounds_.size());
}

double histogram::sum() const noexcept {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::vector<double> histogram::latency_bounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
}

std::vector<double> histogram::size_bounds() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

std::vector<double> histogram::duration_bounds() {
  return {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
}

// -- definition_metrics -------------------------------------------------------

histogram& definition_metrics::step_latency(const std::string& step) {
  return find_or_create(mtx_, steps_, step, metrics::max_steps_per_definition,
                        [] {
                          return std::make_unique<histogram>(
                            histogram::latency_bounds());
                        });
}

// -- metrics ------------------------------------------------------------------

metrics::metrics()
  : saga_duration(histogram::duration_bounds()),
    journal_batch_size(histogram::size_bounds()),
    journal_batch_latency(histogram::latency_bounds()) {
  // nop
}

definition_metrics& metrics::of(const std::string& name) {
  return find_or_create(mtx_, defs_, name, max_definitions,
                        [] { return std::make_unique<definition_metrics>(); });
}

std::string
metrics::prometheus_text(const std::vector<gauge_sample>& extra) const {
  std::string out;
  out.reserve(4096);
  std::shared_lock<std::shared_mutex> guard{mtx_};
  using counter_ptr = std::atomic<uint64_t> definition_metrics::*;
  struct per_definition {
    const char* name;
    const char* help;
    counter_ptr counter;
  };
  const per_definition counters[] = {
    {"saga_sagas_started_total", "Sagas started, per definition.",
     &definition_metrics::started},
    {"saga_sagas_completed_total", "Sagas that completed, per definition.",
     &definition_metrics::completed},
    {"saga_sagas_compensated_total", "Sagas that compensated, per definition.",
     &definition_metrics::compensated},
    {"saga_sagas_failed_total",
     "Sagas that ended failed (need an operator), per definition.",
     &definition_metrics::failed},
    {"saga_step_retries_total",
     "Execute and compensate attempts sent again after a failure or timeout, "
     "per definition.",
     &definition_metrics::retries},
  };
  for (const auto& c : counters) {
    append_header(out, c.name, "counter", c.help);
    for (const auto& [name, def] : defs_)
      append_sample(out, c.name, "", render_labels(&name, nullptr, {}),
                    std::to_string(
                      ((*def).*(c.counter)).load(std::memory_order_relaxed)));
  }
  append_header(out, "saga_step_latency_seconds", "histogram",
                "Latency of execute attempts that got an answer, per "
                "definition and step.");
  for (const auto& [name, def] : defs_) {
    std::shared_lock<std::shared_mutex> steps_guard{def->mtx_};
    for (const auto& [step, h] : def->steps_)
      append_histogram(out, "saga_step_latency_seconds", &name, &step, *h);
  }
  // Node-wide scalars: counters since the start, then gauges (now).
  struct scalar {
    const char* name;
    const char* type;
    const char* help;
    const std::atomic<uint64_t>* value;
  };
  const scalar scalars[] = {
    {"saga_actor_restarts_total", "counter",
     "Saga actors restarted by their supervisor.", &saga_restarts},
    {"saga_sagas_parked_total", "counter",
     "Sagas parked failed after too many restarts.", &sagas_parked},
    {"saga_sagas_recovered_total", "counter",
     "Sagas resumed from the journal by recovery.", &sagas_recovered},
    {"saga_recoveries_total", "counter", "Recovery walks started.",
     &recoveries},
    {"saga_failovers_total", "counter",
     "Dead nodes whose sagas this node adopted.", &failovers},
    {"saga_operator_retries_total", "counter", "Operator retries carried out.",
     &operator_retries},
    {"saga_operator_aborts_total", "counter", "Operator aborts carried out.",
     &operator_aborts},
    {"saga_sagas_in_flight", "gauge", "Sagas this node's coordinator runs now.",
     &sagas_in_flight},
    {"saga_sagas_queued", "gauge",
     "Saga starts waiting for a slot (max_active_sagas).", &sagas_queued},
  };
  for (const auto& g : scalars) {
    append_header(out, g.name, g.type, g.help);
    append_sample(out, g.name, "", {},
                  std::to_string(g.value->load(std::memory_order_relaxed)));
  }
  for (const auto& g : extra) {
    if (g.value < 0)
      continue;
    append_header(out, g.name, "gauge", g.help);
    append_sample(out, g.name, "", {}, std::to_string(g.value));
  }
  append_header(out, "saga_saga_duration_seconds", "histogram",
                "Time from a saga's start (or resumption here) to its end.");
  append_histogram(out, "saga_saga_duration_seconds", nullptr, nullptr,
                   saga_duration);
  append_header(out, "caf_saga_build_info", "gauge",
                "The caf-saga build: its version and CAF's; always 1.");
  out += "caf_saga_build_info{version=\"" SAGA_VERSION "\",caf=\"";
  out += std::to_string(CAF_VERSION / 10000) + "."
         + std::to_string(CAF_VERSION / 100 % 100) + "."
         + std::to_string(CAF_VERSION % 100) + "\"} 1\n";
  append_header(out, "saga_journal_batch_size", "histogram",
                "Appends per journal round trip.");
  append_histogram(out, "saga_journal_batch_size", nullptr, nullptr,
                   journal_batch_size);
  append_header(out, "saga_journal_batch_latency_seconds", "histogram",
                "Time from sending a journal batch to its last reply.");
  append_histogram(out, "saga_journal_batch_latency_seconds", nullptr, nullptr,
                   journal_batch_latency);
  return out;
}

} // namespace saga
