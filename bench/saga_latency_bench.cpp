// Latency and throughput of in-memory sagas on the real CAF scheduler.
//
// - BM_saga_latency: one 3-step saga at a time, end to end
//   (rt.execute(d).get()); reported per saga, aggregated over 10 repetitions
//   (look at the _median row).
// - BM_saga_throughput: 1000 concurrent 3-step sagas started with the
//   callback form and awaited together; items/s is sagas per second.
//
// Each benchmark owns one runtime (memory journal, three participants with
// trivial in-actor handlers), created on its first run outside the timing
// loop and destroyed after all benchmarks ran.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <benchmark/benchmark.h>

#include <saga/saga.hpp>

namespace {

constexpr int64_t concurrent_sagas = 1000;

saga::step_outcome trivial_ok(const saga::step_context&, const saga::json&) {
  return saga::step_outcome::ok();
}

/// A runtime with the participants p1..p3 and a 3-step definition using them.
struct fixture {
  saga::runtime rt{saga::runtime_config{}};
  saga::definition def{"bench"};

  fixture() {
    for (const char* name : {"p1", "p2", "p3"})
      rt.participant(name).on("op", trivial_ok, trivial_ok);
    def.step("s1", "p1").action("op");
    def.step("s2", "p2").action("op");
    def.step("s3", "p3").action("op");
  }
};

std::unique_ptr<fixture> latency_fixture;
std::unique_ptr<fixture> throughput_fixture;

fixture& get(std::unique_ptr<fixture>& ptr) {
  if (!ptr)
    ptr = std::make_unique<fixture>();
  return *ptr;
}

void BM_saga_latency(benchmark::State& state) {
  auto& fx = get(latency_fixture);
  if (auto& err = fx.rt.start_error()) {
    state.SkipWithError(saga::describe(err).c_str());
    return;
  }
  for (auto _ : state) {
    auto result = fx.rt.execute(fx.def).get();
    if (!result.success) {
      state.SkipWithError(saga::describe(result.error).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_saga_latency)
  ->Unit(benchmark::kMicrosecond)
  ->UseRealTime()
  ->Repetitions(10)
  ->ReportAggregatesOnly(true);

/// Counts finished sagas; lives as long as the runtime, so a callback that
/// is still unlocking the mutex never outlives it.
struct completion_counter {
  std::mutex mtx;
  std::condition_variable cv;
  int64_t done = 0;
  std::atomic<int64_t> failed{0};

  void add(const saga::saga_result& result) {
    if (!result.success)
      failed.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> guard{mtx};
    if (++done == concurrent_sagas)
      cv.notify_one();
  }

  void wait_and_reset() {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [this] { return done == concurrent_sagas; });
    done = 0;
  }
};

completion_counter throughput_counter;

void BM_saga_throughput(benchmark::State& state) {
  auto& fx = get(throughput_fixture);
  if (auto& err = fx.rt.start_error()) {
    state.SkipWithError(saga::describe(err).c_str());
    return;
  }
  auto& counter = throughput_counter;
  counter.failed = 0;
  auto on_result = [&counter](saga::saga_result result) { counter.add(result); };
  for (auto _ : state) {
    for (int64_t i = 0; i < concurrent_sagas; ++i)
      fx.rt.execute(fx.def, on_result);
    counter.wait_and_reset();
  }
  if (counter.failed.load() > 0)
    state.SkipWithError("some sagas did not succeed");
  state.SetItemsProcessed(state.iterations() * concurrent_sagas);
}
BENCHMARK(BM_saga_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Stop the runtimes (and their actor systems) before static destruction.
  latency_fixture.reset();
  throughput_fixture.reset();
  return 0;
}
