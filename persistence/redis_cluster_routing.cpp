// The cluster half of redis_connection: connecting through a seed, routing
// each command to its slot's master, and following redirects so that the
// owner reads one reply per command in the order it appended them. The
// protocol is Redis Cluster's (https://redis.io/docs/reference/cluster-spec/,
// "Redirection and resharding"); docs/redis-layout.md says what it means for
// caf-saga's keys.

#include <algorithm>
#include <thread>

#include <hiredis/hiredis.h>

#include "persistence/redis_cluster_map.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_slot.hpp"
#include "saga/errc.hpp"

namespace saga {

namespace {

/// Redirects one command may follow (MOVED, ASK) before the connection
/// gives up on it: a slot moves once per reshard step, so more means the
/// cluster's views disagree for longer than a command should wait.
constexpr int redirects_max = 16;

/// The most servers one connection learns of: far above any cluster's
/// masters, a bound on what redirects can make it hold.
constexpr size_t servers_max = 1000;

/// An index for "no server" (a slot no master serves).
constexpr uint16_t no_server = 0xFFFF;

/// The first and the longest pause before sending again after TRYAGAIN or
/// CLUSTERDOWN; the connection's timeout bounds the sum.
constexpr std::chrono::milliseconds retry_pause_min{10};
constexpr std::chrono::milliseconds retry_pause_max{200};

/// Returns `argv` in the Redis protocol, as a server reads it.
std::string format_command(const std::vector<std::string_view>& argv) {
  std::string out;
  append_command(out, argv);
  return out;
}

bool is_script_load(const std::vector<std::string_view>& argv) {
  return argv.size() == 3 && argv[0] == "SCRIPT" && argv[1] == "LOAD";
}

} // namespace

caf::expected<redis_connection>
redis_connection::connect_cluster(const redis_endpoint& ep,
                                  std::chrono::milliseconds timeout) {
  auto tls = redis_tls_context::of(ep);
  if (!tls)
    return std::move(tls.error());
  caf::error last;
  for (const auto& seed : ep.cluster_seeds) {
    redis_connection conn;
    conn.ep_ = ep;
    conn.where_ = ep.describe();
    conn.timeout_ = timeout;
    conn.tls_ = *tls;
    auto s = std::make_unique<server>();
    s->addr = seed;
    s->where = seed.host + ":" + std::to_string(seed.port) + ": ";
    if (auto why = conn.open(*s); !why.empty()) {
      last = conn.failure(s->where + why);
      if (why.rfind("AUTH", 0) == 0 && s->error.empty())
        return last; // refused: every node has the same users
      continue;
    }
    auto where = s->where;
    // Asked as of one server: `servers_` holds the seed, no slot map yet.
    conn.servers_.push_back(std::move(s));
    auto slots = conn.command({"CLUSTER", "SLOTS"});
    if (!slots) {
      if (describe(slots.error()).find("cluster support disabled")
          != std::string::npos)
        return conn.failure(where
                            + "not a cluster node (cluster support "
                              "disabled): use redis://");
      last = std::move(slots.error());
      continue;
    }
    auto info = conn.command({"CLUSTER", "INFO"});
    if (!info)
      last = std::move(info.error());
    else if (reply_text(info->get()).find("cluster_state:ok")
             == std::string_view::npos)
      last = conn.failure(where
                          + "the cluster is down (cluster_state is not "
                            "ok)");
    else if (auto ranges = parse_cluster_slots(**slots, seed.host); !ranges)
      last = conn.failure(where + describe(ranges.error()));
    else if (auto why = conn.adopt(*ranges); !why.empty())
      last = conn.failure(where + why);
    else
      return conn;
  }
  return last;
}

std::string
redis_connection::adopt(const std::vector<redis_slot_range>& ranges) {
  slot_server_.assign(redis_slot_count, no_server);
  for (const auto& r : ranges) {
    auto index = server_at(r.master);
    if (index >= servers_.size())
      return "more than " + std::to_string(servers_max) + " masters";
    servers_[index]->master = true;
    std::fill(slot_server_.begin() + r.first, slot_server_.begin() + r.last + 1,
              static_cast<uint16_t>(index));
  }
  auto gap = std::find(slot_server_.begin(), slot_server_.end(), no_server);
  if (gap != slot_server_.end())
    return "slot " + std::to_string(gap - slot_server_.begin())
           + " has no master (cluster_state is not ok)";
  return {};
}

size_t redis_connection::server_at(const redis_host& addr) {
  for (size_t i = 0; i < servers_.size(); ++i)
    if (servers_[i]->addr.host == addr.host
        && servers_[i]->addr.port == addr.port)
      return i;
  if (servers_.size() == servers_max)
    return no_server;
  auto s = std::make_unique<server>();
  s->addr = addr;
  s->where = addr.host + ":" + std::to_string(addr.port) + ": ";
  servers_.push_back(std::move(s));
  return servers_.size() - 1;
}

size_t redis_connection::any_server() {
  // A connected master first, then any master (connected on first use).
  for (size_t i = 0; i < servers_.size(); ++i)
    if (servers_[i]->master && servers_[i]->socket.is_open()
        && servers_[i]->error.empty())
      return i;
  for (size_t i = 0; i < servers_.size(); ++i)
    if (servers_[i]->master && servers_[i]->error.empty())
      return i;
  return slot_server_.front();
}

void redis_connection::send(size_t index, const std::string& cmd) {
  if (index >= servers_.size())
    return; // read reports it
  auto& s = *servers_[index];
  if (!s.socket.is_open() && s.error.empty()) {
    // First use of this master: connect, log in, load the scripts.
    if (auto why = open(s); !why.empty()) {
      s.socket.close();
      s.error = why;
    }
  }
  if (!s.error.empty())
    return;
  s.written = true;
  s.unsent += cmd;
}

void redis_connection::append_routed(
  const std::vector<std::string_view>& argv) {
  routed r;
  r.slot = redis_command_slot(argv);
  r.server = r.slot ? slot_server_[*r.slot] : any_server();
  r.cmd = format_command(argv);
  send(r.server, r.cmd);
  const bool new_script
    = is_script_load(argv)
      && std::find(scripts_.begin(), scripts_.end(), argv[2]) == scripts_.end();
  if (!new_script) {
    routed_.push_back(std::move(r));
    return;
  }
  // Every master this connection reached gets the script now; masters it
  // reaches later load it when connected (`open`).
  scripts_.emplace_back(argv[2]);
  auto first = r.server;
  routed_.push_back(std::move(r));
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (i == first || !servers_[i]->socket.is_open())
      continue;
    routed load;
    load.server = i;
    load.cmd = routed_.back().cmd;
    load.hidden = true;
    send(i, load.cmd);
    routed_.push_back(std::move(load));
  }
}

