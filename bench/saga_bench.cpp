// saga_bench: a load generator for caf-saga (issue 9, items 2 and 3).
//
//   saga_bench [--journal memory|redis] [--redis URL] [--steps N]
//              [--shape seq|fanout] [--failure-rate F]
//              [--concurrency N | --rate R] [--duration S] [--warmup S]
//              [--json FILE] [--markdown FILE]
//
// Runs sagas of N steps (sequential, or all in one parallel group) against
// in-process participants with no-op handlers; the last step fails with
// probability F, so the others are compensated. Closed loop (--concurrency,
// the default: N sagas in flight) or open loop (--rate: sagas started at R/s
// on a fixed schedule; latency counts from the scheduled start, so a stalled
// runtime is not hidden).
//
// After --warmup seconds the counters are reset and the load runs for
// --duration seconds more. Reports sagas/s, events/s, Redis commands per saga
// (INFO commandstats), latency percentiles (bench/histogram.hpp, client side:
// from `execute` to the result callback), peak RSS and a rough figure of
// bytes per in-flight saga. On Redis it first measures the raw ceiling: one
// connection, pipelines of 32 XADDs, each into a new stream (one saga = one
// stream), for 2 s, and prints our events/s as a fraction of it.
//
// Not done yet: --participants remote (participants on another node).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bench/command_counts.hpp"
#include "bench/histogram.hpp"
#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

// -- options ------------------------------------------------------------------

struct options {
  std::string journal = "memory";
  std::string redis_url;
  int steps = 3;
  std::string shape = "seq";
  double failure_rate = 0;
  size_t concurrency = 64;
  double rate = 0; // > 0: open loop
  double duration = 10;
  double warmup = 1;
  std::string json_file;
  std::string markdown_file;
  long long inflight_probe = -1; // -1: the concurrency (open loop: 1000)
};

const char* usage_text =
  "usage: saga_bench [options]\n"
  "  --journal memory|redis   journal (default memory)\n"
  "  --redis URL              Redis URL for --journal redis (default: env "
  "SAGA_REDIS_URL)\n"
  "  --steps N                steps per saga, 1..10 (default 3)\n"
  "  --shape seq|fanout       steps one after another, or all in parallel "
  "(default seq)\n"
  "  --failure-rate F         probability in [0,1] that the last step fails "
  "(default 0)\n"
  "  --concurrency N          closed loop: N sagas in flight (default 64)\n"
  "  --rate R                 open loop: start R sagas/s (overrides "
  "--concurrency)\n"
  "  --duration S             measured seconds (default 10)\n"
  "  --warmup S               seconds before measuring (default 1)\n"
  "  --inflight-probe N       before the load, hold N sagas in flight and "
  "measure RSS per saga\n"
  "                           (default: the concurrency, open loop 1000; 0: "
  "off)\n"
  "  --json FILE              write the results as JSON\n"
  "  --markdown FILE          write the results as a Markdown table\n"
  "  --help                   this text\n"
  "Participants are in-process no-op handlers (--participants remote: not "
  "implemented yet).\n";

[[noreturn]] void bad(const std::string& opt, const std::string& value,
                      const char* why) {
  std::fprintf(stderr, "saga_bench: invalid value '%s' for %s: %s\n",
               value.c_str(), opt.c_str(), why);
  std::exit(2);
}

double to_double(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || errno != 0
      || !std::isfinite(x))
    bad(opt, v, "not a number");
  return x;
}

long long to_int(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || end != v.c_str() + v.size() || errno != 0)
    bad(opt, v, "not an integer");
  return x;
}

