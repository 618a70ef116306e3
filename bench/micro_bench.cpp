// Micro benchmarks of caf-saga's hot paths (issue 9), one suite per cost
// that a saga pays again and again. Every suite drives the product's own code
// (public headers, the private persistence headers where needed) on the real
// CAF scheduler with one worker thread per core.
//
// - BM_event_encode/payload:N, BM_event_decode/payload:N: one event as a
//   Redis stream entry, the encoding every append and every read of the
//   Redis journal pays per event, with the journal's own codec
//   (persistence/stream_codec.hpp). Encode renders the six fields (type
//   name, step, attempt, data, error, time) and lets hiredis format them as
//   RESP, as the pipeline does; decode lets hiredis parse the RESP of an
//   XRANGE reply and turns it back into events (`parse_events`); the setup
//   checks that decode(encode(e)) == e. N is the size
//   of the event's data (a step result, JSON text): 32 bytes is a typical
//   result, 1024 a large one.
// - BM_replay/steps:N/compensated:C: `saga::replay`, the pure function that
//   rebuilds a saga's state from its history (recovery, restarts, saga_log).
//   The histories are real: recorded by running an N-step saga on a memory
//   runtime, whose last step fails when C is 1 (so the others compensate).
//   Replay parses the definition carried by saga_started (JSON), so the
//   cost follows the number of steps more than the number of events.
// - BM_journal_append/journal:J/batch:B/sagas:S: appends of B events through
//   the `journal_actor` interface, from an actor, the way saga actors append:
//   S sagas, each with one append in flight, every saga 4 appends long
//   (first one with saga_started, last one with saga_completed, so the
//   journal also indexes and unlists). Time is per append; items/s is
//   events/s. J is memory (a `memory_store` behind the memory journal actor)
//   or redis (the Redis journal: router, 2 writers, pipelining), the latter
//   only with SAGA_REDIS_URL set.
// - BM_barrier_check/journal:J/ops:S: the participant barrier's journal
//   traffic for one operation: a claim (verdict proceed), then the done
//   record of a successful outcome, exactly the two requests a participant
//   makes around its handler; S operations in flight at once. Time is per
//   operation (claim + done).
// - BM_participant_command/journal:J: one execute command to a participant
//   registered with `runtime::participant()` (a local participant actor with
//   the barrier in front of a no-op handler) and its reply: the participant
//   side of a step hand-off. Time is per command.
// - BM_saga_step_handoff/participant:P: the marginal cost of one more step in
//   a saga on the memory journal: each iteration runs a 1-step and a 17-step
//   saga of the same no-op participant through the coordinator and reports
//   (t17 - t1) / 16 as its (manual) time. A saga cannot have 0 steps, and
//   the step's command/reply round trip cannot be timed from outside the
//   saga actor, so the difference is the closest honest figure: it holds the
//   command and reply between the saga actor and the participant, the
//   saga actor's state update and its write-ahead append (one per step:
//   each result is chained with the next step's start), but none of the
//   per-saga costs (spawn, saga_started, result delivery). P is raw (an
//   actor registered with `register_participant`, no barrier) or barrier (a
//   `runtime::participant()`, whose barrier adds a claim and a record).
//
// All actor benchmarks run their operations in a driver actor and hand
// control back to the benchmark thread only once per round of operations
// (`KeepRunningBatch`), so a cross-thread wake-up is not part of every
// operation; they report real time, since the benchmark thread mostly waits.
//
// Run: `[SAGA_REDIS_URL=redis://127.0.0.1:6379] micro_bench
// [--benchmark_format=json --benchmark_out=micro.json]`.

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <hiredis/hiredis.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "persistence/memory_journal.hpp"
#include "persistence/stream_codec.hpp"
#include "saga/saga.hpp"
#include "tools/args.hpp"

