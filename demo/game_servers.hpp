#pragma once

// The demo's three servers, each the only owner of its data (hashes in the
// journal's store: Redis, or the memory journal's keyspace), written
// atomically with the participant barrier's record:
//
//   account-server    deduct_balance {realm, playerId, amount}
//                       game:{realm}:balance[player] -= amount
//   inventory-server  add_item / remove_item {realm, playerId, itemId}
//                       game:{realm}:items["player/item"] += 1 / -= 1
//   log-server        log_purchase {realm, playerId, itemId, price}
//                       game:{realm}:purchases[saga id] = price
//
// Compensations undo exactly that, and nothing when the execute never
// recorded its outcome. Faults for the demo: executes fail at `fail_rate`,
// and at `slow_rate` answer after `slow_delay` (past the step timeout).
//
// With `audit` (the chaos campaign's evidence, docs/chaos.md), every
// effect also counts itself in the same atomic call:
//
//   game:{realm}:applied["<saga id>|<step>|x"] += 1   (an execute's effect)
//   game:{realm}:applied["<saga id>|<step>|c"] += 1   (its compensation's)
//
// so each (saga, step) must show at most one of each afterwards.

#include <chrono>
#include <string>
#include <vector>

#include <saga/saga.hpp>

namespace demo {

struct fault_options {
  double fail_rate = 0.0;
  double slow_rate = 0.0;
  std::chrono::milliseconds slow_delay{1'500};
  /// Seed of the fault choices (each handler thread mixes in its own
  /// number); 0: a random seed.
  uint64_t seed = 0;
};

/// Returns whether `name` is one of the demo's servers.
bool is_game_server(const std::string& name);

/// Adds the handlers of server `p.name()` (see `is_game_server`) to `p`;
/// with `audit`, every effect is also counted in `applied_key`.
void add_game_server(saga::participant_builder& p, const fault_options& faults,
                     bool audit = false);

/// Returns the purchase saga: deduct_balance -> add_item -> log_purchase.
saga::definition make_game_purchase(const std::string& realm,
                                    const std::string& player,
                                    const std::string& item, int64_t price);

/// Returns the keys of a realm's data.
inline std::string balance_key(const std::string& realm) {
  return "game:{" + realm + "}:balance";
}
inline std::string items_key(const std::string& realm) {
  return "game:{" + realm + "}:items";
}
inline std::string purchases_key(const std::string& realm) {
  return "game:{" + realm + "}:purchases";
}
inline std::string applied_key(const std::string& realm) {
  return "game:{" + realm + "}:applied";
}

} // namespace demo
