#include "demo/chaos/checker.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>

#include "demo/game_servers.hpp"
#include "persistence/redis_journal.hpp"

namespace chaos {

namespace {

using counts = std::map<std::string, int64_t>;
using hash = std::map<std::string, std::string>;

/// Adds the changes that step `x` of saga `id` makes to the game's data
/// when its effect stands (demo/game_servers.hpp).
void effect_of(const std::string& id, const saga_info::step& x, counts& balance,
               counts& items, counts& purchases) {
  auto text = [&](const char* k) {
    auto i = x.payload.find(k);
    return i != x.payload.end() && i->is_string() ? i->get<std::string>()
                                                  : std::string{};
  };
  auto number = [&](const char* k) {
    auto i = x.payload.find(k);
    return i != x.payload.end() && i->is_number_integer() ? i->get<int64_t>()
                                                          : int64_t{0};
  };
  if (x.action == "deduct_balance")
    balance[text("playerId")] -= number("amount");
  else if (x.action == "add_item")
    items[text("playerId") + "/" + text("itemId")] += 1;
  else if (x.action == "remove_item")
    items[text("playerId") + "/" + text("itemId")] -= 1;
  else if (x.action == "log_purchase")
    purchases[id] += number("price");
}

bool starts(const std::string& k, const char* p) {
  return k.rfind(p, 0) == 0;
}

bool ends(const std::string& k, const std::string& s) {
  return k.size() >= s.size()
         && k.compare(k.size() - s.size(), s.size(), s) == 0;
}

/// The checks after the run, over what they borrow.
class final_checker {
public:
  final_checker(const options& o, const std::map<std::string, saga_info>& sagas,
                const std::vector<node_proc>& nodes, client_book& book,
                const std::string& url, violations& v)
    : o_(o), sagas_(sagas), nodes_(nodes), book_(book), rc_(url), v_(v) {
  }

  final_figures run() {
    f_.sagas = sagas_.size();
    check_terminal();
    check_client();
    if (check_effects())
      check_leftovers();
    return f_;
  }

private:
  /// terminal: every saga ended; no index lists one as unfinished.
  void check_terminal() {
    for (auto& [id, s] : sagas_) {
      if (!s.ended) {
        ++f_.open;
        v_.add("terminal", "saga " + id + " has not ended");
        continue;
      }
      if (!s.verified)
        v_.add("terminal", "saga " + id + " ended but could not be checked");
      ++f_.outcomes[s.definition][s.status];
    }
    for (auto& n : nodes_) {
      auto r = rc_.run({"ZRANGE", saga::redis_unfinished_key(n.id), "0", "-1"});
      if (!r)
        v_.add("terminal", "cannot read the unfinished index of " + n.id);
      else
        for (size_t i = 0; i < r->elements; ++i) {
          auto id = str(r->element[i]);
          auto it = sagas_.find(id);
          v_.add(it != sagas_.end() && it->second.ended ? "retention"
                                                        : "terminal",
                 "saga:unfinished:{" + n.id + "} still lists saga " + id
                   + (it != sagas_.end() && it->second.ended
                        ? ", which ended "
                            + std::to_string((wall_ms() - it->second.end_ms)
                                             / 1000)
                            + " s ago"
                        : ""));
        }
    }
  }

  /// replay: the client's view against the journals.
  void check_client() {
    std::map<std::string, std::vector<std::string>> by_tag;
    for (auto& [id, s] : sagas_)
      if (s.verified)
        by_tag[s.tag].push_back(id);
    std::set<std::string> asked;
    {
      std::lock_guard<std::mutex> guard{book_.mtx};
      for (auto& r : book_.requests) {
        asked.insert(r.tag);
        check_request(r, by_tag);
      }
    }
    for (auto& [tag, ids] : by_tag)
      if (asked.count(tag) == 0)
        v_.add("replay", "saga " + ids.front() + " carries request tag '" + tag
                           + "', which the client never sent");
  }

