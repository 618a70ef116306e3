// The admin dashboard (admin/web) in a real browser against a real
// node: a private redis-server, a saga_node serving its admin API, sagas run
// through its gateway, and a headless Chromium driven over the DevTools
// protocol (tests/devtools_client.hpp) that loads the pages, waits for what
// they render and clicks their buttons. Skipped without /usr/bin/chromium
// (scripts/setup.sh installs it). Screenshots go to the build directory:
// dashboard.png (the list), dashboard-saga.png (a compensated saga's
// timeline), dashboard-retry.png (a failed saga after an operator retry),
// dashboard-abort.png (a running saga an operator aborted, compensated).

#include <future>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <saga/saga.hpp>

#include "demo/shop.hpp"
#include "tests/cluster_fixture.hpp"
#include "tests/devtools_client.hpp"

#ifndef SAGA_BINARY_DIR
#  define SAGA_BINARY_DIR "."
#endif

namespace saga::test {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

/// How long the page may take to show what the node knows: it refreshes
/// every 2 s, and the indexes are written as the sagas end.
constexpr auto page_timeout = std::chrono::milliseconds{20'000};

/// A purchase whose debit is the pivot and whose grant (an item that is
/// always sold out) then fails for good: the saga is parked `failed` after
/// two forward attempts, waiting for an operator.
definition stuck_purchase() {
  definition d{"stuck_purchase"};
  d.step("debit", "account", {{"player", "q"}, {"amount", 5}})
    .action("debit")
    .timeout(std::chrono::seconds{1})
    .pivot();
  d.step("grant", "inventory", {{"player", "q"}, {"item", "sold-out-forever"}})
    .action("grant")
    .timeout(std::chrono::seconds{1});
  d.forward_retry(retry_policy{2, std::chrono::milliseconds{20}});
  return d;
}

/// A purchase of three steps, one after another, each answering after the
/// node's --step-delay (3 s): running for about 9 s, long enough for an
/// operator to find it on the dashboard and abort it.
definition slow_purchase() {
  definition d{"slow_purchase"};
  d.step("debit", "account", {{"player", "q"}, {"amount", 5}})
    .action("debit")
    .timeout(std::chrono::seconds{20});
  d.step("grant", "inventory", {{"player", "q"}, {"item", "bow"}})
    .action("grant")
    .timeout(std::chrono::seconds{20});
  d.step("record", "purchase_log", {{"player", "q"}, {"item", "bow"}})
    .action("record")
    .timeout(std::chrono::seconds{20});
  return d;
}

/// Returns a JavaScript string literal for `s`.
std::string js_string(const std::string& s) {
  return json(s).dump();
}

} // namespace

class dashboard_test : public cluster_fixture {
protected:
  void SetUp() override {
    chromium_exe_ = headless_chromium::find_executable();
    if (chromium_exe_.empty())
      GTEST_SKIP() << "no Chromium at /usr/bin/chromium (scripts/setup.sh "
                      "installs it): the dashboard is not tested";
    cluster_fixture::SetUp();
  }

  void TearDown() override {
    browser_.reset();
    cluster_fixture::TearDown();
  }

