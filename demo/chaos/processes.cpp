#include "demo/chaos/processes.hpp"

#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_url.hpp"

namespace chaos {

bool redis_process::start() {
  for (int attempt = 0; attempt < 5; ++attempt) {
    bool fresh = port_ == 0;
    if (fresh)
      port_ = saga::test::free_loopback_port();
    proc_ = std::make_unique<saga::test::child_process>(
      exe_,
      std::vector<std::string>{"--port", std::to_string(port_), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "yes",
                               "--appendfsync", "always", "--dir", dir_,
                               "--daemonize", "no"},
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

void redis_process::kill() {
  if (!proc_)
    return;
  proc_->signal(SIGKILL);
  proc_->wait_exit(10s);
  proc_.reset();
}

bool redis_process::ready(ms timeout) {
  auto deadline = steady::now() + timeout;
  auto ep = *saga::parse_redis_url(url());
  while (steady::now() < deadline) {
    if (!proc_->running())
      return false;
    if (auto c = saga::redis_connection::connect(ep, 500ms))
      if (auto r = c->command({"PING"});
          r && saga::reply_text(r->get()) == "PONG")
        return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

log_tally& log_tally::operator+=(const log_tally& x) {
  duplicated += x.duplicated;
  delayed += x.delayed;
  adopted += x.adopted;
  recovered += x.recovered;
  lease_retaken += x.lease_retaken;
  dropped += x.dropped;
  parked += x.parked;
  return *this;
}

namespace {

/// Returns the number after `key` in `line` (0 if none).
uint64_t number_after(const std::string& line, const std::string& key) {
  auto p = line.find(key);
  return p == std::string::npos
           ? 0
           : std::strtoull(line.c_str() + p + key.size(), nullptr, 10);
}

} // namespace

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

} // namespace chaos
