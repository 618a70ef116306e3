// chaos_campaign: a bounded, seeded chaos campaign against a real cluster on
// 127.0.0.1, and the checker of its invariants (docs/chaos.md).
//
// The cluster: a private redis-server (appendonly yes, appendfsync
// always), two coordinating saga_node processes and `--replicas`
// saga_node processes per game server (account-server, inventory-server,
// log-server: demo/game_servers.hpp, with --audit-effects). This process is
// the client: it runs purchases and trades at a steady rate through the
// coordinators' gateways (as purchase_demo does), while its main thread
// injects faults on a schedule drawn from the seed:
//
//   - participant failures and timeouts (saga_node --fail-rate and
//     --slow-rate of the game servers, drawn anew at every restart);
//   - duplicated and delayed step commands (saga_node --chaos-* of the
//     coordinators: cluster/remote_participant.cpp);
//   - SIGKILL (then a restart) and SIGSTOP/SIGCONT (shorter and longer than
//     the lease) of participant and coordinator nodes;
//   - SIGKILL of redis-server, restarted on its port from its AOF.
//
// Faults stop `--quiet` before the end; the client stops at `--duration`;
// then every saga must end within `--drain`. A watcher thread finds every
// saga in Redis (a SCAN over the campaign's own store) and checks each one
// soon after it ended, while its history and barrier records are within
// their retention; the rest is checked at the end:
//
//   terminal      every saga reached a terminal state; no index lists one
//   conservation  the game servers' data is exactly what the journals imply
//   applied-once  each (saga, step) applied its effect at most once, and
//                 its compensation at most once
//   replay        each journal replays (saga::replay) to what sagactl
//                 (the catalog, and the binary for a sample) reports, to the
//                 barrier records, the participants' data and the client's
//                 results
//   retention     no Redis key of a saga outlives the retention
//
// Every random choice comes from one std::mt19937_64 seeded with --seed
// (the workload, the schedule and each node's own seeds are drawn from it
// up front). The seed reproduces the workload and the fault schedule, not
// the exact interleaving of a real cluster. Exit status: 0 when every
// invariant holds; 1 on a violation (the report names the seed); 2 when the
// cluster could not be run.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include <saga/saga.hpp>

#include "demo/game_servers.hpp"
#include "demo/trade.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "persistence/redis_url.hpp"
#include "admin/saga_catalog.hpp"
#include "persistence/stream_codec.hpp"
#include "tests/support/child_process.hpp"

using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using saga::json;

// -- options ------------------------------------------------------------------

struct options {
  uint64_t seed = 0;
  ms duration = 120s;
  double rate = 12;
  size_t max_in_flight = 64;
  size_t players = 40;
  double trade_share = 0.35;
  size_t replicas = 2;
  size_t coordinators = 2;
  std::chrono::seconds retention{0}; // 0: 60 s, 120 s beyond 10 minutes
  ms fault_interval = 3s;
  ms quiet{0}; // 0: a tenth of the duration, 15 s to 60 s
  ms drain = 120s;
  double sagactl_sample = 0.05;
  double max_fail = 0.10;
  double max_slow = 0.04;
  double max_duplicate = 0.20;
  double max_delay_rate = 0.20;
  ms max_delay = 1'500ms;
  std::string logs;
  bool keep_logs = false;
  std::string saga_node = SAGA_NODE_EXE;
  std::string sagactl = SAGACTL_EXE;
  std::string redis_server = "redis-server";
};

void usage() {
  std::cout << R"(chaos_campaign: a seeded chaos campaign on a loopback cluster, then a
checker of its invariants (docs/chaos.md). Exit: 0 pass, 1 violation, 2 the
cluster could not be run.

  --seed N              seed of every random choice (default: random, printed)
  --duration D          how long sagas are started: 90s, 2m, 30m (120s)
  --rate R              sagas started per second (12)
  --max-in-flight N     sagas in flight at most; the rate waits beyond (64)
  --players N           players, each with 1000 coins and 3 items (40)
  --trade-share F       share of trades among the sagas (0.35)
  --replicas N          saga_node processes per game server (2)
  --coordinators N      coordinating saga_node processes (2)
  --retention D         journal.retention of the nodes, whole seconds (60s;
                        120s for campaigns longer than 10 minutes)
  --fault-interval D    mean time between two faults (3s)
  --quiet D             no new faults during the last D (a tenth, 15s-60s)
  --drain D             bound on the wait for the last sagas to end (120s)
  --sagactl-sample F    share of sagas also checked with the sagactl binary
                        (0.05; failed sagas always)
  --max-fail-rate F     participants' execute failure rate, at most (0.10)
  --max-slow-rate F     participants' rate of executes past their timeout (0.04)
  --max-duplicate-rate F  coordinators' duplicated step commands, at most (0.2)
  --max-delay-rate F    coordinators' delayed step commands, at most (0.2)
  --max-delay D         longest injected delay (1500ms)
  --logs DIR            node and Redis logs (default: a new temporary folder)
  --keep-logs           keep them after a passing run
  --saga-node PATH / --sagactl PATH / --redis-server PATH
                        the programs to run (defaults: this build's)
)";
}

std::optional<ms> parse_duration(const std::string& v) {
  char* end = nullptr;
  auto n = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || n < 0)
    return std::nullopt;
  std::string unit{end};
  double factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s" || unit.empty())
    factor = 1000;
  else if (unit == "m" || unit == "min")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else
    return std::nullopt;
  return ms{static_cast<int64_t>(n * factor)};
}

std::string show_duration(ms d) {
  std::ostringstream out;
  if (d.count() % 60'000 == 0 && d.count() >= 60'000)
    out << d.count() / 60'000 << "m";
  else if (d.count() % 1000 == 0)
    out << d.count() / 1000 << "s";
  else
    out << d.count() << "ms";
  return out.str();
}

bool parse(int argc, char** argv, options& o, bool& seeded) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      usage();
      std::exit(0);
    }
    if (k == "--keep-logs") {
      o.keep_logs = true;
      continue;
    }
    std::string v;
    if (auto eq = k.find('='); eq != std::string::npos) {
      v = k.substr(eq + 1);
      k = k.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      std::cerr << "chaos_campaign: " << k << " needs a value (see --help)\n";
      return false;
    }
    auto rate = [&](double& out) {
      char* end = nullptr;
      out = std::strtod(v.c_str(), &end);
      return end != v.c_str() && *end == '\0' && out >= 0 && out <= 1;
    };
    auto positive = [&](double& out) {
      char* end = nullptr;
      out = std::strtod(v.c_str(), &end);
      return end != v.c_str() && *end == '\0' && out > 0;
    };
    auto count = [&](size_t& out) {
      char* end = nullptr;
      auto n = std::strtoull(v.c_str(), &end, 10);
      out = static_cast<size_t>(n);
      return end != v.c_str() && *end == '\0' && n > 0;
    };
    auto duration = [&](ms& out) {
      auto d = parse_duration(v);
      if (d)
        out = *d;
      return d.has_value();
    };
    bool ok = true;
    if (k == "--seed") {
      char* end = nullptr;
      o.seed = std::strtoull(v.c_str(), &end, 10);
      ok = end != v.c_str() && *end == '\0';
      seeded = true;
    } else if (k == "--duration")
      ok = duration(o.duration) && o.duration >= 10s;
    else if (k == "--rate")
      ok = positive(o.rate);
    else if (k == "--max-in-flight")
      ok = count(o.max_in_flight);
    else if (k == "--players")
      ok = count(o.players) && o.players >= 2;
    else if (k == "--trade-share")
      ok = rate(o.trade_share);
    else if (k == "--replicas")
      ok = count(o.replicas);
    else if (k == "--coordinators")
      ok = count(o.coordinators);
    else if (k == "--retention") {
      ms d{0};
      ok = duration(d) && d >= 5s;
      o.retention = std::chrono::duration_cast<std::chrono::seconds>(d);
    } else if (k == "--fault-interval")
      ok = duration(o.fault_interval) && o.fault_interval >= 100ms;
    else if (k == "--quiet")
      ok = duration(o.quiet) && o.quiet >= 1s;
    else if (k == "--drain")
      ok = duration(o.drain) && o.drain >= 1s;
    else if (k == "--sagactl-sample")
      ok = rate(o.sagactl_sample);
    else if (k == "--max-fail-rate")
      ok = rate(o.max_fail);
    else if (k == "--max-slow-rate")
      ok = rate(o.max_slow);
    else if (k == "--max-duplicate-rate")
      ok = rate(o.max_duplicate);
    else if (k == "--max-delay-rate")
      ok = rate(o.max_delay_rate);
    else if (k == "--max-delay")
      ok = duration(o.max_delay);
    else if (k == "--logs")
      o.logs = v;
    else if (k == "--saga-node")
      o.saga_node = v;
    else if (k == "--sagactl")
      o.sagactl = v;
    else if (k == "--redis-server")
      o.redis_server = v;
    else {
      std::cerr << "chaos_campaign: unknown option " << k << " (see --help)\n";
      return false;
    }
    if (!ok) {
      std::cerr << "chaos_campaign: bad value '" << v << "' for " << k
                << " (see --help)\n";
      return false;
    }
  }
  if (o.quiet.count() == 0)
    o.quiet = std::clamp<ms>(o.duration / 10, 15s, 60s);
  if (o.retention.count() == 0)
    o.retention = o.duration > 10min ? 120s : 60s;
  if (o.quiet >= o.duration) {
    std::cerr << "chaos_campaign: --quiet must be shorter than --duration\n";
    return false;
  }
  return true;
}

// -- small helpers ------------------------------------------------------------------

int64_t wall_ms() {
  return std::chrono::duration_cast<ms>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::string str(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING
                          || r->type == REDIS_REPLY_STATUS)
           ? std::string{r->str, r->len}
           : std::string{};
}

/// Returns the value of field `name` in a stream entry's field list.
std::string entry_field(const redisReply* fields, const char* name) {
  if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY)
    return {};
  for (size_t i = 0; i + 1 < fields->elements; i += 2)
    if (str(fields->element[i]) == name)
      return str(fields->element[i + 1]);
  return {};
}

