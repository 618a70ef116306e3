#pragma once

#include <algorithm>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "saga/gateway.hpp"

namespace saga::detail {

/// One node that hosts a participant, reached through its gateway.
struct route {
  std::string node;
  gateway_actor gateway;
};

/// Which connected nodes host which participants, as the membership actor
/// last learned it, and which participants this node hosts itself. The
/// membership actor writes; remote-participant actors and the gateway read
/// on every request. Thread-safe (reads share a lock).
class route_table {
public:
  /// Returns the nodes hosting participant `name`, in a stable order.
  std::vector<route> routes(const std::string& name) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = by_participant_.find(name);
    return i == by_participant_.end() ? std::vector<route>{} : i->second;
  }

  /// Replaces what node `node` hosts (nothing: the node is gone).
  void set_node(const std::string& node, const gateway_actor& gw,
                const std::vector<std::string>& participants) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    drop_locked(node);
    for (const auto& name : participants)
      by_participant_[name].push_back(route{node, gw});
  }

  /// Forgets node `node`.
  void drop_node(const std::string& node) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    drop_locked(node);
  }

  /// Returns whether this node hosts participant `name` itself.
  bool is_local(const std::string& name) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return local_.count(name) > 0;
  }

  void add_local(const std::string& name) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    local_.insert(name);
  }

  /// Returns the participants this node hosts, sorted.
  std::vector<std::string> local() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return {local_.begin(), local_.end()};
  }

  /// Drops every handle (shutdown).
  void clear() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    by_participant_.clear();
  }

private:
  void drop_locked(const std::string& node) {
    for (auto i = by_participant_.begin(); i != by_participant_.end();) {
      auto& v = i->second;
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](const route& r) { return r.node == node; }),
              v.end());
      i = v.empty() ? by_participant_.erase(i) : std::next(i);
    }
  }

  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, std::vector<route>> by_participant_;
  std::set<std::string> local_;
};

using route_table_ptr = std::shared_ptr<route_table>;

} // namespace saga::detail
