// Unit tests of the admin HTTP layer (saga::detail::admin_server): every
// route of docs/admin-api.md against a stub backend that records its calls,
// through a small blocking Beast client on loopback.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <caf/sec.hpp>

#include "admin/http_server.hpp"
#include "saga/errc.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

using saga::errc;
using saga::json;
using saga::saga_filter;
using saga::detail::admin_backend;
using saga::detail::admin_server;
using saga::detail::admin_server_config;

namespace {

using response = http::response<http::string_body>;

/// Records every call; answers canned JSON, or `fail` / throws when set.
class stub_backend : public admin_backend {
public:
  caf::expected<json> list(const saga_filter& filter) override {
    std::unique_lock<std::mutex> guard{mtx_};
    calls_.push_back("list");
    // A Redis that does not answer: held until released; never released
    // within 10 s (the server waited for it before answering others), it
    // fails.
    if (hold_list_
        && !released_.wait_for(guard, std::chrono::seconds{10},
                               [this] { return !hold_list_; }))
      return caf::make_error(caf::sec::request_timeout);
    filter_ = filter;
    return answer(json{{"sagas", json::array()}, {"next", ""}, {"scanned", 0}});
  }

  caf::expected<json> show(const std::string& id) override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("show " + id);
    return answer(json{{"id", id}, {"state", "failed"}});
  }

  caf::expected<json> stats() override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("stats");
    return answer(
      json{{"states", {{"failed", 3}}}, {"definitions", json::object()}});
  }

  caf::expected<json> nodes() override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("nodes");
    return answer(json{{"nodes", json::array({json{{"id", "orders"}}})}});
  }

  caf::expected<json> events(std::optional<uint64_t> after,
                             std::optional<uint64_t> epoch,
                             uint32_t max) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!streamed_)
      calls_.push_back("events " + (after ? std::to_string(*after) : "-") + " "
                       + (epoch ? std::to_string(*epoch) : "-") + " "
                       + std::to_string(max));
    // The node's epoch is 7: a reader of another epoch gets everything and
    // a reset, as the node backend answers.
    const bool reset = epoch && *epoch != 7;
    auto out = json::array();
    uint64_t next = after.value_or(0);
    for (const auto& ev : feed_) {
      auto seq = ev["seq"].get<uint64_t>();
      if (!after || reset || seq > *after) {
        out.push_back(ev);
        next = seq;
      }
    }
    json page{{"events", std::move(out)}, {"next", next}, {"epoch", 7}};
    if (reset)
      page["reset"] = true;
    return answer(page);
  }

  /// Adds lifecycle event `seq` of saga `id` to what `events` answers; from
  /// now on `events` calls (an event stream polls them) are not recorded.
  void publish(uint64_t seq, const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    streamed_ = true;
    feed_.push_back(
      json{{"seq", seq}, {"type", "saga_started"}, {"saga_id", id}});
  }

  caf::expected<json> retry(const std::string& id,
                            const std::string& by) override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("retry " + id + " " + by);
    return answer(json{{"id", id},
                       {"action", "retry"},
                       {"by", by},
                       {"state", "compensating"}});
  }

  caf::expected<json> abort(const std::string& id,
                            const std::string& by) override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("abort " + id + " " + by);
    return answer(json{{"id", id},
                       {"action", "abort"},
                       {"by", by},
                       {"state", "compensating"}});
  }

  caf::expected<json> audit(uint32_t max) override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("audit " + std::to_string(max));
    return answer(json{{"entries", json::array()}});
  }

  /// Records the start and keeps its observer for the test to answer.
  void start(saga::detail::start_request req,
             saga::detail::start_observer obs) override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("start " + req.def.id() + " "
                     + std::to_string(req.wait.count()) + " "
                     + req.def.business_key());
    observer_ = std::move(obs);
    observed_.notify_all();
  }

  /// Returns the last start's observer once a start came (10 s at most).
  saga::detail::start_observer await_start() {
    std::unique_lock<std::mutex> guard{mtx_};
    observed_.wait_for(guard, std::chrono::seconds{10},
                       [this] { return static_cast<bool>(observer_.started); });
    auto obs = std::move(observer_);
    observer_ = {};
    return obs;
  }

  std::string metrics_text() override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("metrics");
    if (throw_)
      throw std::runtime_error("metrics exploded");
    return "# TYPE saga_failovers_total counter\nsaga_failovers_total 0\n";
  }

  json health() override {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back("health");
    return json{{"ok", healthy_}, {"node", "orders"}};
  }

  void set_healthy(bool x) {
    std::lock_guard<std::mutex> guard{mtx_};
    healthy_ = x;
  }

  /// Makes every later call answer `err`.
  void fail_with(caf::error err) {
    std::lock_guard<std::mutex> guard{mtx_};
    fail_ = std::move(err);
  }

  /// Makes list() wait until `release_list` (a Redis that hangs).
  void hold_list() {
    std::lock_guard<std::mutex> guard{mtx_};
    hold_list_ = true;
  }

  void release_list() {
    std::lock_guard<std::mutex> guard{mtx_};
    hold_list_ = false;
    released_.notify_all();
  }

  /// Returns whether list() is held.
  bool list_held() {
    std::lock_guard<std::mutex> guard{mtx_};
    return hold_list_;
  }

  /// Makes every later call throw.
  void throw_on_call() {
    std::lock_guard<std::mutex> guard{mtx_};
    throw_ = true;
  }

  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> guard{mtx_};
    return calls_;
  }

  saga_filter last_filter() {
    std::lock_guard<std::mutex> guard{mtx_};
    return filter_;
  }

