// The saga catalog against a private redis-server: pages of sagas through
// the unfinished and ended indexes (exact continuation, bounded reads,
// filters), one saga's timeline, counts and the node directory.

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include "admin/saga_catalog.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/sample_sagas.hpp"
#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

using strings = std::vector<std::string>;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// One redis-server for this suite, emptied before each test.
redis_server& catalog_server() {
  static redis_server server;
  if (!server.running())
    server.start();
  return server;
}

std::string definition_text(const std::string& name, size_t steps = 1,
                            const std::string& business_key = {}) {
  definition d{name};
  if (!business_key.empty())
    d.business_key(business_key);
  for (size_t i = 0; i < steps; ++i)
    d.step("s" + std::to_string(i), "p");
  return d.to_json().dump();
}

/// The events of a one-step saga that ends up in `state`.
std::vector<strings> history_of(saga_status state, const std::string& def) {
  std::vector<strings> h{{"saga_started", "-1", "0", def, ""},
                         {"step_started", "0", "1", "", ""}};
  switch (state) {
    case saga_status::running: break;
    case saga_status::compensating:
      h.push_back({"step_succeeded", "0", "1", "{}", ""});
      h.push_back({"compensation_started", "0", "0",
                   R"({"code":"aborted","by":"alice"})", "aborted"});
      break;
    case saga_status::completed:
      h.push_back({"step_succeeded", "0", "1", R"({"ok":1})", ""});
      h.push_back({"saga_completed", "-1", "0", "", ""});
      break;
    case saga_status::compensated:
      h.push_back({"step_failed", "0", "1", "", "no stock"});
      h.push_back({"compensation_started", "0", "0", "", "no stock"});
      h.push_back({"saga_compensated", "-1", "0", "", ""});
      break;
    default:
      h.push_back({"saga_parked", "-1", "0", "", "crashed too often"});
      break;
  }
  return h;
}

class saga_catalog_test : public ::testing::Test {
protected:
  saga_catalog_test() {
    auto ep = parse_redis_url(catalog_server().url());
    ep_ = *ep;
    conn_ = std::move(*redis_connection::connect(ep_, 2s));
    EXPECT_TRUE(conn_.command({"FLUSHALL"}));
  }

  saga_catalog catalog() {
    return saga_catalog{ep_, 2s};
  }

  void cmd(const strings& argv) {
    std::vector<std::string_view> xs(argv.begin(), argv.end());
    auto r = conn_.command(xs);
    ASSERT_TRUE(r) << describe(r.error());
  }

  /// Writes saga `id` as the journal would: its history (started `age_ms`
  /// ago), owner key, and the index for its state (end time `end_ms`, or
  /// the last event's time).
  /// It goes into the id index too, and with a `business_key` into that
  /// key's index.
  void put(const std::string& id, saga_status state, const std::string& node,
           int64_t age_ms = 1000, const std::string& def = "purchase",
           std::optional<int64_t> end_ms = std::nullopt,
           const std::string& business_key = {}) {
    auto t = now_ms() - age_ms;
    auto h = history_of(state, definition_text(def, 1, business_key));
    cmd({"ZADD", redis_ids_key(), "0", id});
    if (!business_key.empty())
      cmd(
        {"ZADD", redis_business_key_key(business_key), std::to_string(t), id});
    auto key = "saga:{" + id + "}:events";
    for (size_t i = 0; i < h.size(); ++i) {
      const auto& e = h[i];
      cmd({"XADD", key, "0-" + std::to_string(i + 1), "type", e[0], "step",
           e[1], "attempt", e[2], "data", e[3], "error", e[4], "time",
           std::to_string(t + static_cast<int64_t>(i))});
    }
    cmd({"SET", "saga:{" + id + "}:owner", node + "/3"});
    if (!is_terminal(state)) {
      cmd({"ZADD", "saga:unfinished:{" + node + "}", "0", id});
    } else {
      auto end = end_ms ? *end_ms : t + static_cast<int64_t>(h.size()) - 1;
      cmd({"ZADD", redis_ended_key(to_string(state)), std::to_string(end), id});
    }
  }

