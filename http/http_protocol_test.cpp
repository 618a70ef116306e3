#include "http/http_protocol.hpp"

#include <gtest/gtest.h>

#include "saga/errc.hpp"

namespace saga::detail {
namespace {

http_answer answer(unsigned status, std::string body = {},
                   std::string retry_after = {}) {
  return http_answer{status, std::move(body), std::move(retry_after)};
}

TEST(http_protocol, twoxx_is_done_with_the_body_as_result) {
  auto v = judge(answer(201, R"({"id":7})"), false, "POST x");
  EXPECT_FALSE(v.still_working);
  EXPECT_TRUE(v.reply.ok);
  EXPECT_EQ(v.reply.result, R"({"id":7})");
  EXPECT_TRUE(judge(answer(204), false, "POST x").reply.ok);
}

TEST(http_protocol, a_409_is_final_for_an_execute_only) {
  auto x = judge(answer(409, "no funds"), false, "POST http://h:80/charge");
  EXPECT_FALSE(x.reply.ok);
  EXPECT_FALSE(x.reply.retryable);
  EXPECT_EQ(x.reply.error, "POST http://h:80/charge answered 409: no funds");
  auto c = judge(answer(409), true, "POST x");
  EXPECT_FALSE(c.reply.ok);
  EXPECT_TRUE(c.reply.retryable);
}

TEST(http_protocol, a_425_asks_again_after_its_retry_after_bounded) {
  auto v = judge(answer(425, {}, "2"), false, "POST x");
  EXPECT_TRUE(v.still_working);
  EXPECT_EQ(v.wait, std::chrono::seconds{2});
  EXPECT_EQ(judge(answer(425, {}, "3600"), false, "x").wait,
            std::chrono::seconds{5});
  EXPECT_EQ(judge(answer(425, {}, "0"), false, "x").wait,
            std::chrono::milliseconds{50});
  EXPECT_EQ(judge(answer(425, {}, "soon"), false, "x").wait,
            std::chrono::milliseconds{200});
  // An HTTP date: how far ahead it is, within the same bounds.
  EXPECT_EQ(judge(answer(425, {}, "Sun, 06 Nov 1994 08:49:37 GMT"), false, "x")
              .wait,
            std::chrono::milliseconds{50});
  EXPECT_EQ(judge(answer(425, {}, "Fri, 31 Dec 2999 23:59:59 GMT"), false, "x")
              .wait,
            std::chrono::seconds{5});
  EXPECT_EQ(judge(answer(425, {}, "Fri, 31 Dec 2999 23:59:59 CET"), false, "x")
              .wait,
            std::chrono::milliseconds{200}); // not an HTTP date
}

TEST(http_protocol, anything_else_and_no_answer_leave_the_outcome_unknown) {
  // The service may have acted: the saga retries, or compensates.
  for (unsigned status : {301u, 400u, 404u, 500u, 503u}) {
    auto v = judge(answer(status), false, "POST x");
    EXPECT_TRUE(is(v.unknown, errc::outcome_unknown)) << status;
    EXPECT_FALSE(v.reply.ok) << status;
  }
  EXPECT_NE(describe(judge(answer(302), false, "GET x").unknown)
              .find("redirects are not followed"),
            std::string::npos);
  caf::expected<http_answer> cut = make_error(errc::outcome_unknown,
                                              "no complete answer");
  auto v = judge(cut, false, "POST x");
  EXPECT_TRUE(is(v.unknown, errc::outcome_unknown));
  EXPECT_NE(describe(v.unknown).find("no complete answer"), std::string::npos);
  // Not sent at all: nothing happened, a retryable failure.
  caf::expected<http_answer> none = make_error(errc::no_route,
                                               "cannot connect");
  auto unsent = judge(none, false, "POST x");
  EXPECT_FALSE(unsent.unknown);
  EXPECT_FALSE(unsent.reply.ok);
  EXPECT_TRUE(unsent.reply.retryable);
  EXPECT_NE(unsent.reply.error.find("cannot connect"), std::string::npos);
  auto html = judge(answer(200, "<html>"), false, "POST x");
  EXPECT_FALSE(html.reply.ok);
  EXPECT_NE(describe(html.unknown).find("not JSON"), std::string::npos);
  // A compensation that answered 409 did not act either: retried.
  EXPECT_FALSE(judge(answer(409), true, "x").unknown);
}

TEST(http_protocol, a_call_carries_route_payload_and_saga_headers) {
  http_participant_config cfg;
  cfg.headers = {{"Authorization", "Bearer x"}};
  cfg.routes["charge"] = http_route{{"PUT", "/charges"},
                                    {"DELETE", "/charges"}};
  http_url origin{false, "h", 80, "/api"};
  step_command cmd;
  cmd.id = "s-1";
  cmd.saga_name = "purchase";
  cmd.step = "pay now";
  cmd.action = "charge";
  cmd.attempt = 3;
  cmd.payload = R"({"amount":5})";
  cmd.results = R"({"pay now":{"id":"c\u00e9"}})";
  auto x = *make_call(cmd, false, cfg, origin);
  EXPECT_EQ(x.method, "PUT");
  EXPECT_EQ(x.target, "/api/charges");
  EXPECT_EQ(x.body, R"({"amount":5})");
  auto has = [](const http_call& c, const std::string& name,
                const std::string& value) {
    for (const auto& [n, v] : c.headers)
      if (n == name)
        return v == value;
    return false;
  };
  EXPECT_TRUE(has(x, "Authorization", "Bearer x"));
  EXPECT_TRUE(has(x, "Saga-Attempt", "3"));
  EXPECT_TRUE(has(x, "Saga-Step", "pay now"));
  EXPECT_TRUE(has(x, "Idempotency-Key", "s-1/pay now/execute"));
  auto c = *make_call(cmd, true, cfg, origin);
  EXPECT_EQ(c.method, "DELETE");
  EXPECT_TRUE(has(c, "Saga-Operation", "compensate"));
  EXPECT_TRUE(has(c, "Saga-Result", R"({"id":"c\u00e9"})"));
  // An action without a route: POST /<action>[/compensate], encoded.
  cmd.action = "refund all";
  EXPECT_EQ(make_call(cmd, false, cfg, origin)->target, "/api/refund%20all");
  EXPECT_EQ(make_call(cmd, true, cfg, origin)->target,
            "/api/refund%20all/compensate");
}

TEST(http_protocol, a_step_endpoint_wins_over_the_route_and_is_checked) {
  http_participant_config cfg;
  cfg.routes["charge"] = http_route{{"PUT", "/charges"}, {"PUT", "/undo"}};
  http_url origin{false, "h", 80, "/api"};
  step_command cmd;
  cmd.id = "s-1";
  cmd.step = "pay";
  cmd.action = "charge";
  cmd.endpoint = "PATCH /v2/pay";
  auto x = make_call(cmd, false, cfg, origin);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->method, "PATCH");
  EXPECT_EQ(x->target, "/api/v2/pay");
  // A malformed one (from another node, say) is refused, never sent.
  for (const char* bad :
       {"PATCH", "post /x", "POST x", "POST /a b", "POST /a\r\nHost: evil"}) {
    cmd.endpoint = bad;
    auto y = make_call(cmd, false, cfg, origin);
    ASSERT_FALSE(y) << bad;
    EXPECT_TRUE(is(y.error(), errc::invalid_url)) << bad;
  }
}

TEST(http_protocol, header_values_never_carry_control_bytes) {
  EXPECT_EQ(header_safe("a\r\nb"), "a%0D%0Ab");
  EXPECT_EQ(header_safe("50%"), "50%25");
  EXPECT_EQ(header_safe("caf\xc3\xa9"), "caf%C3%A9");
}

} // namespace
} // namespace saga::detail
