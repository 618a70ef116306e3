// rediss:// against real redis-servers with TLS ports and certificates made
// by openssl (tests/support/tls_certs.hpp): a trusted server runs sagas; a
// wrong CA, an expired certificate, a name the certificate does not carry, a
// plain-TCP server and a missing client certificate are refused with errors
// that say so; TLS files that cannot be loaded are named; a Redis Cluster
// that speaks only TLS runs sagas on every master.

#include <csignal>
#include <future>
#include <memory>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "saga/saga.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/tls_certs.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

/// A redis-server with a TLS port beside its plain one (which the test
/// support uses to see that it started).
class tls_server {
public:
  explicit tls_server(const std::string& cert = "server.crt",
                      bool client_auth = false,
                      std::vector<std::string> more_args = {}) {
    // Free ports are free when picked, not when bound: start again on
    // fresh ones if another process took one.
    for (int attempt = 0; attempt < 3; ++attempt) {
      tls_port_ = free_port();
      auto args = shared_certs().redis_args(tls_port_, cert, client_auth);
      args.insert(args.end(), more_args.begin(), more_args.end());
      server_ = std::make_unique<redis_server>(std::move(args));
      if (server_->start())
        return;
    }
    throw std::runtime_error("tls_server: redis-server did not start");
  }

  /// Returns rediss://127.0.0.1:<TLS port><query>.
  std::string url(const std::string& query = "") const {
    return "rediss://127.0.0.1:" + std::to_string(tls_port_) + query;
  }

  /// Returns the query that trusts the certificate `ca` (a file of the
  /// shared certificates).
  static std::string trusting(const std::string& ca = "ca.crt") {
    return "?ca_file=" + shared_certs().path(ca);
  }

  int tls_port() const noexcept {
    return tls_port_;
  }

  redis_server& plain() {
    return *server_;
  }

private:
  int tls_port_ = 0;
  std::unique_ptr<redis_server> server_;
};

/// Returns the error connecting to `url` within `timeout`, or "connected".
std::string connect_error(const std::string& url,
                          std::chrono::milliseconds timeout = 2s) {
  auto ep = parse_redis_url(url);
  if (!ep)
    return describe(ep.error());
  auto c = redis_connection::connect(*ep, timeout);
  return c ? "connected" : describe(c.error());
}

/// Returns whether `text` contains `part`, for EXPECT_PRED2.
bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

step_outcome ok(const step_context&, const json&) {
  return step_outcome::ok({{"done", true}});
}

/// Returns a runtime of node `node` on the journal at `url`, whose
/// participant "p" does steps "a" and "b" at once.
std::unique_ptr<runtime> two_step_runtime(const std::string& url,
                                          const std::string& node) {
  runtime_config cfg;
  cfg.journal_url = url;
  cfg.journal.node_id = node;
  auto rt = std::make_unique<runtime>(cfg);
  rt->participant("p").on("a", ok, ok).on("b", ok, ok);
  return rt;
}

/// Returns the two-step saga `two_step_runtime` runs.
definition two_steps() {
  definition d{"over-tls"};
  d.step("a", "p").step("b", "p");
  return d;
}

TEST(redis_tls, a_server_signed_by_the_trusted_ca_runs_sagas) {
  tls_server s;
  auto rt = two_step_runtime(s.url(tls_server::trusting()), "tls-node");
  ASSERT_FALSE(rt->start_error()) << describe(rt->start_error());
  auto r = rt->execute(two_steps()).get();
  ASSERT_EQ(r.state, saga_status::completed) << describe(r.error);
  // The history went over TLS to this server: its plain port shows it.
  auto plain = connect_loopback(s.plain().port());
  ASSERT_TRUE(plain) << describe(plain.error());
  auto n = plain->command({"XLEN", "saga:{" + r.saga_id + "}:events"});
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_GE((*n)->integer, 4);
}

TEST(redis_tls, a_server_with_a_password_logs_in_over_tls) {
  tls_server s{"server.crt", false, {"--requirepass", "s3cret"}};
  EXPECT_EQ(connect_error("rediss://:s3cret@127.0.0.1:"
                          + std::to_string(s.tls_port()) + "/2"
                          + tls_server::trusting()),
            "connected");
  EXPECT_PRED2(has,
               connect_error("rediss://:wrong@127.0.0.1:"
                             + std::to_string(s.tls_port())
                             + tls_server::trusting()),
               "AUTH failed: WRONGPASS");
}

TEST(redis_tls, a_certificate_of_another_ca_is_refused) {
  tls_server s;
  EXPECT_PRED2(has, connect_error(s.url(tls_server::trusting("other-ca.crt"))),
               "TLS: the server's certificate is refused: self-signed "
               "certificate in certificate chain");
}

TEST(redis_tls, an_expired_certificate_is_refused) {
  tls_server s{"expired.crt"};
  EXPECT_PRED2(has, connect_error(s.url(tls_server::trusting())),
               "TLS: the server's certificate is refused: certificate has "
               "expired");
}

