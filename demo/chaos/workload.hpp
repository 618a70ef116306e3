// demo/chaos/workload.hpp: the sagas the campaign drives: purchases and
// trades among its players, drawn from the workload seed and started at a
// steady rate through the coordinators' gateways. The client book and the
// gateway table are shared by the client thread, the actors that receive
// the answers and the main thread: each guards itself with its mutex.

#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>

#include <saga/saga.hpp>

#include "demo/chaos/options.hpp"

namespace chaos {

/// The realm of the game servers' data (demo/game_servers.hpp).
constexpr const char* realm = "chaos";

/// Returns the name of player `i`.
std::string player_name(size_t i);

/// Returns the name of the `k`-th of the 3 items player `player` starts with.
std::string heirloom(size_t player, size_t k);

/// One saga the client asked for.
struct saga_request {
  std::string tag;
  bool trade = false;
  std::string coordinator;
  bool answered = false;
  /// The coordinator's answer: the saga's result, or why there is none.
  saga::saga_result result;
  std::string error;
};

/// The client's side: every saga it asked for. Thread-safe.
struct client_book {
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<saga_request> requests;
  size_t in_flight = 0;
  size_t refused_no_coordinator = 0;
};

/// The coordinators' gateways the client can reach (null: down).
struct gateway_table {
  std::mutex mtx;
  std::vector<std::pair<std::string, saga::gateway_actor>> entries;
  size_t next = 0;

  /// Coordinators whose connection dropped while they ran (e.g. one that
  /// was paused past the connection timeout drops its peers when it wakes):
  /// the client connects again, as any client would.
  std::set<std::string> lost_ids;

  void set(const std::string& id, saga::gateway_actor gw) {
    std::lock_guard<std::mutex> guard{mtx};
    lost_ids.erase(id);
    for (auto& e : entries)
      if (e.first == id) {
        e.second = std::move(gw);
        return;
      }
    entries.emplace_back(id, std::move(gw));
  }

  /// Marks the connection `gw` to coordinator `id` as gone (if it is still
  /// the current one).
  void lost(const std::string& id, const saga::gateway_actor& gw) {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& e : entries)
      if (e.first == id && e.second && e.second == gw) {
        e.second = saga::gateway_actor{};
        lost_ids.insert(id);
      }
  }

  bool is_lost(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    return lost_ids.count(id) > 0;
  }

  std::optional<std::pair<std::string, saga::gateway_actor>> pick() {
    std::lock_guard<std::mutex> guard{mtx};
    for (size_t i = 0; i < entries.size(); ++i) {
      auto& e = entries[next++ % entries.size()];
      if (e.second)
        return e;
    }
    return std::nullopt;
  }
};

/// Returns the definition text of a saga drawn from `rng`, a trade or a
/// purchase (`trade` says which); the tag rides in the first step's
/// payload, so the checker can match every saga in Redis to the request
/// that started it.
std::string make_saga(std::mt19937_64& rng, const options& o,
                      const std::string& tag, bool& trade);

/// Sends `text` to coordinator `gw`; `done` gets the result or the error.
/// `lost` tells that the connection to the coordinator is gone.
void start_saga(
  caf::actor_system& sys, const saga::gateway_actor& gw,
  const std::string& text,
  const std::function<void(saga::saga_result, std::string, bool lost)>& done);

/// Runs the client until `stop_at` (on the calling thread): starts the
/// `n`-th saga at t0 + n / rate, at most max_in_flight at once, through the
/// next coordinator up, and records it and its answer in `book`.
void run_client(caf::actor_system& sys, const options& o, uint64_t seed,
                steady::time_point t0, steady::time_point stop_at,
                gateway_table& gateways, client_book& book);

} // namespace chaos
