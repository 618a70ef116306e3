#include "saga/retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace saga {

std::chrono::milliseconds
retry_policy::base_delay(uint32_t next_attempt) const noexcept {
  if (next_attempt < 2)
    return std::chrono::milliseconds{0};
  // Computed in double to avoid overflow; capped before converting back.
  auto d = static_cast<double>(initial_backoff.count())
           * std::pow(std::max(multiplier, 1.0), next_attempt - 2);
  // Compare before converting back: a cap near milliseconds::max() is not
  // exactly representable as a double, and the cast would overflow.
  if (!(d < static_cast<double>(max_backoff.count())))
    return max_backoff;
  return std::chrono::milliseconds{static_cast<int64_t>(d)};
}

std::chrono::milliseconds
retry_policy::delay(uint32_t next_attempt, double unit_random) const noexcept {
  auto base = base_delay(next_attempt);
  auto spread = std::clamp(jitter, 0.0, 1.0)
                * std::clamp(unit_random, 0.0, 1.0);
  if (spread <= 0.0)
    return base;
  auto d = static_cast<double>(base.count()) * (1.0 - spread);
  if (!(d < static_cast<double>(base.count())))
    return base;
  return std::chrono::milliseconds{static_cast<int64_t>(d)};
}

retry_policy retry_policy::compensation_default() noexcept {
  // 100 attempts: waits of 100 ms doubling to 51.2 s (102.3 s in all), then
  // 89 of the 60 s cap (5,340 s): 5,442.3 s, 90 min 42.3 s of backoff at
  // most (jitter shortens each wait by up to a fifth).
  return retry_policy{100, std::chrono::milliseconds{100}, 2.0,
                      std::chrono::milliseconds{60'000}, 0.2};
}

} // namespace saga
