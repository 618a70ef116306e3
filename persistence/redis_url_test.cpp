#include "persistence/redis_url.hpp"

#include <gtest/gtest.h>

#include "saga/errc.hpp"

namespace saga {
namespace {

/// Checks that `url` is refused with an `invalid_url` error that quotes it
/// ("journal URL '...'") and contains `why`.
void expect_refused(const std::string& url, const std::string& why) {
  auto ep = parse_redis_url(url);
  ASSERT_FALSE(ep) << "'" << url << "' was accepted";
  EXPECT_TRUE(is(ep.error(), errc::invalid_url)) << url;
  auto text = describe(ep.error());
  EXPECT_NE(text.find(why), std::string::npos) << url << " -> " << text;
  EXPECT_NE(text.find("journal URL"), std::string::npos) << text;
}

TEST(redis_url, host_port_and_db) {
  auto ep = parse_redis_url("redis://10.0.0.5:6380/3");
  ASSERT_TRUE(ep) << describe(ep.error());
  EXPECT_EQ(ep->host, "10.0.0.5");
  EXPECT_EQ(ep->port, 6380);
  EXPECT_EQ(ep->db, 3u);
  EXPECT_TRUE(ep->password.empty());
  EXPECT_TRUE(ep->socket_path.empty());
}

TEST(redis_url, defaults_port_and_db) {
  auto ep = parse_redis_url("redis://cache.local");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "cache.local");
  EXPECT_EQ(ep->port, 6379);
  EXPECT_EQ(ep->db, 0u);
}

TEST(redis_url, user_and_percent_encoded_password) {
  auto ep = parse_redis_url("redis://saga:p%40ss%3Aword@127.0.0.1:7000/1");
  ASSERT_TRUE(ep) << describe(ep.error());
  EXPECT_EQ(ep->user, "saga");
  EXPECT_EQ(ep->password, "p@ss:word");
  EXPECT_EQ(ep->port, 7000);
}

TEST(redis_url, password_without_user) {
  auto ep = parse_redis_url("redis://:secret@127.0.0.1:7000");
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->user.empty());
  EXPECT_EQ(ep->password, "secret");
}

TEST(redis_url, ipv6) {
  auto ep = parse_redis_url("redis://[::1]:7001");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 7001);
}

TEST(redis_url, unix_socket) {
  auto ep = parse_redis_url("unix:///run/redis/redis.sock?db=2");
  ASSERT_TRUE(ep) << describe(ep.error());
  EXPECT_EQ(ep->socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(ep->db, 2u);
  EXPECT_TRUE(ep->host.empty());
}

TEST(redis_url, rejects_malformed_urls_naming_the_problem) {
  const std::pair<const char*, const char*> cases[] = {
    {"127.0.0.1:6379", "no scheme"},
    {"http://127.0.0.1", "unsupported scheme 'http'"},
    {"redis://", "no host"},
    {"redis://:6379", "no host"},
    {"redis://host:", "empty port"},
    {"redis://host:0", "port '0'"},
    {"redis://host:70000", "port '70000'"},
    {"redis://host:abc", "port 'abc'"},
    {"redis://host:6379/x", "database 'x'"},
    {"redis://user:@host", "empty password"},
    {"redis://u:%zz@host", "percent escape"},
    {"redis://[::1", "IPv6"},
    {"unix://relative.sock", "absolute"},
    {"unix:///tmp/r.sock?x=1", "db=<number>"},
  };
  for (const auto& [url, why] : cases)
    expect_refused(url, why);
}

TEST(redis_url, errors_never_show_the_password) {
  for (const char* url : {
         "redis://user:topsecret@host:notaport",
         // A '@' in a TLS query value, after credentials with and without
         // a user.
         "rediss://topsecret@h:x?ca_file=/a@b",
         "rediss://u:topsecret@h:x?ca_file=/a@b",
         // A raw '?' in a password starts the query.
         "rediss://u:top?secret@h:1",
         "rediss+clusters://u:topsecret@h",
       }) {
    auto ep = parse_redis_url(url);
    ASSERT_FALSE(ep) << url;
    EXPECT_EQ(describe(ep.error()).find("secret"), std::string::npos)
      << describe(ep.error());
  }
}

TEST(redis_url, describe_omits_credentials) {
  auto ep = parse_redis_url("redis://u:pw@h:1/2");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->describe(), "h:1/2");
}

TEST(redis_url, cluster_seeds) {
  auto ep = parse_redis_url(
    "redis+cluster://saga:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002");
  ASSERT_TRUE(ep) << describe(ep.error());
  ASSERT_TRUE(ep->cluster());
  ASSERT_EQ(ep->cluster_seeds.size(), 3u);
  EXPECT_EQ(ep->cluster_seeds[0].host, "10.0.0.1");
  EXPECT_EQ(ep->cluster_seeds[0].port, 7000);
  EXPECT_EQ(ep->cluster_seeds[1].host, "10.0.0.2");
  EXPECT_EQ(ep->cluster_seeds[1].port, 6379);
  EXPECT_EQ(ep->cluster_seeds[2].host, "::1");
  EXPECT_EQ(ep->cluster_seeds[2].port, 7002);
  EXPECT_EQ(ep->host, "10.0.0.1"); // the first seed
  EXPECT_EQ(ep->user, "saga");
  EXPECT_EQ(ep->password, "pw");
  EXPECT_EQ(ep->describe(), "cluster 10.0.0.1:7000,+2");
  auto one = parse_redis_url("redis+cluster://127.0.0.1:7000/0");
  ASSERT_TRUE(one) << describe(one.error());
  EXPECT_EQ(one->cluster_seeds.size(), 1u);
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:7000")->cluster());
}

