// sagactl as operators run it: the real binary against a private
// redis-server holding sagas written by a real runtime (and node records
// written directly), and against a stub admin server for retry, abort and
// tail: tables, --json, exit codes and error messages.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"
#include "tests/sample_sagas.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

using strings = std::vector<std::string>;

/// What one sagactl run printed (stdout and stderr merged) and its exit code.
struct run_result {
  int code = -1;
  strings lines;

  std::string text() const {
    std::string s;
    for (const auto& l : lines)
      s += l + '\n';
    return s;
  }

  /// Returns the first line that is a JSON object.
  json first_json() const {
    for (const auto& l : lines)
      if (!l.empty() && l.front() == '{')
        return json::parse(l);
    return nullptr;
  }

  bool has(const std::string& needle) const {
    return text().find(needle) != std::string::npos;
  }
};

run_result sagactl(strings args) {
  child_process p{SAGACTL_EXE, std::move(args)};
  run_result r;
  auto st = p.wait_exit(60s);
  EXPECT_TRUE(st) << "sagactl did not exit";
  EXPECT_TRUE(p.wait_for_eof(10s)) << "sagactl's output did not end";
  r.lines = p.lines();
  if (st && WIFEXITED(*st))
    r.code = WEXITSTATUS(*st);
  return r;
}

/// A stub admin server on 127.0.0.1: answers each request (one per
/// connection) with `handler(request)` and records the requests.
class stub_admin {
public:
  using handler
    = std::function<std::pair<int, std::string>(const std::string& request)>;

  explicit stub_admin(handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << "the stub admin server cannot bind";
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }

  ~stub_admin() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(port_);
  }

  strings requests() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return requests_;
  }

private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        return;
      std::string req;
      char buf[4096];
      // Headers, then Content-Length bytes of body.
      for (;;) {
        auto n = ::read(c, buf, sizeof(buf));
        if (n <= 0)
          break;
        req.append(buf, static_cast<size_t>(n));
        auto end = req.find("\r\n\r\n");
        if (end == std::string::npos)
          continue;
        size_t body = 0;
        auto cl = req.find("Content-Length: ");
        if (cl == std::string::npos)
          cl = req.find("content-length: ");
        if (cl != std::string::npos)
          body = std::stoul(req.substr(cl + 16));
        if (req.size() >= end + 4 + body)
          break;
      }
      {
        std::lock_guard<std::mutex> guard{mtx_};
        requests_.push_back(req);
      }
      auto [status, body] = handler_(req);
      auto answer = "HTTP/1.1 " + std::to_string(status)
                    + " X\r\nContent-Type: application/json\r\n"
                      "Content-Length: "
                    + std::to_string(body.size())
                    + "\r\nConnection: close\r\n\r\n" + body;
      auto ignored = ::write(c, answer.data(), answer.size());
      static_cast<void>(ignored);
      ::close(c);
    }
  }

  handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mtx_;
  strings requests_;
  std::thread thread_;
};

/// One private redis-server with sagas run by a real runtime (node "tool"):
/// a completed one, a compensated one, and a running one written directly.
class sagactl_test : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    server_ = new redis_server;
    ASSERT_TRUE(server_->start());
    auto sagas = run_sample_sagas(server_->url(), "tool", "refused by stock");
    ASSERT_FALSE(sagas.completed.empty());
    *completed_ = sagas.completed;
    *compensated_ = sagas.compensated;
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  sagactl_test() {
    auto ep = parse_redis_url(server_->url());
    conn_ = std::move(*redis_connection::connect(*ep, 2s));
    // A running saga owned by "orders", and the node records.
    definition d{"purchase"};
    d.step("deduct_balance", "account");
    cmd({"DEL", "saga:{run-1}:events"});
    cmd({"XADD", "saga:{run-1}:events", "0-1", "type", "saga_started", "step",
         "-1", "attempt", "0", "data", d.to_json().dump(), "error", "", "time",
         "1700000000000"});
    cmd({"XADD", "saga:{run-1}:events", "0-2", "type", "step_started", "step",
         "0", "attempt", "1", "data", "", "error", "", "time",
         "1700000000003"});
    cmd({"SET", "saga:{run-1}:owner", "orders/7"});
    cmd({"ZADD", "saga:unfinished:{orders}", "0", "run-1"});
    cmd({"ZADD", "saga:nodes", "0", "orders"});
    cmd({"HSET", "saga:node:{orders}", "epoch", "7", "host", "127.0.0.1",
         "port", "7001", "coordinates", "1", "participants",
         R"(["account","inventory"])", "admin", "127.0.0.1:8081"});
    cmd({"SET", "saga:lease:{orders}", "7", "PX", "600000"});
  }

  void cmd(const strings& argv) {
    std::vector<std::string_view> xs(argv.begin(), argv.end());
    auto r = conn_.command(xs);
    ASSERT_TRUE(r) << describe(r.error());
  }

  run_result ctl(strings args) {
    args.insert(args.begin(), {"--redis", server_->url()});
    return sagactl(std::move(args));
  }

  static redis_server* server_;
  static std::string* completed_;
  static std::string* compensated_;
  redis_connection conn_;
};

