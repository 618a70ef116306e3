// The first caf-saga demo: an in-process cross-server purchase.
//
// Three participants stand in for three servers that own their data:
// account-server (balances), inventory-server (items) and log-server
// (purchase log). Each purchase is a saga:
//   deduct_balance -> add_item -> log_purchase
// Some purchases ask for an item that is out of stock, so add_item fails and
// the saga refunds the balance. At the end every balance must equal its start
// minus the price of the items the player actually owns.

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <saga/saga.hpp>

#include "demo/trade.hpp"

using namespace std::chrono_literals;

namespace {

struct purchase {
  std::string player;
  std::string item;
  int price;
};

} // namespace

int main() {
  saga::runtime rt{saga::runtime_config{}};
  if (auto err = rt.start_error()) {
    std::cerr << "cannot start: " << saga::describe(err) << '\n';
    return 1;
  }

  // Each participant's handlers run inside its own actor, one message at a
  // time, so the maps below need no locks.
  std::map<std::string, int> balances{{"alice", 500}, {"bob", 300},
                                      {"carol", 100}};
  const std::map<std::string, int> start_balances = balances;
  std::map<std::string, std::vector<std::string>> inventories;
  std::map<std::string, int> stock{{"sword", 10}, {"shield", 10},
                                   {"potion", 10}, {"dragon-egg", 0}};
  std::vector<std::string> purchase_log;

  rt.participant("account-server")
    .on(
      "deduct_balance",
      [&](const saga::step_context& ctx, const saga::json& data) {
        auto player = data.at("playerId").get<std::string>();
        auto amount = data.at("amount").get<int>();
        if (balances[player] < amount)
          return saga::step_outcome::fail("insufficient balance");
        balances[player] -= amount;
        return saga::step_outcome::ok({{"txId", "tx-" + ctx.id()},
                                       {"newBalance", balances[player]}});
      },
      [&](const saga::step_context&, const saga::json& data) {
        balances[data.at("playerId").get<std::string>()]
          += data.at("amount").get<int>();
        return saga::step_outcome::ok();
      });

  rt.participant("inventory-server")
    .on(
      "add_item",
      [&](const saga::step_context&, const saga::json& data) {
        auto item = data.at("itemId").get<std::string>();
        if (stock[item] <= 0)
          return saga::step_outcome::fail("item '" + item + "' is out of stock");
        --stock[item];
        inventories[data.at("playerId").get<std::string>()].push_back(item);
        return saga::step_outcome::ok({{"slot", stock[item]}});
      },
      [&](const saga::step_context&, const saga::json& data) {
        auto& inv = inventories[data.at("playerId").get<std::string>()];
        auto item = data.at("itemId").get<std::string>();
        for (auto i = inv.begin(); i != inv.end(); ++i)
          if (*i == item) {
            inv.erase(i);
            ++stock[item];
            break;
          }
        return saga::step_outcome::ok();
      });

  rt.participant("log-server")
    .on(
      "log_purchase",
      [&](const saga::step_context& ctx, const saga::json& data) {
        purchase_log.push_back(ctx.id() + " " + data.dump() + " paid with "
                               + ctx.result_of("deduct_balance")["txId"]
                                   .get<std::string>());
        return saga::step_outcome::ok();
      },
      [&](const saga::step_context&, const saga::json&) {
        purchase_log.pop_back();
        return saga::step_outcome::ok();
      });

  const std::vector<purchase> purchases{
    {"alice", "sword", 120},     {"bob", "shield", 80},
    {"carol", "dragon-egg", 50}, {"alice", "potion", 20},
    {"bob", "dragon-egg", 90},   {"carol", "sword", 400},
  };

  std::vector<std::future<saga::saga_result>> futures;
  for (const auto& p : purchases) {
    saga::definition d{"purchase"};
    d.step("deduct_balance", "account-server",
           {{"playerId", p.player}, {"amount", p.price}})
      .timeout(2s)
      .retry(saga::retry_policy{3, 50ms})
      .step("add_item", "inventory-server",
            {{"playerId", p.player}, {"itemId", p.item}})
      .timeout(2s)
      .step("log_purchase", "log-server",
            {{"playerId", p.player}, {"itemId", p.item}, {"price", p.price}})
      .deadline(30s);
    futures.push_back(rt.execute(d));
  }

  std::cout << "caf-saga demo: " << purchases.size()
            << " purchases across account, inventory and log servers\n\n";
  std::string compensated_id;
  for (size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    const auto& p = purchases[i];
    std::cout << std::left << std::setw(6) << p.player << " buys "
              << std::setw(11) << p.item << " for " << std::setw(4) << p.price
              << " -> " << saga::to_string(r.state);
    if (!r.success)
      std::cout << " (" << saga::describe(r.error) << ")";
    std::cout << '\n';
    if (r.state == saga::saga_status::compensated && compensated_id.empty())
      compensated_id = r.saga_id;
  }

  if (!compensated_id.empty()) {
    std::cout << "\nSaga log of a compensated purchase:\n";
    if (auto log = rt.saga_log(compensated_id))
      std::cout << saga::to_string(*log);
  }

  // The participants' actors own the maps; read them after the sagas ended.
  std::cout << "\nBalances and inventories afterwards:\n";
  bool consistent = true;
  std::map<std::string, int> price_of;
  for (const auto& p : purchases)
    price_of[p.player + "/" + p.item] = p.price;
  for (const auto& [player, balance] : balances) {
    int spent = 0;
    for (const auto& item : inventories[player])
      spent += price_of[player + "/" + item];
    auto ok = start_balances.at(player) - spent == balance;
    consistent = consistent && ok;
    std::cout << "  " << std::setw(6) << player << " balance " << balance
              << ", items:";
    for (const auto& item : inventories[player])
      std::cout << ' ' << item;
    std::cout << (ok ? "  [consistent]" : "  [INCONSISTENT]") << '\n';
  }
  std::cout << "  purchase log entries: " << purchase_log.size() << '\n';
  std::cout << (consistent ? "\nAll balances match the items owned.\n"
                           : "\nINCONSISTENCY DETECTED\n");

  // -- trades: remove both players' items in parallel, then give them -------
  // The inventory server gets the actions of a trade: remove_item (undo: put
  // back) and add_item (undo: take away). A cursed item cannot be received.
  rt.participant("inventory-server")
    .on(
      "remove_item",
      [&](const saga::step_context&, const saga::json& data) {
        auto& inv = inventories[data.at("playerId").get<std::string>()];
        auto i = std::find(inv.begin(), inv.end(),
                           data.at("itemId").get<std::string>());
        if (i == inv.end())
          return saga::step_outcome::fail("no such item");
        inv.erase(i);
        return saga::step_outcome::ok();
      },
      [&](const saga::step_context&, const saga::json& data) {
        inventories[data.at("playerId").get<std::string>()].push_back(
          data.at("itemId").get<std::string>());
        return saga::step_outcome::ok();
      })
    .on(
      "add_item",
      [&](const saga::step_context& ctx, const saga::json& data) {
        auto item = data.at("itemId").get<std::string>();
        if (ctx.saga_name() == "trade" && item == "cursed-ring")
          return saga::step_outcome::fail("a cursed ring cannot be received");
        if (ctx.saga_name() != "trade" && stock[item] <= 0)
          return saga::step_outcome::fail("item '" + item + "' is out of stock");
        if (ctx.saga_name() != "trade")
          --stock[item];
        inventories[data.at("playerId").get<std::string>()].push_back(item);
        return saga::step_outcome::ok({{"slot", stock[item]}});
      },
      [&](const saga::step_context& ctx, const saga::json& data) {
        auto& inv = inventories[data.at("playerId").get<std::string>()];
        auto item = data.at("itemId").get<std::string>();
        auto i = std::find(inv.begin(), inv.end(), item);
        if (i != inv.end()) {
          inv.erase(i);
          if (ctx.saga_name() != "trade")
            ++stock[item];
        }
        return saga::step_outcome::ok();
      });
  inventories["alice"].push_back("cursed-ring");
  auto snapshot = [&] {
    std::string out;
    for (auto player : {"alice", "bob"}) {
      auto items = inventories[player];
      std::sort(items.begin(), items.end());
      out += std::string{"  "} + player + ":";
      for (const auto& x : items)
        out += " " + x;
      out += "\n";
    }
    return out;
  };
  std::cout << "\nTrades (items leave both players in parallel, then arrive):\n"
            << snapshot();
  auto trade1 = rt.execute(demo::make_trade("alice", {"sword"}, "bob",
                                            {"shield"}))
                  .get();
  std::cout << "alice's sword for bob's shield -> "
            << saga::to_string(trade1.state) << '\n'
            << snapshot();
  auto before = snapshot();
  auto trade2 = rt.execute(demo::make_trade("alice", {"potion", "cursed-ring"},
                                            "bob", {"sword"}))
                  .get();
  std::cout << "alice's potion and cursed ring for bob's sword -> "
            << saga::to_string(trade2.state) << " ("
            << saga::describe(trade2.error) << ")\n"
            << snapshot();
  auto restored = snapshot() == before;
  std::cout << (restored ? "Both inventories are exactly as before.\n"
                         : "INVENTORIES CHANGED BY A FAILED TRADE\n");
  if (auto log = rt.saga_log(trade2.saga_id))
    std::cout << "\nSaga log of the failed trade:\n" << saga::to_string(*log);
  return consistent && restored && trade1.success ? 0 : 2;
}
