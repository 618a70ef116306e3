// Sagas across real node processes: remote participants, nodes that die or
// hang in mid-step, coordinator failover and fencing, restarts.

#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <future>
#include <set>
#include <string>
#include <sys/wait.h>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <hiredis/hiredis.h>

#include "demo/bench_participants.hpp"
#include "demo/shop.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/redis_url.hpp"

#include "tests/cluster_fixture.hpp"

namespace saga::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> items(size_t n, const std::string& prefix = "sword") {
  std::vector<std::string> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back(prefix + "-" + std::to_string(i));
  return result;
}

size_t count(const std::vector<saga_result>& rs, saga_status st) {
  size_t n = 0;
  for (const auto& r : rs) {
    n += r.state == st ? 1 : 0;
    if (st == saga_status::completed && r.state != st)
      std::cout << "saga " << r.saga_id << " ended " << to_string(r.state)
                << ": " << describe(r.error) << std::endl;
  }
  return n;
}

TEST_F(cluster_fixture, saga_on_a_uses_participants_on_b_and_c) {
  start_node("b", {"--participants=account"});
  start_node("c", {"--participants=inventory,purchase_log"});
  auto& a = start_node("a", {"--coordinate"});
  auto gw = gateway(a);
  auto wanted = items(20);
  wanted.push_back("sold-out-shield"); // fails on c: compensated on b
  auto results = run_purchases(gw, wanted).get();
  ASSERT_EQ(results.size(), wanted.size());
  for (const auto& r : results)
    EXPECT_TRUE(is_terminal(r.state)) << describe(r.error);
  EXPECT_EQ(count(results, saga_status::completed), 20u);
  EXPECT_EQ(count(results, saga_status::compensated), 1u);
  auto ids = await_all_terminal(10s);
  EXPECT_EQ(ids.size(), wanted.size());
  expect_consistent(ids);
}

TEST_F(cluster_fixture, participant_node_killed_in_mid_step) {
  auto& b1 = start_node("b1", {"--participants=account", "--step-delay=300ms"});
  start_node("b2", {"--participants=account"});
  start_node("c", {"--participants=inventory,purchase_log"});
  auto& a = start_node("a", {"--coordinate"});
  auto pending = run_purchases(gateway(a), items(20));
  ASSERT_TRUE(b1.proc->wait_for_line("shop: step debit", 20s));
  b1.proc->signal(SIGKILL);
  auto results = pending.get();
  EXPECT_EQ(count(results, saga_status::completed), 20u)
    << "b2 serves the debits b1 took down with it";
  expect_consistent(await_all_terminal(30s));
}

TEST_F(cluster_fixture, participant_node_hung_with_sigstop) {
  auto& b1 = start_node("b1", {"--participants=account", "--step-delay=300ms"});
  start_node("b2", {"--participants=account"});
  start_node("c", {"--participants=inventory,purchase_log"});
  auto& a = start_node("a", {"--coordinate"});
  auto pending = run_purchases(gateway(a), items(20));
  ASSERT_TRUE(b1.proc->wait_for_line("shop: step debit", 20s));
  b1.proc->signal(SIGSTOP);
  // Every saga finishes on b2 while b1 hangs (step timeouts, heartbeats).
  auto results = pending.get();
  EXPECT_EQ(count(results, saga_status::completed), 20u);
  auto ids = await_all_terminal(30s);
  // b1 wakes up and finishes its stale debit: its barrier record was
  // settled by b2 meanwhile, so it may not apply its effects again. Either
  // the barrier refuses it (another claim settled the operation) or, if a
  // later attempt reached b1 while it hung, that attempt superseded it and
  // b1 drops the outcome before it reaches the barrier (found by
  // scripts/test.sh under load: the test awaited the first way only).
  b1.proc->signal(SIGCONT);
  EXPECT_TRUE(b1.proc->wait_for_line("this outcome is dropped", 30s));
  expect_consistent(ids);
}

TEST_F(cluster_fixture, coordinator_killed_under_load_survivor_takes_over) {
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=100ms"});
  auto& b = start_node("b", {"--coordinate"});
  auto& a = start_node("a", {"--coordinate"});
  auto pending = run_purchases(gateway(a), items(30));
  // Under load: several sagas in flight when a dies.
  ASSERT_TRUE(p.proc->wait_for_lines("shop: step debit", 6, 20s));
  auto killed = std::chrono::steady_clock::now();
  a.proc->signal(SIGKILL);
  auto line = b.proc->wait_for_line("sagas of node a", 30s);
  ASSERT_TRUE(line) << "b did not take over a's sagas";
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - killed);
  std::cout << "failover: " << took.count() << " ms from SIGKILL to: " << *line
            << std::endl;
  pending.get(); // a's clients lost their connection: errors
  auto ids = await_all_terminal(60s);
  EXPECT_GE(ids.size(), 6u);
  expect_consistent(ids);
}

TEST_F(cluster_fixture, coordinator_paused_past_its_lease_is_fenced) {
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=300ms"});
  auto& b = start_node("b", {"--coordinate"});
  auto& a = start_node("a", {"--coordinate"});
  auto pending = run_purchases(gateway(a), items(10));
  ASSERT_TRUE(p.proc->wait_for_line("shop: step debit", 20s));
  a.proc->signal(SIGSTOP);
  ASSERT_TRUE(b.proc->wait_for_line("sagas of node a", 30s));
  auto ids = await_all_terminal(60s);
  // a wakes up with sagas in flight that b owns now: every append it tries
  // is refused (fenced), and it stops driving them.
  a.proc->signal(SIGCONT);
  EXPECT_TRUE(a.proc->wait_for_line("fenced", 30s))
    << "a never tried to touch a saga it lost";
  EXPECT_TRUE(a.proc->wait_for_line("had lost its lease", 30s));
  a.proc->signal(SIGTERM);
  EXPECT_TRUE(a.proc->wait_exit(30s));
  pending.wait();
  // Nothing a did after waking changed any history or any effect; the
  // purchases that reached a while it was paused started afterwards and
  // ended too.
  auto after = await_all_terminal(30s);
  EXPECT_GE(after.size(), ids.size());
  expect_consistent(after);
}

TEST_F(cluster_fixture, node_restarted_with_the_same_id_resumes_its_sagas) {
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=200ms"});
  auto& a = start_node("a", {"--coordinate"});
  auto first_epoch = a.epoch;
  auto pending = run_purchases(gateway(a), items(10));
  ASSERT_TRUE(p.proc->wait_for_lines("shop: step debit", 4, 20s));
  a.proc->signal(SIGKILL);
  pending.wait();
  auto& again = start_node("a", {"--coordinate"});
  EXPECT_GT(again.epoch, first_epoch);
  EXPECT_TRUE(again.proc->wait_for_line("earlier incarnations", 5s));
  auto ids = await_all_terminal(60s);
  EXPECT_GE(ids.size(), 1u);
  expect_consistent(ids);
}

