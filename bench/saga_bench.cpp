// saga_bench: a load generator for caf-saga (issue 9).
//
//   saga_bench [--journal memory|redis] [--redis URL] [--steps N]
//              [--shape seq|fanout] [--failure-rate F]
//              [--participants in-process|remote|http]
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
#include <random>
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
#include "tests/support/http_test_server.hpp"
#include "tools/args.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

// -- options ------------------------------------------------------------------

struct options {
  std::string journal = "memory";
  std::string redis_url;
  int journal_replicas = 0; // journal.replicas: WAIT for N replicas
  int steps = 3;
  std::string shape = "seq";
  double failure_rate = 0;
  bool remote = false; // --participants remote
  bool http = false;   // --participants http
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

/// Returns the name of the run's participants: in-process, remote or http.
const char* participants_name(const options& o) {
  return o.remote ? "remote" : o.http ? "http" : "in-process";
}

/// Declares the options of the load: journal, saga shape, participants.
void declare_load(saga::tools::arg_parser& p, options& o,
                  std::string& participants) {
  p.choice("--journal", o.journal, {"memory", "redis"}, "journal");
  p.custom("--redis", "URL", "Redis URL for --journal redis",
           [&o](const std::string& v) -> std::optional<std::string> {
             if (v.rfind("redis://", 0) != 0 && v.rfind("unix://", 0) != 0
                 && v.rfind("redis+cluster://", 0) != 0
                 && v.rfind("rediss://", 0) != 0
                 && v.rfind("rediss+cluster://", 0) != 0)
               return "redis://host:port, rediss://host:port?ca_file=..., "
                      "redis+cluster://host:port,... or unix://path";
             o.redis_url = v;
             return std::nullopt;
           })
    .shown_default("env SAGA_REDIS_URL");
  p.integer("--journal-replicas", o.journal_replicas,
            "acknowledge appends once N replicas have them (WAIT)", 0, 16);
  p.integer("--steps", o.steps, "steps per saga", 1,
            static_cast<int>(demo::bench_participant_count));
  p.choice("--shape", o.shape, {"seq", "fanout"},
           "steps one after another, or all in parallel");
  p.number("--failure-rate", o.failure_rate,
           "probability that the last step fails", 0.0, 1.0);
  p.choice("--participants", participants,
           {"in-process", "local", "remote", "http"},
           "no-op participants in this process, in a saga_node\n"
           "process started for the run (needs --journal redis), or\n"
           "HTTP services on loopback (a keep-alive Beast server in\n"
           "this process, answering at once)");
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
  o.http = participants == "http";
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
  if (o.recover > 0 && (o.remote || o.http))
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
  /// The loopback round trip: PINGs one at a time from one client.
  double ping_p50_us = 0;
  double ping_p99_us = 0;
  std::string error;
};

/// Sets `res`'s round trip figures from `count` PINGs sent one at a time on
/// `c`, the way a lone saga's commands go; false (with `res.error`) if one
/// failed.
bool measure_round_trip(saga::redis_connection& c, ceiling_result& res,
                        size_t count = 2000) {
  std::vector<double> us;
  us.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto t0 = clock_type::now();
    auto r = c.command({"PING"});
    if (!r) {
      res.error = saga::describe(r.error());
      return false;
    }
    us.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0)
        .count());
  }
  std::sort(us.begin(), us.end());
  res.ping_p50_us = us[count / 2];
  res.ping_p99_us = us[count * 99 / 100];
  return true;
}

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
  if (!measure_round_trip(*c, res))
    return res;
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

/// Returns whether `def` is valid; prints why not.
bool check_definition(const saga::definition& def) {
  if (auto err = def.validate()) {
    std::fprintf(stderr, "saga_bench: bad definition: %s\n",
                 saga::describe(err).c_str());
    return false;
  }
  return true;
}

/// Returns whether `rt` started; prints why not.
bool check_started(saga::runtime& rt) {
  if (const auto& err = rt.start_error()) {
    std::fprintf(stderr, "saga_bench: runtime did not start: %s\n",
                 saga::describe(err).c_str());
    return false;
  }
  return true;
}