namespace {

using std::chrono::steady_clock;

/// The actor system every benchmark runs on (created in `main`).
caf::actor_system* sys_ptr = nullptr;

/// Returns the benchmarks' actor system.
caf::actor_system& sys() {
  return *sys_ptr;
}

/// Returns a token unique to this process, so saga ids never collide with
/// those of an earlier run on the same Redis.
const std::string& run_token() {
  static const std::string token = [] {
    std::random_device rd;
    char buf[20];
    std::snprintf(buf, sizeof(buf), "%08x%08x", rd(), rd());
    return std::string{buf};
  }();
  return token;
}

/// Returns a prefix for the saga ids of one benchmark invocation.
std::string fresh_prefix(const char* what) {
  static uint64_t invocation = 0;
  return std::string{"mb-"} + what + "-" + run_token() + "-"
         + std::to_string(++invocation) + "-";
}

/// Returns a JSON object text of exactly `size` bytes (at least 16), shaped
/// like a step result.
std::string result_json(size_t size) {
  std::string head = R"({"txId":"tx-42","pad":")";
  std::string tail = R"("})";
  auto fill = size > head.size() + tail.size()
                ? size - head.size() - tail.size()
                : 0;
  if (fill == 0)
    return R"({"txId":"t42"})";
  return head + std::string(fill, 'x') + tail;
}

/// Returns the Redis URL of the Redis benchmarks, or nothing.
std::optional<std::string> redis_url() {
  auto url = std::getenv("SAGA_REDIS_URL");
  if (url == nullptr || *url == '\0')
    return std::nullopt;
  return std::string{url};
}

constexpr const char* no_redis
  = "SAGA_REDIS_URL is not set: start a redis-server and set "
    "SAGA_REDIS_URL=redis://127.0.0.1:<port> to run the Redis benchmarks";

/// Returns the options of the Redis journals made here: their own node id
/// (so recovery of real runtimes never sees our sagas) and a short
/// retention (finished histories and barrier records expire soon).
saga::journal_options bench_journal_options() {
  saga::journal_options opts;
  opts.node_id = "micro_bench";
  opts.retention = std::chrono::seconds{120};
  return opts;
}

/// Returns a journal actor for `kind` ("memory" or "redis") or an error
/// text: a memory journal in front of its own `memory_store` (keeping few
/// finished histories, so long runs stay small), or a Redis journal at
/// SAGA_REDIS_URL.
std::pair<saga::journal_actor, std::string>
make_bench_journal(const std::string& kind) {
  if (kind == "memory")
    return {saga::spawn_memory_journal(sys(),
                                       std::make_shared<saga::memory_store>(
                                         1024)),
            std::string{}};
  auto url = redis_url();
  if (!url)
    return {saga::journal_actor{}, no_redis};
  auto j = saga::make_journal(sys(), *url, bench_journal_options());
  if (!j)
    return {saga::journal_actor{}, "cannot open the Redis journal at " + *url
                                     + ": " + saga::describe(j.error())};
  return {std::move(*j), std::string{}};
}

// -- event encoding -----------------------------------------------------------

/// One event rendered as the six stream-entry fields the Redis journal
/// writes: the numbers as text, the rest as views into the event.
/// The RESP bytes of the six field values of `ev`, as the journal's
/// pipeline puts them on the wire (hiredis formats the argv).
std::string encode_event(const saga::event& ev,
                         std::vector<std::string_view>& argv,
                         std::deque<std::string>& texts,
                         std::vector<const char*>& ptrs,
                         std::vector<size_t>& lens) {
  argv.clear();
  texts.clear();
  saga::append_event_fields(ev, argv, texts);
  ptrs.clear();
  lens.clear();
  for (auto x : argv) {
    ptrs.push_back(x.data());
    lens.push_back(x.size());
  }
  char* cmd = nullptr;
  auto n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()),
                                  ptrs.data(), lens.data());
  std::string result{cmd, static_cast<size_t>(std::max(n, 0))};
  redisFreeCommand(cmd);
  return result;
}

/// Returns `x` as a RESP bulk string.
std::string bulk(std::string_view x) {
  return "$" + std::to_string(x.size()) + "\r\n" + std::string{x} + "\r\n";
}

/// Returns the RESP bytes Redis sends for `XRANGE` of a stream holding `ev`
/// as its only entry (entry ID `0-<seq>`, the journal's field names).
std::string xrange_reply(const saga::event& ev) {
  std::string r = "*1\r\n*2\r\n" + bulk("0-" + std::to_string(ev.seq))
                  + "*12\r\n";
  r += bulk("type") + bulk(saga::to_string(ev.type));
  r += bulk("step") + bulk(std::to_string(ev.step));
  r += bulk("attempt") + bulk(std::to_string(ev.attempt));
  r += bulk("data") + bulk(ev.data);
  r += bulk("error") + bulk(ev.error);
  r += bulk("time") + bulk(std::to_string(ev.time_ms));
  return r;
}

