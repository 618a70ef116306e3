#include "demo/chaos/campaign.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <caf/io/middleman.hpp>

#include "demo/game_servers.hpp"

namespace chaos {

// -- setup
// ------------------------------------------------------------------------

bool campaign::setup() {
  // Every random choice derives from the seed, in this order.
  auto schedule_seed = rng_();
  workload_seed_ = rng_();
  watcher_seed_ = rng_();
  if (!prepare_logs())
    return false;
  v_ = std::make_unique<violations>(o_.seed, show_duration(o_.duration));
  redis_ = std::make_unique<redis_process>(o_.redis_server, dir_,
                                           o_.logs + "/redis.log");
  if (!redis_->start()) {
    std::cerr << "chaos_campaign: redis-server did not start; see " << o_.logs
              << "/redis.log\n";
    return false;
  }
  url_ = redis_->url();
  std::mt19937_64 node_rng{schedule_seed};
  declare_nodes(node_rng);
  schedule_ = make_schedule(node_rng, o_, nodes_);
  if (!seed_game_data())
    return false;
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

bool campaign::prepare_logs() {
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
  return true;
}

void campaign::declare_nodes(std::mt19937_64& node_rng) {
  for (size_t i = 0; i < o_.coordinators; ++i) {
    node_proc n;
    n.id = "coord-" + std::to_string(i + 1);
    n.coordinator = true;
    n.k = draw_knobs(node_rng, o_, true);
    nodes_.push_back(std::move(n));
  }
  for (const char* server :
       {"account-server", "inventory-server", "log-server"})
    for (size_t r = 0; r < o_.replicas; ++r) {
      node_proc n;
      n.id = std::string{server}.substr(0, std::string{server}.find('-')) + "-"
             + std::to_string(r + 1);
      n.server = server;
      n.k = draw_knobs(node_rng, o_, false);
      nodes_.push_back(std::move(n));
    }
}

bool campaign::seed_game_data() {
  redis_client rc{url_};
  for (size_t p = 0; p < o_.players; ++p) {
    if (!rc.run({"HSET", demo::balance_key(realm), player_name(p), "1000"}))
      return false;
    for (size_t k = 0; k < 3; ++k)
      rc.run({"HSET", demo::items_key(realm),
              player_name(p) + "/" + heirloom(p, k), "1"});
  }
  return true;
}

std::vector<std::string> campaign::own_files() const {
  std::vector<std::string> files{o_.logs + "/redis-data",
                                 o_.logs + "/redis.log"};
  for (size_t i = 0; i < o_.coordinators; ++i)
    files.push_back(o_.logs + "/coord-" + std::to_string(i + 1) + ".log");
  for (auto s : {"account", "inventory", "log"})
    for (size_t r = 0; r < o_.replicas; ++r)
      files.push_back(o_.logs + "/" + s + "-" + std::to_string(r + 1) + ".log");
  return files;
}

// -- the nodes
// --------------------------------------------------------------------

std::vector<std::string> campaign::node_args(const node_proc& n) const {
  std::vector<std::string> args{"--node-id=" + n.id,
                                "--redis=" + url_,
                                "--lease=1s",
                                "--heartbeat-interval=200ms",
                                "--connection-timeout=1s",
                                "--retention="
                                  + std::to_string(o_.retention.count()) + "s",
                                "--admin=off"};
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
      args.push_back("--chaos-max-delay=" + std::to_string(o_.max_delay.count())
                     + "ms");
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
  return args;
}

void campaign::spawn(node_proc& n) {
  ++n.incarnation;
  n.proc = std::make_unique<saga::test::child_process>(o_.saga_node,
                                                       node_args(n),
                                                       o_.logs + "/" + n.id
                                                         + ".log");
  n.st = node_proc::state::starting;
  n.started_at = steady::now();
  n.respawn_at = steady::time_point::max();
}

bool campaign::poll_nodes() {
  for (auto& n : nodes_) {
    if (n.coordinator && n.st == node_proc::state::up && gateways_.is_lost(n.id)
        && steady::now() >= n.reconnect_at) {
      // It dropped our connection (paused past the connection timeout):
      // connect again.
      auto gw = sys_->middleman().remote_actor<saga::gateway_actor>("127.0.0.1",
                                                                    n.port);
      if (gw) {
        gateways_.set(n.id, *gw);
        ++counts_.client_reconnects;
      } else {
        n.reconnect_at = steady::now() + 500ms; // try again then
      }
      continue;
    }
    if (n.st == node_proc::state::starting && !poll_starting(n))
      return false;
  }
  return true;
}

bool campaign::poll_starting(node_proc& n) {
  if (n.respawn_at != steady::time_point::max()) {
    if (steady::now() >= n.respawn_at)
      spawn(n);
    return true;
  }
  if (auto line = n.proc->wait_for_line("ready port=", 0ms)) {
    n.port = static_cast<uint16_t>(
      std::stoul(line->substr(line->find("port=") + 5)));
    if (n.coordinator) {
      auto gw = sys_->middleman().remote_actor<saga::gateway_actor>("127.0.0.1",
                                                                    n.port);
      if (!gw) {
        std::cout << "!! cannot reach " << n.id << ": "
                  << saga::describe(gw.error()) << "; restarting it\n";
        n.proc->signal(SIGKILL);
        n.proc->wait_exit(10s);
        n.respawn_at = steady::now() + 500ms;
        return true;
      }
      gateways_.set(n.id, *gw);
    }
    n.st = node_proc::state::up;
    return true;
  }
  if (!n.proc->running()) {
    // It gave up (e.g. Redis was away while it started): again.
    ++counts_.node_start_retries;
    if (++n.start_failures > 30) {
      std::cerr << "chaos_campaign: node " << n.id
                << " keeps failing to start; see " << o_.logs << "/" << n.id
                << ".log\n";
      return false;
    }
    n.respawn_at = steady::now() + 500ms;
    return true;
  }
  if (steady::now() - n.started_at > 60s) {
    std::cerr << "chaos_campaign: node " << n.id
              << " did not start within 60 s; see " << o_.logs << "/" << n.id
              << ".log\n";
    return false;
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

// -- faults
// ---------------------------------------------------------------------

void campaign::begin(const fault& f) {
  auto at = std::chrono::duration<double>(steady::now() - t0_).count();
  std::ostringstream line;
  line << std::fixed << std::setprecision(1) << "[" << at << " s] ";
  if (f.kind == fault_kind::redis_restart) {
    std::cout << line.str() << "!! redis-server: SIGKILL, back in "
              << f.length.count() << " ms from its AOF" << std::endl;
    watcher_->hold_index_check(wall_ms() + f.length.count() + 5'000);
    redis_->kill();
    ++counts_.injected[static_cast<size_t>(f.kind)];
    return;
  }
  auto& n = nodes_[f.target];
  if (n.st != node_proc::state::up) {
    ++counts_.skipped; // not up again yet from its last fault
    return;
  }
  ++counts_.injected[static_cast<size_t>(f.kind)];
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

// -- the run
// ----------------------------------------------------------------------

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
    run_client(*sys_, o_, workload_seed_, t0_, stop_at, gateways_, book_);
  }};
  auto ok = inject_faults(stop_at);
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
  f_ = check_after_run(o_, watcher_->sagas(), nodes_, book_, url_, *v_);
  shutdown();
  return finish();
}

bool campaign::inject_faults(steady::time_point stop_at) {
  // The faults, on the main thread (it owns the child processes): each
  // begins and ends at its time, unless the quiet time came first.
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
                   [](const action& a, const action& b) {
                     return a.at < b.at;
                   });
  std::vector<bool> begun(schedule_.size(), false);
  auto quiet_at = t0_ + (o_.duration - o_.quiet);
  size_t next = 0;
  bool ok = true;
  last_print_ = steady::now();
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
      std::cout
        << "["
        << std::chrono::duration_cast<std::chrono::seconds>(now - t0_).count()
        << " s] quiet: no more faults" << std::endl;
    }
    print_progress(now);
    std::this_thread::sleep_for(10ms);
  }
  return ok;
}

void campaign::print_progress(steady::time_point now) {
  if (now - last_print_ <= 10s)
    return;
  last_print_ = now;
  auto p = watcher_->status();
  size_t sent;
  {
    std::lock_guard<std::mutex> guard{book_.mtx};
    sent = book_.requests.size();
  }
  std::cout
    << "["
    << std::chrono::duration_cast<std::chrono::seconds>(now - t0_).count()
    << " s] " << sent << " sagas started, " << p.discovered << " in Redis, "
    << p.open << " running, " << v_->total() << " violations" << std::endl;
}

// -- the report
// -------------------------------------------------------------------

int campaign::finish() {
  for (auto& n : nodes_)
    counts_.logged += n.logged;
  {
    std::lock_guard<std::mutex> guard{book_.mtx};
    counts_.sent = book_.requests.size();
    counts_.refused_no_coordinator = book_.refused_no_coordinator;
  }
  print_report(o_, counts_, watcher_->figs(), f_, *v_);
  auto total = v_->total();
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

} // namespace chaos