bool terminal_type(const std::string& t) {
  return t == "saga_completed" || t == "saga_compensated"
         || t == "saga_failed" || t == "saga_parked";
}

/// A blocking Redis client that reconnects on the next call after an error
/// (Redis restarts during the campaign). One owner thread.
class redis_client {
public:
  explicit redis_client(std::string url) : url_(std::move(url)) {
  }

  /// Returns the reply, or null when Redis is unreachable (or loading).
  saga::redis_reply run(const std::vector<std::string>& args) {
    if (!connected())
      return nullptr;
    std::vector<std::string_view> argv(args.begin(), args.end());
    auto r = conn_->command(argv);
    if (!r) {
      if (conn_->broken())
        conn_.reset();
      return nullptr;
    }
    return std::move(*r);
  }

  /// Runs `cmds` in one pipeline; an empty result when any failed.
  std::vector<saga::redis_reply>
  pipeline(const std::vector<std::vector<std::string>>& cmds) {
    std::vector<saga::redis_reply> out;
    if (cmds.empty() || !connected())
      return out;
    for (const auto& c : cmds) {
      std::vector<std::string_view> argv(c.begin(), c.end());
      conn_->append(argv);
    }
    for (size_t i = 0; i < cmds.size(); ++i) {
      auto r = conn_->read();
      if (!r) {
        conn_.reset();
        out.clear();
        return out;
      }
      out.push_back(std::move(*r));
    }
    for (auto& r : out)
      if (saga::is_error(*r)) {
        out.clear(); // e.g. LOADING after a restart: try again later
        break;
      }
    return out;
  }

  /// Returns every key matching `pattern` (SCAN: test data only).
  std::optional<std::vector<std::string>> scan(const std::string& pattern) {
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
      auto r = run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return std::nullopt;
      cursor = str(r->element[0]);
      auto* ks = r->element[1];
      for (size_t i = 0; i < ks->elements; ++i)
        keys.push_back(str(ks->element[i]));
    } while (cursor != "0");
    return keys;
  }

  std::map<std::string, std::string> hgetall(const std::string& key,
                                             bool* ok = nullptr) {
    std::map<std::string, std::string> h;
    auto r = run({"HGETALL", key});
    if (ok != nullptr)
      *ok = r && r->type == REDIS_REPLY_ARRAY;
    if (r && r->type == REDIS_REPLY_ARRAY)
      for (size_t i = 0; i + 1 < r->elements; i += 2)
        h.emplace(str(r->element[i]), str(r->element[i + 1]));
    return h;
  }

private:
  bool connected() {
    if (conn_ && !conn_->broken())
      return true;
    conn_.reset();
    auto ep = saga::parse_redis_url(url_);
    if (!ep)
      return false;
    auto c = saga::redis_connection::connect(*ep, 2s);
    if (!c)
      return false;
    conn_ = std::move(*c);
    return true;
  }

  std::string url_;
  std::optional<saga::redis_connection> conn_;
};

// -- violations ---------------------------------------------------------------------

const char* const invariants[] = {"terminal", "conservation", "applied-once",
                                  "replay", "retention"};

/// The invariant violations found so far, grouped by invariant and by
/// kind (the message with every word that holds a digit blanked out, so
/// that one bug seen a thousand times is one line of the report).
/// Thread-safe.
class violations {
public:
  violations(uint64_t seed, std::string duration)
    : seed_(seed), duration_(std::move(duration)) {
  }

  void add(const std::string& invariant, const std::string& what) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++counts_[invariant];
    auto& k = kinds_[invariant][kind_of(what)];
    if (k.count++ < 3) {
      k.examples.push_back(what);
      std::cout << "!! VIOLATION [" << invariant << "] " << what
                << " (reproduce with scripts/chaos.sh --seed " << seed_
                << " --duration " << duration_ << ")" << std::endl;
    }
  }

  size_t count(const std::string& invariant) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = counts_.find(invariant);
    return i == counts_.end() ? 0 : i->second;
  }

  size_t total() const {
    std::lock_guard<std::mutex> guard{mtx_};
    size_t n = 0;
    for (auto& [k, v] : counts_)
      n += v;
    return n;
  }

  /// Returns, per kind of violation of `invariant`, how often it was seen
  /// and its first examples.
  std::vector<std::pair<size_t, std::vector<std::string>>>
  kinds(const std::string& invariant) const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<std::pair<size_t, std::vector<std::string>>> result;
    if (auto i = kinds_.find(invariant); i != kinds_.end())
      for (auto& [shape, k] : i->second)
        result.emplace_back(k.count, k.examples);
    std::sort(result.begin(), result.end(),
              [](auto& x, auto& y) { return x.first > y.first; });
    return result;
  }

private:
  static std::string kind_of(const std::string& what) {
    std::istringstream in{what};
    std::string word;
    std::string shape;
    while (in >> word)
      shape += (std::any_of(word.begin(), word.end(),
                            [](char c) { return std::isdigit(c); })
                  ? "#"
                  : word)
               + " ";
    return shape;
  }

  struct kind {
    size_t count = 0;
    std::vector<std::string> examples;
  };

  uint64_t seed_;
  std::string duration_;
  mutable std::mutex mtx_;
  std::map<std::string, std::map<std::string, kind>> kinds_;
  std::map<std::string, size_t> counts_;
};

// -- processes ----------------------------------------------------------------------

/// The private redis-server: restarted on the same port and folder, so it
/// loads its AOF again. `appendfsync always`: the campaign checks that
/// nothing Redis acknowledged is lost across a SIGKILL, which `everysec`
/// does not promise (while a background fsync stalls, Redis answers for up
/// to 2 s before it writes the AOF; an ASan run lost acknowledged appends
/// that way).
class redis_process {
public:
  redis_process(std::string exe, std::string dir, std::string log)
    : exe_(std::move(exe)), dir_(std::move(dir)), log_(std::move(log)) {
  }

  bool start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      bool fresh = port_ == 0;
      if (fresh)
        port_ = saga::test::free_loopback_port();
      proc_ = std::make_unique<saga::test::child_process>(
        exe_,
        std::vector<std::string>{"--port", std::to_string(port_), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly",
                                 "yes", "--appendfsync", "always", "--dir",
                                 dir_, "--daemonize", "no"},
        log_);
      if (ready(30s))
        return true;
      proc_->signal(SIGKILL);
      proc_->wait_exit(10s);
      proc_.reset();
      if (fresh)
        port_ = 0; // taken meanwhile: another port
      else
        std::this_thread::sleep_for(500ms); // its old socket lingers
    }
    return false;
  }

  void kill() {
    if (!proc_)
      return;
    proc_->signal(SIGKILL);
    proc_->wait_exit(10s);
    proc_.reset();
  }

  std::string url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
  }