/// Returns whether `x` and `y` hold the same fields.
bool same_event(const saga::event& x, const saga::event& y) {
  return x.seq == y.seq && x.type == y.type && x.step == y.step
         && x.attempt == y.attempt && x.data == y.data && x.error == y.error
         && x.time_ms == y.time_ms;
}

/// Returns a step_succeeded event whose result is `payload` bytes long.
saga::event sample_event(size_t payload) {
  saga::event ev;
  ev.seq = 7;
  ev.type = saga::event_type::step_succeeded;
  ev.step = 2;
  ev.attempt = 1;
  ev.data = result_json(payload);
  ev.time_ms = 1'700'000'000'123;
  return ev;
}

/// Parses `resp` with a hiredis reader into a reply; nullptr on error.
redisReply* read_resp(redisReader* reader, const std::string& resp) {
  void* reply = nullptr;
  if (redisReaderFeed(reader, resp.data(), resp.size()) != REDIS_OK
      || redisReaderGetReply(reader, &reply) != REDIS_OK)
    return nullptr;
  return static_cast<redisReply*>(reply);
}

void BM_event_encode(benchmark::State& state) {
  auto ev = sample_event(static_cast<size_t>(state.range(0)));
  size_t bytes = 0;
  std::vector<std::string_view> argv;
  std::deque<std::string> texts;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (auto _ : state) {
    auto wire = encode_event(ev, argv, texts, ptrs, lens);
    benchmark::DoNotOptimize(wire);
    bytes += wire.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["events_per_second"]
    = benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["encoded_bytes"] = static_cast<double>(
    encode_event(ev, argv, texts, ptrs, lens).size());
}

void BM_event_decode(benchmark::State& state) {
  auto ev = sample_event(static_cast<size_t>(state.range(0)));
  auto resp = xrange_reply(ev);
  std::unique_ptr<redisReader, void (*)(redisReader*)>
    reader{redisReaderCreate(), redisReaderFree};
  // Check once that the journal's reader decodes what its writer wrote.
  {
    auto reply = read_resp(reader.get(), resp);
    auto back = reply != nullptr ? saga::parse_events(*reply, "bench")
                                 : caf::expected<std::vector<saga::event>>{
                                   caf::sec::invalid_argument};
    if (reply != nullptr)
      freeReplyObject(reply);
    if (!back || back->size() != 1 || !same_event(back->front(), ev)) {
      state.SkipWithError("decode(encode(event)) differs from the event");
      return;
    }
  }
  for (auto _ : state) {
    auto reply = read_resp(reader.get(), resp);
    if (reply == nullptr) {
      state.SkipWithError("hiredis could not parse the XRANGE reply");
      break;
    }
    auto back = saga::parse_events(*reply, "bench");
    benchmark::DoNotOptimize(back);
    freeReplyObject(reply);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations())
                          * static_cast<int64_t>(resp.size()));
  state.counters["events_per_second"]
    = benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// -- replay -------------------------------------------------------------------

/// A participant action that succeeds without doing anything.
saga::step_outcome noop(const saga::step_context&, const saga::json&) {
  return saga::step_outcome::ok({{"txId", "tx-42"}});
}

/// A recorded history: a saga's id and its events.
struct history {
  saga::saga_id id;
  std::vector<saga::event> events;
  std::string error;
};

/// Returns the history of an `steps`-step saga run on a memory runtime; its
/// last step fails when `compensated`, so the others are compensated.
history record_history(size_t steps, bool compensated) {
  saga::runtime rt{sys(), saga::runtime_config{}};
  rt.participant("account-server").on("op", noop, noop);
  rt.participant("log-server")
    .on(
      "op",
      [](const saga::step_context&, const saga::json&) {
        return saga::step_outcome::fail("insufficient balance");
      },
      noop);
  saga::definition def{"purchase"};
  for (size_t i = 0; i < steps; ++i) {
    bool fails = compensated && i + 1 == steps;
    def
      .step("step" + std::to_string(i), fails ? "log-server" : "account-server",
            {{"playerId", "player17"}, {"amount", 100}, {"itemId", "sword"}})
      .action("op");
  }
  auto r = rt.execute(def).get();
  history h;
  h.id = r.saga_id;
  if (r.success == compensated) {
    h.error = "the recorded saga ended " + std::string{to_string(r.state)};
    return h;
  }
  auto log = rt.saga_log(r.saga_id);
  if (!log) {
    h.error = "the recorded saga has no log";
    return h;
  }
  h.events = std::move(log->events);
  return h;
}

void BM_replay(benchmark::State& state) {
  static std::map<std::pair<int64_t, int64_t>, history> cache;
  auto key = std::make_pair(state.range(0), state.range(1));
  auto i = cache.find(key);
  if (i == cache.end())
    i = cache
          .emplace(key, record_history(static_cast<size_t>(key.first),
                                       key.second != 0))
          .first;
  const auto& h = i->second;
  if (!h.error.empty()) {
    state.SkipWithError(h.error.c_str());
    return;
  }
  auto expected = key.second != 0 ? saga::saga_status::compensated
                                  : saga::saga_status::completed;
  if (auto st = saga::replay(h.id, h.events); !st || st->status != expected) {
    state.SkipWithError("the recorded history does not replay to its end");
    return;
  }
  for (auto _ : state) {
    auto st = saga::replay(h.id, h.events);
    benchmark::DoNotOptimize(st);
  }
  auto n = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations()
                          * static_cast<int64_t>(h.events.size()));
  state.counters["events"] = static_cast<double>(h.events.size());
  state.counters["events_per_second"]
    = benchmark::Counter(n * static_cast<double>(h.events.size()),
                         benchmark::Counter::kIsRate);
  state.counters["replays_per_second"]
    = benchmark::Counter(n, benchmark::Counter::kIsRate);
}