  void add_node(const std::string& id, const std::string& admin = {},
                bool alive = true) {
    cmd({"ZADD", "saga:nodes", "0", id});
    cmd({"HSET", "saga:node:{" + id + "}", "epoch", "3", "host", "127.0.0.1",
         "port", "7001", "coordinates", "1", "participants", R"(["account"])",
         "admin", admin});
    if (alive)
      cmd({"SET", "saga:lease:{" + id + "}", "3", "PX", "60000"});
  }

  /// Returns the ids of every page of `f`, following the cursors; checks
  /// each page's bounds.
  strings walk(saga_filter f, size_t* pages = nullptr) {
    auto cat = catalog();
    strings ids;
    for (size_t n = 0; n < 100; ++n) {
      auto page = cat.list(f);
      EXPECT_TRUE(page) << describe(page.error());
      if (!page)
        break;
      EXPECT_LE((*page)["sagas"].size(), f.limit);
      auto budget = f.scan != 0 ? f.scan : 10 * f.limit;
      EXPECT_LE((*page)["scanned"].get<uint32_t>(), budget);
      for (const auto& x : (*page)["sagas"])
        ids.push_back(x["id"]);
      if (pages)
        *pages = n + 1;
      auto next = (*page)["next"].get<std::string>();
      if (next.empty())
        break;
      f.cursor = next;
    }
    return ids;
  }

  redis_endpoint ep_;
  redis_connection conn_;
};

TEST_F(saga_catalog_test, running_sagas_come_from_every_nodes_index) {
  add_node("n1");
  add_node("n2");
  strings expected;
  for (int i = 0; i < 5; ++i) {
    put("a-" + std::to_string(i), saga_status::running, "n1");
    put("b-" + std::to_string(i), saga_status::running, "n2");
    expected.push_back("a-" + std::to_string(i));
  }
  for (int i = 0; i < 5; ++i)
    expected.push_back("b-" + std::to_string(i));
  put("a-c", saga_status::compensating, "n1");
  // An ended saga left in an index by a crash is not running.
  put("a-done", saga_status::completed, "n1");
  cmd({"ZADD", "saga:unfinished:{n1}", "0", "a-done"});
  saga_filter f;
  f.state = saga_status::running;
  f.limit = 3;
  size_t pages = 0;
  EXPECT_EQ(walk(f, &pages), expected);
  EXPECT_GE(pages, 4u);
  f.state = saga_status::compensating;
  EXPECT_EQ(walk(f), strings{"a-c"});
  f.node = "n2";
  f.state = saga_status::running;
  EXPECT_EQ(walk(f).size(), 5u);
}

TEST_F(saga_catalog_test, a_page_reads_at_most_scan_candidates) {
  add_node("n1");
  for (int i = 0; i < 20; ++i)
    put("x-" + std::to_string(100 + i), saga_status::running, "n1", 1000,
        i == 3 || i == 17 ? "refund" : "purchase");
  saga_filter f;
  f.state = saga_status::running;
  f.definition = "refund";
  f.limit = 5;
  f.scan = 6;
  auto cat = catalog();
  auto first = cat.list(f);
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_EQ((*first)["scanned"], 6);
  ASSERT_EQ((*first)["sagas"].size(), 1u);
  EXPECT_EQ((*first)["sagas"][0]["id"], "x-103");
  EXPECT_FALSE((*first)["next"].get<std::string>().empty());
  EXPECT_EQ(walk(f), (strings{"x-103", "x-117"}));
}

TEST_F(saga_catalog_test,
       ended_sagas_come_newest_first_and_pages_continue_exactly) {
  auto t = now_ms();
  // Three of them ended in the same millisecond.
  put("e-1", saga_status::completed, "n1", 9000, "purchase", t - 5000);
  put("e-2", saga_status::completed, "n1", 9000, "purchase", t - 3000);
  put("e-3", saga_status::completed, "n1", 9000, "purchase", t - 3000);
  put("e-4", saga_status::completed, "n1", 9000, "purchase", t - 3000);
  put("e-5", saga_status::completed, "n1", 9000, "purchase", t - 1000);
  saga_filter f;
  f.state = saga_status::completed;
  f.limit = 2;
  strings expected{"e-5", "e-4", "e-3", "e-2", "e-1"};
  EXPECT_EQ(walk(f), expected);
  // The cursor's saga leaves the index between pages (retention, a retry):
  // the next page still starts right after it.
  auto cat = catalog();
  auto first = cat.list(f);
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["sagas"][1]["id"], "e-4");
  cmd({"ZREM", redis_ended_key(to_string(saga_status::completed)), "e-4"});
  f.cursor = (*first)["next"];
  auto second = cat.list(f);
  ASSERT_TRUE(second) << describe(second.error());
  ASSERT_EQ((*second)["sagas"].size(), 2u);
  EXPECT_EQ((*second)["sagas"][0]["id"], "e-3");
  EXPECT_EQ((*second)["sagas"][1]["id"], "e-2");
}

