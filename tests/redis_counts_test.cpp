// `saga:counts` and the ended indexes are exact (issue 17, point 5): after
// connections break mid-run, after a writer died before its follow-ups, and
// across operator retries. Each test has a private redis-server, so the
// counts start at zero.

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include "persistence/lua_scripts.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/await_saga.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/unfinished_saga.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

step_outcome ok(const step_context&, const json&) {
  return step_outcome::ok();
}

/// Returns a runtime on the Redis at `url` as node `node`.
std::unique_ptr<runtime> node_runtime(const std::string& url,
                                      const std::string& node) {
  runtime_config cfg;
  cfg.journal_url = url;
  cfg.journal.node_id = node;
  return std::make_unique<runtime>(cfg);
}

/// A plain connection for the test's own reads and writes.
class raw_redis {
public:
  explicit raw_redis(const std::string& url)
    : conn_(std::move(*redis_connection::connect(*parse_redis_url(url), 2s))) {
  }

  /// Returns the integer reply of `argv` (a nil or error reply: -1, a bulk
  /// string: its value as a number).
  long long integer(const std::vector<std::string_view>& argv) {
    auto r = conn_.command(argv);
    if (!r || !*r)
      return -1;
    if ((*r)->type == REDIS_REPLY_INTEGER)
      return (*r)->integer;
    if ((*r)->type == REDIS_REPLY_STRING)
      return std::atoll((*r)->str);
    return -1;
  }

  /// Returns a count of `saga:counts` (0 when absent).
  long long count(const std::string& field) {
    auto n = integer({"HGET", redis_counts_key(), field});
    return n < 0 ? 0 : n;
  }

  /// Returns the score of `id` in the sorted set `key`, -1 if absent.
  long long score(const std::string& key, const std::string& id) {
    return integer({"ZSCORE", key, id});
  }