// -- closed-loop driver -------------------------------------------------------

using go_atom = caf::atom_constant<caf::atom("mb_go")>;

/// Tells the benchmark thread that a round of operations ended.
struct round_signal {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  std::string error;

  /// Ends the round with `err` (empty: success).
  void finish(std::string err) {
    std::lock_guard<std::mutex> guard{mtx};
    done = true;
    error = std::move(err);
    cv.notify_all();
  }

  /// Waits for the end of the round and returns its error (empty: none).
  std::string wait() {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [this] { return done; });
    done = false;
    return std::move(error);
  }
};

/// Ends one operation: with an error text, or an empty one on success.
using op_done = std::function<void(std::string)>;

/// Starts operation number `n` (counted over the driver's life) on `lane`
/// from `self`, and calls `done` once it ended. Lanes run in parallel; each
/// has at most one operation in flight.
using op_start = std::function<void(caf::event_based_actor* self, size_t lane,
                                    uint64_t n, op_done done)>;

struct driver_state {
  static inline const char* name = "micro_bench.driver";
  size_t lanes = 1;
  op_start start;
  std::shared_ptr<round_signal> signal;
  /// Operations each lane still has to start in this round.
  std::vector<uint64_t> to_start;
  size_t active = 0;
  uint64_t next = 0;
  std::string error;
};

using driver_pointer = caf::stateful_actor<driver_state>*;

/// Starts the next operation on `lane`, if its share of the round has one
/// left.
void launch(driver_pointer self, size_t lane) {
  auto& s = self->state;
  if (s.to_start[lane] == 0 || !s.error.empty())
    return;
  --s.to_start[lane];
  ++s.active;
  s.start(self, lane, s.next++, [self, lane](std::string err) {
    auto& s = self->state;
    --s.active;
    if (!err.empty() && s.error.empty())
      s.error = std::move(err);
    launch(self, lane);
    if (s.active == 0)
      s.signal->finish(std::exchange(s.error, std::string{}));
  });
}