private:
  /// Waits until it answers PING (not LOADING) or exits.
  bool ready(ms timeout) {
    auto deadline = steady::now() + timeout;
    auto ep = *saga::parse_redis_url(url());
    while (steady::now() < deadline) {
      if (!proc_->running())
        return false;
      if (auto c = saga::redis_connection::connect(ep, 500ms))
        if (auto r = c->command({"PING"}); r && str(r->get()) == "PONG")
          return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::string exe_;
  std::string dir_;
  std::string log_;
  uint16_t port_ = 0;
  std::unique_ptr<saga::test::child_process> proc_;
};

/// What a node incarnation is started with: game servers' failure and slow
/// rates, coordinators' duplicate and delay rates, and their seed.
struct knobs {
  double fail = 0;
  double slow = 0;
  double duplicate = 0;
  double delay = 0;
  uint64_t seed = 0;
};

/// What a node incarnation's log tells about recovery and the barrier.
struct log_tally {
  uint64_t duplicated = 0; // step commands sent twice (coordinators)
  uint64_t delayed = 0;    // step commands sent late (coordinators)
  uint64_t adopted = 0;    // sagas of dead nodes resumed here
  uint64_t recovered = 0;  // sagas of earlier incarnations resumed here
  uint64_t lease_retaken = 0; // woke up without its lease (then fenced)
  uint64_t dropped = 0;    // outcomes the barrier dropped (settled meanwhile)
  uint64_t parked = 0;     // sagas parked failed

  log_tally& operator+=(const log_tally& x) {
    duplicated += x.duplicated;
    delayed += x.delayed;
    adopted += x.adopted;
    recovered += x.recovered;
    lease_retaken += x.lease_retaken;
    dropped += x.dropped;
    parked += x.parked;
    return *this;
  }
};

struct node_proc {
  enum class state { down, starting, up, paused };
  std::string id;
  bool coordinator = false;
  std::string server; // the game server it hosts; empty for coordinators
  std::unique_ptr<saga::test::child_process> proc;
  state st = state::down;
  uint16_t port = 0;
  int incarnation = 0;
  steady::time_point started_at;
  steady::time_point respawn_at;
  steady::time_point reconnect_at;
  knobs k;
  /// What finished incarnations logged.
  log_tally logged;
  int start_failures = 0;
};

/// Returns the number after `key` in `line` (0 if none).
uint64_t number_after(const std::string& line, const std::string& key) {
  auto p = line.find(key);
  return p == std::string::npos
           ? 0
           : std::strtoull(line.c_str() + p + key.size(), nullptr, 10);
}

/// Reads what the current incarnation of node `n` printed.
log_tally tally_log(const node_proc& n) {
  log_tally t;
  if (!n.proc)
    return t;
  for (const auto& line : n.proc->lines()) {
    if (line.find(" chaos duplicated=") != std::string::npos) {
      t.duplicated = number_after(line, "duplicated="); // a running total
      t.delayed = number_after(line, "delayed=");
    } else if (line.find(" sagas of its earlier incarnations")
               != std::string::npos) {
      t.recovered += number_after(line, " resumed ");
    } else if (line.find(" sagas of node ") != std::string::npos) {
      t.adopted += number_after(line, " resumed ");
    } else if (line.find("took it again") != std::string::npos) {
      ++t.lease_retaken;
    } else if (line.find("settled by another attempt") != std::string::npos) {
      ++t.dropped;
    } else if (line.find("parking saga") != std::string::npos) {
      ++t.parked;
    }
  }
  return t;
}

// -- the fault schedule ------------------------------------------------------------

enum class fault_kind : uint8_t {
  participant_kill,
  participant_pause_short,
  participant_pause_long,
  participant_restart,
  coordinator_kill,
  coordinator_pause_short,
  coordinator_pause_long,
  redis_restart,
};
constexpr size_t fault_kinds = 8;

const char* fault_label(fault_kind k) {
  switch (k) {
    case fault_kind::participant_kill:
      return "participant node SIGKILL, restarted after 0.2-3 s";
    case fault_kind::participant_pause_short:
      return "participant node SIGSTOP 0.1-0.7 s (< lease)";
    case fault_kind::participant_pause_long:
      return "participant node SIGSTOP 1.5-5 s (> lease)";
    case fault_kind::participant_restart:
      return "participant node SIGTERM, restarted (new rates)";
    case fault_kind::coordinator_kill:
      return "coordinator SIGKILL, restarted after 0.1-3 s";
    case fault_kind::coordinator_pause_short:
      return "coordinator SIGSTOP 0.1-0.7 s (< lease)";
    case fault_kind::coordinator_pause_long:
      return "coordinator SIGSTOP 1.5-5 s (> lease)";
    case fault_kind::redis_restart:
      return "redis-server SIGKILL, restarted from its AOF";
  }
  return "?";
}

struct fault {
  ms at;
  fault_kind kind;
  size_t target = 0; // node index (unused for Redis)
  ms length{0};
  knobs next;        // the restarted incarnation's
};

/// Draws the knobs of a node incarnation.
knobs draw_knobs(std::mt19937_64& rng, const options& o, bool coordinator) {
  std::uniform_real_distribution<double> unit{0, 1};
  knobs k;
  // A third of the incarnations run without the fault, the rest at a rate
  // up to the maximum.
  auto pick = [&](double max) {
    return unit(rng) < 1.0 / 3 ? 0.0 : max * unit(rng);
  };
  if (coordinator) {
    k.duplicate = pick(o.max_duplicate);
    k.delay = pick(o.max_delay_rate);
  } else {
    k.fail = pick(o.max_fail);
    k.slow = pick(o.max_slow);
  }
  k.seed = rng() | 1;
  return k;
}

/// Returns the faults of the campaign, in time order: a fault starts every
/// `fault_interval` on average (exponentially distributed), at most two are
/// in effect at once, and never two on one node.
std::vector<fault> make_schedule(std::mt19937_64& rng, const options& o,
                                 const std::vector<node_proc>& nodes) {
  std::vector<fault> result;
  std::uniform_real_distribution<double> unit{0, 1};
  std::exponential_distribution<double> gap{
    1.0 / static_cast<double>(o.fault_interval.count())};
  const double weights[fault_kinds] = {3, 2, 2, 1, 2, 1, 2, 1.5};
  std::discrete_distribution<int> kind{std::begin(weights), std::end(weights)};
  auto uniform_ms = [&](int64_t lo, int64_t hi) {
    return ms{lo + static_cast<int64_t>(unit(rng) * static_cast<double>(hi - lo))};
  };
  auto end = o.duration - o.quiet;
  std::vector<ms> busy_until(nodes.size() + 1, ms{0}); // last: Redis
  std::vector<ms> active; // end times of the faults in effect
  ms t = 3s;
  while (true) {
    t += ms{static_cast<int64_t>(gap(rng))};
    if (t >= end)
      break;
    auto k = static_cast<fault_kind>(kind(rng));
    auto pick = unit(rng);
    active.erase(std::remove_if(active.begin(), active.end(),
                                [&](ms x) { return x <= t; }),
                 active.end());
    if (active.size() >= 2)
      continue; // two faults in effect already
    fault f{t, k, 0, ms{0}, {}};
    bool coordinator = k == fault_kind::coordinator_kill
                       || k == fault_kind::coordinator_pause_short
                       || k == fault_kind::coordinator_pause_long;
    if (k == fault_kind::redis_restart) {
      f.target = nodes.size();
    } else {
      std::vector<size_t> free;
      for (size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i].coordinator == coordinator && busy_until[i] <= t)
          free.push_back(i);
      if (free.empty())
        continue;
      f.target = free[std::min(free.size() - 1,
                               static_cast<size_t>(pick * static_cast<double>(
                                                             free.size())))];
    }
    if (busy_until[f.target] > t)
      continue;
    switch (k) {
      case fault_kind::participant_kill:
      case fault_kind::coordinator_kill:
        f.length = k == fault_kind::participant_kill ? uniform_ms(200, 3000)
                                                     : uniform_ms(100, 3000);
        f.next = draw_knobs(rng, o, coordinator);
        break;
      case fault_kind::participant_pause_short:
      case fault_kind::coordinator_pause_short:
        f.length = uniform_ms(100, 700);
        break;
      case fault_kind::participant_pause_long:
      case fault_kind::coordinator_pause_long:
        f.length = uniform_ms(1500, 5000);
        break;
      case fault_kind::participant_restart:
        f.next = draw_knobs(rng, o, false);
        break;
      case fault_kind::redis_restart:
        f.length = uniform_ms(200, 2000);
        break;
    }
    if (t + f.length >= end)
      continue;
    // A restarted node needs a moment before it is a target again.
    busy_until[f.target] = t + f.length + 2s;
    active.push_back(t + f.length + 1s);
    result.push_back(f);
  }
  return result;
}

// -- the workload -------------------------------------------------------------------

const char* const catalog_items[] = {"sword", "shield", "potion", "bow",
                                     "dragon-egg"};
constexpr const char* realm = "chaos";

std::string player_name(size_t i) {
  return "player" + std::to_string(i);
}

std::string heirloom(size_t player, size_t k) {
  return "heirloom" + std::to_string(player) + "-" + std::to_string(k);
}

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

