#pragma once

// Journals under test, made fresh for each test and driven through the
// journal_actor protocol (include/saga/journal.hpp). One kind per journal:
// `memory_kind` (a new memory_store per test), `redis_kind` (this test
// program's redis-server, see shared_server()) and `redis_cluster_kind`
// (its Redis Cluster, see shared_cluster()); `journal_fixture<Kind>`
// holds the helpers. Used by the conformance suite both journals pass
// (tests/journal_conformance_test.cpp) and by the Redis-only tests
// (tests/redis_journal_test.cpp).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <hiredis/hiredis.h>

#include "persistence/memory_journal.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/redis_server.hpp"

namespace saga::test {

// -- events -------------------------------------------------------------------

/// Returns the saga_started event of a one-step saga.
inline event started(uint64_t seq = 1) {
  definition d{"t"};
  d.step("a", "p");
  event ev;
  ev.seq = seq;
  ev.type = event_type::saga_started;
  ev.data = d.to_json().dump();
  ev.time_ms = 1700000000000;
  return ev;
}

inline event make(uint64_t seq, event_type type, int32_t step = 0,
                  uint32_t attempt = 1, std::string data = {},
                  std::string error = {}) {
  event ev;
  ev.seq = seq;
  ev.type = type;
  ev.step = step;
  ev.attempt = attempt;
  ev.data = std::move(data);
  ev.error = std::move(error);
  ev.time_ms = 1700000000000 + static_cast<int64_t>(seq);
  return ev;
}

/// The first batch of a saga: saga_started and step_started.
inline std::vector<event> opening() {
  return {started(), make(2, event_type::step_started)};
}

/// The batch after opening(): step 0 succeeded, step 1 started.
inline std::vector<event> next_batch() {
  return {make(3, event_type::step_succeeded),
          make(4, event_type::step_started, 1)};
}

/// A whole history in one batch, ending with `terminal`.
inline std::vector<event>
whole(event_type terminal = event_type::saga_completed) {
  return {started(), make(2, event_type::step_started),
          make(3, event_type::step_succeeded), make(4, terminal, -1, 0)};
}

inline std::vector<uint64_t> seqs_of(const std::vector<event>& events) {
  std::vector<uint64_t> result;
  result.reserve(events.size());
  for (const auto& ev : events)
    result.push_back(ev.seq);
  return result;
}

/// Returns the owner token of `node`'s incarnation `epoch`: "<node>/<epoch>".
inline std::string token(const std::string& node, uint64_t epoch) {
  return node + "/" + std::to_string(epoch);
}

// -- journal kinds ------------------------------------------------------------

/// The memory journal: each test gets a new memory_store, which all of its
/// journals share (as the nodes of one process would).
class memory_kind {
public:
  static constexpr const char* name = "memory";

  caf::expected<journal_actor> spawn(caf::actor_system& sys,
                                     const journal_options& opts) {
    return spawn_memory_journal(sys, store_,
                                saga_owner{opts.node_id, opts.epoch});
  }

  /// The members of `node`'s unfinished index, in order.
  std::vector<std::string> index_of(const std::string& node) const {
    return store_->unfinished("", 1'000'000, node).ids;
  }

  /// The owner token of saga `id`, or "(nil)".
  std::string owner_of(const saga_id& id) const {
    auto o = store_->owner_of(id);
    return o ? token(o->node, o->epoch) : "(nil)";
  }

  /// Field `field` of hash `key` (written by atomic effects), or "(nil)".
  std::string hash_field(const std::string& key, const std::string& field) {
    auto h = store_->read_hash(key);
    auto i = h.find(field);
    return i == h.end() ? "(nil)" : i->second;
  }

private:
  std::shared_ptr<memory_store> store_ = std::make_shared<memory_store>();
};

/// The Redis journal on this test program's redis-server (shared by its
/// tests: they keep apart by node and saga ids that carry the test's name
/// and run, see `journal_fixture`). Inspects the keys directly.
class redis_kind {
public:
  static constexpr const char* name = "redis";

  explicit redis_kind(std::string url = shared_server().url())
    : url_(std::move(url)) {
    auto ep = parse_redis_url(url_);
    EXPECT_TRUE(ep) << describe(ep.error());
    auto c = redis_connection::connect(*ep, std::chrono::seconds{2});
    EXPECT_TRUE(c) << describe(c.error());
    if (c)
      conn_ = std::move(*c);
  }

