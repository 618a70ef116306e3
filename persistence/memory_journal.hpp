#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "saga/journal/journal.hpp"

namespace saga {

/// Who writes a saga: one incarnation (epoch) of one node.
struct saga_owner {
  std::string node = "default";
  uint64_t epoch = 1;

  friend bool operator==(const saga_owner& x, const saga_owner& y) {
    return x.node == y.node && x.epoch == y.epoch;
  }
};

/// Process-local saga histories, for tests and demos. Thread-safe (one
/// mutex). Keeps at most `max_finished` finished histories, dropping the
/// oldest first, so a long run cannot grow memory without bound.
class memory_store {
public:
  explicit memory_store(size_t max_finished = 100'000)
    : max_finished_(max_finished) {
    // Buckets for the retained histories up front (about 2.5 MB for the
    // default): growing a map of 100k sagas rehashes every node under the
    // lock, a 10-40 ms stall of every saga (saga_bench, 1 in flight: max
    // latency 21-24 ms in 4 s, 41 ms in 8 s; 1.3-4.1 ms with the buckets).
    histories_.reserve(max_finished_);
    owners_.reserve(max_finished_);
    barriers_.reserve(max_finished_);
  }

  /// Appends `events` to saga `id` atomically for `owner`; see
  /// `journal_actor`.
  caf::expected<uint64_t> append(const saga_id& id,
                                 const std::vector<event>& events,
                                 const saga_owner& owner = {});

  /// Appends as above and, only if the batch was not stored already,
  /// records `outcomes` as `done` would (all effects as one batch; the
  /// append fails whole when a claim is not its token's or an effect
  /// fails), then makes `preclaims` as `claim` would, all under the same
  /// lock; returns the last seq and one verdict per pre-claim (none for a
  /// batch stored already).
  caf::expected<std::pair<uint64_t, std::vector<barrier_claim>>>
  append(const saga_id& id, const std::vector<event>& events,
         const saga_owner& owner,
         const std::vector<barrier_preclaim>& preclaims,
         const std::vector<barrier_outcome>& outcomes = {});

  /// Returns the events of saga `id`, or `errc::unknown_saga`.
  caf::expected<std::vector<event>> read(const saga_id& id) const;

  /// Returns up to `max` unfinished saga ids of `node` greater than `after`.
  unfinished_page unfinished(const std::string& after, uint32_t max,
                             const std::string& node = "default") const;

  /// Removes `id` from `node`'s unfinished index; returns whether it was
  /// there.
  bool finish(const saga_id& id, const std::string& node = "default");

  /// Adopts one page of `node`'s unfinished sagas for `owner`; see
  /// `journal_actor`.
  unfinished_page adopt(const std::string& node, uint64_t below,
                        const std::string& after, uint32_t max,
                        const saga_owner& owner);

  /// Reopens failed saga `id` for `owner` with `ev` (a `saga_retried`);
  /// see `journal_actor`.
  caf::expected<uint64_t> reopen(const saga_id& id, const event& ev,
                                 const saga_owner& owner);

  /// Returns the owner of saga `id`, if it has one.
  std::optional<saga_owner> owner_of(const saga_id& id) const;

  /// Returns the number of stored histories.
  size_t size() const;

  /// Decides and records an incoming participant operation; see
  /// `journal_actor` and `barrier_verdict`.
  barrier_claim claim(const saga_id& id, const std::string& step, barrier_op op,
                      const std::string& owner);

  /// Records the outcome of a claimed operation; see `journal_actor`. A
  /// successful outcome's `reply.effects` are applied to this store's hashes
  /// under the same lock as the record, so they happen exactly once, with
  /// the semantics of their Redis commands (see `effect`). All effects are
  /// checked before any is applied: an empty key, or an `incr_by` of a
  /// field that holds no 64-bit integer (or that would overflow), fails
  /// with `errc::invalid_config` naming the effect, applies nothing and
  /// leaves the claim open. A claim that is no longer `owner`'s yields
  /// false and applies nothing.
  caf::expected<bool> done(const saga_id& id, const std::string& step,
                           barrier_op op, const std::string& owner,
                           step_reply reply);

  /// Returns the fields of hash `key` written by atomic effects (see
  /// `done`), or an empty map if there is no such hash. Hashes are
  /// participant data: retiring finished histories never drops them.
  std::map<std::string, std::string> read_hash(const std::string& key) const;

  /// Sets `fields` in hash `key` (seeding participant data in demos and
  /// tests; participants write through `step_outcome::atomically`).
  void write_hash(const std::string& key,
                  const std::map<std::string, std::string>& fields);

private:
  /// `append` with `mtx_` held; `fresh` tells whether it stored the batch
  /// now (false: refused, or stored already).
  caf::expected<uint64_t> append_locked(const saga_id& id,
                                        const std::vector<event>& events,
                                        const saga_owner& owner, bool& fresh);

  /// Returns why `events` cannot continue saga `id` for `owner`, or no
  /// error; sets `landed` to the batch's last seq if it was stored already
  /// (a resend), else leaves it. `mtx_` held.
  caf::error vet_locked(const saga_id& id, const std::vector<event>& events,
                        const saga_owner& owner, uint64_t& landed) const;

  /// Stores `events`, vetted; returns the last seq. `mtx_` held.
  uint64_t store_locked(const saga_id& id, const std::vector<event>& events,
                        const saga_owner& owner);

  /// Records `outcomes` of saga `id` (see `barrier_outcome`), or applies
  /// nothing and returns why not. `mtx_` held.
  caf::error settle_locked(const saga_id& id,
                           const std::vector<barrier_outcome>& outcomes);

  /// `claim` with `mtx_` held.
  barrier_claim claim_locked(const saga_id& id, const std::string& step,
                             barrier_op op, const std::string& owner);

  struct barrier_record {
    bool done = false;
    std::string owner;
    step_reply reply;
    /// An execute revoked by a compensation before it recorded an outcome.
    bool revoked = false;
    /// An execute whose attempt this failed (not done, no owner; `reply` is
    /// the failure): copies of it and of earlier attempts get `reply`.
    uint32_t failed_attempt = 0;

    /// Returns whether this is an open claim of `token`.
    bool claimed_by(const std::string& token) const {
      return !done && owner == token;
    }

    /// Records the success `r`, its effects applied already (the stored
    /// reply keeps none). The claim's owner stays as the record's writer.
    void succeed(step_reply r) {
      done = true;
      reply = std::move(r);
      reply.effects.clear();
    }
  };

  void retire(const saga_id& id);

  mutable std::mutex mtx_;
  size_t max_finished_;
  std::unordered_map<saga_id, std::vector<event>> histories_;
  /// Unfinished sagas by node.
  std::unordered_map<std::string, std::set<saga_id>> unfinished_;
  std::unordered_map<saga_id, saga_owner> owners_;
  std::deque<saga_id> finished_;
  /// Barrier records by saga, then by "<step>/x" or "<step>/c".
  std::unordered_map<saga_id, std::unordered_map<std::string, barrier_record>>
    barriers_;
  /// The hashes written by atomic effects; an emptied hash is removed.
  std::unordered_map<std::string, std::unordered_map<std::string, std::string>>
    hashes_;
};

/// Returns a journal actor that serves `store` (shared with other journals
/// and with tests that inspect it directly) and writes as `owner`.
journal_actor spawn_memory_journal(caf::actor_system& sys,
                                   std::shared_ptr<memory_store> store,
                                   saga_owner owner = {});

} // namespace saga