/// Returns the definition text of the client's `n`-th saga (the tag rides
/// in the first step's payload, so the checker can match every saga in
/// Redis to the request that started it).
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
  caf::actor_system& sys, saga::gateway_actor gw, std::string text,
  std::function<void(saga::saga_result, std::string, bool lost)> done) {
  sys.spawn([gw, text, done](caf::event_based_actor* self) {
    self->monitor(gw);
    self->set_down_handler([self, done](caf::down_msg& msg) {
      done(saga::saga_result{},
           "coordinator connection lost: " + saga::describe(msg.reason),
           true);
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

// -- the watcher: finds sagas and checks each one once it ended --------------------

/// What the checker knows of one saga.
struct saga_info {
  std::string id;
  bool ended = false;       // its last event is terminal
  bool verified = false;    // checked after it ended
  int verify_tries = 0;
  steady::time_point verify_at;
  int64_t first_seen_ms = 0;
  int64_t end_ms = 0;
  // From its history (set by the check).
  std::string tag;
  std::string definition;
  saga::saga_status status = saga::saga_status::pending;
  struct step {
    std::string name;
    std::string participant;
    std::string action;
    json payload;
    saga::step_status status = saga::step_status::pending;
    /// 1: the journal says its effect stands; 0: it does not; -1: the
    /// journal cannot say (a failed saga's step that may or may not have
    /// landed).
    int expected = 0;
  };
  std::vector<step> steps;
  std::vector<std::string> compensated_order;
  /// Keys to check for expiry, with when Redis said they expire.
  std::vector<std::pair<std::string, int64_t>> expiries;
  bool expiry_checked = false;
};

/// Figures the watcher and the end-of-run checks report.
struct figures {
  size_t replayed = 0;
  size_t catalog_equal = 0;
  size_t sagactl_runs = 0;
  size_t barrier_records = 0;
  size_t ttl_keys = 0;
  int64_t max_ttl_ms = 0;
  size_t expired_on_time = 0;
  int64_t max_expiry_lag_ms = 0; // expiry beyond end + retention
  size_t injected_failures = 0;  // executes failed by the participants
  size_t timeouts = 0;           // step attempts timed out
  int64_t max_saga_ms = 0;       // the longest saga, start to end
  size_t ended_index_checks = 0;
  int64_t max_ended_age_ms = 0;
};

class watcher {
public:
  watcher(const options& o, std::string url, violations& v, uint64_t seed)
    : opts_(o),
      url_(url),
      redis_(url),
      catalog_(*saga::parse_redis_url(url), 2s),
      v_(v),
      rng_(seed) {
  }

  void start() {
    thread_ = std::thread{[this] { loop(); }};
  }

  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  /// Whether the ended indexes are checked on every pass (see
  /// docs/chaos.md).
  std::atomic<bool> live_index_check{true};
  /// Until when (wall ms) the index check waits: every node's journal trims
  /// the ended indexes once a second, writing or not, but none can while
  /// Redis is down, nor for a moment after.
  std::atomic<int64_t> index_check_after_ms{0};

  void hold_index_check(int64_t until_ms) {
    auto cur = index_check_after_ms.load();
    while (cur < until_ms
           && !index_check_after_ms.compare_exchange_weak(cur, until_ms)) {
    }
  }

  struct progress {
    size_t discovered = 0;
    size_t open = 0;       // not ended yet
    size_t unverified = 0; // ended, not checked yet
    int64_t last_discovery_ms = 0;
  };

  progress status() {
    std::lock_guard<std::mutex> guard{mtx_};
    progress p;
    p.discovered = sagas_.size();
    for (auto& [id, s] : sagas_) {
      p.open += s.ended ? 0 : 1;
      p.unverified += s.ended && !s.verified ? 1 : 0;
    }
    p.last_discovery_ms = last_discovery_ms_;
    return p;
  }

  /// After stop(): the sagas and figures, for the final checks.
  std::map<std::string, saga_info>& sagas() {
    return sagas_;
  }

  figures& figs() {
    return figs_;
  }

  /// One discovery pass and checks of what is due (also called at the end).
  void pass(bool final_pass) {
    discover();
    poll_open();
    verify_due(final_pass);
    check_expiries();
    if (live_index_check && wall_ms() > index_check_after_ms)
      check_ended_indexes();
  }

  void check_ended_indexes() {
    auto now = wall_ms();
    auto cutoff = now - opts_.retention.count() * 1000 - slack_ms;
    for (auto state : {"completed", "compensated", "failed"}) {
      auto r = redis_.run({"ZRANGE", saga::redis_ended_key(state), "0", "0",
                           "WITHSCORES"});
      if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
      ++figs_.ended_index_checks;
      if (r->elements < 2)
        continue;
      auto score = std::stoll(str(r->element[1]));
      figs_.max_ended_age_ms = std::max<int64_t>(figs_.max_ended_age_ms, now - score);
      if (score < cutoff)
        v_.add("retention", std::string{"saga:ended:{"} + state + "} still lists "
                              + str(r->element[0]) + ", which ended "
                              + std::to_string((now - score) / 1000)
                              + " s ago (retention "
                              + std::to_string(opts_.retention.count()) + " s)");
    }
    // The markers of counted sagas that ended (score: the end time) go
    // with the ended indexes; open ones (score 0) stay.
    auto m = redis_.run({"ZRANGEBYSCORE", saga::redis_seen_key(), "(0", "+inf",
                         "WITHSCORES", "LIMIT", "0", "1"});
    if (!m || m->type != REDIS_REPLY_ARRAY || m->elements < 2)
      return;
    auto oldest = std::stoll(str(m->element[1]));
    if (oldest < cutoff)
      v_.add("retention", saga::redis_seen_key() + " still marks "
                            + str(m->element[0]) + ", which ended "
                            + std::to_string((now - oldest) / 1000) + " s ago");
  }

  /// How much later than the retention an ended index may hold an entry:
  /// journals trim once a second (a busy machine delays that a little).
  static constexpr int64_t slack_ms = 5'000;

private:
  void loop() {
    auto last = steady::now() - 1s;
    while (!stop_) {
      std::this_thread::sleep_for(100ms);
      if (steady::now() - last < 500ms)
        continue;
      last = steady::now();
      pass(false);
    }
  }

  void discover() {
    auto keys = redis_.scan("saga:{*}:events");
    if (!keys)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& k : *keys) {
      if (k.size() < 14)
        continue;
      auto id = k.substr(6, k.size() - 6 - 8); // saga:{ ... }:events
      if (sagas_.count(id) > 0)
        continue;
      saga_info s;
      s.id = id;
      s.first_seen_ms = wall_ms();
      sagas_.emplace(id, std::move(s));
      last_discovery_ms_ = wall_ms();
    }
  }

  /// Looks at the last event of every saga not known to have ended.
  void poll_open() {
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& [id, s] : sagas_)
        if (!s.ended)
          ids.push_back(id);
    }
    std::vector<std::vector<std::string>> cmds;
    for (auto& id : ids)
      cmds.push_back({"XREVRANGE", saga::redis_events_key(id), "+", "-",
                      "COUNT", "1"});
    auto replies = redis_.pipeline(cmds);
    if (replies.size() != ids.size())
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    for (size_t i = 0; i < ids.size(); ++i) {
      auto& s = sagas_[ids[i]];
      auto* r = replies[i].get();
      if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        v_.add("retention", "the history of saga " + s.id
                              + " expired before the checker saw it end");
        s.ended = s.verified = true;
        continue;
      }
      auto* entry = r->element[0];
      auto type = entry_field(entry->element[1], "type");
      if (terminal_type(type)) {
        s.ended = true;
        s.end_ms = std::stoll(entry_field(entry->element[1], "time"));
        // Let stray duplicates and the writers' follow-ups land first.
        s.verify_at = steady::now() + 2s;
      }
    }
  }

  void verify_due(bool final_pass) {
    std::vector<std::string> due;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& [id, s] : sagas_)
        if (s.ended && !s.verified
            && (final_pass || s.verify_at <= steady::now()))
          due.push_back(id);
    }
    for (auto& id : due) {
      saga_info copy;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        copy = sagas_[id];
      }
      auto done = verify(copy);
      ++copy.verify_tries;
      if (!done && copy.verify_tries >= 20) {
        v_.add("replay", "saga " + id + " could not be read back from Redis "
                           "20 times");
        done = true;
      }
      copy.verified = done;
      if (!done)
        copy.verify_at = steady::now() + 1s;
      std::lock_guard<std::mutex> guard{mtx_};
      sagas_[id] = std::move(copy);
    }
  }

  /// Checks saga `s` that ended; returns false to try again later (Redis
  /// unreachable).
  bool verify(saga_info& s) {
    const auto& id = s.id;
    auto events_key = saga::redis_events_key(id);
    auto owner_key = saga::redis_owner_key(id);
    auto barrier_key = "saga:{" + id + "}:barrier";
    auto replies = redis_.pipeline({{"XRANGE", events_key, "-", "+"},
                                    {"HGETALL", barrier_key},
                                    {"PTTL", events_key},
                                    {"PTTL", owner_key},
                                    {"PTTL", barrier_key}});
    if (replies.size() != 5)
      return false;
    auto now = wall_ms();
    auto events = saga::parse_events(*replies[0], id);
    if (!events) {
      v_.add("replay", "the history of saga " + id + " does not parse: "
                         + saga::describe(events.error()));
      return true;
    }
    if (events->empty()) {
      v_.add("retention", "the history of saga " + id
                            + " expired within 2 s of its end");
      return true;
    }
    auto st = saga::replay(id, *events);
    if (!st) {
      v_.add("replay", "the history of saga " + id + " does not replay: "
                         + saga::describe(st.error()));
      return true;
    }
    if (!saga::is_terminal(st->status)) {
      v_.add("terminal", "saga " + id + " went on after its terminal event ("
                           + std::string{saga::to_string(st->status)} + ")");
      return true;
    }
    s.status = st->status;
    s.definition = st->def ? st->def->name() : "";
    s.steps.clear();
    s.compensated_order.clear();
    if (st->def) {
      const auto& defs = st->def->steps();
      for (size_t i = 0; i < defs.size(); ++i) {
        saga_info::step x;
        x.name = defs[i].name;
        x.participant = defs[i].participant;
        x.action = defs[i].action;
        x.payload = defs[i].payload;
        const auto& ss = st->steps[i];
        x.status = ss.status;
        using saga::step_status;
        if (ss.status == step_status::completed)
          x.expected = 1;
        else if (ss.status == step_status::compensated
                 || ss.status == step_status::pending
                 || (ss.status == step_status::failed && !ss.outcome_unknown))
          x.expected = 0;
        else
          x.expected = -1;
        s.steps.push_back(std::move(x));
      }
      if (!defs.empty())
        if (auto t = defs[0].payload.find("tag");
            t != defs[0].payload.end() && t->is_string())
          s.tag = t->get<std::string>();
    }
    // Steps in the order their compensations finished (as saga_result).
    std::vector<std::pair<uint64_t, std::string>> order;
    for (size_t i = 0; i < st->steps.size(); ++i)
      if (st->steps[i].compensated_seq > 0)
        order.emplace_back(st->steps[i].compensated_seq, s.steps[i].name);
    std::sort(order.begin(), order.end());
    for (auto& [seq, name] : order)
      s.compensated_order.push_back(name);
    // -- what sagactl reports: the catalog (sagactl show's code) for every
    // saga, the binary itself for a sample.
    auto shown = catalog_.show(id);
    if (!shown)
      return false;
    ++figs_.replayed;
    figs_.max_saga_ms = std::max<int64_t>(figs_.max_saga_ms,
                                          st->ended_at_ms - st->started_at_ms);
    for (const auto& ev : *events) {
      if ((ev.type == saga::event_type::step_attempt_failed
           || ev.type == saga::event_type::step_failed)
          && ev.error.find("injected failure") != std::string::npos)
        ++figs_.injected_failures;
      if (ev.type == saga::event_type::step_attempt_timed_out
          || ev.type == saga::event_type::step_timed_out)
        ++figs_.timeouts;
    }
    if (auto diff = compare_with_catalog(*st, *shown); !diff.empty())
      v_.add("replay", "saga " + id + ": replay and sagactl show disagree: "
                         + diff);
    else
      ++figs_.catalog_equal;
    std::uniform_real_distribution<double> unit{0, 1};
    if (unit(rng_) < opts_.sagactl_sample
        || st->status == saga::saga_status::failed || figs_.sagactl_runs < 3)
      run_sagactl(id, *shown);
    // -- the barrier records against the journal.
    std::map<std::string, std::string> barrier;
    auto* b = replies[1].get();
    for (size_t i = 0; i + 1 < b->elements; i += 2)
      barrier.emplace(str(b->element[i]), str(b->element[i + 1]));
    figs_.barrier_records += barrier.size();
    for (const auto& x : s.steps) {
      using saga::step_status;
      auto xf = barrier.find(x.name + "/x");
      auto cf = barrier.find(x.name + "/c");
      auto done = [](auto i, auto& m) {
        return i != m.end() && i->second.rfind("D1:", 0) == 0;
      };
      std::string problem;
      if (x.status == step_status::completed && !done(xf, barrier))
        problem = "completed, but its execute has no success record";
      else if (x.status == step_status::completed && cf != barrier.end())
        problem = "completed, but its compensation has a record";
      else if (x.status == step_status::compensated && !done(cf, barrier))
        problem = "compensated, but its compensation has no record";
      else if (x.status == step_status::pending
               && (xf != barrier.end() || cf != barrier.end()))
        problem = "never started, but the barrier has records of it";
      else if (x.status == step_status::failed && x.expected == 0
               && done(xf, barrier))
        problem = "failed, but its execute has a success record";
      if (!problem.empty())
        v_.add("replay", "saga " + id + " (" + s.definition + ", "
                           + std::string{saga::to_string(s.status)} + ") step '"
                           + x.name + "' " + problem);
    }
    // -- expiry: every key of an ended saga expires within the retention.
    s.expiries.clear();
    const std::string keys[] = {events_key, owner_key, barrier_key};
    for (int k = 0; k < 3; ++k) {
      auto pttl = replies[2 + k]->integer;
      if (pttl == -2)
        continue; // gone (a barrier hash of a saga that ran no step)
      ++figs_.ttl_keys;
      if (pttl == -1) {
        v_.add("retention", keys[k] + " of ended saga " + id
                              + " has no expiry");
        continue;
      }
      figs_.max_ttl_ms = std::max<int64_t>(figs_.max_ttl_ms, pttl);
      if (pttl > opts_.retention.count() * 1000)
        v_.add("retention", keys[k] + " of ended saga " + id + " expires in "
                              + std::to_string(pttl) + " ms, beyond the "
                              + std::to_string(opts_.retention.count())
                              + " s retention");
      auto at = now + pttl;
      figs_.max_expiry_lag_ms
        = std::max<int64_t>(figs_.max_expiry_lag_ms,
                   at - s.end_ms - opts_.retention.count() * 1000);
      s.expiries.emplace_back(keys[k], at);
    }
    return true;
  }

  /// Returns what differs between replayed state `st` and the catalog's
  /// JSON (what `sagactl --json show` prints), or "".
  static std::string compare_with_catalog(const saga::saga_state& st,
                                          const json& j) {
    std::ostringstream diff;
    auto field = [&](const char* name, const json& want) {
      if (!j.contains(name) || j[name] != want)
        diff << name << " " << (j.contains(name) ? j[name].dump() : "missing")
             << " vs " << want.dump() << "; ";
    };
    field("state", std::string{saga::to_string(st.status)});
    field("last_seq", st.last_seq);
    field("error", st.error);
    if (j.contains("invalid_history"))
      diff << "the catalog calls the history invalid; ";
    auto steps = j.value("steps", json::array());
    if (steps.size() != st.steps.size()) {
      diff << steps.size() << " steps vs " << st.steps.size() << "; ";
      return diff.str();
    }
    for (size_t i = 0; i < st.steps.size(); ++i) {
      const auto& s = st.steps[i];
      const auto& x = steps[i];
      if (x.value("status", "") != saga::to_string(s.status)
          || x.value("attempts", 0u) != s.attempts
          || x.value("compensation_attempts", 0u) != s.compensation_attempts
          || x.value("outcome_unknown", false) != s.outcome_unknown)
        diff << "step " << i << " " << x.value("status", "") << "/"
             << x.value("attempts", 0u) << "/"
             << x.value("compensation_attempts", 0u) << " vs "
             << saga::to_string(s.status) << "/" << s.attempts << "/"
             << s.compensation_attempts << "; ";
    }
    return diff.str();
  }

  /// Runs `sagactl --json show id` and compares its output to `shown`.
  void run_sagactl(const std::string& id, const json& shown) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto cmd = opts_.sagactl + " --redis " + url_ + " --json show " + id
                 + " 2>/dev/null";
      std::string out;
      if (auto* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
          out.append(buf, n);
        auto status = ::pclose(p);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 4) {
          std::this_thread::sleep_for(500ms); // Redis away: try again
          continue;
        }
        ++figs_.sagactl_runs;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          v_.add("replay", "sagactl show " + id + " exited with status "
                             + std::to_string(status));
          return;
        }
        auto j = json::parse(out, nullptr, false);
        if (j != shown)
          v_.add("replay", "sagactl --json show " + id
                             + " differs from the catalog's view");
        return;
      }
    }
  }

  void check_expiries() {
    auto now = wall_ms();
    std::vector<std::string> due;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& [id, s] : sagas_) {
        if (!s.verified || s.expiry_checked || s.expiries.empty())
          continue;
        int64_t last = 0;
        for (auto& [k, at] : s.expiries)
          last = std::max(last, at);
        if (last + 1'000 <= now)
          due.push_back(id);
      }
    }
    for (auto& id : due) {
      std::vector<std::pair<std::string, int64_t>> keys;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        keys = sagas_[id].expiries;
      }
      std::vector<std::vector<std::string>> cmds;
      for (auto& [k, at] : keys)
        cmds.push_back({"PTTL", k});
      auto replies = redis_.pipeline(cmds);
      if (replies.size() != cmds.size())
        return;
      for (size_t i = 0; i < keys.size(); ++i) {
        if (replies[i]->integer == -2) {
          ++figs_.expired_on_time;
          continue;
        }
        v_.add("retention",
               keys[i].first + " still exists "
                 + std::to_string(now - keys[i].second)
                 + " ms after it was due to expire (TTL now "
                 + std::to_string(replies[i]->integer) + " ms)");
      }
      std::lock_guard<std::mutex> guard{mtx_};
      sagas_[id].expiry_checked = true;
    }
  }

  const options& opts_;
  std::string url_;
  redis_client redis_;
  saga::saga_catalog catalog_;
  violations& v_;
  std::mt19937_64 rng_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mtx_;
  std::map<std::string, saga_info> sagas_;
  int64_t last_discovery_ms_ = 0;
  figures figs_;
};