TEST(redis_url, cluster_urls_name_the_bad_seed) {
  std::string many = "redis+cluster://h:1";
  for (int i = 0; i < 64; ++i)
    many += ",h:1";
  const std::pair<std::string, const char*> cases[] = {
    {"redis+cluster://", "seed 1: no host"},
    {"redis+cluster://h:1,", "seed 2: no host"},
    {"redis+cluster://h:1,h:x", "seed 2: port 'x'"},
    {"redis+cluster://h:1,[::1", "seed 2: unterminated IPv6"},
    {"redis+cluster://h:1/2", "only database 0"},
    {"redis+cluster+tls://h:1", "unsupported scheme 'redis+cluster+tls'"},
    {many, "more than 64 seeds"},
  };
  for (const auto& [url, why] : cases)
    expect_refused(url, why);
}

TEST(redis_url, rediss_takes_tls_settings_in_its_query) {
  auto plain = parse_redis_url("rediss://cache.example.com:6380/1");
  ASSERT_TRUE(plain) << describe(plain.error());
  ASSERT_TRUE(plain->tls); // verified against the system's CAs
  EXPECT_TRUE(plain->tls->ca_file.empty());
  EXPECT_EQ(plain->describe(), "tls cache.example.com:6380/1");
  auto ep = parse_redis_url(
    "rediss://u:p%3Fw@10.0.0.1:6380/2?ca_file=/etc/ca%20dir/ca.pem"
    "&cert_file=/c.pem&key_file=/k.pem&server_name=redis.internal");
  ASSERT_TRUE(ep) << describe(ep.error());
  EXPECT_EQ(ep->password, "p?w");
  EXPECT_EQ(ep->db, 2u);
  EXPECT_EQ(ep->port, 6380);
  EXPECT_EQ(ep->tls->ca_file, "/etc/ca dir/ca.pem");
  EXPECT_EQ(ep->tls->cert_file, "/c.pem");
  EXPECT_EQ(ep->tls->key_file, "/k.pem");
  EXPECT_EQ(ep->tls->server_name, "redis.internal");
  auto cluster = parse_redis_url("rediss+cluster://h1:7000,h2:7001?ca_file=/a");
  ASSERT_TRUE(cluster) << describe(cluster.error());
  EXPECT_EQ(cluster->cluster_seeds.size(), 2u);
  EXPECT_EQ(cluster->cluster_seeds[1].port, 7001);
  EXPECT_EQ(cluster->tls->ca_file, "/a");
  EXPECT_EQ(cluster->describe(), "tls cluster h1:7000,+1");
  EXPECT_FALSE(parse_redis_url("redis://h:1")->tls);
}

TEST(redis_url, tls_settings_are_checked) {
  const std::pair<const char*, const char*> cases[] = {
    {"redis://h:1?ca_file=/a", "use rediss:// or rediss+cluster://"},
    {"redis+cluster://h:1?ca_file=/a", "use rediss://"},
    {"rediss://h:1?cafile=/a", "unknown query parameter 'cafile'"},
    {"rediss://h:1?ca_file", "'ca_file' needs a value"},
    {"rediss://h:1?ca_file=", "'ca_file' needs a value"},
    {"rediss://h:1?ca_file=/a&ca_file=/b", "'ca_file' given twice"},
    {"rediss://h:1?cert_file=/c", "cert_file and key_file go together"},
    {"rediss://h:1?key_file=/k", "cert_file and key_file go together"},
    {"rediss://h:1?ca_file=%zz", "'ca_file': malformed percent escape"},
    {"rediss://h:1?", "unknown query parameter ''"},
  };
  for (const auto& [url, why] : cases)
    expect_refused(url, why);
}

// -- bad input (docs/bad-input.md) ----------------------------------------------

TEST(bad_input_redis_url, the_rarer_malformed_shapes_are_named_too) {
  const std::pair<const char*, const char*> cases[] = {
    {"", "no scheme"},
    {"redis:/host", "no scheme"},
    {"Redis://host", "unsupported scheme 'Redis'"},
    {"memory://", "unsupported scheme 'memory'"}, // a journal, not a Redis
    {"redis://[::1]x", "garbage after the IPv6 address"},
    {"redis://[::1]:", "empty port"},
    {"redis://[]:6379", "no host"},
    {"redis://host:-1", "port '-1'"},
    {"redis://host:65536", "port '65536'"},
    {"redis://host/-1", "database '-1'"},
    {"redis://host/99999999999", "database '99999999999'"},
    {"redis://pw@", "no host"},
    {"redis://u:%4@host", "percent escape"},
    {"unix://", "absolute"},
    {"unix:///tmp/r.sock?db=", "db=<number>"},
    {"unix:///tmp/r.sock?db=x", "db=<number>"},
  };
  for (const auto& [url, why] : cases)
    expect_refused(url, why);
}

} // namespace
} // namespace saga
