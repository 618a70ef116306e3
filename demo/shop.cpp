#include "demo/shop.hpp"

#include "demo/payload.hpp"

#include <iostream>
#include <thread>

namespace demo {

namespace {

using saga::effect;
using saga::json;
using saga::step_context;
using saga::step_outcome;

/// Writes `line` to stdout in one write: workers print concurrently.
void say(const std::string& line) {
  std::cout.write(line.data(), static_cast<std::streamsize>(line.size()));
  std::cout.flush();
}

/// Adds `action` to `p`: blocking handlers, each answering with Redis
/// effects; executes may sleep `delay` first, to stand for a slow server
/// (compensations do not: a compensation of a step that hangs here must
/// not wait for it).
template <class Execute, class Compensate>
void add(saga::participant_builder& p, const std::string& action,
         std::chrono::milliseconds delay, Execute exec, Compensate comp) {
  auto slow = [delay, exec](const step_context& ctx, const json& payload) {
    if (delay.count() <= 0)
      return exec(ctx, payload);
    // The lines tell watchers (tests) that a step is in flight here, and
    // when its handler returned.
    say("shop: step " + ctx.step() + " of saga " + ctx.id() + " begins\n");
    std::this_thread::sleep_for(delay);
    auto outcome = exec(ctx, payload);
    say("shop: step " + ctx.step() + " of saga " + ctx.id() + " ends\n");
    return outcome;
  };
  p.on_blocking(action, slow, comp);
}

} // namespace

bool add_shop_participant(saga::node& n, const std::string& name,
                          std::chrono::milliseconds delay) {
  if (name == "account") {
    add(
      n.participant(name), "debit", delay,
      [](const step_context& ctx, const json& p) {
        auto player = text(p, "player");
        auto amount = number(p, "amount");
        if (player.empty() || amount <= 0)
          return step_outcome::fail("debit needs a player and an amount > 0");
        return step_outcome::ok({{"debited", amount}})
          .atomically(
            {effect::incr_by("shop:balance", player, -amount),
             effect::hset("shop:debits", ctx.id(), std::to_string(amount))});
      },
      [](const step_context& ctx, const json& p) {
        // An operator's drill: the refund desk jams for the first
        // `jam_refund` attempts (a failed saga to find, inspect and retry).
        if (number(p, "jam_refund") >= static_cast<int64_t>(ctx.attempt()))
          return step_outcome::fail("refund desk jammed (attempt "
                                      + std::to_string(ctx.attempt()) + ")",
                                    true);
        if (!ctx.execute_recorded())
          return step_outcome::ok(); // the debit never landed
        auto amount = number(p, "amount");
        return step_outcome::ok().atomically(
          {effect::incr_by("shop:balance", text(p, "player"), amount),
           effect::hdel("shop:debits", ctx.id())});
      });
    return true;
  }
  if (name == "inventory") {
    add(
      n.participant(name), "grant", delay,
      [](const step_context& ctx, const json& p) {
        auto item = text(p, "item");
        if (item.rfind("sold-out", 0) == 0)
          return step_outcome::fail("item '" + item + "' is sold out");
        return step_outcome::ok({{"granted", item}})
          .atomically({effect::hset("shop:grants", ctx.id(),
                                    text(p, "player") + ":" + item)});
      },
      [](const step_context& ctx, const json&) {
        if (!ctx.execute_recorded())
          return step_outcome::ok(); // the grant never landed
        return step_outcome::ok().atomically(
          {effect::hdel("shop:grants", ctx.id())});
      });
    return true;
  }
  if (name == "purchase_log") {
    add(
      n.participant(name), "record", delay,
      [](const step_context& ctx, const json& p) {
        return step_outcome::ok().atomically(
          {effect::hset("shop:purchases", ctx.id(), p.dump())});
      },
      [](const step_context& ctx, const json&) {
        if (!ctx.execute_recorded())
          return step_outcome::ok(); // the record never landed
        return step_outcome::ok().atomically(
          {effect::hdel("shop:purchases", ctx.id())});
      });
    return true;
  }
  return false;
}

saga::definition make_jammed_purchase(const std::string& player,
                                      const std::string& item, int64_t price,
                                      uint32_t jam_refund) {
  saga::definition jammed{"purchase"};
  jammed
    .step("debit", "account",
          {{"player", player}, {"amount", price}, {"jam_refund", jam_refund}})
    .action("debit")
    .timeout(std::chrono::seconds{1})
    .compensation_retry(saga::retry_policy{2, std::chrono::milliseconds{10}});
  jammed.fork();
  jammed.step("grant", "inventory", {{"player", player}, {"item", item}})
    .action("grant")
    .timeout(std::chrono::seconds{1});
  jammed
    .step("record", "purchase_log",
          {{"player", player}, {"item", item}, {"price", price}})
    .action("record")
    .timeout(std::chrono::seconds{1});
  jammed.join();
  return jammed;
}

saga::definition make_purchase(const std::string& player,
                               const std::string& item, int64_t price) {
  // Nodes may die in mid-step: many quick retries, each a second at most.
  saga::retry_policy patient{20, std::chrono::milliseconds{50}, 2.0,
                             std::chrono::seconds{1}};
  saga::definition d{"purchase"};
  d.step("debit", "account", {{"player", player}, {"amount", price}})
    .action("debit")
    .timeout(std::chrono::seconds{1})
    .retry(patient);
  d.fork();
  d.step("grant", "inventory", {{"player", player}, {"item", item}})
    .action("grant")
    .timeout(std::chrono::seconds{1})
    .retry(patient);
  d.step("record", "purchase_log",
         {{"player", player}, {"item", item}, {"price", price}})
    .action("record")
    .timeout(std::chrono::seconds{1})
    .retry(patient);
  d.join();
  return d;
}

} // namespace demo