// -- the campaign -------------------------------------------------------------------

class campaign {
public:
  campaign(options o, bool seeded) : o_(std::move(o)), rng_(o_.seed) {
    (void) seeded;
  }

  int run();

private:
  bool setup();
  void spawn(node_proc& n);
  /// Moves starting nodes along: connected once ready, started again when
  /// they exited (e.g. Redis was away). Returns false on a node that does
  /// not come up within a minute.
  bool poll_nodes();
  bool wait_all_up(ms timeout);
  void begin(const fault& f);
  void end(const fault& f);
  void drain();
  void final_checks();
  /// Stops every process (after taking the coordinators' chaos counts).
  void shutdown();
  int report();
  /// The files the campaign writes into the logs folder.
  std::vector<std::string> own_files() const {
    std::vector<std::string> files{o_.logs + "/redis-data",
                                   o_.logs + "/redis.log"};
    for (size_t i = 0; i < o_.coordinators; ++i)
      files.push_back(o_.logs + "/coord-" + std::to_string(i + 1) + ".log");
    for (auto s : {"account", "inventory", "log"})
      for (size_t r = 0; r < o_.replicas; ++r)
        files.push_back(o_.logs + "/" + s + "-" + std::to_string(r + 1)
                        + ".log");
    return files;
  }
  std::string repro() const {
    return "scripts/chaos.sh --seed " + std::to_string(o_.seed)
           + " --duration " + show_duration(o_.duration);
  }

  options o_;
  std::mt19937_64 rng_;
  std::string dir_;
  std::unique_ptr<violations> v_;
  std::unique_ptr<redis_process> redis_;
  std::string url_;
  std::vector<node_proc> nodes_;
  std::vector<fault> schedule_;
  std::array<size_t, fault_kinds> injected_{};
  size_t skipped_ = 0;
  size_t node_start_retries_ = 0;
  size_t client_reconnects_ = 0;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  gateway_table gateways_;
  client_book book_;
  std::unique_ptr<watcher> watcher_;
  std::thread client_;
  uint64_t workload_seed_ = 0;
  uint64_t watcher_seed_ = 0;
  steady::time_point t0_;
  // Final figures.
  struct {
    int64_t money_before = 0, money_after = 0, spent = 0;
    int64_t items_before = 0, items_after = 0, bought = 0;
    size_t keys_compared = 0;
    size_t executes = 0, compensations = 0;
    size_t scanned_keys = 0;
    /// Owners an adopter planted on sagas listed but never written.
    size_t planted_owners = 0;
    size_t answered = 0, answer_errors = 0, unanswered = 0, unpersisted = 0;
    size_t results_compared = 0;
    std::map<std::string, std::map<saga::saga_status, size_t>> outcomes;
    size_t sagas = 0, open = 0;
  } f_;
};

bool campaign::setup() {
  // Every random choice derives from the seed, in this order.
  auto schedule_seed = rng_();
  workload_seed_ = rng_();
  watcher_seed_ = rng_();
  if (o_.logs.empty()) {
    std::string tmpl = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    tmpl += "/chaos-" + std::to_string(o_.seed) + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      std::cerr << "chaos_campaign: cannot create a folder for the logs\n";
      return false;
    }
    o_.logs = buf.data();
  }
  // Our own files in there only: the Redis folder and the logs.
  dir_ = o_.logs + "/redis-data";
  std::error_code ec;
  for (const auto& f : own_files())
    std::filesystem::remove_all(f, ec);
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    std::cerr << "chaos_campaign: cannot create " << dir_ << ": "
              << ec.message() << "\n";
    return false;
  }
  v_ = std::make_unique<violations>(o_.seed, show_duration(o_.duration));
  redis_ = std::make_unique<redis_process>(o_.redis_server, dir_,
                                           o_.logs + "/redis.log");
  if (!redis_->start()) {
    std::cerr << "chaos_campaign: redis-server did not start; see " << o_.logs
              << "/redis.log\n";
    return false;
  }
  url_ = redis_->url();
  // -- the nodes
  std::mt19937_64 node_rng{schedule_seed};
  for (size_t i = 0; i < o_.coordinators; ++i) {
    node_proc n;
    n.id = "coord-" + std::to_string(i + 1);
    n.coordinator = true;
    n.k = draw_knobs(node_rng, o_, true);
    nodes_.push_back(std::move(n));
  }
  for (const char* server : {"account-server", "inventory-server", "log-server"})
    for (size_t r = 0; r < o_.replicas; ++r) {
      node_proc n;
      n.id = std::string{server}.substr(0, std::string{server}.find('-')) + "-"
             + std::to_string(r + 1);
      n.server = server;
      n.k = draw_knobs(node_rng, o_, false);
      nodes_.push_back(std::move(n));
    }
  schedule_ = make_schedule(node_rng, o_, nodes_);
  // -- the game's data: every player has 1000 coins and 3 items.
  redis_client rc{url_};
  for (size_t p = 0; p < o_.players; ++p) {
    if (!rc.run({"HSET", demo::balance_key(realm), player_name(p), "1000"}))
      return false;
    for (size_t k = 0; k < 3; ++k)
      rc.run({"HSET", demo::items_key(realm),
              player_name(p) + "/" + heirloom(p, k), "1"});
  }
  // -- the client
  cfg_.load<caf::io::middleman>();
  saga::add_message_types(cfg_);
  cfg_.set("middleman.heartbeat-interval", caf::timespan{200ms});
  cfg_.set("middleman.connection-timeout", caf::timespan{0});
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  for (auto& n : nodes_)
    if (!n.coordinator)
      spawn(n);
  for (auto& n : nodes_)
    if (n.coordinator)
      spawn(n);
  if (!wait_all_up(90s)) {
    std::cerr << "chaos_campaign: the cluster did not come up; logs in "
              << o_.logs << "\n";
    return false;
  }
  return true;
}