TEST(redis_tls, the_certificate_must_carry_the_name_connected_to) {
  tls_server s;
  // The certificate names 127.0.0.1 and localhost.
  EXPECT_EQ(connect_error("rediss://localhost:" + std::to_string(s.tls_port())
                          + tls_server::trusting()),
            "connected");
  EXPECT_EQ(connect_error(
              s.url(tls_server::trusting() + "&server_name=localhost")),
            "connected");
  EXPECT_PRED2(has,
               connect_error(s.url(tls_server::trusting()
                                   + "&server_name=redis.example.com")),
               "certificate is refused: hostname mismatch");
}

TEST(redis_tls, a_plain_tcp_server_is_refused) {
  tls_server s;
  auto url = "rediss://127.0.0.1:" + std::to_string(s.plain().port())
             + tls_server::trusting();
  auto error = connect_error(url, 500ms);
  EXPECT_PRED2(has, error, "does the server speak TLS on this port?");
  EXPECT_PRED2(has, error, "saga::journal_failure: redis tls 127.0.0.1:");
}

TEST(redis_tls, a_server_that_asks_for_a_client_certificate_gets_one) {
  tls_server s{"server.crt", true};
  // Refused with an alert or a reset, whichever the socket delivers first.
  EXPECT_PRED2(has, connect_error(s.url(tls_server::trusting())),
               ": does it want a client certificate (cert_file, key_file)?");
  auto with_cert = s.url(tls_server::trusting()
                         + "&cert_file=" + shared_certs().path("client.crt")
                         + "&key_file=" + shared_certs().path("client.key"));
  EXPECT_EQ(connect_error(with_cert), "connected");
}

TEST(redis_tls, a_server_that_stops_answering_is_named_with_the_timeout) {
  tls_server s;
  auto ep = parse_redis_url(s.url(tls_server::trusting()));
  ASSERT_TRUE(ep);
  auto c = redis_connection::connect(*ep, 1s);
  ASSERT_TRUE(c) << describe(c.error());
  ::kill(s.plain().pid(), SIGSTOP);
  auto r = c->command({"PING"});
  ::kill(s.plain().pid(), SIGCONT);
  ASSERT_FALSE(r);
  EXPECT_PRED2(has, describe(r.error()), ": did not answer within 1000 ms");
  EXPECT_TRUE(c->broken());
}

TEST(redis_tls, a_cluster_over_tls_runs_sagas_on_every_master) {
  // TLS between the nodes too; the seeds are the TLS ports, and the slot
  // map asked over TLS names TLS ports: a plain port would fail the
  // handshake.
  redis_cluster cluster{3, 0, 15000, &shared_certs()};
  ASSERT_TRUE(cluster.start()) << "the TLS cluster did not start";
  auto rt = two_step_runtime(cluster.url(), "tls-cluster-node");
  ASSERT_FALSE(rt->start_error()) << describe(rt->start_error());
  const auto d = two_steps();
  std::vector<std::future<saga_result>> runs;
  runs.reserve(64);
  for (int i = 0; i < 64; ++i)
    runs.push_back(rt->execute(d));
  for (auto& x : runs) {
    auto r = x.get();
    EXPECT_EQ(r.state, saga_status::completed) << describe(r.error);
  }
  // 64 sagas' streams spread over the 3 masters by id (each is left empty
  // with odds (2/3)^64): every master was reached over TLS.
  for (const auto& node : cluster.nodes()) {
    auto plain = connect_loopback(node->port());
    ASSERT_TRUE(plain) << describe(plain.error());
    auto n = plain->command({"DBSIZE"});
    ASSERT_TRUE(n) << describe(n.error());
    EXPECT_GT((*n)->integer, 10) << node->url();
  }
}

TEST(redis_tls, tls_files_that_cannot_be_loaded_are_named) {
  const auto& certs = shared_certs();
  const std::pair<std::string, std::string> cases[] = {
    {"?ca_file=/nonexistent/ca.pem",
     "saga::invalid_config: TLS: cannot read ca_file '/nonexistent/ca.pem': "
     "No such file or directory"},
    {"?ca_file=" + certs.path("server.ext"),
     "TLS: no certificate authority in ca_file '" + certs.path("server.ext")},
    {"?cert_file=" + certs.path("client.crt")
       + "&key_file=" + certs.path("server.key"),
     "TLS: key_file does not match cert_file '" + certs.path("server.key")},
  };
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  for (const auto& [query, error] : cases) {
    // Through the journal's start, as a runtime reports it.
    auto j = make_journal(sys, "rediss://127.0.0.1:1" + query);
    ASSERT_FALSE(j) << query;
    EXPECT_TRUE(is(j.error(), errc::invalid_config)) << describe(j.error());
    EXPECT_PRED2(has, describe(j.error()), error);
  }
}

} // namespace
} // namespace saga::test