  /// Starts the coordinating shop node with its admin server and returns its
  /// admin base URL (http://127.0.0.1:<port>).
  /// `extra` are more saga_node options.
  std::string start_admin_node(std::vector<std::string> extra = {}) {
    std::vector<std::string>
      args{"--coordinate", "--participants=account,inventory,purchase_log",
           "--admin=127.0.0.1:0", "--admin-token=secret"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto& n = start_node("a", args);
    auto line = n.proc->wait_for_line(" admin http://", 30s);
    if (!line) {
      ADD_FAILURE() << "node a printed no admin URL; its output:";
      for (const auto& l : n.proc->lines())
        ADD_FAILURE() << "  " << l;
      throw std::runtime_error("no admin server");
    }
    auto url = line->substr(line->find("http://"));
    while (!url.empty() && (url.back() == '/' || url.back() == ' '))
      url.pop_back();
    return url;
  }

  /// Runs every definition in `defs` on `gw` at once; returns the results
  /// in the same order.
  std::vector<saga_result> run(const gateway_actor& gw,
                               const std::vector<definition>& defs) {
    auto done = std::make_shared<std::promise<std::vector<saga_result>>>();
    auto result = done->get_future();
    std::vector<std::string> texts;
    texts.reserve(defs.size());
    for (const auto& d : defs)
      texts.push_back(d.to_json().dump());
    client_->spawn([gw, texts, done](caf::event_based_actor* self) {
      auto results = std::make_shared<std::vector<saga_result>>(texts.size());
      auto left = std::make_shared<size_t>(texts.size());
      for (size_t i = 0; i < texts.size(); ++i) {
        auto one = [=](saga_result r) {
          (*results)[i] = std::move(r);
          if (--*left == 0) {
            done->set_value(std::move(*results));
            self->quit();
          }
        };
        self->request(gw, std::chrono::seconds{60}, run_atom::value, texts[i])
          .then([one](saga_result& r) { one(std::move(r)); },
                [one](caf::error& err) {
                  saga_result r;
                  r.error = std::move(err);
                  one(std::move(r));
                });
      }
    });
    if (result.wait_for(90s) != std::future_status::ready)
      throw std::runtime_error("the sagas did not end in time");
    return result.get();
  }

  /// Sets the page's admin token to `token` and the operator's name to
  /// `by` (as typed) and clicks `button` (a selector) once it is enabled.
  static void click_with_token(devtools_client& page, const char* button,
                               const std::string& token,
                               const std::string& by = "alice") {
    page.wait_for(std::string{"!document.querySelector('"} + button
                    + "').disabled",
                  page_timeout);
    page.evaluate("(() => { const t = document.querySelector('#token');\n"
                  "  t.value = "
                  + js_string(token)
                  + ";\n"
                    "  t.dispatchEvent(new Event('input'));\n"
                    "  const o = document.querySelector('#operator');\n"
                    "  o.value = "
                  + js_string(by)
                  + ";\n"
                    "  o.dispatchEvent(new Event('input'));\n"
                    "  document.querySelector('"
                  + button
                  + "').click();\n"
                    "  return true; })()");
  }

  /// Waits until #action-status has class `cls` (ok, fail); returns its text.
  static std::string action_status(devtools_client& page, const char* cls) {
    return page
      .wait_for(std::string{"(() => { const s = "
                            "document.querySelector('#action-status');\n"
                            "  return s.classList.contains('"}
                  + cls + "') && s.textContent; })()",
                page_timeout)
      .get<std::string>();
  }

  /// Starts Chromium and enables the domains the tests use.
  devtools_client& browser() {
    auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    browser_ = std::make_unique<headless_chromium>(chromium_exe_,
                                                   std::string{"dashboard-"}
                                                     + test->name()
                                                     + "-chromium.log");
    auto& page = browser_->page();
    page.call("Page.enable");
    page.call("Runtime.enable");
    return page;
  }

  /// Expects that no script on the page threw (Runtime.exceptionThrown).
  static void expect_no_page_errors(const devtools_client& page) {
    for (const auto& e : page.events())
      if (e.value("method", "") == "Runtime.exceptionThrown")
        ADD_FAILURE() << "the page threw: " << e["params"].dump();
  }

  std::string chromium_exe_;
  std::unique_ptr<headless_chromium> browser_;
};

TEST_F(dashboard_test, lists_sagas_by_state_and_draws_a_timeline) {
  auto admin = start_admin_node();
  auto gw = gateway(nodes_.at("a"));
  auto results = run(gw, {demo::make_purchase("p", "sword", 10),
                          demo::make_purchase("p", "shield", 10),
                          demo::make_purchase("p", "sold-out-1", 10)});
  std::map<std::string, std::string> expected; // saga id -> state
  std::string compensated;
  for (const auto& r : results) {
    ASSERT_FALSE(r.saga_id.empty()) << describe(r.error);
    expected[r.saga_id] = std::string{to_string(r.state)};
    if (r.state == saga_status::compensated)
      compensated = r.saga_id;
  }
  ASSERT_EQ(std::string{to_string(results[0].state)}, "completed");
  ASSERT_EQ(std::string{to_string(results[1].state)}, "completed");
  ASSERT_EQ(compensated, results[2].saga_id);

  auto& page = browser();

  // The list, all states: every saga with its state.
  page.navigate(admin + "/index.html?state=");
  json want = json::object();
  for (const auto& [id, st] : expected)
    want[id] = st;
  auto rendered = page.wait_for(
    "(() => { const want = " + want.dump()
      + ";\n"
        "  const rows = {};\n"
        "  document.querySelectorAll('#saga-table tbody tr[data-id]')\n"
        "    .forEach(r => rows[r.dataset.id] = r.dataset.state);\n"
        "  return Object.keys(want).every(id => rows[id] === want[id]) && "
        "rows; })()",
    page_timeout);
  EXPECT_EQ(rendered.size(), expected.size()) << rendered.dump();
  // Each id links to its page.
  EXPECT_EQ(page.evaluate(
              "document.querySelector('#saga-table tbody tr[data-id="
              + js_string(compensated) + "] a').getAttribute('href')"),
            "/saga.html?id=" + compensated);
  // The counters from /api/stats and the node from /api/nodes.
  auto counts = page.wait_for(
    "(() => { const c = s => Number(document.querySelector("
    "'#state-counts [data-state=\"' + s + '\"] .count-value').textContent);\n"
    "  return c('completed') >= 2 && c('compensated') >= 1\n"
    "    && {completed: c('completed'), compensated: c('compensated')}; })()",
    page_timeout);
  EXPECT_EQ(counts["completed"], 2) << counts.dump();
  EXPECT_EQ(counts["compensated"], 1) << counts.dump();
  page.wait_for("document.querySelector('#nodes [data-node=\"a\"]')",
                page_timeout);
  // The live feed shows the sagas' lifecycle events.
  page.wait_for("document.querySelectorAll('#event-feed li').length > 0",
                page_timeout);
  write_file(SAGA_BINARY_DIR "/dashboard.png", page.screenshot_png());

  // The "compensated" tab shows only that saga.
  page.evaluate("document.querySelector('#state-tabs "
                "[data-filter=\"compensated\"]').click(); true");
  page.wait_for("(() => { const rows = [...document.querySelectorAll("
                "'#saga-table tbody tr[data-id]')];\n"
                "  return rows.length === 1 && rows[0].dataset.id === "
                  + js_string(compensated)
                  + " && rows[0].dataset.state === 'compensated'; })()",
                page_timeout);

  // The compensated saga's page: a lane per step, execute and compensate
  // bars, the failed attempt marked, the steps grouped by level.
  page.navigate(admin + "/saga.html?id=" + compensated);
  page.wait_for(
    "document.querySelector('#saga-state').dataset.state === 'compensated'\n"
    "  && document.querySelectorAll('#timeline .lane[data-step]').length === 3",
    page_timeout);
  auto timeline = page.evaluate(R"js((() => {
    const lanes = {};
    document.querySelectorAll('#timeline .lane[data-step]').forEach(l => {
      lanes[l.dataset.step] = {
        level: Number(l.closest('[data-level]').dataset.level),
        bars: [...l.querySelectorAll('.bar')].map(b => ({
          op: b.dataset.op, outcome: b.dataset.outcome,
          left: parseFloat(b.style.left), width: parseFloat(b.style.width)})),
      };
    });
    return {
      lanes,
      levels: [...document.querySelectorAll('#timeline [data-level]')]
        .map(g => g.querySelector('.tl-label').textContent),
      retry: document.querySelector('#retry').disabled,
      abort: document.querySelector('#abort').disabled,
      events: document.querySelectorAll('#events-table tbody tr').length,
    };
  })())js");
  SCOPED_TRACE(timeline.dump(2));
  const auto& lanes = timeline["lanes"];
  ASSERT_TRUE(lanes.contains("debit") && lanes.contains("grant")
              && lanes.contains("record"));
  EXPECT_EQ(lanes["debit"]["level"], 0);
  EXPECT_EQ(lanes["grant"]["level"], 1);
  EXPECT_EQ(lanes["record"]["level"], 1);
  EXPECT_EQ(timeline["levels"], json({"level 0", "level 1"}));
  auto has_bar = [&](const char* step, const char* op, const char* outcome) {
    for (const auto& b : lanes[step]["bars"])
      if (b["op"] == op && b["outcome"] == outcome)
        return true;
    return false;
  };
  EXPECT_TRUE(has_bar("debit", "execute", "succeeded"));
  EXPECT_TRUE(has_bar("debit", "compensate", "compensated"));
  EXPECT_TRUE(has_bar("grant", "execute", "failed"));
  EXPECT_TRUE(has_bar("record", "execute", "succeeded"));
  EXPECT_TRUE(has_bar("record", "compensate", "compensated"));
  // Bars sit where their time is: the debit ran before the grant, and its
  // compensation came last of all.
  auto first = [&](const char* step, const char* op) {
    for (const auto& b : lanes[step]["bars"])
      if (b["op"] == op)
        return b["left"].get<double>();
    return -1.0;
  };
  EXPECT_LT(first("debit", "execute"), first("grant", "execute"));
  EXPECT_GT(first("debit", "compensate"), first("grant", "execute"));
  for (const auto& [step, lane] : lanes.items())
    for (const auto& b : lane["bars"]) {
      EXPECT_GE(b["left"].get<double>(), 0.0) << step;
      EXPECT_LE(b["left"].get<double>() + b["width"].get<double>(), 100.5)
        << step;
    }
  // Nothing to retry or abort on a compensated saga.
  EXPECT_EQ(timeline["retry"], true);
  EXPECT_EQ(timeline["abort"], true);
  EXPECT_GT(timeline["events"].get<int>(), 5);
  write_file(SAGA_BINARY_DIR "/dashboard-saga.png", page.screenshot_png());
  expect_no_page_errors(page);
}