TEST_F(
  saga_catalog_test,
  without_a_state_unfinished_come_first_then_failed_compensated_completed) {
  add_node("n1");
  put("r-1", saga_status::running, "n1");
  put("c-1", saga_status::completed, "n1");
  put("p-1", saga_status::compensated, "n1");
  put("f-1", saga_status::failed, "n1");
  put("k-1", saga_status::compensating, "n1");
  saga_filter f;
  f.limit = 2;
  EXPECT_EQ(walk(f), (strings{"k-1", "r-1", "f-1", "p-1", "c-1"}));
  // A retried saga still in the failed index is listed once, as running.
  put("f-2", saga_status::running, "n1");
  cmd({"ZADD", redis_ended_key(to_string(saga_status::failed)),
       std::to_string(now_ms()), "f-2"});
  f.limit = 50;
  auto all = walk(f);
  EXPECT_EQ(std::count(all.begin(), all.end(), "f-2"), 1);
  f.state = saga_status::failed;
  EXPECT_EQ(walk(f), strings{"f-1"});
}

TEST_F(saga_catalog_test, summaries_carry_the_contract_fields) {
  add_node("n1");
  put("f-1", saga_status::failed, "n1", 5000, "purchase");
  saga_filter f;
  f.state = saga_status::failed;
  auto page = catalog().list(f);
  ASSERT_TRUE(page);
  ASSERT_EQ((*page)["sagas"].size(), 1u);
  const auto& x = (*page)["sagas"][0];
  EXPECT_EQ(x["id"], "f-1");
  EXPECT_EQ(x["definition"], "purchase");
  EXPECT_EQ(x["state"], "failed");
  EXPECT_EQ(x["owner"], "n1");
  EXPECT_EQ(x["epoch"], 3);
  EXPECT_GT(x["started_ms"].get<int64_t>(), 0);
  EXPECT_GE(x["ended_ms"].get<int64_t>(), x["started_ms"].get<int64_t>());
  EXPECT_EQ(x["steps"], 1);
  EXPECT_EQ(x["error"], "crashed too often");
  EXPECT_EQ((*page)["next"], "");
}

TEST_F(saga_catalog_test, age_definition_and_node_filters) {
  add_node("n1");
  add_node("n2");
  const int64_t minute = 60'000;
  put("young", saga_status::completed, "n1", 10 * minute);
  put("hour", saga_status::completed, "n2", 60 * minute, "refund");
  put("old", saga_status::completed, "n1", 24 * 60 * minute);
  put("run-old", saga_status::running, "n1", 3 * 60 * minute);
  put("run-new", saga_status::running, "n1", 1000);
  saga_filter f;
  f.min_age_s = 30 * 60;
  EXPECT_EQ(walk(f), (strings{"run-old", "hour", "old"}));
  f.min_age_s.reset();
  f.max_age_s = 2 * 60 * 60;
  EXPECT_EQ(walk(f), (strings{"run-new", "young", "hour"}));
  f.max_age_s.reset();
  f.definition = "refund";
  EXPECT_EQ(walk(f), strings{"hour"});
  f.definition.clear();
  f.node = "n1";
  f.state = saga_status::completed;
  EXPECT_EQ(walk(f), (strings{"young", "old"}));
}

TEST_F(saga_catalog_test, an_id_prefix_finds_sagas_of_every_state_by_id) {
  add_node("n1");
  put("order-3", saga_status::failed, "n1");
  put("order-1", saga_status::running, "n1");
  put("order-2", saga_status::completed, "n1");
  put("orders", saga_status::completed, "n1");
  put("other-1", saga_status::completed, "n1");
  saga_filter f;
  f.id_prefix = "order-";
  f.limit = 1;
  size_t pages = 0;
  EXPECT_EQ(walk(f, &pages), (strings{"order-1", "order-2", "order-3"}));
  EXPECT_GE(pages, 3u);
  f.state = saga_status::completed;
  EXPECT_EQ(walk(f), strings{"order-2"});
  f.state.reset();
  f.id_prefix = "o";
  f.limit = 50;
  EXPECT_EQ(walk(f).size(), 5u);
  // Ids are never made of other characters: refused, not searched.
  f.id_prefix = "a b";
  EXPECT_TRUE(is(catalog().list(f).error(), errc::invalid_request));
}

