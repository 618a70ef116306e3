#include "bench/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

using saga::bench::histogram;

TEST(histogram, empty_reports_zeros) {
  histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(histogram, small_values_are_exact) {
  histogram h;
  for (uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  EXPECT_EQ(h.percentile(0.5), 50u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.percentile(0.0), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(histogram, buckets_tile_the_range) {
  for (size_t i = 0; i + 1 < histogram::bucket_count; ++i) {
    ASSERT_EQ(histogram::highest_equivalent(i) + 1,
              histogram::lowest_equivalent(i + 1))
      << i;
    ASSERT_EQ(histogram::index_of(histogram::lowest_equivalent(i)), i);
    ASSERT_EQ(histogram::index_of(histogram::highest_equivalent(i)), i);
  }
  EXPECT_EQ(histogram::highest_equivalent(histogram::bucket_count - 1),
            (uint64_t{1} << histogram::max_bits) - 1);
}

TEST(histogram, percentiles_within_one_percent_of_exact) {
  std::mt19937_64 gen{42};
  std::lognormal_distribution<double> dist{7.0, 1.5};
  std::vector<uint64_t> xs;
  histogram h;
  for (int i = 0; i < 200'000; ++i) {
    auto v = static_cast<uint64_t>(dist(gen));
    xs.push_back(v);
    h.record(v);
  }
  std::sort(xs.begin(), xs.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    auto rank = static_cast<size_t>(
      std::ceil(q * static_cast<double>(xs.size())));
    auto exact = static_cast<double>(xs[rank - 1]);
    auto got = static_cast<double>(h.percentile(q));
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(got, exact * 1.01 + 1) << q;
  }
  EXPECT_EQ(h.max(), xs.back());
  EXPECT_EQ(h.min(), xs.front());
}

TEST(histogram, merge_equals_recording_everything_in_one) {
  histogram a, b, all;
  for (uint64_t v = 0; v < 10'000; v += 7) {
    (v % 2 ? a : b).record(v * 13);
    all.record(v * 13);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {0.1, 0.5, 0.9, 0.99, 0.999})
    EXPECT_EQ(a.percentile(q), all.percentile(q)) << q;
}

TEST(histogram, huge_values_are_clamped_and_counted) {
  histogram h;
  h.record(UINT64_MAX);
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.percentile(0.5), (uint64_t{1} << histogram::max_bits) - 1);
}
