// Unit tests of saga::retry_policy: exponential backoff, cap and jitter.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>

#include "saga/retry_policy.hpp"

using namespace std::chrono_literals;
using saga::retry_policy;

namespace {

// Just below 1: the largest value `unit_random` may take.
const double almost_one = std::nextafter(1.0, 0.0);

constexpr uint32_t max_attempt = std::numeric_limits<uint32_t>::max();

} // namespace

TEST(retry_policy, base_delay_is_zero_before_the_second_attempt) {
  retry_policy p{5, 100ms, 2.0, 10'000ms, 0.0};
  EXPECT_EQ(p.base_delay(0), 0ms);
  EXPECT_EQ(p.base_delay(1), 0ms);
  EXPECT_EQ(p.delay(0, 0.5), 0ms);
  EXPECT_EQ(p.delay(1, 0.5), 0ms);
}

TEST(retry_policy, base_delay_grows_exponentially_from_initial_backoff) {
  retry_policy p{10, 100ms, 2.0, 1'000'000ms, 0.2};
  EXPECT_EQ(p.base_delay(2), 100ms);
  EXPECT_EQ(p.base_delay(3), 200ms);
  EXPECT_EQ(p.base_delay(4), 400ms);
  EXPECT_EQ(p.base_delay(5), 800ms);
  EXPECT_EQ(p.base_delay(12), 102'400ms);
}

TEST(retry_policy, base_delay_uses_the_multiplier) {
  retry_policy triple{10, 10ms, 3.0, 1'000'000ms, 0.0};
  EXPECT_EQ(triple.base_delay(2), 10ms);
  EXPECT_EQ(triple.base_delay(3), 30ms);
  EXPECT_EQ(triple.base_delay(4), 90ms);
  EXPECT_EQ(triple.base_delay(5), 270ms);
  retry_policy constant{10, 75ms, 1.0, 1'000ms, 0.0};
  EXPECT_EQ(constant.base_delay(2), 75ms);
  EXPECT_EQ(constant.base_delay(9), 75ms);
}

TEST(retry_policy, base_delay_is_capped_by_max_backoff) {
  retry_policy p{10, 100ms, 2.0, 500ms, 0.0};
  EXPECT_EQ(p.base_delay(4), 400ms);
  EXPECT_EQ(p.base_delay(5), 500ms); // 800 capped
  EXPECT_EQ(p.base_delay(6), 500ms);
  EXPECT_EQ(p.base_delay(50), 500ms);
}

TEST(retry_policy, huge_attempt_numbers_stay_at_the_cap) {
  retry_policy p{max_attempt, 100ms, 2.0, 60'000ms, 0.0};
  EXPECT_EQ(p.base_delay(64), 60'000ms);
  EXPECT_EQ(p.base_delay(1'000), 60'000ms);
  EXPECT_EQ(p.base_delay(max_attempt), 60'000ms);
  EXPECT_EQ(p.delay(max_attempt, 0.0), 60'000ms);
  retry_policy steep{max_attempt, 1ms, 1e6, 3'600'000ms, 0.0};
  EXPECT_EQ(steep.base_delay(max_attempt), 3'600'000ms);
}

// Regression (fixed): core/retry_policy.cpp:15-16 (base_delay) caps in double
// and casts the result to int64_t. With max_backoff == milliseconds::max() (a
// natural way to say "no cap"), the cap is 2^63 as a double, which does not fit
// in int64_t: the cast overflows (undefined behaviour; INT64_MIN on x86-64), so
// base_delay(100) of {100 attempts, 1ms, x2, cap=max} is negative instead of
// milliseconds::max(). Expected: a delay equal to the cap (never negative).
TEST(retry_policy, huge_delays_do_not_overflow_with_unbounded_cap) {
  auto cap = std::chrono::milliseconds::max();
  retry_policy p{max_attempt, 1ms, 2.0, cap, 0.0};
  EXPECT_EQ(p.base_delay(2), 1ms);
  EXPECT_EQ(p.base_delay(11), 512ms);
  auto huge = p.base_delay(100); // 2^98 ms, far beyond any int64_t
  EXPECT_GT(huge.count(), 0);
  EXPECT_EQ(huge, cap);
  EXPECT_GE(p.delay(100, 0.0).count(), 0);
}

TEST(retry_policy, delay_without_jitter_equals_base_delay) {
  retry_policy p{10, 100ms, 2.0, 5'000ms, 0.0};
  for (uint32_t attempt = 2; attempt <= 10; ++attempt) {
    EXPECT_EQ(p.delay(attempt, 0.0), p.base_delay(attempt)) << attempt;
    EXPECT_EQ(p.delay(attempt, 0.5), p.base_delay(attempt)) << attempt;
    EXPECT_EQ(p.delay(attempt, almost_one), p.base_delay(attempt)) << attempt;
  }
}

TEST(retry_policy, delay_with_jitter_shrinks_the_base_delay) {
  // base 400ms at attempt 4; d = base * (1 - jitter * r).
  retry_policy p{10, 100ms, 2.0, 5'000ms, 0.5};
  ASSERT_EQ(p.base_delay(4), 400ms);
  EXPECT_EQ(p.delay(4, 0.0), 400ms);  // upper bound: the base itself
  EXPECT_EQ(p.delay(4, 0.5), 300ms);  // 400 * (1 - 0.25)
  EXPECT_EQ(p.delay(4, 0.25), 350ms); // 400 * (1 - 0.125)
  // r close to 1: close to the lower bound base * (1 - jitter), never below.
  auto low = p.delay(4, almost_one);
  EXPECT_GE(low, 200ms);
  EXPECT_LE(low, 201ms);
}

TEST(retry_policy, delay_stays_within_jitter_bounds) {
  for (double jitter : {0.1, 0.2, 0.5, 1.0}) {
    retry_policy p{10, 1'000ms, 2.0, 60'000ms, jitter};
    for (uint32_t attempt = 2; attempt <= 10; ++attempt) {
      auto base = p.base_delay(attempt);
      auto floor_ms = static_cast<int64_t>(
        std::floor(static_cast<double>(base.count()) * (1.0 - jitter)));
      for (double r : {0.0, 0.1, 0.5, 0.9, almost_one}) {
        auto d = p.delay(attempt, r);
        EXPECT_LE(d, base) << "jitter " << jitter << " r " << r;
        EXPECT_GE(d.count(), floor_ms) << "jitter " << jitter << " r " << r;
        auto exact = static_cast<double>(base.count()) * (1.0 - jitter * r);
        EXPECT_NEAR(static_cast<double>(d.count()), exact, 1.0)
          << "jitter " << jitter << " r " << r;
      }
    }
  }
}

TEST(retry_policy, full_jitter_can_shrink_the_delay_to_almost_zero) {
  retry_policy p{10, 1'000ms, 2.0, 60'000ms, 1.0};
  EXPECT_EQ(p.delay(2, 0.0), 1'000ms);
  EXPECT_EQ(p.delay(2, 0.5), 500ms);
  EXPECT_LE(p.delay(2, almost_one), 1ms);
}

TEST(retry_policy, delay_is_monotonic_in_random_value) {
  retry_policy p{10, 1'000ms, 2.0, 60'000ms, 0.3};
  auto prev = p.delay(5, 0.0);
  for (double r = 0.05; r < 1.0; r += 0.05) {
    auto d = p.delay(5, r);
    EXPECT_LE(d, prev) << r;
    prev = d;
  }
}

TEST(retry_policy, compensation_default_keeps_trying_for_long) {
  auto p = retry_policy::compensation_default();
  EXPECT_GE(p.max_attempts, 50u);
  EXPECT_GE(p.max_backoff, 30s);
  EXPECT_GT(p.initial_backoff, 0ms);
  EXPECT_LE(p.initial_backoff, p.max_backoff);
  EXPECT_GE(p.multiplier, 1.0);
  EXPECT_GE(p.jitter, 0.0);
  EXPECT_LE(p.jitter, 1.0);
  // Differs from the default execute policy, which does not retry.
  EXPECT_EQ(retry_policy{}.max_attempts, 1u);
  // The cap is reached: the last attempts wait the full cap.
  EXPECT_EQ(p.base_delay(p.max_attempts), p.max_backoff);
  // Summed up, the backoff keeps trying for 90 min 42.3 s (the figure the
  // header, README and docs/ARCHITECTURE.md give): 100 ms doubling to
  // 51.2 s is 102.3 s, then 89 waits of 60 s.
  std::chrono::milliseconds total{0};
  for (uint32_t a = 2; a <= p.max_attempts; ++a)
    total += p.base_delay(a);
  EXPECT_EQ(total, 5'442'300ms);
  EXPECT_EQ(total, 90min + 42s + 300ms);
  // Jitter (0.2) shortens each wait by up to a fifth: 72 min 33.84 s.
  std::chrono::milliseconds shortest{0};
  for (uint32_t a = 2; a <= p.max_attempts; ++a)
    shortest += p.delay(a, almost_one);
  EXPECT_NEAR(static_cast<double>(shortest.count()), 4'353'840.0, 100.0);
}