/// Runs rounds of operations: `(go_atom, n)` runs n operations over `lanes`
/// lanes (a closed loop; each lane gets the same share, the first ones one
/// more when n is not a multiple) and then finishes `signal`.
caf::behavior driver(driver_pointer self, size_t lanes, op_start start,
                     std::shared_ptr<round_signal> signal) {
  self->state.lanes = std::max<size_t>(lanes, 1);
  self->state.to_start.resize(self->state.lanes);
  self->state.start = std::move(start);
  self->state.signal = std::move(signal);
  return {
    [self](go_atom, uint64_t n) {
      auto& s = self->state;
      for (size_t lane = 0; lane < s.lanes; ++lane)
        s.to_start[lane] = n / s.lanes + (lane < n % s.lanes ? 1 : 0);
      if (n == 0) {
        s.signal->finish({});
        return;
      }
      for (size_t lane = 0; lane < s.lanes; ++lane)
        launch(self, lane);
    },
  };
}

/// A driver actor and the signal it finishes; stops the driver when it goes.
class closed_loop {
public:
  closed_loop(size_t lanes, op_start start)
    : signal_(std::make_shared<round_signal>()) {
    driver_ = sys().spawn(driver, lanes, std::move(start), signal_);
  }

  ~closed_loop() {
    caf::anon_send_exit(driver_, caf::exit_reason::user_shutdown);
  }

  closed_loop(const closed_loop&) = delete;
  closed_loop& operator=(const closed_loop&) = delete;

  /// Runs `n` operations and returns the first error (empty: none).
  std::string run(uint64_t n) {
    caf::anon_send(driver_, go_atom::value, n);
    return signal_->wait();
  }

private:
  std::shared_ptr<round_signal> signal_;
  caf::actor driver_;
};

/// Bound on every request a driver makes: long enough for a Redis hiccup,
/// finite so that a lost reply fails the benchmark instead of hanging it.
constexpr auto request_timeout = std::chrono::seconds{30};

/// Runs `loop` in rounds of `round` operations until `state` has enough
/// iterations (one iteration is one operation); returns false after it
/// reported an error.
bool run_rounds(benchmark::State& state, closed_loop& loop, uint64_t round) {
  // Warm-up outside the timing: connections, spawn paths, allocators.
  if (auto err = loop.run(round); !err.empty()) {
    state.SkipWithError(err.c_str());
    return false;
  }
  while (state.KeepRunningBatch(static_cast<benchmark::IterationCount>(round)))
    if (auto err = loop.run(round); !err.empty()) {
      state.SkipWithError(err.c_str());
      return false;
    }
  return true;
}

/// Stops `journal` (and, for Redis, its writers).
void stop(const saga::journal_actor& journal) {
  if (journal)
    caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
}

// -- journal append batches ---------------------------------------------------

/// Appends per saga in BM_journal_append: the first carries saga_started
/// (the journal records the owner and indexes the saga), the last ends with
/// saga_completed (it unlists the saga), like a short saga's appends.
constexpr uint64_t appends_per_saga = 4;

/// One saga of the append benchmark, written by one lane.
struct append_lane {
  saga::saga_id id;
  uint64_t next_seq = 1;
  uint64_t appends = 0;
  uint64_t sagas = 0;
};

/// Returns the next batch of `size` events for `lane`, whose saga ends with
/// it when `last`.
std::vector<saga::event> next_batch(append_lane& lane, size_t size, bool last,
                                    const std::string& definition_json,
                                    const std::string& result) {
  std::vector<saga::event> batch(size);
  auto t = saga::tools::now_ms(); // as events carry it
  for (size_t k = 0; k < size; ++k) {
    auto& ev = batch[k];
    ev.seq = lane.next_seq + k;
    ev.time_ms = t;
    if (ev.seq == 1) {
      ev.type = saga::event_type::saga_started;
      ev.data = definition_json;
    } else if (last && k + 1 == size) {
      ev.type = saga::event_type::saga_completed;
    } else {
      auto i = ev.seq - 2; // alternating starts and results of steps
      ev.type = i % 2 == 0 ? saga::event_type::step_started
                           : saga::event_type::step_succeeded;
      ev.step = static_cast<int32_t>(i / 2);
      ev.attempt = 1;
      if (ev.type == saga::event_type::step_succeeded)
        ev.data = result;
    }
  }
  return batch;
}