TEST_F(saga_catalog_test, a_business_key_finds_its_sagas_newest_first) {
  add_node("n1");
  put("k-old", saga_status::completed, "n1", 30'000, "purchase", {}, "user-9");
  put("k-new", saga_status::running, "n1", 1000, "purchase", {}, "user-9");
  put("k-mid", saga_status::failed, "n1", 10'000, "refund", {}, "user-9");
  put("k-else", saga_status::completed, "n1", 1000, "purchase", {}, "user-8");
  saga_filter f;
  f.business_key = "user-9";
  EXPECT_EQ(walk(f), (strings{"k-new", "k-mid", "k-old"}));
  auto page = catalog().list(f);
  ASSERT_TRUE(page);
  EXPECT_EQ((*page)["sagas"][0]["business_key"], "user-9");
  // With the other filters: a time range (by start), a state, a definition.
  f.from_ms = now_ms() - 20'000;
  EXPECT_EQ(walk(f), (strings{"k-new", "k-mid"}));
  f.to_ms = now_ms() - 5'000;
  EXPECT_EQ(walk(f), strings{"k-mid"});
  f.from_ms.reset();
  f.to_ms.reset();
  f.state = saga_status::completed;
  EXPECT_EQ(walk(f), strings{"k-old"});
  f.state.reset();
  f.definition = "refund";
  EXPECT_EQ(walk(f), strings{"k-mid"});
  f.definition.clear();
  f.business_key = "user-7";
  EXPECT_TRUE(walk(f).empty());
}

TEST_F(saga_catalog_test, a_time_range_bounds_the_start_in_every_phase) {
  add_node("n1");
  const int64_t minute = 60'000;
  put("r-new", saga_status::running, "n1", minute);
  put("r-old", saga_status::running, "n1", 50 * minute);
  put("c-new", saga_status::completed, "n1", 2 * minute);
  put("c-old", saga_status::completed, "n1", 40 * minute);
  saga_filter f;
  auto t = now_ms();
  f.from_ms = t - 10 * minute;
  EXPECT_EQ(walk(f), (strings{"r-new", "c-new"}));
  f.from_ms = t - 45 * minute;
  f.to_ms = t - 30 * minute;
  EXPECT_EQ(walk(f), strings{"c-old"});
}

TEST_F(saga_catalog_test, previous_pages_come_back_as_they_were) {
  add_node("n1");
  auto t = now_ms();
  for (int i = 0; i < 7; ++i)
    put("p-" + std::to_string(i), saga_status::completed, "n1", 60'000,
        "purchase", t - 1000 * (7 - i));
  put("r-0", saga_status::running, "n1");
  saga_filter f;
  f.limit = 3;
  auto cat = catalog();
  auto ids_of = [](const json& page) {
    strings xs;
    for (const auto& x : page["sagas"])
      xs.push_back(x["id"]);
    return xs;
  };
  std::vector<json> pages;
  for (;;) {
    auto page = cat.list(f);
    ASSERT_TRUE(page) << describe(page.error());
    pages.push_back(*page);
    if ((*page)["next"] == "")
      break;
    f.cursor = (*page)["next"];
    ASSERT_LT(pages.size(), 10u);
  }
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(ids_of(pages[0]), (strings{"r-0", "p-6", "p-5"}));
  EXPECT_EQ(ids_of(pages[2]), (strings{"p-1", "p-0"}));
  EXPECT_EQ(pages[0]["prev"], "") << "the first page has none";
  // Back from the last page, page by page, to the first.
  for (size_t i = pages.size() - 1; i > 0; --i) {
    f.cursor = pages[i]["prev"];
    ASSERT_FALSE(f.cursor.empty()) << "page " << i;
    auto back = cat.list(f);
    ASSERT_TRUE(back) << describe(back.error());
    EXPECT_EQ(ids_of(*back), ids_of(pages[i - 1])) << "page " << i - 1;
    EXPECT_EQ((*back)["next"], pages[i - 1]["next"]);
  }
}

TEST_F(saga_catalog_test, bad_filters_and_cursors_are_invalid_requests) {
  auto cat = catalog();
  saga_filter f;
  f.limit = 0;
  EXPECT_TRUE(is(cat.list(f).error(), errc::invalid_request));
  f.limit = 501;
  EXPECT_TRUE(is(cat.list(f).error(), errc::invalid_request));
  f.limit = 10;
  f.cursor = "garbage";
  auto bad = cat.list(f);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::invalid_request));
  EXPECT_NE(describe(bad.error()).find("cursor"), std::string::npos);
  // A cursor of the failed phase does not continue a running list.
  f.cursor = "failed~~";
  f.state = saga_status::running;
  EXPECT_TRUE(is(cat.list(f).error(), errc::invalid_request));
  f.state = saga_status::pending;
  f.cursor.clear();
  EXPECT_TRUE(is(cat.list(f).error(), errc::invalid_request));
  f.state.reset();
  f.min_age_s = 10;
  f.max_age_s = 5;
  EXPECT_TRUE(is(cat.list(f).error(), errc::invalid_request));
}