  /// Waits (bounded) until `node`'s unfinished index is empty: the writers'
  /// follow-ups ride on later pipelines.
  bool unlisted(const std::string& node) {
    auto key = redis_unfinished_key(node);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (integer({"ZCARD", key}) != 0) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  redis_connection& conn() {
    return conn_;
  }

private:
  redis_connection conn_;
};

TEST(redis_counts, counts_are_exact_after_connections_break_mid_run) {
  // 300 sagas while another client kills every normal connection (the
  // writers') again and again. Before the count script, a count increment
  // whose reply was lost was dropped (Redis may have applied it), so a kill
  // landing before Redis read it lost that count: "199 started counted for
  // 200 sagas". Whether a kill lands there is timing; the old code failed
  // this in each of 4 runs (291 to 298 of 300 counted), but it need not.
  redis_server server;
  ASSERT_TRUE(server.start());
  auto rt = node_runtime(server.url(), "breaks");
  ASSERT_FALSE(rt->start_error()) << describe(rt->start_error());
  rt->participant("p").on("a", ok, ok).on("b", ok, ok);
  definition d{"counted"};
  for (auto step : {"a", "b"})
    d.step(step, "p").timeout(30s).retry(retry_policy{5, 10ms});
  constexpr int n = 300;
  std::atomic<bool> running{true};
  std::atomic<long long> killed{0};
  std::thread killer{[&] {
    raw_redis admin{server.url()};
    // Kills at most every 15 ms, and only once the runtime got something
    // done since the last kill (a count moved). On a clock alone, a busy
    // machine (reconnects slower than 15 ms) starved the run for good:
    // nothing then ends, which is the test's fault, not the product's.
    long long last_done = -1;
    while (running) {
      auto done = admin.count("started:counted")
                  + admin.count("completed:counted");
      if (done != last_done) {
        last_done = done;
        // SKIPME yes (the default): only the runtime's connections go.
        killed += std::max(0LL,
                           admin.integer({"CLIENT", "KILL", "TYPE", "normal"}));
      }
      std::this_thread::sleep_for(15ms);
    }
  }};
  std::vector<std::future<saga_result>> results;
  for (int i = 0; i < n; ++i) {
    results.push_back(rt->execute(d));
    std::this_thread::sleep_for(2ms); // spread over many kills
  }
  std::vector<saga_id> ids;
  for (auto& f : results) {
    auto r = f.get();
    EXPECT_TRUE(r.success) << describe(r.error);
    ids.push_back(r.saga_id);
  }
  running = false;
  killer.join();
  EXPECT_GT(killed.load(), 5) << "the connections were hardly ever broken";
  raw_redis redis{server.url()};
  ASSERT_TRUE(redis.unlisted("breaks"));
  EXPECT_EQ(redis.count("started:counted"), n) << killed << " kills";
  EXPECT_EQ(redis.count("completed:counted"), n) << killed << " kills";
  for (const auto& id : ids) {
    EXPECT_GT(redis.score(redis_ended_key("completed"), id), 0)
      << "saga " << id << " completed but is not in its ended index";
    EXPECT_GT(redis.score(redis_seen_key(), id), 0)
      << "saga " << id << " is not marked as counted ended";
  }
}

/// Runs `n` one-step sagas of definition `name` to completion on node
/// `node` and waits until they are unlisted. Returns their ids.
std::vector<saga_id> run_to_end(const std::string& url, const std::string& node,
                                const std::string& name, int n) {
  auto rt = node_runtime(url, node);
  rt->participant("p").on("a", ok, ok);
  definition d{name};
  d.step("a", "p");
  std::vector<saga_id> ids;
  for (int i = 0; i < n; ++i) {
    auto r = rt->execute(d).get();
    EXPECT_TRUE(r.success) << describe(r.error);
    ids.push_back(r.saga_id);
  }
  return ids; // the runtime's clean stop sends the follow-ups it holds
}

TEST(redis_counts, recovery_settles_ended_sagas_whose_follow_ups_were_lost) {
  // A writer that dies right after a terminal batch was accepted never sends
  // its follow-ups: the saga stays listed, outside its ended index and
  // uncounted. Mimicked here by undoing the follow-ups of two completed
  // sagas: `all` lost them all (its start count too), `end` only those of
  // its end. Recovery must index and count them, exactly once.
  redis_server server;
  ASSERT_TRUE(server.start());
  auto url = server.url();
  auto ids = run_to_end(url, "settle", "settled", 2);
  ASSERT_EQ(ids.size(), 2u);
  const auto& all = ids[0];
  const auto& end = ids[1];
  raw_redis redis{url};
  ASSERT_TRUE(redis.unlisted("settle"));
  ASSERT_EQ(redis.count("started:settled"), 2);
  ASSERT_EQ(redis.count("completed:settled"), 2);
  auto index = redis_unfinished_key("settle");
  auto completed = redis_ended_key("completed");
  auto end_ms = [&](const saga_id& id) { return redis.score(completed, id); };
  auto all_end = end_ms(all);
  auto end_end = end_ms(end);
  ASSERT_GT(all_end, 0);
  for (const auto& id : ids) {
    redis.integer({"ZADD", index, "0", id});
    redis.integer({"ZREM", completed, id});
  }
  redis.integer({"ZREM", redis_seen_key(), all});
  redis.integer({"ZADD", redis_seen_key(), "XX", "0", end});
  redis.integer({"HINCRBY", redis_counts_key(), "started:settled", "-1"});
  redis.integer({"HINCRBY", redis_counts_key(), "completed:settled", "-2"});
  auto rt = node_runtime(url, "settle");
  rt->participant("p").on("a", ok, ok);
  EXPECT_EQ(rt->recover(), 0u) << "ended sagas are settled, not resumed";
  auto expect_settled = [&](const char* when) {
    EXPECT_EQ(redis.integer({"ZCARD", index}), 0) << when;
    EXPECT_EQ(end_ms(all), all_end) << when << ": indexed at its end time";
    EXPECT_EQ(end_ms(end), end_end) << when;
    EXPECT_EQ(redis.count("started:settled"), 2) << when;
    EXPECT_EQ(redis.count("completed:settled"), 2) << when;
    EXPECT_EQ(redis.score(redis_seen_key(), all), all_end) << when;
    EXPECT_EQ(redis.score(redis_seen_key(), end), end_end) << when;
  };
  expect_settled("after the first recovery");
  // A crash between the settling's writes leaves the saga listed; the next
  // recovery repeats them and counts nothing twice.
  redis.integer({"ZADD", index, "0", all});
  EXPECT_EQ(rt->recover(), 0u);
  expect_settled("after the second recovery");
}

TEST(redis_counts, recovery_counts_the_start_its_dead_writer_never_sent) {
  // A saga in flight whose start count the dead writer never sent (mimicked
  // by undoing it) is counted when recovery resumes it, once.
  redis_server server;
  ASSERT_TRUE(server.start());
  auto url = server.url();
  definition d{"resumed"};
  d.step("a", "p").step("b", "p");
  auto id = leave_unfinished(node_runtime(url, "resume"), d);
  raw_redis redis{url};
  ASSERT_EQ(redis.count("started:resumed"), 1);
  redis.integer({"ZREM", redis_seen_key(), id});
  redis.integer({"HINCRBY", redis_counts_key(), "started:resumed", "-1"});
  auto rt = node_runtime(url, "resume");
  rt->participant("p").on("a", ok, ok).on("b", ok, ok);
  EXPECT_EQ(rt->recover(), 1u);
  auto r = await_saga(*rt, id);
  EXPECT_TRUE(r.success) << describe(r.error);
  ASSERT_TRUE(redis.unlisted("resume"));
  EXPECT_EQ(rt->recover(), 0u);
  EXPECT_EQ(redis.count("started:resumed"), 1);
  EXPECT_EQ(redis.count("completed:resumed"), 1);
  EXPECT_GT(redis.score(redis_ended_key("completed"), id), 0);
}

TEST(redis_counts, an_operator_retry_moves_failed_back_once_per_reopen) {
  // Fails, is retried, fails again, is retried and compensates: failed
  // went +1 −1 +1 −1, the start and the end are counted once.
  redis_server server;
  ASSERT_TRUE(server.start());
  auto rt = node_runtime(server.url(), "reopen");
  std::atomic<int> refunds{0};
  rt->participant("bank")
    .on("pay", ok,
        [&refunds](const step_context&, const json&) {
          return ++refunds <= 4 ? step_outcome::fail("desk jammed", true)
                                : step_outcome::ok();
        })
    .on(
      "ship",
      [](const step_context&, const json&) {
        return step_outcome::fail("no stock");
      },
      ok);
  definition d{"order"};
  d.step("pay", "bank")
    .compensation_retry(retry_policy{2, 1ms})
    .step("ship", "bank");
  auto r = rt->execute(d).get();
  ASSERT_EQ(r.state, saga_status::failed) << describe(r.error);
  raw_redis redis{server.url()};
  auto failed = redis_ended_key("failed");
  auto settled = [&](const char* state) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (redis.score(redis_ended_key(state), r.saga_id) <= 0
           || redis.integer({"ZCARD", redis_unfinished_key("reopen")}) != 0)
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      else
        std::this_thread::sleep_for(20ms);
    return true;
  };
  ASSERT_TRUE(settled("failed"));
  EXPECT_EQ(redis.count("failed:order"), 1);
  for (auto round : {"first", "second"}) {
    auto state = rt->retry(r.saga_id, "alice");
    ASSERT_TRUE(state) << describe(state.error());
    auto done = await_saga(*rt, r.saga_id);
    auto again = std::string{round} == "first";
    EXPECT_EQ(done.state,
              again ? saga_status::failed : saga_status::compensated)
      << round << ": " << describe(done.error);
    ASSERT_TRUE(settled(again ? "failed" : "compensated")) << round;
    EXPECT_EQ(redis.count("failed:order"), again ? 1 : 0) << round;
  }
  EXPECT_LT(redis.score(failed, r.saga_id), 0) << "unlisted from failed";
  EXPECT_EQ(redis.count("started:order"), 1);
  EXPECT_EQ(redis.count("compensated:order"), 1);
}

