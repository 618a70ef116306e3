// An HDR-style log-linear histogram of non-negative integer values (the
// benchmarks record microseconds): fixed memory, mergeable, about 0.8%
// relative precision.
//
// Values below 2 * half_count are counted exactly. Above that, each power of
// two [2^k, 2^(k+1)) is split into half_count equal sub-buckets, so a bucket
// spans at most 1/half_count (1/128 = 0.78%) of its values. Values at or
// above 2^max_bits are clamped into the last bucket (and counted in
// `clamped()`). Percentiles report the highest value equivalent to the
// bucket (as HdrHistogram does), capped at the largest value recorded.
//
// Not thread-safe: give each thread its own and `merge`, or lock.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace saga::bench {

class histogram {
public:
  /// Sub-buckets per power of two (precision 1 / half_count).
  static constexpr int sub_bits = 7;
  static constexpr uint64_t half_count = uint64_t{1} << sub_bits; // 128
  /// Values up to 2^max_bits - 1 (in microseconds: about 12.7 days).
  static constexpr int max_bits = 40;
  static constexpr size_t bucket_count
    = 2 * half_count
      + static_cast<size_t>(max_bits - sub_bits - 1) * half_count;

  void record(uint64_t value) noexcept {
    if (value >= (uint64_t{1} << max_bits)) {
      value = (uint64_t{1} << max_bits) - 1;
      ++clamped_;
    }
    ++counts_[index_of(value)];
    ++total_;
    sum_ += value;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  void merge(const histogram& other) noexcept {
    for (size_t i = 0; i < bucket_count; ++i)
      counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    clamped_ += other.clamped_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void reset() noexcept {
    *this = histogram{};
  }

  uint64_t count() const noexcept {
    return total_;
  }

  uint64_t clamped() const noexcept {
    return clamped_;
  }

  uint64_t min() const noexcept {
    return total_ == 0 ? 0 : min_;
  }

  uint64_t max() const noexcept {
    return max_;
  }

  double mean() const noexcept {
    return total_ == 0
             ? 0.0
             : static_cast<double>(sum_) / static_cast<double>(total_);
  }

  /// Returns the value at quantile `q` in [0, 1] (0 when empty): the
  /// smallest bucket whose cumulative count reaches ceil(q * count).
  uint64_t percentile(double q) const noexcept {
    if (total_ == 0)
      return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<uint64_t>(
      std::ceil(q * static_cast<double>(total_)));
    rank = std::clamp<uint64_t>(rank, 1, total_);
    uint64_t seen = 0;
    for (size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank)
        return std::clamp(highest_equivalent(i), min(), max_);
    }
    return max_;
  }

  /// The bucket of `value` (< 2^max_bits).
  static size_t index_of(uint64_t value) noexcept {
    if (value < 2 * half_count)
      return static_cast<size_t>(value);
    int msb = 63 - __builtin_clzll(value);        // >= sub_bits + 1
    int shift = msb - sub_bits;                   // >= 1
    uint64_t sub = (value >> shift) - half_count; // [0, half_count)
    return static_cast<size_t>(
      2 * half_count + static_cast<uint64_t>(shift - 1) * half_count + sub);
  }

  /// The smallest value of bucket `i`.
  static uint64_t lowest_equivalent(size_t i) noexcept {
    if (i < 2 * half_count)
      return i;
    auto j = i - 2 * half_count;
    auto shift = static_cast<int>(j / half_count) + 1;
    auto sub = j % half_count;
    return (half_count + sub) << shift;
  }

  /// The largest value of bucket `i`.
  static uint64_t highest_equivalent(size_t i) noexcept {
    if (i < 2 * half_count)
      return i;
    auto j = i - 2 * half_count;
    auto shift = static_cast<int>(j / half_count) + 1;
    return lowest_equivalent(i) + (uint64_t{1} << shift) - 1;
  }

private:
  std::array<uint64_t, bucket_count> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t clamped_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

} // namespace saga::bench