TEST_F(dashboard_test, searches_by_id_and_business_key_and_pages_both_ways) {
  auto admin = start_admin_node();
  auto gw = gateway(nodes_.at("a"));
  std::vector<definition> defs;
  for (int i = 1; i <= 5; ++i) {
    auto d = demo::make_purchase("p", "sword", 1);
    d.id("order-" + std::to_string(i));
    if (i == 2 || i == 4)
      d.business_key("user-7");
    defs.push_back(std::move(d));
  }
  defs.push_back(demo::make_purchase("p", "shield", 1).id("other-1"));
  for (const auto& r : run(gw, defs))
    ASSERT_TRUE(is_terminal(r.state)) << r.saga_id << ": " << describe(r.error);

  auto& page = browser();
  // Rows as shown, once they are `want` (a JSON array of ids).
  auto rows_become = [&page](const json& want) {
    return page
      .wait_for("(() => { const rows = [...document.querySelectorAll("
                "'#saga-table tbody tr[data-id]')].map(r => r.dataset.id);\n"
                "  return JSON.stringify(rows) === JSON.stringify("
                  + want.dump() + ") && rows; })()",
                page_timeout);
  };
  auto click = [&page](const char* sel) {
    page.wait_for(std::string{"!document.querySelector('"} + sel
                    + "').disabled",
                  page_timeout);
    page.evaluate(std::string{"document.querySelector('"} + sel
                  + "').click(); true");
  };
  // Search by id prefix, typed into the form: every order, in id order.
  page.navigate(admin + "/index.html?state=");
  page.wait_for("document.querySelectorAll('#saga-table tbody tr').length >= 6",
                page_timeout);
  page.evaluate("(() => { document.querySelector('#search-id').value = "
                "'order-';\n"
                "  document.querySelector('#search').requestSubmit(); "
                "return true; })()");
  rows_become({"order-1", "order-2", "order-3", "order-4", "order-5"});
  EXPECT_NE(page.evaluate("location.search")
              .get<std::string>()
              .find("id_prefix=order-"),
            std::string::npos);

  // The live feed is pushed (Server-Sent Events): a saga that runs while
  // the page is open shows up without a reload.
  ASSERT_TRUE(is_terminal(
    run(gw, {demo::make_purchase("p", "sword", 1).id("live-1")})[0].state));
  page.wait_for("[...document.querySelectorAll('#event-feed li')]\n"
                "  .some(li => li.textContent.includes('live-1'))",
                page_timeout);

  // Two per page: forward to the end, then back to the first page.
  page.navigate(admin + "/index.html?state=&id_prefix=order-&limit=2");
  rows_become({"order-1", "order-2"});
  EXPECT_EQ(page.evaluate("document.querySelector('#page-prev').disabled"),
            true);
  click("#page-next");
  rows_become({"order-3", "order-4"});
  click("#page-next");
  rows_become({"order-5"});
  page.wait_for("document.querySelector('#page-next').disabled", page_timeout);
  click("#page-prev");
  rows_become({"order-3", "order-4"});
  click("#page-prev");
  rows_become({"order-1", "order-2"});
  page.wait_for("document.querySelector('#page-prev').disabled", page_timeout);

  // By business key: its sagas, newest started first.
  page.navigate(admin + "/index.html?state=&business_key=user-7");
  auto keyed = page.wait_for(
    "(() => { const rows = [...document.querySelectorAll("
    "'#saga-table tbody tr[data-id]')].map(r => r.dataset.id).sort();\n"
    "  return rows.length === 2 && rows; })()",
    page_timeout);
  EXPECT_EQ(keyed, json({"order-2", "order-4"}));

  // The saga's page: its business key, and each step's input beside its
  // result.
  page.navigate(admin + "/saga.html?id=order-2");
  auto steps = page.wait_for(R"js((() => {
    const rows = document.querySelectorAll('#steps-table tbody tr[data-step]');
    if (rows.length !== 3) return false;
    const debit = document.querySelector('#steps-table tr[data-step="debit"]');
    return {key: document.querySelector('#saga-business-key').textContent,
            input: JSON.parse(debit.querySelector('.step-input').textContent),
            result: debit.querySelector('.step-result').textContent};
  })())js",
                             page_timeout);
  EXPECT_EQ(steps["key"], "user-7");
  EXPECT_EQ(steps["input"], json({{"player", "p"}, {"amount", 1}}));
  EXPECT_EQ(json::parse(steps["result"].get<std::string>(), nullptr, false),
            json({{"debited", 1}}));
  write_file(SAGA_BINARY_DIR "/dashboard-search.png", page.screenshot_png());
  expect_no_page_errors(page);
}

