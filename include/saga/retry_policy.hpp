#pragma once

#include <chrono>
#include <cstdint>

namespace saga {

/// Describes how often and how fast a failed operation is tried again:
/// exponential backoff with jitter and a cap. A value type; copy freely.
struct retry_policy {
  /// Total number of attempts, the first included (1 = no retry).
  uint32_t max_attempts = 1;
  /// Delay before the second attempt.
  std::chrono::milliseconds initial_backoff{50};
  /// Factor applied to the delay after each failed attempt (>= 1).
  double multiplier = 2.0;
  /// Upper bound for any single delay.
  std::chrono::milliseconds max_backoff{10'000};
  /// Random spread of each delay, as a fraction in [0, 1]: a delay d becomes
  /// a value in [d * (1 - jitter), d]. Keeps retries of many sagas apart.
  double jitter = 0.2;

  retry_policy() = default;

  retry_policy(uint32_t attempts, std::chrono::milliseconds initial,
               double mult = 2.0,
               std::chrono::milliseconds cap
               = std::chrono::milliseconds{10'000},
               double jit = 0.2)
    : max_attempts(attempts),
      initial_backoff(initial),
      multiplier(mult),
      max_backoff(cap),
      jitter(jit) {
    // nop
  }

  /// Returns the delay before attempt `next_attempt` (>= 2) without jitter.
  std::chrono::milliseconds base_delay(uint32_t next_attempt) const noexcept;

  /// Returns the delay before attempt `next_attempt` (>= 2), applying jitter
  /// with `unit_random`, a value in [0, 1).
  std::chrono::milliseconds delay(uint32_t next_attempt,
                                  double unit_random) const noexcept;

  /// Returns the default policy for compensations (and `forward_retry`):
  /// 100 attempts, 100 ms doubling to a 60 s cap, jitter 0.2. Compensation
  /// must finish, so it keeps trying: its 99 waits add up to at most
  /// 5,442.3 s (90 min 42.3 s; jitter makes it 72 min 34 s to that), plus
  /// the attempts themselves.
  static retry_policy compensation_default() noexcept;
};

} // namespace saga