private:
  caf::expected<json> answer(json x) {
    if (throw_)
      throw std::runtime_error("backend exploded");
    if (fail_)
      return fail_;
    return x;
  }

  std::mutex mtx_;
  std::condition_variable released_;
  std::condition_variable observed_;
  saga::detail::start_observer observer_;
  std::vector<std::string> calls_;
  saga_filter filter_;
  caf::error fail_;
  std::vector<json> feed_;
  bool streamed_ = false;
  bool throw_ = false;
  bool hold_list_ = false;
  bool healthy_ = true;
};

/// A blocking HTTP/1.1 client on one keep-alive connection.
class client {
public:
  explicit client(uint16_t port) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  /// Returns the answer to `req`, or an empty 599 response on an I/O error.
  response send(http::request<http::string_body> req) {
    req.set(http::field::host, "127.0.0.1");
    req.prepare_payload();
    beast::error_code ec;
    http::write(socket_, req, ec);
    if (ec)
      return response{static_cast<http::status>(599), 11};
    return read();
  }

  response get(const std::string& target) {
    return send({http::verb::get, target, 11});
  }

  response post(const std::string& target, const std::string& body = {},
                const std::string& authorization = {}) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    if (!authorization.empty())
      req.set(http::field::authorization, authorization);
    req.body() = body;
    return send(std::move(req));
  }

  /// Returns the next response, or an empty 599 response on an I/O error.
  response read() {
    response res;
    beast::error_code ec;
    http::read(socket_, buffer_, res, ec);
    if (ec)
      return response{static_cast<http::status>(599), 11};
    return res;
  }

  /// Returns the error of reading once more (end_of_stream once the server
  /// closed the connection).
  beast::error_code read_error() {
    response res;
    beast::error_code ec;
    http::read(socket_, buffer_, res, ec);
    return ec;
  }

  tcp::socket& socket() {
    return socket_;
  }

private:
  asio::io_context ioc_;
  tcp::socket socket_{ioc_};
  beast::flat_buffer buffer_;
};

std::string header(const response& res, http::field f) {
  auto i = res.find(f);
  return i == res.end() ? std::string{} : std::string{i->value()};
}

std::string header(const response& res, const char* name) {
  auto i = res.find(name);
  return i == res.end() ? std::string{} : std::string{i->value()};
}

json body_of(const response& res) {
  return json::parse(res.body(), nullptr, false);
}

constexpr auto token = "s3cret-token";
const std::string bearer = std::string{"Bearer "} + token;

class admin_server_test : public ::testing::Test {
protected:
  void SetUp() override {
    start(config());
  }

  void TearDown() override {
    if (server_)
      server_->stop();
  }

  admin_server_config config() {
    admin_server_config cfg;
    cfg.token = token;
    cfg.max_body = 1024;
    // Refusals answer at once here; one test below checks the delay.
    cfg.auth_failure_delay = std::chrono::milliseconds{0};
    cfg.assets["/index.html"] = {"text/html; charset=utf-8", "<h1>sagas</h1>"};
    cfg.assets["/app.js"] = {"text/javascript", "console.log(1)"};
    return cfg;
  }

  void start(admin_server_config cfg) {
    if (server_)
      server_->stop();
    server_.reset();
    backend_ = std::make_shared<stub_backend>();
    auto s = admin_server::start(std::move(cfg), backend_);
    ASSERT_TRUE(s) << saga::describe(s.error());
    server_ = std::move(*s);
    ASSERT_NE(server_->port(), 0);
    client_ = std::make_unique<client>(server_->port());
  }

  /// Checks that `res` is a JSON error with `status` and `code` whose text
  /// mentions `what`.
  void expect_error(const response& res, unsigned status,
                    const std::string& code, const std::string& what = {}) {
    EXPECT_EQ(res.result_int(), status) << res.body();
    EXPECT_EQ(header(res, http::field::content_type), "application/json");
    auto body = body_of(res);
    ASSERT_TRUE(body.is_object()) << res.body();
    EXPECT_EQ(body.value("code", ""), code) << res.body();
    EXPECT_TRUE(body.contains("error")) << res.body();
    if (!what.empty()) {
      EXPECT_NE(body.value("error", "").find(what), std::string::npos)
        << res.body();
    }
  }

  std::shared_ptr<stub_backend> backend_;
  std::unique_ptr<admin_server> server_;
  std::unique_ptr<client> client_;
};

} // namespace

// -- reads ----------------------------------------------------------------------

