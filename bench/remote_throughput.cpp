// Saga throughput with the participants on another node vs in-process.
//
//   remote_throughput [--sagas N] [--concurrency C] [--blocking-workers W]
//                     [--mode both|remote|local] [--rounds R]
//
// Both modes run the shop's 3-step purchase (debit, then grant and record in
// parallel; demo/shop.cpp, no step delay) on a `saga::node` in this process
// that coordinates, journaling to a private redis-server (appendonly yes,
// appendfsync everysec; a fresh one per mode), and keep C sagas in flight
// until N have ended (after 100 warm-up sagas):
//
// - remote: the participants live in a saga_node process p on the same
//   machine (same Redis); every step crosses BASP/TCP to p's gateway and
//   back through the node's stand-ins.
// - local: this node hosts the same participants itself; no p process.
//
// Participants have W blocking worker threads each in both modes. Prints
// sagas/s, p50/p99/max latency (client-side: from `execute` to the result
// callback, completed sagas only) and the number of sagas that did not
// complete, then remote/local ratios. With --rounds R > 1 the modes
// alternate R times and the medians are compared (short runs on a busy
// machine vary by tens of percent). Note the machine is shared: in remote
// mode p, this process and redis-server compete for the same cores.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "demo/shop.hpp"
#include "saga/saga.hpp"
#include "tests/child_process.hpp"
#include "tests/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct options {
  size_t sagas = 5'000;
  size_t concurrency = 200;
  size_t blocking_workers = 4;
  std::string mode = "both";
  size_t rounds = 1;
};

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--sagas")
      o.sagas = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--concurrency")
      o.concurrency = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--blocking-workers")
      o.blocking_workers = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--mode")
      o.mode = v;
    else if (k == "--rounds")
      o.rounds = std::strtoull(v.c_str(), nullptr, 10);
    else
      return false;
  }
  return (argc % 2) == 1 && o.sagas > 0 && o.concurrency > 0 && o.rounds > 0
         && o.blocking_workers > 0
         && (o.mode == "both" || o.mode == "remote" || o.mode == "local");
}

struct result {
  bool ok = false;
  double seconds = 0;
  double rate = 0;
  size_t completed = 0;
  size_t failed = 0;
  int64_t p50_us = 0;
  int64_t p99_us = 0;
  int64_t max_us = 0;
  std::string first_error;
};

const char* const shop_participants[] = {"account", "inventory",
                                         "purchase_log"};

result run_mode(const options& o, bool remote) {
  result res;
  saga::test::redis_server redis{{"--appendonly", "yes", "--appendfsync",
                                  "everysec"}};
  if (!redis.start()) {
    std::fprintf(stderr, "redis-server did not start\n");
    return res;
  }
  std::unique_ptr<saga::test::child_process> p;
  if (remote) {
    p = std::make_unique<saga::test::child_process>(
      SAGA_NODE_EXE,
      std::vector<std::string>{
        "--node-id=p", "--redis=" + redis.url(),
        "--participants=account,inventory,purchase_log",
        "--blocking-workers=" + std::to_string(o.blocking_workers)});
    if (!p->wait_for_line("ready port=", 30s)) {
      std::fprintf(stderr, "saga_node p did not start:\n");
      for (const auto& l : p->lines())
        std::fprintf(stderr, "  %s\n", l.c_str());
      return res;
    }
  }
  saga::node_config cfg;
  cfg.node_id = "bench";
  cfg.redis_url = redis.url();
  cfg.coordinate = true;
  cfg.runtime.blocking_workers = o.blocking_workers;
  cfg.runtime.max_active_sagas = std::max<size_t>(o.concurrency, 1);
  saga::node n{cfg};
  if (n.start_error()) {
    std::fprintf(stderr, "node: %s\n",
                 saga::describe(n.start_error()).c_str());
    return res;
  }
  if (!remote)
    for (const char* name : shop_participants)
      demo::add_shop_participant(n, name, 0ms);
  if (auto err = n.start()) {
    std::fprintf(stderr, "node start: %s\n", saga::describe(err).c_str());
    return res;
  }
  // Distinct items per saga, as a shop would see them; one player.
  std::vector<saga::definition> defs;
  defs.reserve(o.sagas);
  for (size_t i = 0; i < o.sagas; ++i)
    defs.push_back(demo::make_purchase("p", "item-" + std::to_string(i), 10));
  // Warm up: connections, spawn paths, allocator, Redis scripts.
  for (int i = 0; i < 100; ++i) {
    auto r = n.rt().execute(demo::make_purchase("w", "warm", 1)).get();
    if (!r.success) {
      std::fprintf(stderr, "warm-up saga did not complete: %s\n",
                   saga::describe(r.error).c_str());
      return res;
    }
  }
  std::vector<clock_type::time_point> started_at(o.sagas);
  std::vector<int64_t> latencies_us;
  latencies_us.reserve(o.sagas);
  std::mutex mtx;
  std::condition_variable all_done;
  std::atomic<size_t> started{0};
  size_t ended = 0; // guarded by mtx
  std::function<void()> start_one = [&] {
    auto i = started.fetch_add(1);
    if (i >= o.sagas)
      return;
    started_at[i] = clock_type::now();
    n.rt().execute(defs[i], [&, i](saga::saga_result r) {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  clock_type::now() - started_at[i])
                  .count();
      bool last = false;
      {
        // Notified under the lock: main may return (destroying the
        // condition variable) as soon as it sees the count.
        std::lock_guard<std::mutex> guard{mtx};
        if (r.state == saga::saga_status::completed) {
          latencies_us.push_back(us);
          ++res.completed;
        } else {
          if (res.failed++ == 0)
            res.first_error = std::string{saga::to_string(r.state)} + ": "
                              + saga::describe(r.error);
        }
        last = ++ended == o.sagas;
        if (last)
          all_done.notify_all();
      }
      if (!last)
        start_one();
    });
  };
  auto t0 = clock_type::now();
  for (size_t i = 0; i < std::min(o.concurrency, o.sagas); ++i)
    start_one();
  {
    std::unique_lock<std::mutex> guard{mtx};
    all_done.wait(guard, [&] { return ended >= o.sagas; });
  }
  res.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  res.rate = static_cast<double>(o.sagas) / res.seconds;
  std::sort(latencies_us.begin(), latencies_us.end());
  if (!latencies_us.empty()) {
    auto pct = [&](double q) {
      return latencies_us[std::min(
        latencies_us.size() - 1,
        static_cast<size_t>(q * static_cast<double>(latencies_us.size())))];
    };
    res.p50_us = pct(0.50);
    res.p99_us = pct(0.99);
    res.max_us = latencies_us.back();
  }
  res.ok = true;
  n.stop();
  if (p) {
    p->signal(SIGTERM);
    p->wait_exit(10s); // else ~child_process kills it
  }
  return res;
}