options parse(int argc, char** argv) {
  options o;
  bool rate_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "saga_bench: %s needs a value (or unknown option)\n%s",
                   k.c_str(), usage_text);
      std::exit(2);
    }
    std::string v = argv[++i];
    if (k == "--journal") {
      if (v != "memory" && v != "redis")
        bad(k, v, "expected memory or redis");
      o.journal = v;
    } else if (k == "--redis") {
      if (v.rfind("redis://", 0) != 0 && v.rfind("unix://", 0) != 0)
        bad(k, v, "expected redis://host:port or unix://path");
      o.redis_url = v;
    } else if (k == "--steps") {
      auto n = to_int(k, v);
      if (n < 1 || n > 10)
        bad(k, v, "expected 1..10");
      o.steps = static_cast<int>(n);
    } else if (k == "--shape") {
      if (v != "seq" && v != "fanout")
        bad(k, v, "expected seq or fanout");
      o.shape = v;
    } else if (k == "--failure-rate") {
      o.failure_rate = to_double(k, v);
      if (o.failure_rate < 0 || o.failure_rate > 1)
        bad(k, v, "expected a probability in [0, 1]");
    } else if (k == "--concurrency") {
      auto n = to_int(k, v);
      if (n < 1 || n > 10'000'000)
        bad(k, v, "expected 1..10000000");
      o.concurrency = static_cast<size_t>(n);
    } else if (k == "--rate") {
      o.rate = to_double(k, v);
      if (o.rate <= 0 || o.rate > 1e8)
        bad(k, v, "expected sagas/s > 0");
      rate_given = true;
    } else if (k == "--duration") {
      o.duration = to_double(k, v);
      if (o.duration <= 0 || o.duration > 86'400)
        bad(k, v, "expected seconds > 0");
    } else if (k == "--warmup") {
      o.warmup = to_double(k, v);
      if (o.warmup < 0 || o.warmup > 3'600)
        bad(k, v, "expected seconds >= 0");
    } else if (k == "--inflight-probe") {
      o.inflight_probe = to_int(k, v);
      if (o.inflight_probe < 0 || o.inflight_probe > 10'000'000)
        bad(k, v, "expected 0..10000000");
    } else if (k == "--json") {
      o.json_file = v;
    } else if (k == "--markdown") {
      o.markdown_file = v;
    } else if (k == "--participants") {
      if (v != "local")
        bad(k, v, "only 'local' (in-process) is implemented so far");
    } else {
      std::fprintf(stderr, "saga_bench: unknown option %s\n%s", k.c_str(),
                   usage_text);
      std::exit(2);
    }
  }
  if (!rate_given)
    o.rate = 0;
  if (o.inflight_probe < 0)
    o.inflight_probe = rate_given ? 1000 : static_cast<long long>(o.concurrency);
  if (o.journal == "redis" && o.redis_url.empty()) {
    if (const char* env = std::getenv("SAGA_REDIS_URL"); env && *env)
      o.redis_url = env;
    else {
      std::fprintf(stderr, "saga_bench: --journal redis needs --redis URL or "
                           "SAGA_REDIS_URL\n");
      std::exit(2);
    }
  }
  return o;
}

// -- Redis helpers -------------------------------------------------------------

std::optional<saga::redis_connection> redis_connect(const std::string& url) {
  auto ep = saga::parse_redis_url(url);
  if (!ep)
    return std::nullopt;
  auto c = saga::redis_connection::connect(*ep, std::chrono::seconds{2});
  if (!c)
    return std::nullopt;
  return std::move(*c);
}

using saga::bench::command_counts;
using saga::bench::redis_commands;

struct ceiling_result {
  bool ok = false;
  double xadd_per_s = 0;
  double seconds = 0;
  uint64_t xadds = 0;
  std::string error;
};

/// Raw pipelined XADD rate: one connection, 32-deep pipelines, each XADD into
/// a new stream, fields shaped like the journal's events. Deletes the
/// streams afterwards (untimed).
ceiling_result measure_ceiling(const std::string& url, double seconds) {
  ceiling_result res;
  auto c = redis_connect(url);
  if (!c) {
    res.error = "cannot connect to " + url;
    return res;
  }
  constexpr int depth = 32;
  const std::string prefix = "saga_bench:ceiling:"
                             + std::to_string(::getpid()) + ":";
  std::vector<std::string> keys(depth);
  const std::string data = "{}";
  const std::string now = "1700000000000";
  uint64_t n = 0;
  auto t0 = clock_type::now();
  auto until = t0 + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(seconds));
  while (clock_type::now() < until) {
    for (int k = 0; k < depth; ++k) {
      keys[k] = prefix + std::to_string(n + k);
      c->append({"XADD", keys[k], "0-1", "type", "saga_started", "step", "",
                 "attempt", "0", "data", data, "error", "", "time", now});
    }
    for (int k = 0; k < depth; ++k) {
      auto r = c->read();
      if (!r || saga::is_error(**r)) {
        res.error = r ? saga::error_text(**r) : saga::describe(r.error());
        return res;
      }
    }
    n += depth;
  }
  res.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  res.xadds = n;
  res.xadd_per_s = static_cast<double>(n) / res.seconds;
  res.ok = true;
  // Clean up: UNLINK in pipelined batches.
  constexpr uint64_t per_cmd = 512;
  uint64_t pending = 0;
  std::vector<std::string> names;
  for (uint64_t i = 0; i < n; i += per_cmd) {
    names.clear();
    for (uint64_t j = i; j < std::min(n, i + per_cmd); ++j)
      names.push_back(prefix + std::to_string(j));
    std::vector<std::string_view> argv{"UNLINK"};
    for (auto& s : names)
      argv.emplace_back(s);
    c->append(argv);
    if (++pending == 32) {
      for (; pending > 0; --pending)
        (void) c->read();
    }
  }
  for (; pending > 0; --pending)
    (void) c->read();
  return res;
}

