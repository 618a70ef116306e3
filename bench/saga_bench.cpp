// saga_bench: a load generator for caf-saga (issue 9).
//
//   saga_bench [--journal memory|redis] [--redis URL] [--steps N]
//              [--shape seq|fanout] [--failure-rate F]
//              [--participants in-process|remote]
//              [--concurrency N | --rate R] [--duration S] [--warmup S]
//              [--inflight-probe N] [--recover N] [--recovery-concurrency C]
//              [--json FILE] [--markdown FILE]
//
// Three modes (the JSON's top-level "mode"):
//
// - load (the default): runs sagas of N steps (sequential, or all in one
//   parallel group) against no-op participants (demo/bench_participants.hpp);
//   the last step fails with probability F, so the others are compensated.
//   The participants are in this process, or (--participants remote, Redis
//   only) in one saga_node process this program starts: the coordinator and
//   the sagas stay here, every step crosses the cluster's gateway. Closed
//   loop (--concurrency, the default: N sagas in flight) or open loop
//   (--rate: sagas started at R/s on a fixed schedule; latency counts from
//   the scheduled start, so a stalled runtime is not hidden). After
//   --warmup seconds the counters are reset and the load runs for
//   --duration seconds more. Reports sagas/s, events/s, Redis commands per
//   saga (INFO commandstats), latency percentiles (bench/histogram.hpp,
//   client side: from `execute` to the result callback), peak RSS and bytes
//   per in-flight saga. On Redis it first measures the raw ceiling: one
//   connection, pipelines of 32 XADDs, each into a new stream (one saga =
//   one stream), for 2 s, and prints our events/s as a fraction of it.
//
// - inflight (--duration 0): only the in-flight probe, no load. The probe
//   starts --inflight-probe sagas (at most 2048 at a time not yet parked)
//   whose first step is parked by a participant that does not answer, and
//   measures the RSS growth per saga once all are parked; then the runtime
//   is stopped with them in flight. The load mode runs the same probe
//   first, then releases the sagas and waits until they ended.
//
// - recover (--recover N, Redis only): phase 1 leaves N sagas unfinished in
//   Redis through the product: a runtime whose participants never answer
//   starts N sagas, waits until each has journaled its first step (the
//   participant got the execute), then stops (the sagas stay listed as
//   unfinished, as after a crash; this is checked in Redis). Phase 2 starts
//   a new runtime with the same node id (a new epoch) and answering
//   participants, calls `recover()` (which adopts the earlier epoch's
//   sagas and resumes them, `recovery_concurrency` at a time) and measures
//   the time from the runtime's creation until Redis lists none of them as
//   unfinished; then it checks every saga's last event in Redis.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bench/command_counts.hpp"
#include "bench/histogram.hpp"
#include "demo/bench_participants.hpp"
#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"
#include "tests/support/child_process.hpp"
#include "tools/args.hpp"

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
  bool remote = false; // --participants remote
  size_t concurrency = 64;
  double rate = 0;      // > 0: open loop
  double duration = 10; // 0: the in-flight probe only
  double warmup = 1;
  std::string json_file;
  std::string markdown_file;
  long long inflight_probe = -1;   // -1: the concurrency (open loop: 1000)
  long long recover = 0;           // > 0: the recover mode
  size_t recovery_concurrency = 0; // 0: the runtime's default
};

[[noreturn]] void bad_combination(const char* why) {
  std::fprintf(stderr, "saga_bench: %s\n", why);
  std::exit(2);
}

/// Declares the options of the load: journal, saga shape, participants.
void declare_load(saga::tools::arg_parser& p, options& o,
                  std::string& participants) {
  p.choice("--journal", o.journal, {"memory", "redis"}, "journal");
  p.custom("--redis", "URL", "Redis URL for --journal redis",
           [&o](const std::string& v) -> std::optional<std::string> {
             if (v.rfind("redis://", 0) != 0 && v.rfind("unix://", 0) != 0)
               return "redis://host:port or unix://path";
             o.redis_url = v;
             return std::nullopt;
           })
    .shown_default("env SAGA_REDIS_URL");
  p.integer("--steps", o.steps, "steps per saga", 1,
            static_cast<int>(demo::bench_participant_count));
  p.choice("--shape", o.shape, {"seq", "fanout"},
           "steps one after another, or all in parallel");
  p.number("--failure-rate", o.failure_rate,
           "probability that the last step fails", 0.0, 1.0);
  p.choice("--participants", participants, {"in-process", "local", "remote"},
           "no-op participants in this process, or in a saga_node\n"
           "process started for the run (needs --journal redis)");
}