// -- no orphan sagas (issue 17, item 5) ------------------------------------------

saga_result run_text(caf::actor_system& sys, const gateway_actor& gw,
                     const std::string& text);

/// Sagas started on one gateway, `window` at a time, until stopped: a client
/// that keeps a node busy across the moment the test replaces the node.
struct load {
  std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(
    false);
  std::future<std::vector<saga_result>> results;
};

load start_load(caf::actor_system& sys, const gateway_actor& gw, size_t window,
                const std::string& prefix) {
  load l;
  auto done = std::make_shared<std::promise<std::vector<saga_result>>>();
  l.results = done->get_future();
  sys.spawn(
    [gw, window, prefix, done, stop = l.stop](caf::event_based_actor* self) {
      auto results = std::make_shared<std::vector<saga_result>>();
      auto outstanding = std::make_shared<size_t>(0);
      auto next = std::make_shared<size_t>(0);
      auto finish = [=] {
        done->set_value(std::move(*results));
        self->quit();
      };
      auto send_one = std::make_shared<std::function<void()>>();
      *send_one = [=] {
        auto def = demo::make_purchase("p", prefix + std::to_string((*next)++),
                                       10)
                     .to_json()
                     .dump();
        ++*outstanding;
        auto on_result = [=](saga_result r) {
          results->push_back(std::move(r));
          --*outstanding;
          if (!stop->load())
            (*send_one)();
          else if (*outstanding == 0)
            finish();
        };
        self->request(gw, std::chrono::seconds{120}, run_atom::value, def)
          .then([=](saga_result& r) { on_result(std::move(r)); },
                [=](caf::error& err) {
                  saga_result r;
                  r.error = std::move(err);
                  on_result(std::move(r));
                });
      };
      // A node that exits answers nothing more: the load on it ends.
      self->monitor(gw);
      self->set_down_handler([=](caf::down_msg& msg) {
        stop->store(true);
        for (; *outstanding > 0; --*outstanding) {
          saga_result r;
          r.error = msg.reason;
          results->push_back(std::move(r));
        }
        *send_one = nullptr; // breaks the cycle through the closure
        finish();
      });
      for (size_t i = 0; i < window; ++i)
        (*send_one)();
    });
  return l;
}

/// Returns the results of `l` after stopping it.
std::vector<saga_result> stop_load(load& l) {
  l.stop->store(true);
  return l.results.get();
}

// Found under load (two copies of this test and a busy loop on 2 cores):
// the new process walked its index before its first heartbeat had
// registered its epoch (the heartbeats missed their I/O timeout), so the
// old one still listed sagas behind the walk; 3-5 of ~170 stayed running
// under the replaced epoch. node::start() now waits for its lease.
TEST_F(cluster_fixture,
       overlapping_incarnations_of_one_node_id_leave_no_orphan) {
  // A supervisor replacing a pod: the new process with the same node id
  // starts while the old one still serves clients, twice in a row. The old
  // one may take runs until it notices (its next lease renewal), but every
  // saga that got a history must be driven to its end by exactly one
  // incarnation: none may stay running under a replaced epoch.
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=20ms"});
  start_node("a", {"--coordinate"});
  std::vector<saga_result> results;
  for (int round = 0; round < 3; ++round) {
    auto old = std::move(nodes_.at("a"));
    nodes_.erase("a");
    auto l = start_load(*client_, gateway(old), 16,
                        "round" + std::to_string(round) + "-");
    // Under load: sagas in every phase when the next incarnation comes.
    auto seen = p.proc->line_count();
    ASSERT_TRUE(p.proc->wait_for_line("shop: step debit", 20s, seen));
    ASSERT_TRUE(
      p.proc->wait_for_lines("shop: step debit", 10 * (round + 1), 20s));
    auto& fresh = start_node("a", {"--coordinate"});
    EXPECT_GT(fresh.epoch, old.epoch);
    // The old process notices at its next renewal and exits with 3.
    auto status = old.proc->wait_exit(30s);
    ASSERT_TRUE(status) << "the replaced process did not stop";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3)
      << "wait status " << *status;
    auto part = stop_load(l);
    results.insert(results.end(), part.begin(), part.end());
    // Before the next incarnation (which would adopt every older epoch's
    // leftovers): all sagas so far end while this one lives.
    await_all_terminal(30s);
  }
  // One more load on the last incarnation, so it is shown to work.
  auto last = start_load(*client_, gateway(nodes_.at("a")), 4, "last-");
  auto seen = p.proc->line_count();
  ASSERT_TRUE(p.proc->wait_for_line("shop: step debit", 20s, seen));
  auto tail = stop_load(last);
  EXPECT_EQ(count(tail, saga_status::completed), tail.size());
  size_t fenced = 0;
  for (const auto& r : results)
    fenced += is(r.error, errc::fenced) ? 1 : 0;
  std::cout << results.size() << " runs on replaced processes, " << fenced
            << " of them fenced" << std::endl;
  // Every saga with a history ends: nothing stays with a dead incarnation.
  auto ids = await_all_terminal(60s);
  EXPECT_GE(ids.size(), 30u);
  expect_consistent(ids);
  // And nothing stays listed for a node that will never walk it again.
  EXPECT_TRUE(eventually(
    [&] {
      return redis_int({"ZCARD", "saga:unfinished:{a}"}) == 0;
    },
    30s))
    << redis_int({"ZCARD", "saga:unfinished:{a}"}) << " sagas still listed";
}

TEST_F(cluster_fixture,
       restarted_coordinator_holds_runs_until_it_knows_the_cluster) {
  // A client that reconnects to a restarted coordinator sends its run the
  // moment the port accepts, before the node's first membership pass has
  // found the participants: the run must wait, not be refused.
  start_node("p", {"--participants=account,inventory,purchase_log"});
  auto port = std::to_string(free_port());
  start_node("a", {"--coordinate", "--port=" + port});
  auto def = demo::make_purchase("p", "restart", 10).to_json().dump();
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("restart " + std::to_string(round));
    nodes_.at("a").proc->signal(SIGKILL);
    ASSERT_TRUE(nodes_.at("a").proc->wait_exit(10s));
    auto argv = base_args("a");
    argv.insert(argv.end(), {"--coordinate", "--port=" + port});
    node_process n;
    n.id = "a";
    n.proc = std::make_unique<child_process>(SAGA_NODE_EXE, argv,
                                             log_path("a"));
    // The port accepting is the event; nothing announces it: poll it.
    caf::expected<gateway_actor> gw{
      caf::make_error(caf::sec::cannot_connect_to_node)};
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!gw && std::chrono::steady_clock::now() < deadline) {
      gw = client_->middleman().remote_actor<gateway_actor>(
        "127.0.0.1", static_cast<uint16_t>(std::stoi(port)));
      if (!gw)
        std::this_thread::sleep_for(2ms);
    }
    ASSERT_TRUE(gw) << describe(gw.error());
    auto r = run_text(*client_, *gw, def);
    EXPECT_FALSE(is(r.error, errc::unknown_participant)) << describe(r.error);
    EXPECT_EQ(r.state, saga_status::completed) << describe(r.error);
    auto line = n.proc->wait_for_line("ready port=", 30s);
    ASSERT_TRUE(line);
    nodes_.erase("a");
    nodes_.emplace("a", std::move(n));
  }
}