  /// Checks the answer to request `r` against the sagas of its tag.
  void
  check_request(const saga_request& r,
                const std::map<std::string, std::vector<std::string>>& by_tag) {
    auto found = by_tag.find(r.tag);
    if (found != by_tag.end() && found->second.size() > 1)
      v_.add("replay", "request " + r.tag + " started "
                         + std::to_string(found->second.size()) + " sagas");
    if (!r.answered) {
      ++f_.unanswered;
    } else if (!r.result.saga_id.empty() && saga::is_terminal(r.result.state)) {
      ++f_.answered;
      auto it = sagas_.find(r.result.saga_id);
      if (it == sagas_.end()) {
        v_.add("replay", "the client got "
                           + std::string{saga::to_string(r.result.state)}
                           + " for saga " + r.result.saga_id
                           + ", which Redis never held");
        return;
      }
      auto& s = it->second;
      ++f_.results_compared;
      std::vector<std::string> completed;
      for (auto& x : s.steps)
        if (x.status == saga::step_status::completed)
          completed.push_back(x.name);
      auto live_completed = r.result.completed_steps;
      auto live_compensated = r.result.compensated_steps;
      std::sort(live_completed.begin(), live_completed.end());
      std::sort(completed.begin(), completed.end());
      if (s.tag != r.tag || s.status != r.result.state
          || (s.status == saga::saga_status::completed
              && live_completed != completed)
          || (s.status == saga::saga_status::compensated
              && live_compensated != s.compensated_order))
        v_.add("replay",
               "saga " + s.id + ": the client's result ("
                 + std::string{saga::to_string(r.result.state)}
                 + (r.result.success ? ", success" : ", no success")
                 + (r.result.error ? ", error " + saga::describe(r.result.error)
                                   : std::string{})
                 + ", request " + r.tag + ") differs from its journal ("
                 + std::string{saga::to_string(s.status)} + ", request " + s.tag
                 + ")");
    } else {
      ++f_.answer_errors;
      if (found == by_tag.end())
        ++f_.unpersisted;
    }
  }

  /// applied-once and conservation: the participants' data against the
  /// journals. Returns false when the data cannot be read.
  bool check_effects() {
    bool ok = true;
    auto applied = rc_.hgetall(demo::applied_key(realm), &ok);
    auto balances = rc_.hgetall(demo::balance_key(realm), &ok);
    auto items = rc_.hgetall(demo::items_key(realm), &ok);
    auto purchases = rc_.hgetall(demo::purchases_key(realm), &ok);
    if (!ok) {
      v_.add("conservation", "cannot read the game servers' data");
      return false;
    }
    counts want_balance;
    counts want_items;
    counts want_purchases;
    for (size_t p = 0; p < o_.players; ++p) {
      want_balance[player_name(p)] = 1000;
      for (size_t k = 0; k < 3; ++k)
        want_items[player_name(p) + "/" + heirloom(p, k)] = 1;
    }
    f_.money_before = 1000 * static_cast<int64_t>(o_.players);
    f_.items_before = 3 * static_cast<int64_t>(o_.players);
    expect_effects(applied, want_balance, want_items, want_purchases);
    compare("balance", want_balance, balances);
    compare("item count", want_items, items);
    compare("purchase record", want_purchases, purchases);
    check_totals(balances, items, purchases);
    return true;
  }

  /// Adds the effects that stand, by the participants' applied counts, to
  /// the `want_` maps; checks each was applied at most once and as its
  /// journal says.
  void expect_effects(const hash& applied, counts& want_balance,
                      counts& want_items, counts& want_purchases) {
    std::set<std::string> counted;
    auto count_of = [&](const std::string& field) -> int64_t {
      counted.insert(field);
      auto i = applied.find(field);
      return i == applied.end() ? 0 : std::stoll(i->second);
    };
    for (auto& [id, s] : sagas_) {
      if (!s.verified)
        continue;
      for (auto& x : s.steps) {
        auto base = id + "|" + x.name + "|";
        auto xs = count_of(base + "x");
        auto cs = count_of(base + "c");
        f_.executes += static_cast<size_t>(std::max<int64_t>(0, xs));
        f_.compensations += static_cast<size_t>(std::max<int64_t>(0, cs));
        if (xs > 1 || cs > 1 || xs < 0 || cs < 0 || cs > xs) {
          v_.add("applied-once", "saga " + id + " step '" + x.name
                                   + "': its effect was applied "
                                   + std::to_string(xs)
                                   + " times and its compensation's "
                                   + std::to_string(cs) + " times");
          continue;
        }
        auto net = xs - cs;
        if (x.expected >= 0 && net != x.expected)
          v_.add("replay", "saga " + id + " ("
                             + std::string{saga::to_string(s.status)}
                             + ") step '" + x.name + "' is "
                             + std::string{saga::to_string(x.status)}
                             + " in its journal, but its effect "
                             + (net ? "stands" : "does not stand")
                             + " at the participant");
        if (net == 1)
          effect_of(id, x, want_balance, want_items, want_purchases);
      }
    }
    for (auto& [field, n] : applied)
      if (counted.count(field) == 0)
        v_.add("applied-once", "an effect was applied for '" + field
                                 + "', a step of no saga the checker knows");
  }