void BM_journal_append(benchmark::State& state, std::string kind) {
  auto batch = static_cast<size_t>(state.range(0));
  auto sagas = static_cast<size_t>(state.range(1));
  auto made = make_bench_journal(kind);
  auto journal = made.first;
  if (!made.second.empty()) {
    state.SkipWithError(made.second.c_str());
    return;
  }
  saga::definition def{"purchase"};
  def
    .step("deduct_balance", "account-server",
          {{"playerId", "player17"}, {"amount", 100}})
    .step("add_item", "inventory-server",
          {{"playerId", "player17"}, {"itemId", "sword"}})
    .step("log_purchase", "log-server", {{"playerId", "player17"}});
  auto lanes = std::make_shared<std::vector<append_lane>>(sagas);
  auto prefix = fresh_prefix("append");
  auto definition_json = def.to_json().dump();
  auto result = result_json(32);
  auto start = [=](caf::event_based_actor* self, size_t i, uint64_t,
                   op_done done) {
    auto& lane = (*lanes)[i];
    if (lane.appends == 0)
      lane.id = prefix + std::to_string(i) + "-" + std::to_string(lane.sagas);
    bool last = lane.appends + 1 == appends_per_saga;
    auto events = next_batch(lane, batch, last, definition_json, result);
    auto expected = events.back().seq;
    self
      ->request(journal, request_timeout, saga::append_atom::value, lane.id,
                std::move(events))
      .then(
        [=](uint64_t seq) {
          auto& lane = (*lanes)[i];
          if (seq != expected) {
            done("append of saga " + lane.id + " acknowledged seq "
                 + std::to_string(seq) + ", expected "
                 + std::to_string(expected));
            return;
          }
          lane.next_seq = expected + 1;
          if (++lane.appends == appends_per_saga) {
            lane.appends = 0;
            lane.next_seq = 1;
            ++lane.sagas;
          }
          done({});
        },
        [=](caf::error& e) { done("append: " + saga::describe(e)); });
  };
  {
    closed_loop loop{sagas, start};
    // Rounds of whole sagas (so no saga is left unfinished at the end), at
    // least 64 appends, 4 sagas per lane when many run at once.
    auto round = std::max<uint64_t>(64, sagas * appends_per_saga * 4);
    run_rounds(state, loop, round);
  }
  stop(journal);
  auto appends = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
  state.counters["events_per_second"]
    = benchmark::Counter(appends * static_cast<double>(batch),
                         benchmark::Counter::kIsRate);
  state.counters["appends_per_second"]
    = benchmark::Counter(appends, benchmark::Counter::kIsRate);
}

// -- barrier check ------------------------------------------------------------

/// Operations per saga id in the barrier benchmarks (steps "s0".."s63").
constexpr uint64_t steps_per_saga = 64;