// -- process memory --------------------------------------------------------------

/// Current resident set size in bytes (from /proc/self/statm).
long long current_rss() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f)
    return -1;
  long long size = 0, resident = 0;
  int got = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * ::sysconf(_SC_PAGESIZE) : -1;
}

/// Peak resident set size in bytes (getrusage).
long long peak_rss() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<long long>(ru.ru_maxrss) * 1024;
}

// -- the load ----------------------------------------------------------------------

saga::definition make_definition(const options& o) {
  saga::definition def{"bench"};
  if (o.shape == "fanout")
    def.fork();
  for (int i = 1; i <= o.steps; ++i) {
    def.step("s" + std::to_string(i), "p" + std::to_string(i))
      .action(i == o.steps ? "last" : "op");
  }
  if (o.shape == "fanout")
    def.join();
  return def;
}

/// Shared state of a run; callbacks run on the runtime's threads.
struct run_state {
  std::mutex mtx;
  saga::bench::histogram latency_us; // guarded by mtx
  uint64_t completed = 0;            // guarded by mtx (measured window)
  uint64_t compensated = 0;          // guarded by mtx
  uint64_t rejected = 0;             // guarded by mtx (overloaded)
  uint64_t errors = 0;               // guarded by mtx
  std::string first_error;           // guarded by mtx
  std::vector<saga::saga_id> sample; // guarded by mtx: a few ended sagas
  bool measuring = false;            // guarded by mtx
  std::atomic<uint64_t> ended_total{0};
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::condition_variable drained;
};

