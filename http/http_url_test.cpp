#include "http/http_url.hpp"

#include <gtest/gtest.h>

#include "saga/errc.hpp"

namespace saga::detail {
namespace {

TEST(http_url, takes_scheme_host_port_and_prefix) {
  auto u = parse_http_url("https://pay.example.com:8443/api/v1/");
  ASSERT_TRUE(u) << describe(u.error());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "pay.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->prefix, "/api/v1");
  EXPECT_EQ(u->text(), "https://pay.example.com:8443/api/v1");
  auto plain = parse_http_url("http://127.0.0.1");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->prefix, "");
  auto v6 = parse_http_url("https://[::1]/x");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 443);
  EXPECT_EQ(v6->text(), "https://[::1]:443/x");
}

TEST(http_url, refuses_what_it_cannot_take_naming_why) {
  struct bad_case {
    const char* url;
    const char* why;
  };
  const bad_case cases[] = {
    {"ftp://x", "the scheme must be http:// or https://"},
    {"pay.example.com", "the scheme must be http:// or https://"},
    {"http://", "no host"},
    {"http://:80", "no host"},
    {"http://x:0", "the port must be a number from 1 to 65535"},
    {"http://x:65536", "the port must be a number from 1 to 65535"},
    {"http://x:", "the port must be a number from 1 to 65535"},
    {"http://x:8o", "the port must be a number from 1 to 65535"},
    {"http://user:pw@x", "user info is not taken"},
    {"http://x/a?b=1", "no query or fragment"},
    {"http://x/a#b", "no query or fragment"},
    {"http://x/a b", "a space or a control character"},
    {"http://x/a\r\nHost: y", "a space or a control character"},
    {"http://[::1/x", "lacks its ']'"},
  };
  for (const auto& c : cases) {
    auto u = parse_http_url(c.url);
    ASSERT_FALSE(u) << c.url;
    EXPECT_TRUE(is(u.error(), errc::invalid_url)) << c.url;
    EXPECT_NE(describe(u.error()).find(c.why), std::string::npos)
      << c.url << ": " << describe(u.error());
  }
}

} // namespace
} // namespace saga::detail
