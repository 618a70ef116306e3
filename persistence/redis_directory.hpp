#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_url.hpp"

namespace saga {

/// One node as the directory lists it.
struct node_record {
  std::string id;
  std::string host;
  uint16_t port = 0;
  /// The incarnation that registered last.
  uint64_t epoch = 0;
  bool coordinates = false;
  /// The names of the participants it hosts.
  std::vector<std::string> participants;
  /// Where its admin HTTP API listens, "host:port"; empty: nowhere.
  std::string admin;
  /// Whether that incarnation holds its lease right now.
  bool alive = false;
};

/// What renewing a lease found.
enum class lease_status : uint8_t {
  /// The lease was ours and is extended.
  held,
  /// Nobody held it: first registration, or ours had expired (we were
  /// paused or cut off) and is taken again.
  taken,
  /// A newer incarnation of the same node id holds it: stop.
  replaced,
};

/// The cluster's node directory in Redis (layout: docs/redis-layout.md):
/// who is a member, where its gateway listens, and whose lease is alive.
/// Blocking; one owner (a detached actor). Reconnects on the next call
/// after an I/O error.
class redis_directory {
public:
  redis_directory(redis_endpoint ep, std::chrono::milliseconds io_timeout);

  /// Registers `self` (or refreshes its record) and takes or extends its
  /// lease for `lease`; returns what it found.
  caf::expected<lease_status> heartbeat(const node_record& self,
                                        std::chrono::milliseconds lease);

  /// Returns how many sagas node `id` lists as unfinished, and how many
  /// ended failed within the retention (cluster-wide), awaiting an
  /// operator: two ZCARDs, O(1) each.
  caf::expected<std::pair<int64_t, int64_t>> saga_counts(const std::string& id);

  /// Returns every registered node. Reads one small record per node: the
  /// member set is as large as the cluster, never per saga.
  caf::expected<std::vector<node_record>> list();

  /// Removes dead node `id` from the directory if incarnation `epoch` still
  /// is its last, its lease is gone and no unfinished saga is listed for it
  /// anymore; returns whether it did.
  caf::expected<bool> forget(const std::string& id, uint64_t epoch);

  /// Releases our lease at once (clean shutdown), if `epoch` holds it.
  caf::expected<bool> release(const std::string& id, uint64_t epoch);

private:
  caf::expected<redis_connection*> conn() {
    return link_.get();
  }

  redis_link link_;
};

/// Returns the command that reads the fields of node hash `key` (a view
/// into `key`, which must outlive it) that node_from_replies() parses.
std::vector<std::string_view> node_hash_read(std::string_view key);

/// Returns node `id` as read by node_hash_read() of its record (`hash`) and
/// a GET of its lease key (`lease`). A record that is not readable gives a
/// node that is not alive and has nothing but its id.
node_record node_from_replies(std::string id, const redisReply* hash,
                              const redisReply* lease);

/// Returns the key of node `id`'s lease: `saga:lease:{<id>}`.
std::string redis_lease_key(const std::string& id);

/// Returns the key of node `id`'s record: `saga:node:{<id>}`.
std::string redis_node_key(const std::string& id);

} // namespace saga