redis_server* sagactl_test::server_ = nullptr;
std::string* sagactl_test::completed_ = new std::string;
std::string* sagactl_test::compensated_ = new std::string;

TEST_F(sagactl_test, list_prints_a_table_of_every_state) {
  auto r = ctl({"list"});
  ASSERT_EQ(r.code, 0) << r.text();
  ASSERT_FALSE(r.lines.empty());
  EXPECT_EQ(r.lines[0].rfind("ID", 0), 0u) << r.text();
  for (auto col : {"DEFINITION", "STATE", "OWNER", "AGE", "STEPS", "ERROR"})
    EXPECT_NE(r.lines[0].find(col), std::string::npos) << col;
  EXPECT_TRUE(r.has(*completed_)) << r.text();
  EXPECT_TRUE(r.has(*compensated_)) << r.text();
  EXPECT_TRUE(r.has("run-1")) << r.text();
  // Unfinished first; the compensated saga names its failed step.
  EXPECT_NE(r.lines[1].find("run-1"), std::string::npos) << r.text();
  EXPECT_NE(r.lines[1].find("orders/7"), std::string::npos);
  EXPECT_TRUE(r.has("no: ")) << r.text();
  EXPECT_TRUE(r.has("refused by stock")) << r.text();
}

TEST_F(sagactl_test, list_json_is_the_api_shape_and_filters_apply) {
  auto r = ctl({"--json", "list", "--state", "completed"});
  ASSERT_EQ(r.code, 0) << r.text();
  auto x = r.first_json();
  ASSERT_TRUE(x.is_object()) << r.text();
  ASSERT_EQ(x["sagas"].size(), 1u) << x.dump();
  EXPECT_EQ(x["sagas"][0]["id"], *completed_);
  EXPECT_EQ(x["sagas"][0]["definition"], "good");
  EXPECT_EQ(x["sagas"][0]["owner"], "tool");
  EXPECT_EQ(x["next"], "");
  auto none = ctl({"list", "--json", "--definition", "nothing-like-it"});
  ASSERT_EQ(none.code, 0);
  EXPECT_TRUE(none.first_json()["sagas"].empty());
  auto young = ctl({"list", "--json", "--max-age", "1h"});
  ASSERT_EQ(young.code, 0);
  // run-1 started in 2023: too old.
  EXPECT_EQ(young.first_json()["sagas"].size(), 2u) << young.text();
}

TEST_F(sagactl_test, list_pages_with_cursors_and_all_follows_them) {
  auto first = ctl({"list", "--json", "--limit", "1"});
  ASSERT_EQ(first.code, 0) << first.text();
  auto page = first.first_json();
  ASSERT_EQ(page["sagas"].size(), 1u);
  auto next = page["next"].get<std::string>();
  ASSERT_FALSE(next.empty());
  EXPECT_TRUE(first.has("--cursor " + next)) << first.text();
  auto second = ctl({"list", "--json", "--limit", "1", "--cursor", next});
  ASSERT_EQ(second.code, 0) << second.text();
  EXPECT_NE(second.first_json()["sagas"][0]["id"], page["sagas"][0]["id"]);
  // And back: the second page names the first as its previous one.
  auto prev = second.first_json()["prev"].get<std::string>();
  ASSERT_FALSE(prev.empty()) << second.text();
  EXPECT_TRUE(second.has("the previous page: --cursor " + prev))
    << second.text();
  auto back = ctl({"list", "--json", "--limit", "1", "--cursor", prev});
  ASSERT_EQ(back.code, 0) << back.text();
  EXPECT_EQ(back.first_json()["sagas"], page["sagas"]);
  auto all = ctl({"list", "--json", "--limit", "1", "--all"});
  ASSERT_EQ(all.code, 0) << all.text();
  EXPECT_EQ(all.first_json()["sagas"].size(), 3u) << all.text();
  EXPECT_EQ(all.first_json()["next"], "");
  auto bad = ctl({"list", "--cursor", "nonsense"});
  EXPECT_EQ(bad.code, 2) << bad.text();
  EXPECT_TRUE(bad.has("sagactl: cursor")) << bad.text();
}