TEST_F(dashboard_test, a_saga_waiting_to_retry_shows_which_attempt_and_when) {
  auto admin = start_admin_node();
  auto gw = gateway(nodes_.at("a"));
  // The grant fails for good; the refund desk is jammed (every attempt
  // fails, retryably), and its next attempt waits 10 min (no jitter): the
  // saga sits compensating, waiting to retry, while the test looks.
  definition d{"jammed_refund"};
  d.id("jam-1");
  d.step("debit", "account",
         {{"player", "q"}, {"amount", 5}, {"jam_refund", 99}})
    .action("debit")
    .timeout(std::chrono::seconds{5})
    .compensation_retry(retry_policy{10, std::chrono::minutes{10}, 2.0,
                                     std::chrono::minutes{10}, 0.0});
  d.step("grant", "inventory", {{"player", "q"}, {"item", "sold-out-9"}})
    .action("grant")
    .timeout(std::chrono::seconds{5});
  // Fire and forget: the saga does not end within the test.
  caf::anon_send(gw, run_atom::value, d.to_json().dump());

  auto& page = browser();
  page.navigate(admin + "/index.html?state=compensating");
  auto cell = page.wait_for(
    "(() => { const r = document.querySelector("
    "'#saga-table tbody tr[data-id=\"jam-1\"] .error-cell');\n"
    "  return r && r.textContent.includes('attempt') && r.textContent; })()",
    page_timeout);
  SCOPED_TRACE(cell.dump());
  EXPECT_NE(cell.get<std::string>().find("debit: undo attempt 1/10 failed, "
                                         "next by "),
            std::string::npos);
  EXPECT_NE(cell.get<std::string>().find("refund desk jammed"),
            std::string::npos);
  page.navigate(admin + "/saga.html?id=jam-1");
  auto banner = page.wait_for(
    "(() => { const b = document.querySelector('#saga-retrying');\n"
    "  return !b.classList.contains('hidden') && b.textContent; })()",
    page_timeout);
  EXPECT_NE(banner.get<std::string>().find("waiting to retry debit: undo "
                                           "attempt 1/10 failed, next by"),
            std::string::npos)
    << banner;
  expect_no_page_errors(page);
}