/// A Redis that survives a restart with every acknowledged write.
class cluster_aof_fixture : public cluster_fixture {
protected:
  cluster_aof_fixture() {
    redis_args_ = {"--appendonly", "yes", "--appendfsync", "always"};
  }
};

TEST_F(cluster_aof_fixture,
       redis_outage_longer_than_the_lease_moves_no_live_saga) {
  // Redis goes away for longer than the lease with sagas in flight on a,
  // and comes back from its AOF: every lease has run out meanwhile. b must
  // not take a's sagas before a could renew: a keeps them all.
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=200ms"});
  auto& b = start_node("b", {"--coordinate"});
  auto& a = start_node("a", {"--coordinate"});
  auto pending = run_purchases(gateway(a), items(20));
  ASSERT_TRUE(p.proc->wait_for_lines("shop: step debit", 3, 20s));
  redis_->stop(true); // SIGKILL: the AOF (fsync always) has every write
  // The outage itself: it must outlast the lease (1 s).
  std::this_thread::sleep_for(2500ms);
  ASSERT_TRUE(redis_->start());
  auto results = pending.get();
  for (const auto& r : results)
    EXPECT_FALSE(is(r.error, errc::fenced))
      << "saga " << r.saga_id << " was taken from a live node";
  EXPECT_EQ(count(results, saga_status::completed), 20u);
  // The outage did outlast a's lease (so b could have taken its sagas).
  EXPECT_TRUE(a.proc->wait_for_line("had lost its lease", 30s));
  EXPECT_FALSE(b.proc->wait_for_line("sagas of node a", 1ms))
    << "b adopted sagas of a live node";
  expect_consistent(await_all_terminal(60s));
}

TEST_F(cluster_fixture, clean_step_down_keeps_ended_indexes_and_counts_exact) {
  // a stops cleanly (SIGTERM) with sagas in flight; b takes the rest over at
  // once. Afterwards every ended saga is in its ended index and counted
  // exactly once, and none is listed as unfinished.
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=50ms"});
  start_node("b", {"--coordinate"});
  auto& a = start_node("a", {"--coordinate"});
  auto pending = run_purchases(gateway(a), items(40));
  ASSERT_TRUE(p.proc->wait_for_lines("shop: step debit", 12, 20s));
  // Every saga whose debit began had its start journaled first
  // (write-ahead), so each must be among the sagas found afterwards. Count
  // distinct ids: a debit prints "begins" and "ends", and a retried one
  // begins twice, so 12 lines are not 12 sagas.
  std::set<std::string> debited;
  for (const auto& line : p.proc->lines())
    if (auto at = line.find("shop: step debit of saga ");
        at != std::string::npos && line.find(" begins") != std::string::npos)
      debited.insert(line.substr(at + 25, line.find(" begins") - at - 25));
  a.proc->signal(SIGTERM);
  ASSERT_TRUE(a.proc->wait_exit(30s));
  pending.wait();
  auto ids = await_all_terminal(60s);
  ASSERT_FALSE(debited.empty());
  for (const auto& id : debited)
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end())
      << "saga " << id << " began its debit but has no journal";
  std::map<std::string, long long> ended;
  for (const auto& id : ids) {
    auto st = status_of(id);
    auto state = st == saga_status::completed     ? "completed"
                 : st == saga_status::compensated ? "compensated"
                                                  : "failed";
    ++ended[state];
    // Indexed by the writer's follow-up, in another process: poll.
    EXPECT_TRUE(eventually(
      [&] {
        return redis_int(
                 {"ZSCORE", std::string{"saga:ended:{"} + state + "}", id})
               > 0;
      },
      10s))
      << "saga " << id << " ended " << state << " but is not in its index";
  }
  EXPECT_TRUE(eventually(
    [&] {
      return redis_int({"ZCARD", "saga:unfinished:{a}"}) == 0
             && redis_int({"ZCARD", "saga:unfinished:{b}"}) == 0;
    },
    10s));
  std::map<std::string, long long> counted;
  for (const auto& [field, value] : redis_hash("saga:counts"))
    counted[field.substr(0, field.find(':'))] += std::stoll(value);
  EXPECT_EQ(counted["started"], static_cast<long long>(ids.size()));
  for (const auto& [state, n] : ended)
    EXPECT_EQ(counted[state], n) << state;
}

// -- static peers, bad configuration, bad requests -----------------------------