void print(const char* label, const options& o, const result& r) {
  std::printf("%-7s %zu purchases x 3 steps, %zu in flight: %.0f sagas/s "
              "(%.2f s), latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
              "%zu completed, %zu failed\n",
              label, o.sagas, o.concurrency, r.rate, r.seconds,
              static_cast<double>(r.p50_us) / 1000.0,
              static_cast<double>(r.p99_us) / 1000.0,
              static_cast<double>(r.max_us) / 1000.0, r.completed, r.failed);
  if (r.failed > 0)
    std::printf("        first failure: %s\n", r.first_error.c_str());
  std::fflush(stdout);
}

} // namespace

/// The medians of the rounds' figures (failures: summed).
result summarize(const std::vector<result>& rs) {
  auto med = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : rs)
      v.push_back(static_cast<double>(field(r)));
    std::sort(v.begin(), v.end());
    auto n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  result m;
  m.ok = true;
  m.rate = med([](const result& r) { return r.rate; });
  m.seconds = med([](const result& r) { return r.seconds; });
  m.p50_us = static_cast<int64_t>(med([](const result& r) { return r.p50_us; }));
  m.p99_us = static_cast<int64_t>(med([](const result& r) { return r.p99_us; }));
  m.max_us = static_cast<int64_t>(med([](const result& r) { return r.max_us; }));
  for (const auto& r : rs) {
    m.completed += r.completed;
    m.failed += r.failed;
  }
  return m;
}

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: %s [--sagas N] [--concurrency C] "
                 "[--blocking-workers W] [--mode both|remote|local]\n",
                 argv[0]);
    return 2;
  }
  std::printf("remote_throughput: redis journal (appendonly yes, everysec), "
              "%zu blocking workers per participant, %zu round(s)\n",
              o.blocking_workers, o.rounds);
  std::vector<result> locals, remotes;
  for (size_t round = 0; round < o.rounds; ++round) {
    if (o.mode != "remote") {
      locals.push_back(run_mode(o, false));
      if (!locals.back().ok)
        return 1;
      print("local", o, locals.back());
    }
    if (o.mode != "local") {
      remotes.push_back(run_mode(o, true));
      if (!remotes.back().ok)
        return 1;
      print("remote", o, remotes.back());
    }
  }
  std::optional<result> local, remote;
  if (!locals.empty())
    local = summarize(locals);
  if (!remotes.empty())
    remote = summarize(remotes);
  if (o.rounds > 1) {
    std::printf("medians of %zu rounds (failures summed):\n", o.rounds);
    if (local)
      print("local", o, *local);
    if (remote)
      print("remote", o, *remote);
  }
  if (local && remote && local->rate > 0 && local->p50_us > 0
      && local->p99_us > 0)
    std::printf("remote/local: throughput %.2fx, p50 latency %.2fx, p99 "
                "latency %.2fx\n",
                remote->rate / local->rate,
                static_cast<double>(remote->p50_us)
                  / static_cast<double>(local->p50_us),
                static_cast<double>(remote->p99_us)
                  / static_cast<double>(local->p99_us));
  bool failures = (local && local->failed > 0) || (remote && remote->failed > 0);
  return failures ? 1 : 0;
}
