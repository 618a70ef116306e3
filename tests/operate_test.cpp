// Operating sagas end to end, as an operator would at 3 a.m.: a real
// redis-server, a real saga_node serving its admin API, and the real
// sagactl binary. A purchase whose refund desk jams ends `failed`; the
// operator finds it, inspects it, retries it (a wrong token is refused) and
// it ends compensated with the shop's money back; a slow purchase is aborted
// mid-step and compensates. Both calls are recorded in the saga's journal
// with who asked.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <caf/scoped_actor.hpp>

#include "admin/http_client.hpp"
#include "demo/shop.hpp"
#include "tests/cluster_fixture.hpp"
#include "tests/support/http_test_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

/// What a sagactl run printed and how it exited.
struct cli_result {
  int exit_code = -1;
  std::string output;
};

class operate_test : public cluster_fixture {
protected:
  /// Runs sagactl against this test's Redis.
  cli_result sagactl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--redis", redis_url()});
    child_process p{SAGACTL_EXE, args};
    auto status = p.wait_exit(60s);
    // The exit can be seen before the last of its output was read.
    EXPECT_TRUE(p.wait_for_eof(10s)) << "sagactl's output did not end";
    cli_result r;
    for (const auto& line : p.lines())
      r.output += line + "\n";
    if (status && WIFEXITED(*status))
      r.exit_code = WEXITSTATUS(*status);
    return r;
  }

  /// Starts the operator's node: coordinates, hosts the shop, serves the
  /// admin API with a token.
  node_process& start_ops_node(const std::string& id,
                               std::vector<std::string> extra = {}) {
    std::vector<std::string>
      args{"--coordinate", "--participants=account,inventory,purchase_log",
           "--admin=127.0.0.1:0", "--admin-token=s3cret"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto& n = start_node(id, args);
    EXPECT_TRUE(n.proc->wait_for_line("admin http://127.0.0.1:", 1s));
    return n;
  }

  /// Returns a request for `target` on node `n`'s admin API.
  admin::http_request admin_request(node_process& n,
                                    const std::string& target) {
    admin::http_request req;
    auto line = n.proc->wait_for_line("admin http://", 1s);
    EXPECT_TRUE(line) << "node " << n.id << " announced no admin API";
    if (!line)
      return req;
    req.host = "127.0.0.1";
    req.port = static_cast<uint16_t>(
      std::stoul(line->substr(line->rfind(':') + 1)));
    req.target = target;
    return req;
  }

  /// Runs `def` through `n`'s gateway and returns its result.
  saga_result run(const node_process& n, const definition& def) {
    saga_result result;
    caf::scoped_actor self{*client_};
    self->request(gateway(n), 60s, run_atom::value, def.to_json().dump())
      .receive([&](saga_result& r) { result = std::move(r); },
               [&](caf::error& err) { result.error = std::move(err); });
    return result;
  }

  /// Waits (polling Redis, bounded) until saga `id` has status `want`.
  bool await_status(const std::string& id, saga_status want) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (status_of(id) == want)
        return true;
      std::this_thread::sleep_for(20ms); // polling an external store
    }
    return false;
  }

  /// Returns saga `id`'s history.
  std::vector<event> history(const std::string& id) {
    std::vector<event> result;
    caf::scoped_actor self{*client_};
    self->request(reader_, 10s, read_atom::value, id)
      .receive([&](std::vector<event>& xs) { result = std::move(xs); },
               [&](caf::error&) {});
    return result;
  }
};

