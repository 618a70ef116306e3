// Thousands of purchases on the Redis journal while participant messages are
// duplicated, delayed and dropped, saga actors crash, and the node dies and
// recovers. Balances, items and the purchase log live in Redis and change
// only through the barrier's atomic effects, so afterwards they must be
// exactly what the completed purchases imply.

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <gtest/gtest.h>

#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <hiredis/hiredis.h>

#include "core/crash_atom.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

constexpr int players = 20;
constexpr int purchases = 2000;
constexpr int price = 10;
constexpr int start_balance = 1000;

using resolve_fn = std::function<participant_actor()>;
using forward_atom = caf::atom_constant<caf::atom("t_forward")>;
using chaos_actor
  = participant_actor::extend<caf::reacts_to<forward_atom, uint64_t>>;

struct chaos_state {
  resolve_fn real;
  std::mt19937 rng{42};
  uint64_t next = 0;
  struct held {
    bool compensate;
    step_command cmd;
    caf::typed_response_promise<step_reply> rp;
  };
  std::unordered_map<uint64_t, held> delayed;
};

/// Sits in front of a participant: duplicates, delays and drops messages.
chaos_actor::behavior_type
chaos(chaos_actor::stateful_pointer<chaos_state> self, resolve_fn real) {
  self->state.real = std::move(real);
  auto forward = [self](bool compensate, const step_command& cmd,
                        caf::typed_response_promise<step_reply> rp) {
    auto copies = self->state.rng() % 5 == 0 ? 2 : 1; // 20% duplicated
    auto drop = self->state.rng() % 50 == 0;          // 2% reply lost
    auto answered = std::make_shared<bool>(false);
    for (int i = 0; i < copies; ++i) {
      auto on_reply = [rp, answered, drop](step_reply& r) mutable {
        if (*answered || drop)
          return;
        *answered = true;
        rp.deliver(std::move(r));
      };
      auto on_error = [](caf::error&) {};
      if (compensate)
        self->request(self->state.real(), 30s, compensate_atom::value, cmd)
          .then(on_reply, on_error);
      else
        self->request(self->state.real(), 30s, execute_atom::value, cmd)
          .then(on_reply, on_error);
    }
  };
  auto receive = [self, forward](bool compensate, step_command& cmd) {
    auto rp = self->make_response_promise<step_reply>();
    if (self->state.rng() % 5 == 0) { // 20% delayed by up to 30 ms
      auto token = ++self->state.next;
      self->state.delayed.emplace(token,
                                  chaos_state::held{compensate, cmd, rp});
      self->delayed_send(self,
                         std::chrono::milliseconds{self->state.rng() % 30},
                         forward_atom::value, token);
    } else {
      forward(compensate, cmd, rp);
    }
    return rp;
  };
  return {
    [receive](execute_atom, step_command& cmd) { return receive(false, cmd); },
    [receive](compensate_atom, step_command& cmd) {
      return receive(true, cmd);
    },
    [self, forward](forward_atom, uint64_t token) {
      auto i = self->state.delayed.find(token);
      auto h = std::move(i->second);
      self->state.delayed.erase(i);
      forward(h.compensate, h.cmd, std::move(h.rp));
    },
  };
}

/// Reads an integer field of a Redis hash on a connection of this thread.
long long redis_int(const std::string& url, const std::string& key,
                    const std::string& field) {
  thread_local std::optional<redis_connection> conn;
  if (!conn || conn->broken())
    conn = std::move(*redis_connection::connect(*parse_redis_url(url), 2s));
  auto r = conn->command({"HGET", key, field});
  if (!r || (*r)->type != REDIS_REPLY_STRING)
    return 0;
  return std::atoll((*r)->str);
}

/// Registers the three servers (behind the barrier, effects atomic) and the
/// chaos proxies that the sagas talk to.
std::vector<caf::actor> add_servers(runtime& rt, const std::string& url) {
  rt.participant("account-real")
    .on_blocking(
      "deduct_balance",
      [url](const step_context&, const json& d) {
        auto player = d["player"].get<std::string>();
        if (redis_int(url, "bal", player) < price)
          return step_outcome::fail("insufficient balance");
        return step_outcome::ok().atomically(
          {effect::incr_by("bal", player, -price)});
      },
      [](const step_context&, const json& d) {
        return step_outcome::ok().atomically(
          {effect::incr_by("bal", d["player"].get<std::string>(), price)});
      });
  rt.participant("inventory-real")
    .on(
      "add_item",
      [](const step_context&, const json& d) {
        if (d["item"] == "dragon-egg")
          return step_outcome::fail("out of stock");
        return step_outcome::ok().atomically(
          {effect::incr_by("items", d["player"].get<std::string>(), 1)});
      },
      [](const step_context&, const json& d) {
        return step_outcome::ok().atomically(
          {effect::incr_by("items", d["player"].get<std::string>(), -1)});
      });
  rt.participant("log-real")
    .on(
      "log_purchase",
      [](const step_context&, const json&) {
        return step_outcome::ok().atomically(
          {effect::incr_by("counts", "purchases", 1)});
      },
      [](const step_context&, const json&) {
        return step_outcome::ok().atomically(
          {effect::incr_by("counts", "purchases", -1)});
      });
  std::vector<caf::actor> proxies;
  for (std::string name : {"account", "inventory", "log"}) {
    auto real = [&rt, name] { return rt.participant(name + "-real").handle(); };
    auto p = rt.system().spawn(chaos, resolve_fn{real});
    rt.register_participant(name, caf::actor_cast<participant_actor>(p));
    proxies.push_back(caf::actor_cast<caf::actor>(p));
  }
  return proxies;
}

