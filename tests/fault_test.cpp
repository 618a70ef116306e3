// Fault injection on the Redis journal: while hundreds of sagas run, saga
// actors, the participant and journal writers are crashed at random points
// (chosen by progress, not by time). Every saga must end (completed or
// compensated), with each step's effect applied once, or applied and undone.

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <hiredis/hiredis.h>

#include "core/crash_atom.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/effect_participant.hpp"
#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

TEST(fault_injection, crashing_sagas_participants_and_writers_loses_nothing) {
  redis_server server{{"--appendonly", "yes", "--appendfsync", "everysec"}};
  ASSERT_TRUE(server.start());
  runtime_config cfg;
  cfg.journal_url = server.url();
  cfg.journal.node_id = "faults";
  cfg.journal_timeout = 300ms; // a crashed writer's appends come back soon
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error()) << describe(rt.start_error());
  std::mutex mtx;
  std::condition_variable progressed;
  size_t effects = 0;
  add_effect_participant(rt, server.url(), "faults", false, [&] {
    std::lock_guard<std::mutex> guard{mtx};
    ++effects;
    progressed.notify_all();
  });
  constexpr int sagas = 300;
  std::vector<std::future<saga_result>> results;
  results.reserve(sagas);
  for (int i = 0; i < sagas; ++i)
    results.push_back(rt.execute(crash_saga(i, 300ms, 5)));
  // Inject a fault after every few effects until the sagas are done.
  auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng{seed};
  caf::scoped_actor self{rt.system()};
  auto journal = caf::actor_cast<redis_journal_actor>(rt.journal());
  int injected[3] = {0, 0, 0};
  for (size_t next = 20; next < sagas * 2; next += 20 + rng() % 20) {
    {
      std::unique_lock<std::mutex> guard{mtx};
      if (!progressed.wait_for(guard, 30s, [&] { return effects >= next; }))
        break; // fewer effects than expected: the rest are compensations
    }
    switch (rng() % 3) {
      case 0: { // a random running saga actor
        auto id = std::string{};
        auto page = std::optional<unfinished_page>{};
        self
          ->request(rt.journal(), 5s, unfinished_atom::value, std::string{},
                    uint32_t{64})
          .receive([&](unfinished_page& p) { page = std::move(p); },
                   [](caf::error&) {});
        if (!page || page->ids.empty())
          break;
        id = page->ids[rng() % page->ids.size()];
        self->request(rt.coordinator(), 5s, which_child_atom::value, id)
          .receive(
            [&](const caf::actor& h) {
              caf::anon_send(h, crash_atom::value);
              ++injected[0];
            },
            [](caf::error&) {});
        break;
      }
      case 1: // the participant
        caf::anon_send(caf::actor_cast<caf::actor>(
                         rt.participant("acct").handle()),
                       crash_atom::value);
        ++injected[1];
        break;
      case 2: // a journal writer
        caf::anon_send(journal, crash_atom::value,
                       static_cast<uint32_t>(rng() % 2));
        ++injected[2];
        break;
    }
  }
  std::printf("injected %d saga, %d participant, %d writer crashes\n",
              injected[0], injected[1], injected[2]);
  EXPECT_GT(injected[0] + injected[1] + injected[2], 5);
  std::map<saga_status, int> ends;
  std::vector<saga_result> done;
  for (auto& f : results) {
    auto r = f.get();
    ++ends[r.state];
    done.push_back(std::move(r));
  }
  EXPECT_EQ(ends[saga_status::completed] + ends[saga_status::compensated],
            sagas)
    << "failed: " << ends[saga_status::failed];
  auto ep = parse_redis_url(server.url());
  auto admin = redis_connection::connect(*ep, 2s);
  ASSERT_TRUE(admin);
  auto applied = read_hash(server.url(), "effects:{faults}");
  for (const auto& r : done) {
    auto log = rt.saga_log(r.saga_id);
    ASSERT_TRUE(log) << r.saga_id;
    EXPECT_EQ(log->status, r.state) << r.saga_id;
    for (const char* step : {"s1", "s2", "s3"}) {
      auto key = r.saga_id + "/" + step;
      auto executed = applied.count(key + "/exec") > 0;
      auto undone = applied.count(key + "/comp") > 0;
      if (r.state == saga_status::completed) {
        EXPECT_TRUE(executed) << key;
        EXPECT_FALSE(undone) << key;
      } else if (executed) {
        EXPECT_TRUE(undone) << key << " took effect and was never undone";
      }
    }
  }
  // A writer unlists ended sagas with its next pipeline; one crashed by
  // the test may take that with it. Such entries are ended sagas, which
  // recovery unlists: afterwards nothing is left.
  rt.recover();
  auto left = admin->command({"ZCARD", redis_unfinished_key("faults")});
  EXPECT_EQ((*left)->integer, 0);
}

} // namespace
} // namespace saga::test