TEST(redis_counts, one_listing_call_lists_every_first_batch_of_a_pipeline) {
  // A writer lists all first batches of a pipeline with one call; the
  // script adds them in slices (Lua's unpack() is bounded), so a full
  // pipeline's worth and more must all land.
  redis_server server;
  ASSERT_TRUE(server.start());
  raw_redis redis{server.url()};
  std::vector<std::string> ids;
  ids.reserve(450);
  for (int i = 0; i < 450; ++i)
    ids.push_back("s" + std::to_string(i));
  std::vector<std::string_view> argv{"EVAL",     lua_script("list.lua"),
                                     "3",        "idx{n}",
                                     "lease{n}", "rec{n}",
                                     "1"};
  argv.insert(argv.end(), ids.begin(), ids.end());
  EXPECT_EQ(redis.integer(argv), 450);
  EXPECT_EQ(redis.integer({"ZCARD", "idx{n}"}), 450);
  // A newer incarnation registered: nothing of the call is listed.
  ASSERT_TRUE(redis.conn().command({"HSET", "rec{m}", "epoch", "2"}));
  EXPECT_FALSE(
    redis.conn().command({"EVAL", lua_script("list.lua"), "3", "idx{m}",
                          "lease{m}", "rec{m}", "1", "a", "b"}));
  EXPECT_EQ(redis.integer({"ZCARD", "idx{m}"}), 0);
}