  /// Checks every balance, item count or purchase record `have` exactly.
  void compare(const char* what, const counts& want, const hash& have) {
    std::set<std::string> keys;
    for (auto& [k, x] : want)
      keys.insert(k);
    for (auto& [k, x] : have)
      keys.insert(k);
    for (auto& k : keys) {
      ++f_.keys_compared;
      auto w = want.count(k) ? want.at(k) : 0;
      auto h = have.count(k) ? std::stoll(have.at(k)) : 0;
      if (w != h)
        v_.add("conservation", std::string{what} + " '" + k + "' is "
                                 + std::to_string(h) + "; the journals imply "
                                 + std::to_string(w));
    }
  }

  /// The demo's conservation check over all players.
  void check_totals(const hash& balances, const hash& items,
                    const hash& purchases) {
    for (auto& [k, x] : balances)
      f_.money_after += std::stoll(x);
    for (auto& [k, x] : items)
      f_.items_after += std::stoll(x);
    for (auto& [k, x] : purchases)
      f_.spent += std::stoll(x);
    f_.bought = static_cast<int64_t>(purchases.size());
    if (f_.money_after != f_.money_before - f_.spent)
      v_.add("conservation",
             "money: " + std::to_string(f_.money_after) + " after, but "
               + std::to_string(f_.money_before) + " before less "
               + std::to_string(f_.spent) + " logged as spent");
    if (f_.items_after != f_.items_before + f_.bought)
      v_.add("conservation",
             "items: " + std::to_string(f_.items_after) + " after, but "
               + std::to_string(f_.items_before) + " before plus "
               + std::to_string(f_.bought) + " logged as bought");
  }

  /// retention: every key of the store is one the layout names, and no
  /// saga key lives without an expiry.
  void check_leftovers() {
    auto keys = rc_.scan("*");
    if (!keys) {
      v_.add("retention", "cannot SCAN the store");
      return;
    }
    f_.scanned_keys = keys->size();
    for (auto& k : *keys) {
      if (starts(k, "saga:{")) {
        check_saga_key(k);
        continue;
      }
      if (starts(k, "saga:key:{")) {
        // A business key's index: kept two retentions, never forever.
        auto ttl = rc_.run({"PTTL", k});
        if (ttl
            && (ttl->integer == -1
                || ttl->integer > 2 * o_.retention.count() * 1000))
          v_.add("retention", k + " has no expiry within two retentions");
        continue;
      }
      bool known = k == "saga:counts" || k == saga::redis_seen_key()
                   || k == saga::redis_ids_key() || k == "saga:audit"
                   || k == "saga:epochs" || k == "saga:nodes"
                   || starts(k, "saga:unfinished:{")
                   || starts(k, "saga:ended:{") || starts(k, "saga:lease:{")
                   || starts(k, "saga:node:{") || starts(k, "game:{");
      if (!known)
        v_.add("retention", "unknown key " + k);
    }
  }

  /// Checks key `k` of a saga ("saga:{id}:...").
  void check_saga_key(const std::string& k) {
    std::string id;
    for (auto sfx : {"}:events", "}:owner", "}:barrier"})
      if (ends(k, sfx))
        id = k.substr(6, k.size() - 6 - std::strlen(sfx));
    if (id.empty()) {
      v_.add("retention", "unknown key " + k);
      return;
    }
    auto ttl = rc_.run({"PTTL", k});
    if (ttl && ttl->integer == -1)
      v_.add("retention", k + " has no expiry");
    else if (ttl && ttl->integer > o_.retention.count() * 1000)
      v_.add("retention", k + " expires in " + std::to_string(ttl->integer)
                            + " ms, beyond the retention");
    if (sagas_.count(id) == 0 && ttl && ttl->integer != -2) {
      // An owner without any history: an adopter planted it on a saga
      // its node listed but died (or was replaced) before writing, to
      // fence a late first batch (docs/redis-layout.md); it expires
      // within the retention, checked above. Anything else is a leak.
      auto events = rc_.run({"EXISTS", "saga:{" + id + "}:events"});
      if (ends(k, "}:owner") && events && events->integer == 0) {
        ++f_.planted_owners;
        return;
      }
      v_.add("retention", k
                            + " belongs to no saga the checker found "
                              "(its history is gone)");
    }
  }

  const options& o_;
  const std::map<std::string, saga_info>& sagas_;
  const std::vector<node_proc>& nodes_;
  client_book& book_;
  redis_client rc_;
  violations& v_;
  final_figures f_;
};

} // namespace

final_figures check_after_run(const options& o,
                              const std::map<std::string, saga_info>& sagas,
                              const std::vector<node_proc>& nodes,
                              client_book& book, const std::string& url,
                              violations& v) {
  return final_checker{o, sagas, nodes, book, url, v}.run();
}

} // namespace chaos