void campaign::spawn(node_proc& n) {
  std::vector<std::string> args{
    "--node-id=" + n.id, "--redis=" + url_, "--lease=1s",
    "--heartbeat-interval=200ms", "--connection-timeout=1s",
    "--retention=" + std::to_string(o_.retention.count()) + "s", "--admin=off"};
  std::ostringstream rates;
  rates.precision(4);
  if (n.coordinator) {
    args.push_back("--coordinate");
    if (n.k.duplicate > 0 || n.k.delay > 0) {
      rates << std::fixed << n.k.duplicate;
      args.push_back("--chaos-duplicate-rate=" + rates.str());
      rates.str("");
      rates << n.k.delay;
      args.push_back("--chaos-delay-rate=" + rates.str());
      args.push_back("--chaos-max-delay="
                     + std::to_string(o_.max_delay.count()) + "ms");
      args.push_back("--chaos-seed=" + std::to_string(n.k.seed));
    }
  } else {
    args.push_back("--participants=" + n.server);
    args.push_back("--audit-effects");
    rates << std::fixed << n.k.fail;
    args.push_back("--fail-rate=" + rates.str());
    rates.str("");
    rates << n.k.slow;
    args.push_back("--slow-rate=" + rates.str());
    args.push_back("--fault-seed=" + std::to_string(n.k.seed));
  }
  ++n.incarnation;
  n.proc = std::make_unique<saga::test::child_process>(
    o_.saga_node, args, o_.logs + "/" + n.id + ".log");
  n.st = node_proc::state::starting;
  n.started_at = steady::now();
  n.respawn_at = steady::time_point::max();
}

bool campaign::poll_nodes() {
  for (auto& n : nodes_) {
    if (n.coordinator && n.st == node_proc::state::up
        && gateways_.is_lost(n.id) && steady::now() >= n.reconnect_at) {
      // It dropped our connection (paused past the connection timeout):
      // connect again.
      auto gw = sys_->middleman().remote_actor<saga::gateway_actor>(
        "127.0.0.1", n.port);
      if (gw) {
        gateways_.set(n.id, *gw);
        ++client_reconnects_;
      } else {
        n.reconnect_at = steady::now() + 500ms; // try again then
      }
      continue;
    }
    if (n.st != node_proc::state::starting)
      continue;
    if (n.respawn_at != steady::time_point::max()) {
      if (steady::now() >= n.respawn_at)
        spawn(n);
      continue;
    }
    if (auto line = n.proc->wait_for_line("ready port=", 0ms)) {
      n.port = static_cast<uint16_t>(
        std::stoul(line->substr(line->find("port=") + 5)));
      if (n.coordinator) {
        auto gw = sys_->middleman().remote_actor<saga::gateway_actor>(
          "127.0.0.1", n.port);
        if (!gw) {
          std::cout << "!! cannot reach " << n.id << ": "
                    << saga::describe(gw.error()) << "; restarting it\n";
          n.proc->signal(SIGKILL);
          n.proc->wait_exit(10s);
          n.respawn_at = steady::now() + 500ms;
          continue;
        }
        gateways_.set(n.id, *gw);
      }
      n.st = node_proc::state::up;
      continue;
    }
    if (!n.proc->running()) {
      // It gave up (e.g. Redis was away while it started): again.
      ++node_start_retries_;
      if (++n.start_failures > 30) {
        std::cerr << "chaos_campaign: node " << n.id
                  << " keeps failing to start; see " << o_.logs << "/" << n.id
                  << ".log\n";
        return false;
      }
      n.respawn_at = steady::now() + 500ms;
      continue;
    }
    if (steady::now() - n.started_at > 60s) {
      std::cerr << "chaos_campaign: node " << n.id
                << " did not start within 60 s; see " << o_.logs << "/"
                << n.id << ".log\n";
      return false;
    }
  }
  return true;
}

