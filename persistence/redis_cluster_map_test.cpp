#include "persistence/redis_cluster_map.hpp"

#include <gtest/gtest.h>

#include "persistence/redis_slot.hpp"

namespace saga {
namespace {

TEST(redis_cluster_map, a_command_goes_to_its_first_key) {
  using argv = std::vector<std::string_view>;
  EXPECT_EQ(redis_command_slot(argv{"XADD", "saga:{a}:events", "*", "f", "v"}),
            redis_key_slot("a"));
  EXPECT_EQ(redis_command_slot(argv{"GET", "x"}), redis_key_slot("x"));
  // EVAL and EVALSHA: the first of KEYS, after the key count.
  EXPECT_EQ(redis_command_slot(argv{"EVALSHA", "abc", "2", "k{t}", "{t}2"}),
            redis_key_slot("t"));
  EXPECT_EQ(redis_command_slot(argv{"evalsha", "abc", "1", "k", "arg"}),
            redis_key_slot("k"));
  EXPECT_EQ(redis_command_slot(argv{"EVAL", "return 1", "0"}), std::nullopt);
  EXPECT_EQ(redis_command_slot(argv{"EVAL", "return 1", "x", "k"}),
            std::nullopt);
  // Subcommands name their key second.
  EXPECT_EQ(redis_command_slot(argv{"XINFO", "STREAM", "s"}),
            redis_key_slot("s"));
  // No key: any master.
  EXPECT_EQ(redis_command_slot(argv{"SCRIPT", "LOAD", "return 1"}),
            std::nullopt);
  EXPECT_EQ(redis_command_slot(argv{"PING"}), std::nullopt);
  EXPECT_EQ(redis_command_slot(argv{"CLUSTER", "SLOTS"}), std::nullopt);
  EXPECT_EQ(redis_command_slot(argv{"wait", "1", "100"}), std::nullopt);
}

TEST(redis_cluster_map, moved_and_ask_name_the_slot_and_the_master) {
  auto m = parse_redirect("MOVED 3999 127.0.0.1:6381");
  EXPECT_EQ(m.kind, redis_redirect::moved);
  EXPECT_EQ(m.slot, 3999);
  EXPECT_EQ(m.to.host, "127.0.0.1");
  EXPECT_EQ(m.to.port, 6381);
  auto a = parse_redirect("ASK 16383 ::1:7002");
  EXPECT_EQ(a.kind, redis_redirect::ask);
  EXPECT_EQ(a.slot, 16383);
  EXPECT_EQ(a.to.host, "::1");
  EXPECT_EQ(a.to.port, 7002);
  auto here = parse_redirect("MOVED 7 :6381");
  EXPECT_EQ(here.kind, redis_redirect::moved);
  EXPECT_EQ(here.to.host, "") << "the replying node's host";
  EXPECT_EQ(here.to.port, 6381);
  EXPECT_EQ(parse_redirect("TRYAGAIN Multiple keys request during rehashing "
                           "of slot")
              .kind,
            redis_redirect::retry);
  EXPECT_EQ(parse_redirect("CLUSTERDOWN The cluster is down").kind,
            redis_redirect::retry);
}

TEST(redis_cluster_map, other_errors_and_malformed_redirects_are_answers) {
  for (auto text :
       {"ERR unknown command", "WRONGTYPE Operation", "MOVED", "MOVED 3999",
        "MOVED x 127.0.0.1:1", "MOVED 16384 h:1", "MOVED 1 h", "MOVED 1 h:0",
        "ASK 1 :0", "MOVEDX 1 h:1", "NOSCRIPT No matching script", ""})
    EXPECT_EQ(parse_redirect(text).kind, redis_redirect::none) << text;
}

} // namespace
} // namespace saga
