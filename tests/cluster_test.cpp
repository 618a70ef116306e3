// Sagas across real node processes: remote participants, nodes that die or
// hang in mid-step, coordinator failover and fencing, restarts.

#include <csignal>

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

/// Returns whether `proc` printed `n` lines containing `needle` in time.
bool wait_for_lines(child_process& proc, std::string_view needle, size_t n,
                    std::chrono::milliseconds timeout) {
  size_t from = 0;
  for (size_t k = 0; k < n; ++k) {
    if (!proc.wait_for_line(needle, timeout, from))
      return false;
    auto all = proc.lines();
    while (from < all.size() && all[from].find(needle) == std::string::npos)
      ++from;
    ++from;
  }
  return true;
}

size_t count(const std::vector<saga_result>& rs, saga_status st) {
  size_t n = 0;
  for (const auto& r : rs)
    n += r.state == st ? 1 : 0;
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
  // b1 wakes up and finishes its stale debits: their barrier records were
  // settled by b2 meanwhile, so none of them may apply its effects again.
  b1.proc->signal(SIGCONT);
  b1.proc->signal(SIGTERM);
  ASSERT_TRUE(b1.proc->wait_exit(30s));
  expect_consistent(ids);
}

TEST_F(cluster_fixture, coordinator_killed_under_load_survivor_takes_over) {
  auto& p = start_node("p", {"--participants=account,inventory,purchase_log",
                             "--step-delay=100ms"});
  auto& b = start_node("b", {"--coordinate"});
  auto& a = start_node("a", {"--coordinate"});
  auto pending = run_purchases(gateway(a), items(30));
  // Under load: several sagas in flight when a dies.
  ASSERT_TRUE(wait_for_lines(*p.proc, "shop: step debit", 6, 20s));
  auto killed = std::chrono::steady_clock::now();
  a.proc->signal(SIGKILL);
  auto line = b.proc->wait_for_line("sagas of node a", 30s);
  ASSERT_TRUE(line) << "b did not take over a's sagas";
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - killed);
  std::cout << "failover: " << took.count() << " ms from SIGKILL to: "
            << *line << std::endl;
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
  ASSERT_TRUE(wait_for_lines(*p.proc, "shop: step debit", 4, 20s));
  a.proc->signal(SIGKILL);
  pending.wait();
  auto& again = start_node("a", {"--coordinate"});
  EXPECT_GT(again.epoch, first_epoch);
  EXPECT_TRUE(again.proc->wait_for_line("earlier incarnations", 5s));
  auto ids = await_all_terminal(60s);
  EXPECT_GE(ids.size(), 1u);
  expect_consistent(ids);
}

} // namespace
} // namespace saga::test