/// Starts saga_node with exactly `args` (no --redis: no directory, leases
/// or discovery), logging beside the test binary like start_node, and waits
/// for its ready line.
node_process start_plain_node(const std::string& id,
                              std::vector<std::string> args) {
  std::vector<std::string> argv{"--node-id=" + id, "--heartbeat-interval=200ms",
                                "--connection-timeout=1s"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  node_process n;
  n.id = id;
  n.proc = std::make_unique<child_process>(SAGA_NODE_EXE, argv,
                                           std::string{"cluster-"}
                                             + (test ? test->name() : "x") + "-"
                                             + id + ".log");
  auto line = n.proc->wait_for_line("ready port=", 30s);
  if (!line) {
    ADD_FAILURE() << "node " << id << " did not start; its output:";
    for (const auto& l : n.proc->lines())
      ADD_FAILURE() << "  " << l;
    throw std::runtime_error("node " + id + " did not start");
  }
  n.port = static_cast<uint16_t>(
    std::stoul(line->substr(line->find("port=") + 5)));
  n.epoch = std::stoull(line->substr(line->find("epoch=") + 6));
  return n;
}

/// Runs saga_node with `args` and expects it to refuse them: exit status 2
/// and a "saga_node: ..." line that contains `needle`.
void expect_rejected(const std::vector<std::string>& args,
                     const std::string& needle) {
  std::string shown;
  for (const auto& a : args)
    shown += " " + a;
  SCOPED_TRACE("saga_node" + shown);
  child_process proc{SAGA_NODE_EXE, args};
  auto status = proc.wait_exit(30s);
  ASSERT_TRUE(status) << "saga_node did not exit";
  EXPECT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  if (WIFEXITED(*status)) {
    EXPECT_EQ(WEXITSTATUS(*status), 2);
  }
  // The output ends with the exit (EOF): every line is there.
  auto line = proc.wait_for_line("saga_node: ", 10s);
  ASSERT_TRUE(line) << "no error line";
  EXPECT_NE(line->find(needle), std::string::npos)
    << "the error line does not name '" << needle << "': " << *line;
  EXPECT_FALSE(proc.wait_for_line("ready port=", 1ms))
    << "a rejected node must not serve";
}

/// Sends run(text) to `gw` and returns the saga's result; an error answer
/// becomes a result whose `error` is set.
saga_result run_text(caf::actor_system& sys, const gateway_actor& gw,
                     const std::string& text) {
  saga_result result;
  caf::scoped_actor self{sys};
  self->request(gw, 30s, run_atom::value, text)
    .receive([&](saga_result& r) { result = std::move(r); },
             [&](caf::error& err) { result.error = std::move(err); });
  return result;
}

TEST_F(cluster_fixture, static_peers_without_redis_discovery) {
  // Both nodes journal to Redis (the shop's effects need it) but neither
  // uses the directory: the coordinator finds the participants through its
  // static peer list only. TearDown stops (SIGKILL) what nodes_ holds.
  auto& p
    = nodes_
        .emplace("p", start_plain_node("p", {"--journal=" + redis_url(),
                                             "--participants=account,inventory,"
                                             "purchase_log"}))
        .first->second;
  auto& a = nodes_
              .emplace("a", start_plain_node("a", {"--journal=" + redis_url(),
                                                   "--coordinate",
                                                   "--peers=127.0.0.1:"
                                                     + std::to_string(p.port)}))
              .first->second;
  auto gw = gateway(a);
  auto wanted = items(10);
  wanted.push_back("sold-out-shield"); // fails on p: compensated
  auto results = run_purchases(gw, wanted).get();
  ASSERT_EQ(results.size(), wanted.size());
  for (const auto& r : results)
    EXPECT_TRUE(is_terminal(r.state)) << describe(r.error);
  EXPECT_EQ(count(results, saga_status::completed), 10u);
  EXPECT_EQ(count(results, saga_status::compensated), 1u);
  auto ids = await_all_terminal(10s);
  EXPECT_EQ(ids.size(), wanted.size());
  expect_consistent(ids);
  // Neither node registered in (or leased from) the directory.
  auto c = redis_connection::connect(*parse_redis_url(redis_url()), 2s);
  ASSERT_TRUE(c) << describe(c.error());
  for (std::string key : {"saga:nodes", "saga:lease:{a}", "saga:lease:{p}",
                          "saga:node:{a}", "saga:node:{p}"}) {
    auto n = c->command({"EXISTS", key});
    ASSERT_TRUE(n) << describe(n.error());
    EXPECT_EQ((*n)->integer, 0) << key << " exists";
  }
}

TEST_F(cluster_fixture, saga_node_rejects_bad_configuration_with_status_2) {
  expect_rejected({"--node-id=bad{id}"}, "bad{id}");
  expect_rejected({"--node-id=x", "--peers=nohostport"}, "nohostport");
  expect_rejected({"--node-id=x", "--peers=127.0.0.1:0"}, "127.0.0.1:0");
  expect_rejected({"--node-id=x", "--peers=127.0.0.1:99999"},
                  "127.0.0.1:99999");
  expect_rejected({"--node-id=x", "--redis=http://x"}, "http://x");
  expect_rejected({"--node-id="}, "--node-id");
  expect_rejected({"--node-id=x", "--lease=10ms"}, "lease");
  expect_rejected({"--node-id=x", "--heartbeat-interval=2s",
                   "--connection-timeout=1s"},
                  "heartbeat_interval");
  expect_rejected({"--node-id=x", "--journal=" + redis_url(),
                   "--participants=bogus"},
                  "bogus");
}

TEST_F(cluster_fixture,
       a_client_chosen_id_starts_one_saga_across_a_coordinator_kill) {
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=1s"});
  auto& b = start_node("b", {"--coordinate"});
  auto& a = start_node("a", {"--coordinate"});
  auto def = demo::make_purchase("p", "sword", 10);
  def.id("order-7").business_key("cart-7");
  const auto text = def.to_json().dump();
  // The client starts it on a; the reply will be lost with a.
  auto lost = std::make_shared<std::promise<caf::error>>();
  auto on_a = lost->get_future();
  client_->spawn([gw = gateway(a), text, lost](caf::event_based_actor* self) {
    self->monitor(gw);
    self->set_down_handler([=](caf::down_msg& msg) {
      lost->set_value(msg.reason);
      self->quit();
    });
    self->request(gw, 120s, run_atom::value, text)
      .then(
        [=](saga_result& r) {
          lost->set_value(r.error);
          self->quit();
        },
        [=](caf::error& err) {
          lost->set_value(err);
          self->quit();
        });
  });
  ASSERT_TRUE(p.proc->wait_for_line("shop: step debit", 20s));
  // Started again on b while a runs it: no second saga, b says so.
  auto while_a_runs = run_text(*client_, gateway(b), text);
  EXPECT_TRUE(is(while_a_runs.error, errc::in_progress))
    << describe(while_a_runs.error);
  EXPECT_EQ(while_a_runs.saga_id, "order-7");
  EXPECT_EQ(while_a_runs.state, saga_status::running);
  a.proc->signal(SIGKILL);
  ASSERT_EQ(on_a.wait_for(60s), std::future_status::ready);
  EXPECT_TRUE(on_a.get()) << "a answered although it was killed mid-saga";
  // The client asks b by starting the same id until it has the result: b
  // answers in_progress until it adopted the saga, then joins it.
  saga_result r;
  EXPECT_TRUE(eventually(
    [&] {
      r = run_text(*client_, gateway(b), text);
      return !is(r.error, errc::in_progress);
    },
    60s))
    << describe(r.error);
  EXPECT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(r.saga_id, "order-7");
  EXPECT_EQ(r.state, saga_status::completed);
  // Exactly one saga, started once, debited once.
  EXPECT_EQ(saga_ids(), std::vector<std::string>{"order-7"});
  auto again = run_text(*client_, gateway(b), text);
  EXPECT_EQ(again.state, saga_status::completed) << describe(again.error);
  expect_consistent({"order-7"});
}

TEST_F(cluster_fixture, gateway_rejects_unknown_participants_and_bad_json) {
  start_node("p", {"--participants=account,inventory,purchase_log"});
  auto& a = start_node("a", {"--coordinate"});
  auto gw = gateway(a);
  definition who{"who"};
  who.step("pay", "nobody-hosts-this");
  auto r = run_text(*client_, gw, who.to_json().dump());
  EXPECT_TRUE(is(r.error, errc::unknown_participant)) << describe(r.error);
  EXPECT_NE(describe(r.error).find("nobody-hosts-this"), std::string::npos)
    << describe(r.error);
  EXPECT_FALSE(r.success);
  EXPECT_TRUE(r.saga_id.empty());
  // One known and one unknown participant: rejected before anything ran.
  definition mixed{"mixed"};
  mixed.step("debit", "account", {{"player", "p"}, {"amount", 1}})
    .action("debit");
  mixed.step("grant", "nobody-hosts-this");
  r = run_text(*client_, gw, mixed.to_json().dump());
  EXPECT_TRUE(is(r.error, errc::unknown_participant)) << describe(r.error);
  auto bad = run_text(*client_, gw, "{ this is not json");
  EXPECT_TRUE(is(bad.error, errc::invalid_payload)) << describe(bad.error);
  EXPECT_FALSE(bad.success);
  EXPECT_TRUE(saga_ids().empty()) << "a rejected saga left a history";
  // The node still runs sagas afterwards.
  auto ok = run_purchases(gw, items(1)).get();
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok.front().state, saga_status::completed)
    << describe(ok.front().error);
}

