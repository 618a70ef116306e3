#include "tests/support/redis_cluster.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "tests/support/child_process.hpp"

namespace saga::test {

namespace {

/// Returns whether the node on `port` reports cluster_state:ok.
bool cluster_ok(int port) {
  auto c = connect_loopback(port, std::chrono::milliseconds{500});
  if (!c)
    return false;
  auto r = c->command({"CLUSTER", "INFO"});
  return r
         && reply_text(r->get()).find("cluster_state:ok")
              != std::string_view::npos;
}

/// Returns whether the node on `port` is a master, or a replica whose link
/// to its master is up (INFO replication).
bool replica_synced_or_master(int port) {
  auto c = connect_loopback(port, std::chrono::milliseconds{500});
  if (!c)
    return false;
  auto r = c->command({"INFO", "replication"});
  if (!r)
    return false;
  auto text = reply_text(r->get());
  return text.find("role:master") != std::string_view::npos
         || text.find("master_link_status:up") != std::string_view::npos;
}

} // namespace

redis_cluster::redis_cluster(int masters, int replicas, int node_timeout_ms,
                             const tls_certs* tls)
  : masters_(masters),
    replicas_(replicas),
    node_timeout_ms_(node_timeout_ms),
    tls_(tls) {
  // nop
}

redis_cluster::~redis_cluster() = default;

std::string redis_cluster::seeds() const {
  std::string result;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!result.empty())
      result += ',';
    result += "127.0.0.1:"
              + std::to_string(tls_ ? tls_ports_[i] : nodes_[i]->port());
  }
  return result;
}

std::string redis_cluster::url() const {
  if (tls_ != nullptr)
    return "rediss+cluster://" + seeds() + "?ca_file=" + tls_->path("ca.crt");
  return "redis+cluster://" + seeds();
}

std::string redis_cluster::node_id(int port) {
  auto c = connect_loopback(port, std::chrono::seconds{2});
  if (!c)
    return {};
  auto r = c->command({"CLUSTER", "MYID"});
  return r ? std::string{reply_text(r->get())} : std::string{};
}

int redis_cluster::master_of(int port, uint16_t slot) {
  auto c = connect_loopback(port, std::chrono::seconds{2});
  if (!c)
    return 0;
  auto r = c->command({"CLUSTER", "SLOTS"});
  if (!r)
    return 0;
  for (size_t i = 0; i < (*r)->elements; ++i) {
    const auto* range = (*r)->element[i];
    if (range->element[0]->integer <= slot
        && slot <= range->element[1]->integer)
      return static_cast<int>(range->element[2]->element[1]->integer);
  }
  return 0;
}

int redis_cluster::replica_of(int port) {
  auto c = connect_loopback(port, std::chrono::seconds{2});
  if (!c)
    return 0;
  // ROLE of a master: ["master", offset, [[host, port, offset], ...]]
  auto r = c->command({"ROLE"});
  if (!r || (*r)->elements < 3 || (*r)->element[2]->elements == 0)
    return 0;
  const auto* first = (*r)->element[2]->element[0];
  return first->elements < 2 ? 0 : std::atoi(first->element[1]->str);
}

redis_server* redis_cluster::node_at(int port) const {
  for (const auto& n : nodes_)
    if (n->port() == port)
      return n.get();
  return nullptr;
}

redis_cluster* shared_cluster() {
  static redis_cluster cluster;
  static bool started = cluster.start();
  if (!started)
    std::fprintf(stderr, "the shared redis cluster did not start\n");
  return started ? &cluster : nullptr;
}

bool redis_cluster::start() {
  const int total = masters_ * (1 + replicas_);
  for (int i = 0; i < total; ++i) {
    // Free ports are free when picked, not when bound: another process may
    // take one in between. Then this node starts again on fresh ones.
    bool started = false;
    for (int attempt = 0; attempt < 3 && !started; ++attempt) {
      // The cluster bus listens on a port of its own: by default the
      // client port + 10000, which a free port above 55535 cannot have.
      std::vector<std::string>
        args{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-port", std::to_string(free_port()),
             // A starved CPU must not look like a dead master (a failover).
             "--cluster-node-timeout", std::to_string(node_timeout_ms_),
             // A replica syncs at once (not 5 s later), so WAIT works from the
             // start.
             "--repl-diskless-sync-delay", "0", "--appendonly", "no"};
      const int tls_port = tls_ != nullptr ? free_port() : 0;
      if (tls_ != nullptr) {
        auto tls = tls_->redis_args(tls_port, "server.crt");
        args.insert(args.end(), tls.begin(), tls.end());
        args.insert(args.end(),
                    {"--tls-cluster", "yes", "--tls-replication", "yes"});
      }
      auto node = std::make_unique<redis_server>(std::move(args));
      started = node->start();
      if (started) {
        nodes_.push_back(std::move(node));
        tls_ports_.push_back(tls_port);
      }
    }
    if (!started)
      return false;
  }
  // Created through the TLS ports on a TLS cluster: the nodes meet at the
  // ports they announce.
  std::vector<std::string> args;
  if (tls_ != nullptr)
    args = {"--tls", "--cacert", tls_->path("ca.crt")};
  args.insert(args.end(), {"--cluster", "create"});
  for (size_t i = 0; i < nodes_.size(); ++i)
    args.push_back("127.0.0.1:"
                   + std::to_string(tls_ ? tls_ports_[i] : nodes_[i]->port()));
  args.insert(args.end(), {"--cluster-replicas", std::to_string(replicas_),
                           "--cluster-yes"});
  child_process create{"redis-cli", args};
  auto code = create.wait_exit(std::chrono::seconds{60});
  create.wait_for_eof(std::chrono::seconds{5});
  if (!code || *code != 0) {
    std::fprintf(stderr, "redis-cli --cluster create failed (%s):\n",
                 code ? std::to_string(*code).c_str() : "timeout");
    for (const auto& l : create.lines())
      std::fprintf(stderr, "  %s\n", l.c_str());
    return false;
  }
  // The nodes learn the configuration by gossip: every one must agree.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  for (const auto& n : nodes_)
    while (!cluster_ok(n->port())) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr,
                     "redis cluster: node %d never reported "
                     "cluster_state:ok\n",
                     n->port());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  // Every replica has synced with its master (WAIT counts only those).
  for (const auto& n : nodes_)
    while (!replica_synced_or_master(n->port())) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "redis cluster: replica %d never synced\n",
                     n->port());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  return true;
}

} // namespace saga::test