TEST_F(admin_server_test, list_parses_every_filter) {
  auto res = client_->get("/api/sagas?state=failed&definition=pur%20chase"
                          "&node=orders&min_age_s=5&max_age_s=60&limit=20"
                          "&business_key=user%3A9&id_prefix=order-"
                          "&from_ms=1000&to_ms=2000"
                          "&cursor=c%2F1&unknown=ignored");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(header(res, http::field::content_type), "application/json");
  EXPECT_EQ(header(res, http::field::cache_control), "no-store");
  EXPECT_EQ(header(res, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(body_of(res)["scanned"], 0);
  auto f = backend_->last_filter();
  ASSERT_TRUE(f.state);
  EXPECT_EQ(*f.state, saga::saga_status::failed);
  EXPECT_EQ(f.definition, "pur chase");
  EXPECT_EQ(f.node, "orders");
  EXPECT_EQ(f.min_age_s, 5);
  EXPECT_EQ(f.max_age_s, 60);
  EXPECT_EQ(f.limit, 20u);
  EXPECT_EQ(f.business_key, "user:9");
  EXPECT_EQ(f.id_prefix, "order-");
  EXPECT_EQ(f.from_ms, 1000);
  EXPECT_EQ(f.to_ms, 2000);
  EXPECT_EQ(f.cursor, "c/1");
}

TEST_F(admin_server_test, list_without_query_uses_the_defaults) {
  auto res = client_->get("/api/sagas");
  ASSERT_EQ(res.result_int(), 200u);
  auto f = backend_->last_filter();
  EXPECT_FALSE(f.state);
  EXPECT_TRUE(f.definition.empty());
  EXPECT_FALSE(f.min_age_s);
  EXPECT_EQ(f.limit, 50u);
  EXPECT_TRUE(f.cursor.empty());
}

TEST_F(admin_server_test, bad_query_values_are_refused_naming_the_parameter) {
  const std::pair<const char*, const char*> cases[] = {
    {"/api/sagas?state=bogus", "state"},
    {"/api/sagas?state=pending", "state"},
    {"/api/sagas?limit=0", "limit"},
    {"/api/sagas?limit=501", "limit"},
    {"/api/sagas?limit=ten", "limit"},
    {"/api/sagas?limit=5x", "limit"},
    {"/api/sagas?min_age_s=-1", "min_age_s"},
    {"/api/sagas?max_age_s=99999999999999999999", "max_age_s"},
    {"/api/sagas?min_age_s=10&max_age_s=5", "min_age_s"},
    {"/api/sagas?definition=a%0Ab", "definition"},
    {"/api/sagas?node=%zz", "node"},
    {"/api/sagas?business_key=a%09b", "business_key"},
    {"/api/sagas?from_ms=yesterday", "from_ms"},
    {"/api/sagas?to_ms=-5", "to_ms"},
    {"/api/sagas?limit=1&limit=2", "limit"},
    {"/api/events?max=0", "max"},
    {"/api/events?max=1001", "max"},
    {"/api/events?after=-3", "after"},
  };
  for (auto [target, name] : cases)
    expect_error(client_->get(target), 400, "invalid_request",
                 std::string{"'"} + name + "'");
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(admin_server_test, show_validates_the_id) {
  auto res = client_->get("/api/sagas/70de.x_y:z-25");
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(body_of(res)["id"], "70de.x_y:z-25");
  expect_error(client_->get("/api/sagas/bad$id"), 400, "invalid_request",
               "saga id");
  expect_error(client_->get("/api/sagas/" + std::string(201, 'a')), 400,
               "invalid_request");
  expect_error(client_->get("/api/sagas/"), 400, "invalid_request");
  EXPECT_EQ(client_->get("/api/sagas/" + std::string(200, 'a')).result_int(),
            200u);
  // The dashboard sends ids through encodeURIComponent (':' as %3A).
  EXPECT_EQ(client_->get("/api/sagas/70de%3A25").result_int(), 200u);
  expect_error(client_->get("/api/sagas/a%2Fb"), 400, "invalid_request");
  expect_error(client_->get("/api/sagas/a%2"), 400, "invalid_request");
  EXPECT_EQ(
    client_->post("/api/sagas/70de%3A26/abort", "", bearer).result_int(), 200u);
  EXPECT_EQ(backend_->calls(),
            (std::vector<std::string>{"show 70de.x_y:z-25",
                                      "show " + std::string(200, 'a'),
                                      "show 70de:25", "abort 70de:26 admin"}));
}

/// Reads a raw connection (an event stream, which never ends by itself):
/// everything received so far, with a bounded wait for more.
class raw_reader {
public:
  explicit raw_reader(uint16_t port) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{10, 0}; // a read that gets nothing for 10 s fails the test
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv,
                 sizeof(tv));
  }

  void write(const std::string& text) {
    asio::write(socket_, asio::buffer(text));
  }

  /// Reads until `text` was received (true) or the connection ended or
  /// went silent for 10 s (false).
  bool read_until(const std::string& text) {
    while (got_.find(text) == std::string::npos)
      if (read_some() <= 0)
        return false;
    return true;
  }

  /// Returns whether the server closed the connection (within 10 s).
  bool closed_by_server() {
    for (;;) {
      auto n = read_some();
      if (n <= 0)
        return n == 0;
    }
  }

  const std::string& got() const {
    return got_;
  }

private:
  /// Returns the bytes read (appended to `got_`), 0 at the end of the
  /// stream, < 0 on an error or 10 s of silence. Plain recv(2): it honours
  /// SO_RCVTIMEO, which asio's blocking read does not (it polls again).
  ssize_t read_some() {
    char buf[4096];
    auto n = ::recv(socket_.native_handle(), buf, sizeof(buf), 0);
    if (n > 0)
      got_.append(buf, static_cast<size_t>(n));
    return n;
  }

  asio::io_context ioc_;
  tcp::socket socket_{ioc_};
  std::string got_;
};

std::string stream_request(const std::string& extra_headers = {}) {
  return "GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         + extra_headers + "\r\n";
}

TEST_F(admin_server_test, the_event_stream_pushes_events_and_resumes) {
  backend_->publish(1, "s-1");
  raw_reader a{server_->port()};
  a.write(stream_request());
  ASSERT_TRUE(a.read_until("\r\n\r\n")) << a.got();
  EXPECT_EQ(a.got().rfind("HTTP/1.1 200", 0), 0u) << a.got();
  EXPECT_NE(a.got().find("Content-Type: text/event-stream"), std::string::npos)
    << a.got();
  // What the node had, then what it publishes later: pushed, each with
  // its id <epoch>:<seq>.
  ASSERT_TRUE(a.read_until("id: 7:1\ndata: {")) << a.got();
  EXPECT_NE(a.got().find("\"saga_id\":\"s-1\""), std::string::npos);
  backend_->publish(2, "s-2");
  ASSERT_TRUE(a.read_until("id: 7:2\n")) << a.got();
  EXPECT_NE(a.got().find("\"saga_id\":\"s-2\""), std::string::npos);
  // Text that is not UTF-8 (a participant's error) is replaced, and the
  // stream goes on.
  backend_->publish(3, "s-\xff\xfe");
  backend_->publish(4, "s-4");
  ASSERT_TRUE(a.read_until("id: 7:4\n")) << a.got();
  EXPECT_NE(a.got().find("id: 7:3\ndata: {"), std::string::npos);

  // A browser that reconnects sends the last id it saw: it gets what
  // followed, not what it had.
  raw_reader b{server_->port()};
  b.write(stream_request("Last-Event-ID: 7:1\r\n"));
  ASSERT_TRUE(b.read_until("id: 7:2\n")) << b.got();
  EXPECT_EQ(b.got().find("id: 7:1\n"), std::string::npos) << b.got();

  // After a node restart (another epoch): a reset, then the newest.
  raw_reader c{server_->port()};
  c.write(stream_request("Last-Event-ID: 6:40\r\n"));
  ASSERT_TRUE(c.read_until("id: 7:2\n")) << c.got();
  EXPECT_NE(c.got().find("event: reset\n"), std::string::npos) << c.got();
  EXPECT_LT(c.got().find("event: reset\n"), c.got().find("id: 7:1\n"));

  // A malformed id is refused, naming it.
  auto res = client_->send([] {
    http::request<http::string_body> req{http::verb::get, "/api/events/stream",
                                         11};
    req.set("Last-Event-ID", "seven");
    return req;
  }());
  expect_error(res, 400, "invalid_request", "Last-Event-ID");

  // Stopping the server ends every stream.
  server_->stop();
  EXPECT_TRUE(a.closed_by_server());
  EXPECT_TRUE(b.closed_by_server());

  // A client that leaves frees its connection at once: with room for two
  // (this test's keep-alive client and one stream), a new client is served
  // right after the stream's client closed, long before a keep-alive
  // write (15 s) would have noticed.
  auto cfg = config();
  cfg.max_connections = 2;
  start(cfg);
  {
    raw_reader d{server_->port()};
    d.write(stream_request());
    ASSERT_TRUE(d.read_until("text/event-stream")) << d.got();
  }
  auto served_within = [this](std::chrono::seconds bound) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      raw_reader e{server_->port()};
      e.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      if (e.read_until("\r\n") && e.got().rfind("HTTP/1.1 503", 0) != 0)
        return true;
    }
    return false;
  };
  EXPECT_TRUE(served_within(std::chrono::seconds{5}));
}