TEST_F(cluster_fixture,
       gateway_of_a_node_that_does_not_coordinate_refuses_run) {
  auto& p = start_node("p", {"--participants=account"});
  definition one{"one"};
  one.step("debit", "account", {{"player", "p"}, {"amount", 1}})
    .action("debit");
  auto r = run_text(*client_, gateway(p), one.to_json().dump());
  EXPECT_TRUE(is(r.error, errc::invalid_config)) << describe(r.error);
  EXPECT_TRUE(saga_ids().empty());
}

TEST_F(cluster_fixture,
       slow_execute_cannot_land_after_its_compensation_elsewhere) {
  // b1 answers its debits only after 1.5 s; each saga gives its one debit
  // attempt 300 ms. A debit that went to b1 times out with its outcome
  // unknown, and the saga compensates it, on b2 (round robin) while b1
  // still runs the execute. When b1 finishes, its debit must not land
  // after the compensation: the saga ended compensated.
  auto& b1 = start_node("b1",
                        {"--participants=account", "--step-delay=1500ms"});
  start_node("b2", {"--participants=account"});
  auto& a = start_node("a", {"--coordinate"});
  auto gw = gateway(a);
  for (int i = 0; i < 6; ++i) {
    definition d{"slow-debit"};
    d.step("debit", "account", {{"player", "p"}, {"amount", 10}})
      .action("debit")
      .timeout(300ms);
    auto r = run_text(*client_, gw, d.to_json().dump());
    EXPECT_TRUE(is_terminal(r.state)) << describe(r.error);
  }
  auto ids = await_all_terminal(30s);
  EXPECT_EQ(ids.size(), 6u);
  // The sagas whose debit b1 ran: wait (polling Redis, bounded) until b1
  // settled or gave up each of their execute claims.
  std::set<std::string> on_b1;
  for (const auto& line : b1.proc->lines())
    if (auto p = line.find("shop: step debit of saga ");
        p != std::string::npos) {
      auto id = line.substr(p + 25);
      on_b1.insert(id.substr(0, id.find(' ')));
    }
  ASSERT_FALSE(on_b1.empty()) << "no debit went to b1: nothing was tested";
  auto c = redis_connection::connect(*parse_redis_url(redis_url()), 2s);
  ASSERT_TRUE(c) << describe(c.error());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (const auto& id : on_b1) {
    for (;;) {
      auto v = c->command({"HGET", "saga:{" + id + "}:barrier", "debit/x"});
      ASSERT_TRUE(v) << describe(v.error());
      bool claimed = (*v)->type == REDIS_REPLY_STRING
                     && std::string((*v)->str, (*v)->len).rfind("R:", 0) == 0;
      if (!claimed || std::chrono::steady_clock::now() > deadline)
        break; // settled, or left claimed (fenced): either way b1 is done
    }
  }
  // b1 stops; whatever it still had in flight is gone.
  b1.proc->signal(SIGTERM);
  ASSERT_TRUE(b1.proc->wait_exit(30s));
  // One-step sagas: a completed one debited once, any other left nothing,
  // and the balance matches the debits.
  long long debited = 0;
  for (const auto& id : ids) {
    auto st = status_of(id);
    auto v = c->command({"HGET", "shop:debits", id});
    ASSERT_TRUE(v) << describe(v.error());
    bool debit = (*v)->type == REDIS_REPLY_STRING;
    if (st == saga_status::completed) {
      EXPECT_TRUE(debit) << "completed saga " << id << " has no debit";
      if (debit)
        debited += std::stoll(std::string((*v)->str, (*v)->len));
    } else {
      EXPECT_FALSE(debit) << "saga " << id << " ended " << to_string(st)
                          << " but its debit landed"
                          << (on_b1.count(id) > 0 ? " (b1 ran it)" : "");
    }
  }
  auto b = c->command({"HGET", "shop:balance", "p"});
  ASSERT_TRUE(b) << describe(b.error());
  auto balance = (*b)->type == REDIS_REPLY_STRING
                   ? std::stoll(std::string((*b)->str, (*b)->len))
                   : 0LL;
  EXPECT_EQ(balance, -debited) << "balance of p does not match the debits";
}

TEST_F(cluster_fixture,
       a_step_hung_on_its_only_node_is_compensated_there_at_once) {
  // b, the only node with "account", answers its debits after 8 s; the saga
  // gives its one debit attempt 300 ms. The compensation goes to b too: it
  // must not wait for the hung debit. Its barrier claim revokes the debit,
  // it runs on b's compensation workers, and the saga ends compensated while
  // the debit still sleeps; when the debit returns, its outcome is dropped.
  auto& b = start_node("b", {"--participants=account", "--step-delay=8s"});
  auto& a = start_node("a", {"--coordinate"});
  definition d{"hung-debit"};
  d.step("debit", "account", {{"player", "q"}, {"amount", 10}})
    .action("debit")
    .timeout(300ms)
    .compensation_timeout(2s);
  auto r = run_text(*client_, gateway(a), d.to_json().dump());
  EXPECT_EQ(r.state, saga_status::compensated) << describe(r.error);
  ASSERT_FALSE(r.saga_id.empty());
  auto ended = "shop: step debit of saga " + r.saga_id + " ends";
  for (const auto& line : b.proc->lines())
    EXPECT_EQ(line.find(ended), std::string::npos)
      << "the saga ended only after its hung debit returned";
  EXPECT_TRUE(b.proc->wait_for_line("revoked by its compensation", 10s));
  ASSERT_TRUE(b.proc->wait_for_line(ended, 30s));
  b.proc->signal(SIGTERM); // whatever b did with the late outcome is done
  ASSERT_TRUE(b.proc->wait_exit(30s));
  auto c = redis_connection::connect(*parse_redis_url(redis_url()), 2s);
  ASSERT_TRUE(c) << describe(c.error());
  auto debit = c->command({"HGET", "shop:debits", r.saga_id});
  ASSERT_TRUE(debit) << describe(debit.error());
  EXPECT_NE((*debit)->type, REDIS_REPLY_STRING) << "the revoked debit landed";
  auto balance = c->command({"HGET", "shop:balance", "q"});
  ASSERT_TRUE(balance) << describe(balance.error());
  EXPECT_NE((*balance)->type, REDIS_REPLY_STRING) << "q's balance moved";
}

// -- bad input (docs/bad-input.md) --------------------------------------------------