void BM_barrier_check(benchmark::State& state, std::string kind) {
  auto lanes = static_cast<size_t>(state.range(0));
  auto made = make_bench_journal(kind);
  auto journal = made.first;
  if (!made.second.empty()) {
    state.SkipWithError(made.second.c_str());
    return;
  }
  auto prefix = fresh_prefix("barrier");
  saga::step_reply ok;
  ok.ok = true;
  ok.result = result_json(32);
  // Like a participant: a claim token per attempt, "<incarnation>-<n>".
  auto start = [=](caf::event_based_actor* self, size_t, uint64_t n,
                   op_done done) {
    auto id = prefix + std::to_string(n / steps_per_saga);
    auto step = "s" + std::to_string(n % steps_per_saga);
    auto token = run_token() + "-" + std::to_string(n);
    self
      ->request(journal, request_timeout, saga::barrier_claim_atom::value, id,
                step, saga::barrier_op::execute, token)
      .then(
        [=](saga::barrier_claim& c) {
          if (c.verdict != saga::barrier_verdict::proceed) {
            done("barrier claim of " + id + "/" + step
                 + " did not say proceed");
            return;
          }
          self
            ->request(journal, request_timeout, saga::barrier_done_atom::value,
                      id, step, saga::barrier_op::execute, token, ok)
            .then(
              [=](bool recorded) {
                done(recorded ? std::string{}
                              : "barrier record of " + id + "/" + step
                                  + " was refused");
              },
              [=](caf::error& e) {
                done("barrier done: " + saga::describe(e));
              });
        },
        [=](caf::error& e) { done("barrier claim: " + saga::describe(e)); });
  };
  {
    closed_loop loop{lanes, start};
    run_rounds(state, loop, std::max<uint64_t>(64, lanes * 16));
  }
  stop(journal);
  state.SetItemsProcessed(state.iterations());
  state.counters["checks_per_second"]
    = benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// -- participant command ------------------------------------------------------

void BM_participant_command(benchmark::State& state, std::string kind) {
  auto made = make_bench_journal(kind);
  auto journal = made.first;
  if (!made.second.empty()) {
    state.SkipWithError(made.second.c_str());
    return;
  }
  {
    saga::runtime rt{sys(), journal, saga::runtime_config{}};
    if (auto& e = rt.start_error()) {
      state.SkipWithError(saga::describe(e).c_str());
      stop(journal);
      return;
    }
    auto participant
      = rt.participant("account-server").on("op", noop, noop).handle();
    auto prefix = fresh_prefix("command");
    auto payload = saga::json{{"playerId", "player17"}, {"amount", 100}}.dump();
    auto start = [=](caf::event_based_actor* self, size_t, uint64_t n,
                     op_done done) {
      saga::step_command cmd;
      cmd.id = prefix + std::to_string(n / steps_per_saga);
      cmd.saga_name = "purchase";
      cmd.step = "s" + std::to_string(n % steps_per_saga);
      cmd.action = "op";
      cmd.payload = payload;
      cmd.results = "{}";
      self
        ->request(participant, request_timeout, saga::execute_atom::value,
                  std::move(cmd))
        .then(
          [=](saga::step_reply& r) {
            done(r.ok ? std::string{} : "participant said no: " + r.error);
          },
          [=](caf::error& e) { done("execute: " + saga::describe(e)); });
    };
    closed_loop loop{1, start};
    run_rounds(state, loop, 64);
  }
  stop(journal);
  state.SetItemsProcessed(state.iterations());
  state.counters["commands_per_second"]
    = benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// -- saga step hand-off -------------------------------------------------------

/// Steps of the long saga in BM_saga_step_handoff (the short one has 1).
constexpr int64_t long_saga_steps = 17;

/// Returns a participant actor that answers every command with success at
/// once: no barrier, no handler table.
saga::participant_actor spawn_raw_participant() {
  return sys().spawn([]() -> saga::participant_actor::behavior_type {
    auto ok = [] {
      saga::step_reply r;
      r.ok = true;
      r.result = R"({"txId":"tx-42"})";
      return r;
    };
    return {
      [ok](saga::execute_atom, const saga::step_command&) { return ok(); },
      [ok](saga::compensate_atom, const saga::step_command&) { return ok(); },
    };
  });
}

/// Durations of the last pair of sagas, written by the driver, read by the
/// benchmark thread after the round (the signal's mutex orders them).
struct pair_times {
  steady_clock::duration short_saga{0};
  steady_clock::duration long_saga{0};
};

void BM_saga_step_handoff(benchmark::State& state, bool barrier) {
  saga::runtime rt{sys(), saga::runtime_config{}};
  if (auto& e = rt.start_error()) {
    state.SkipWithError(saga::describe(e).c_str());
    return;
  }
  saga::participant_actor raw;
  if (barrier) {
    rt.participant("p").on("op", noop, noop);
  } else {
    raw = spawn_raw_participant();
    rt.register_participant("p", raw);
  }
  auto make = [](int64_t steps) {
    saga::definition d{"handoff"};
    for (int64_t i = 0; i < steps; ++i)
      d.step("s" + std::to_string(i), "p", {{"playerId", "player17"}})
        .action("op");
    return std::make_shared<const saga::definition>(std::move(d));
  };
  saga::definition_ptr short_def = make(1);
  saga::definition_ptr long_def = make(long_saga_steps);
  auto coordinator = rt.coordinator();
  auto times = std::make_shared<pair_times>();
  auto start = [=](caf::event_based_actor* self, size_t, uint64_t,
                   op_done done) {
    auto t0 = steady_clock::now();
    self
      ->request(coordinator, request_timeout, saga::run_atom::value, short_def)
      .then(
        [=](saga::saga_result& r1) {
          if (!r1.success) {
            done("1-step saga: " + saga::describe(r1.error));
            return;
          }
          auto t1 = steady_clock::now();
          times->short_saga = t1 - t0;
          self
            ->request(coordinator, request_timeout, saga::run_atom::value,
                      long_def)
            .then(
              [=](saga::saga_result& r2) {
                if (!r2.success) {
                  done("long saga: " + saga::describe(r2.error));
                  return;
                }
                times->long_saga = steady_clock::now() - t1;
                done({});
              },
              [=](caf::error& e) { done("run: " + saga::describe(e)); });
        },
        [=](caf::error& e) { done("run: " + saga::describe(e)); });
  };
  double short_us = 0;
  double long_us = 0;
  double step_us = 0;
  {
    closed_loop loop{1, start};
    for (int i = 0; i < 20; ++i) // warm-up
      if (auto err = loop.run(1); !err.empty()) {
        state.SkipWithError(err.c_str());
        break;
      }
    for (auto _ : state) {
      if (auto err = loop.run(1); !err.empty()) {
        state.SkipWithError(err.c_str());
        break;
      }
      using us = std::chrono::duration<double, std::micro>;
      auto s = us{times->short_saga}.count();
      auto l = us{times->long_saga}.count();
      auto step = (l - s) / static_cast<double>(long_saga_steps - 1);
      short_us += s;
      long_us += l;
      step_us += step;
      state.SetIterationTime(std::max(step, 0.0) * 1e-6);
    }
  }
  if (raw)
    caf::anon_send_exit(raw, caf::exit_reason::user_shutdown);
  auto n = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
  state.counters["steps_per_second"]
    = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["step_us"]
    = benchmark::Counter(step_us, benchmark::Counter::kAvgIterations);
  state.counters["saga_1step_us"]
    = benchmark::Counter(short_us, benchmark::Counter::kAvgIterations);
  state.counters["saga_17step_us"]
    = benchmark::Counter(long_us, benchmark::Counter::kAvgIterations);
}

// -- registration -------------------------------------------------------------

/// Minimum measuring time of the benchmarks that scale their iterations.
constexpr double min_time = 0.2;

void register_all() {
  using benchmark::RegisterBenchmark;
  RegisterBenchmark("BM_event_encode", BM_event_encode)
    ->ArgName("payload")
    ->Arg(32)
    ->Arg(1024)
    ->MinTime(min_time);
  RegisterBenchmark("BM_event_decode", BM_event_decode)
    ->ArgName("payload")
    ->Arg(32)
    ->Arg(1024)
    ->MinTime(min_time);
  RegisterBenchmark("BM_replay", BM_replay)
    ->ArgNames({"steps", "compensated"})
    ->Args({3, 0})
    ->Args({3, 1})
    ->Args({10, 0})
    ->Args({10, 1})
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(min_time);
  for (const char* kind : {"memory", "redis"}) {
    std::string name = std::string{"/journal:"} + kind;
    RegisterBenchmark(("BM_journal_append" + name).c_str(), BM_journal_append,
                      std::string{kind})
      ->ArgNames({"batch", "sagas"})
      ->ArgsProduct({{1, 8, 64}, {1, 16}})
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime()
      ->MinTime(min_time);
    RegisterBenchmark(("BM_barrier_check" + name).c_str(), BM_barrier_check,
                      std::string{kind})
      ->ArgName("ops")
      ->Arg(1)
      ->Arg(16)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime()
      ->MinTime(min_time);
    RegisterBenchmark(("BM_participant_command" + name).c_str(),
                      BM_participant_command, std::string{kind})
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime()
      ->MinTime(min_time);
  }
  for (bool barrier : {false, true})
    RegisterBenchmark(barrier ? "BM_saga_step_handoff/participant:barrier"
                              : "BM_saga_step_handoff/participant:raw",
                      BM_saga_step_handoff, barrier)
      ->Unit(benchmark::kMicrosecond)
      ->UseManualTime()
      ->Iterations(500);
}

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  caf::actor_system_config cfg;
  saga::add_message_types(cfg);
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<size_t>(cores));
  caf::actor_system system{cfg};
  sys_ptr = &system;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  sys_ptr = nullptr;
  return 0;
}
