// saga_node: one caf-saga cluster node hosting the shop's participants
// (see shop.hpp), the demo's game servers or the load generator's
// participants (bench_participants.hpp) and, optionally, coordinating sagas.
//
//   saga_node --node-id=a --redis=redis://127.0.0.1:6379 --coordinate
//   saga_node --node-id=b --redis=... --participants=account,inventory
//   saga_node --node-id=c --redis=... --http-participants=log=http://h:8080
//
// Options come from the command line or a config file (--config-file=F,
// CAF's INI format); --help lists them. Prints one line
// "saga_node <id> ready port=<port> epoch=<epoch>" once it serves, and
// stops on SIGINT or SIGTERM (exit 0) or when a newer incarnation of the
// same id replaces it (exit 3).

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <caf/actor_system_config.hpp>

#include <saga/saga.hpp>

#include "demo/bench_participants.hpp"
#include "demo/game_servers.hpp"
#include "demo/shop.hpp"
#include "http/http_participants_file.hpp"
#include "node/fault_injection.hpp"

namespace {

/// Prints `line` and a newline to stdout in one write: CAF's printer and
/// the node's actors print from other threads at any moment, and a line
/// written piece by piece could be cut in two by theirs ("... ready port="
/// then "caf-saga: ... cannot renew its lease ...": the port was lost to
/// whoever parses it).
void say(const std::string& line) {
  std::cout << line + '\n' << std::flush;
}

/// The command line, parsed by CAF's config system (also reads INI files).
struct options : caf::actor_system_config {
  std::string node_id;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string redis;
  std::string journal;
  std::string participants;
  std::string http_participants;
  std::string http_participants_file;
  caf::timespan http_timeout = std::chrono::seconds{10};
  std::string peers;
  bool coordinate = false;
  caf::timespan lease = std::chrono::milliseconds{2'000};
  caf::timespan remote_timeout = std::chrono::seconds{30};
  caf::timespan heartbeat_interval = std::chrono::milliseconds{500};
  caf::timespan connection_timeout = std::chrono::seconds{2};
  caf::timespan step_delay = caf::timespan{0};
  size_t recovery_concurrency = 256;
  size_t blocking_workers = 4;
  double fail_rate = 0.0;
  double slow_rate = 0.0;
  std::string admin = "127.0.0.1:0";
  std::string admin_token;
  size_t admin_max_connections = 64;
  caf::timespan admin_idle_timeout = std::chrono::seconds{10};
  caf::timespan audit_retention = std::chrono::hours{90 * 24};
  caf::timespan retention = std::chrono::hours{7 * 24};
  uint32_t journal_replicas = 0;
  bool audit_effects = false;
  uint64_t fault_seed = 0;
  double chaos_duplicate_rate = 0.0;
  double chaos_delay_rate = 0.0;
  caf::timespan chaos_max_delay = std::chrono::milliseconds{1'000};
  uint64_t chaos_seed = 0;

  options() {
    opt_group{custom_options_, "global"}
      .add(node_id, "node-id", "this node's id (required)")
      .add(host, "host", "address the gateway listens on")
      .add(port, "port", "gateway port (0: any free port)")
      .add(redis, "redis", "Redis URL: directory, leases, journal")
      .add(journal, "journal", "journal URL (default: the Redis URL)")
      .add(participants, "participants",
           "hosted participants, comma-separated: account, inventory, "
           "purchase_log (the shop), account-server, inventory-server, "
           "log-server (the demo's game) or bench (saga_bench's bench-1 .. "
           "bench-10)")
      .add(http_participants, "http-participants",
           "participants that are services over HTTP, comma-separated "
           "name=base URL (docs/http-participants.md): an action goes to "
           "POST <base>/<action>, its compensation to .../compensate")
      .add(http_participants_file, "http-participants-file",
           "JSON file declaring HTTP participants with all their settings: "
           "routes, headers, TLS files (docs/http-participants.md)")
      .add(http_timeout, "http-timeout",
           "bound on one request to an HTTP participant (default of the "
           "file's timeout_ms)")
      .add(peers, "peers", "static peers, comma-separated host:port")
      .add(coordinate, "coordinate", "run sagas and take over dead nodes'")
      .add(lease, "lease", "lease of this node in the directory")
      .add(remote_timeout, "remote-timeout",
           "bound on a step forwarded to another node")
      .add(heartbeat_interval, "heartbeat-interval", "CAF heartbeat period")
      .add(connection_timeout, "connection-timeout",
           "silence after which a peer counts as gone")
      .add(step_delay, "step-delay",
           "participants answer executes after this delay (a slow server)")
      .add(recovery_concurrency, "recovery-concurrency",
           "resumed sagas running at once")
      .add(blocking_workers, "blocking-workers",
           "threads per hosted participant")
      .add(fail_rate, "fail-rate",
           "game servers: probability that an execute fails; bench: that "
           "a saga's last step fails")
      .add(slow_rate, "slow-rate",
           "game servers: probability that an execute answers after 1.5 s")
      .add(admin, "admin",
           "admin HTTP API and dashboard, host:port (port 0: any; 'off': "
           "none)")
      .add(admin_token, "admin-token",
           "bearer token of retry and abort (default: $SAGA_ADMIN_TOKEN)")
      .add(admin_max_connections, "admin-max-connections",
           "admin connections served at once (beyond: 503, Retry-After)")
      .add(admin_idle_timeout, "admin-idle-timeout",
           "an admin connection with no request for this long is closed")
      .add(audit_retention, "audit-retention",
           "how long Redis keeps operators' retries and aborts (saga:audit)")
      .add(journal_replicas, "journal-replicas",
           "replicas that confirm each write (WAIT) before it is acknowledged")
      .add(retention, "retention",
           "how long Redis keeps an ended saga's history (whole seconds)")
      .add(audit_effects, "audit-effects",
           "game servers: count every applied effect per (saga, step) in "
           "game:{realm}:applied (docs/chaos.md)")
      .add(fault_seed, "fault-seed",
           "seed of --fail-rate/--slow-rate choices (0: random)")
      .add(chaos_duplicate_rate, "chaos-duplicate-rate",
           "chaos campaigns: probability that a step command forwarded to "
           "another node is sent again, after up to --chaos-max-delay")
      .add(chaos_delay_rate, "chaos-delay-rate",
           "chaos campaigns: probability that a forwarded step command "
           "leaves only after up to --chaos-max-delay")
      .add(chaos_max_delay, "chaos-max-delay", "longest injected delay")
      .add(chaos_seed, "chaos-seed",
           "seed of the injected duplicates and delays");
  }
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> result;
  std::stringstream in{text};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      result.push_back(item);
  return result;
}

template <class Duration>
std::chrono::milliseconds ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

} // namespace

/// Declares the HTTP participants of --http-participants and
/// --http-participants-file on `n`; returns an error naming the option.
caf::error add_http_participants(saga::node& n, const options& opts) {
  saga::http_participant_config defaults;
  defaults.timeout = ms(opts.http_timeout);
  saga::detail::http_participant_list list;
  for (const auto& spec : split(opts.http_participants)) {
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return saga::make_error(saga::errc::invalid_config,
                              "--http-participants: '" + spec
                                + "' is not name=URL");
    auto cfg = defaults;
    cfg.base_url = spec.substr(eq + 1);
    list.emplace_back(spec.substr(0, eq), std::move(cfg));
  }
  if (!opts.http_participants_file.empty()) {
    auto more
      = saga::detail::read_http_participants_file(opts.http_participants_file,
                                                  defaults);
    if (!more)
      return saga::make_error(saga::errc::invalid_config,
                              "--http-participants-file: "
                                + saga::describe(more.error()));
    list.insert(list.end(), more->begin(), more->end());
  }
  for (const auto& [name, cfg] : list)
    if (auto err = n.http_participant(name, cfg))
      return err;
  return {};
}

int main(int argc, char** argv) {
  options opts;
  if (auto err = opts.parse(argc, argv)) {
    std::cerr << "saga_node: " << opts.render(err) << std::endl;
    return 2;
  }
  if (opts.cli_helptext_printed)
    return 0;
  // Signals are taken by sigwait below; every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  saga::node_config cfg;
  cfg.node_id = opts.node_id;
  cfg.host = opts.host;
  cfg.port = opts.port;
  cfg.redis_url = opts.redis;
  cfg.peers = split(opts.peers);
  cfg.coordinate = opts.coordinate;
  cfg.lease = ms(opts.lease);
  cfg.remote_timeout = ms(opts.remote_timeout);
  cfg.heartbeat_interval = ms(opts.heartbeat_interval);
  cfg.connection_timeout = ms(opts.connection_timeout);
  if (!opts.journal.empty())
    cfg.runtime.journal_url = opts.journal;
  cfg.runtime.recovery_concurrency = opts.recovery_concurrency;
  if (opts.admin == "off") {
    cfg.admin.enabled = false;
  } else {
    auto colon = opts.admin.rfind(':');
    char* end = nullptr;
    auto port = colon == std::string::npos
                  ? -1L
                  : std::strtol(opts.admin.c_str() + colon + 1, &end, 10);
    if (colon == 0 || port < 0 || port > 65535 || end == nullptr || *end != 0) {
      std::cerr << "saga_node: --admin='" << opts.admin
                << "' is not host:port or off" << std::endl;
      return 2;
    }
    cfg.admin.host = opts.admin.substr(0, colon);
    cfg.admin.port = static_cast<uint16_t>(port);
  }
  cfg.admin.token = opts.admin_token;
  cfg.admin.max_connections = opts.admin_max_connections;
  cfg.admin.idle_timeout = ms(opts.admin_idle_timeout);
  cfg.admin.audit_retention = std::chrono::duration_cast<std::chrono::seconds>(
    opts.audit_retention);
  if (cfg.admin.token.empty())
    if (auto* t = std::getenv("SAGA_ADMIN_TOKEN"))
      cfg.admin.token = t;
  cfg.runtime.blocking_workers = opts.blocking_workers;
  auto retention = std::chrono::duration_cast<std::chrono::seconds>(
    opts.retention);
  if (retention.count() < 1) {
    std::cerr << "saga_node: --retention must be at least 1s" << std::endl;
    return 2;
  }
  cfg.runtime.journal.retention = retention;
  cfg.runtime.journal.replicas = opts.journal_replicas;
  // Injected duplicates and delays (a test hook, node/fault_injection.hpp),
  // counted for the campaign's report.
  static std::atomic<uint64_t> duplicated{0};
  static std::atomic<uint64_t> delayed{0};
  saga::detail::fault_injection chaos;
  chaos.duplicate_rate = opts.chaos_duplicate_rate;
  chaos.delay_rate = opts.chaos_delay_rate;
  chaos.max_delay = ms(opts.chaos_max_delay);
  chaos.seed = opts.chaos_seed;
  chaos.on_injected = [](bool copy) {
    (copy ? duplicated : delayed).fetch_add(1, std::memory_order_relaxed);
  };
  if (auto err = chaos.validate()) {
    std::cerr << "saga_node: " << saga::describe(err) << std::endl;
    return 2;
  }
  saga::node n{cfg};
  if (n.start_error()) {
    std::cerr << "saga_node: " << saga::describe(n.start_error()) << std::endl;
    return 2;
  }
  if (auto err = saga::detail::node_fault_injection::set(n, chaos)) {
    std::cerr << "saga_node: " << saga::describe(err) << std::endl;
    return 2;
  }
  if (opts.fail_rate < 0 || opts.fail_rate > 1 || opts.slow_rate < 0
      || opts.slow_rate > 1) {
    std::cerr << "saga_node: --fail-rate and --slow-rate must be in [0, 1]"
              << std::endl;
    return 2;
  }
  demo::fault_options faults;
  faults.fail_rate = opts.fail_rate;
  faults.slow_rate = opts.slow_rate;
  faults.seed = opts.fault_seed;
  for (const auto& name : split(opts.participants)) {
    if (demo::is_game_server(name)) {
      demo::add_game_server(n.participant(name), faults, opts.audit_effects);
    } else if (name == "bench") {
      for (int i = 1; i <= demo::bench_participant_count; ++i)
        demo::add_bench_participant(n.participant(
                                      demo::bench_participant_name(i)),
                                    opts.fail_rate);
    } else if (!demo::add_shop_participant(n, name, ms(opts.step_delay))) {
      std::cerr << "saga_node: unknown participant '" << name
                << "' (known: account, inventory, purchase_log, "
                   "account-server, inventory-server, log-server, bench)"
                << std::endl;
      return 2;
    }
  }
  if (auto err = add_http_participants(n, opts)) {
    std::cerr << "saga_node: " << saga::describe(err) << std::endl;
    return 2;
  }
  n.on_replaced([] { kill(getpid(), SIGUSR1); });
  if (auto err = n.start()) {
    std::cerr << "saga_node: " << saga::describe(err) << std::endl;
    return 2;
  }
  if (n.admin_port() != 0)
    say("saga_node " + cfg.node_id + " admin http://" + cfg.admin.host + ":"
        + std::to_string(n.admin_port()));
  say("saga_node " + cfg.node_id + " ready port=" + std::to_string(n.port())
      + " epoch=" + std::to_string(n.epoch()));
  int sig = 0;
  if (!chaos.enabled()) {
    sigwait(&signals, &sig);
  } else {
    // Report the injected faults as they grow (at most twice a second).
    uint64_t shown_dup = 0;
    uint64_t shown_delay = 0;
    timespec tick{0, 500'000'000};
    while ((sig = sigtimedwait(&signals, nullptr, &tick)) < 0) {
      auto dup = duplicated.load(std::memory_order_relaxed);
      auto del = delayed.load(std::memory_order_relaxed);
      if (dup != shown_dup || del != shown_delay) {
        say("saga_node " + cfg.node_id + " chaos duplicated="
            + std::to_string(dup) + " delayed=" + std::to_string(del));
        shown_dup = dup;
        shown_delay = del;
      }
    }
  }
  n.stop();
  say("saga_node " + cfg.node_id + " stopped");
  return sig == SIGUSR1 ? 3 : 0;
}