TEST_F(operate_test, an_operator_finds_inspects_and_retries_a_failed_saga) {
  auto& n = start_ops_node("ops");
  auto before = read_hash(redis_url(), "shop:balance")["p"];
  auto r = run(n, demo::make_jammed_purchase("p", "sold-out-sword", 25, 2));
  ASSERT_EQ(r.state, saga_status::failed) << describe(r.error);
  const auto id = r.saga_id;
  // The refund never happened: the player is 25 short.
  EXPECT_EQ(read_hash(redis_url(), "shop:balance")["p"], before - 25);

  // Find it.
  auto listed = sagactl({"list", "--state", "failed"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find(id), std::string::npos) << listed.output;
  auto as_json = sagactl({"--json", "list", "--state", "failed"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  auto page = json::parse(as_json.output, nullptr, false);
  ASSERT_TRUE(page.is_object()) << as_json.output;
  ASSERT_EQ(page["sagas"].size(), 1u);
  EXPECT_EQ(page["sagas"][0]["id"], id);
  EXPECT_EQ(page["sagas"][0]["definition"], "purchase");

  // Inspect it: why it failed, attempt by attempt.
  auto shown = sagactl({"show", id});
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("refund desk jammed (attempt 2)"),
            std::string::npos)
    << shown.output;

  // The node's /metrics counts it among the failed awaiting an operator
  // (from its next lease renewal on), without waiting on Redis.
  auto failed_gauge = admin_request(n, "/metrics");
  ASSERT_NE(failed_gauge.port, 0);
  std::string last_metrics;
  EXPECT_TRUE(eventually(
    [&] {
      auto m = admin::send(failed_gauge);
      last_metrics = m ? m->body : std::string{};
      return last_metrics.find("\nsaga_failed_sagas 1\n") != std::string::npos;
    },
    10s))
    << last_metrics;
  for (auto series :
       {"saga_unfinished_sagas 0", "saga_sagas_in_flight 0",
        "saga_saga_duration_seconds_count 1", "caf_saga_build_info{version="})
    EXPECT_NE(last_metrics.find(series), std::string::npos) << series;

  // The live events: a new reader gets the newest, among them the refund's
  // failed attempts; a cursor of another epoch (a restarted node) resets.
  auto feed = admin_request(n, "/api/events?max=1000");
  auto got = admin::send(feed);
  ASSERT_TRUE(got) << describe(got.error());
  auto evs = json::parse(got->body);
  auto attempt_failed = std::find_if(evs["events"].begin(), evs["events"].end(),
                                     [&](const json& e) {
                                       return e.value("type", "")
                                                == "step_attempt_failed"
                                              && e.value("saga_id", "") == id;
                                     });
  ASSERT_NE(attempt_failed, evs["events"].end()) << got->body;
  EXPECT_NE(attempt_failed->value("error", "").find("refund desk jammed"),
            std::string::npos)
    << *attempt_failed;
  EXPECT_EQ(evs.value("epoch", uint64_t{0}), n.epoch) << got->body;
  feed.target = "/api/events?after="
                + std::to_string(evs["next"].get<uint64_t>())
                + "&epoch=" + std::to_string(n.epoch + 1);
  got = admin::send(feed);
  ASSERT_TRUE(got) << describe(got.error());
  EXPECT_TRUE(json::parse(got->body).value("reset", false)) << got->body;

  // A wrong token is refused, and nothing changes.
  auto refused = sagactl({"--token", "wrong", "retry", id, "--by", "alice"});
  EXPECT_EQ(refused.exit_code, 5) << refused.output;
  EXPECT_EQ(status_of(id), saga_status::failed);

  // Retry it: the refund's attempts 3 and on get past the jam.
  auto retried = sagactl({"--token", "s3cret", "retry", id, "--by", "alice"});
  EXPECT_EQ(retried.exit_code, 0) << retried.output;
  EXPECT_NE(retried.output.find("compensating"), std::string::npos)
    << retried.output;
  ASSERT_TRUE(await_status(id, saga_status::compensated));
  EXPECT_EQ(read_hash(redis_url(), "shop:balance")["p"], before);

  // The journal says who asked, and the failed index lets it go.
  auto events = history(id);
  auto retried_at = std::find_if(events.begin(), events.end(),
                                 [](const event& ev) {
                                   return ev.type == event_type::saga_retried;
                                 });
  ASSERT_NE(retried_at, events.end());
  EXPECT_EQ(json::parse(retried_at->data)["by"], "alice");
  EXPECT_EQ(events.back().type, event_type::saga_compensated);
  auto failed_now = sagactl({"--json", "list", "--state", "failed"});
  EXPECT_EQ(json::parse(failed_now.output)["sagas"].size(), 0u)
    << failed_now.output;
  // The node's metrics count the failure, the retry and the compensation.
  auto req = admin_request(n, "/metrics");
  ASSERT_NE(req.port, 0);
  auto metrics = admin::send(req);
  ASSERT_TRUE(metrics) << describe(metrics.error());
  EXPECT_EQ(metrics->status, 200u);
  for (auto sample : {"saga_sagas_failed_total{definition=\"purchase\"} 1",
                      "saga_sagas_compensated_total{definition=\"purchase\"} 1",
                      "saga_operator_retries_total 1"})
    EXPECT_NE(metrics->body.find(sample), std::string::npos)
      << sample << " not in:\n"
      << metrics->body;
  // A second retry of a saga that no longer failed is refused (exit 1).
  auto again = sagactl({"--token", "s3cret", "retry", id});
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("only a failed saga can be retried"),
            std::string::npos)
    << again.output;

  // The audit stream has each call the node took, newest first: the
  // refused second retry, then alice's, requested before it was accepted.
  // The call with the wrong token never reached it.
  auto audit = sagactl({"--json", "audit", "--max", "10"});
  ASSERT_EQ(audit.exit_code, 0) << audit.output;
  std::vector<std::string> trail;
  const auto audited = json::parse(audit.output);
  for (const auto& e : audited["entries"]) {
    EXPECT_EQ(e.value("saga_id", ""), id) << e;
    EXPECT_EQ(e.value("node", ""), "ops") << e;
    trail.push_back(e.value("action", "") + " " + e.value("by", "?") + " "
                    + e.value("outcome", ""));
  }
  ASSERT_EQ(trail.size(), 4u) << audit.output;
  EXPECT_EQ(trail[0].substr(0, 6), "retry ");
  EXPECT_NE(trail[0].find(" refused"), std::string::npos) << trail[0];
  EXPECT_EQ(trail[2], "retry alice accepted");
  EXPECT_EQ(trail[3], "retry alice requested");
  // The same over the admin API, behind the token.
  auto api = admin_request(n, "/api/audit?max=1");
  api.headers.emplace_back("Authorization", "Bearer s3cret");
  auto newest = admin::send(api);
  ASSERT_TRUE(newest) << describe(newest.error());
  ASSERT_EQ(newest->status, 200u) << newest->body;
  auto entries = json::parse(newest->body)["entries"];
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_NE(entries[0].value("error", "").find("only a failed saga"),
            std::string::npos)
    << entries[0];
}

TEST_F(operate_test, healthz_reports_the_lease_and_answers_while_redis_hangs) {
  auto& n = start_ops_node("ops");
  auto req = admin_request(n, "/healthz");
  ASSERT_NE(req.port, 0);
  req.timeout = 2s;
  auto healthy = [&req](unsigned want) {
    auto r = admin::send(req);
    return r && r->status == want;
  };
  // The first renewal has run once the node announced its admin API.
  EXPECT_TRUE(eventually([&] { return healthy(200); }, 10s));
  auto ok = admin::send(req);
  ASSERT_TRUE(ok) << describe(ok.error());
  auto body = json::parse(ok->body, nullptr, false);
  EXPECT_EQ(body.value("node", ""), "ops") << ok->body;
  EXPECT_TRUE(body["lease"].value("held", false)) << ok->body;
  EXPECT_TRUE(body["redis"].value("reachable", false)) << ok->body;
  // Redis hangs for 5 s: the next renewal times out and /healthz says so,
  // each answer coming without waiting on Redis (the request's own timeout
  // is 2 s, shorter than the pause); then the node renews again.
  redis_int({"CLIENT", "PAUSE", "5000", "ALL"});
  EXPECT_TRUE(eventually([&] { return healthy(503); }, 5s));
  EXPECT_TRUE(eventually([&] { return healthy(200); }, 30s));
}

TEST_F(operate_test,
       an_http_step_cut_off_by_a_sigkill_goes_again_with_its_key) {
  // The log service hangs on its first request (the node dies meanwhile)
  // and answers every later one.
  std::atomic<int> seen{0};
  http_test_server log_service{[&seen](const http_test_server::request&) {
    http_test_server::response r;
    if (seen++ == 0)
      r.hang = true;
    else
      r.body = R"({"logged":true})";
    return r;
  }};
  const std::vector<std::string> args{"--coordinate", "--admin=127.0.0.1:0",
                                      "--admin-token=s3cret",
                                      "--http-participants=log="
                                        + log_service.base_url() + "/v1"};
  auto& n = start_node("web", args);
  definition d{"audit"};
  d.step("write", "log", {{"line", "bought a sword"}}).timeout(60s);
  auto req = admin_request(n, "/api/sagas");
  ASSERT_NE(req.port, 0);
  req.method = "POST";
  req.headers.emplace_back("Authorization", "Bearer s3cret");
  req.body = json{{"id", "audit-1"}, {"definition", d.to_json()}}.dump();
  auto res = admin::send(req);
  ASSERT_TRUE(res) << describe(res.error());
  ASSERT_EQ(res->status, 201u) << res->body;
  ASSERT_TRUE(log_service.wait_requests(1, 30s));
  n.proc->signal(SIGKILL);
  ASSERT_TRUE(n.proc->wait_exit(30s));
  // The same node id again: it takes its unfinished sagas back at once and
  // sends the step that was in flight again, under the same key.
  start_node("web", args);
  ASSERT_TRUE(log_service.wait_requests(2, 30s));
  EXPECT_TRUE(await_status("audit-1", saga_status::completed))
    << where_is("audit-1");
  auto reqs = log_service.requests();
  ASSERT_GE(reqs.size(), 2u);
  for (const auto& q : reqs) {
    EXPECT_EQ(q.target, "/v1/write");
    EXPECT_EQ(q.headers.at("saga-id"), "audit-1");
    EXPECT_EQ(q.headers.at("idempotency-key"), "audit-1/write/execute");
    EXPECT_EQ(json::parse(q.body), (json{{"line", "bought a sword"}}));
  }
}

TEST_F(operate_test, a_node_reads_http_participants_from_a_file) {
  http_test_server payments{[](const http_test_server::request&) {
    http_test_server::response r;
    r.body = R"({"paid":true})";
    return r;
  }};
  const auto file = ::testing::TempDir() + "operate-participants.json";
  std::ofstream{file} << json{{"payments",
                               {{"base_url", payments.base_url() + "/v2"},
                                {"headers",
                                 {{"Authorization", "Bearer p4y"}}}}}}
                           .dump();
  auto& n = start_node("web",
                       {"--coordinate", "--http-participants-file=" + file});
  // A definition as any client writes it: the step names its endpoint.
  auto d = definition::from_json(json::parse(R"({"name": "pay", "steps": [
    {"name": "charge", "participant": "payments", "timeout_ms": 30000,
     "http": {"execute": {"method": "PUT", "path": "/charges/c-1"}}}]})"));
  ASSERT_TRUE(d) << describe(d.error());
  auto r = run(n, *d);
  ASSERT_TRUE(r.success) << describe(r.error);
  auto reqs = payments.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/v2/charges/c-1");
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Bearer p4y");
  // A typo in the file: the node refuses to start, naming it.
  std::ofstream{file}
    << R"({"payments": {"base_url": "http://h", "timout_ms": 5}})";
  auto args = base_args("bad");
  args.push_back("--http-participants-file=" + file);
  child_process bad{SAGA_NODE_EXE, args};
  auto status = bad.wait_exit(60s);
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_TRUE(bad.wait_for_line("participant 'payments': unknown field "
                                "'timout_ms'",
                                10s));
  // And an entry of --http-participants that is not name=URL.
  args = base_args("bad");
  args.push_back("--http-participants=log");
  child_process no_url{SAGA_NODE_EXE, args};
  status = no_url.wait_exit(60s);
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_TRUE(no_url.wait_for_line("--http-participants: 'log' is not "
                                   "name=URL",
                                   10s));
}