TEST_F(sagactl_test, list_searches_by_id_prefix_and_start_time) {
  // The runtime's sagas are in the id index (its count script put them
  // there); run-1 was written by hand, without it.
  auto found = ctl({"list", "--json", "--id-prefix", *completed_});
  ASSERT_EQ(found.code, 0) << found.text();
  ASSERT_EQ(found.first_json()["sagas"].size(), 1u) << found.text();
  EXPECT_EQ(found.first_json()["sagas"][0]["id"], *completed_);
  // Started in 2023 (run-1) or today (the others): a range for each.
  auto old = ctl({"list", "--json", "--to", "2024-01-01T00:00:00Z"});
  ASSERT_EQ(old.code, 0) << old.text();
  ASSERT_EQ(old.first_json()["sagas"].size(), 1u) << old.text();
  EXPECT_EQ(old.first_json()["sagas"][0]["id"], "run-1");
  auto recent = ctl({"list", "--json", "--from", "2024-01-01T00:00:00.000Z"});
  ASSERT_EQ(recent.code, 0) << recent.text();
  EXPECT_EQ(recent.first_json()["sagas"].size(), 2u) << recent.text();
  auto future = ctl({"list", "--json", "--from", "4102444800000"}); // 2100
  ASSERT_EQ(future.code, 0) << future.text();
  EXPECT_TRUE(future.first_json()["sagas"].empty()) << future.text();
}

TEST_F(sagactl_test, show_prints_steps_with_their_operations) {
  auto r = ctl({"show", *compensated_});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_TRUE(r.has("saga " + *compensated_ + " (bad): compensated"))
    << r.text();
  EXPECT_TRUE(r.has("owner:   tool")) << r.text();
  EXPECT_TRUE(r.has("failed step: no")) << r.text();
  std::string step1;
  std::string step2;
  for (const auto& l : r.lines) {
    if (l.find("1. ok @p") != std::string::npos)
      step1 = l;
    if (l.find("2. no @p") != std::string::npos)
      step2 = l;
  }
  EXPECT_NE(step1.find("execute#1 +"), std::string::npos) << r.text();
  EXPECT_NE(step1.find("succeeded  compensate#1 +"), std::string::npos)
    << step1;
  EXPECT_NE(step1.find("ms compensated"), std::string::npos) << step1;
  EXPECT_NE(step2.find("failed (refused by stock)"), std::string::npos)
    << step2;
  auto j = ctl({"show", "--json", *compensated_});
  ASSERT_EQ(j.code, 0);
  auto x = j.first_json();
  EXPECT_EQ(x["id"], *compensated_);
  EXPECT_EQ(x["steps"][0]["operations"].size(), 2u);
  EXPECT_FALSE(x["events"].empty());
  EXPECT_TRUE(x["operator_actions"].is_array());
}

TEST_F(sagactl_test, an_unknown_saga_exits_3_naming_it) {
  auto r = ctl({"show", "abc"});
  EXPECT_EQ(r.code, 3) << r.text();
  EXPECT_TRUE(r.has("sagactl: no saga 'abc'")) << r.text();
  auto a = ctl({"abort", "abc"});
  EXPECT_EQ(a.code, 3) << a.text();
  auto bad = ctl({"show", "not/an/id"});
  EXPECT_EQ(bad.code, 2) << bad.text();
}

TEST_F(sagactl_test, unreachable_redis_exits_4) {
  auto port = std::to_string(free_port());
  auto r = sagactl({"--redis", "redis://127.0.0.1:" + port, "stats"});
  EXPECT_EQ(r.code, 4) << r.text();
  EXPECT_TRUE(r.has("sagactl: cannot reach Redis at 127.0.0.1:" + port
                    + ": Connection refused"))
    << r.text();
  EXPECT_EQ(sagactl({"--redis", "redis://127.0.0.1:" + port, "list"}).code, 4);
}