caf::expected<redis_reply>
redis_connection::receive_at(size_t index, const std::string& step) {
  if (index >= servers_.size()) {
    cluster_broken_ = true;
    return failure(step + "no master serves the slot");
  }
  return receive(*servers_[index], step);
}

caf::expected<redis_reply>
redis_connection::read_routed(const std::string& step) {
  while (!routed_.empty()) {
    auto r = std::move(routed_.front());
    routed_.pop_front();
    auto reply = r.early ? std::move(*r.early) : receive_at(r.server, step);
    if (!r.hidden)
      return follow(r, std::move(reply), step);
  }
  return failure(step + "no reply is pending");
}

caf::expected<redis_reply>
redis_connection::follow(routed& r, caf::expected<redis_reply> reply,
                         const std::string& step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  auto pause = retry_pause_min;
  int hops = 0;
  while (reply && is_error(**reply)) {
    auto to = parse_redirect(error_text(**reply));
    if (to.kind == redis_redirect::none)
      break;
    const bool give_up = to.kind == redis_redirect::retry
                           ? std::chrono::steady_clock::now() + pause > deadline
                           : ++hops > redirects_max;
    if (give_up) {
      // A cluster that does not serve the slot within the timeout is an
      // outage, like a server that does not answer: the owner reconnects
      // (reading the slot map afresh) and sends the command again.
      cluster_broken_ = true;
      return failure(
        step + "the cluster did not serve the command: " + error_text(**reply));
    }
    if (to.kind == redis_redirect::retry) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, retry_pause_max);
      if (r.slot)
        r.server = slot_server_[*r.slot];
    } else {
      // "MOVED 3999 :6381": the node does not know its address; the one
      // that answered is on the same host.
      if (to.to.host.empty() && r.server < servers_.size())
        to.to.host = servers_[r.server]->addr.host;
      r.server = server_at(to.to);
      if (r.server < servers_.size())
        servers_[r.server]->master = true;
      if (to.kind == redis_redirect::moved)
        slot_server_[to.slot] = static_cast<uint16_t>(
          r.server < servers_.size() ? r.server : no_server);
    }
    reply = resend(r.server, r.cmd, to.kind == redis_redirect::ask, step);
  }
  return reply;
}

caf::expected<redis_reply> redis_connection::resend(size_t index,
                                                    const std::string& cmd,
                                                    bool asking,
                                                    const std::string& step) {
  if (index < servers_.size()) {
    // Commands sent to this server before are answered before this one:
    // keep their replies for their turn.
    for (auto& e : routed_)
      if (e.server == index && !e.early)
        e.early = receive(*servers_[index], step);
  }
  if (asking)
    send(index, format_command({"ASKING"}));
  send(index, cmd);
  if (asking) {
    auto ok = receive_at(index, step);
    if (!ok)
      return ok;
  }
  return receive_at(index, step);
}

} // namespace saga
