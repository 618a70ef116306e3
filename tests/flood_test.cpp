// A flood of saga starts: the runtime must push back (refuse with
// errc::overloaded) instead of growing memory without bound. The test
// watches the process's resident set while it starts far more sagas than
// the runtime admits, each carrying its own 1 KiB payload, against a
// participant that holds every request.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "saga/saga.hpp"

using namespace std::chrono_literals;

namespace saga {
namespace {

/// Returns this process's resident set size in bytes.
size_t rss_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  size_t pages = 0;
  size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST(flood, a_flooded_runtime_refuses_instead_of_growing_without_bound) {
  runtime_config cfg;
  cfg.max_active_sagas = 500;
  cfg.max_queued_sagas = 500;
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error());
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<responder> held;
  bool release = false;
  rt.participant("sink").on_async(
    "hold",
    [&](const step_context&, const json&, responder reply) {
      std::lock_guard<std::mutex> guard{mtx};
      if (release)
        reply.deliver(step_outcome::ok());
      else
        held.push_back(std::move(reply)); // not answered during the flood
    },
    [](const step_context&, const json&, responder reply) {
      reply.deliver(step_outcome::ok());
    });
  const std::string pad(1024, 'x');
  auto start = [&](size_t i, result_callback done) {
    definition d{"flood"};
    d.step("hold", "sink", {{"pad", pad}, {"i", i}}).timeout(300s);
    rt.execute(d, std::move(done));
  };
  // Warm up: the admitted sagas and the allocator's arenas.
  std::atomic<size_t> refused{0};
  std::atomic<size_t> answered{0};
  auto count = [&](const saga_result& r) {
    if (is(r.error, errc::overloaded))
      ++refused;
    ++answered;
    std::lock_guard<std::mutex> guard{mtx};
    cv.notify_all();
  };
  for (size_t i = 0; i < 2'000; ++i)
    start(i, count);
  auto base = rss_bytes();
  const size_t flood = 300'000;
  for (size_t i = 0; i < flood; ++i)
    start(i, count);
  auto peak = rss_bytes();
  std::cout << "flood: RSS " << (base >> 20) << " MiB before, " << (peak >> 20)
            << " MiB after " << flood << " starts; " << refused.load()
            << " refused" << std::endl;
  // Without backpressure each start would stay queued with its own
  // definition (> 1 KiB, several with its copies): 300k of them are far
  // beyond this bound.
  EXPECT_LT(peak, base + (256u << 20))
    << "RSS grew from " << (base >> 20) << " MiB to " << (peak >> 20) << " MiB";
  // Everything beyond the 1,000 admitted was refused, and said why.
  EXPECT_GE(refused.load(), flood + 2'000 - 1'000);
  EXPECT_EQ(answered.load(), refused.load());
  // Once the held sagas end, the door opens again.
  std::unique_lock<std::mutex> guard{mtx};
  release = true;
  for (auto& r : held)
    r.deliver(step_outcome::ok());
  held.clear();
  const size_t started = flood + 2'000;
  ASSERT_TRUE(cv.wait_for(guard, 120s, [&] { return answered == started; }));
  guard.unlock();
  std::promise<saga_result> one;
  start(0, [&one](saga_result r) { one.set_value(std::move(r)); });
  auto r = one.get_future().get();
  EXPECT_TRUE(r.success) << describe(r.error);
}

} // namespace
} // namespace saga