TEST_F(sagactl_test, bad_flags_exit_2) {
  for (const auto& args :
       {strings{"list", "--bogus"}, strings{"list", "--min-age", "5x"},
        strings{"list", "--limit", "0"}, strings{"list", "--state", "sleepy"},
        strings{"frobnicate"}, strings{"--nope", "list"}, strings{"show"},
        strings{"tail", "--follow-for", "soon"},
        strings{"retry", "x", "--by", "a b"}, strings{}}) {
    auto r = ctl(args);
    EXPECT_EQ(r.code, 2) << testing::PrintToString(args) << "\n" << r.text();
    EXPECT_TRUE(r.has("sagactl: ") || r.has("usage:")) << r.text();
  }
  auto bad_url = sagactl({"--redis", "nonsense://x", "stats"});
  EXPECT_EQ(bad_url.code, 2) << bad_url.text();
  auto help = sagactl({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(help.has("exit codes:"));
  EXPECT_TRUE(help.has("5  unauthorized"));
}

TEST_F(sagactl_test, stats_count_states_and_definitions) {
  auto r = ctl({"--json", "stats"});
  ASSERT_EQ(r.code, 0) << r.text();
  auto x = r.first_json();
  EXPECT_EQ(x["states"]["completed"], 1) << x.dump();
  EXPECT_EQ(x["states"]["compensated"], 1);
  EXPECT_EQ(x["states"]["failed"], 0);
  EXPECT_EQ(x["states"]["unfinished"], 1);
  EXPECT_EQ(x["definitions"]["good"]["started"], 1) << x.dump();
  EXPECT_EQ(x["definitions"]["good"]["completed"], 1);
  EXPECT_EQ(x["definitions"]["bad"]["compensated"], 1);
  auto t = ctl({"stats"});
  ASSERT_EQ(t.code, 0);
  EXPECT_TRUE(t.has("STATE")) << t.text();
  EXPECT_TRUE(t.has("DEFINITION  STARTED  COMPLETED  COMPENSATED  FAILED"))
    << t.text();
}

TEST_F(sagactl_test, nodes_lists_leases_admin_and_participants) {
  auto r = ctl({"nodes"});
  ASSERT_EQ(r.code, 0) << r.text();
  ASSERT_GE(r.lines.size(), 2u);
  for (auto col : {"ID", "EPOCH", "ALIVE", "LEASE", "COORD", "ADMIN", "GATEWAY",
                   "UNFINISHED", "PARTICIPANTS"})
    EXPECT_NE(r.lines[0].find(col), std::string::npos) << col;
  EXPECT_TRUE(r.has("127.0.0.1:8081")) << r.text();
  EXPECT_TRUE(r.has("account,inventory")) << r.text();
  auto j = ctl({"nodes", "--json"});
  ASSERT_EQ(j.code, 0);
  auto nodes = j.first_json()["nodes"];
  auto orders = std::find_if(nodes.begin(), nodes.end(),
                             [](const json& n) { return n["id"] == "orders"; });
  ASSERT_NE(orders, nodes.end()) << nodes.dump();
  EXPECT_TRUE((*orders)["alive"]);
  EXPECT_EQ((*orders)["unfinished"], 1);
  EXPECT_GT((*orders)["lease_ms_left"].get<int64_t>(), 0);
}

TEST_F(sagactl_test, retry_posts_with_the_token_and_prints_the_state) {
  stub_admin admin{[](const std::string&) {
    return std::make_pair(200, std::string{
                                 R"({"id":"f-1","action":"retry","by":"alice",)"
                                 R"("state":"compensating"})"});
  }};
  auto r = ctl({"--admin", admin.address(), "--token", "s3cret", "retry", "f-1",
                "--by", "alice"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_TRUE(r.has("compensating")) << r.text();
  auto reqs = admin.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("POST /api/sagas/f-1/retry HTTP/1.1", 0), 0u)
    << reqs[0];
  EXPECT_NE(reqs[0].find("Authorization: Bearer s3cret"), std::string::npos)
    << reqs[0];
  EXPECT_NE(reqs[0].find(R"({"by":"alice"})"), std::string::npos) << reqs[0];
}

TEST_F(sagactl_test, refusals_map_to_exit_codes_with_the_servers_error) {
  int status = 409;
  stub_admin admin{[&](const std::string&) {
    return std::make_pair(status, std::string{R"({"error":"saga f-1 is )"
                                              R"(running, not failed",)"
                                              R"("code":"invalid_state"})"});
  }};
  auto refused = ctl(
    {"--admin", admin.address(), "--token", "t", "retry", "f-1"});
  EXPECT_EQ(refused.code, 1) << refused.text();
  EXPECT_TRUE(refused.has("saga f-1 is running, not failed")) << refused.text();
  status = 401;
  auto denied = ctl({"--admin", admin.address(), "abort", "f-1"});
  EXPECT_EQ(denied.code, 5) << denied.text();
  status = 503;
  EXPECT_EQ(ctl({"--admin", admin.address(), "abort", "f-1"}).code, 4);
  // Nobody listens there.
  auto gone = ctl(
    {"--admin", "127.0.0.1:" + std::to_string(free_port()), "abort", "f-1"});
  EXPECT_EQ(gone.code, 4) << gone.text();
  EXPECT_TRUE(gone.has("sagactl: cannot connect 127.0.0.1:")) << gone.text();
}

TEST_F(sagactl_test, abort_goes_to_the_owners_admin_address) {
  stub_admin admin{[](const std::string&) {
    return std::make_pair(200, std::string{
                                 R"({"id":"run-1","action":"abort","by":"bob",)"
                                 R"("state":"compensating"})"});
  }};
  cmd({"HSET", "saga:node:{orders}", "admin", admin.address()});
  auto r = ctl({"--token", "t", "--json", "abort", "run-1", "--by", "bob"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(r.first_json()["state"], "compensating");
  auto reqs = admin.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("POST /api/sagas/run-1/abort", 0), 0u);
  cmd({"HSET", "saga:node:{orders}", "admin", "127.0.0.1:8081"});
}

TEST_F(sagactl_test, tail_prints_events_as_they_arrive_until_max) {
  std::atomic<int> polls{0};
  stub_admin admin{[&](const std::string& req) {
    ++polls;
    // The first poll (no cursor: the newest) has two events, later ones
    // one more each.
    auto after = req.find("after=") == std::string::npos ? 0 : 2;
    json evs = json::array();
    for (int i = after + 1; i <= after + (after == 0 ? 2 : 1); ++i)
      evs.push_back({{"seq", i},
                     {"type", "step_completed"},
                     {"saga_id", "s-" + std::to_string(i)},
                     {"definition", "purchase"},
                     {"step", "add_item"},
                     {"attempt", 1},
                     {"error", ""},
                     {"time_ms", 0}});
    return std::make_pair(
      200,
      json{{"events", evs}, {"next", after + evs.size()}, {"epoch", 7}}.dump());
  }};
  auto r = ctl({"--admin", admin.address(), "--json", "tail", "--max", "3"});
  ASSERT_EQ(r.code, 0) << r.text();
  strings ids;
  for (const auto& l : r.lines)
    if (!l.empty() && l.front() == '{')
      ids.push_back(json::parse(l)["saga_id"]);
  EXPECT_EQ(ids, (strings{"s-1", "s-2", "s-3"})) << r.text();
  auto reqs = admin.requests();
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].rfind("GET /api/events?max=", 0), 0u) << reqs[0];
  EXPECT_EQ(reqs[1].rfind("GET /api/events?after=2&epoch=7&max=", 0), 0u)
    << reqs[1];
  auto t = ctl({"--admin", admin.address(), "tail", "--follow-for", "300ms"});
  EXPECT_EQ(t.code, 0) << t.text();
  EXPECT_TRUE(t.has("step_completed  add_item#1")) << t.text();
}