TEST_F(saga_catalog_test, show_returns_the_timeline_and_the_owner) {
  add_node("n1");
  put("k-1", saga_status::compensating, "n1");
  auto x = catalog().show("k-1");
  ASSERT_TRUE(x) << describe(x.error());
  EXPECT_EQ((*x)["state"], "compensating");
  EXPECT_EQ((*x)["owner"], "n1");
  EXPECT_EQ((*x)["epoch"], 3);
  ASSERT_EQ((*x)["steps"].size(), 1u);
  EXPECT_EQ((*x)["steps"][0]["operations"][0]["outcome"], "succeeded");
  EXPECT_EQ((*x)["events"].size(), 4u);
  ASSERT_EQ((*x)["operator_actions"].size(), 1u);
  EXPECT_EQ((*x)["operator_actions"][0]["action"], "abort");
  EXPECT_EQ((*x)["operator_actions"][0]["by"], "alice");
}

TEST_F(saga_catalog_test, show_of_unknown_bad_and_undecodable_sagas) {
  auto cat = catalog();
  auto none = cat.show("never-was");
  ASSERT_FALSE(none);
  EXPECT_TRUE(is(none.error(), errc::unknown_saga));
  EXPECT_NE(describe(none.error()).find("no saga 'never-was'"),
            std::string::npos);
  EXPECT_TRUE(is(cat.show("bad id!").error(), errc::invalid_request));
  // Not a type this build knows: the entries are shown as stored.
  cmd({"XADD", "saga:{odd}:events", "0-1", "type", "saga_started", "step", "-1",
       "attempt", "0", "data", definition_text("x"), "error", "", "time", "5"});
  cmd({"XADD", "saga:{odd}:events", "0-2", "type", "from_the_future", "step",
       "0", "attempt", "1", "data", "", "error", "", "time", "6"});
  auto odd = cat.show("odd");
  ASSERT_TRUE(odd) << describe(odd.error());
  EXPECT_TRUE((*odd)["invalid_history"]);
  EXPECT_NE((*odd)["error"].get<std::string>().find("from_the_future"),
            std::string::npos);
  ASSERT_EQ((*odd)["events"].size(), 2u);
  EXPECT_EQ((*odd)["events"][1]["type"], "from_the_future");
  EXPECT_EQ((*odd)["events"][1]["step"], 0);
}

TEST_F(saga_catalog_test, stats_count_indexes_and_definitions) {
  add_node("n1");
  add_node("n2");
  put("r-1", saga_status::running, "n1");
  put("r-2", saga_status::running, "n2");
  put("r-3", saga_status::compensating, "n2");
  put("c-1", saga_status::completed, "n1");
  put("c-2", saga_status::completed, "n1");
  put("f-1", saga_status::failed, "n1");
  cmd({"HSET", "saga:counts", "started:purchase", "10", "completed:purchase",
       "7", "failed:purchase", "1", "started:ns:refund", "2"});
  auto x = catalog().stats();
  ASSERT_TRUE(x) << describe(x.error());
  EXPECT_EQ((*x)["states"], json({{"unfinished", 3},
                                  {"completed", 2},
                                  {"compensated", 0},
                                  {"failed", 1}}));
  EXPECT_EQ((*x)["definitions"]["purchase"], json({{"started", 10},
                                                   {"completed", 7},
                                                   {"compensated", 0},
                                                   {"failed", 1}}));
  // Split at the first ':' only.
  EXPECT_EQ((*x)["definitions"]["ns:refund"]["started"], 2);
}

