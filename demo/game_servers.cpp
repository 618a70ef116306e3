#include "demo/game_servers.hpp"

#include "demo/payload.hpp"

#include <atomic>
#include <random>
#include <thread>

namespace demo {

namespace {

using saga::effect;
using saga::json;
using saga::step_context;
using saga::step_outcome;

/// Wraps an execute handler with the demo's faults.
template <class F>
saga::step_handler faulty(const fault_options& faults, F f) {
  return [faults, f](const step_context& ctx, const json& p) {
    static std::atomic<uint64_t> threads{0};
    thread_local std::mt19937_64 rng{
      faults.seed == 0 ? std::random_device{}()
                       : faults.seed ^ (++threads * 0x9e3779b97f4a7c15ull)};
    std::uniform_real_distribution<double> unit{0.0, 1.0};
    if (unit(rng) < faults.fail_rate)
      return step_outcome::fail("injected failure in " + ctx.step());
    if (unit(rng) < faults.slow_rate)
      std::this_thread::sleep_for(faults.slow_delay); // a blocking worker
    return f(ctx, p);
  };
}

step_outcome add(const json& p, int64_t delta) {
  auto realm = text(p, "realm");
  return step_outcome::ok().atomically(
    {effect::incr_by(items_key(realm),
                     text(p, "playerId") + "/" + text(p, "itemId"), delta)});
}

/// Wraps a handler so that an outcome with effects also counts itself in
/// the realm's applied hash (see game_servers.hpp), in the same atomic call.
template <class F>
saga::step_handler audited(bool audit, const char* op, F f) {
  if (!audit)
    return f;
  return [op, f](const step_context& ctx, const json& p) {
    auto out = f(ctx, p);
    if (!out.is_ok() || out.effects().empty())
      return out; // nothing lands, nothing to count
    auto effects = out.effects();
    effects.push_back(effect::incr_by(applied_key(text(p, "realm")),
                                      ctx.id() + "|" + ctx.step() + "|" + op,
                                      1));
    out.atomically(std::move(effects));
    return out;
  };
}

} // namespace

bool is_game_server(const std::string& name) {
  return name == "account-server" || name == "inventory-server"
         || name == "log-server";
}

void add_game_server(saga::participant_builder& p, const fault_options& faults,
                     bool audit) {
  auto undo = [audit](auto f) {
    return audited(audit, "c",
                   [f](const step_context& ctx, const json& payload) {
                     if (!ctx.execute_recorded())
                       return step_outcome::ok(); // its effects never landed
                     return f(ctx, payload);
                   });
  };
  auto faulty = [audit](const fault_options& fo, auto f) {
    return audited(audit, "x", demo::faulty(fo, f));
  };
  if (p.name() == "account-server") {
    auto change = [](int64_t sign) {
      return [sign](const step_context&, const json& d) {
        auto amount = number(d, "amount");
        if (amount <= 0)
          return step_outcome::fail("amount must be positive");
        return step_outcome::ok({{"charged", amount}})
          .atomically({effect::incr_by(balance_key(text(d, "realm")),
                                       text(d, "playerId"), sign * amount)});
      };
    };
    p.on_blocking("deduct_balance", faulty(faults, change(-1)),
                  undo(change(+1)));
  } else if (p.name() == "inventory-server") {
    auto plus = [](const step_context&, const json& d) { return add(d, 1); };
    auto minus = [](const step_context&, const json& d) { return add(d, -1); };
    p.on_blocking("add_item", faulty(faults, plus), undo(minus));
    p.on_blocking("remove_item", faulty(faults, minus), undo(plus));
  } else if (p.name() == "log-server") {
    p.on_blocking(
      "log_purchase",
      faulty(faults,
             [](const step_context& ctx, const json& d) {
               return step_outcome::ok().atomically(
                 {effect::hset(purchases_key(text(d, "realm")), ctx.id(),
                               std::to_string(number(d, "price")))});
             }),
      undo([](const step_context& ctx, const json& d) {
        return step_outcome::ok().atomically(
          {effect::hdel(purchases_key(text(d, "realm")), ctx.id())});
      }));
  }
}

saga::definition make_game_purchase(const std::string& realm,
                                    const std::string& player,
                                    const std::string& item, int64_t price) {
  // Quick timeouts so that slow steps show; a few retries ride them out.
  saga::retry_policy retry{3, std::chrono::milliseconds{100}};
  saga::definition d{"purchase"};
  d.step("deduct_balance", "account-server",
         {{"realm", realm}, {"playerId", player}, {"amount", price}})
    .timeout(std::chrono::seconds{1})
    .retry(retry);
  d.step("add_item", "inventory-server",
         {{"realm", realm}, {"playerId", player}, {"itemId", item}})
    .timeout(std::chrono::seconds{1})
    .retry(retry);
  d.step("log_purchase", "log-server",
         {{"realm", realm},
          {"playerId", player},
          {"itemId", item},
          {"price", price}})
    .timeout(std::chrono::seconds{1})
    .retry(retry);
  return d;
}

} // namespace demo