std::string fmt(double x, int prec = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, x);
  return buf;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  const bool redis = o.journal == "redis";
  const bool open_loop = o.rate > 0;

  // The ceiling first, against the same Redis, before our load.
  ceiling_result ceiling;
  if (redis) {
    std::fprintf(stderr, "measuring the raw XADD ceiling for 2 s ...\n");
    ceiling = measure_ceiling(o.redis_url, 2.0);
    if (!ceiling.ok) {
      std::fprintf(stderr, "saga_bench: ceiling measurement failed: %s\n",
                   ceiling.error.c_str());
      return 1;
    }
  }

  saga::runtime_config cfg;
  cfg.journal_url = redis ? o.redis_url : "memory://";
  cfg.journal.node_id = "saga_bench";
  size_t cap = open_loop ? static_cast<size_t>(std::max(1000.0, o.rate * 2))
                         : o.concurrency;
  cap = std::max(cap, static_cast<size_t>(o.inflight_probe));
  cfg.max_active_sagas = std::max<size_t>(cap, cfg.max_active_sagas);
  cfg.max_queued_sagas = std::max<size_t>(cap, cfg.max_queued_sagas);
  saga::runtime rt{cfg};
  if (auto err = rt.start_error()) {
    std::fprintf(stderr, "saga_bench: runtime did not start: %s\n",
                 saga::describe(err).c_str());
    return 1;
  }
  auto noop = [](const saga::step_context&, const saga::json&) {
    return saga::step_outcome::ok();
  };
  const double failure_rate = o.failure_rate;
  auto maybe_fail = [failure_rate](const saga::step_context&,
                                   const saga::json&) {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    thread_local std::uniform_real_distribution<double> dist{0.0, 1.0};
    if (failure_rate > 0 && dist(gen) < failure_rate)
      return saga::step_outcome::fail("injected failure");
    return saga::step_outcome::ok();
  };
  for (int i = 1; i <= o.steps; ++i) {
    auto& p = rt.participant("p" + std::to_string(i));
    if (i == o.steps)
      p.on("last", maybe_fail, noop);
    else
      p.on("op", noop, noop);
  }
  // The in-flight probe's participant: parks every execute until released.
  std::mutex held_mtx;
  std::vector<saga::responder> held;
  rt.participant("hold").on_async(
    "park",
    [&](const saga::step_context&, const saga::json&, saga::responder r) {
      std::lock_guard<std::mutex> guard{held_mtx};
      held.push_back(std::move(r));
    },
    [](const saga::step_context&, const saga::json&, saga::responder r) {
      r.deliver(saga::step_outcome::ok());
    });
  const auto def = make_definition(o);
  if (auto err = def.validate()) {
    std::fprintf(stderr, "saga_bench: bad definition: %s\n",
                 saga::describe(err).c_str());
    return 1;
  }
  // Spawn paths, allocator, connections, scripts.
  for (int i = 0; i < 20; ++i)
    rt.execute(def).get();

  // -- in-flight probe: RSS growth while N sagas wait in their first step ----
  // Before the load, so the allocator has no freed memory to hide it in.
  struct probe_result {
    long long sagas = 0;
    long long reached = 0;
    long long rss_delta = 0;
    double bytes_per_saga = 0;
  } probe;
  if (o.inflight_probe > 0) {
    saga::definition hold_def{"bench_hold"};
    hold_def.step("wait", "hold").action("park").timeout(std::chrono::hours{1});
    for (int i = 1; i < o.steps; ++i)
      hold_def.step("s" + std::to_string(i), "p" + std::to_string(i)).action("op");
    probe.sagas = o.inflight_probe;
    std::atomic<long long> probe_ended{0};
    const long long before = current_rss();
    for (long long i = 0; i < probe.sagas; ++i)
      rt.execute(hold_def, [&](saga::saga_result) { ++probe_ended; });
    auto deadline = clock_type::now() + 60s;
    while (clock_type::now() < deadline) {
      {
        std::lock_guard<std::mutex> guard{held_mtx};
        probe.reached = static_cast<long long>(held.size());
      }
      if (probe.reached + probe_ended.load() >= probe.sagas)
        break;
      std::this_thread::sleep_for(10ms);
    }
    const long long after = current_rss();
    probe.rss_delta = after - before;
    if (probe.reached > 0)
      probe.bytes_per_saga = static_cast<double>(probe.rss_delta)
                             / static_cast<double>(probe.reached);
    {
      std::lock_guard<std::mutex> guard{held_mtx};
      for (auto& r : held)
        r.deliver(saga::step_outcome::ok());
      held.clear();
    }
    deadline = clock_type::now() + 60s;
    while (probe_ended.load() < probe.sagas && clock_type::now() < deadline)
      std::this_thread::sleep_for(10ms);
    std::fprintf(stderr, "in-flight probe: %lld sagas parked, RSS +%.1f MiB\n",
                 probe.reached, static_cast<double>(probe.rss_delta) / 1048576.0);
  }

  run_state st;
  const long long rss_baseline = current_rss();
  std::atomic<long long> rss_max_sampled{rss_baseline};
  std::atomic<int64_t> in_flight_max{0};

  // One saga: `scheduled` is when it should start (open loop) or did.
  std::function<void()> start_closed;
  auto launch = [&](clock_type::time_point scheduled,
                    const std::function<void()>& next) {
    auto n = st.in_flight.fetch_add(1) + 1;
    auto prev = in_flight_max.load(std::memory_order_relaxed);
    while (n > prev && !in_flight_max.compare_exchange_weak(prev, n)) {
    }
    rt.execute(def, [&st, scheduled, next](saga::saga_result r) {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  clock_type::now() - scheduled)
                  .count();
      {
        std::lock_guard<std::mutex> guard{st.mtx};
        if (st.measuring) {
          if (r.state == saga::saga_status::completed) {
            ++st.completed;
            st.latency_us.record(static_cast<uint64_t>(std::max<int64_t>(us, 0)));
          } else if (r.state == saga::saga_status::compensated) {
            // Only the injected failure of the last step turns sagas back.
            ++st.compensated;
            st.latency_us.record(static_cast<uint64_t>(std::max<int64_t>(us, 0)));
          } else if (saga::is(r.error, saga::errc::overloaded)) {
            ++st.rejected;
          } else {
            if (st.errors++ == 0)
              st.first_error = std::string{saga::to_string(r.state)} + ": "
                               + saga::describe(r.error);
          }
          if (st.sample.size() < 32 && !r.saga_id.empty())
            st.sample.push_back(r.saga_id);
        }
      }
      st.ended_total.fetch_add(1);
      if (st.in_flight.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> guard{st.mtx};
        st.drained.notify_all();
      }
      if (next && !st.stopping.load())
        next();
    });
  };
  start_closed = [&] { launch(clock_type::now(), start_closed); };

  // Progress on stderr once per second; samples RSS ten times per second.
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::atomic<bool> progress_done{false};
  const auto t_begin = clock_type::now();
  const double total_s = o.warmup + o.duration;
  std::thread progress{[&] {
    uint64_t last_ended = 0;
    auto last_t = clock_type::now();
    int tick = 0;
    while (!progress_done.load()) {
      std::this_thread::sleep_for(100ms);
      auto rss = current_rss();
      auto prev = rss_max_sampled.load();
      if (rss > prev)
        rss_max_sampled.store(rss);
      if (++tick % 10 != 0)
        continue;
      auto now = clock_type::now();
      auto ended = st.ended_total.load();
      auto rate = static_cast<double>(ended - last_ended)
                  / std::chrono::duration<double>(now - last_t).count();
      last_ended = ended;
      last_t = now;
      auto el = std::chrono::duration<double>(now - t_begin).count();
      std::fprintf(stderr, "%s[%5.1f/%.1f s] %s %8.0f sagas/s, %lld in flight, "
                           "RSS %.1f MiB%s",
                   tty ? "\r" : "", el, total_s,
                   el < o.warmup ? "warmup " : "measure", rate,
                   static_cast<long long>(st.in_flight.load()),
                   static_cast<double>(rss) / 1048576.0, tty ? "   " : "\n");
      std::fflush(stderr);
    }
    if (tty)
      std::fputc('\n', stderr);
  }};

  auto to_dur = [](double s) {
    return std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(s));
  };
  const auto t_measure = t_begin + to_dur(o.warmup);
  const auto t_end = t_measure + to_dur(o.duration);
  command_counts cmd_before, cmd_after;
  auto begin_measuring = [&] {
    std::lock_guard<std::mutex> guard{st.mtx};
    st.measuring = true;
  };
  // The Redis counters are read at the window's edges (not under the lock).
  std::function<void()> on_measure = [&] {
    if (redis)
      cmd_before = redis_commands(o.redis_url);
    begin_measuring();
  };
  clock_type::time_point measured_from, measured_to;

  if (!open_loop) {
    for (size_t i = 0; i < o.concurrency; ++i)
      start_closed();
    if (o.warmup > 0)
      std::this_thread::sleep_until(t_measure);
    measured_from = clock_type::now();
    on_measure();
    std::this_thread::sleep_until(t_end);
  } else {
    const auto interval = to_dur(1.0 / o.rate);
    auto next = t_begin;
    bool measuring = false;
    std::function<void()> none;
    while (true) {
      auto now = clock_type::now();
      if (!measuring && now >= t_measure) {
        measured_from = now;
        on_measure();
        measuring = true;
      }
      if (now >= t_end)
        break;
      // Start every saga whose time has come (catching up after stalls).
      while (next <= now) {
        launch(next, none);
        next += interval;
      }
      std::this_thread::sleep_until(std::min(next, t_end));
    }
  }
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    st.measuring = false;
  }
  measured_to = clock_type::now();
  if (redis)
    cmd_after = redis_commands(o.redis_url);
  st.stopping = true;
  {
    std::unique_lock<std::mutex> guard{st.mtx};
    st.drained.wait_for(guard, 30s, [&] { return st.in_flight.load() == 0; });
  }
  progress_done = true;
  progress.join();

  // -- figures -------------------------------------------------------------------
  const double window
    = std::chrono::duration<double>(measured_to - measured_from).count();
  // Callbacks touch the counters only while measuring (cleared under the
  // lock above), so they are stable now.
  const uint64_t ended = st.completed + st.compensated;
  const double sagas_per_s = static_cast<double>(ended) / window;
  // Events per saga from the logs of a sample of ended sagas.
  double events_per_saga_log = 0;
  size_t logs = 0;
  for (const auto& id : st.sample) {
    if (auto log = rt.saga_log(id)) {
      events_per_saga_log += static_cast<double>(log->events.size());
      ++logs;
    }
  }
  if (logs > 0)
    events_per_saga_log /= static_cast<double>(logs);
  double commands_per_saga = -1, xadd_per_saga = -1, evalsha_per_saga = -1;
  if (redis && cmd_before.total >= 0 && cmd_after.total >= 0 && ended > 0) {
    auto per = [&](long long a, long long b) {
      return static_cast<double>(b - a) / static_cast<double>(ended);
    };
    commands_per_saga = per(cmd_before.total, cmd_after.total);
    xadd_per_saga = per(cmd_before.xadd, cmd_after.xadd);
    evalsha_per_saga = per(cmd_before.evalsha, cmd_after.evalsha);
  }
  // Redis: events appended = XADDs executed in the window; memory: the logs.
  const double events_per_saga
    = xadd_per_saga >= 0 ? xadd_per_saga : events_per_saga_log;
  const double events_per_s = sagas_per_s * events_per_saga;
  const long long rss_peak = peak_rss();
  const int64_t peak_in_flight = in_flight_max.load();
  const double bytes_per_in_flight
    = peak_in_flight > 0 && rss_baseline > 0
        ? static_cast<double>(std::max(0LL, rss_max_sampled.load() - rss_baseline))
            / static_cast<double>(peak_in_flight)
        : 0;
  const auto& h = st.latency_us;
  auto ms = [](uint64_t us) { return static_cast<double>(us) / 1000.0; };

  // -- human summary ------------------------------------------------------------
  std::printf("saga_bench: journal %s%s, %d steps (%s), failure rate %.3f, %s\n",
              o.journal.c_str(), redis ? (" " + o.redis_url).c_str() : "",
              o.steps, o.shape.c_str(), o.failure_rate,
              open_loop ? ("open loop at " + fmt(o.rate) + " sagas/s").c_str()
                        : ("closed loop, " + std::to_string(o.concurrency)
                           + " in flight")
                            .c_str());
  std::printf("  participants  in-process, no-op handlers\n");
  std::printf("  window        %.2f s after %.1f s warmup; %llu completed, %llu "
              "compensated, %llu rejected (overloaded), %llu errors\n",
              window, o.warmup, static_cast<unsigned long long>(st.completed),
              static_cast<unsigned long long>(st.compensated),
              static_cast<unsigned long long>(st.rejected),
              static_cast<unsigned long long>(st.errors));
  if (st.errors > 0)
    std::printf("  first error   %s\n", st.first_error.c_str());
  std::printf("  throughput    %.0f sagas/s, %.0f events/s (%.2f events/saga%s)\n",
              sagas_per_s, events_per_s, events_per_saga,
              redis ? " from XADD count" : " from sampled logs");
  if (redis)
    std::printf("  redis         %.2f commands/saga (%.2f XADD, %.2f EVALSHA; "
                "inside scripts included); logs say %.2f events/saga\n",
                commands_per_saga, xadd_per_saga, evalsha_per_saga,
                events_per_saga_log);
  std::printf("  latency       p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f "
              "ms, max %.3f ms (%llu samples)\n",
              ms(h.percentile(0.50)), ms(h.percentile(0.90)),
              ms(h.percentile(0.99)), ms(h.percentile(0.999)), ms(h.max()),
              static_cast<unsigned long long>(h.count()));
  std::printf("  memory        peak RSS %.1f MiB; load: peak in flight %lld, "
              "RSS growth %.1f MiB (journal retention included)\n",
              static_cast<double>(rss_peak) / 1048576.0,
              static_cast<long long>(peak_in_flight),
              static_cast<double>(std::max(0LL, rss_max_sampled.load()
                                                  - rss_baseline))
                / 1048576.0);
  if (probe.sagas > 0)
    std::printf("  in flight     ~%.0f bytes per in-flight saga (%lld parked in "
                "their first step: RSS +%.1f MiB; rough)\n",
                probe.bytes_per_saga, probe.reached,
                static_cast<double>(probe.rss_delta) / 1048576.0);
  double fraction = -1;
  if (redis) {
    fraction = ceiling.xadd_per_s > 0 ? events_per_s / ceiling.xadd_per_s : 0;
    std::printf("  ceiling       raw pipelined XADD (1 connection, depth 32, new "
                "stream each): %.0f/s; our events/s = %.1f%% of it\n",
                ceiling.xadd_per_s, fraction * 100);
  }

  // -- JSON ----------------------------------------------------------------------
  saga::json j;
  j["config"] = {{"journal", o.journal},
                 {"redis_url", o.redis_url},
                 {"participants", "in-process"},
                 {"steps", o.steps},
                 {"shape", o.shape},
                 {"failure_rate", o.failure_rate},
                 {"mode", open_loop ? "open" : "closed"},
                 {"concurrency", open_loop ? 0 : o.concurrency},
                 {"rate", o.rate},
                 {"duration_s", o.duration},
                 {"warmup_s", o.warmup},
                 {"hardware_threads", std::thread::hardware_concurrency()}};
  j["window_s"] = window;
  j["completed"] = st.completed;
  j["compensated"] = st.compensated;
  j["rejected"] = st.rejected;
  j["errors"] = st.errors;
  j["sagas_per_s"] = sagas_per_s;
  j["events_per_s"] = events_per_s;
  j["events_per_saga"] = events_per_saga;
  j["events_per_saga_from_logs"] = events_per_saga_log;
  if (redis) {
    j["redis_commands_per_saga"] = commands_per_saga;
    j["redis_xadd_per_saga"] = xadd_per_saga;
    j["redis_evalsha_per_saga"] = evalsha_per_saga;
    j["ceiling"] = {{"xadd_per_s", ceiling.xadd_per_s},
                    {"connections", 1},
                    {"pipeline_depth", 32},
                    {"seconds", ceiling.seconds},
                    {"events_fraction", fraction}};
  }
  j["latency_us"] = {{"samples", h.count()},     {"min", h.min()},
                     {"mean", h.mean()},         {"p50", h.percentile(0.5)},
                     {"p90", h.percentile(0.9)}, {"p99", h.percentile(0.99)},
                     {"p999", h.percentile(0.999)}, {"max", h.max()}};
  j["memory"] = {{"peak_rss_bytes", rss_peak},
                 {"baseline_rss_bytes", rss_baseline},
                 {"peak_in_flight", peak_in_flight},
                 {"load_rss_growth_per_peak_in_flight", bytes_per_in_flight},
                 {"probe_sagas_in_flight", probe.reached},
                 {"probe_rss_delta_bytes", probe.rss_delta},
                 {"bytes_per_in_flight_saga", probe.bytes_per_saga}};
  int status = (ended == 0 || st.errors > 0) ? 1 : 0;
  if (!o.json_file.empty()) {
    std::ofstream out{o.json_file};
    out << j.dump(2) << '\n';
    if (!out) {
      std::fprintf(stderr, "saga_bench: cannot write %s\n", o.json_file.c_str());
      status = 1;
    }
  }
  if (!o.markdown_file.empty()) {
    std::ofstream out{o.markdown_file};
    out << "| journal | steps | shape | failure rate | load | sagas/s | "
           "events/s | Redis cmds/saga | p50 ms | p90 ms | p99 ms | p99.9 ms | "
           "peak RSS MiB | B/in-flight saga | events/s vs XADD ceiling |\n"
        << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        << "| " << o.journal << " | " << o.steps << " | " << o.shape << " | "
        << fmt(o.failure_rate, 3) << " | "
        << (open_loop ? fmt(o.rate) + "/s open"
                      : std::to_string(o.concurrency) + " closed")
        << " | " << fmt(sagas_per_s) << " | " << fmt(events_per_s) << " | "
        << (redis ? fmt(commands_per_saga, 2) : "-") << " | "
        << fmt(ms(h.percentile(0.5)), 3) << " | " << fmt(ms(h.percentile(0.9)), 3)
        << " | " << fmt(ms(h.percentile(0.99)), 3) << " | "
        << fmt(ms(h.percentile(0.999)), 3) << " | "
        << fmt(static_cast<double>(rss_peak) / 1048576.0, 1) << " | "
        << fmt(probe.bytes_per_saga) << " | "
        << (redis ? fmt(fraction * 100, 1) + "% of " + fmt(ceiling.xadd_per_s)
                      + "/s"
                  : "-")
        << " |\n";
    if (!out) {
      std::fprintf(stderr, "saga_bench: cannot write %s\n",
                   o.markdown_file.c_str());
      status = 1;
    }
  }
  if (st.in_flight.load() != 0)
    std::fprintf(stderr, "saga_bench: %lld sagas still in flight after 30 s\n",
                 static_cast<long long>(st.in_flight.load()));
  return status;
}