TEST_F(dashboard_test, retry_needs_the_admin_token) {
  auto admin = start_admin_node();
  auto gw = gateway(nodes_.at("a"));
  auto results = run(gw, {stuck_purchase()});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].saga_id.empty()) << describe(results[0].error);
  ASSERT_EQ(results[0].state, saga_status::failed)
    << describe(results[0].error);
  auto id = results[0].saga_id;

  auto& page = browser();
  page.navigate(admin + "/saga.html?id=" + id);
  page.wait_for("document.querySelector('#saga-state').dataset.state === "
                "'failed' && !document.querySelector('#retry').disabled",
                page_timeout);
  EXPECT_EQ(page.evaluate("document.querySelector('#abort').disabled"), true);

  auto click_retry_with = [&](const std::string& token) {
    click_with_token(page, "#retry", token);
  };

  // No name: nothing is sent, the page asks for it.
  click_with_token(page, "#retry", "secret", "");
  auto asked = page.wait_for(
    "(() => { const s = document.querySelector('#action-status');\n"
    "  return s.classList.contains('fail') && s.textContent; })()",
    page_timeout);
  EXPECT_NE(asked.get<std::string>().find("your name"), std::string::npos)
    << asked;

  // A wrong token: the server's 401 and its words appear.
  click_retry_with("wrong");
  auto status = page.wait_for(
    "(() => { const s = document.querySelector('#action-status');\n"
    "  return s.classList.contains('fail') && s.textContent; })()",
    page_timeout);
  EXPECT_NE(status.get<std::string>().find("401"), std::string::npos) << status;
  EXPECT_EQ(page.evaluate("sessionStorage.getItem('saga-admin-token')"),
            "wrong");

  // The right one: accepted, and the operator action shows on the page.
  click_retry_with("secret");
  status = page.wait_for(
    "(() => { const s = document.querySelector('#action-status');\n"
    "  return s.classList.contains('ok') && s.textContent; })()",
    page_timeout);
  EXPECT_NE(status.get<std::string>().find("retry"), std::string::npos)
    << status;
  page.wait_for("[...document.querySelectorAll('#operator-actions tbody tr')]\n"
                "  .some(r => r.textContent.includes('retry')\n"
                "             && r.textContent.includes('alice'))",
                page_timeout);
  // The retried grant fails again: the saga is parked failed once more.
  page.wait_for("document.querySelector('#saga-state').dataset.state === "
                "'failed' && !document.querySelector('#retry').disabled",
                page_timeout);
  write_file(SAGA_BINARY_DIR "/dashboard-retry.png", page.screenshot_png());
  expect_no_page_errors(page);
}

