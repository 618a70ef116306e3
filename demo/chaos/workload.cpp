#include "demo/chaos/workload.hpp"

#include <thread>

#include <caf/event_based_actor.hpp>

#include "demo/game_servers.hpp"
#include "demo/trade.hpp"

namespace chaos {

namespace {

const char* const catalog_items[] = {"sword", "shield", "potion", "bow",
                                     "dragon-egg"};

} // namespace

std::string player_name(size_t i) {
  return "player" + std::to_string(i);
}

std::string heirloom(size_t player, size_t k) {
  return "heirloom" + std::to_string(player) + "-" + std::to_string(k);
}

std::string make_saga(std::mt19937_64& rng, const options& o,
                      const std::string& tag, bool& trade) {
  std::uniform_real_distribution<double> unit{0, 1};
  saga::definition d;
  trade = unit(rng) < o.trade_share;
  auto a = static_cast<size_t>(rng() % o.players);
  if (trade) {
    auto b = (a + 1 + rng() % (o.players - 1)) % o.players;
    auto items = [&](size_t p) {
      std::vector<std::string> v;
      auto n = 1 + rng() % 2;
      auto first = rng() % 3;
      for (size_t k = 0; k < n; ++k)
        v.push_back(heirloom(p, (first + k) % 3));
      return v;
    };
    auto ia = items(a);
    auto ib = items(b);
    d = demo::make_trade(realm, player_name(a), ia, player_name(b), ib);
  } else {
    auto item = catalog_items[rng() % 5];
    auto price = static_cast<int64_t>(10 + rng() % 91);
    d = demo::make_game_purchase(realm, player_name(a), item, price);
  }
  auto j = d.to_json();
  j["steps"][0]["payload"]["tag"] = tag;
  return j.dump();
}

/// Sends `text` to coordinator `gw`; `done` gets the result or the error.
/// `lost` tells that the connection to the coordinator is gone.
void start_saga(
  caf::actor_system& sys, const saga::gateway_actor& gw,
  const std::string& text,
  const std::function<void(saga::saga_result, std::string, bool lost)>& done) {
  sys.spawn([gw, text, done](caf::event_based_actor* self) {
    self->monitor(gw);
    self->set_down_handler([self, done](caf::down_msg& msg) {
      done(saga::saga_result{},
           "coordinator connection lost: " + saga::describe(msg.reason), true);
      self->quit();
    });
    self->request(gw, caf::infinite, saga::run_atom::value, text)
      .then(
        [self, done](saga::saga_result& r) {
          done(std::move(r), "", false);
          self->quit();
        },
        [self, done](caf::error& err) {
          done(saga::saga_result{}, saga::describe(err),
               err == caf::sec::request_receiver_down);
          self->quit();
        });
  });
}

namespace {

/// Records a request for saga `text` in `book` and sends it through `gw`;
/// its answer lands in the same record. `book.mtx` is held by the caller.
void send_request(caf::actor_system& sys, const std::string& text,
                  std::string tag, bool trade,
                  const std::pair<std::string, saga::gateway_actor>& gw,
                  gateway_table& gateways, client_book& book) {
  auto index = book.requests.size();
  saga_request r;
  r.tag = std::move(tag);
  r.trade = trade;
  r.coordinator = gw.first;
  book.requests.push_back(std::move(r));
  ++book.in_flight;
  start_saga(sys, gw.second, text,
             [&gateways, &book, index, gw](saga::saga_result res,
                                           std::string err, bool lost) {
               if (lost)
                 gateways.lost(gw.first, gw.second);
               std::lock_guard<std::mutex> g{book.mtx};
               auto& x = book.requests[index];
               x.answered = true;
               x.result = std::move(res);
               x.error = std::move(err);
               --book.in_flight;
               book.cv.notify_all();
             });
}

} // namespace

void run_client(caf::actor_system& sys, const options& o, uint64_t seed,
                steady::time_point t0, steady::time_point stop_at,
                gateway_table& gateways, client_book& book) {
  std::mt19937_64 rng{seed};
  for (size_t n = 0;; ++n) {
    auto due
      = t0 + ms{static_cast<int64_t>(1000.0 * static_cast<double>(n) / o.rate)};
    std::this_thread::sleep_until(due);
    if (steady::now() >= stop_at)
      break;
    bool trade = false;
    auto tag = "t" + std::to_string(n);
    auto text = make_saga(rng, o, tag, trade);
    {
      std::unique_lock<std::mutex> guard{book.mtx};
      book.cv.wait_until(guard, stop_at,
                         [&] { return book.in_flight < o.max_in_flight; });
      if (steady::now() >= stop_at)
        break;
    }
    auto gw = gateways.pick();
    std::lock_guard<std::mutex> guard{book.mtx};
    if (!gw) {
      ++book.refused_no_coordinator; // every coordinator is down
      continue;
    }
    send_request(sys, text, tag, trade, *gw, gateways, book);
  }
}

} // namespace chaos