/// The runtime under load: in-process participants, or a saga::node in this
/// process (coordinating) whose participants live in a saga_node child.
struct bench_target {
  std::unique_ptr<saga::test::child_process> remote; // destroyed last
  /// --participants http: the services (stopped after the runtime).
  std::unique_ptr<saga::test::http_test_server> http;
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

/// Builds a runtime whose participants bench-1 .. bench-N are HTTP services
/// on loopback: one Beast server in this process answers every request at
/// once (`{}`; the last step 409 with --failure-rate), over keep-alive
/// connections. nullptr after printing why not.
std::unique_ptr<bench_target>
make_http_target(const options& o, const saga::runtime_config& cfg) {
  auto t = std::make_unique<bench_target>();
  const double rate = o.failure_rate;
  t->http = std::make_unique<saga::test::http_test_server>(
    [rate](const saga::test::http_test_server::request& q) {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      saga::test::http_test_server::response r;
      r.body = "{}";
      const bool last = q.target == "/last";
      if (last && rate > 0
          && std::uniform_real_distribution<double>{0, 1}(rng) < rate)
        r.status = 409;
      return r;
    });
  t->local = std::make_unique<saga::runtime>(cfg);
  if (!check_started(*t->local))
    return nullptr;
  for (int i = 1; i <= o.steps; ++i) {
    saga::http_participant_config hp;
    hp.base_url = t->http->base_url();
    // One connection per saga in flight: requests never queue here.
    hp.max_in_flight = static_cast<uint32_t>(
      std::clamp<size_t>(o.concurrency, 1, 1024));
    if (auto err = t->local->http_participant(demo::bench_participant_name(i),
                                              hp)) {
      std::fprintf(stderr, "saga_bench: %s\n", saga::describe(err).c_str());
      return nullptr;
    }
  }
  return t;
}

/// Builds the runtime for a load or inflight run; nullptr after printing
/// why not.
std::unique_ptr<bench_target> make_target(const options& o,
                                          saga::runtime_config cfg) {
  auto t = std::make_unique<bench_target>();
  if (o.http)
    return make_http_target(o, cfg);
  if (!o.remote) {
    t->local = std::make_unique<saga::runtime>(cfg);
    if (!check_started(*t->local))
      return nullptr;
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
  double stop_seconds = -1;   // probe only: the runtime's stop, sagas parked
  long long ended = 0;        // after the release
  long long errors = 0;       // sagas that did not complete
  std::string first_error;
};

std::string fmt(double x, int prec = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, x);
  return buf;
}

/// Returns `s` seconds as a clock duration.
clock_type::duration to_duration(double s) {
  return std::chrono::duration_cast<clock_type::duration>(
    std::chrono::duration<double>(s));
}

/// Returns `us` microseconds in milliseconds.
double to_ms(uint64_t us) {
  return static_cast<double>(us) / 1000.0;
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
          {"participants", participants_name(o)},
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

/// The probe's tallies of its sagas' ends. Shared with their callbacks,
/// which can run after run_probe returned (the inflight mode stops the
/// runtime with the sagas parked).
struct probe_counters {
  std::atomic<long long> ended{0};
  std::atomic<long long> errors{0};
  std::mutex mtx;
  std::string first_error; // guarded by mtx
};

/// Returns the probe's saga: its first step parks on "hold", then the
/// bench's steps s1..s(N-1).
saga::definition hold_definition(const options& o) {
  saga::definition hold_def{"bench_hold"};
  hold_def.step("wait", "hold").action("park").timeout(std::chrono::hours{1});
  for (int i = 1; i < o.steps; ++i)
    hold_def.step("s" + std::to_string(i), demo::bench_participant_name(i))
      .action("op");
  return hold_def;
}

/// Counts the end of one of the probe's sagas into `c`, keeping the first
/// error.
void count_probe_end(probe_counters& c, const saga::saga_result& r) {
  if (r.state != saga::saga_status::completed && c.errors.fetch_add(1) == 0) {
    std::lock_guard<std::mutex> guard{c.mtx};
    c.first_error = std::string{saga::to_string(r.state)} + ": "
                    + saga::describe(r.error);
  }
  c.ended.fetch_add(1);
}

/// Copies `c`'s tallies into `probe`.
void take_counts(probe_result& probe, probe_counters& c) {
  probe.ended = c.ended.load();
  probe.errors = c.errors.load();
  std::lock_guard<std::mutex> guard{c.mtx};
  probe.first_error = c.first_error;
}

/// Releases the probe's parked sagas and waits until all ended; fills in
/// `probe`'s drain figures and tallies. Released at the pace they end, for
/// the same reason as paced_start's window.
void release_probe(holder& h, probe_counters& c, probe_result& probe) {
  const auto t1 = clock_type::now();
  const long long ended_before = c.ended.load();
  long long released = 0;
  wait_with_progress(
    "in-flight probe: ended after release", probe.sagas,
    [&] { return c.ended.load(); },
    [&] {
      auto ended = c.ended.load();
      if (released - (ended - ended_before) < probe_window)
        released += h.release(probe_window);
      return ended >= probe.sagas;
    });
  probe.drain_seconds
    = std::chrono::duration<double>(clock_type::now() - t1).count();
  take_counts(probe, c);
  std::fprintf(stderr,
               "in-flight probe: %lld ended %.1f s after the release "
               "(%lld did not complete)\n",
               probe.ended, probe.drain_seconds, probe.errors);
}

/// Holds `o.inflight_probe` sagas in flight (their first step parked on
/// "hold") and measures the RSS growth per saga; with `drain`, then releases
/// them and waits until they ended. Runs before the load, so the allocator
/// has no freed memory to hide the growth in.
probe_result run_probe(saga::runtime& rt, const options& o, holder& h,
                       bool drain) {
  probe_result probe;
  probe.sagas = o.inflight_probe;
  const saga::definition hold_def = hold_definition(o);
  {
    // Reserved at once so that growing it does not copy; its 24 bytes per
    // saga (the bench's, not the runtime's) are in the figure.
    std::lock_guard<std::mutex> guard{h.mtx};
    h.held.reserve(static_cast<size_t>(probe.sagas));
  }
  auto c = std::make_shared<probe_counters>();
  probe.rss_before = current_rss();
  const auto t0 = clock_type::now();
  paced_start(
    "in-flight probe: parked", probe.sagas, probe_window,
    [&](long long) {
      rt.execute(hold_def,
                 [c](const saga::saga_result& r) { count_probe_end(*c, r); });
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
  if (drain)
    release_probe(h, *c, probe);
  else
    take_counts(probe, *c); // sagas that ended while parking: none
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
  std::vector<saga::saga_id> sample; // guarded by mtx: the last that ended
  bool measuring = false;            // guarded by mtx
  std::atomic<uint64_t> ended_total{0};
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::condition_variable drained;
};

/// Returns the raw XADD ceiling of the load's Redis, measured first, before
/// our load (an empty result without Redis or load); nothing after printing
/// why the measurement failed.
std::optional<ceiling_result> ceiling_before_load(const options& o) {
  ceiling_result ceiling;
  if (o.journal != "redis" || o.duration == 0)
    return ceiling;
  std::fprintf(stderr, "measuring the raw XADD ceiling for 2 s ...\n");
  ceiling = measure_ceiling(o.redis_url, 2.0);
  if (!ceiling.ok) {
    std::fprintf(stderr, "saga_bench: ceiling measurement failed: %s\n",
                 ceiling.error.c_str());
    return std::nullopt;
  }
  return ceiling;
}

/// Returns the runtime configuration of a load or inflight run.
saga::runtime_config load_config(const options& o) {
  const bool open_loop = o.rate > 0;
  saga::runtime_config cfg;
  cfg.journal_url = o.journal == "redis" ? o.redis_url : "memory://";
  cfg.journal.node_id = "saga_bench";
  cfg.journal.replicas = static_cast<uint32_t>(o.journal_replicas);
  if (o.recovery_concurrency > 0)
    cfg.recovery_concurrency = o.recovery_concurrency;
  size_t cap = o.duration == 0 ? 0
               : open_loop ? static_cast<size_t>(std::max(1000.0, o.rate * 2))
                           : o.concurrency;
  cap = std::max(cap, static_cast<size_t>(o.inflight_probe));
  // Admission must not refuse the probe's sagas nor the load's.
  cfg.max_active_sagas = std::max<size_t>(cap, cfg.max_active_sagas);
  cfg.max_queued_sagas = std::max<size_t>(cap, cfg.max_queued_sagas);
  return cfg;
}

/// Runs 20 sagas one after another: warms up spawn paths, allocator,
/// connections and scripts, and checks that the participants answer
/// (remote: that the cluster routes them). Returns false after printing how
/// a saga ended otherwise.
bool warm_up(saga::runtime& rt, const saga::definition& def) {
  for (int i = 0; i < 20; ++i) {
    auto r = rt.execute(def).get();
    if (r.state != saga::saga_status::completed
        && r.state != saga::saga_status::compensated) {
      std::fprintf(stderr, "saga_bench: warm-up saga ended %s: %s\n",
                   std::string{saga::to_string(r.state)}.c_str(),
                   saga::describe(r.error).c_str());
      return false;
    }
  }
  return true;
}

// -- inflight mode's report ---------------------------------------------------------

/// Prints the inflight mode's summary on stdout.
void print_inflight_summary(const options& o, const probe_result& probe,
                            long long rss_peak_bytes) {
  const bool redis = o.journal == "redis";
  std::printf("saga_bench: in-flight probe, journal %s%s, participants %s\n",
              o.journal.c_str(), redis ? (" " + o.redis_url).c_str() : "",
              participants_name(o));
  std::printf("  in flight     %lld of %lld sagas parked in their first step "
              "in %.1f s: RSS +%.1f MiB, ~%.0f bytes per in-flight saga\n",
              probe.reached, probe.sagas, probe.seconds_to_park,
              static_cast<double>(probe.rss_delta) / 1048576.0,
              probe.bytes_per_saga);
  std::printf("  ended early   %lld (none should)%s%s\n", probe.errors,
              probe.errors > 0 ? "; first: " : "", probe.first_error.c_str());
  std::printf("  memory        peak RSS %.1f MiB\n",
              static_cast<double>(rss_peak_bytes) / 1048576.0);
  std::printf("  stop          the runtime stopped in %.2f s with them "
              "parked\n",
              probe.stop_seconds);
}

/// Returns the inflight mode's results as JSON.
saga::json inflight_json(const options& o, const probe_result& probe,
                         long long rss_peak_bytes) {
  saga::json j;
  j["mode"] = "inflight";
  j["config"] = config_json(o, "probe");
  j["memory"] = probe_memory_json(probe);
  j["memory"]["peak_rss_bytes"] = rss_peak_bytes;
  j["stop_seconds"] = probe.stop_seconds;
  return j;
}

/// Returns the inflight mode's results as a Markdown table.
std::string inflight_markdown(const options& o, const probe_result& probe,
                              long long rss_peak_bytes) {
  return "| journal | participants | sagas in flight | seconds to park | "
         "RSS growth MiB | B/in-flight saga | peak RSS MiB | seconds to stop "
         "|\n"
         "|---|---|---|---|---|---|---|---|\n| "
         + o.journal + " | " + participants_name(o) + " | "
         + std::to_string(probe.reached) + " | " + fmt(probe.seconds_to_park, 1)
         + " | " + fmt(static_cast<double>(probe.rss_delta) / 1048576.0, 1)
         + " | " + fmt(probe.bytes_per_saga) + " | "
         + fmt(static_cast<double>(rss_peak_bytes) / 1048576.0, 1) + " | "
         + fmt(probe.stop_seconds, 2) + " |\n";
}

/// Reports the inflight mode's results (stdout, --json, --markdown), then
/// ends the process at once (the parked responders are never dropped: they
/// would answer nobody). Exits 1 if not every saga parked or a file was not
/// written.
[[noreturn]] void report_inflight_and_exit(const options& o,
                                           const probe_result& probe) {
  const long long rss_peak_bytes = peak_rss();
  print_inflight_summary(o, probe, rss_peak_bytes);
  int status = probe.reached < probe.sagas ? 1 : 0;
  if (!write_text(o.json_file,
                  inflight_json(o, probe, rss_peak_bytes).dump(2) + "\n"))
    status = 1;
  if (!write_text(o.markdown_file, inflight_markdown(o, probe, rss_peak_bytes)))
    status = 1;
  std::fflush(nullptr);
  std::_Exit(status);
}

// -- the load -----------------------------------------------------------------------

/// The load: starts sagas, counts their ends, and the figures taken around
/// the measured window. Lives until the runtime stopped: the callbacks of
/// sagas still in flight (told shutting_down) touch it.
struct load_run {
  saga::runtime& rt;
  const saga::definition& def;
  run_state st;
  long long rss_baseline_bytes = 0;
  std::atomic<long long> rss_max_sampled_bytes{0}; // by the progress thread
  std::atomic<int64_t> in_flight_max{0};
  clock_type::time_point measured_from;
  clock_type::time_point measured_to;
  command_counts cmd_before; // Redis, at the window's edges
  command_counts cmd_after;
  double cpu_before_us = 0; // this process, at the window's edges
  double cpu_after_us = 0;
  /// Starts a saga now, and the next one when it ends (the closed loop).
  std::function<void()> start_closed = [this] {
    launch(clock_type::now(), start_closed);
  };

  load_run(saga::runtime& runtime, const saga::definition& definition)
    : rt{runtime}, def{definition} {
  }

  /// Starts one saga; `scheduled` is when it should start (open loop) or
  /// did. When it ends, it is counted, then `next` runs unless stopping.
  void launch(clock_type::time_point scheduled,
              const std::function<void()>& next);
};

/// Counts into `st`, while it is measuring, a saga that ended `latency_us`
/// after its scheduled start.
void count_end(run_state& st, const saga::saga_result& r, int64_t latency_us) {
  std::lock_guard<std::mutex> guard{st.mtx};
  if (!st.measuring)
    return;
  if (r.state == saga::saga_status::completed) {
    ++st.completed;
    st.latency_us.record(
      static_cast<uint64_t>(std::max<int64_t>(latency_us, 0)));
  } else if (r.state == saga::saga_status::compensated) {
    // Only the injected failure of the last step turns sagas back.
    ++st.compensated;
    st.latency_us.record(
      static_cast<uint64_t>(std::max<int64_t>(latency_us, 0)));
  } else if (saga::is(r.error, saga::errc::overloaded)) {
    ++st.rejected;
  } else {
    if (st.errors++ == 0)
      st.first_error = std::string{saga::to_string(r.state)} + ": "
                       + saga::describe(r.error);
  }
  // The 32 that ended last, not the first 32: the memory journal keeps
  // only the newest 100,000 finished histories, and a fast run ends more.
  if (!r.saga_id.empty()) {
    if (st.sample.size() < 32)
      st.sample.push_back(r.saga_id);
    else
      st.sample[(st.completed + st.compensated) % 32] = r.saga_id;
  }
}

void load_run::launch(clock_type::time_point scheduled,
                      const std::function<void()>& next) {
  auto n = st.in_flight.fetch_add(1) + 1;
  auto prev = in_flight_max.load(std::memory_order_relaxed);
  while (n > prev && !in_flight_max.compare_exchange_weak(prev, n)) {
  }
  rt.execute(def, [this, scheduled, next](const saga::saga_result& r) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                clock_type::now() - scheduled)
                .count();
    count_end(st, r, us);
    st.ended_total.fetch_add(1);
    if (st.in_flight.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> guard{st.mtx};
      st.drained.notify_all();
    }
    if (next && !st.stopping.load())
      next();
  });
}

/// Until `done`: samples the RSS into `r` ten times per second and prints
/// the progress on stderr once per second (on one line if it is a `tty`).
void print_progress(load_run& r, const options& o,
                    const std::atomic<bool>& done,
                    clock_type::time_point t_begin, bool tty) {
  const double total_s = o.warmup + o.duration;
  uint64_t last_ended = 0;
  auto last_t = clock_type::now();
  int tick = 0;
  while (!done.load()) {
    std::this_thread::sleep_for(100ms);
    auto rss = current_rss();
    auto prev = r.rss_max_sampled_bytes.load();
    if (rss > prev)
      r.rss_max_sampled_bytes.store(rss);
    if (++tick % 10 != 0)
      continue;
    auto now = clock_type::now();
    auto ended = r.st.ended_total.load();
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
                 static_cast<long long>(r.st.in_flight.load()),
                 static_cast<double>(rss) / 1048576.0, tty ? "   " : "\n");
    std::fflush(stderr);
  }
  if (tty)
    std::fputc('\n', stderr);
}

/// This process's CPU time so far (user + system, every thread), in
/// microseconds (getrusage).
double process_cpu_us() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

/// Opens the measured window at `from`. The Redis counters are read at the
/// window's edges, not under the lock.
void begin_window(load_run& r, const options& o, clock_type::time_point from) {
  r.measured_from = from;
  r.cpu_before_us = process_cpu_us();
  if (o.journal == "redis")
    r.cmd_before = redis_commands(o.redis_url);
  std::lock_guard<std::mutex> guard{r.st.mtx};
  r.st.measuring = true;
}

/// Closes the measured window, stops starting sagas, and waits (30 s at
/// most) until none is in flight.
void end_window(load_run& r, const options& o) {
  {
    std::lock_guard<std::mutex> guard{r.st.mtx};
    r.st.measuring = false;
  }
  r.measured_to = clock_type::now();
  r.cpu_after_us = process_cpu_us();
  if (o.journal == "redis")
    r.cmd_after = redis_commands(o.redis_url);
  r.st.stopping = true;
  std::unique_lock<std::mutex> guard{r.st.mtx};
  r.st.drained.wait_for(guard, 30s, [&] { return r.st.in_flight.load() == 0; });
}

/// Closed loop: keeps `o.concurrency` sagas in flight through the warmup
/// (until `t_measure`) and the measured window (until `t_end`).
void run_closed_loop(load_run& r, const options& o,
                     clock_type::time_point t_measure,
                     clock_type::time_point t_end) {
  for (size_t i = 0; i < o.concurrency; ++i)
    r.start_closed();
  if (o.warmup > 0)
    std::this_thread::sleep_until(t_measure);
  begin_window(r, o, clock_type::now());
  std::this_thread::sleep_until(t_end);
}

/// Open loop: starts `o.rate` sagas per second on a fixed schedule from
/// `t_begin`, through the warmup (until `t_measure`) and the measured
/// window (until `t_end`).
void run_open_loop(load_run& r, const options& o,
                   clock_type::time_point t_begin,
                   clock_type::time_point t_measure,
                   clock_type::time_point t_end) {
  const auto interval = to_duration(1.0 / o.rate);
  auto next = t_begin;
  bool measuring = false;
  std::function<void()> none;
  while (true) {
    auto now = clock_type::now();
    if (!measuring && now >= t_measure) {
      begin_window(r, o, now);
      measuring = true;
    }
    if (now >= t_end)
      break;
    // Start every saga whose time has come (catching up after stalls).
    while (next <= now) {
      r.launch(next, none);
      next += interval;
    }
    std::this_thread::sleep_until(std::min(next, t_end));
  }
}

/// Runs the load: the warmup, the measured window, then the wait for the
/// sagas in flight; prints progress on stderr meanwhile.
void drive_load(load_run& r, const options& o) {
  r.rss_baseline_bytes = current_rss();
  r.rss_max_sampled_bytes = r.rss_baseline_bytes;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::atomic<bool> progress_done{false};
  const auto t_begin = clock_type::now();
  std::thread progress{
    [&] { print_progress(r, o, progress_done, t_begin, tty); }};
  const auto t_measure = t_begin + to_duration(o.warmup);
  const auto t_end = t_measure + to_duration(o.duration);
  if (o.rate > 0)
    run_open_loop(r, o, t_begin, t_measure, t_end);
  else
    run_closed_loop(r, o, t_measure, t_end);
  end_window(r, o);
  progress_done = true;
  progress.join();
}

// -- load mode's figures and report -------------------------------------------------

/// The load's figures, from its measured window.
struct load_figures {
  double window_s = 0;
  uint64_t ended = 0; // completed or compensated
  double sagas_per_s = 0;
  double events_per_saga_log = 0; // from the logs of the sampled sagas
  double commands_per_saga = -1;  // Redis only, from INFO commandstats
  double xadd_per_saga = -1;
  double evalsha_per_saga = -1;
  double redis_cpu_us_per_saga = -1; // Redis only, from INFO cpu
  /// This process's CPU (every thread, the bench's own driving included)
  /// per saga ended in the window.
  double process_cpu_us_per_saga = -1;
  double events_per_saga = 0;
  double events_per_s = 0;
  long long rss_peak_bytes = 0;
  long long rss_baseline_bytes = 0; // before the load
  int64_t peak_in_flight = 0;
  long long rss_growth_bytes = 0; // the highest sample over the baseline
  double bytes_per_in_flight = 0;
  double ceiling_fraction = -1; // Redis only: events/s over the raw XADDs/s
};

/// Returns the mean number of events in the logs of the sagas `sample`
/// that still have one (0 if none has).
double mean_log_events(saga::runtime& rt,
                       const std::vector<saga::saga_id>& sample) {
  double events = 0;
  size_t logs = 0;
  for (const auto& id : sample) {
    if (auto log = rt.saga_log(id)) {
      events += static_cast<double>(log->events.size());
      ++logs;
    }
  }
  return logs > 0 ? events / static_cast<double>(logs) : 0;
}

/// Returns the load's figures. Callbacks touch the counters only while
/// measuring (cleared under the lock by end_window), so they are stable.
load_figures compute_load_figures(load_run& r, const options& o,
                                  const ceiling_result& ceiling) {
  const bool redis = o.journal == "redis";
  load_figures f;
  f.window_s
    = std::chrono::duration<double>(r.measured_to - r.measured_from).count();
  f.ended = r.st.completed + r.st.compensated;
  f.sagas_per_s = static_cast<double>(f.ended) / f.window_s;
  f.events_per_saga_log = mean_log_events(r.rt, r.st.sample);
  if (f.ended > 0)
    f.process_cpu_us_per_saga = (r.cpu_after_us - r.cpu_before_us)
                                / static_cast<double>(f.ended);
  if (redis && r.cmd_before.total >= 0 && r.cmd_after.total >= 0
      && f.ended > 0) {
    auto per = [&](long long a, long long b) {
      return static_cast<double>(b - a) / static_cast<double>(f.ended);
    };
    f.commands_per_saga = per(r.cmd_before.total, r.cmd_after.total);
    f.xadd_per_saga = per(r.cmd_before.xadd, r.cmd_after.xadd);
    f.evalsha_per_saga = per(r.cmd_before.evalsha, r.cmd_after.evalsha);
    if (r.cmd_before.cpu_us >= 0 && r.cmd_after.cpu_us >= 0)
      f.redis_cpu_us_per_saga = (r.cmd_after.cpu_us - r.cmd_before.cpu_us)
                                / static_cast<double>(f.ended);
  }
  // Redis: events appended = XADDs executed in the window; memory: the logs.
  f.events_per_saga = f.xadd_per_saga >= 0 ? f.xadd_per_saga
                                           : f.events_per_saga_log;
  f.events_per_s = f.sagas_per_s * f.events_per_saga;
  f.rss_peak_bytes = peak_rss();
  f.rss_baseline_bytes = r.rss_baseline_bytes;
  f.peak_in_flight = r.in_flight_max.load();
  f.rss_growth_bytes = std::max(0LL, r.rss_max_sampled_bytes.load()
                                       - r.rss_baseline_bytes);
  f.bytes_per_in_flight = f.peak_in_flight > 0 && r.rss_baseline_bytes > 0
                            ? static_cast<double>(f.rss_growth_bytes)
                                / static_cast<double>(f.peak_in_flight)
                            : 0;
  if (redis)
    f.ceiling_fraction = ceiling.xadd_per_s > 0
                           ? f.events_per_s / ceiling.xadd_per_s
                           : 0;
  return f;
}

/// What the load mode's report is made of.
struct load_report {
  const options& o;
  const std::string& remote_id; // the participants' saga_node (remote)
  const run_state& st;
  const load_figures& f;
  const probe_result& probe;
  const ceiling_result& ceiling;
};

/// Prints the load's setup on stdout: journal, sagas, loop, participants.
void print_load_setup(const options& o, const std::string& remote_id) {
  const bool redis = o.journal == "redis";
  std::printf(
    "saga_bench: journal %s%s, %d steps (%s), failure rate %.3f, %s\n",
    o.journal.c_str(), redis ? (" " + o.redis_url).c_str() : "", o.steps,
    o.shape.c_str(), o.failure_rate,
    o.rate > 0
      ? ("open loop at " + fmt(o.rate) + " sagas/s").c_str()
      : ("closed loop, " + std::to_string(o.concurrency) + " in flight")
          .c_str());
  if (o.remote)
    std::printf("  participants  remote: no-op handlers in saga_node %s "
                "(this process coordinates)\n",
                remote_id.c_str());
  else if (o.http)
    std::printf("  participants  http: services on loopback (keep-alive, "
                "answering at once), behind the barrier\n");
  else
    std::printf("  participants  in-process, no-op handlers\n");
}

/// Prints the load's figures on stdout, a line per topic.
void print_load_figures(const load_report& rep) {
  const options& o = rep.o;
  const run_state& st = rep.st;
  const load_figures& f = rep.f;
  const bool redis = o.journal == "redis";
  const auto& h = st.latency_us;
  std::printf(
    "  window        %.2f s after %.1f s warmup; %llu completed, %llu "
    "compensated, %llu rejected (overloaded), %llu errors\n",
    f.window_s, o.warmup, static_cast<unsigned long long>(st.completed),
    static_cast<unsigned long long>(st.compensated),
    static_cast<unsigned long long>(st.rejected),
    static_cast<unsigned long long>(st.errors));
  if (st.errors > 0)
    std::printf("  first error   %s\n", st.first_error.c_str());
  std::printf(
    "  throughput    %.0f sagas/s, %.0f events/s (%.2f events/saga%s)\n",
    f.sagas_per_s, f.events_per_s, f.events_per_saga,
    redis ? " from XADD count" : " from sampled logs");
  if (redis)
    std::printf("  redis         %.2f commands/saga (%.2f XADD, %.2f EVALSHA; "
                "inside scripts included); logs say %.2f events/saga\n",
                f.commands_per_saga, f.xadd_per_saga, f.evalsha_per_saga,
                f.events_per_saga_log);
  if (redis)
    std::printf("  redis cpu     %.1f us/saga (INFO cpu over the window)\n",
                f.redis_cpu_us_per_saga);
  std::printf("  process cpu   %.1f us/saga (getrusage over the window, "
              "every thread)\n",
              f.process_cpu_us_per_saga);
  std::printf(
    "  latency       p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f "
    "ms, max %.3f ms (%llu samples)\n",
    to_ms(h.percentile(0.50)), to_ms(h.percentile(0.90)),
    to_ms(h.percentile(0.99)), to_ms(h.percentile(0.999)), to_ms(h.max()),
    static_cast<unsigned long long>(h.count()));
  std::printf("  memory        peak RSS %.1f MiB; load: peak in flight %lld, "
              "RSS growth %.1f MiB (journal retention included)\n",
              static_cast<double>(f.rss_peak_bytes) / 1048576.0,
              static_cast<long long>(f.peak_in_flight),
              static_cast<double>(f.rss_growth_bytes) / 1048576.0);
  if (rep.probe.sagas > 0)
    std::printf(
      "  in flight     ~%.0f bytes per in-flight saga (%lld parked in "
      "their first step: RSS +%.1f MiB; rough)\n",
      rep.probe.bytes_per_saga, rep.probe.reached,
      static_cast<double>(rep.probe.rss_delta) / 1048576.0);
  if (redis)
    std::printf(
      "  ceiling       raw pipelined XADD (1 connection, depth 32, new "
      "stream each): %.0f/s; our events/s = %.1f%% of it\n",
      rep.ceiling.xadd_per_s, f.ceiling_fraction * 100);
  if (redis && rep.ceiling.ping_p50_us > 0)
    std::printf(
      "  round trip    PING from one client: p50 %.3f ms, p99 %.3f ms; the "
      "saga's p50 = %.1f round trips\n",
      rep.ceiling.ping_p50_us / 1e3, rep.ceiling.ping_p99_us / 1e3,
      static_cast<double>(h.percentile(0.50)) / rep.ceiling.ping_p50_us);
}

/// Returns the load mode's results as JSON.
saga::json load_json(const load_report& rep) {
  const options& o = rep.o;
  const run_state& st = rep.st;
  const load_figures& f = rep.f;
  const auto& h = st.latency_us;
  saga::json j;
  j["mode"] = "load";
  j["config"] = config_json(o, nullptr);
  if (o.remote)
    j["config"]["remote_node"] = rep.remote_id;
  j["window_s"] = f.window_s;
  j["completed"] = st.completed;
  j["compensated"] = st.compensated;
  j["rejected"] = st.rejected;
  j["errors"] = st.errors;
  j["sagas_per_s"] = f.sagas_per_s;
  j["events_per_s"] = f.events_per_s;
  j["events_per_saga"] = f.events_per_saga;
  j["events_per_saga_from_logs"] = f.events_per_saga_log;
  j["process_cpu_us_per_saga"] = f.process_cpu_us_per_saga;
  if (o.journal == "redis") {
    j["redis_commands_per_saga"] = f.commands_per_saga;
    j["redis_xadd_per_saga"] = f.xadd_per_saga;
    j["redis_evalsha_per_saga"] = f.evalsha_per_saga;
    j["redis_cpu_us_per_saga"] = f.redis_cpu_us_per_saga;
    j["round_trip_us"] = {{"p50", rep.ceiling.ping_p50_us},
                          {"p99", rep.ceiling.ping_p99_us}};
    j["ceiling"] = {{"xadd_per_s", rep.ceiling.xadd_per_s},
                    {"connections", 1},
                    {"pipeline_depth", 32},
                    {"seconds", rep.ceiling.seconds},
                    {"events_fraction", f.ceiling_fraction}};
  }
  j["latency_us"] = {{"samples", h.count()},
                     {"min", h.min()},
                     {"mean", h.mean()},
                     {"p50", h.percentile(0.5)},
                     {"p90", h.percentile(0.9)},
                     {"p99", h.percentile(0.99)},
                     {"p999", h.percentile(0.999)},
                     {"max", h.max()}};
  j["memory"] = probe_memory_json(rep.probe);
  j["memory"]["peak_rss_bytes"] = f.rss_peak_bytes;
  j["memory"]["baseline_rss_bytes"] = f.rss_baseline_bytes;
  j["memory"]["peak_in_flight"] = f.peak_in_flight;
  j["memory"]["load_rss_growth_per_peak_in_flight"] = f.bytes_per_in_flight;
  return j;
}

/// Returns the load mode's results as a Markdown table.
std::string load_markdown(const load_report& rep) {
  const options& o = rep.o;
  const load_figures& f = rep.f;
  const auto& h = rep.st.latency_us;
  const bool redis = o.journal == "redis";
  return "| journal | participants | steps | shape | failure rate | load | "
         "sagas/s | "
         "events/s | Redis cmds/saga | p50 ms | p90 ms | p99 ms | p99.9 ms | "
         "peak RSS MiB | B/in-flight saga | events/s vs XADD ceiling |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
         "| "
         + o.journal + " | " + participants_name(o) + " | "
         + std::to_string(o.steps) + " | " + o.shape + " | "
         + fmt(o.failure_rate, 3) + " | "
         + (o.rate > 0 ? fmt(o.rate) + "/s open"
                       : std::to_string(o.concurrency) + " closed")
         + " | " + fmt(f.sagas_per_s) + " | " + fmt(f.events_per_s) + " | "
         + (redis ? fmt(f.commands_per_saga, 2) : "-") + " | "
         + fmt(to_ms(h.percentile(0.5)), 3) + " | "
         + fmt(to_ms(h.percentile(0.9)), 3) + " | "
         + fmt(to_ms(h.percentile(0.99)), 3) + " | "
         + fmt(to_ms(h.percentile(0.999)), 3) + " | "
         + fmt(static_cast<double>(f.rss_peak_bytes) / 1048576.0, 1) + " | "
         + fmt(rep.probe.bytes_per_saga) + " | "
         + (redis ? fmt(f.ceiling_fraction * 100, 1) + "% of "
                      + fmt(rep.ceiling.xadd_per_s) + "/s"
                  : "-")
         + " |\n";
}

/// Writes `text` to `file` unless no file is given; returns false after
/// printing why not. Unlike write_text, checks the stream before the
/// closing flush, as the load mode always has.
bool write_load_file(const std::string& file, const std::string& text) {
  if (file.empty())
    return true;
  std::ofstream out{file};
  out << text;
  if (!out) {
    std::fprintf(stderr, "saga_bench: cannot write %s\n", file.c_str());
    return false;
  }
  return true;
}

int run_load(const options& o) {
  // The ceiling first, against the same Redis, before our load.
  const auto ceiling = ceiling_before_load(o);
  if (!ceiling)
    return 1;
  holder hold; // outlives the runtime: its participant points to it
  auto target = make_target(o, load_config(o));
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
  if (!check_definition(def) || !warm_up(rt, def))
    return 1;
  // Probe only (--duration 0): the parked sagas are not released but
  // stopped with the runtime (releasing a million takes as long as running
  // a million).
  const bool inflight_only = o.duration == 0;
  probe_result probe;
  if (o.inflight_probe > 0)
    probe = run_probe(rt, o, hold, !inflight_only);
  if (inflight_only) {
    // The runtime stops with the sagas still parked (issue 20: a million
    // must stop within 10 s); their responders, held, answer nobody then.
    const auto stop_from = clock_type::now();
    target->stop();
    probe.stop_seconds
      = std::chrono::duration<double>(clock_type::now() - stop_from).count();
    report_inflight_and_exit(o, probe);
  }
  load_run load{rt, def};
  drive_load(load, o);
  const load_figures f = compute_load_figures(load, o, *ceiling);
  const load_report rep{o, target->remote_id, load.st, f, probe, *ceiling};
  print_load_setup(o, target->remote_id);
  print_load_figures(rep);
  int status = (f.ended == 0 || load.st.errors > 0) ? 1 : 0;
  if (!write_load_file(o.json_file, load_json(rep).dump(2) + "\n"))
    status = 1;
  if (!write_load_file(o.markdown_file, load_markdown(rep)))
    status = 1;
  if (load.st.in_flight.load() != 0)
    std::fprintf(stderr, "saga_bench: %lld sagas still in flight after 30 s\n",
                 static_cast<long long>(load.st.in_flight.load()));
  // Stopped while `load` lives: the callbacks of sagas still in flight
  // (told shutting_down) touch it.
  hold.drop_all();
  target->stop();
  return status;
}
// -- recover mode ----------------------------------------------------------------------

/// Phase 1's participants' executes, parked unanswered, and the sagas that
/// ended (none should). The parked handlers keep their responders (a
/// dropped one would answer "outcome unknown" at once); after phase 1's
/// runtime is gone they send nothing.
struct unanswered_steps {
  std::mutex mtx;
  std::vector<saga::responder> held; // guarded by mtx
  std::atomic<long long> parked{0};
  std::atomic<long long> ended{0};
};

/// What the recover mode measured, phase by phase.
struct recovery {
  long long sagas = 0; // to leave unfinished: --recover
  std::string node_id;
  std::string index;      // the node's unfinished index in Redis
  size_t concurrency = 0; // the runtime's recovery_concurrency
  double phase1_seconds = 0;
  double phase1_stop_seconds = 0;
  std::vector<std::string> ids;         // listed unfinished after phase 1
  std::map<std::string, size_t> before; // their last events then
  double start_seconds = 0;             // phase 2's runtime up
  double recover_call_seconds = 0;
  size_t resumed = 0;        // by the recover() call
  bool waited = false;       // false: phase 2 gave up waiting
  long long left = 0;        // still listed unfinished at the end
  double seconds = 0;        // from phase 2's runtime creation to none listed
  command_counts cmd_before; // Redis, around phase 2
  command_counts cmd_after;
  std::map<std::string, size_t> after; // the sagas' last events after phase 2
};

/// Returns the runtime configuration of both phases: node `node_id`, and
/// admission for all the sagas at once.
saga::runtime_config recover_config(const options& o,
                                    const std::string& node_id) {
  const auto n = static_cast<size_t>(o.recover);
  saga::runtime_config cfg;
  cfg.journal_url = o.redis_url;
  cfg.journal.node_id = node_id;
  cfg.max_active_sagas = std::max<size_t>(n, cfg.max_active_sagas);
  cfg.max_queued_sagas = std::max<size_t>(n, cfg.max_queued_sagas);
  if (o.recovery_concurrency > 0)
    cfg.recovery_concurrency = o.recovery_concurrency;
  return cfg;
}

/// Gives `rt` the bench's participants, whose executes park in `steps`
/// unanswered (their undo answers).
void install_unanswering(saga::runtime& rt, const options& o,
                         unanswered_steps& steps) {
  auto park = [&steps](const saga::step_context&, const saga::json&,
                       saga::responder r) {
    std::lock_guard<std::mutex> guard{steps.mtx};
    steps.held.push_back(std::move(r));
    ++steps.parked;
  };
  auto undo = [](const saga::step_context&, const saga::json&,
                 saga::responder r) { r.deliver(saga::step_outcome::ok()); };
  for (int i = 1; i <= o.steps; ++i)
    rt.participant(demo::bench_participant_name(i))
      .on_async("op", park, undo)
      .on_async("last", park, undo);
}

/// Phase 1: a runtime whose participants never answer starts the sagas,
/// waits until each has its first step parked, then stops, leaving them
/// unfinished in Redis. Returns false after printing why not.
bool leave_unfinished(const options& o, const saga::runtime_config& cfg,
                      const saga::definition& def, unanswered_steps& steps,
                      recovery& rec) {
  const long long n = rec.sagas;
  // Every execute reaches the handler only after its step_started event is
  // durable and the barrier claimed it; the handler never answers.
  const long long per_saga = o.shape == "fanout" ? o.steps : 1;
  auto rt1 = std::make_unique<saga::runtime>(cfg);
  if (!check_started(*rt1))
    return false;
  install_unanswering(*rt1, o, steps);
  std::fprintf(stderr,
               "phase 1: starting %lld sagas whose first step never "
               "answers ...\n",
               n);
  const auto t0 = clock_type::now();
  bool ok = paced_start(
    "phase 1: sagas with their first step parked", n, probe_window,
    [&](long long) {
      rt1->execute(def, [&steps](const saga::saga_result&) { ++steps.ended; });
    },
    [&] { return steps.parked.load() / per_saga + steps.ended.load(); });
  rec.phase1_seconds
    = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (!ok || steps.ended.load() > 0) {
    std::fprintf(stderr,
                 "saga_bench: phase 1 failed: %lld of %lld parked, "
                 "%lld sagas ended early\n",
                 steps.parked.load(), n * per_saga, steps.ended.load());
    return false;
  }
  const auto t1 = clock_type::now();
  rt1.reset(); // stops the sagas; they stay unfinished in Redis
  rec.phase1_stop_seconds
    = std::chrono::duration<double>(clock_type::now() - t1).count();
  return true;
}

/// Reads the sagas Redis lists unfinished after phase 1, and their last
/// events, into `rec`; returns whether they are all the sagas, each after
/// its first step_started (prints why not).
bool check_left_unfinished(saga::redis_connection& conn, recovery& rec) {
  auto ids = zrange_all(conn, rec.index);
  if (!ids) {
    std::fprintf(stderr, "saga_bench: cannot read %s\n", rec.index.c_str());
    return false;
  }
  rec.ids = std::move(*ids);
  rec.before = last_events(conn, rec.ids);
  std::fprintf(stderr,
               "phase 1: %lld sagas started and parked in %.1f s, "
               "runtime stopped in %.1f s; Redis lists %zu unfinished, "
               "last events: %s\n",
               rec.sagas, rec.phase1_seconds, rec.phase1_stop_seconds,
               rec.ids.size(), describe_tally(rec.before).c_str());
  if (static_cast<long long>(rec.ids.size()) != rec.sagas
      || count_of(rec.before, "step_started") != rec.ids.size()) {
    std::fprintf(stderr,
                 "saga_bench: phase 1 did not leave %lld sagas "
                 "unfinished after their first step_started\n",
                 rec.sagas);
    return false;
  }
  return true;
}

/// Phase 2: a new runtime with the same node id (a new epoch) and answering
/// participants calls recover(); waits until Redis lists none of the sagas
/// unfinished (or gives up on a stall), then reads their last events into
/// `rec`. Returns false after printing why the runtime did not start.
bool recover_all(const options& o, const saga::runtime_config& cfg,
                 saga::redis_connection& conn, recovery& rec) {
  std::fprintf(stderr,
               "phase 2: a new runtime for node %s recovers them "
               "(recovery_concurrency %zu) ...\n",
               rec.node_id.c_str(), rec.concurrency);
  rec.cmd_before = redis_commands(o.redis_url);
  const auto t0 = clock_type::now();
  auto rt2 = std::make_unique<saga::runtime>(cfg);
  if (!check_started(*rt2))
    return false;
  for (int i = 1; i <= o.steps; ++i)
    demo::add_bench_participant(rt2->participant(
                                  demo::bench_participant_name(i)),
                                o.failure_rate);
  rec.start_seconds
    = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::atomic<bool> recover_returned{false};
  std::atomic<size_t> resumed{0};
  std::thread recovering{[&] {
    resumed = rt2->recover(); // blocks until the last page was resumed
    rec.recover_call_seconds
      = std::chrono::duration<double>(clock_type::now() - t0).count();
    recover_returned = true;
  }};
  rec.left = rec.sagas;
  rec.waited = wait_with_progress(
    "phase 2: unfinished", rec.sagas,
    [&] {
      rec.left = zcard(conn, rec.index);
      return rec.left;
    },
    [&] { return rec.left == 0 && recover_returned.load(); });
  const auto t_end = clock_type::now();
  recovering.join();
  rec.cmd_after = redis_commands(o.redis_url);
  rec.seconds = std::chrono::duration<double>(t_end - t0).count();
  rec.resumed = resumed.load();
  rec.after = last_events(conn, rec.ids);
  return true;
}

/// The recovery's figures, from the sagas' last events after phase 2.
struct recovery_figures {
  size_t completed = 0;
  size_t compensated = 0;
  size_t failed = 0;    // failed or parked
  size_t recovered = 0; // completed or compensated
  bool all_terminal = false;
  double sagas_per_s = 0;
  double commands_per_saga = -1;
};

/// Returns the recovery's figures.
recovery_figures tally_recovery(const recovery& rec) {
  recovery_figures f;
  f.completed = count_of(rec.after, "saga_completed");
  f.compensated = count_of(rec.after, "saga_compensated");
  f.failed = count_of(rec.after, "saga_failed")
             + count_of(rec.after, "saga_parked");
  f.recovered = f.completed + f.compensated;
  f.all_terminal = f.recovered == rec.ids.size();
  f.sagas_per_s = rec.seconds > 0
                    ? static_cast<double>(f.recovered) / rec.seconds
                    : 0;
  if (rec.cmd_before.total >= 0 && rec.cmd_after.total >= 0 && f.recovered > 0)
    f.commands_per_saga = static_cast<double>(rec.cmd_after.total
                                              - rec.cmd_before.total)
                          / static_cast<double>(f.recovered);
  return f;
}

/// Prints the recover mode's summary on stdout.
void print_recovery(const options& o, const recovery& rec,
                    const recovery_figures& f, long long rss_peak_bytes) {
  std::printf("saga_bench: recovery of %lld unfinished sagas, journal redis "
              "%s, %d steps (%s), failure rate %.3f\n",
              rec.sagas, o.redis_url.c_str(), o.steps, o.shape.c_str(),
              o.failure_rate);
  std::printf("  phase 1       %lld sagas parked after their first step in "
              "%.1f s; runtime stopped; Redis: %zu unfinished\n",
              rec.sagas, rec.phase1_seconds, rec.ids.size());
  std::printf("  phase 2       recovered %zu (%zu completed, %zu compensated, "
              "%zu failed) in %.2f s: %.0f sagas/s; recovery_concurrency %zu\n",
              f.recovered, f.completed, f.compensated, f.failed, rec.seconds,
              f.sagas_per_s, rec.concurrency);
  std::printf("                runtime up in %.2f s, recover() returned after "
              "%.2f s (%zu resumed), %.1f Redis commands per saga%s\n",
              rec.start_seconds, rec.recover_call_seconds, rec.resumed,
              f.commands_per_saga, rec.waited ? "" : "; gave up waiting");
  std::printf("  last events   %s%s\n", describe_tally(rec.after).c_str(),
              f.all_terminal ? " (all terminal)" : " (NOT all terminal)");
  std::printf("  memory        peak RSS %.1f MiB (phase 1 included)\n",
              static_cast<double>(rss_peak_bytes) / 1048576.0);
}

/// Returns the recover mode's results as JSON.
saga::json recovery_json(const options& o, const recovery& rec,
                         const recovery_figures& f, long long rss_peak_bytes) {
  saga::json j;
  j["mode"] = "recover";
  j["config"] = config_json(o, "recover");
  j["config"]["node_id"] = rec.node_id;
  j["recover"] = {{"sagas", rec.sagas},
                  {"recovered", f.recovered},
                  {"all_terminal", f.all_terminal},
                  {"seconds", rec.seconds},
                  {"sagas_per_s", f.sagas_per_s},
                  {"recovery_concurrency", rec.concurrency},
                  {"completed", f.completed},
                  {"compensated", f.compensated},
                  {"failed", f.failed},
                  {"still_listed_unfinished", rec.left},
                  {"resumed_by_recover_call", rec.resumed},
                  {"runtime_start_seconds", rec.start_seconds},
                  {"recover_call_seconds", rec.recover_call_seconds},
                  {"redis_commands_per_saga", f.commands_per_saga},
                  {"last_events", rec.after},
                  {"phase1_seconds", rec.phase1_seconds},
                  {"phase1_last_events", rec.before}};
  j["memory"] = {{"peak_rss_bytes", rss_peak_bytes}};
  return j;
}

/// Returns the recover mode's results as a Markdown table.
std::string recovery_markdown(const options& o, const recovery& rec,
                              const recovery_figures& f) {
  return "| unfinished sagas | steps | shape | failure rate | recovery "
         "concurrency | recovered | all terminal | seconds | sagas/s |\n"
         "|---|---|---|---|---|---|---|---|---|\n| "
         + std::to_string(rec.sagas) + " | " + std::to_string(o.steps) + " | "
         + o.shape + " | " + fmt(o.failure_rate, 3) + " | "
         + std::to_string(rec.concurrency) + " | " + std::to_string(f.recovered)
         + " | " + (f.all_terminal ? "yes" : "no") + " | " + fmt(rec.seconds, 2)
         + " | " + fmt(f.sagas_per_s) + " |\n";
}

int run_recover(const options& o) {
  recovery rec;
  rec.sagas = o.recover;
  // Our own node id: only this run's sagas are in its index.
  rec.node_id = "saga_bench-recover-" + std::to_string(::getpid());
  rec.index = "saga:unfinished:{" + rec.node_id + "}";
  auto conn = redis_connect(o.redis_url);
  if (!conn) {
    std::fprintf(stderr, "saga_bench: cannot connect to %s\n",
                 o.redis_url.c_str());
    return 1;
  }
  if (auto left = zcard(*conn, rec.index); left != 0) {
    std::fprintf(stderr, "saga_bench: %s is not empty (%lld)\n",
                 rec.index.c_str(), left);
    return 1;
  }
  // Long step timeouts: phase 1 parks the first step for as long as it
  // takes to start all N sagas, and that must not time it out.
  const auto def = make_definition(o, "bench_recover",
                                   std::chrono::minutes{30});
  if (!check_definition(def))
    return 1;
  const saga::runtime_config cfg = recover_config(o, rec.node_id);
  rec.concurrency = cfg.recovery_concurrency;
  unanswered_steps steps; // outlives phase 1's runtime
  if (!leave_unfinished(o, cfg, def, steps, rec)
      || !check_left_unfinished(*conn, rec) || !recover_all(o, cfg, *conn, rec))
    return 1;
  const recovery_figures f = tally_recovery(rec);
  const long long rss_peak_bytes = peak_rss();
  print_recovery(o, rec, f, rss_peak_bytes);
  int status = f.all_terminal && rec.waited ? 0 : 1;
  if (!write_text(o.json_file,
                  recovery_json(o, rec, f, rss_peak_bytes).dump(2) + "\n"))
    status = 1;
  if (!write_text(o.markdown_file, recovery_markdown(o, rec, f)))
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