TEST_F(dashboard_test, abort_stops_a_running_saga_and_it_compensates) {
  // Every step answers after 3 s: the saga is still running while the
  // operator finds it and aborts it.
  auto admin = start_admin_node({"--step-delay=3s"});
  auto gw = gateway(nodes_.at("a"));
  // The browser first: its start-up must not eat the saga's running time.
  auto& page = browser();
  page.navigate(admin + "/index.html"); // the "running" tab
  auto result = std::async(std::launch::async,
                           [this, gw] { return run(gw, {slow_purchase()}); });

  // The list shows it as running once its first event is durable.
  auto found = page.wait_for(
    "(() => { const r = [...document.querySelectorAll("
    "'#saga-table tbody tr[data-id]')]\n"
    "  .find(r => r.dataset.state === 'running'\n"
    "        && r.children[1].textContent === 'slow_purchase');\n"
    "  return r && r.dataset.id; })()",
    page_timeout);
  ASSERT_TRUE(found.is_string()) << found.dump();
  const auto id = found.get<std::string>();
  EXPECT_EQ(page.evaluate("document.querySelector('#state-tabs "
                          "[data-filter=\"running\"]').classList"
                          ".contains('active')"),
            true);

  // Its page: Abort is offered, Retry (for failed sagas) is not.
  page.navigate(admin + "/saga.html?id=" + id);
  page.wait_for("document.querySelector('#saga-state').dataset.state === "
                "'running' && !document.querySelector('#abort').disabled",
                page_timeout);
  EXPECT_EQ(page.evaluate("document.querySelector('#retry').disabled"), true);

  // A wrong token: the server's 401 and its words; the saga runs on.
  click_with_token(page, "#abort", "wrong");
  auto status = action_status(page, "fail");
  EXPECT_NE(status.find("401"), std::string::npos) << status;
  EXPECT_EQ(status_of(id), saga_status::running);
  EXPECT_EQ(page.evaluate("document.querySelector('#operator-actions')"
                          ".classList.contains('hidden')"),
            true);

  // The right one: accepted, and the saga turns to compensating.
  click_with_token(page, "#abort", "secret");
  status = action_status(page, "ok");
  EXPECT_NE(status.find("abort accepted by alice"), std::string::npos)
    << status;
  EXPECT_NE(status.find("compensating"), std::string::npos) << status;
  // Once the page shows it turned back, it is not offered again.
  page.wait_for("['compensating', 'compensated'].includes(document"
                ".querySelector('#saga-state').dataset.state)\n"
                "  && document.querySelector('#abort').disabled\n"
                "  && document.querySelector('#retry').disabled",
                page_timeout);

  // The page refreshes itself until the compensation is done; then neither
  // button is offered, and the operator's abort is listed with who asked.
  page.wait_for("document.querySelector('#saga-state[data-state=compensated]')",
                page_timeout);
  auto shown = page.evaluate(R"js((() => ({
    retry: document.querySelector('#retry').disabled,
    abort: document.querySelector('#abort').disabled,
    actionsHidden: document.querySelector('#operator-actions')
      .classList.contains('hidden'),
    actions: [...document.querySelectorAll('#operator-actions tbody tr')]
      .map(r => [...r.children].map(c => c.textContent)),
    marker: [...document.querySelectorAll('#timeline .op-marker')]
      .map(m => m.textContent),
    error: document.querySelector('#saga-error').textContent,
    debit: [...document.querySelectorAll(
        '#timeline .lane[data-step="debit"] .bar')]
      .map(b => b.dataset.op + ':' + b.dataset.outcome),
  }))())js");
  SCOPED_TRACE(shown.dump(2));
  EXPECT_EQ(shown["retry"], true);
  EXPECT_EQ(shown["abort"], true);
  EXPECT_EQ(shown["actionsHidden"], false);
  ASSERT_EQ(shown["actions"].size(), 1u);
  ASSERT_EQ(shown["actions"][0].size(), 3u);
  EXPECT_EQ(shown["actions"][0][1], "abort");
  EXPECT_EQ(shown["actions"][0][2], "alice");
  EXPECT_EQ(shown["marker"], json({"abort · alice"}));
  EXPECT_NE(shown["error"].get<std::string>().find("aborted"),
            std::string::npos);
  // The debit (in flight when the abort came) ran and was undone.
  EXPECT_EQ(shown["debit"],
            json({"execute:succeeded", "compensate:compensated"}));

  // The gateway's answer: compensated, because an operator aborted it.
  ASSERT_EQ(result.wait_for(60s), std::future_status::ready);
  auto results = result.get();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].saga_id, id);
  EXPECT_EQ(results[0].state, saga_status::compensated)
    << describe(results[0].error);
  EXPECT_TRUE(is(results[0].error, errc::aborted))
    << describe(results[0].error);
  // Nothing is left debited.
  EXPECT_EQ(read_hash(redis_url(), "shop:debits").count(id), 0u);
  write_file(SAGA_BINARY_DIR "/dashboard-abort.png", page.screenshot_png());
  expect_no_page_errors(page);
}

} // namespace saga::test