TEST_F(admin_server_test, stats_nodes_and_events) {
  auto stats = client_->get("/api/stats");
  ASSERT_EQ(stats.result_int(), 200u);
  EXPECT_EQ(body_of(stats)["states"]["failed"], 3);
  auto nodes = client_->get("/api/nodes");
  ASSERT_EQ(nodes.result_int(), 200u);
  EXPECT_EQ(body_of(nodes)["nodes"][0]["id"], "orders");
  EXPECT_EQ(client_->get("/api/events").result_int(), 200u);
  auto events = client_->get("/api/events?after=5&max=1000");
  ASSERT_EQ(events.result_int(), 200u);
  EXPECT_EQ(body_of(events)["next"], 5);
  EXPECT_EQ(client_->get("/api/events?after=5&epoch=7").result_int(), 200u);
  EXPECT_EQ(client_->get("/api/events?epoch=x").result_int(), 400u);
  EXPECT_EQ(backend_->calls(),
            (std::vector<std::string>{"stats", "nodes", "events - - 100",
                                      "events 5 - 1000", "events 5 7 100"}));
}

TEST_F(admin_server_test, metrics_are_served_as_prometheus_text) {
  auto res = client_->get("/metrics");
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(header(res, http::field::content_type),
            "text/plain; version=0.0.4");
  EXPECT_NE(res.body().find("saga_failovers_total 0"), std::string::npos);
}

