#pragma once

// The cross-server trade: two players swap item lists. Every item leaves
// its owner in parallel; once all have left, every item is added to the
// other player in parallel. If anything fails, both inventories come back
// exactly as they were.

#include <chrono>
#include <string>
#include <vector>

#include <saga/saga.hpp>

namespace demo {

/// Returns the saga that gives `a_items` of player `a` to `b` and `b_items`
/// of `b` to `a`, through participant `inventory` with the actions
/// remove_item and add_item (payload: realm, playerId, itemId).
inline saga::definition
make_trade(const std::string& realm, const std::string& a,
           const std::vector<std::string>& a_items, const std::string& b,
           const std::vector<std::string>& b_items,
           const std::string& inventory = "inventory-server") {
  saga::definition d{"trade"};
  auto add_steps =
    [&](const char* verb, const char* action, const std::string& owner,
        const std::vector<std::string>& items, const std::string& target) {
      for (size_t i = 0; i < items.size(); ++i)
        d.step(std::string{verb} + ":" + owner + ":" + std::to_string(i) + ":"
                 + items[i],
               inventory,
               {{"realm", realm}, {"playerId", target}, {"itemId", items[i]}})
          .action(action)
          .timeout(std::chrono::seconds{1})
          .retry(saga::retry_policy{3, std::chrono::milliseconds{100}});
    };
  d.fork();
  add_steps("remove", "remove_item", a, a_items, a);
  add_steps("remove", "remove_item", b, b_items, b);
  d.join().fork();
  add_steps("give", "add_item", a, a_items, b);
  add_steps("give", "add_item", b, b_items, a);
  d.join();
  return d;
}

} // namespace demo
