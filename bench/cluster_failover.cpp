// Coordinator failover time: how long after a coordinator node is killed
// (SIGKILL) another coordinator resumes its unfinished sagas.
//
//   cluster_failover [--runs N] [--sagas S] [--lease D] [--step-delay D]
//                    [--inflight K] [--jitter on|off] [--logs DIR]
//                    [--json FILE]
//
// Each run, on a fresh private redis-server (appendonly yes, everysec):
// saga_node p hosts account, inventory and purchase_log with a step delay;
// saga_node b and a coordinate (lease --lease, heartbeats every 200ms,
// connection timeout 1s). S purchases are started on a's gateway; once p has
// begun K debits (sagas in flight), t0 = now and a gets SIGKILL; t1 = when b
// prints "resumed <n> sagas of node a". Then Redis is polled until the
// unfinished indexes of a and b are empty: t2, all of a's sagas ended on b.
// Prints one line per run and the median, min and max of t1 - t0 and the
// median of t2 - t0; --json FILE writes the same (every run, then median, min
// and max of both) for scripts/bench.sh's report.
//
// What bounds the figure from below: a node counts as dead only once its
// lease key has expired in Redis, and the survivors look every quarter lease.
// A renews its lease every quarter lease (lease key SET ... PX <lease>), so
// at the kill it has between 3/4 lease and a full lease left; b then notices
// within a quarter lease (its own polling period), and adopts (one Redis
// walk of a's unfinished index) and restarts the sagas. Expect
// SIGKILL -> resumed between about 0.75 and 1.25 leases plus the adopt time,
// i.e. around the lease on average; the lease is the knob, not CPU.
//
// Jitter (default on): both nodes renew and poll on their own quarter-lease
// timers, so without it every run kills a at the same phase of a's renewals
// and of b's polls (node start-up is that regular) and all runs measure the
// same point of the range above. So a starts a random 0..lease/4 after b,
// and a is killed a random 0..lease/4 after the K-th debit began.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>

#include <hiredis/hiredis.h>

#include "demo/shop.hpp"
#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/redis_server.hpp"
#include "tools/args.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using saga::test::child_process;

struct options {
  size_t runs = 10;
  size_t sagas = 50;
  std::string lease = "1s";
  std::string step_delay = "100ms";
  size_t inflight = 6;
  bool jitter = true;
  std::string logs;      // empty: node output kept in memory only
  std::string json_file; // empty: no JSON
};

/// Returns the duration `s` in ms ("250ms", "1s": what saga_node accepts
/// too); 0 if it is not one.
std::chrono::milliseconds parse_duration(const std::string& s) {
  return std::chrono::milliseconds{
    saga::tools::parse_duration_ms(s).value_or(0)};
}

/// Returns the setter of a duration option that saga_node is given as text:
/// ms or s only (its forms), at least `min_ms`.
std::function<std::optional<std::string>(const std::string&)>
node_duration(std::string& out, int64_t min_ms) {
  return [&out, min_ms](const std::string& v) -> std::optional<std::string> {
    auto digits = v.find_first_not_of("0123456789.");
    auto unit = digits == std::string::npos ? "" : v.substr(digits);
    auto ms = saga::tools::parse_duration_ms(v);
    if ((unit != "ms" && unit != "s") || !ms || *ms < min_ms)
      return "a duration of at least " + std::to_string(min_ms)
             + "ms (like 500ms or 1s)";
    out = v;
    return std::nullopt;
  };
}