TEST_F(operate_test, sagas_start_over_http_and_with_sagactl_by_client_id) {
  auto& n = start_ops_node("ops");
  auto purchase = demo::make_purchase("p", "sword", 10).to_json();
  // The README's example definition.
  const std::string file = SAGA_SOURCE_DIR "/demo/purchase.json";
  // sagactl start --wait: the id, and the result.
  auto started = sagactl({"--token", "s3cret", "start", "-f", file, "--id",
                          "buy-1", "--business-key", "cart-1", "--wait"});
  EXPECT_EQ(started.exit_code, 0) << started.output;
  EXPECT_NE(started.output.find("buy-1: started; state completed"),
            std::string::npos)
    << started.output;
  // Again: nothing starts; its outcome is printed.
  auto again = sagactl(
    {"--token", "s3cret", "start", "-f", file, "--id", "buy-1", "--wait"});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("buy-1: exists; state completed"),
            std::string::npos)
    << again.output;
  auto events = history("buy-1");
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const event& ev) {
                            return ev.type == event_type::saga_started;
                          }),
            1);
  EXPECT_EQ(json::parse(events.front().data).value("business_key", ""),
            "cart-1");
  // A wrong token: exit 5, nothing started.
  auto refused = sagactl(
    {"--token", "nope", "start", "-f", file, "--id", "buy-2"});
  EXPECT_EQ(refused.exit_code, 5) << refused.output;
  // Over HTTP: 201 with the result within the wait.
  auto req = admin_request(n, "/api/sagas");
  ASSERT_NE(req.port, 0);
  req.method = "POST";
  req.headers.emplace_back("Authorization", "Bearer s3cret");
  req.timeout = 20s;
  req.body
    = json{{"id", "buy-3"}, {"wait", "10s"}, {"definition", purchase}}.dump();
  auto res = admin::send(req);
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(res->status, 201u) << res->body;
  auto body = json::parse(res->body);
  EXPECT_EQ(body.value("id", ""), "buy-3");
  EXPECT_EQ(body.value("state", ""), "completed") << res->body;
  EXPECT_TRUE(body.value("success", false)) << res->body;
  // Without a wait: 201 once it exists, with a made id.
  req.body = json{{"definition", purchase}}.dump();
  res = admin::send(req);
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(res->status, 201u) << res->body;
  auto made = json::parse(res->body).value("id", "");
  EXPECT_EQ(made.rfind("s-", 0), 0u) << res->body;
  EXPECT_TRUE(await_status(made, saga_status::completed));
  // An unknown participant: 400 naming it, nothing persisted.
  definition who{"who"};
  who.step("pay", "nobody-hosts-this");
  req.body = json{{"id", "buy-4"}, {"definition", who.to_json()}}.dump();
  res = admin::send(req);
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(res->status, 400u) << res->body;
  EXPECT_NE(res->body.find("nobody-hosts-this"), std::string::npos);
  EXPECT_TRUE(history("buy-4").empty());
  EXPECT_TRUE(history("buy-2").empty());
}

