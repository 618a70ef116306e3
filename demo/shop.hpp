#pragma once

// The shop's participants, as the saga_node program hosts them: each keeps
// its data in Redis and writes it in the same transaction as its barrier
// record, so a crash at any point applies every effect exactly once.
//
//   account       debit   {player, amount}  shop:balance[player] -= amount,
//                                           shop:debits[saga] = amount
//   inventory     grant   {player, item}    shop:grants[saga] = player:item
//                                           (items named "sold-out*" fail)
//   purchase_log  record  {player, item, price}  shop:purchases[saga]
//
// Compensations undo exactly that. Participants may answer after a delay
// (tests and demos use it to catch a node in mid-step).

#include <chrono>
#include <string>

#include <saga/saga.hpp>

namespace demo {

/// Registers the shop participant `name` on `n` (one of account, inventory,
/// purchase_log); returns false for an unknown name.
bool add_shop_participant(saga::node& n, const std::string& name,
                          std::chrono::milliseconds delay);

/// Returns a purchase whose refund (the debit's compensation) fails for its
/// first `jam_refund` attempts, and which tries it twice: with a sold-out
/// item and `jam_refund` >= 2 it ends `failed`, and an operator's retry
/// (attempts 3, 4) undoes it once the jam is past.
saga::definition make_jammed_purchase(const std::string& player,
                                      const std::string& item, int64_t price,
                                      uint32_t jam_refund);

/// Returns the purchase saga: debit, then grant and record in parallel.
saga::definition make_purchase(const std::string& player,
                               const std::string& item, int64_t price);

} // namespace demo
