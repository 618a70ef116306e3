#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "saga/journal.hpp"

namespace saga {

/// Process-local saga histories, for tests and demos. Thread-safe (one
/// mutex). Keeps at most `max_finished` finished histories, dropping the
/// oldest first, so a long run cannot grow memory without bound.
class memory_store {
public:
  explicit memory_store(size_t max_finished = 100'000)
    : max_finished_(max_finished) {
    // nop
  }

  /// Appends `events` to saga `id` atomically; see `journal_actor`.
  caf::expected<uint64_t> append(const saga_id& id,
                                 const std::vector<event>& events);

  /// Returns the events of saga `id`, or `errc::unknown_saga`.
  caf::expected<std::vector<event>> read(const saga_id& id) const;

  /// Returns up to `max` unfinished saga ids greater than `after`.
  unfinished_page unfinished(const std::string& after, uint32_t max) const;

  /// Removes `id` from the unfinished index; returns whether it was there.
  bool finish(const saga_id& id);

  /// Returns the number of stored histories.
  size_t size() const;

  /// Decides and records an incoming participant operation; see
  /// `journal_actor` and `barrier_verdict`.
  barrier_claim claim(const saga_id& id, const std::string& step,
                      barrier_op op, const std::string& owner);

  /// Records the outcome of a claimed operation. Atomic effects need the
  /// Redis journal: with effects, this fails with `errc::invalid_config`.
  caf::expected<bool> done(const saga_id& id, const std::string& step,
                           barrier_op op, const std::string& owner,
                           step_reply reply);

private:
  struct barrier_record {
    bool done = false;
    std::string owner;
    step_reply reply;
  };

  void retire(const saga_id& id);

  mutable std::mutex mtx_;
  size_t max_finished_;
  std::unordered_map<saga_id, std::vector<event>> histories_;
  std::set<saga_id> unfinished_;
  std::deque<saga_id> finished_;
  /// Barrier records by saga, then by "<step>/x" or "<step>/c".
  std::unordered_map<saga_id, std::unordered_map<std::string, barrier_record>>
    barriers_;
};

/// Returns a journal actor serving `store` (shared with other journals and
/// with tests that inspect it directly).
journal_actor spawn_memory_journal(caf::actor_system& sys,
                                   std::shared_ptr<memory_store> store);

} // namespace saga