// -- bad input (docs/bad-input.md) --------------------------------------------------

TEST_F(sagactl_test, bad_input_every_usage_error_names_the_flag_or_value) {
  struct bad_case {
    strings args;
    std::string needle;
  };
  const std::vector<bad_case> cases = {
    {{"list", "--limit", "501"}, "--limit: '501' is not a number in 1 to 500"},
    {{"list", "--limit", "ten"}, "--limit: 'ten' is not a number"},
    {{"list", "--min-age", "5x"}, "--min-age: '5x' is not a duration"},
    {{"list", "--max-age", "-5s"}, "--max-age: '-5s' is not a duration"},
    {{"list", "--min-age", "10m", "--max-age", "1m"},
     "min_age_s: more than max_age_s"},
    {{"list", "--state", "sleepy"}, "--state: 'sleepy' is not one of"},
    {{"list", "--state", "pending"}, "--state: 'pending' is not one of"},
    {{"list", "--cursor"}, "--cursor needs a value"},
    {{"list", "--definition", std::string(201, 'd')},
     "definition: longer than 200 characters"},
    {{"list", "--bogus"}, "list: unknown option '--bogus'"},
    {{"list", "--from", "yesterday"}, "--from: 'yesterday' is not a time"},
    {{"list", "--to", "2026-13-01T00:00:00Z"}, "--to: '2026-13-01T00:00:00Z'"},
    {{"list", "--from", "2026-12-07T10:00:00"}, "--from:"},
    {{"list", "--from", "2026-02-31T10:00:00Z"}, "--from:"},
    {{"list", "--from", "2026-12-07T10:00:00.-12Z"}, "--from:"},
    {{"list", "--from", "2026-12-07T 1:00:00Z"}, "--from:"},
    {{"list", "--from", "2000", "--to", "1000"}, "from_ms: later than to_ms"},
    {{"list", "--id-prefix", "a b"}, "id_prefix: 'a b'"},
    {{"list", "--business-key", std::string(201, 'k')}, "business_key:"},
    {{"audit", "--max", "0"}, "--max: '0' is not a number in 1 to 500"},
    {{"show"}, "show: which saga?"},
    {{"show", "a-1", "extra"}, "show: unknown option 'extra'"},
    {{"show", "not/an/id"}, "'not/an/id' is not a saga id"},
    {{"show", std::string(201, 'a')}, "is not a saga id"},
    {{"retry"}, "retry: which saga?"},
    {{"abort", "--by", "bob"}, "abort: which saga?"},
    {{"retry", "x-1", "--by", "a b"},
     "--by: 'a b' is not 1 to 64 characters of [A-Za-z0-9._@-]"},
    {{"retry", "x-1", "--by", std::string(65, 'b')}, "is not 1 to 64"},
    {{"retry", "x-1", "--by"}, "--by needs a value"},
    {{"retry", "x-1", "--force"}, "retry: unknown option '--force'"},
    {{"retry", "bad id!"}, "'bad id!' is not a saga id"},
    {{"tail", "--max", "0"}, "--max: '0' is not a number in 1 to 1000000000"},
    {{"tail", "--follow-for", "soon"},
     "--follow-for: 'soon' is not a duration"},
    {{"stats", "extra"}, "stats: unknown option 'extra'"},
    {{"nodes", "--all"}, "nodes: unknown option '--all'"},
    {{"frobnicate"}, "unknown command 'frobnicate'"},
    {{"--nope", "list"}, "unknown option '--nope'"},
    {{"--admin", "bogus", "stats"}, "--admin: 'bogus' is not host:port"},
    {{"--admin", "127.0.0.1:0", "stats"}, "--admin: '127.0.0.1:0'"},
    {{"--admin", ":80", "stats"}, "--admin: ':80'"},
    {{"--admin"}, "--admin needs host:port"},
    {{"--token"}, "--token needs a value"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.args));
    auto r = ctl(c.args);
    EXPECT_EQ(r.code, 2) << r.text();
    EXPECT_TRUE(r.has("sagactl: ")) << r.text();
    EXPECT_TRUE(r.has(c.needle)) << r.text();
  }
  // The URL comes before everything else that is checked.
  for (const auto& [url, needle] :
       std::vector<std::pair<std::string, std::string>>{
         {"nonsense://x", "--redis: journal URL 'nonsense://x': unsupported "
                          "scheme 'nonsense'"},
         {"redis://h:99999", "port '99999' is not in 1..65535"},
         {"redis://u:pw@", "no host"}}) {
    auto r = sagactl({"--redis", url, "stats"});
    EXPECT_EQ(r.code, 2) << r.text();
    EXPECT_TRUE(r.has("sagactl: --redis: ")) << r.text();
    EXPECT_TRUE(r.has(needle)) << r.text();
    EXPECT_FALSE(r.has("pw@")) << "the password was shown: " << r.text();
  }
  auto r = sagactl({"--redis"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.has("sagactl: --redis needs a URL")) << r.text();
}

TEST_F(sagactl_test, bad_input_an_answer_that_is_not_json_exits_4) {
  stub_admin admin{[](const std::string&) {
    return std::make_pair(200, std::string{"<html>a proxy page</html>"});
  }};
  auto r = ctl({"--admin", admin.address(), "--token", "t", "retry", "f-1"});
  EXPECT_EQ(r.code, 4) << r.text();
  EXPECT_TRUE(r.has("the answer is not JSON: <html>a proxy page</html>"))
    << r.text();
}

} // namespace
} // namespace saga::test