/// Returns the options of `argv`; prints the help and exits 0 on --help,
/// exits 2 with a message naming the option on a bad one.
options parse(int argc, char** argv) {
  options o;
  std::string jitter = "on";
  saga::tools::arg_parser
    p{"cluster_failover",
      "cluster_failover: coordinator SIGKILL -> its sagas resumed on a "
      "surviving node\n(saga_node processes on a private redis-server)."};
  p.integer("--runs", o.runs, "kills measured", size_t{1});
  p.integer("--sagas", o.sagas, "purchases started on the node killed",
            size_t{1});
  p.custom("--lease", "D", "the nodes' lease", node_duration(o.lease, 100))
    .shown_default(o.lease);
  p.custom("--step-delay", "D", "how long each debit takes",
           node_duration(o.step_delay, 1))
    .shown_default(o.step_delay);
  p.integer("--inflight", o.inflight, "purchases in flight at once", size_t{1});
  p.choice("--jitter", jitter, {"on", "off"},
           "random start and kill offsets within a quarter lease");
  p.text("--logs", o.logs, "where the nodes' output goes")
    .value_name("DIR")
    .shown_default("kept in memory only");
  p.text("--json", o.json_file, "write the results as JSON").value_name("FILE");
  p.parse_or_exit(argc, argv);
  o.jitter = jitter == "on";
  return o;
}

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// A running saga_node.
struct node_proc {
  std::string id;
  uint16_t port = 0;
  std::unique_ptr<child_process> proc;
};

void dump_tail(const node_proc& n, size_t max_lines = 30) {
  auto lines = n.proc->lines();
  auto from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  std::fprintf(stderr, "-- last output of node %s:\n", n.id.c_str());
  for (size_t i = from; i < lines.size(); ++i)
    std::fprintf(stderr, "   %s\n", lines[i].c_str());
}

