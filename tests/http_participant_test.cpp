// Participants over HTTP (include/saga/http_participant.hpp) against real
// HTTP servers on loopback (tests/support/http_test_server.hpp), on the real
// scheduler: the result protocol, idempotency headers, timeouts, keep-alive,
// TLS, and sagas mixing HTTP and CAF participants. Waiting is on futures and
// on the server's record of requests, never on sleeps.

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "saga/saga.hpp"
#include "tests/support/http_test_server.hpp"
#include "tests/support/tls_certs.hpp"

using namespace std::chrono_literals;

namespace saga {
namespace {

using test::http_test_server;
using reply = http_test_server::response;

/// Answers the n-th execute (from 0) with `script[n]`, later ones with the
/// last entry, and every compensation with 200.
http_test_server::handler scripted(std::vector<reply> script) {
  auto n = std::make_shared<std::atomic<size_t>>(0);
  return [script = std::move(script), n](const http_test_server::request& q) {
    if (q.headers.count("saga-operation") > 0
        && q.headers.at("saga-operation") == "compensate")
      return reply{};
    auto i = n->fetch_add(1);
    return script[std::min(i, script.size() - 1)];
  };
}

/// Returns the executes `server` received, in order.
std::vector<http_test_server::request>
executes(const http_test_server& server) {
  std::vector<http_test_server::request> out;
  for (auto& q : server.requests())
    if (q.headers.count("saga-operation") > 0
        && q.headers.at("saga-operation") == "execute")
      out.push_back(q);
  return out;
}

reply answer(unsigned status, std::string body = {}) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http_participant_config config_for(const http_test_server& server) {
  http_participant_config cfg;
  cfg.base_url = server.base_url() + "/api";
  cfg.timeout = 5s;
  return cfg;
}

/// One HTTP step "charge" of participant "payments". A step out of
/// attempts without a usable answer may have acted: it is compensated
/// (twice at most here).
definition charge_saga(uint32_t attempts = 1) {
  definition d{"purchase"};
  d.step("charge", "payments", {{"amount", 10}})
    .timeout(20s)
    .retry(retry_policy{attempts, 10ms})
    .compensation_retry(retry_policy{2, 10ms});
  return d;
}

/// Adds participant "ledger" whose action "record" keeps the result of the
/// step "charge" in `seen` (a CAF step reading an HTTP step's result).
void record_charge_result(runtime& rt, std::string& seen) {
  rt.participant("ledger").on(
    "record",
    [&seen](const step_context& ctx, const json&) {
      seen = ctx.results().at("charge").dump();
      return step_outcome::ok();
    },
    [](const step_context&, const json&) { return step_outcome::ok(); });
}

/// Adds participant "stock" whose action "reserve" succeeds and counts its
/// compensations in `released`.
void add_stock(runtime& rt, std::atomic<int>& released) {
  rt.participant("stock").on(
    "reserve",
    [](const step_context&, const json&) { return step_outcome::ok(); },
    [&released](const step_context&, const json&) {
      ++released;
      return step_outcome::ok();
    });
}

std::string header(const http_test_server::request& r, const char* name) {
  auto i = r.headers.find(name);
  return i == r.headers.end() ? std::string{"(none)"} : i->second;
}

TEST(http_participant, a_step_is_a_request_that_carries_the_saga_headers) {
  http_test_server server{scripted({answer(200, R"({"charged":10})")})};
  runtime rt;
  auto cfg = config_for(server);
  cfg.headers = {{"Authorization", "Bearer t0ken"}};
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  // A CAF step after it sees the HTTP step's result.
  std::string seen;
  record_charge_result(rt, seen);
  auto d = charge_saga();
  d.step("record", "ledger").timeout(20s);
  auto r = rt.execute(d).get();
  ASSERT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(seen, R"({"charged":10})");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& q = reqs[0];
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.target, "/api/charge");
  EXPECT_EQ(json::parse(q.body), (json{{"amount", 10}}));
  EXPECT_EQ(header(q, "content-type"), "application/json");
  EXPECT_EQ(header(q, "authorization"), "Bearer t0ken");
  EXPECT_EQ(header(q, "saga-id"), r.saga_id);
  EXPECT_EQ(header(q, "saga-name"), "purchase");
  EXPECT_EQ(header(q, "saga-step"), "charge");
  EXPECT_EQ(header(q, "saga-operation"), "execute");
  EXPECT_EQ(header(q, "saga-attempt"), "1");
  EXPECT_EQ(header(q, "idempotency-key"), r.saga_id + "/charge/execute");
}

TEST(http_participant, a_definitions_json_endpoints_are_where_the_step_goes) {
  // No route configured: without the step's endpoints the requests would go
  // to POST /api/charge and POST /api/charge/compensate.
  http_test_server server{scripted({answer(200, R"({"id":"c-1"})")})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  rt.participant("stock").on(
    "reserve",
    [](const step_context&, const json&) {
      return step_outcome::fail("out of stock");
    },
    [](const step_context&, const json&) { return step_outcome::ok(); });
  auto d = definition::from_json(json::parse(R"({"name": "purchase",
    "steps": [
      {"name": "charge", "participant": "payments", "timeout_ms": 20000,
       "payload": {"amount": 10},
       "http": {"execute": {"method": "PUT", "path": "/v1/charges"},
                "compensate": {"method": "DELETE", "path": "/v1/charges/c"}}},
      {"name": "reserve", "participant": "stock", "timeout_ms": 20000}]})"));
  ASSERT_TRUE(d) << describe(d.error());
  auto r = rt.execute(*d).get();
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/api/v1/charges");
  EXPECT_EQ(json::parse(reqs[0].body), (json{{"amount", 10}}));
  EXPECT_EQ(reqs[1].method, "DELETE");
  EXPECT_EQ(reqs[1].target, "/api/v1/charges/c");
  EXPECT_EQ(header(reqs[1], "saga-result"), R"({"id":"c-1"})");
}

TEST(http_participant, a_409_fails_the_step_at_once_and_compensates_before) {
  http_test_server server{scripted({answer(409, "insufficient funds")})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  std::atomic<int> released{0};
  add_stock(rt, released);
  definition d{"purchase"};
  d.step("reserve", "stock").timeout(20s);
  d.step("charge", "payments").timeout(20s).retry(retry_policy{5, 10ms});
  auto r = rt.execute(d).get();
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(r.failed_step, "charge");
  EXPECT_NE(describe(r.error).find("answered 409: insufficient funds"),
            std::string::npos)
    << describe(r.error);
  EXPECT_EQ(released.load(), 1);
  // 409 means "nothing happened, do not retry": one request, and no
  // compensation of the step that did not take effect.
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/api/charge");
}

TEST(http_participant, a_425_is_asked_again_without_spending_an_attempt) {
  reply working = answer(425);
  working.headers = {{"Retry-After", "0"}};
  http_test_server server{
    scripted({working, working, answer(200, R"({"done":true})")})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  auto r = rt.execute(charge_saga(1)).get(); // one attempt only
  ASSERT_TRUE(r.success) << describe(r.error);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& q : reqs) {
    EXPECT_EQ(header(q, "saga-attempt"), "1");
    EXPECT_EQ(header(q, "idempotency-key"), r.saga_id + "/charge/execute");
  }
}

TEST(http_participant, a_service_that_keeps_answering_425_runs_out) {
  http_test_server server{scripted({answer(425)})};
  runtime rt;
  auto cfg = config_for(server);
  cfg.still_working_max = 300ms;
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  auto r = rt.execute(charge_saga(1)).get();
  EXPECT_FALSE(r.success);
  EXPECT_NE(describe(r.error).find("still working"), std::string::npos)
    << describe(r.error);
  EXPECT_GE(executes(server).size(), 2u);
}

TEST(http_participant, a_500_is_retried_under_the_step_policy_with_one_key) {
  http_test_server server{
    scripted({answer(500, "db down"), answer(200, R"({"n":2})")})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  auto r = rt.execute(charge_saga(3)).get();
  ASSERT_TRUE(r.success) << describe(r.error);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(header(reqs[0], "saga-attempt"), "1");
  EXPECT_EQ(header(reqs[1], "saga-attempt"), "2");
  EXPECT_EQ(header(reqs[0], "idempotency-key"),
            header(reqs[1], "idempotency-key"));
}

TEST(http_participant, a_hung_service_is_cut_off_by_the_timeout_and_retried) {
  reply hang;
  hang.hang = true;
  http_test_server server{scripted({hang, answer(200, R"({"n":2})")})};
  runtime rt;
  auto cfg = config_for(server);
  cfg.timeout = 300ms;
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  auto r = rt.execute(charge_saga(2)).get();
  ASSERT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(http_participant, a_timeout_on_the_last_attempt_compensates_the_step) {
  reply hang;
  hang.hang = true;
  http_test_server server{scripted({hang})};
  runtime rt;
  auto cfg = config_for(server);
  cfg.timeout = 200ms;
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  auto r = rt.execute(charge_saga(1)).get();
  EXPECT_FALSE(r.success);
  EXPECT_NE(describe(r.error).find("no answer within 200 ms"),
            std::string::npos)
    << describe(r.error);
  // The service may have acted before it hung: the step is undone, not
  // taken for a failure without effect.
  EXPECT_EQ(r.state, saga_status::compensated);
  EXPECT_EQ(r.compensated_steps, std::vector<std::string>{"charge"});
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(header(reqs[1], "saga-operation"), "compensate");
  EXPECT_EQ(reqs[1].target, "/api/charge/compensate");
}

TEST(http_participant, a_request_never_sent_fails_without_compensation) {
  std::string closed_url;
  {
    http_test_server gone{scripted({answer(200)})};
    closed_url = gone.base_url(); // nothing listens there any more
  }
  runtime rt;
  http_participant_config cfg;
  cfg.base_url = closed_url;
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  std::atomic<int> released{0};
  add_stock(rt, released);
  definition d{"purchase"};
  d.step("reserve", "stock").timeout(20s);
  d.step("charge", "payments").timeout(20s).retry(retry_policy{2, 10ms});
  auto r = rt.execute(d).get();
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  EXPECT_NE(describe(r.error).find("cannot connect"), std::string::npos)
    << describe(r.error);
  // Nothing reached the service: only the step before is undone.
  EXPECT_EQ(r.compensated_steps, std::vector<std::string>{"reserve"});
  EXPECT_EQ(released.load(), 1);
}

TEST(http_participant, a_full_queue_answers_busy_without_sending) {
  reply slow = answer(200, R"({"n":1})");
  slow.delay = 500ms;
  http_test_server server{scripted({slow})};
  runtime rt;
  auto cfg = config_for(server);
  cfg.max_in_flight = 1;
  cfg.queue_max = 0;
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  auto first = rt.execute(charge_saga(1));
  ASSERT_TRUE(server.wait_requests(1, 20s));
  // The one connection is busy and nothing may wait: refused unsent.
  auto second = rt.execute(charge_saga(1)).get();
  EXPECT_FALSE(second.success);
  EXPECT_NE(describe(second.error).find("HTTP client busy"), std::string::npos)
    << describe(second.error);
  EXPECT_TRUE(second.compensated_steps.empty());
  EXPECT_TRUE(first.get().success);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(http_participant, an_answer_cut_mid_body_is_retried) {
  reply cut = answer(200, R"({"half":"of this is lost"})");
  cut.close_mid_body = true;
  http_test_server server{scripted({cut, answer(200, R"({"n":2})")})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  auto r = rt.execute(charge_saga(2)).get();
  ASSERT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(http_participant, a_late_answer_is_ignored_and_the_retry_answers) {
  reply slow = answer(200, R"({"from":"the slow one"})");
  slow.delay = 600ms; // twice the timeout
  http_test_server server{scripted({slow, answer(200, R"({"from":"retry"})")})};
  runtime rt;
  auto cfg = config_for(server);
  cfg.timeout = 300ms;
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  std::string seen;
  record_charge_result(rt, seen);
  auto d = charge_saga(2);
  d.step("record", "ledger").timeout(20s);
  auto r = rt.execute(d).get();
  ASSERT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(seen, R"({"from":"retry"})");
}

TEST(http_participant, connections_are_kept_alive_between_requests) {
  http_test_server server{scripted({answer(200)})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  for (int i = 0; i < 5; ++i) {
    auto r = rt.execute(charge_saga()).get();
    ASSERT_TRUE(r.success) << describe(r.error);
  }
  EXPECT_EQ(server.requests().size(), 5u);
  EXPECT_EQ(server.connections(), 1u);
}

TEST(http_participant, a_compensation_gets_the_result_and_is_retried_to_2xx) {
  std::mutex mtx;
  int refunds = 0;
  http_test_server server{[&](const http_test_server::request& q) {
    if (q.target == "/api/charge")
      return answer(200, R"({"charge_id":"c-1"})");
    std::lock_guard<std::mutex> guard{mtx};
    // A compensation is retried whatever it answers, 409 included.
    return ++refunds < 3 ? answer(refunds == 1 ? 409 : 503) : answer(200);
  }};
  runtime rt;
  auto cfg = config_for(server);
  cfg.routes["charge"] = http_route{{"POST", "/charge"}, {"DELETE", "/refund"}};
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  rt.participant("stock").on(
    "reserve",
    [](const step_context&, const json&) {
      return step_outcome::fail("sold out");
    },
    [](const step_context&, const json&) { return step_outcome::ok(); });
  auto d = charge_saga();
  d.compensation_retry(retry_policy{5, 10ms});
  d.step("reserve", "stock").timeout(20s);
  auto r = rt.execute(d).get();
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  EXPECT_EQ(r.compensated_steps, std::vector<std::string>{"charge"});
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (size_t i = 1; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].method, "DELETE");
    EXPECT_EQ(reqs[i].target, "/api/refund");
    EXPECT_EQ(header(reqs[i], "saga-operation"), "compensate");
    EXPECT_EQ(header(reqs[i], "saga-result"), R"({"charge_id":"c-1"})");
    EXPECT_EQ(header(reqs[i], "idempotency-key"),
              r.saga_id + "/charge/compensate");
  }
}

TEST(http_participant, a_2xx_body_that_is_not_json_is_an_error) {
  http_test_server server{scripted({answer(200, "<html>ok</html>")})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  auto r = rt.execute(charge_saga(1)).get();
  EXPECT_FALSE(r.success);
  EXPECT_NE(describe(r.error).find("a body that is not JSON"),
            std::string::npos)
    << describe(r.error);
}

TEST(http_participant, an_oversized_answer_is_refused) {
  http_test_server server{
    scripted({answer(200, "\"" + std::string(4096, 'x') + "\"")})};
  runtime rt;
  auto cfg = config_for(server);
  cfg.response_bytes_max = 1024;
  ASSERT_FALSE(rt.http_participant("payments", cfg));
  auto r = rt.execute(charge_saga(1)).get();
  EXPECT_FALSE(r.success);
  EXPECT_NE(describe(r.error).find("the body is over 1024 bytes"),
            std::string::npos)
    << describe(r.error);
}

TEST(http_participant, bad_settings_are_refused_naming_them) {
  runtime rt;
  auto refused = [&rt](const http_participant_config& cfg) {
    auto err = rt.http_participant("payments", cfg);
    EXPECT_TRUE(is(err, errc::invalid_config)) << describe(err);
    return describe(err);
  };
  http_participant_config cfg;
  cfg.base_url = "ftp://example.com";
  EXPECT_NE(refused(cfg).find("the scheme must be http:// or https://"),
            std::string::npos);
  cfg.base_url = "http://example.com:99999";
  EXPECT_NE(refused(cfg).find("port"), std::string::npos);
  cfg.base_url = "http://example.com";
  cfg.headers = {{"X-Token", "a\r\nX-Evil: 1"}};
  EXPECT_NE(refused(cfg).find("control character"), std::string::npos);
  cfg.headers = {{"Saga-Id", "mine"}};
  EXPECT_NE(refused(cfg).find("Saga-*"), std::string::npos);
  cfg.headers.clear();
  cfg.routes["charge"] = http_route{{"POST", "charge"}, {"POST", "/refund"}};
  EXPECT_NE(refused(cfg).find("does not start with '/'"), std::string::npos);
  cfg.routes.clear();
  cfg.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  EXPECT_NE(refused(cfg).find("need an https:// base_url"), std::string::npos);
  cfg.ca_file.clear();
  cfg.max_in_flight = 0;
  EXPECT_NE(refused(cfg).find("max_in_flight must be from 1 to 1024"),
            std::string::npos);
  cfg.max_in_flight = 16;
  cfg.response_bytes_max = 10;
  EXPECT_NE(refused(cfg).find("response_bytes_max must be from 1 KiB"),
            std::string::npos);
  cfg.response_bytes_max = 1024;
  cfg.timeout = 0ms;
  EXPECT_NE(refused(cfg).find("timeout must be positive"), std::string::npos);
  cfg.timeout = 1s;
  cfg.still_working_max = 0ms;
  EXPECT_NE(refused(cfg).find("still_working_max must be positive"),
            std::string::npos);
  cfg.still_working_max = 1s;
  cfg.queue_max = 65'537;
  EXPECT_NE(refused(cfg).find("queue_max must be at most 65536"),
            std::string::npos);
  cfg.queue_max = 16;
  rt.participant("stock");
  auto taken = rt.http_participant("stock", cfg);
  EXPECT_NE(describe(taken).find("participant 'stock' is declared already"),
            std::string::npos)
    << describe(taken);
  // Nothing was declared: a saga naming it is refused.
  auto r = rt.execute(charge_saga()).get();
  EXPECT_TRUE(is(r.error, errc::unknown_participant)) << describe(r.error);
}

TEST(http_participant, https_verifies_the_service_certificate) {
  const auto& certs = test::shared_certs();
  http_test_server server{scripted({answer(200, R"({"ok":1})")}), &certs};
  runtime rt;
  auto good = config_for(server);
  good.ca_file = certs.path("ca.crt");
  ASSERT_FALSE(rt.http_participant("payments", good));
  auto r = rt.execute(charge_saga()).get();
  EXPECT_TRUE(r.success) << describe(r.error);
  auto wrong = config_for(server);
  wrong.ca_file = certs.path("other-ca.crt");
  ASSERT_FALSE(rt.http_participant("impostor", wrong));
  definition d{"purchase"};
  d.step("charge", "impostor")
    .timeout(20s)
    .compensation_retry(retry_policy{1, 10ms});
  auto refused = rt.execute(d).get();
  EXPECT_FALSE(refused.success);
  EXPECT_NE(describe(refused.error).find("TLS handshake failed"),
            std::string::npos)
    << describe(refused.error);
  EXPECT_EQ(server.requests().size(), 1u); // only the trusted one's
  auto missing = config_for(server);
  missing.ca_file = "/nonexistent/ca.pem";
  auto err = rt.http_participant("other", missing);
  EXPECT_NE(describe(err).find("ca_file '/nonexistent/ca.pem'"),
            std::string::npos)
    << describe(err);
  // A client certificate needs its key, and a key file must hold one.
  auto half = config_for(server);
  half.cert_file = certs.path("client.crt");
  err = rt.http_participant("other", half);
  EXPECT_NE(describe(err).find("cert_file and key_file go together"),
            std::string::npos)
    << describe(err);
  half.key_file = certs.path("ca.crt"); // a certificate, not a key
  err = rt.http_participant("other", half);
  EXPECT_NE(describe(err).find("key_file '" + half.key_file
                               + "' cannot be loaded"),
            std::string::npos)
    << describe(err);
}

TEST(http_participant, an_answer_head_over_16_kib_is_refused) {
  auto big = answer(200, R"({"ok":1})");
  big.headers = {{"X-Padding", std::string(17 * 1024, 'p')}};
  http_test_server server{scripted({big})};
  runtime rt;
  ASSERT_FALSE(rt.http_participant("payments", config_for(server)));
  auto r = rt.execute(charge_saga(1)).get();
  EXPECT_FALSE(r.success);
  // Unknown outcome: the service may have acted, so it is compensated.
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  EXPECT_NE(describe(r.error).find("no complete answer"), std::string::npos)
    << describe(r.error);
}

} // namespace
} // namespace saga