TEST_F(operate_test, idle_admin_connections_close_after_the_configured_time) {
  auto& n = start_ops_node("idle", {"--admin-idle-timeout=200ms"});
  auto req = admin_request(n, "/healthz");
  ASSERT_NE(req.port, 0);
  // A client that connects and sends nothing: the node closes it long
  // before the 10 s default would (the read below gives up after 8 s).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(req.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval bound{8, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  char byte = 0;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0) << "the idle connection stayed open";
  ::close(fd);
}

TEST_F(operate_test, an_operator_aborts_a_running_saga) {
  // Every step takes 3 s: the saga is still running when the abort comes.
  auto& n = start_ops_node("slow", {"--step-delay=3s"});
  definition d{"slow-purchase"};
  d.step("debit", "account", {{"player", "q"}, {"amount", 5}})
    .action("debit")
    .timeout(20s);
  d.step("grant", "inventory", {{"player", "q"}, {"item", "bow"}})
    .action("grant")
    .timeout(20s);
  auto result = std::async(std::launch::async, [&] { return run(n, d); });
  // The saga is listed as running once its first event is durable.
  std::string id;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (id.empty() && std::chrono::steady_clock::now() < deadline) {
    auto page
      = json::parse(sagactl({"--json", "list", "--state", "running"}).output,
                    nullptr, false);
    if (page.is_object() && !page["sagas"].empty())
      id = page["sagas"][0]["id"].get<std::string>();
  }
  ASSERT_FALSE(id.empty());
  auto aborted = sagactl({"--token", "s3cret", "abort", id, "--by", "bob"});
  EXPECT_EQ(aborted.exit_code, 0) << aborted.output;
  EXPECT_NE(aborted.output.find("compensating"), std::string::npos)
    << aborted.output;
  ASSERT_EQ(result.wait_for(60s), std::future_status::ready);
  auto r = result.get();
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  EXPECT_TRUE(is(r.error, errc::aborted)) << describe(r.error);
  auto events = history(id);
  auto turned = std::find_if(events.begin(), events.end(), [](const event& ev) {
    return ev.type == event_type::compensation_started;
  });
  ASSERT_NE(turned, events.end());
  EXPECT_EQ(json::parse(turned->data)["by"], "bob");
  EXPECT_NE(turned->error.find("aborted by operator 'bob'"), std::string::npos);
  // Nothing is left debited.
  EXPECT_EQ(read_hash(redis_url(), "shop:debits").count(id), 0u);
  // An ended saga cannot be aborted (exit 1), an unknown one is named (3).
  EXPECT_EQ(sagactl({"--token", "s3cret", "abort", id}).exit_code, 1);
  auto unknown = sagactl({"show", "no-such-saga"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;
  EXPECT_NE(unknown.output.find("no-such-saga"), std::string::npos);
}

} // namespace
} // namespace saga::test
