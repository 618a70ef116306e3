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

} // namespace
} // namespace saga::test