definition purchase(int i) {
  auto player = "p" + std::to_string(i % players);
  auto item = i % 7 == 0 ? "dragon-egg" : "sword";
  definition d{"purchase"};
  auto retry = retry_policy{8, 20ms, 2.0, 500ms, 0.2};
  d.step("deduct_balance", "account", {{"player", player}})
    .timeout(500ms)
    .retry(retry)
    .step("add_item", "inventory", {{"player", player}, {"item", item}})
    .timeout(500ms)
    .retry(retry)
    .step("log_purchase", "log", {{"player", player}})
    .timeout(500ms)
    .retry(retry);
  return d;
}

TEST(purchase_chaos, money_and_items_match_the_completed_purchases_exactly) {
  redis_server server{{"--appendonly", "yes", "--appendfsync", "everysec"}};
  ASSERT_TRUE(server.start());
  auto url = server.url();
  auto admin = redis_connection::connect(*parse_redis_url(url), 2s);
  ASSERT_TRUE(admin);
  for (int p = 0; p < players; ++p)
    ASSERT_TRUE(admin->command(
      {"HSET", "bal", "p" + std::to_string(p), std::to_string(start_balance)}));
  runtime_config cfg;
  cfg.journal_url = url;
  cfg.journal.node_id = "shop";
  cfg.journal_timeout = 1s;
  std::set<saga_id> ids;
  std::vector<std::future<saga_result>> results;
  {
    // -- the first node: runs purchases, some saga actors crash, then it dies
    runtime rt{cfg};
    ASSERT_FALSE(rt.start_error());
    auto proxies = add_servers(rt, url);
    for (int i = 0; i < purchases; ++i)
      results.push_back(rt.execute(purchase(i)));
    // Crash some saga actors while they run.
    caf::scoped_actor self{rt.system()};
    std::mt19937 rng{7};
    for (int k = 0; k < 30; ++k) {
      std::optional<unfinished_page> page;
      self
        ->request(rt.journal(), 5s, unfinished_atom::value, std::string{},
                  uint32_t{200})
        .receive([&](unfinished_page& p) { page = std::move(p); },
                 [](caf::error&) {});
      if (!page || page->ids.empty())
        break;
      auto id = page->ids[rng() % page->ids.size()];
      self->request(rt.coordinator(), 5s, which_child_atom::value, id)
        .receive(
          [&](const caf::actor& h) { caf::anon_send(h, crash_atom::value); },
          [](caf::error&) {});
    }
    // Let some of them end, then the node dies mid-flight.
    for (int i = 0; i < purchases / 10; ++i)
      results[i].wait();
    for (auto& p : proxies)
      caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  } // waiting callers get shutting_down; their sagas stay unfinished
  for (auto& f : results) {
    auto r = f.get();
    if (!r.saga_id.empty())
      ids.insert(r.saga_id); // started (queued ones never were)
  }
  // -- a fresh node recovers what the first one left -------------------------
  runtime rt{cfg};
  ASSERT_FALSE(rt.start_error());
  auto proxies = add_servers(rt, url);
  auto unfinished = admin->command(
    {"ZRANGE", redis_unfinished_key("shop"), "0", "-1"});
  ASSERT_TRUE(unfinished);
  std::vector<saga_id> left;
  for (size_t i = 0; i < (*unfinished)->elements; ++i)
    left.emplace_back((*unfinished)->element[i]->str);
  // A saga that ended just before the node stopped can still be listed (its
  // writer unlists with its next pipeline): recovery unlists it instead of
  // resuming it. Every listed saga must end either way (checked below).
  EXPECT_LE(rt.recover(), left.size());
  caf::scoped_actor self{rt.system()};
  for (const auto& id : left) {
    ids.insert(id);
    self->request(rt.coordinator(), caf::infinite, resume_atom::value, id)
      .receive([](const saga_result&) {}, [](caf::error&) {});
  }
  // -- every saga ended, and the money adds up --------------------------------
  int completed = 0;
  int never_written = 0;
  std::map<saga_status, int> ends;
  for (const auto& id : ids) {
    auto log = rt.saga_log(id);
    if (!log) {
      // Started, but the node stopped before its first batch was written (it
      // is listed before that batch): it never existed, and write-ahead means
      // no command left for it (the money check below would see one).
      // Recovery must have unlisted it.
      ++never_written;
      auto listed = admin->command(
        {"ZSCORE", redis_unfinished_key("shop"), id});
      EXPECT_TRUE(listed && (*listed)->type == REDIS_REPLY_NIL)
        << id << " has no history but is still listed";
      continue;
    }
    ++ends[log->status];
    if (log->status == saga_status::completed)
      ++completed;
    EXPECT_TRUE(log->status == saga_status::completed
                || log->status == saga_status::compensated)
      << id << " ended " << to_string(log->status) << ": " << log->error;
  }
  long long balances = 0;
  long long items = 0;
  for (int p = 0; p < players; ++p) {
    balances += redis_int(url, "bal", "p" + std::to_string(p));
    items += redis_int(url, "items", "p" + std::to_string(p));
  }
  std::printf("%zu sagas: %d completed, %d compensated, %d never written; %d "
              "recovered after the node died\n",
              ids.size(), completed, ends[saga_status::compensated],
              never_written, static_cast<int>(left.size()));
  EXPECT_GT(completed, purchases / 4);
  EXPECT_EQ(balances, static_cast<long long>(players) * start_balance
                        - static_cast<long long>(completed) * price);
  EXPECT_EQ(items, completed);
  EXPECT_EQ(redis_int(url, "counts", "purchases"), completed);
  for (auto& p : proxies)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

} // namespace
} // namespace saga::test