  caf::expected<journal_actor> spawn(caf::actor_system& sys,
                                     const journal_options& opts) {
    return make_journal(sys, url_, opts);
  }

  std::vector<std::string> index_of(const std::string& node) {
    std::vector<std::string> result;
    auto r = conn_.command({"ZRANGE", redis_unfinished_key(node), "0", "-1"});
    EXPECT_TRUE(r);
    if (!r)
      return result;
    for (size_t i = 0; i < (*r)->elements; ++i)
      result.emplace_back((*r)->element[i]->str, (*r)->element[i]->len);
    return result;
  }

  std::string owner_of(const saga_id& id) {
    auto r = conn_.command({"GET", redis_owner_key(id)});
    EXPECT_TRUE(r);
    if (!r || (*r)->type != REDIS_REPLY_STRING)
      return "(nil)";
    return std::string((*r)->str, (*r)->len);
  }

  std::string hash_field(const std::string& key, const std::string& field) {
    auto r = conn_.command({"HGET", key, field});
    EXPECT_TRUE(r);
    if (!r || (*r)->type != REDIS_REPLY_STRING)
      return "(nil)";
    return std::string((*r)->str, (*r)->len);
  }

  /// A connection of the test's own, for looking at (and damaging) keys.
  redis_connection& conn() {
    return conn_;
  }

private:
  std::string url_;
  redis_connection conn_;
};

/// The Redis journal on this test program's Redis Cluster (3 masters with a
/// replica each, tests/support/redis_cluster), through `redis+cluster://`:
/// every command routed by its slot.
class redis_cluster_kind : public redis_kind {
public:
  static constexpr const char* name = "redis_cluster";

