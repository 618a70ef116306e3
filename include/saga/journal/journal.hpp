#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "saga/event.hpp"
#include "saga/journal/atoms.hpp"
#include "saga/journal/barrier.hpp"
#include "saga/metrics.hpp"

namespace saga {

/// One page of the index of unfinished sagas.
struct unfinished_page {
  /// Saga ids in ascending order.
  std::vector<saga_id> ids;
  /// Pass this as `after` to get the next page; empty when this was the last.
  std::string next;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unfinished_page& x) {
  return f(caf::meta::type_name("saga::unfinished_page"), x.ids, x.next);
}

/// The durable log of saga events. Every implementation (memory, Redis) is an
/// actor with this interface; saga actors talk to it asynchronously, so a
/// journal can batch appends of many sagas into one write.
///
/// Every journal actor writes for one owner: a node id and an epoch (one
/// incarnation of that node; see `journal_options`).
///
/// - append(id, events) -> last seq. Atomic: all events or none. The events
///   must continue the saga's history: the first one's seq is the stored
///   count + 1 and the rest follow without gaps; otherwise the reply is
///   `errc::journal_conflict` and nothing is written. A batch that starts
///   with seq 1 records this journal's owner as the saga's owner and adds the
///   saga to the owner node's unfinished index; one that ends with a
///   terminal event removes it once accepted (soon after the reply: with
///   the journal's next write, so a request for that saga sees it gone). Any
///   append to a saga owned by someone else is refused with `errc::fenced` (a
///   paused node that lost its sagas cannot touch them). The reply is sent only
///   after the events are durable.
/// - append(id, events, preclaims, outcomes) -> (last seq, verdicts):
///   append, and in the same atomic write record each `barrier_outcome` as
///   `barrier_done` would (its effects applied, before the events), then
///   make each `barrier_preclaim` as `barrier_claim` would decide and record
///   it, one verdict per pre-claim in order. An outcome whose claim is no
///   longer its token's (or whose effects cannot run) fails the whole
///   append, nothing written: `errc::journal_conflict` (`invalid_config`
///   for a bad effect). A batch that was stored already (a resend) records
///   and claims nothing and answers no verdicts: its outcomes landed with
///   it, and the participants then claim themselves.
/// - read(id) -> the saga's events in order, or `errc::unknown_saga`.
/// - unfinished(after, max) -> up to `max` unfinished saga ids greater than
///   `after`, in ascending order (pages; never a full scan).
/// - finish(id, state, definition, end_ms) -> whether the saga was listed as
///   unfinished; removes it. Recovery sends it for a listed saga that has
///   ended (`state`: "completed", "compensated" or "failed", the terminal
///   event's time `end_ms`) and for one without history (`state` empty).
///   An ended saga is settled first, idempotently: indexed by its end state
///   and counted (its start too, if nobody counted that), then unlisted, so
///   a crash in between leaves it listed for the next recovery.
/// - recount(id, definition): recovery resumes listed saga `id`, which has
///   not ended; its start is counted if nobody did (the writer that started
///   it may have died before sending the count). No reply.
/// - adopt(node, below, after, max) -> one page of `node`'s unfinished index
///   after `after` (an empty `node` means this journal's own): each saga
///   still owned by `node` with an epoch below `below` (own node: below this
///   journal's epoch) becomes this journal's, atomically per saga, so no two
///   adopters ever get the same saga. The reply lists the page's sagas this
///   journal owns now (adopted or already its own) and the cursor of the
///   next page; sagas owned elsewhere or ended are dropped from `node`'s
///   index.
/// - barrier_claim(id, step, op, owner) -> what the participant barrier must
///   do with this operation (see `barrier_verdict`); atomically records a
///   claim by `owner` when the verdict is proceed, and the refusal or null
///   compensation when it is one of those.
/// - barrier_done(id, step, op, owner, reply) -> true once it recorded a
///   successful outcome, with `reply.effects` (typed, see `effect`)
///   applied atomically with it, or forgot the claim of a failed one (no
///   effect: a retry runs the handler again); an effect with an empty key
///   fails with `errc::invalid_config` before any effect runs; false, changing
///   nothing, if the claim is no longer `owner`'s (it hung, and another attempt
///   claimed and settled the operation meanwhile). The participant replies only
///   after this is durable.
/// - reopen(id, event) -> the event's seq, once `event` (a `saga_retried`)
///   continues the history of failed saga `id` (its last event is
///   `saga_failed` or `saga_parked`, and `event.seq` follows it) and this
///   journal's owner owns the saga, atomically: the saga is listed in this
///   node's unfinished index again and its history no longer expires.
///   `errc::invalid_state` if the saga has not failed,
///   `errc::journal_conflict` if another event came first (another node
///   reopened it), `errc::unknown_saga` if there is no history.
/// Barrier records live as long as the saga's history (the retention).
using journal_actor = caf::typed_actor<
  caf::replies_to<append_atom, saga_id, std::vector<event>>::with<uint64_t>,
  caf::replies_to<
    append_atom, saga_id, std::vector<event>, std::vector<barrier_preclaim>,
    std::vector<barrier_outcome>>::with<uint64_t, std::vector<barrier_claim>>,
  caf::replies_to<read_atom, saga_id>::with<std::vector<event>>,
  caf::replies_to<unfinished_atom, std::string,
                  uint32_t>::with<unfinished_page>,
  caf::replies_to<finish_atom, saga_id, std::string, std::string,
                  int64_t>::with<bool>,
  caf::reacts_to<recount_atom, saga_id, std::string>,
  caf::replies_to<adopt_atom, std::string, uint64_t, std::string,
                  uint32_t>::with<unfinished_page>,
  caf::replies_to<barrier_claim_atom, saga_id, std::string, barrier_op,
                  std::string>::with<barrier_claim>,
  caf::replies_to<barrier_done_atom, saga_id, std::string, barrier_op,
                  std::string, step_reply>::with<bool>,
  caf::replies_to<reopen_atom, saga_id, event>::with<uint64_t>>;

/// Settings of a journal. A value type; only the Redis journal reads them.
struct journal_options {
  /// Writer connections to Redis, each a detached actor (one thread). Each
  /// saga always uses the same writer, so its events stay in order.
  size_t writers = 2;
  /// Appends one writer pipelines into a single round trip at most. A writer
  /// flushes when its batch is full or its mailbox is empty, so a lone saga
  /// waits for nobody and a crowd shares round trips.
  size_t max_batch = 256;
  /// How long a finished saga's history is kept before Redis expires it.
  std::chrono::seconds retention{7 * 24 * 3600};
  /// The node whose unfinished sagas this journal indexes and recovers:
  /// letters, digits, '.', '_' and '-'.
  std::string node_id = "default";
  /// This incarnation of the node: sagas it starts are owned by
  /// (node_id, epoch), and appends by any other owner are fenced. 0: a new
  /// epoch is allocated when the journal is made (see `allocate_epoch`).
  uint64_t epoch = 0;
  /// Bound on connecting and on each Redis reply.
  std::chrono::milliseconds io_timeout{2'000};
  /// Replicas that must confirm a pipeline's writes (`WAIT`, once per
  /// master written, within half of `io_timeout`) before its appends are
  /// acknowledged: with N equal to the replicas per master, a master that
  /// dies loses nothing acknowledged (whichever replica is promoted has
  /// it). 0: acknowledged once the master has it (replication is
  /// asynchronous; see docs/redis-layout.md#durability).
  uint32_t replicas = 0;
  /// Reconnect delays start here and double up to `max_reconnect_backoff`.
  std::chrono::milliseconds reconnect_backoff{50};
  std::chrono::milliseconds max_reconnect_backoff{2'000};
  /// Where the journal records its batch sizes and latencies (the
  /// runtime's metrics); null: nowhere.
  std::shared_ptr<saga::metrics> metrics;
};

/// Returns a new owner epoch from the store at `url`, greater than every one
/// it returned before: Redis counts in the key `saga:epochs`; `memory://`
/// counts per process. Blocks the caller for one round trip.
caf::expected<uint64_t> allocate_epoch(const std::string& url,
                                       const journal_options& opts = {});

/// Returns a journal actor for `url`, spawned in `sys`, or an error naming the
/// problem with the URL (`errc::invalid_url`) or the store
/// (`errc::journal_failure`: unreachable, AUTH refused, ...). Supported:
/// `memory://` (process-local, for tests and demos),
/// `redis://[user:password@]host[:port][/db]` and `unix:///path[?db=N]`.
caf::expected<journal_actor> make_journal(caf::actor_system& sys,
                                          const std::string& url,
                                          const journal_options& opts = {});

} // namespace saga