TEST_F(admin_server_test, assets_are_served_with_their_content_type) {
  auto index = client_->get("/");
  ASSERT_EQ(index.result_int(), 200u);
  EXPECT_EQ(index.body(), "<h1>sagas</h1>");
  EXPECT_EQ(header(index, http::field::content_type),
            "text/html; charset=utf-8");
  EXPECT_EQ(header(index, "Content-Security-Policy"), "default-src 'self'");
  EXPECT_EQ(header(index, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(client_->get("/index.html").body(), "<h1>sagas</h1>");
  auto js = client_->get("/app.js");
  ASSERT_EQ(js.result_int(), 200u);
  EXPECT_EQ(header(js, http::field::content_type), "text/javascript");
  EXPECT_EQ(js.body(), "console.log(1)");
  expect_error(client_->get("/style.css"), 404, "not_found");
  EXPECT_TRUE(backend_->calls().empty());
}

// -- routes and methods -----------------------------------------------------------

TEST_F(admin_server_test, unknown_paths_are_404) {
  for (auto target : {"/nope", "/api", "/api/sagas/x/bogus",
                      "/api/sagas/x/retry/more", "/metrics/x", "/api/statsx"})
    expect_error(client_->get(target), 404, "not_found");
  expect_error(client_->post("/nope", "", bearer), 404, "not_found");
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(admin_server_test, wrong_methods_are_405_with_allow) {
  auto res = client_->post("/api/stats");
  expect_error(res, 405, "method_not_allowed");
  EXPECT_EQ(header(res, http::field::allow), "GET");
  res = client_->get("/api/sagas/x/retry");
  expect_error(res, 405, "method_not_allowed");
  EXPECT_EQ(header(res, http::field::allow), "POST");
  res = client_->send({http::verb::delete_, "/api/sagas/x", 11});
  expect_error(res, 405, "method_not_allowed");
  EXPECT_EQ(header(res, http::field::allow), "GET");
  for (auto target : {"/api/nodes", "/api/events", "/metrics", "/", "/app.js"})
    expect_error(client_->post(target, "", bearer), 405, "method_not_allowed");
  res = client_->send({http::verb::put, "/api/sagas", 11});
  expect_error(res, 405, "method_not_allowed");
  EXPECT_EQ(header(res, http::field::allow), "GET, POST");
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(admin_server_test, overlong_target_is_400_and_overlong_header_is_431) {
  expect_error(client_->get("/api/sagas?cursor=" + std::string(5000, 'c')), 400,
               "invalid_request", "target");
  // The 400 keeps the connection; the 431 closes it.
  http::request<http::string_body> req{http::verb::get, "/api/stats", 11};
  req.set("X-Padding", std::string(9000, 'p'));
  auto res = client_->send(std::move(req));
  expect_error(res, 431, "header_too_large");
  EXPECT_TRUE(client_->read_error());
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(admin_server_test, malformed_request_is_400) {
  asio::write(client_->socket(),
              asio::buffer(
                std::string{"GET /api/stats HTTP/1.1\r\nHost x\r\n\r\n"}));
  expect_error(client_->read(), 400, "invalid_request");
  EXPECT_TRUE(backend_->calls().empty());
}

// -- mutating calls ---------------------------------------------------------------

TEST_F(admin_server_test, mutating_calls_need_the_token) {
  for (const auto& auth :
       {std::string{}, std::string{"Bearer wrong"},
        std::string{"Bearer s3cret-toke"}, std::string{"Bearer s3cret-token2"},
        std::string{"Basic czNjcmV0LXRva2Vu"}, std::string{"Bearer"},
        std::string{token}}) {
    for (auto target : {"/api/sagas/s-1/retry", "/api/sagas/s-1/abort",
                        "/api/sagas/bad$id/abort"}) {
      auto res = client_->post(target, "{\"by\":\"alice\"}", auth);
      expect_error(res, 401, "unauthorized");
      EXPECT_EQ(header(res, http::field::www_authenticate), "Bearer");
    }
  }
  EXPECT_TRUE(backend_->calls().empty());
  auto res = client_->post("/api/sagas/s-1/retry", "", bearer);
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(body_of(res)["action"], "retry");
  res = client_->post("/api/sagas/s-2/abort", R"({"by": "alice@ops.example"})",
                      "bearer " + std::string{token});
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(body_of(res)["by"], "alice@ops.example");
  EXPECT_EQ(backend_->calls(),
            (std::vector<std::string>{"retry s-1 admin",
                                      "abort s-2 alice@ops.example"}));
}

TEST_F(admin_server_test, the_audit_needs_the_token_and_a_good_max) {
  auto get_with = [this](const std::string& target, const std::string& auth) {
    http::request<http::string_body> req{http::verb::get, target, 11};
    if (!auth.empty())
      req.set(http::field::authorization, auth);
    return client_->send(std::move(req));
  };
  expect_error(client_->get("/api/audit"), 401, "unauthorized");
  expect_error(get_with("/api/audit", "Bearer wrong"), 401, "unauthorized");
  EXPECT_TRUE(backend_->calls().empty());
  expect_error(get_with("/api/audit?max=0", bearer), 400, "invalid_request",
               "'max'");
  expect_error(get_with("/api/audit?max=501", bearer), 400, "invalid_request",
               "'max'");
  auto res = get_with("/api/audit?max=7", bearer);
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_TRUE(body_of(res)["entries"].is_array());
  res = get_with("/api/audit", bearer);
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(backend_->calls(),
            (std::vector<std::string>{"audit 7", "audit 100"}));
}

TEST_F(admin_server_test, without_a_token_every_mutating_call_is_refused) {
  auto cfg = config();
  cfg.token.clear();
  start(cfg);
  for (const auto& auth : {std::string{}, std::string{"Bearer "}, bearer}) {
    auto res = client_->post("/api/sagas/s-1/retry", "", auth);
    expect_error(res, 401, "unauthorized");
    EXPECT_EQ(header(res, http::field::www_authenticate), "Bearer");
  }
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(admin_server_test, bad_bodies_and_ids_are_400) {
  for (auto body : {"{", "not json", "[]", "\"alice\"", "{\"by\": \"\"}",
                    "{\"by\": \"a b\"}", "{\"by\": 5}", "{\"by\": null}",
                    "{\"by\": \"alice\", \"extra\": 1}", "{\"who\": \"x\"}"})
    expect_error(client_->post("/api/sagas/s-1/retry", body, bearer), 400,
                 "invalid_request");
  expect_error(client_->post("/api/sagas/s-1/retry",
                             "{\"by\": \"" + std::string(65, 'a') + "\"}",
                             bearer),
               400, "invalid_request", "by");
  expect_error(client_->post("/api/sagas/bad$id/retry", "", bearer), 400,
               "invalid_request", "saga id");
  EXPECT_TRUE(backend_->calls().empty());
  auto res = client_->post("/api/sagas/s-1/retry",
                           "{\"by\": \"" + std::string(64, 'a') + "\"}",
                           bearer);
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(client_->post("/api/sagas/s-1/abort", "{}", bearer).result_int(),
            200u);
  EXPECT_EQ(backend_->calls(),
            (std::vector<std::string>{"retry s-1 " + std::string(64, 'a'),
                                      "abort s-1 admin"}));
}

TEST_F(admin_server_test, body_over_the_limit_is_413) {
  // At the limit: fine.
  auto by = std::string{"{\"by\": \"alice\"}"};
  auto at_limit = by + std::string(1024 - by.size(), ' ');
  EXPECT_EQ(
    client_->post("/api/sagas/s-1/retry", at_limit, bearer).result_int(), 200u);
  // One byte more: refused before the body is read, and the connection is
  // closed after the answer (the client still reads it, no reset).
  auto res = client_->post("/api/sagas/s-1/retry", at_limit + " ", bearer);
  expect_error(res, 413, "payload_too_large");
  EXPECT_TRUE(client_->read_error());
  client big{server_->port()};
  res = big.post("/api/sagas/s-1/abort", std::string(200'000, ' '), bearer);
  expect_error(res, 413, "payload_too_large");
  EXPECT_EQ(backend_->calls(), (std::vector<std::string>{"retry s-1 alice"}));
}

// -- backend errors -----------------------------------------------------------------

TEST_F(admin_server_test, backend_errors_map_to_statuses) {
  const std::pair<errc, unsigned> cases[] = {
    {errc::unknown_saga, 404},  {errc::invalid_request, 400},
    {errc::invalid_state, 409}, {errc::journal_failure, 503},
    {errc::no_route, 503},      {errc::shutting_down, 503},
    {errc::fenced, 500},        {errc::handler_failed, 500},
  };
  for (auto [code, status] : cases) {
    backend_->fail_with(saga::make_error(code, "it went wrong"));
    expect_error(client_->get("/api/sagas/s-1"), status, saga::to_string(code),
                 "it went wrong");
    expect_error(client_->post("/api/sagas/s-1/retry", "", bearer), status,
                 saga::to_string(code));
    expect_error(client_->get("/api/stats"), status, saga::to_string(code));
  }
  backend_->fail_with(caf::make_error(caf::sec::request_timeout));
  expect_error(client_->get("/api/nodes"), 500, "internal_error");
}

TEST_F(admin_server_test, backend_exceptions_are_500_with_their_text) {
  backend_->throw_on_call();
  expect_error(client_->get("/api/stats"), 500, "internal_error",
               "backend exploded");
  expect_error(client_->get("/metrics"), 500, "internal_error",
               "metrics exploded");
  // The connection and the server survive.
  expect_error(client_->get("/api/sagas"), 500, "internal_error");
}

// -- connections and lifecycle -------------------------------------------------------

TEST_F(admin_server_test, keep_alive_serves_many_requests_on_one_connection) {
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(client_->get("/api/stats").result_int(), 200u);
  EXPECT_EQ(backend_->calls().size(), 20u);
}

TEST_F(admin_server_test, connection_close_is_honoured) {
  http::request<http::string_body> req{http::verb::get, "/api/stats", 11};
  req.set(http::field::connection, "close");
  auto res = client_->send(std::move(req));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(client_->read_error(), http::error::end_of_stream);
}

TEST_F(admin_server_test, stop_closes_keep_alive_connections) {
  ASSERT_EQ(client_->get("/api/stats").result_int(), 200u);
  client idle{server_->port()};
  ASSERT_EQ(idle.get("/api/nodes").result_int(), 200u);
  auto port = server_->port();
  server_->stop();
  EXPECT_TRUE(client_->read_error());
  EXPECT_TRUE(idle.read_error());
  server_->stop(); // idempotent
  // Nothing listens any more.
  asio::io_context ioc;
  tcp::socket s{ioc};
  beast::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_TRUE(ec);
}

TEST_F(admin_server_test, idle_connections_time_out) {
  auto cfg = config();
  cfg.io_timeout = std::chrono::milliseconds{100};
  start(cfg);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(client_->read_error()); // sent nothing: closed by the server
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{5});
}

TEST_F(admin_server_test,
       connections_beyond_the_limit_get_503_and_retry_after) {
  auto cfg = config();
  cfg.max_connections = 1;
  start(cfg);
  ASSERT_EQ(client_->get("/api/stats").result_int(), 200u);
  client extra{server_->port()};
  auto refused = extra.get("/api/stats");
  expect_error(refused, 503, "overloaded", "1 connections at once");
  EXPECT_EQ(header(refused, http::field::retry_after), "1");
  EXPECT_EQ(header(refused, http::field::connection), "close");
  EXPECT_TRUE(extra.read_error()) << "the refused connection stays open";
  // The first connection is still served.
  EXPECT_EQ(client_->get("/api/stats").result_int(), 200u);
}

// -- starting sagas --------------------------------------------------------------

const std::string one_step
  = R"({"name":"order","steps":[{"name":"a","participant":"p"}]})";

TEST_F(admin_server_test, start_needs_the_token_and_a_good_body) {
  auto body = R"({"definition":)" + one_step + "}";
  expect_error(client_->post("/api/sagas", body), 401, "unauthorized");
  expect_error(client_->post("/api/sagas", "{", bearer), 400, "invalid_request",
               "not valid JSON");
  expect_error(client_->post("/api/sagas", R"({"definition":1})", bearer), 400,
               "invalid_request", "'definition' must be a JSON object");
  expect_error(client_->post("/api/sagas",
                             R"({"definition":)" + one_step
                               + R"(,"colour":"red"})",
                             bearer),
               400, "invalid_request", "unknown member 'colour'");
  expect_error(client_->post("/api/sagas",
                             R"({"definition":)" + one_step
                               + R"(,"wait":"forever"})",
                             bearer),
               400, "invalid_request", "'wait' must be a duration");
  expect_error(client_->post("/api/sagas",
                             R"({"definition":)" + one_step
                               + R"(,"wait":"61s"})",
                             bearer),
               400, "invalid_request", "at most 60s");
  expect_error(client_->post("/api/sagas",
                             R"({"definition":)" + one_step
                               + R"(,"id":"no spaces"})",
                             bearer),
               400, "invalid_id", "a character other than");
  expect_error(client_->post("/api/sagas",
                             R"({"definition":{"name":"x","steps":[]}})",
                             bearer),
               400, "no_steps", "has no steps");
  // None of them reached the backend: nothing was started.
  for (const auto& c : backend_->calls())
    EXPECT_NE(c.rfind("start", 0), 0u) << c;
}

TEST_F(admin_server_test, start_answers_201_once_the_saga_exists) {
  std::thread answer{[this] {
    auto obs = backend_->await_start();
    ASSERT_TRUE(obs.started);
    obs.started(json{{"id", "o-1"},
                     {"created", true},
                     {"state", "running"},
                     {"ended", false}});
    // The runtime's later answer finds the call answered: dropped.
    obs.answered(json{{"id", "o-1"}, {"created", true}, {"ended", true}});
  }};
  auto res = client_->post("/api/sagas",
                           R"({"id":"o-1","business_key":"cart 9",)"
                           R"("definition":)"
                             + one_step + "}",
                           bearer);
  answer.join();
  EXPECT_EQ(res.result_int(), 201u) << res.body();
  EXPECT_EQ(body_of(res).value("id", ""), "o-1");
  EXPECT_EQ(body_of(res).value("ended", true), false);
  EXPECT_EQ(backend_->calls().back(), "start o-1 0 cart 9");
  // The connection goes on serving.
  EXPECT_EQ(client_->get("/api/stats").result_int(), 200u);
}

TEST_F(admin_server_test, start_with_wait_answers_the_result_or_202) {
  // The result within the wait: 200 with it (the saga existed).
  std::thread answer{[this] {
    auto obs = backend_->await_start();
    obs.started(json{{"id", "o-2"}, {"created", false}, {"ended", false}});
    obs.answered(json{{"id", "o-2"},
                      {"created", false},
                      {"state", "completed"},
                      {"ended", true},
                      {"success", true}});
  }};
  auto res = client_->post("/api/sagas",
                           R"({"id":"o-2","wait":"5s","definition":)" + one_step
                             + "}",
                           bearer);
  answer.join();
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(body_of(res).value("state", ""), "completed");
  // No result within the wait: 202 with what is known, the id at least.
  auto t0 = std::chrono::steady_clock::now();
  auto pending = client_->post("/api/sagas",
                               R"({"wait":"200ms","definition":)" + one_step
                                 + "}",
                               bearer);
  EXPECT_GE(std::chrono::steady_clock::now() - t0,
            std::chrono::milliseconds{200});
  EXPECT_EQ(pending.result_int(), 202u) << pending.body();
  auto id = body_of(pending).value("id", "");
  EXPECT_EQ(id.rfind("s-", 0), 0u) << "a made id: " << pending.body();
  EXPECT_EQ(body_of(pending).value("ended", true), false);
  auto late = backend_->await_start(); // answering now changes nothing
  late.answered(json{{"id", id}, {"ended", true}});
  EXPECT_EQ(client_->get("/api/stats").result_int(), 200u);
}

TEST_F(admin_server_test, a_rejected_start_maps_its_error_to_a_status) {
  std::thread answer{[this] {
    auto obs = backend_->await_start();
    obs.answered(saga::make_error(saga::errc::unknown_participant,
                                  "step 'a' names participant 'p', which is "
                                  "not registered"));
  }};
  auto res = client_->post("/api/sagas", R"({"definition":)" + one_step + "}",
                           bearer);
  answer.join();
  expect_error(res, 400, "unknown_participant", "participant 'p'");
}

TEST_F(admin_server_test, healthz_is_200_when_healthy_and_503_when_not) {
  auto ok = client_->get("/healthz");
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(body_of(ok).value("ok", false), true) << ok.body();
  backend_->set_healthy(false);
  auto down = client_->get("/healthz");
  EXPECT_EQ(down.result_int(), 503u);
  EXPECT_EQ(body_of(down).value("node", ""), "orders") << down.body();
  EXPECT_EQ(client_->post("/healthz").result_int(), 405u);
}

TEST_F(admin_server_test,
       refused_tokens_are_answered_late_without_holding_others) {
  auto cfg = config();
  cfg.auth_failure_delay = std::chrono::seconds{2};
  start(cfg);
  client guesser{server_->port()};
  auto t0 = std::chrono::steady_clock::now();
  auto refused = std::async(std::launch::async, [&guesser] {
    return guesser.post("/api/sagas/s-1/retry", "", "Bearer wrong");
  });
  EXPECT_EQ(client_->get("/metrics").result_int(), 200u);
  EXPECT_EQ(refused.wait_for(std::chrono::seconds{0}),
            std::future_status::timeout)
    << "the refusal was not held back";
  expect_error(refused.get(), 401, "unauthorized");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::seconds{2});
  // The connection is still usable after its refusal.
  EXPECT_EQ(guesser.get("/api/stats").result_int(), 200u);
}

TEST_F(admin_server_test, metrics_and_events_never_wait_on_a_hung_backend) {
  // A dashboard's list waits on a Redis that does not answer: the backend
  // calls that need no Redis are answered meanwhile, on other connections.
  backend_->hold_list();
  client dashboard{server_->port()};
  auto listed = std::async(std::launch::async, [&dashboard] {
    return dashboard.get("/api/sagas");
  });
  auto metrics = client_->get("/metrics");
  EXPECT_EQ(metrics.result_int(), 200u);
  EXPECT_EQ(client_->get("/healthz").result_int(), 200u);
  EXPECT_EQ(client_->get("/api/events").result_int(), 200u);
  EXPECT_EQ(client_->get("/index.html").result_int(), 200u);
  EXPECT_TRUE(backend_->list_held()) << "answered only after the list ended";
  backend_->release_list();
  EXPECT_EQ(listed.get().result_int(), 200u);
}

TEST(admin_server_start, port_in_use_is_an_error) {
  auto backend = std::make_shared<stub_backend>();
  auto first = admin_server::start({}, backend);
  ASSERT_TRUE(first) << saga::describe(first.error());
  admin_server_config cfg;
  cfg.port = (*first)->port();
  auto second = admin_server::start(cfg, backend);
  ASSERT_FALSE(second);
  EXPECT_TRUE(saga::is(second.error(), errc::invalid_config));
  EXPECT_NE(saga::describe(second.error()).find(std::to_string(cfg.port)),
            std::string::npos)
    << saga::describe(second.error());
}

TEST(admin_server_start, bad_config_is_an_error) {
  auto backend = std::make_shared<stub_backend>();
  admin_server_config cfg;
  cfg.host = "not-an-address";
  auto s = admin_server::start(cfg, backend);
  ASSERT_FALSE(s);
  EXPECT_TRUE(saga::is(s.error(), errc::invalid_config));
  EXPECT_FALSE(admin_server::start({}, nullptr));
  cfg = admin_server_config{};
  cfg.host = "localhost";
  auto local = admin_server::start(cfg, backend);
  ASSERT_TRUE(local) << saga::describe(local.error());
  client c{(*local)->port()};
  EXPECT_EQ(c.get("/api/stats").result_int(), 200u);
}

// -- bad input (docs/bad-input.md) ------------------------------------------------------

TEST_F(admin_server_test, bad_input_targets_that_are_no_path_are_400) {
  for (auto target : {"http://127.0.0.1/api/stats", "*", "api/stats"})
    expect_error(client_->send({http::verb::get, target, 11}), 400,
                 "invalid_request", "request target must be a path");
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(admin_server_test,
       bad_input_query_texts_are_refused_naming_the_parameter) {
  const std::pair<std::string, const char*> cases[] = {
    {"/api/sagas?cursor=%01abc", "'cursor'"},
    {"/api/sagas?cursor=" + std::string(2100, 'c'), "'cursor'"},
    {"/api/sagas?definition=" + std::string(257, 'd'), "'definition'"},
    {"/api/sagas?node=a%7Fb", "'node'"},
    {"/api/sagas?%zz=1", "'%zz'"},
    {"/api/sagas?state=failed&state=failed", "'state'"},
    {"/api/sagas?max_age_s=1.5", "'max_age_s'"},
    {"/api/events?after=abc", "'after'"},
    {"/api/events?after=18446744073709551616", "'after'"},
    {"/api/events?max=%31%30%30%31", "'max'"}, // 1001, encoded
  };
  for (const auto& [target, name] : cases) {
    SCOPED_TRACE(target);
    expect_error(client_->get(target), 400, "invalid_request",
                 std::string{"bad query parameter "} + name);
  }
  EXPECT_TRUE(backend_->calls().empty());
}