  redis_cluster_kind() : redis_kind(cluster_url()) {
    // nop
  }

private:
  static std::string cluster_url() {
    auto* c = shared_cluster();
    EXPECT_NE(c, nullptr) << "the cluster did not start (see stderr)";
    return c != nullptr ? c->url() : "redis+cluster://127.0.0.1:1";
  }
};

// -- the fixture --------------------------------------------------------------

/// Journals of kind `Kind` for one test, each writing for its own owner,
/// and requests to them (each bounded by 10 s).
template <class Kind>
class journal_fixture : public ::testing::Test {
protected:
  journal_fixture() {
    add_message_types(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    opts_.retention = std::chrono::seconds{3600};
  }

  ~journal_fixture() override {
    for (auto& j : journals_)
      caf::anon_send_exit(j, caf::exit_reason::user_shutdown);
  }

  /// The test's name and run (--gtest_repeat reuses the shared server).
  std::string test_name() const {
    return std::string{
             ::testing::UnitTest::GetInstance()->current_test_info()->name()}
           + "." + std::to_string(run_);
  }

  /// A node id of this test only.
  std::string node(const std::string& suffix) const {
    return test_name() + "-" + suffix;
  }

  /// A saga id of this test only.
  std::string sid(const std::string& suffix) const {
    return test_name() + "-" + suffix;
  }

  /// Returns a journal writing as `<node>/<epoch>` (epoch 0: allocated).
  journal_actor journal_for(const std::string& node_id, uint64_t epoch,
                            size_t writers = 2) {
    journal_options opts = opts_;
    opts.node_id = node_id;
    opts.epoch = epoch;
    opts.writers = writers;
    auto j = kind_.spawn(*sys_, opts);
    EXPECT_TRUE(j) << describe(j.error());
    if (!j)
      return {};
    journals_.push_back(*j);
    return *j;
  }

  caf::expected<uint64_t> append(const journal_actor& j, const saga_id& id,
                                 std::vector<event> evs) {
    caf::expected<uint64_t> result{uint64_t{0}};
    caf::scoped_actor self{*sys_};
    self->request(j, timeout, append_atom::value, id, std::move(evs))
      .receive([&](uint64_t n) { result = n; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// What an append with pre-claims answers: its last seq and verdicts.
  using claimed_append = std::pair<uint64_t, std::vector<barrier_claim>>;

  caf::expected<claimed_append>
  append(const journal_actor& j, const saga_id& id, std::vector<event> evs,
         std::vector<barrier_preclaim> preclaims,
         std::vector<barrier_outcome> outcomes = {}) {
    caf::expected<claimed_append> result{claimed_append{}};
    caf::scoped_actor self{*sys_};
    self
      ->request(j, timeout, append_atom::value, id, std::move(evs),
                std::move(preclaims), std::move(outcomes))
      .receive(
        [&](uint64_t n, std::vector<barrier_claim>& v) {
          result = claimed_append{n, std::move(v)};
        },
        [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<barrier_claim> claim(const journal_actor& j, const saga_id& id,
                                     const std::string& step, barrier_op op,
                                     const std::string& token) {
    caf::expected<barrier_claim> result{barrier_claim{}};
    caf::scoped_actor self{*sys_};
    self->request(j, timeout, barrier_claim_atom::value, id, step, op, token)
      .receive([&](barrier_claim& c) { result = std::move(c); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<bool> done(const journal_actor& j, const saga_id& id,
                           const std::string& step, barrier_op op,
                           const std::string& token, step_reply reply) {
    caf::expected<bool> result{false};
    caf::scoped_actor self{*sys_};
    self
      ->request(j, timeout, barrier_done_atom::value, id, step, op, token,
                std::move(reply))
      .receive([&](bool b) { result = b; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Starts the sagas sid(suffix) as `j`, each with opening(); false (and
  /// a failure naming it) if one is refused.
  bool open_all(const journal_actor& j,
                const std::vector<std::string>& suffixes) {
    bool ok = true;
    for (const auto& suffix : suffixes)
      if (auto r = append(j, sid(suffix), opening()); !r) {
        ADD_FAILURE() << sid(suffix) << ": " << describe(r.error());
        ok = false;
      }
    return ok;
  }

  caf::expected<std::vector<event>> read(const journal_actor& j,
                                         const saga_id& id) {
    caf::expected<std::vector<event>> result{std::vector<event>{}};
    caf::scoped_actor self{*sys_};
    self->request(j, timeout, read_atom::value, id)
      .receive([&](std::vector<event>& xs) { result = std::move(xs); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  unfinished_page unfinished(const journal_actor& j,
                             const std::string& after = {},
                             uint32_t max = 1000) {
    unfinished_page result;
    caf::scoped_actor self{*sys_};
    self->request(j, timeout, unfinished_atom::value, after, max)
      .receive([&](unfinished_page& p) { result = std::move(p); },
               [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  /// finish(id) as recovery sends it for a saga without history.
  bool finish(const journal_actor& j, const saga_id& id) {
    bool result = false;
    caf::scoped_actor self{*sys_};
    self
      ->request(j, timeout, finish_atom::value, id, std::string{},
                std::string{}, int64_t{0})
      .receive([&](bool b) { result = b; },
               [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  caf::expected<unfinished_page> adopt(const journal_actor& j,
                                       const std::string& node_id,
                                       uint64_t below, const std::string& after,
                                       uint32_t max) {
    caf::expected<unfinished_page> result{unfinished_page{}};
    caf::scoped_actor self{*sys_};
    self->request(j, timeout, adopt_atom::value, node_id, below, after, max)
      .receive([&](unfinished_page& p) { result = std::move(p); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Every page of an adoption, concatenated.
  std::vector<std::string> adopt_all(const journal_actor& j,
                                     const std::string& node_id, uint64_t below,
                                     uint32_t max, size_t* pages = nullptr) {
    std::vector<std::string> result;
    std::string after;
    for (size_t n = 1; n < 1000; ++n) {
      auto page = adopt(j, node_id, below, after, max);
      if (!page) {
        ADD_FAILURE() << describe(page.error());
        return result;
      }
      EXPECT_LE(page->ids.size(), max);
      result.insert(result.end(), page->ids.begin(), page->ids.end());
      if (page->next.empty()) {
        if (pages != nullptr)
          *pages = n;
        return result;
      }
      EXPECT_GT(page->next, after) << "the cursor must advance";
      after = page->next;
    }
    ADD_FAILURE() << "adopt paging does not terminate";
    return result;
  }

  /// The members of `node`'s unfinished index, read from the store.
  std::vector<std::string> index_of(const std::string& node_id) {
    return kind_.index_of(node_id);
  }

  /// The owner token of saga `id` ("<node>/<epoch>"), or "(nil)".
  std::string owner_of(const saga_id& id) {
    return kind_.owner_of(id);
  }

  /// Field `field` of hash `key`, read from the store, or "(nil)".
  std::string hash_field(const std::string& key, const std::string& field) {
    return kind_.hash_field(key, field);
  }

  static constexpr std::chrono::seconds timeout{10};
  static inline int fixture_runs = 0;
  int run_ = ++fixture_runs;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  /// The options of every journal_for (node and epoch aside).
  journal_options opts_;
  Kind kind_;
  std::vector<journal_actor> journals_;
};

} // namespace saga::test