/// Starts saga_node `id` and waits for its ready line; nullopt on failure.
std::optional<node_proc> start_node(const options& o, size_t run,
                                    const std::string& redis_url,
                                    const std::string& id,
                                    std::vector<std::string> extra) {
  std::vector<std::string> argv{"--node-id=" + id, "--redis=" + redis_url,
                                "--lease=" + o.lease,
                                "--heartbeat-interval=200ms",
                                "--connection-timeout=1s"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::string log;
  if (!o.logs.empty())
    log = o.logs + "/failover-run" + std::to_string(run) + "-" + id + ".log";
  node_proc n;
  n.id = id;
  n.proc = std::make_unique<child_process>(SAGA_NODE_EXE, argv, log);
  auto line = n.proc->wait_for_line("ready port=", 30s);
  if (!line) {
    std::fprintf(stderr, "node %s did not start\n", id.c_str());
    dump_tail(n);
    return std::nullopt;
  }
  n.port = static_cast<uint16_t>(
    std::stoul(line->substr(line->find("port=") + 5)));
  return n;
}

/// Sum of ZCARD over `keys`, or -1 if Redis did not answer.
long long zcard_sum(saga::redis_connection& c,
                    const std::vector<std::string>& keys) {
  long long sum = 0;
  for (const auto& k : keys) {
    auto r = c.command({"ZCARD", k});
    if (!r || (*r)->type != REDIS_REPLY_INTEGER)
      return -1;
    sum += (*r)->integer;
  }
  return sum;
}

struct run_result {
  bool ok = false;
  double resumed_ms = 0;     // SIGKILL -> b's "resumed" line
  double adopt_ms = 0;       // the adopt itself, as b reports it
  double finished_ms = -1;   // SIGKILL -> both unfinished indexes empty
  size_t resumed = 0;        // sagas b resumed
  size_t client_results = 0; // results a answered before it died
  std::chrono::milliseconds start_jitter{0};
  std::chrono::milliseconds kill_jitter{0};
};

run_result one_run(const options& o, size_t run, caf::actor_system& client,
                   std::mt19937& rng) {
  run_result res;
  saga::test::redis_server redis{
    {"--appendonly", "yes", "--appendfsync", "everysec"}};
  if (!redis.start()) {
    std::fprintf(stderr, "redis-server did not start\n");
    return res;
  }
  auto lease = parse_duration(o.lease);
  auto p = start_node(o, run, redis.url(), "p",
                      {"--participants=account,inventory,purchase_log",
                       "--step-delay=" + o.step_delay});
  if (!p)
    return res;
  auto b = start_node(o, run, redis.url(), "b", {"--coordinate"});
  if (!b)
    return res;
  std::uniform_int_distribution<long long> quarter{0, lease.count() / 4 - 1};
  if (o.jitter) {
    res.start_jitter = std::chrono::milliseconds{quarter(rng)};
    std::this_thread::sleep_for(res.start_jitter); // phase of a vs b
  }
  auto a = start_node(o, run, redis.url(), "a", {"--coordinate"});
  if (!a)
    return res;
  auto gw = client.middleman().remote_actor<saga::gateway_actor>("127.0.0.1",
                                                                 a->port);
  if (!gw) {
    std::fprintf(stderr, "no gateway on a: %s\n",
                 saga::describe(gw.error()).c_str());
    return res;
  }
  // The client: starts every purchase on a at once and counts answers; a's
  // death (connection lost) ends the wait for the rest.
  auto answered = std::make_shared<std::promise<size_t>>();
  auto answered_f = answered->get_future();
  std::vector<std::string> defs;
  for (size_t i = 0; i < o.sagas; ++i)
    defs.push_back(demo::make_purchase("p", "sword-" + std::to_string(i), 10)
                     .to_json()
                     .dump());
  client.spawn([gw = *gw, defs, answered](caf::event_based_actor* self) {
    auto left = std::make_shared<size_t>(defs.size());
    auto got = std::make_shared<size_t>(0);
    auto finish = [=] {
      answered->set_value(*got);
      self->quit();
    };
    self->monitor(gw);
    self->set_down_handler([=](caf::down_msg&) {
      if (*left > 0) {
        *left = 0;
        finish();
      }
    });
    for (const auto& d : defs)
      self->request(gw, std::chrono::seconds{120}, saga::run_atom::value, d)
        .then(
          [=](saga::saga_result&) {
            ++*got;
            if (*left > 0 && --*left == 0)
              finish();
          },
          [=](caf::error&) {
            if (*left > 0 && --*left == 0)
              finish();
          });
  });
  if (!p->proc->wait_for_lines("shop: step debit", o.inflight, 30s)) {
    std::fprintf(stderr, "run %zu: p never had %zu debits in flight\n", run,
                 o.inflight);
    dump_tail(*p);
    dump_tail(*a);
    return res;
  }
  if (o.jitter) {
    res.kill_jitter = std::chrono::milliseconds{quarter(rng)};
    std::this_thread::sleep_for(res.kill_jitter); // phase of the kill
  }
  auto b_from = b->proc->line_count();
  auto t0 = clock_type::now();
  a->proc->signal(SIGKILL);
  auto line = b->proc->wait_for_line("sagas of node a", lease * 10 + 30s,
                                     b_from);
  auto t1 = clock_type::now();
  if (!line) {
    std::fprintf(stderr, "run %zu: b did not take over a's sagas\n", run);
    dump_tail(*b);
    return res;
  }
  res.resumed_ms = ms_between(t0, t1);
  // "caf-saga: node b resumed <n> sagas of node a (epoch <e>) in <ms> ms"
  if (auto i = line->find(" resumed "); i != std::string::npos)
    res.resumed = std::strtoull(line->c_str() + i + 9, nullptr, 10);
  if (auto i = line->find(") in "); i != std::string::npos)
    res.adopt_ms = std::strtod(line->c_str() + i + 5, nullptr);
  if (answered_f.wait_for(30s) == std::future_status::ready)
    res.client_results = answered_f.get();
  // Every saga of a ended (on b): both unfinished indexes empty. Polling
  // Redis is the only view of it from here; 10 ms steps bound the error.
  auto ep = saga::parse_redis_url(redis.url());
  auto conn = saga::redis_connection::connect(*ep, 2s);
  if (conn) {
    std::vector<std::string> keys{"saga:unfinished:{a}", "saga:unfinished:{b}"};
    auto deadline = t1 + 120s;
    while (clock_type::now() < deadline) {
      auto left = zcard_sum(*conn, keys);
      if (left == 0) {
        res.finished_ms = ms_between(t0, clock_type::now());
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    if (res.finished_ms < 0)
      std::fprintf(stderr, "run %zu: sagas still unfinished after 120 s\n",
                   run);
  }
  res.ok = true;
  // Nodes die with SIGKILL in ~child_process, then Redis goes.
  return res;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  caf::actor_system_config cfg;
  saga::add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval", caf::timespan{0});
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system client{cfg};
  std::mt19937 rng{std::random_device{}()};
  std::printf("cluster_failover: %zu runs, %zu purchases on a, lease %s, "
              "step delay %s, kill after %zu debits began on p, jitter %s\n",
              o.runs, o.sagas, o.lease.c_str(), o.step_delay.c_str(),
              o.inflight, o.jitter ? "on" : "off");
  std::vector<double> resumed, finished;
  size_t failed_runs = 0;
  saga::json runs_json = saga::json::array();
  for (size_t run = 1; run <= o.runs; ++run) {
    auto r = one_run(o, run, client, rng);
    runs_json.push_back(
      {{"run", run},
       {"ok", r.ok},
       {"resumed_ms", r.resumed_ms},
       {"adopt_ms", r.adopt_ms},
       {"finished_ms", r.finished_ms},
       {"sagas_resumed", r.resumed},
       {"answered_before_kill", r.client_results},
       {"start_jitter_ms", static_cast<long long>(r.start_jitter.count())},
       {"kill_jitter_ms", static_cast<long long>(r.kill_jitter.count())}});
    if (!r.ok) {
      ++failed_runs;
      std::printf("run %2zu: FAILED (see stderr)\n", run);
      continue;
    }
    resumed.push_back(r.resumed_ms);
    if (r.finished_ms >= 0)
      finished.push_back(r.finished_ms);
    std::printf("run %2zu: SIGKILL -> resumed %4.0f ms (adopt %3.0f ms), "
                "%3zu sagas resumed, %2zu answered by a before it died, "
                "all finished %5.0f ms (jitter: a started +%lld ms, "
                "killed +%lld ms)\n",
                run, r.resumed_ms, r.adopt_ms, r.resumed, r.client_results,
                r.finished_ms, static_cast<long long>(r.start_jitter.count()),
                static_cast<long long>(r.kill_jitter.count()));
    std::fflush(stdout);
  }
  if (!resumed.empty()) {
    std::printf("SIGKILL -> resumed: median %.0f ms, min %.0f ms, max %.0f ms "
                "(%zu runs; lease %s)\n",
                median(resumed),
                *std::min_element(resumed.begin(), resumed.end()),
                *std::max_element(resumed.begin(), resumed.end()),
                resumed.size(), o.lease.c_str());
  }
  if (!finished.empty())
    std::printf("SIGKILL -> all sagas finished: median %.0f ms, max %.0f ms\n",
                median(finished),
                *std::max_element(finished.begin(), finished.end()));
  if (failed_runs > 0)
    std::printf("%zu of %zu runs failed\n", failed_runs, o.runs);
  int status = failed_runs == 0 ? 0 : 1;
  if (!o.json_file.empty()) {
    // Median, min and max over the runs that produced the figure (null if
    // none did).
    auto stats = [](const std::vector<double>& v) -> saga::json {
      if (v.empty())
        return nullptr;
      return {{"median", median(v)},
              {"min", *std::min_element(v.begin(), v.end())},
              {"max", *std::max_element(v.begin(), v.end())},
              {"runs", v.size()}};
    };
    saga::json j{{"config",
                  {{"runs", o.runs},
                   {"sagas", o.sagas},
                   {"lease", o.lease},
                   {"lease_ms", parse_duration(o.lease).count()},
                   {"step_delay", o.step_delay},
                   {"inflight", o.inflight},
                   {"jitter", o.jitter}}},
                 {"runs", runs_json},
                 {"failed_runs", failed_runs},
                 {"resumed_ms", stats(resumed)},
                 {"finished_ms", stats(finished)}};
    std::ofstream out{o.json_file};
    out << j.dump(2) << '\n';
    if (!out) {
      std::fprintf(stderr, "cluster_failover: cannot write %s\n",
                   o.json_file.c_str());
      status = 1;
    }
  }
  return status;
}
