// Sustained saga throughput and latency: keeps `--concurrency` 3-step sagas
// in flight until `--sagas` have ended, with in-process no-op participants.
//
//   saga_throughput [--journal URL] [--sagas N] [--concurrency C]
//                   [--writers W] [--max-batch B] [--barrier on|off]
//
// With --barrier off the participants are raw actors without the
// participant barrier, to measure what the barrier costs.
//
// Prints sagas/s, p50/p99/max saga latency (from start request to result,
// on the runtime's clock) and, on a Redis journal, Redis commands per saga
// (from INFO commandstats).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include <hiredis/hiredis.h>

#include "bench/command_counts.hpp"
#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"

namespace {

struct options {
  std::string journal = "memory://";
  size_t sagas = 20'000;
  size_t concurrency = 1'000;
  size_t writers = 2;
  size_t max_batch = 256;
  /// Participants without the barrier (raw actors), to measure its cost.
  bool no_barrier = false;
};

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--journal")
      o.journal = v;
    else if (k == "--sagas")
      o.sagas = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--concurrency")
      o.concurrency = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--writers")
      o.writers = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--max-batch")
      o.max_batch = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--barrier")
      o.no_barrier = v == "off";
    else
      return false;
  }
  return (argc % 2) == 1 && o.sagas > 0 && o.concurrency > 0;
}

using saga::bench::redis_commands;

} // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: %s [--journal URL] [--sagas N] [--concurrency C] "
                 "[--writers W] [--max-batch B]\n",
                 argv[0]);
    return 2;
  }
  saga::runtime_config cfg;
  cfg.journal_url = o.journal;
  cfg.journal.writers = o.writers;
  cfg.journal.max_batch = o.max_batch;
  cfg.journal.node_id = "bench";
  cfg.max_active_sagas = std::max<size_t>(o.concurrency, 1);
  saga::runtime rt{cfg};
  if (auto err = rt.start_error()) {
    std::fprintf(stderr, "%s\n", saga::describe(err).c_str());
    return 1;
  }
  auto noop = [](const saga::step_context&, const saga::json&) {
    return saga::step_outcome::ok();
  };
  saga::definition def{"bench"};
  std::vector<caf::actor> raw;
  for (const char* p : {"p1", "p2", "p3"}) {
    if (o.no_barrier) {
      auto h = rt.system().spawn([]() -> saga::participant_actor::behavior_type {
        auto ok = [](const saga::step_command&) {
          saga::step_reply r;
          r.ok = true;
          return r;
        };
        return {
          [ok](saga::execute_atom, const saga::step_command& c) { return ok(c); },
          [ok](saga::compensate_atom, const saga::step_command& c) {
            return ok(c);
          },
        };
      });
      rt.register_participant(p, h);
      raw.push_back(caf::actor_cast<caf::actor>(h));
    } else {
      rt.participant(p).on("op", noop, noop);
    }
    def.step(std::string{"s"} + p, p).action("op");
  }
  // Warm up: spawn paths, allocator, connections.
  for (int i = 0; i < 100; ++i)
    rt.execute(def).get();

  std::vector<int64_t> latencies_us(o.sagas);
  std::atomic<size_t> started{0};
  std::atomic<size_t> ended{0};
  std::atomic<size_t> failed{0};
  std::mutex mtx;
  std::condition_variable all_done;
  std::function<void()> start_one;
  auto on_result = [&](saga::saga_result r) {
    auto n = ended.fetch_add(1);
    latencies_us[n] = std::chrono::duration_cast<std::chrono::microseconds>(
                        r.duration)
                        .count();
    if (!r.success)
      ++failed;
    if (started.load() < o.sagas)
      start_one();
    if (n + 1 == o.sagas) {
      std::lock_guard<std::mutex> guard{mtx};
      all_done.notify_all();
    }
  };
  start_one = [&] {
    if (started.fetch_add(1) < o.sagas)
      rt.execute(def, on_result);
  };
  auto commands_before = redis_commands(o.journal);
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < std::min(o.concurrency, o.sagas); ++i)
    start_one();
  {
    std::unique_lock<std::mutex> guard{mtx};
    all_done.wait(guard, [&] { return ended.load() >= o.sagas; });
  }
  auto elapsed = std::chrono::duration<double>(
                   std::chrono::steady_clock::now() - t0)
                   .count();
  auto commands_after = redis_commands(o.journal);
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us[std::min(latencies_us.size() - 1,
                                 static_cast<size_t>(p * latencies_us.size()))];
  };
  std::printf("journal      %s (writers %zu, max batch %zu), barrier %s\n",
              o.journal.c_str(), o.writers, o.max_batch,
              o.no_barrier ? "off" : "on");
  std::printf("sagas        %zu x 3 steps, %zu in flight, %zu failed\n",
              o.sagas, o.concurrency, failed.load());
  std::printf("throughput   %.0f sagas/s (%.2f s)\n", o.sagas / elapsed,
              elapsed);
  std::printf("latency      p50 %lld us, p99 %lld us, max %lld us\n",
              static_cast<long long>(pct(0.50)),
              static_cast<long long>(pct(0.99)),
              static_cast<long long>(latencies_us.back()));
  if (commands_before.total >= 0 && commands_after.total >= 0) {
    auto per_saga = [&](long long before, long long after) {
      return static_cast<double>(after - before) / static_cast<double>(o.sagas);
    };
    std::printf("redis        %.2f commands executed per saga (inside scripts "
                "included), %.2f of them script calls (EVALSHA)\n",
                per_saga(commands_before.total, commands_after.total),
                per_saga(commands_before.evalsha, commands_after.evalsha));
  }
  for (auto& h : raw)
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  return failed.load() == 0 ? 0 : 1;
}