/// Declares the options of the run: loop, timing, probes, outputs.
void declare_run(saga::tools::arg_parser& p, options& o) {
  p.integer("--concurrency", o.concurrency, "closed loop: N sagas in flight",
            size_t{1}, size_t{10'000'000});
  p.number("--rate", o.rate,
           "open loop: start R sagas/s (overrides "
           "--concurrency)",
           0.0, 1e8)
    .value_name("R")
    .shown_default("closed loop")
    .check([&o] { return o.rate > 0; }, "a number > 0");
  p.number("--duration", o.duration,
           "measured seconds (0: the in-flight probe only, no load)", 0.0,
           86'400.0)
    .value_name("S");
  p.number("--warmup", o.warmup, "seconds before measuring", 0.0, 3'600.0)
    .value_name("S");
  p.integer("--inflight-probe", o.inflight_probe,
            "before the load, hold N sagas in flight and measure\n"
            "RSS per saga (0: off)",
            0LL, 10'000'000LL)
    .shown_default("the concurrency, open loop 1000");
  p.integer("--recover", o.recover,
            "recovery mode (needs --journal redis): leave N sagas\n"
            "unfinished, then time a new runtime's recover() until all "
            "ended",
            1LL, 10'000'000LL)
    .shown_default("off");
  p.integer("--recovery-concurrency", o.recovery_concurrency,
            "resumed sagas running at once during recovery", size_t{1},
            size_t{10'000'000})
    .value_name("C")
    .shown_default("the runtime's, 256");
  p.text("--json", o.json_file, "write the results as JSON").value_name("FILE");
  p.text("--markdown", o.markdown_file, "write the results as a Markdown table")
    .value_name("FILE");
}

/// Returns the options of `argv`; prints the help and exits 0 on --help,
/// exits 2 with a message naming the option on a bad one.
options parse(int argc, char** argv) {
  options o;
  std::string participants = "in-process";
  saga::tools::arg_parser p{"saga_bench", "usage: saga_bench [options]"};
  declare_load(p, o, participants);
  declare_run(p, o);
  p.parse_or_exit(argc, argv);
  o.remote = participants == "remote";
  bool rate_given = p.given("--rate");
  if (!rate_given)
    o.rate = 0;
  if (o.inflight_probe < 0)
    o.inflight_probe = rate_given ? 1000
                                  : static_cast<long long>(o.concurrency);
  if (o.remote && o.journal != "redis")
    bad_combination("--participants remote needs --journal redis (the "
                    "participants' saga_node finds this process through the "
                    "Redis directory)");
  if (o.recover > 0 && o.journal != "redis")
    bad_combination("--recover needs --journal redis (the sagas left "
                    "unfinished must outlive the runtime that started them)");
  if (o.recover > 0 && o.remote)
    bad_combination("--recover runs with in-process participants only; drop "
                    "--participants remote");
  if (o.recover == 0 && o.duration == 0 && o.inflight_probe == 0)
    bad_combination("--duration 0 runs the in-flight probe only: give "
                    "--inflight-probe N with N > 0");
#ifndef SAGA_NODE_EXE
  if (o.remote)
    bad_combination("--participants remote: this saga_bench was built without "
                    "saga_node (configure with SAGA_BUILD_DEMO=ON)");
#endif
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
  const std::string prefix = "saga_bench:ceiling:" + std::to_string(::getpid())
                             + ":";
  std::vector<std::string> keys(depth);
  const std::string data = "{}";
  const std::string now = "1700000000000";
  uint64_t n = 0;
  auto t0 = clock_type::now();
  auto until = t0
               + std::chrono::duration_cast<clock_type::duration>(
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

/// Returns the number of members of sorted set `key`, or -1.
long long zcard(saga::redis_connection& c, const std::string& key) {
  auto r = c.command({"ZCARD", key});
  if (!r || (*r)->type != REDIS_REPLY_INTEGER)
    return -1;
  return (*r)->integer;
}

/// Returns every member of sorted set `key` (the unfinished index: its size
/// is the bench's own saga count), or nothing if Redis failed.
std::optional<std::vector<std::string>> zrange_all(saga::redis_connection& c,
                                                   const std::string& key) {
  auto r = c.command({"ZRANGE", key, "0", "-1"});
  if (!r || (*r)->type != REDIS_REPLY_ARRAY)
    return std::nullopt;
  std::vector<std::string> ids;
  ids.reserve((*r)->elements);
  for (size_t i = 0; i < (*r)->elements; ++i)
    ids.emplace_back((*r)->element[i]->str, (*r)->element[i]->len);
  return ids;
}

/// Returns, per event type, how many of the sagas `ids` have that as the
/// last event of their history in Redis ("none" for a missing history,
/// "error" for a failed read). Pipelined XREVRANGE ... COUNT 1.
std::map<std::string, size_t> last_events(saga::redis_connection& c,
                                          const std::vector<std::string>& ids) {
  std::map<std::string, size_t> tally;
  constexpr size_t batch = 1'000;
  for (size_t i = 0; i < ids.size(); i += batch) {
    auto n = std::min(batch, ids.size() - i);
    for (size_t k = 0; k < n; ++k) {
      auto key = "saga:{" + ids[i + k] + "}:events";
      c.append({"XREVRANGE", key, "+", "-", "COUNT", "1"});
    }
    for (size_t k = 0; k < n; ++k) {
      auto r = c.read();
      if (!r || (*r)->type != REDIS_REPLY_ARRAY) {
        ++tally["error"];
        continue;
      }
      if ((*r)->elements == 0) {
        ++tally["none"];
        continue;
      }
      // [[entry id, [field, value, ...]]]
      const redisReply* entry = (*r)->element[0];
      std::string type = "error";
      if (entry->type == REDIS_REPLY_ARRAY && entry->elements == 2) {
        const redisReply* fields = entry->element[1];
        for (size_t f = 0; f + 1 < fields->elements; f += 2)
          if (std::string_view{fields->element[f]->str, fields->element[f]->len}
              == "type")
            type.assign(fields->element[f + 1]->str,
                        fields->element[f + 1]->len);
      }
      ++tally[type];
    }
  }
  return tally;
}

std::string describe_tally(const std::map<std::string, size_t>& tally) {
  std::string out;
  for (const auto& [type, n] : tally)
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + type;
  return out.empty() ? "none" : out;
}

size_t count_of(const std::map<std::string, size_t>& tally,
                const std::string& type) {
  auto i = tally.find(type);
  return i == tally.end() ? 0 : i->second;
}

// -- sagas and participants -----------------------------------------------------------

/// The bench's saga: steps s1..sN on bench-1..bench-N, the last with action
/// "last" (fails with --failure-rate). `step_timeout`: the steps' timeout
/// (default: the definition's).
saga::definition
make_definition(const options& o, const std::string& name = "bench",
                std::optional<std::chrono::milliseconds> step_timeout = {}) {
  saga::definition def{name};
  if (o.shape == "fanout")
    def.fork();
  for (int i = 1; i <= o.steps; ++i) {
    def.step("s" + std::to_string(i), demo::bench_participant_name(i))
      .action(i == o.steps ? "last" : "op");
    if (step_timeout)
      def.timeout(*step_timeout);
  }
  if (o.shape == "fanout")
    def.join();
  return def;
}

/// The runtime under load: in-process participants, or a saga::node in this
/// process (coordinating) whose participants live in a saga_node child.
struct bench_target {
  std::unique_ptr<saga::test::child_process> remote; // destroyed last
  std::string remote_id;
  std::unique_ptr<saga::node> node;
  std::unique_ptr<saga::runtime> local;

  saga::runtime& rt() {
    return node ? node->rt() : *local;
  }

  /// Stops the node, then the participants' process.
  void stop() {
    local.reset();
    if (node) {
      node->stop();
      node.reset();
    }
    if (remote) {
      remote->signal(SIGTERM);
      if (!remote->wait_exit(10s))
        std::fprintf(stderr,
                     "saga_bench: saga_node %s did not stop on "
                     "SIGTERM; killing it\n",
                     remote_id.c_str());
      remote.reset();
    }
  }

  ~bench_target() {
    stop();
  }
};

/// Builds the runtime for a load or inflight run; nullptr after printing
/// why not.
std::unique_ptr<bench_target> make_target(const options& o,
                                          saga::runtime_config cfg) {
  auto t = std::make_unique<bench_target>();
  if (!o.remote) {
    t->local = std::make_unique<saga::runtime>(cfg);
    if (auto err = t->local->start_error()) {
      std::fprintf(stderr, "saga_bench: runtime did not start: %s\n",
                   saga::describe(err).c_str());
      return nullptr;
    }
    for (int i = 1; i <= o.steps; ++i)
      demo::add_bench_participant(t->local->participant(
                                    demo::bench_participant_name(i)),
                                  o.failure_rate);
    return t;
  }
#ifdef SAGA_NODE_EXE
  // The participants' node first, so that our node's first membership pass
  // finds it and start() returns with every participant routed.
  const std::string id = "saga_bench-" + std::to_string(::getpid());
  t->remote_id = id + "-participants";
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.9f", o.failure_rate);
  try {
    t->remote = std::make_unique<saga::test::child_process>(
      SAGA_NODE_EXE,
      std::vector<std::string>{"--node-id=" + t->remote_id, "--host=127.0.0.1",
                               "--port=0", "--redis=" + o.redis_url,
                               "--participants=bench",
                               std::string{"--fail-rate="} + rate});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "saga_bench: cannot start saga_node: %s\n", e.what());
    return nullptr;
  }
  auto ready = t->remote->wait_for_line("ready port=", 30s);
  if (!ready) {
    std::fprintf(stderr, "saga_bench: saga_node %s did not become ready:\n",
                 t->remote_id.c_str());
    for (const auto& l : t->remote->lines())
      std::fprintf(stderr, "  %s\n", l.c_str());
    return nullptr;
  }
  std::fprintf(stderr, "participants: %s\n", ready->c_str());
  saga::node_config ncfg;
  ncfg.node_id = id;
  ncfg.host = "127.0.0.1";
  ncfg.port = 0;
  ncfg.redis_url = o.redis_url;
  ncfg.coordinate = true;
  ncfg.runtime = std::move(cfg);
  t->node = std::make_unique<saga::node>(ncfg);
  if (auto err = t->node->start_error()) {
    std::fprintf(stderr, "saga_bench: node did not start: %s\n",
                 saga::describe(err).c_str());
    return nullptr;
  }
  return t;
#else
  (void) cfg;
  return nullptr;
#endif
}

/// Starts `t`'s node (remote): after the participants the probe adds.
bool start_target(bench_target& t) {
  if (!t.node)
    return true;
  if (auto err = t.node->start()) {
    std::fprintf(stderr, "saga_bench: node did not join: %s\n",
                 saga::describe(err).c_str());
    return false;
  }
  return true;
}

/// Waits until `done()` or until `progress()` has not changed for `stall`;
/// prints `label` with the progress once per second. Returns done().
bool wait_with_progress(const char* label, long long goal,
                        const std::function<long long()>& progress,
                        const std::function<bool()>& done,
                        std::chrono::seconds stall = 60s) {
  auto last_change = clock_type::now();
  auto last_print = last_change;
  long long last = -1;
  while (!done()) {
    auto now = clock_type::now();
    auto p = progress();
    if (p != last) {
      last = p;
      last_change = now;
    } else if (now - last_change > stall) {
      std::fprintf(stderr, "%s: no progress for %lld s (%lld of %lld)\n", label,
                   static_cast<long long>(stall.count()), p, goal);
      return false;
    }
    if (now - last_print >= 1s) {
      last_print = now;
      std::fprintf(stderr, "%s: %lld of %lld, RSS %.1f MiB\n", label, p, goal,
                   static_cast<double>(current_rss()) / 1048576.0);
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// Starts `n` sagas through `start_one(i)`, at most `window` of them at a
/// time not yet `settled()` (parked or ended), then waits until all are
/// settled; prints progress, gives up after 60 s without any. The window
/// keeps the runtime's queues short: a million sagas started at once make
/// journal and barrier requests wait past their timeouts, and the resends
/// pile onto the backlog. Returns whether all settled.
bool paced_start(const char* label, long long n, long long window,
                 const std::function<void(long long)>& start_one,
                 const std::function<long long()>& settled) {
  long long issued = 0;
  auto pump = [&] {
    auto done = settled();
    while (issued < n && issued - done < window)
      start_one(issued++);
    return done;
  };
  return wait_with_progress(label, n, pump, [&] {
    pump();
    return issued >= n && settled() >= n;
  });
}

/// The in-flight probe's figures.
struct probe_result {
  long long sagas = 0;
  long long reached = 0;
  long long rss_before = 0;
  long long rss_delta = 0;
  double bytes_per_saga = 0;
  double seconds_to_park = 0; // from the first execute to the last parked
  double drain_seconds = 0;   // from the release to the last ended
  long long ended = 0;        // after the release
  long long errors = 0;       // sagas that did not complete
  std::string first_error;
};

std::string fmt(double x, int prec = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, x);
  return buf;
}

bool write_text(const std::string& file, const std::string& text) {
  if (file.empty())
    return true;
  std::ofstream out{file};
  out << text;
  out.flush();
  if (!out) {
    std::fprintf(stderr, "saga_bench: cannot write %s\n", file.c_str());
    return false;
  }
  return true;
}

saga::json config_json(const options& o, const char* mode_label) {
  const bool open_loop = o.rate > 0;
  return {{"journal", o.journal},
          {"redis_url", o.redis_url},
          {"participants", o.remote ? "remote" : "in-process"},
          {"steps", o.steps},
          {"shape", o.shape},
          {"failure_rate", o.failure_rate},
          {"mode", mode_label ? mode_label : (open_loop ? "open" : "closed")},
          {"concurrency", open_loop ? 0 : o.concurrency},
          {"rate", o.rate},
          {"duration_s", o.duration},
          {"warmup_s", o.warmup},
          {"hardware_threads", std::thread::hardware_concurrency()}};
}

// -- in-flight probe --------------------------------------------------------------

/// Sagas the probe (and the recover mode's phase 1) keep started but not
/// yet parked, and released but not yet ended, at most.
constexpr long long probe_window = 2'048;

/// The probe's participant "hold" (in this process in every mode): parks
/// every execute until released.
struct holder {
  std::mutex mtx;
  std::vector<saga::responder> held; // guarded by mtx

  void install(saga::participant_builder& p) {
    p.on_async(
      "park",
      [this](const saga::step_context&, const saga::json&, saga::responder r) {
        std::lock_guard<std::mutex> guard{mtx};
        held.push_back(std::move(r));
      },
      [](const saga::step_context&, const saga::json&, saga::responder r) {
        r.deliver(saga::step_outcome::ok());
      });
  }

  long long count() {
    std::lock_guard<std::mutex> guard{mtx};
    return static_cast<long long>(held.size());
  }

  /// Answers up to `k` parked executes; returns how many.
  long long release(long long k) {
    std::vector<saga::responder> batch;
    {
      std::lock_guard<std::mutex> guard{mtx};
      auto m = std::min<size_t>(static_cast<size_t>(k), held.size());
      batch.assign(std::make_move_iterator(held.end() - static_cast<long>(m)),
                   std::make_move_iterator(held.end()));
      held.resize(held.size() - m);
    }
    for (auto& r : batch)
      r.deliver(saga::step_outcome::ok());
    return static_cast<long long>(batch.size());
  }

  /// Drops the parked executes unanswered (before the runtime stops).
  void drop_all() {
    std::lock_guard<std::mutex> guard{mtx};
    held.clear();
    held.shrink_to_fit();
  }
};

/// Holds `o.inflight_probe` sagas in flight (their first step parked on
/// "hold") and measures the RSS growth per saga; with `drain`, then releases
/// them and waits until they ended. Runs before the load, so the allocator
/// has no freed memory to hide the growth in.
probe_result run_probe(saga::runtime& rt, const options& o, holder& h,
                       bool drain) {
  probe_result probe;
  probe.sagas = o.inflight_probe;
  saga::definition hold_def{"bench_hold"};
  hold_def.step("wait", "hold").action("park").timeout(std::chrono::hours{1});
  for (int i = 1; i < o.steps; ++i)
    hold_def.step("s" + std::to_string(i), demo::bench_participant_name(i))
      .action("op");
  {
    // Reserved at once so that growing it does not copy; its 24 bytes per
    // saga (the bench's, not the runtime's) are in the figure.
    std::lock_guard<std::mutex> guard{h.mtx};
    h.held.reserve(static_cast<size_t>(probe.sagas));
  }
  struct counters {
    std::atomic<long long> ended{0};
    std::atomic<long long> errors{0};
    std::mutex mtx;
    std::string first_error; // guarded by mtx
  };
  auto c = std::make_shared<counters>();
  probe.rss_before = current_rss();
  const auto t0 = clock_type::now();
  paced_start(
    "in-flight probe: parked", probe.sagas, probe_window,
    [&](long long) {
      rt.execute(hold_def, [c](saga::saga_result r) {
        if (r.state != saga::saga_status::completed
            && c->errors.fetch_add(1) == 0) {
          std::lock_guard<std::mutex> guard{c->mtx};
          c->first_error = std::string{saga::to_string(r.state)} + ": "
                           + saga::describe(r.error);
        }
        c->ended.fetch_add(1);
      });
    },
    [&] { return h.count() + c->ended.load(); });
  probe.seconds_to_park
    = std::chrono::duration<double>(clock_type::now() - t0).count();
  probe.reached = h.count();
  const long long after = current_rss();
  probe.rss_delta = after - probe.rss_before;
  if (probe.reached > 0)
    probe.bytes_per_saga = static_cast<double>(probe.rss_delta)
                           / static_cast<double>(probe.reached);
  std::fprintf(stderr,
               "in-flight probe: %lld sagas parked in %.1f s, RSS +%.1f MiB "
               "(%.0f bytes per saga)\n",
               probe.reached, probe.seconds_to_park,
               static_cast<double>(probe.rss_delta) / 1048576.0,
               probe.bytes_per_saga);
  if (!drain) {
    probe.ended = c->ended.load(); // sagas that ended while parking: none
    probe.errors = c->errors.load();
    std::lock_guard<std::mutex> guard{c->mtx};
    probe.first_error = c->first_error;
    return probe;
  }
  // Released at the pace they end, for the same reason as the start.
  const auto t1 = clock_type::now();
  const long long ended_before = c->ended.load();
  long long released = 0;
  wait_with_progress(
    "in-flight probe: ended after release", probe.sagas,
    [&] { return c->ended.load(); },
    [&] {
      auto ended = c->ended.load();
      if (released - (ended - ended_before) < probe_window)
        released += h.release(probe_window);
      return ended >= probe.sagas;
    });
  probe.drain_seconds
    = std::chrono::duration<double>(clock_type::now() - t1).count();
  probe.ended = c->ended.load();
  probe.errors = c->errors.load();
  {
    std::lock_guard<std::mutex> guard{c->mtx};
    probe.first_error = c->first_error;
  }
  std::fprintf(stderr,
               "in-flight probe: %lld ended %.1f s after the release "
               "(%lld did not complete)\n",
               probe.ended, probe.drain_seconds, probe.errors);
  return probe;
}

saga::json probe_memory_json(const probe_result& probe) {
  return {{"probe_sagas_requested", probe.sagas},
          {"probe_sagas_in_flight", probe.reached},
          {"probe_rss_before_bytes", probe.rss_before},
          {"probe_rss_delta_bytes", probe.rss_delta},
          {"bytes_per_in_flight_saga", probe.bytes_per_saga},
          {"probe_seconds_to_park", probe.seconds_to_park},
          {"probe_drain_seconds", probe.drain_seconds},
          {"probe_ended", probe.ended},
          {"probe_not_completed", probe.errors}};
}

// -- load and inflight modes ---------------------------------------------------------

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

int run_load(const options& o) {
  const bool redis = o.journal == "redis";
  const bool open_loop = o.rate > 0;
  const bool inflight_only = o.duration == 0;

  // The ceiling first, against the same Redis, before our load.
  ceiling_result ceiling;
  if (redis && !inflight_only) {
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
  if (o.recovery_concurrency > 0)
    cfg.recovery_concurrency = o.recovery_concurrency;
  size_t cap = inflight_only ? 0
               : open_loop   ? static_cast<size_t>(std::max(1000.0, o.rate * 2))
                             : o.concurrency;
  cap = std::max(cap, static_cast<size_t>(o.inflight_probe));
  // Admission must not refuse the probe's sagas nor the load's.
  cfg.max_active_sagas = std::max<size_t>(cap, cfg.max_active_sagas);
  cfg.max_queued_sagas = std::max<size_t>(cap, cfg.max_queued_sagas);
  holder hold; // outlives the runtime: its participant points to it
  auto target = make_target(o, cfg);
  if (!target)
    return 1;
  // Responders point into the runtime's actor system: dropped before it.
  struct drop_held {
    holder& h;
    ~drop_held() {
      h.drop_all();
    }
  } drop_held_first{hold};
  hold.install(target->rt().participant("hold"));
  if (!start_target(*target))
    return 1;
  saga::runtime& rt = target->rt();
  const auto def = make_definition(o);
  if (auto err = def.validate()) {
    std::fprintf(stderr, "saga_bench: bad definition: %s\n",
                 saga::describe(err).c_str());
    return 1;
  }
  // Spawn paths, allocator, connections, scripts; and a check that the
  // participants answer (remote: that the cluster routes them).
  for (int i = 0; i < 20; ++i) {
    auto r = rt.execute(def).get();
    if (r.state != saga::saga_status::completed
        && r.state != saga::saga_status::compensated) {
      std::fprintf(stderr, "saga_bench: warm-up saga ended %s: %s\n",
                   std::string{saga::to_string(r.state)}.c_str(),
                   saga::describe(r.error).c_str());
      return 1;
    }
  }

  // Probe only: the parked sagas are not released but stopped with the
  // runtime (releasing a million takes as long as running a million).
  probe_result probe;
  if (o.inflight_probe > 0)
    probe = run_probe(rt, o, hold, !inflight_only);

  if (inflight_only) {
    // The runtime is not stopped: stopping a million actors one by one
    // takes minutes in CAF 0.17 and is not what this measures. The results
    // are written, then the process ends at once.
    const long long rss_peak = peak_rss();
    std::printf("saga_bench: in-flight probe, journal %s%s, participants %s\n",
                o.journal.c_str(), redis ? (" " + o.redis_url).c_str() : "",
                o.remote ? "remote" : "in-process");
    std::printf("  in flight     %lld of %lld sagas parked in their first step "
                "in %.1f s: RSS +%.1f MiB, ~%.0f bytes per in-flight saga\n",
                probe.reached, probe.sagas, probe.seconds_to_park,
                static_cast<double>(probe.rss_delta) / 1048576.0,
                probe.bytes_per_saga);
    std::printf("  ended early   %lld (none should)%s%s\n", probe.errors,
                probe.errors > 0 ? "; first: " : "", probe.first_error.c_str());
    std::printf("  memory        peak RSS %.1f MiB\n",
                static_cast<double>(rss_peak) / 1048576.0);
    saga::json j;
    j["mode"] = "inflight";
    j["config"] = config_json(o, "probe");
    j["memory"] = probe_memory_json(probe);
    j["memory"]["peak_rss_bytes"] = rss_peak;
    int status = probe.reached < probe.sagas ? 1 : 0;
    if (!write_text(o.json_file, j.dump(2) + "\n"))
      status = 1;
    std::string md
      = "| journal | participants | sagas in flight | seconds to park | "
        "RSS growth MiB | B/in-flight saga | peak RSS MiB |\n"
        "|---|---|---|---|---|---|---|\n| "
        + o.journal + " | " + (o.remote ? "remote" : "in-process") + " | "
        + std::to_string(probe.reached) + " | " + fmt(probe.seconds_to_park, 1)
        + " | " + fmt(static_cast<double>(probe.rss_delta) / 1048576.0, 1)
        + " | " + fmt(probe.bytes_per_saga) + " | "
        + fmt(static_cast<double>(rss_peak) / 1048576.0, 1) + " |\n";
    if (!write_text(o.markdown_file, md))
      status = 1;
    std::fflush(nullptr);
    std::_Exit(status);
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
            st.latency_us.record(
              static_cast<uint64_t>(std::max<int64_t>(us, 0)));
          } else if (r.state == saga::saga_status::compensated) {
            // Only the injected failure of the last step turns sagas back.
            ++st.compensated;
            st.latency_us.record(
              static_cast<uint64_t>(std::max<int64_t>(us, 0)));
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
      std::fprintf(stderr,
                   "%s[%5.1f/%.1f s] %s %8.0f sagas/s, %lld in flight, "
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
  const double events_per_saga = xadd_per_saga >= 0 ? xadd_per_saga
                                                    : events_per_saga_log;
  const double events_per_s = sagas_per_s * events_per_saga;
  const long long rss_peak = peak_rss();
  const int64_t peak_in_flight = in_flight_max.load();
  const double bytes_per_in_flight
    = peak_in_flight > 0 && rss_baseline > 0
        ? static_cast<double>(
            std::max(0LL, rss_max_sampled.load() - rss_baseline))
            / static_cast<double>(peak_in_flight)
        : 0;
  const auto& h = st.latency_us;
  auto ms = [](uint64_t us) { return static_cast<double>(us) / 1000.0; };

  // -- human summary ------------------------------------------------------------
  std::printf(
    "saga_bench: journal %s%s, %d steps (%s), failure rate %.3f, %s\n",
    o.journal.c_str(), redis ? (" " + o.redis_url).c_str() : "", o.steps,
    o.shape.c_str(), o.failure_rate,
    open_loop ? ("open loop at " + fmt(o.rate) + " sagas/s").c_str()
              : ("closed loop, " + std::to_string(o.concurrency) + " in flight")
                  .c_str());
  if (o.remote)
    std::printf("  participants  remote: no-op handlers in saga_node %s "
                "(this process coordinates)\n",
                target->remote_id.c_str());
  else
    std::printf("  participants  in-process, no-op handlers\n");
  std::printf(
    "  window        %.2f s after %.1f s warmup; %llu completed, %llu "
    "compensated, %llu rejected (overloaded), %llu errors\n",
    window, o.warmup, static_cast<unsigned long long>(st.completed),
    static_cast<unsigned long long>(st.compensated),
    static_cast<unsigned long long>(st.rejected),
    static_cast<unsigned long long>(st.errors));
  if (st.errors > 0)
    std::printf("  first error   %s\n", st.first_error.c_str());
  std::printf(
    "  throughput    %.0f sagas/s, %.0f events/s (%.2f events/saga%s)\n",
    sagas_per_s, events_per_s, events_per_saga,
    redis ? " from XADD count" : " from sampled logs");
  if (redis)
    std::printf("  redis         %.2f commands/saga (%.2f XADD, %.2f EVALSHA; "
                "inside scripts included); logs say %.2f events/saga\n",
                commands_per_saga, xadd_per_saga, evalsha_per_saga,
                events_per_saga_log);
  std::printf(
    "  latency       p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f "
    "ms, max %.3f ms (%llu samples)\n",
    ms(h.percentile(0.50)), ms(h.percentile(0.90)), ms(h.percentile(0.99)),
    ms(h.percentile(0.999)), ms(h.max()),
    static_cast<unsigned long long>(h.count()));
  std::printf("  memory        peak RSS %.1f MiB; load: peak in flight %lld, "
              "RSS growth %.1f MiB (journal retention included)\n",
              static_cast<double>(rss_peak) / 1048576.0,
              static_cast<long long>(peak_in_flight),
              static_cast<double>(
                std::max(0LL, rss_max_sampled.load() - rss_baseline))
                / 1048576.0);
  if (probe.sagas > 0)
    std::printf(
      "  in flight     ~%.0f bytes per in-flight saga (%lld parked in "
      "their first step: RSS +%.1f MiB; rough)\n",
      probe.bytes_per_saga, probe.reached,
      static_cast<double>(probe.rss_delta) / 1048576.0);
  double fraction = -1;
  if (redis) {
    fraction = ceiling.xadd_per_s > 0 ? events_per_s / ceiling.xadd_per_s : 0;
    std::printf(
      "  ceiling       raw pipelined XADD (1 connection, depth 32, new "
      "stream each): %.0f/s; our events/s = %.1f%% of it\n",
      ceiling.xadd_per_s, fraction * 100);
  }

  // -- JSON ----------------------------------------------------------------------
  saga::json j;
  j["mode"] = "load";
  j["config"] = config_json(o, nullptr);
  if (o.remote)
    j["config"]["remote_node"] = target->remote_id;
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
  j["latency_us"] = {{"samples", h.count()},
                     {"min", h.min()},
                     {"mean", h.mean()},
                     {"p50", h.percentile(0.5)},
                     {"p90", h.percentile(0.9)},
                     {"p99", h.percentile(0.99)},
                     {"p999", h.percentile(0.999)},
                     {"max", h.max()}};
  j["memory"] = probe_memory_json(probe);
  j["memory"]["peak_rss_bytes"] = rss_peak;
  j["memory"]["baseline_rss_bytes"] = rss_baseline;
  j["memory"]["peak_in_flight"] = peak_in_flight;
  j["memory"]["load_rss_growth_per_peak_in_flight"] = bytes_per_in_flight;
  int status = (ended == 0 || st.errors > 0) ? 1 : 0;
  if (!o.json_file.empty()) {
    std::ofstream out{o.json_file};
    out << j.dump(2) << '\n';
    if (!out) {
      std::fprintf(stderr, "saga_bench: cannot write %s\n",
                   o.json_file.c_str());
      status = 1;
    }
  }
  if (!o.markdown_file.empty()) {
    std::ofstream out{o.markdown_file};
    out << "| journal | participants | steps | shape | failure rate | load | "
           "sagas/s | "
           "events/s | Redis cmds/saga | p50 ms | p90 ms | p99 ms | p99.9 ms | "
           "peak RSS MiB | B/in-flight saga | events/s vs XADD ceiling |\n"
        << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        << "| " << o.journal << " | " << (o.remote ? "remote" : "in-process")
        << " | " << o.steps << " | " << o.shape << " | "
        << fmt(o.failure_rate, 3) << " | "
        << (open_loop ? fmt(o.rate) + "/s open"
                      : std::to_string(o.concurrency) + " closed")
        << " | " << fmt(sagas_per_s) << " | " << fmt(events_per_s) << " | "
        << (redis ? fmt(commands_per_saga, 2) : "-") << " | "
        << fmt(ms(h.percentile(0.5)), 3) << " | "
        << fmt(ms(h.percentile(0.9)), 3) << " | "
        << fmt(ms(h.percentile(0.99)), 3) << " | "
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
  // Stopped while `st` lives: the callbacks of sagas still in flight (told
  // shutting_down) touch it.
  hold.drop_all();
  target->stop();
  return status;
}
// -- recover mode ----------------------------------------------------------------------

int run_recover(const options& o) {
  const long long n = o.recover;
  // Our own node id: only this run's sagas are in its index.
  const std::string node_id = "saga_bench-recover-"
                              + std::to_string(::getpid());
  const std::string index = "saga:unfinished:{" + node_id + "}";
  auto conn = redis_connect(o.redis_url);
  if (!conn) {
    std::fprintf(stderr, "saga_bench: cannot connect to %s\n",
                 o.redis_url.c_str());
    return 1;
  }
  if (auto left = zcard(*conn, index); left != 0) {
    std::fprintf(stderr, "saga_bench: %s is not empty (%lld)\n", index.c_str(),
                 left);
    return 1;
  }
  // Long step timeouts: phase 1 parks the first step for as long as it
  // takes to start all N sagas, and that must not time it out.
  const auto def = make_definition(o, "bench_recover",
                                   std::chrono::minutes{30});
  if (auto err = def.validate()) {
    std::fprintf(stderr, "saga_bench: bad definition: %s\n",
                 saga::describe(err).c_str());
    return 1;
  }
  saga::runtime_config cfg;
  cfg.journal_url = o.redis_url;
  cfg.journal.node_id = node_id;
  cfg.max_active_sagas = std::max<size_t>(static_cast<size_t>(n),
                                          cfg.max_active_sagas);
  cfg.max_queued_sagas = std::max<size_t>(static_cast<size_t>(n),
                                          cfg.max_queued_sagas);
  if (o.recovery_concurrency > 0)
    cfg.recovery_concurrency = o.recovery_concurrency;
  const size_t concurrency = cfg.recovery_concurrency;

  // -- phase 1: N sagas left unfinished ---------------------------------------
  // Every execute reaches the handler only after its step_started event is
  // durable and the barrier claimed it; the handler never answers.
  const long long per_saga = o.shape == "fanout" ? o.steps : 1;
  std::atomic<long long> parked{0};
  std::atomic<long long> ended1{0};
  double phase1_seconds = 0;
  double phase1_stop_seconds = 0;
  // The parked handlers keep their responders (a dropped one would answer
  // "outcome unknown" at once); after rt1 is gone they send nothing.
  std::mutex held_mtx;
  std::vector<saga::responder> held;
  {
    auto rt1 = std::make_unique<saga::runtime>(cfg);
    if (auto err = rt1->start_error()) {
      std::fprintf(stderr, "saga_bench: runtime did not start: %s\n",
                   saga::describe(err).c_str());
      return 1;
    }
    auto park = [&parked, &held, &held_mtx](const saga::step_context&,
                                            const saga::json&,
                                            saga::responder r) {
      std::lock_guard<std::mutex> guard{held_mtx};
      held.push_back(std::move(r));
      ++parked;
    };
    auto undo = [](const saga::step_context&, const saga::json&,
                   saga::responder r) { r.deliver(saga::step_outcome::ok()); };
    for (int i = 1; i <= o.steps; ++i)
      rt1->participant(demo::bench_participant_name(i))
        .on_async("op", park, undo)
        .on_async("last", park, undo);
    std::fprintf(stderr,
                 "phase 1: starting %lld sagas whose first step never "
                 "answers ...\n",
                 n);
    const auto t0 = clock_type::now();
    bool ok = paced_start(
      "phase 1: sagas with their first step parked", n, probe_window,
      [&](long long) {
        rt1->execute(def, [&ended1](saga::saga_result) { ++ended1; });
      },
      [&] { return parked.load() / per_saga + ended1.load(); });
    phase1_seconds
      = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (!ok || ended1.load() > 0) {
      std::fprintf(stderr,
                   "saga_bench: phase 1 failed: %lld of %lld parked, "
                   "%lld sagas ended early\n",
                   parked.load(), n * per_saga, ended1.load());
      return 1;
    }
    const auto t1 = clock_type::now();
    rt1.reset(); // stops the sagas; they stay unfinished in Redis
    phase1_stop_seconds
      = std::chrono::duration<double>(clock_type::now() - t1).count();
  }
  auto ids = zrange_all(*conn, index);
  if (!ids) {
    std::fprintf(stderr, "saga_bench: cannot read %s\n", index.c_str());
    return 1;
  }
  const auto before = last_events(*conn, *ids);
  std::fprintf(stderr,
               "phase 1: %lld sagas started and parked in %.1f s, "
               "runtime stopped in %.1f s; Redis lists %zu unfinished, "
               "last events: %s\n",
               n, phase1_seconds, phase1_stop_seconds, ids->size(),
               describe_tally(before).c_str());
  if (static_cast<long long>(ids->size()) != n
      || count_of(before, "step_started") != ids->size()) {
    std::fprintf(stderr,
                 "saga_bench: phase 1 did not leave %lld sagas "
                 "unfinished after their first step_started\n",
                 n);
    return 1;
  }

  // -- phase 2: a new incarnation recovers them ---------------------------------
  std::fprintf(stderr,
               "phase 2: a new runtime for node %s recovers them "
               "(recovery_concurrency %zu) ...\n",
               node_id.c_str(), concurrency);
  auto cmd_before = redis_commands(o.redis_url);
  const auto t0 = clock_type::now();
  auto rt2 = std::make_unique<saga::runtime>(cfg);
  if (auto err = rt2->start_error()) {
    std::fprintf(stderr, "saga_bench: runtime did not start: %s\n",
                 saga::describe(err).c_str());
    return 1;
  }
  for (int i = 1; i <= o.steps; ++i)
    demo::add_bench_participant(rt2->participant(
                                  demo::bench_participant_name(i)),
                                o.failure_rate);
  const double start_seconds
    = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::atomic<bool> recover_returned{false};
  std::atomic<size_t> resumed{0};
  double recover_call_seconds = 0;
  std::thread recovering{[&] {
    resumed = rt2->recover(); // blocks until the last page was resumed
    recover_call_seconds
      = std::chrono::duration<double>(clock_type::now() - t0).count();
    recover_returned = true;
  }};
  long long left = n;
  bool ok = wait_with_progress(
    "phase 2: unfinished", n,
    [&] {
      left = zcard(*conn, index);
      return left;
    },
    [&] { return left == 0 && recover_returned.load(); });
  const auto t_end = clock_type::now();
  recovering.join();
  auto cmd_after = redis_commands(o.redis_url);
  const double seconds = std::chrono::duration<double>(t_end - t0).count();
  const auto after = last_events(*conn, *ids);
  const size_t completed = count_of(after, "saga_completed");
  const size_t compensated = count_of(after, "saga_compensated");
  const size_t failed = count_of(after, "saga_failed")
                        + count_of(after, "saga_parked");
  const size_t recovered = completed + compensated;
  const bool all_terminal = recovered == ids->size();
  const double rate = seconds > 0 ? static_cast<double>(recovered) / seconds
                                  : 0;
  double commands_per_saga = -1;
  if (cmd_before.total >= 0 && cmd_after.total >= 0 && recovered > 0)
    commands_per_saga = static_cast<double>(cmd_after.total - cmd_before.total)
                        / static_cast<double>(recovered);
  rt2.reset();
  const long long rss_peak = peak_rss();

  std::printf("saga_bench: recovery of %lld unfinished sagas, journal redis "
              "%s, %d steps (%s), failure rate %.3f\n",
              n, o.redis_url.c_str(), o.steps, o.shape.c_str(), o.failure_rate);
  std::printf("  phase 1       %lld sagas parked after their first step in "
              "%.1f s; runtime stopped; Redis: %zu unfinished\n",
              n, phase1_seconds, ids->size());
  std::printf("  phase 2       recovered %zu (%zu completed, %zu compensated, "
              "%zu failed) in %.2f s: %.0f sagas/s; recovery_concurrency %zu\n",
              recovered, completed, compensated, failed, seconds, rate,
              concurrency);
  std::printf("                runtime up in %.2f s, recover() returned after "
              "%.2f s (%zu resumed), %.1f Redis commands per saga%s\n",
              start_seconds, recover_call_seconds, resumed.load(),
              commands_per_saga, ok ? "" : "; gave up waiting");
  std::printf("  last events   %s%s\n", describe_tally(after).c_str(),
              all_terminal ? " (all terminal)" : " (NOT all terminal)");
  std::printf("  memory        peak RSS %.1f MiB (phase 1 included)\n",
              static_cast<double>(rss_peak) / 1048576.0);

  saga::json j;
  j["mode"] = "recover";
  j["config"] = config_json(o, "recover");
  j["config"]["node_id"] = node_id;
  j["recover"] = {{"sagas", n},
                  {"recovered", recovered},
                  {"all_terminal", all_terminal},
                  {"seconds", seconds},
                  {"sagas_per_s", rate},
                  {"recovery_concurrency", concurrency},
                  {"completed", completed},
                  {"compensated", compensated},
                  {"failed", failed},
                  {"still_listed_unfinished", left},
                  {"resumed_by_recover_call", resumed.load()},
                  {"runtime_start_seconds", start_seconds},
                  {"recover_call_seconds", recover_call_seconds},
                  {"redis_commands_per_saga", commands_per_saga},
                  {"last_events", after},
                  {"phase1_seconds", phase1_seconds},
                  {"phase1_last_events", before}};
  j["memory"] = {{"peak_rss_bytes", rss_peak}};
  int status = all_terminal && ok ? 0 : 1;
  if (!write_text(o.json_file, j.dump(2) + "\n"))
    status = 1;
  std::string md
    = "| unfinished sagas | steps | shape | failure rate | recovery "
      "concurrency | recovered | all terminal | seconds | sagas/s |\n"
      "|---|---|---|---|---|---|---|---|---|\n| "
      + std::to_string(n) + " | " + std::to_string(o.steps) + " | " + o.shape
      + " | " + fmt(o.failure_rate, 3) + " | " + std::to_string(concurrency)
      + " | " + std::to_string(recovered) + " | "
      + (all_terminal ? "yes" : "no") + " | " + fmt(seconds, 2) + " | "
      + fmt(rate) + " |\n";
  if (!write_text(o.markdown_file, md))
    status = 1;
  return status;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (o.recover > 0)
    return run_recover(o);
  return run_load(o);
}