TEST_F(saga_catalog_test, nodes_show_admin_lease_and_unfinished) {
  add_node("n1", "127.0.0.1:8081");
  add_node("n2", "", false);
  put("r-1", saga_status::running, "n1");
  put("r-2", saga_status::running, "n1");
  auto x = catalog().nodes();
  ASSERT_TRUE(x) << describe(x.error());
  ASSERT_EQ((*x)["nodes"].size(), 2u);
  const auto& n1 = (*x)["nodes"][0];
  EXPECT_EQ(n1["id"], "n1");
  EXPECT_EQ(n1["admin"], "127.0.0.1:8081");
  EXPECT_TRUE(n1["alive"]);
  EXPECT_GT(n1["lease_ms_left"].get<int64_t>(), 50'000);
  EXPECT_EQ(n1["unfinished"], 2);
  EXPECT_EQ(n1["epoch"], 3);
  EXPECT_EQ(n1["port"], 7001);
  EXPECT_TRUE(n1["coordinates"]);
  EXPECT_EQ(n1["participants"], json::array({"account"}));
  const auto& n2 = (*x)["nodes"][1];
  EXPECT_FALSE(n2["alive"]);
  EXPECT_EQ(n2["lease_ms_left"], 0);
  EXPECT_EQ(n2["admin"], "");
  auto owner = catalog().owner("r-1");
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->first, "n1");
  EXPECT_EQ(owner->second, 3u);
  EXPECT_TRUE(is(catalog().owner("nope").error(), errc::unknown_saga));
}

TEST_F(saga_catalog_test, unreachable_redis_is_a_journal_failure) {
  redis_endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = static_cast<uint16_t>(free_port());
  saga_catalog cat{ep, 500ms};
  auto x = cat.stats();
  ASSERT_FALSE(x);
  EXPECT_TRUE(is(x.error(), errc::journal_failure)) << describe(x.error());
  EXPECT_TRUE(is(cat.list({}).error(), errc::journal_failure));
}

TEST_F(saga_catalog_test, sagas_run_by_a_runtime_are_listed_and_shown) {
  auto sagas = run_sample_sagas(catalog_server().url(), "real", "refused");
  ASSERT_FALSE(sagas.completed.empty());
  auto cat = catalog();
  // The ended indexes (if this build's journal does not write them yet).
  for (const auto& [id, state] :
       {std::pair{sagas.completed, saga_status::completed},
        std::pair{sagas.compensated, saga_status::compensated}}) {
    auto x = cat.show(id);
    ASSERT_TRUE(x) << describe(x.error());
    cmd({"ZADD", redis_ended_key(to_string(state)), "NX",
         std::to_string((*x)["ended_ms"].get<int64_t>()), id});
  }
  auto shown = cat.show(sagas.compensated);
  ASSERT_TRUE(shown);
  EXPECT_EQ((*shown)["state"], "compensated");
  EXPECT_EQ((*shown)["owner"], "real");
  EXPECT_EQ((*shown)["failed_step"], "no");
  const auto& ops = (*shown)["steps"][0]["operations"];
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0]["op"], "execute");
  EXPECT_EQ(ops[0]["outcome"], "succeeded");
  EXPECT_EQ(ops[1]["op"], "compensate");
  EXPECT_EQ(ops[1]["outcome"], "compensated");
  EXPECT_GE(ops[1]["started_ms"].get<int64_t>(),
            ops[0]["ended_ms"].get<int64_t>());
  EXPECT_EQ((*shown)["steps"][1]["operations"][0]["outcome"], "failed");
  EXPECT_EQ((*shown)["steps"][1]["operations"][0]["error"], "refused");
  saga_filter f;
  f.state = saga_status::completed;
  f.definition = "good";
  EXPECT_EQ(walk(f), strings{sagas.completed});
  f.state = saga_status::compensated;
  f.definition.clear();
  f.node = "real";
  EXPECT_EQ(walk(f), strings{sagas.compensated});
}

} // namespace
} // namespace saga::test