TEST(bad_input_node_config, every_bad_setting_is_named) {
  using change = std::function<void(node_config&)>;
  struct bad_case {
    change apply;
    errc code;
    const char* needle;
  };
  const bad_case cases[] = {
    {[](node_config& c) { c.node_id.clear(); }, errc::invalid_config,
     "node_id is empty"},
    {[](node_config& c) { c.node_id = "a b"; }, errc::invalid_config,
     "node_id 'a b' may hold only letters, digits"},
    {[](node_config& c) { c.node_id = "x{y}"; }, errc::invalid_config,
     "node_id 'x{y}'"},
    {[](node_config& c) { c.host.clear(); }, errc::invalid_config,
     "host is empty"},
    {[](node_config& c) { c.peers = {"nohostport"}; }, errc::invalid_config,
     "peer 'nohostport' is not host:port"},
    {[](node_config& c) { c.peers = {":7001"}; }, errc::invalid_config,
     "peer ':7001'"},
    {[](node_config& c) { c.peers = {"h:"}; }, errc::invalid_config,
     "peer 'h:'"},
    {[](node_config& c) { c.peers = {"h:0"}; }, errc::invalid_config,
     "peer 'h:0'"},
    {[](node_config& c) { c.peers = {"h:65536"}; }, errc::invalid_config,
     "peer 'h:65536'"},
    {[](node_config& c) { c.peers = {"h:123456"}; }, errc::invalid_config,
     "peer 'h:123456'"},
    {[](node_config& c) {
       c.peers = {"h:7001", "h:7x"};
     },
     errc::invalid_config, "peer 'h:7x'"},
    {[](node_config& c) { c.redis_url = "http://x"; }, errc::invalid_url,
     "redis_url: journal URL 'http://x': unsupported scheme"},
    {[](node_config& c) { c.admin.host.clear(); }, errc::invalid_config,
     "admin.host is empty"},
    {[](node_config& c) { c.admin.max_body = 0; }, errc::invalid_config,
     "admin.max_body must be positive"},
    {[](node_config& c) { c.admin.max_connections = 0; }, errc::invalid_config,
     "admin.max_connections must be positive"},
    {[](node_config& c) { c.admin.idle_timeout = {}; }, errc::invalid_config,
     "admin.idle_timeout must be positive"},
    {[](node_config& c) { c.lease = 99ms; }, errc::invalid_config,
     "lease must be at least 100ms"},
    {[](node_config& c) { c.remote_timeout = 0ms; }, errc::invalid_config,
     "remote_timeout must be positive"},
    {[](node_config& c) { c.heartbeat_interval = 0ms; }, errc::invalid_config,
     "heartbeat_interval must be positive and below connection_timeout"},
    {[](node_config& c) { c.connection_timeout = c.heartbeat_interval; },
     errc::invalid_config, "heartbeat_interval must be positive and below"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.needle);
    node_config cfg;
    cfg.node_id = "n1";
    c.apply(cfg);
    auto err = cfg.validate();
    EXPECT_TRUE(is(err, c.code)) << describe(err);
    EXPECT_NE(describe(err).find(c.needle), std::string::npos) << describe(err);
    // A node made from it never starts, and says why.
    node n{cfg};
    EXPECT_TRUE(is(n.start_error(), c.code)) << describe(n.start_error());
    EXPECT_TRUE(is(n.start(), c.code));
    EXPECT_EQ(n.port(), 0);
  }
  node_config ok;
  ok.node_id = "n1";
  EXPECT_FALSE(ok.validate());
  ok.admin.enabled = false;
  ok.admin.host.clear(); // unused when the admin API is off
  EXPECT_FALSE(ok.validate());
  // The node's runtime settings are checked too.
  node_config rt_bad;
  rt_bad.node_id = "n1";
  rt_bad.runtime.recovery_concurrency = 0;
  node n{rt_bad};
  EXPECT_TRUE(is(n.start_error(), errc::invalid_config));
  EXPECT_NE(describe(n.start_error()).find("recovery_concurrency"),
            std::string::npos);
}

/// One coordinating node in this process (memory journal, no Redis) with
/// participant "shop" (action "buy"), and a client actor system that
/// reaches its gateway over TCP as a peer would.
class bad_input_gateway : public ::testing::Test {
protected:
  void SetUp() override {
    node_config cfg;
    cfg.node_id = "gw";
    cfg.runtime.scheduler_threads = 2;
    node_ = std::make_unique<node>(cfg);
    node_->participant("shop").on(
      "buy",
      [this](const step_context&, const json&) {
        ++runs_;
        return step_outcome::ok();
      },
      [](const step_context&, const json&) { return step_outcome::ok(); });
    ASSERT_FALSE(node_->start()) << describe(node_->start_error());
    client_cfg_.load<caf::io::middleman>();
    add_message_types(client_cfg_);
    client_cfg_.set("scheduler.max-threads", 2);
    // Heartbeats keep the node from dropping this client as silent.
    client_cfg_.set("middleman.heartbeat-interval",
                    caf::timespan{std::chrono::milliseconds{200}});
    client_cfg_.set("middleman.connection-timeout", caf::timespan{0});
    client_ = std::make_unique<caf::actor_system>(client_cfg_);
    auto gw = client_->middleman().remote_actor<gateway_actor>("127.0.0.1",
                                                               node_->port());
    ASSERT_TRUE(gw) << describe(gw.error());
    gw_ = *gw;
  }

  void TearDown() override {
    gw_ = nullptr;
    client_.reset();
    node_.reset();
  }

  saga_result run(const std::string& text) {
    return run_text(*client_, gw_, text);
  }

  /// Sends execute (or compensate) of `cmd` for participant `name`; an
  /// error answer becomes a reply whose `error` holds its description.
  step_reply ask(bool compensate, const std::string& name,
                 const step_command& cmd, caf::error* err = nullptr) {
    step_reply result;
    caf::scoped_actor self{*client_};
    auto on_reply = [&](step_reply& r) { result = std::move(r); };
    auto on_error = [&](caf::error& e) {
      result.error = describe(e);
      if (err != nullptr)
        *err = e;
    };
    if (compensate)
      self->request(gw_, 30s, compensate_atom::value, name, cmd)
        .receive(on_reply, on_error);
    else
      self->request(gw_, 30s, execute_atom::value, name, cmd)
        .receive(on_reply, on_error);
    return result;
  }

  static step_command command(std::string action = "buy") {
    step_command cmd;
    cmd.id = "peer-1";
    cmd.saga_name = "peer";
    cmd.step = "buy";
    cmd.action = std::move(action);
    cmd.payload = "{}";
    cmd.results = "{}";
    return cmd;
  }

  uint64_t started(const std::string& definition_name) {
    return node_->rt().stats()->of(definition_name).started.load();
  }

  std::unique_ptr<node> node_;
  caf::actor_system_config client_cfg_;
  std::unique_ptr<caf::actor_system> client_;
  gateway_actor gw_;
  std::atomic<int> runs_{0};
};

