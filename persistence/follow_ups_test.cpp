// Unit tests of saga::detail::follow_ups: what a Redis writer sends after
// accepted writes, gathered across sagas into few commands.

#include "persistence/follow_ups.hpp"

#include <gtest/gtest.h>

#include "persistence/redis_journal.hpp"

namespace saga::detail {
namespace {

using argv_list = std::vector<redis_argv>;

TEST(follow_ups, many_sagas_share_one_command_per_kind_in_a_safe_order) {
  follow_ups f;
  f.started("s1", "order", "user-9", 1500);
  f.ended("s2", "completed", "order", 2000);
  f.ended("s3", "failed", "pay", 3000);
  f.ended("s4", "completed", "order", 0);
  auto cmds = f.commands("sha", "saga:unfinished:{n}", 100);
  // Indexed, then counted, then unlisted: an unlisted saga is always
  // indexed and counted (a crash in between leaves it listed). The keyed
  // start is indexed under its business key, kept 100 s.
  argv_list
    want{{"ZADD", redis_ended_key("completed"), "2000", "s2", "1", "s4"},
         {"ZADD", redis_ended_key("failed"), "3000", "s3"},
         {"EVALSHA",       "sha", "3",     redis_counts_key(), redis_seen_key(),
          redis_ids_key(),                                             //
          "started",       "s1",  "order",                             //
          "ended",         "s2",  "order", "completed",        "2000", //
          "ended",         "s3",  "pay",   "failed",           "3000", //
          "ended",         "s4",  "order", "completed",        "1"},
         {"ZADD", "saga:key:{user-9}", "1500", "s1"},
         {"ZREMRANGEBYSCORE", "saga:key:{user-9}", "-inf", "(-98500"},
         {"EXPIRE", "saga:key:{user-9}", "100"},
         {"ZREM", "saga:unfinished:{n}", "s2", "s3", "s4"}};
  EXPECT_EQ(cmds, want);
}

TEST(follow_ups, a_reopened_saga_leaves_the_failed_index_before_its_count) {
  follow_ups f;
  f.reopened("s1", "order");
  auto cmds = f.commands("sha", "idx", 100);
  argv_list want{{"ZREM", redis_ended_key("failed"), "s1"},
                 {"EVALSHA", "sha", "3", redis_counts_key(), redis_seen_key(),
                  redis_ids_key(), "reopened", "s1", "order"}};
  EXPECT_EQ(cmds, want);
}

TEST(follow_ups, a_backlog_goes_out_in_bounded_slices) {
  follow_ups f;
  const size_t n = follow_ups::per_command_max + 44;
  for (size_t i = 0; i < n; ++i)
    f.ended("s" + std::to_string(i), "completed", "d", 5);
  auto cmds = f.commands("sha", "idx", 100);
  // Two ZADDs, two count calls, two ZREMs.
  ASSERT_EQ(cmds.size(), 6u);
  EXPECT_EQ(cmds[0].size(), 2 + 2 * follow_ups::per_command_max);
  EXPECT_EQ(cmds[1].size(), 2 + 2 * 44u);
  EXPECT_EQ(cmds[2].size(), 6 + 5 * follow_ups::per_command_max);
  EXPECT_EQ(cmds[3].size(), 6 + 5 * 44u);
  EXPECT_EQ(cmds[4].size(), 2 + follow_ups::per_command_max);
  EXPECT_EQ(cmds[5].size(), 2 + 44u);
  EXPECT_EQ(cmds[5].back(), "s" + std::to_string(n - 1));
}

TEST(follow_ups, nothing_gathered_sends_nothing) {
  follow_ups f;
  EXPECT_TRUE(f.empty());
  EXPECT_TRUE(f.commands("sha", "idx", 100).empty());
  f.resumed("s1", "d");
  EXPECT_FALSE(f.empty());
}

} // namespace
} // namespace saga::detail