bool campaign::wait_all_up(ms timeout) {
  auto deadline = steady::now() + timeout;
  while (steady::now() < deadline) {
    if (!poll_nodes())
      return false;
    if (std::all_of(nodes_.begin(), nodes_.end(), [](const node_proc& n) {
          return n.st == node_proc::state::up;
        }))
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

void campaign::begin(const fault& f) {
  auto at = std::chrono::duration<double>(steady::now() - t0_).count();
  std::ostringstream line;
  line << std::fixed << std::setprecision(1) << "[" << at << " s] ";
  if (f.kind == fault_kind::redis_restart) {
    std::cout << line.str() << "!! redis-server: SIGKILL, back in "
              << f.length.count() << " ms from its AOF" << std::endl;
    watcher_->hold_index_check(wall_ms() + f.length.count() + 5'000);
    redis_->kill();
    ++injected_[static_cast<size_t>(f.kind)];
    return;
  }
  auto& n = nodes_[f.target];
  if (n.st != node_proc::state::up) {
    ++skipped_; // not up again yet from its last fault
    return;
  }
  ++injected_[static_cast<size_t>(f.kind)];
  switch (f.kind) {
    case fault_kind::participant_kill:
    case fault_kind::coordinator_kill:
    case fault_kind::participant_restart: {
      bool graceful = f.kind == fault_kind::participant_restart;
      std::cout << line.str() << "!! " << n.id << ": "
                << (graceful ? "SIGTERM, restarted at once"
                             : "SIGKILL, restarted in "
                                 + std::to_string(f.length.count()) + " ms")
                << std::endl;
      if (n.coordinator)
        gateways_.set(n.id, saga::gateway_actor{});
      n.proc->signal(graceful ? SIGTERM : SIGKILL);
      if (!n.proc->wait_exit(20s)) {
        n.proc->signal(SIGKILL);
        n.proc->wait_exit(10s);
      }
      n.logged += tally_log(n);
      n.proc.reset();
      n.st = node_proc::state::down;
      break;
    }
    default:
      std::cout << line.str() << "!! " << n.id << ": SIGSTOP for "
                << f.length.count() << " ms" << std::endl;
      n.proc->signal(SIGSTOP);
      n.st = node_proc::state::paused;
  }
}

void campaign::end(const fault& f) {
  if (f.kind == fault_kind::redis_restart) {
    if (!redis_->start()) {
      std::cerr << "chaos_campaign: redis-server did not restart\n";
      std::exit(2);
    }
    watcher_->hold_index_check(wall_ms() + 5'000);
    return;
  }
  auto& n = nodes_[f.target];
  if (n.st == node_proc::state::paused) {
    n.proc->signal(SIGCONT);
    n.st = node_proc::state::up;
  } else if (n.st == node_proc::state::down) {
    n.k = f.next;
    spawn(n);
  }
}

void campaign::drain() {
  // Sagas must end within the bound: every request answered, and every
  // saga in Redis ended and checked.
  auto deadline = steady::now() + o_.drain;
  while (steady::now() < deadline) {
    if (!poll_nodes())
      break;
    size_t in_flight;
    {
      std::lock_guard<std::mutex> guard{book_.mtx};
      in_flight = book_.in_flight;
    }
    auto p = watcher_->status();
    if (in_flight == 0 && p.open == 0 && p.unverified == 0
        && wall_ms() - p.last_discovery_ms > 3'000)
      return;
    std::this_thread::sleep_for(200ms);
  }
  std::cout << "!! the drain bound (" << show_duration(o_.drain)
            << ") passed with sagas still open" << std::endl;
}

int campaign::run() {
  std::cout << "chaos campaign: seed " << o_.seed << ", duration "
            << show_duration(o_.duration) << " (faults stop "
            << show_duration(o_.quiet) << " before the end), " << o_.rate
            << " sagas/s, " << o_.coordinators << " coordinators, "
            << o_.replicas << " nodes per game server, retention "
            << o_.retention.count() << " s\n"
            << "reproduce with " << repro() << std::endl;
  if (!setup())
    return 2;
  std::cout << "cluster up: redis-server " << url_ << " (appendonly yes, "
            << "appendfsync always), logs in " << o_.logs << "\n"
            << schedule_.size() << " faults scheduled" << std::endl;
  watcher_ = std::make_unique<watcher>(o_, url_, *v_, watcher_seed_);
  watcher_->start();
  t0_ = steady::now();
  auto stop_at = t0_ + o_.duration;
  // -- the client: a steady rate, at most max_in_flight at once.
  client_ = std::thread{[this, stop_at] {
    std::mt19937_64 rng{workload_seed_};
    for (size_t n = 0;; ++n) {
      auto due = t0_ + ms{static_cast<int64_t>(1000.0 * n / o_.rate)};
      std::this_thread::sleep_until(due);
      if (steady::now() >= stop_at)
        break;
      bool trade = false;
      auto tag = "t" + std::to_string(n);
      auto text = make_saga(rng, o_, tag, trade);
      {
        std::unique_lock<std::mutex> guard{book_.mtx};
        book_.cv.wait_until(guard, stop_at, [&] {
          return book_.in_flight < o_.max_in_flight;
        });
        if (steady::now() >= stop_at)
          break;
      }
      auto gw = gateways_.pick();
      std::lock_guard<std::mutex> guard{book_.mtx};
      if (!gw) {
        ++book_.refused_no_coordinator; // every coordinator is down
        continue;
      }
      auto index = book_.requests.size();
      saga_request r;
      r.tag = tag;
      r.trade = trade;
      r.coordinator = gw->first;
      book_.requests.push_back(std::move(r));
      ++book_.in_flight;
      start_saga(*sys_, gw->second, std::move(text),
                 [this, index, gw = *gw](saga::saga_result res,
                                         std::string err, bool lost) {
                   if (lost)
                     gateways_.lost(gw.first, gw.second);
                   std::lock_guard<std::mutex> g{book_.mtx};
                   auto& x = book_.requests[index];
                   x.answered = true;
                   x.result = std::move(res);
                   x.error = std::move(err);
                   --book_.in_flight;
                   book_.cv.notify_all();
                 });
    }
  }};
  // -- the faults, on the main thread (it owns the child processes).
  struct action {
    ms at;
    size_t fault;
    bool begin;
  };
  std::vector<action> actions;
  for (size_t i = 0; i < schedule_.size(); ++i) {
    actions.push_back({schedule_[i].at, i, true});
    actions.push_back({schedule_[i].at + schedule_[i].length, i, false});
  }
  std::stable_sort(actions.begin(), actions.end(),
                   [](const action& a, const action& b) { return a.at < b.at; });
  std::vector<bool> begun(schedule_.size(), false);
  auto quiet_at = t0_ + (o_.duration - o_.quiet);
  size_t next = 0;
  auto last_print = steady::now();
  bool ok = true;
  while (steady::now() < stop_at && ok) {
    ok = poll_nodes();
    auto now = steady::now();
    while (next < actions.size() && t0_ + actions[next].at <= now
           && now < quiet_at) {
      auto& a = actions[next++];
      if (a.begin) {
        begin(schedule_[a.fault]);
        begun[a.fault] = true;
      } else if (begun[a.fault]) {
        end(schedule_[a.fault]);
      }
    }
    if (now >= quiet_at && next < actions.size()) {
      // Quiet: undo what is in effect, start nothing new.
      for (; next < actions.size(); ++next)
        if (!actions[next].begin && begun[actions[next].fault])
          end(schedule_[actions[next].fault]);
      std::cout << "[" << std::chrono::duration_cast<std::chrono::seconds>(
                            now - t0_)
                            .count()
                << " s] quiet: no more faults" << std::endl;
    }
    if (now - last_print > 10s) {
      last_print = now;
      auto p = watcher_->status();
      size_t sent;
      {
        std::lock_guard<std::mutex> guard{book_.mtx};
        sent = book_.requests.size();
      }
      std::cout << "[" << std::chrono::duration_cast<std::chrono::seconds>(
                            now - t0_)
                            .count()
                << " s] " << sent << " sagas started, " << p.discovered
                << " in Redis, " << p.open << " running, " << v_->total()
                << " violations" << std::endl;
    }
    std::this_thread::sleep_for(10ms);
  }
  client_.join();
  if (!ok)
    return 2;
  std::cout << "client stopped; waiting for the last sagas (at most "
            << show_duration(o_.drain) << ")" << std::endl;
  if (!wait_all_up(60s))
    std::cout << "!! not every node is up again" << std::endl;
  drain();
  watcher_->stop();
  // The sagas of the last moment, and the ended indexes once more.
  watcher_->pass(true);
  watcher_->live_index_check = false;
  final_checks();
  shutdown();
  return report();
}

void campaign::shutdown() {
  for (auto& n : nodes_) {
    n.logged += tally_log(n);
    if (n.proc) {
      n.proc->signal(SIGKILL);
      n.proc->wait_exit(10s);
      n.proc.reset();
    }
  }
  redis_->kill();
}

/// Adds the changes that step `x` of saga `id` makes to the game's data
/// when its effect stands (demo/game_servers.hpp).
void effect_of(const std::string& id, const saga_info::step& x,
               std::map<std::string, int64_t>& balance,
               std::map<std::string, int64_t>& items,
               std::map<std::string, int64_t>& purchases, int sign = 1) {
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
    balance[text("playerId")] -= sign * number("amount");
  else if (x.action == "add_item")
    items[text("playerId") + "/" + text("itemId")] += sign;
  else if (x.action == "remove_item")
    items[text("playerId") + "/" + text("itemId")] -= sign;
  else if (x.action == "log_purchase")
    purchases[id] += sign * number("price");
}

void campaign::final_checks() {
  auto& sagas = watcher_->sagas();
  auto& v = *v_;
  redis_client rc{url_};
  f_.sagas = sagas.size();
  // -- terminal: every saga ended; no index lists one as unfinished.
  for (auto& [id, s] : sagas) {
    if (!s.ended) {
      ++f_.open;
      v.add("terminal", "saga " + id + " has not ended");
      continue;
    }
    if (!s.verified)
      v.add("terminal", "saga " + id + " ended but could not be checked");
    ++f_.outcomes[s.definition][s.status];
  }
  for (auto& n : nodes_) {
    auto r = rc.run({"ZRANGE", saga::redis_unfinished_key(n.id), "0", "-1"});
    if (!r)
      v.add("terminal", "cannot read the unfinished index of " + n.id);
    else
      for (size_t i = 0; i < r->elements; ++i) {
        auto id = str(r->element[i]);
        auto it = sagas.find(id);
        v.add(it != sagas.end() && it->second.ended ? "retention" : "terminal",
              "saga:unfinished:{" + n.id + "} still lists saga " + id
                + (it != sagas.end() && it->second.ended
                     ? ", which ended "
                         + std::to_string((wall_ms() - it->second.end_ms)
                                          / 1000)
                         + " s ago"
                     : ""));
      }
  }
  // -- the client's view against the journals.
  std::map<std::string, std::vector<std::string>> by_tag;
  for (auto& [id, s] : sagas)
    if (s.verified)
      by_tag[s.tag].push_back(id);
  std::set<std::string> asked;
  {
    std::lock_guard<std::mutex> guard{book_.mtx};
    for (auto& r : book_.requests) {
      asked.insert(r.tag);
      auto found = by_tag.find(r.tag);
      if (found != by_tag.end() && found->second.size() > 1)
        v.add("replay", "request " + r.tag + " started "
                          + std::to_string(found->second.size()) + " sagas");
      if (!r.answered) {
        ++f_.unanswered;
      } else if (!r.result.saga_id.empty()
                 && saga::is_terminal(r.result.state)) {
        ++f_.answered;
        auto it = sagas.find(r.result.saga_id);
        if (it == sagas.end()) {
          v.add("replay", "the client got " + std::string{saga::to_string(
                                                r.result.state)}
                            + " for saga " + r.result.saga_id
                            + ", which Redis never held");
          continue;
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
          v.add("replay", "saga " + s.id + ": the client's result ("
                            + std::string{saga::to_string(r.result.state)}
                            + (r.result.success ? ", success" : ", no success")
                            + (r.result.error
                                 ? ", error " + saga::describe(r.result.error)
                                 : std::string{})
                            + ", request " + r.tag
                            + ") differs from its journal ("
                            + std::string{saga::to_string(s.status)}
                            + ", request " + s.tag + ")");
      } else {
        ++f_.answer_errors;
        if (found == by_tag.end())
          ++f_.unpersisted;
      }
    }
  }
  for (auto& [tag, ids] : by_tag)
    if (asked.count(tag) == 0)
      v.add("replay", "saga " + ids.front() + " carries request tag '" + tag
                        + "', which the client never sent");
  // -- applied once, and the participants' data against the journals.
  bool ok = true;
  auto applied = rc.hgetall(demo::applied_key(realm), &ok);
  auto balances = rc.hgetall(demo::balance_key(realm), &ok);
  auto items = rc.hgetall(demo::items_key(realm), &ok);
  auto purchases = rc.hgetall(demo::purchases_key(realm), &ok);
  if (!ok) {
    v.add("conservation", "cannot read the game servers' data");
    return;
  }
  std::map<std::string, int64_t> want_balance;
  std::map<std::string, int64_t> want_items;
  std::map<std::string, int64_t> want_purchases;
  for (size_t p = 0; p < o_.players; ++p) {
    want_balance[player_name(p)] = 1000;
    for (size_t k = 0; k < 3; ++k)
      want_items[player_name(p) + "/" + heirloom(p, k)] = 1;
  }
  f_.money_before = 1000 * static_cast<int64_t>(o_.players);
  f_.items_before = 3 * static_cast<int64_t>(o_.players);
  std::set<std::string> counted;
  auto count_of = [&](const std::string& field) -> int64_t {
    counted.insert(field);
    auto i = applied.find(field);
    return i == applied.end() ? 0 : std::stoll(i->second);
  };
  for (auto& [id, s] : sagas) {
    if (!s.verified)
      continue;
    for (auto& x : s.steps) {
      auto base = id + "|" + x.name + "|";
      auto xs = count_of(base + "x");
      auto cs = count_of(base + "c");
      f_.executes += static_cast<size_t>(std::max<int64_t>(0, xs));
      f_.compensations += static_cast<size_t>(std::max<int64_t>(0, cs));
      if (xs > 1 || cs > 1 || xs < 0 || cs < 0 || cs > xs) {
        v.add("applied-once", "saga " + id + " step '" + x.name
                                + "': its effect was applied "
                                + std::to_string(xs)
                                + " times and its compensation's "
                                + std::to_string(cs) + " times");
        continue;
      }
      auto net = xs - cs;
      if (x.expected >= 0 && net != x.expected)
        v.add("replay", "saga " + id + " (" + std::string{saga::to_string(
                                                 s.status)}
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
      v.add("applied-once", "an effect was applied for '" + field
                              + "', a step of no saga the checker knows");
  // Exact: every balance, item count and purchase record.
  auto compare = [&](const char* what, const std::map<std::string, int64_t>& want,
                     const std::map<std::string, std::string>& have) {
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
        v.add("conservation", std::string{what} + " '" + k + "' is "
                                + std::to_string(h) + "; the journals imply "
                                + std::to_string(w));
    }
  };
  compare("balance", want_balance, balances);
  compare("item count", want_items, items);
  compare("purchase record", want_purchases, purchases);
  // The demo's conservation check over all players.
  for (auto& [k, x] : balances)
    f_.money_after += std::stoll(x);
  for (auto& [k, x] : items)
    f_.items_after += std::stoll(x);
  for (auto& [k, x] : purchases)
    f_.spent += std::stoll(x);
  f_.bought = static_cast<int64_t>(purchases.size());
  if (f_.money_after != f_.money_before - f_.spent)
    v.add("conservation", "money: " + std::to_string(f_.money_after)
                            + " after, but " + std::to_string(f_.money_before)
                            + " before less " + std::to_string(f_.spent)
                            + " logged as spent");
  if (f_.items_after != f_.items_before + f_.bought)
    v.add("conservation", "items: " + std::to_string(f_.items_after)
                            + " after, but " + std::to_string(f_.items_before)
                            + " before plus " + std::to_string(f_.bought)
                            + " logged as bought");
  // -- leftovers: every key of the store is one the layout names, and no
  // saga key lives without an expiry.
  auto keys = rc.scan("*");
  if (!keys) {
    v.add("retention", "cannot SCAN the store");
    return;
  }
  f_.scanned_keys = keys->size();
  auto starts = [](const std::string& k, const char* p) {
    return k.rfind(p, 0) == 0;
  };
  auto ends = [](const std::string& k, const std::string& s) {
    return k.size() >= s.size() && k.compare(k.size() - s.size(), s.size(), s) == 0;
  };
  for (auto& k : *keys) {
    if (starts(k, "saga:{")) {
      std::string id;
      for (auto sfx : {"}:events", "}:owner", "}:barrier"})
        if (ends(k, sfx))
          id = k.substr(6, k.size() - 6 - std::strlen(sfx));
      if (id.empty()) {
        v.add("retention", "unknown key " + k);
        continue;
      }
      auto ttl = rc.run({"PTTL", k});
      if (ttl && ttl->integer == -1)
        v.add("retention", k + " has no expiry");
      else if (ttl && ttl->integer > o_.retention.count() * 1000)
        v.add("retention", k + " expires in " + std::to_string(ttl->integer)
                             + " ms, beyond the retention");
      if (sagas.count(id) == 0 && ttl && ttl->integer != -2) {
        // An owner without any history: an adopter planted it on a saga
        // its node listed but died (or was replaced) before writing, to
        // fence a late first batch (docs/redis-layout.md); it expires
        // within the retention, checked above. Anything else is a leak.
        auto events = rc.run({"EXISTS", "saga:{" + id + "}:events"});
        if (ends(k, "}:owner") && events && events->integer == 0) {
          ++f_.planted_owners;
          continue;
        }
        v.add("retention", k + " belongs to no saga the checker found "
                             "(its history is gone)");
      }
      continue;
    }
    bool known = k == "saga:counts" || k == saga::redis_seen_key()
                 || k == "saga:epochs" || k == "saga:nodes"
                 || starts(k, "saga:unfinished:{") || starts(k, "saga:ended:{")
                 || starts(k, "saga:lease:{") || starts(k, "saga:node:{")
                 || starts(k, "game:{");
    if (!known)
      v.add("retention", "unknown key " + k);
  }
}

int campaign::report() {
  auto& figs = watcher_->figs();
  auto& v = *v_;
  log_tally logged;
  for (auto& n : nodes_)
    logged += n.logged;
  size_t sent = 0;
  {
    std::lock_guard<std::mutex> guard{book_.mtx};
    sent = book_.requests.size();
  }
  auto row = [](const std::string& label, auto value) {
    std::cout << "  " << std::left << std::setw(58) << label << std::right
              << std::setw(8) << value << "\n";
  };
  std::cout << "\n== chaos campaign report: seed " << o_.seed << ", "
            << show_duration(o_.duration) << " ==\n"
            << "cluster: redis-server (appendonly yes, appendfsync always), "
            << o_.coordinators << " coordinators, " << 3 * o_.replicas
            << " game-server nodes (" << o_.replicas
            << " each), lease 1 s, retention " << o_.retention.count()
            << " s\n\nfaults injected\n";
  for (size_t k = 0; k < fault_kinds; ++k)
    row(fault_label(static_cast<fault_kind>(k)), injected_[k]);
  row("step commands duplicated by the coordinators", logged.duplicated);
  row("step commands delayed by up to " + show_duration(o_.max_delay),
      logged.delayed);
  row("executes failed by the participants (journals)", figs.injected_failures);
  row("step attempts timed out (journals)", figs.timeouts);
  if (skipped_ > 0)
    row("faults skipped (their node was not up again yet)", skipped_);
  std::cout << "what the nodes did about it (their logs)\n";
  row("sagas of dead or paused nodes adopted by a coordinator",
      logged.adopted);
  row("sagas resumed by a coordinator restarted with its id",
      logged.recovered);
  row("nodes that found their lease expired and took it again",
      logged.lease_retaken);
  row("late outcomes dropped by the barrier (settled meanwhile)",
      logged.dropped);
  row("sagas parked failed", logged.parked);
  if (node_start_retries_ > 0)
    row("node starts retried (Redis was away)", node_start_retries_);
  std::cout << "\nsagas           completed  compensated  failed   total\n";
  size_t all = 0;
  std::map<saga::saga_status, size_t> totals;
  for (auto& [def, by] : f_.outcomes) {
    size_t t = 0;
    for (auto& [st, n] : by) {
      t += n;
      totals[st] += n;
    }
    all += t;
    std::cout << "  " << std::left << std::setw(12) << def << std::right
              << std::setw(11) << by[saga::saga_status::completed]
              << std::setw(13) << by[saga::saga_status::compensated]
              << std::setw(8) << by[saga::saga_status::failed] << std::setw(8)
              << t << "\n";
  }
  std::cout << "  " << std::left << std::setw(12) << "all" << std::right
            << std::setw(11) << totals[saga::saga_status::completed]
            << std::setw(13) << totals[saga::saga_status::compensated]
            << std::setw(8) << totals[saga::saga_status::failed]
            << std::setw(8) << all << "\n"
            << "  longest saga: " << std::fixed << std::setprecision(1)
            << static_cast<double>(figs.max_saga_ms) / 1000
            << " s from start to end (retention " << o_.retention.count()
            << " s)\n"
            << "  client: " << sent << " sagas asked for, " << f_.answered
            << " answered with their outcome, " << f_.answer_errors
            << " answered with an error (coordinator killed, paused or "
               "fenced: "
            << f_.unpersisted << " of them never persisted), "
            << f_.unanswered << " unanswered";
  if (client_reconnects_ > 0)
    std::cout << "; reconnected " << client_reconnects_
              << " times to a coordinator that had dropped the connection";
  if (book_.refused_no_coordinator > 0)
    std::cout << ", " << book_.refused_no_coordinator
              << " not sent (no coordinator up)";
  std::cout << "\n\ninvariants\n";
  auto line = [&](const char* inv, const std::string& text) {
    auto n = v.count(inv);
    std::cout << "  " << (n == 0 ? "PASS" : "FAIL") << "  " << text;
    if (n > 0)
      std::cout << " -- " << n << " violation" << (n == 1 ? "" : "s");
    std::cout << "\n";
    for (auto& [count, examples] : v.kinds(inv)) {
      std::cout << "          " << count << " x " << examples.front() << "\n";
      for (size_t i = 1; i < examples.size(); ++i)
        std::cout << "              also " << examples[i] << "\n";
    }
  };
  std::ostringstream s;
  s << "every saga reached a terminal state: " << f_.sagas << " sagas, "
    << f_.open << " unfinished; unfinished indexes empty";
  line("terminal", s.str());
  s.str("");
  s << "money and items conserved: money " << f_.money_before << " -> "
    << f_.money_after << " (" << f_.spent << " logged as spent), items "
    << f_.items_before << " -> " << f_.items_after << " (" << f_.bought
    << " bought); " << f_.keys_compared
    << " balances, item counts and purchase records exactly as the journals "
       "imply";
  line("conservation", s.str());
  s.str("");
  s << "no step applied twice: " << f_.executes << " executes and "
    << f_.compensations
    << " compensations took effect, each (saga, step) at most once";
  line("applied-once", s.str());
  s.str("");
  s << "journals replay to what sagactl and the participants report: "
    << figs.replayed << " replayed, " << figs.catalog_equal
    << " equal to sagactl show's view, " << figs.sagactl_runs
    << " sagactl --json show runs identical, " << figs.barrier_records
    << " barrier records agree, " << f_.results_compared
    << " client results agree";
  line("replay", s.str());
  s.str("");
  s << "no Redis key outlives its retention: " << figs.ttl_keys
    << " keys of ended sagas expire within " << o_.retention.count()
    << " s (longest TTL " << figs.max_ttl_ms << " ms), " << figs.expired_on_time
    << " seen gone on time, ended indexes checked " << figs.ended_index_checks
    << " times (oldest entry " << figs.max_ended_age_ms / 1000 << " s), "
    << f_.scanned_keys << " keys scanned at the end ("
    << f_.planted_owners << " planted owners of sagas never written)";
  line("retention", s.str());
  auto total = v.total();
  if (total == 0) {
    std::cout << "\nPASS (seed " << o_.seed << ")" << std::endl;
    if (!o_.keep_logs) {
      std::error_code ec;
      for (const auto& f : own_files())
        std::filesystem::remove_all(f, ec);
      std::filesystem::remove(o_.logs, ec); // only if nothing else is there
    } else {
      std::cout << "logs in " << o_.logs << "\n";
    }
    return 0;
  }
  std::cout << "\nFAIL: " << total << " violation" << (total == 1 ? "" : "s")
            << "; reproduce with " << repro() << "\nlogs in " << o_.logs
            << std::endl;
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  bool seeded = false;
  if (!parse(argc, argv, o, seeded))
    return 2;
  if (!seeded)
    o.seed = std::random_device{}() % 1'000'000;
  std::signal(SIGPIPE, SIG_IGN);
  auto c = std::make_unique<campaign>(o, seeded);
  auto status = c->run();
  // Requests to coordinators that never answered keep client actors alive,
  // and the actor system would wait for them: leave without destructors.
  std::cout << std::flush;
  std::_Exit(status);
}