TEST_F(bad_input_gateway, run_refuses_text_that_is_no_valid_definition) {
  definition unknown{"unknown"};
  unknown.step("pay", "nobody-hosts-this");
  definition dup{"dup"};
  dup.step("a", "shop").action("buy").step("a", "shop").action("buy");
  definition cycle{"cycle"};
  cycle.step("a", "shop")
    .action("buy")
    .after({"b"})
    .step("b", "shop")
    .action("buy")
    .after({"a"});
  struct bad_case {
    std::string text;
    errc code;
    std::string needle;
  };
  const bad_case cases[] = {
    {"", errc::invalid_payload, "the saga definition is not valid JSON"},
    {"{ this is not json", errc::invalid_payload,
     "the saga definition is not valid JSON"},
    {"[{\"name\": \"x\"}]", errc::invalid_payload,
     "definition JSON is not an object"},
    {"\"purchase\"", errc::invalid_payload, "definition JSON is not an object"},
    {"42", errc::invalid_payload, "definition JSON is not an object"},
    {"{\"name\": \"x\"}", errc::invalid_payload, "lacks the 'steps' array"},
    {"{\"name\": \"x\", \"steps\": []}", errc::no_steps, "'x' has no steps"},
    {"{\"name\": \"x\", \"steps\": [{\"name\": \"a\", \"participant\": "
     "\"shop\", \"timeout_ms\": \"soon\"}]}",
     errc::invalid_payload, "'timeout_ms' has the wrong type"},
    {unknown.to_json().dump(), errc::unknown_participant,
     "participant 'nobody-hosts-this', which is not registered"},
    {dup.to_json().dump(), errc::duplicate_step, "step 'a' is defined twice"},
    {cycle.to_json().dump(), errc::dependency_cycle, "cycle"},
    // 200 KB that would overflow the stack of whatever copies it.
    {"{\"name\": \"deep\", \"steps\": [{\"name\": \"buy\", "
     "\"participant\": \"shop\", \"payload\": {\"x\": "
       + std::string(100'000, '[') + std::string(100'000, ']') + "}}]}",
     errc::invalid_payload, "nests arrays and objects deeper than 256 levels"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("run '" + c.text.substr(0, 200) + "'");
    auto r = run(c.text);
    EXPECT_TRUE(is(r.error, c.code)) << describe(r.error);
    EXPECT_NE(describe(r.error).find(c.needle), std::string::npos)
      << describe(r.error);
    EXPECT_FALSE(r.success);
    EXPECT_TRUE(r.saga_id.empty()) << "a refused saga got an id";
  }
  for (const char* name : {"x", "unknown", "dup", "cycle", "deep"})
    EXPECT_EQ(started(name), 0u) << name << " was started";
  EXPECT_EQ(runs_.load(), 0);
  // The gateway still runs a good definition afterwards.
  definition good{"good"};
  good.step("buy", "shop");
  auto r = run(good.to_json().dump());
  EXPECT_TRUE(r.success) << describe(r.error);
  EXPECT_EQ(runs_.load(), 1);
}

TEST_F(bad_input_gateway,
       execute_and_compensate_refuse_what_the_node_cannot_run) {
  for (bool compensate : {false, true}) {
    SCOPED_TRACE(compensate ? "compensate" : "execute");
    caf::error err;
    auto r = ask(compensate, "nobody-hosts-this", command(), &err);
    EXPECT_TRUE(is(err, errc::no_route)) << describe(err);
    EXPECT_NE(r.error.find("node gw hosts no participant 'nobody-hosts-this'"),
              std::string::npos)
      << r.error;
  }
  struct bad_case {
    step_command cmd;
    std::string needle;
  };
  auto unknown_action = command("sell");
  auto bad_payload = command();
  bad_payload.payload = "{\"sku\": ";
  auto array_payload = command();
  array_payload.payload = "[\"sku\"]";
  auto bad_results = command();
  bad_results.results = "not json";
  auto no_id = command();
  no_id.id.clear();
  auto no_step = command();
  no_step.step.clear();
  const bad_case cases[] = {
    {unknown_action, "participant 'shop' has no action 'sell'"},
    {bad_payload, "payload of step 'buy' is not valid JSON"},
    {array_payload, "payload of step 'buy' is not a JSON object but array"},
    {bad_results, "results sent with step 'buy' are not valid JSON"},
    {no_id, "malformed step_command: no saga id"},
    {no_step, "malformed step_command: no step name"},
  };
  int n = 0;
  for (auto c : cases) {
    SCOPED_TRACE(c.needle);
    // Each refused command stands for its own saga's attempt.
    if (!c.cmd.id.empty())
      c.cmd.id = "refused-" + std::to_string(++n);
    auto r = ask(false, "shop", c.cmd);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.error.find(c.needle), std::string::npos) << r.error;
    EXPECT_TRUE(r.effects.empty());
  }
  EXPECT_EQ(runs_.load(), 0) << "a handler ran for a refused command";
  // The barrier records a refused attempt like any failed one: a copy of
  // it that arrives once the command would run (here: well-formed) gets
  // the recorded refusal, so no effect lands behind a saga told "failed".
  auto copy = command();
  copy.id = "refused-2";
  auto again = ask(false, "shop", copy);
  EXPECT_FALSE(again.ok);
  EXPECT_NE(again.error.find("payload of step 'buy' is not valid JSON"),
            std::string::npos)
    << again.error;
  EXPECT_EQ(runs_.load(), 0) << "a copy of a refused attempt ran";
  // A command of another saga runs the handler.
  auto ok = ask(false, "shop", command());
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(runs_.load(), 1);
}

TEST_F(bad_input_gateway, an_exit_message_from_a_peer_does_not_stop_it) {
  caf::anon_send_exit(gw_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gw_, caf::exit_reason::remote_link_unreachable);
  // Still serving: info answers, a saga runs.
  std::string info;
  caf::scoped_actor self{*client_};
  self->request(gw_, std::chrono::seconds{10}, info_atom::value)
    .receive([&](std::string& x) { info = std::move(x); },
             [&](caf::error& err) { info = describe(err); });
  EXPECT_NE(info.find("\"gw\""), std::string::npos) << info;
  definition d{"after-exit"};
  d.step("buy", "shop");
  EXPECT_TRUE(run(d.to_json().dump()).success);
}

TEST_F(bad_input_gateway, a_second_node_on_a_taken_port_says_so) {
  node_config cfg;
  cfg.node_id = "gw2";
  cfg.port = node_->port();
  node other{cfg};
  ASSERT_FALSE(other.start_error()) << describe(other.start_error());
  auto err = other.start();
  EXPECT_TRUE(is(err, errc::invalid_config)) << describe(err);
  EXPECT_NE(describe(err).find("cannot listen on 127.0.0.1:"
                               + std::to_string(node_->port())),
            std::string::npos)
    << describe(err);
}

TEST_F(bad_input_gateway, a_peer_answering_info_with_garbage_is_not_routed_to) {
  // A fake peer whose gateway answers `info` with text that is not a node
  // description: the node keeps asking (its membership survives every
  // answer) and routes nothing to it.
  const std::vector<std::string> answers
    = {"not json",
       "[]",
       "{\"id\": 5, \"participants\": [\"shop2\"]}",
       "{\"id\": \"\", \"participants\": [\"shop2\"]}",
       "{\"id\": {\"x\": 1}, \"participants\": [\"shop2\"]}",
       "null"};
  auto asked = std::make_shared<std::atomic<size_t>>(0);
  auto fake = client_->spawn(
    [asked, answers](gateway_actor::pointer) -> gateway_actor::behavior_type {
      return {
        [](execute_atom, const std::string&, const step_command&) {
          return step_reply{};
        },
        [](compensate_atom, const std::string&, const step_command&) {
          return step_reply{};
        },
        [](run_atom, const std::string&) { return saga_result{}; },
        [asked, answers](info_atom) {
          return answers[asked->fetch_add(1) % answers.size()];
        },
      };
    });
  auto port = client_->middleman().publish(fake, 0, "127.0.0.1");
  ASSERT_TRUE(port) << describe(port.error());
  node_config cfg;
  cfg.node_id = "gw3";
  cfg.lease = 400ms; // a pass every 100 ms
  cfg.peers = {"127.0.0.1:" + std::to_string(*port)};
  cfg.runtime.scheduler_threads = 2;
  node n{cfg};
  ASSERT_FALSE(n.start()) << describe(n.start_error());
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (asked->load() < 2 * answers.size()
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_GE(asked->load(), 2 * answers.size())
    << "the node stopped asking its peer: its membership died";
  definition d{"remote"};
  d.step("grant", "shop2");
  auto r = n.rt().execute(d).get();
  EXPECT_TRUE(is(r.error, errc::unknown_participant)) << describe(r.error);
  n.stop();
  caf::anon_send_exit(fake, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_fixture, bad_input_saga_node_names_every_bad_flag) {
  expect_rejected({"--node-id=x", "--admin=bogus"},
                  "--admin='bogus' is not host:port or off");
  expect_rejected({"--node-id=x", "--admin=:8080"}, "--admin=':8080'");
  expect_rejected({"--node-id=x", "--admin=127.0.0.1:70000"},
                  "--admin='127.0.0.1:70000'");
  expect_rejected({"--node-id=x", "--fail-rate=1.5"},
                  "--fail-rate and --slow-rate must be in [0, 1]");
  expect_rejected({"--node-id=x", "--slow-rate=-0.1"},
                  "--fail-rate and --slow-rate must be in [0, 1]");
  expect_rejected({"--node-id=x", "--remote-timeout=0s"},
                  "remote_timeout must be positive");
  expect_rejected({"--node-id=x", "--recovery-concurrency=0"},
                  "recovery_concurrency must be at least 1");
  expect_rejected({"--node-id=x", "--blocking-workers=0"},
                  "blocking_workers must be at least 1");
  // CAF's own parser: the error names the argument and CAF's reason.
  expect_rejected({"--node-id=x", "--host="}, "missing_argument");
  expect_rejected({"--node-id=x", "--journal=memory://x"},
                  "memory:// takes no host or path");
  expect_rejected({"--node-id=x", "--journal=redis://h:0"}, "port '0'");
  expect_rejected({"--node-id=x", "--no-such-option=1"},
                  "not_an_option, ({\"argument\" = \"--no-such-option=1\"})");
  expect_rejected({"--node-id=x", "--lease=soon"},
                  "unexpected_character, ({\"argument\" = \"--lease=soon\"})");
  expect_rejected({"--node-id=x", "--port=70000"},
                  "integer_overflow, ({\"argument\" = \"--port=70000\"})");
}

// -- on a Redis Cluster (issue 22) -----------------------------------------------

/// The nodes keep their journal, directory and leases in this test
/// program's Redis Cluster (3 masters, 3 replicas), through
/// redis+cluster://.
class on_redis_cluster : public cluster_fixture {
protected:
  void SetUp() override {
    on_redis_cluster_ = true;
    cluster_fixture::SetUp();
  }
};

/// Returns a three-step saga of the bench participants (no Redis effects:
/// an atomic effect must stay in its saga's slot on a cluster).
std::string bench_saga_json() {
  definition d{"bench-on-cluster"};
  for (int i = 1; i <= 3; ++i)
    d.step("s" + std::to_string(i), demo::bench_participant_name(i))
      .action(i == 3 ? "last" : "op")
      .timeout(30s);
  return d.to_json().dump();
}

TEST_F(on_redis_cluster, coordinator_killed_under_load_survivor_takes_over) {
  // Every command the participants answer comes late (0-200 ms), so sagas
  // are in flight when `a` dies.
  auto& p = start_node("p", {"--participants=bench", "--chaos-delay-rate=1",
                             "--chaos-max-delay=200ms"});
  auto& b = start_node("b", {"--coordinate"});
  auto& a = start_node("a", {"--coordinate"});
  (void) p;
  std::vector<std::string> defs(40, bench_saga_json());
  auto pending = run_definitions(gateway(a), defs);
  auto ep = parse_redis_url(redis_url());
  ASSERT_TRUE(ep);
  auto redis = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(redis) << describe(redis.error());
  const auto a_index = redis_unfinished_key("a");
  ASSERT_TRUE(eventually(
    [&] {
      auto n = redis->command({"ZCARD", a_index});
      return n && (*n)->integer >= 10;
    },
    20s))
    << "a never had 10 sagas in flight";
  a.proc->signal(SIGKILL);
  // What a left unfinished: its index, read once it can change no more.
  auto left = redis->command({"ZRANGE", a_index, "0", "-1"});
  ASSERT_TRUE(left) << describe(left.error());
  ASSERT_GE((*left)->elements, 5u) << "a died with too few sagas in flight";
  ASSERT_TRUE(b.proc->wait_for_line("sagas of node a", 30s))
    << "b did not take over a's sagas";
  pending.get(); // a's clients lost their connection: errors
  size_t written = 0;
  for (size_t i = 0; i < (*left)->elements; ++i) {
    std::string id{(*left)->element[i]->str, (*left)->element[i]->len};
    // Listed but never written (a died in between): it never existed, and
    // the adoption drops its entry.
    auto exists = redis->command({"EXISTS", redis_events_key(id)});
    ASSERT_TRUE(exists) << describe(exists.error());
    if ((*exists)->integer == 0)
      continue;
    ++written;
    EXPECT_TRUE(eventually([&] { return is_terminal(status_of(id)); }, 60s))
      << id << " never ended";
  }
  EXPECT_GE(written, 1u);
  EXPECT_TRUE(eventually(
    [&] {
      auto n = redis->command({"ZCARD", a_index});
      return n && (*n)->integer == 0;
    },
    30s));
}

} // namespace
} // namespace saga::test