TEST(redis_counts, the_count_script_counts_each_saga_once) {
  redis_server server;
  ASSERT_TRUE(server.start());
  raw_redis redis{server.url()};
  auto loaded = redis.conn().command({"SCRIPT", "LOAD", redis_count_script()});
  ASSERT_TRUE(loaded) << describe(loaded.error());
  std::string sha{(*loaded)->str, (*loaded)->len};
  auto counts = redis_counts_key();
  auto seen = redis_seen_key();
  auto ids = redis_ids_key();
  auto call = [&](std::vector<std::string_view> args) {
    std::vector<std::string_view> argv{"EVALSHA", sha, "3", counts, seen, ids};
    argv.insert(argv.end(), args.begin(), args.end());
    return redis.integer(argv);
  };
  // A start, counted once; its end, counted once.
  EXPECT_EQ(call({"started", "s1", "d"}), 1);
  EXPECT_EQ(call({"started", "s1", "d"}), 0);
  EXPECT_EQ(call({"ended", "s1", "d", "completed", "1000"}), 1);
  EXPECT_EQ(call({"ended", "s1", "d", "completed", "1000"}), 0);
  EXPECT_EQ(call({"started", "s1", "d"}), 0) << "a late start after its end";
  EXPECT_EQ(redis.score(seen, "s1"), 1000);
  // An end whose start was never counted counts both.
  EXPECT_EQ(call({"ended", "s2", "d", "failed", "2000"}), 1);
  EXPECT_EQ(redis.count("started:d"), 2);
  EXPECT_EQ(redis.count("completed:d"), 1);
  EXPECT_EQ(redis.count("failed:d"), 1);
  // Reopened (an operator's retry): failed -1 once, however often.
  EXPECT_EQ(call({"reopened", "s2", "d"}), 1);
  EXPECT_EQ(call({"reopened", "s2", "d"}), 0);
  EXPECT_EQ(redis.count("failed:d"), 0);
  EXPECT_EQ(redis.score(seen, "s2"), 0) << "open again";
  EXPECT_EQ(call({"ended", "s2", "d", "compensated", "3000"}), 1);
  EXPECT_EQ(redis.count("started:d"), 2) << "its start was counted before";
  EXPECT_EQ(redis.count("compensated:d"), 1);
  EXPECT_EQ(call({"reopened", "nobody", "d"}), 0);
  // Several records in one call (a writer's pipeline): each as alone.
  EXPECT_EQ(call({"started", "m1", "e", "ended", "m2", "e", "completed", "9",
                  "started", "m1", "e"}),
            2);
  EXPECT_EQ(redis.count("started:e"), 2);
  EXPECT_EQ(redis.count("completed:e"), 1);
  // A malformed call counts nothing, not even its good records.
  EXPECT_FALSE(redis.conn().command({"EVALSHA", sha, "3", counts, seen, ids,
                                     "started", "m3", "e", "ended", "m4"}));
  EXPECT_FALSE(
    redis.conn().command({"EVALSHA", sha, "3", counts, seen, ids, "started",
                          "m3", "e", "bogus", "m4", "e"}));
  EXPECT_EQ(redis.count("started:e"), 2);
  // Every saga counted is in the id index once, by id (a prefix search).
  EXPECT_EQ(redis.integer({"ZCARD", ids}), 4); // s1 s2 m1 m2
  EXPECT_EQ(redis.integer({"ZLEXCOUNT", ids, "[m", "[m\xff"}), 2);
  // Resumed by recovery: counts a start nobody counted, once; for a saga
  // counted as ended (its reopen was not counted), counts the reopen.
  EXPECT_EQ(call({"resumed", "s3", "d"}), 1);
  EXPECT_EQ(call({"resumed", "s3", "d"}), 0);
  EXPECT_EQ(redis.count("started:d"), 3);
  EXPECT_EQ(call({"ended", "s4", "d", "failed", "4000"}), 1);
  EXPECT_EQ(call({"resumed", "s4", "d"}), 1);
  EXPECT_EQ(call({"resumed", "s4", "d"}), 0);
  EXPECT_EQ(redis.count("failed:d"), 0);
  EXPECT_EQ(redis.count("started:d"), 4);
  EXPECT_EQ(call({"counted", "s5", "d"}), -1) << "an unknown operation";
}

} // namespace
} // namespace saga::test
