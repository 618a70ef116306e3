#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/redis_socket.hpp"
#include "persistence/redis_url.hpp"

struct redisReader;
struct redisReply;

namespace saga {

struct redis_slot_range;

/// Frees a hiredis reply.
struct redis_reply_deleter {
  void operator()(redisReply* x) const noexcept;
};

/// An owned hiredis reply.
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;

/// Appends `argv` to `out` in the Redis protocol (RESP), as a server reads a
/// command.
void append_command(std::string& out,
                    const std::vector<std::string_view>& argv);

/// One blocking connection to Redis: to one server, or to the masters of a
/// Redis Cluster (`redis+cluster://`), routing each command by the slot of
/// its key and following the cluster's redirects (MOVED, ASK, TRYAGAIN,
/// CLUSTERDOWN) so that the owner sees one reply per command, as from one
/// server; over TLS for `rediss://` endpoints (`redis_socket`). Commands are
/// binary-safe argv vectors (never format strings), and each must keep its keys
/// in one slot. Supports pipelining: `append` commands, then `read` as many
/// replies, in the order appended. Not thread-safe: one owner (a detached
/// actor).
class redis_connection {
public:
  redis_connection();
  redis_connection(redis_connection&&) noexcept;
  redis_connection& operator=(redis_connection&&) noexcept;
  ~redis_connection();

  /// Returns a connection to `ep`, logged in and on its database, or an
  /// error naming what failed: `journal_failure` for an unreachable server,
  /// a refused TLS handshake, a failed AUTH or SELECT; `invalid_config` for
  /// TLS files that cannot be loaded. `timeout` bounds connecting and every
  /// reply: a server that takes longer is reported as not answering within it.
  /// For a cluster, the first seed that answers gives the slot map, which must
  /// cover every slot with `cluster_state:ok`; masters are connected on
  /// first use, and learn every script loaded through this connection.
  static caf::expected<redis_connection>
  connect(const redis_endpoint& ep, std::chrono::milliseconds timeout);

  /// Queues a command; nothing is sent until `read` or `flush`.
  void append(const std::vector<std::string_view>& argv);

  /// Returns the next reply. An error reply is a reply (check its type);
  /// an I/O error is an error, after which the connection is broken.
  caf::expected<redis_reply> read();

  /// Sends `argv` and returns its reply; an error reply becomes an error.
  caf::expected<redis_reply> command(const std::vector<std::string_view>& argv);

  /// Returns once every master written since the last call has confirmed
  /// its writes on `replicas` replicas (`WAIT`, one per master, sent
  /// together), or a `journal_failure` naming the master that confirmed
  /// fewer within `timeout`, which also breaks the connection (its owner
  /// sends again what was not confirmed). Call with no reply pending.
  caf::error wait_replicas(uint32_t replicas,
                           std::chrono::milliseconds timeout);

  /// Returns whether an I/O error (on any server of a cluster), or a
  /// cluster that stayed unavailable for the timeout, made this connection
  /// unusable.
  bool broken() const noexcept;

  /// Returns the number of servers known: 1 for one server, the masters
  /// learned so far on a cluster.
  size_t servers() const noexcept {
    return servers_.size();
  }

private:
  struct reader_deleter {
    void operator()(redisReader* x) const noexcept;
  };

  /// One server: its address, its socket (closed until first use on a
  /// cluster), and why it is unusable, if it is.
  struct server {
    redis_host addr;
    /// "host:port: " before error texts on a cluster; empty for one server.
    std::string where;
    redis_socket socket;
    /// Parses the bytes received into replies (hiredis' reader).
    std::unique_ptr<redisReader, reader_deleter> reader;
    /// Commands appended and not sent yet: sent by the next `receive`.
    std::string unsent;
    /// Why this server is unusable; empty while it is usable.
    std::string error;
    /// Whether commands went to it since the last `wait_replicas`.
    bool written = false;
    /// Cluster: whether the slot map names it as a slot's master (a seed
    /// may be a replica: it never gets commands).
    bool master = false;
  };

  /// A command sent on a cluster whose reply was not read yet.
  struct routed {
    /// The index of the server it went to.
    size_t server = 0;
    /// Its slot, if it has a key.
    std::optional<uint16_t> slot;
    /// The command as sent, to send it again where a redirect says.
    std::string cmd;
    /// Sent by the connection itself (a script for a new master): its
    /// reply is read and dropped.
    bool hidden = false;
    /// Its reply, read early to reach a later one on the same server.
    std::optional<caf::expected<redis_reply>> early;
  };

  /// Connects `s`, logs in (AUTH, SELECT) and loads every known script;
  /// returns why that failed, or an empty string.
  std::string open(server& s);

  /// Cluster: takes `ranges` as the slot map; returns why it cannot serve
  /// every slot, or an empty string.
  std::string adopt(const std::vector<redis_slot_range>& ranges);

  /// Returns the connection to the cluster `ep` through one seed.
  static caf::expected<redis_connection>
  connect_cluster(const redis_endpoint& ep, std::chrono::milliseconds timeout);

  /// Returns the next reply of server `s`, or an I/O failure.
  caf::expected<redis_reply> receive(server& s, const std::string& step);

  /// Returns the next reply of the server at `index` (none: a failure).
  caf::expected<redis_reply> receive_at(size_t index, const std::string& step);

  /// Sends the formatted `cmd` to server `index` (connecting it first).
  void send(size_t index, const std::string& cmd);

  /// Cluster: queues `argv` for the master of its slot; returns its reply
  /// on `read`, after any redirects.
  void append_routed(const std::vector<std::string_view>& argv);

  /// Cluster: returns the next reply in order, following redirects.
  caf::expected<redis_reply> read_routed(const std::string& step);

  /// Cluster: returns the final reply of `r`, whose first reply is `reply`,
  /// after following the redirects it asks for.
  caf::expected<redis_reply> follow(routed& r, caf::expected<redis_reply> reply,
                                    const std::string& step);

  /// Cluster: sends `cmd` again to server `index` (after ASKING if `asking`)
  /// and returns its reply; replies of earlier commands on that server are
  /// read first and kept for their turn.
  caf::expected<redis_reply> resend(size_t index, const std::string& cmd,
                                    bool asking, const std::string& step);

  /// Returns the index of the server at `addr`, adding it if new.
  size_t server_at(const redis_host& addr);

  /// Returns the index of a master for a keyless command.
  size_t any_server();

  /// Returns a `journal_failure` "redis <where>: <what>".
  caf::error failure(const std::string& what) const;

  /// Returns the next reply, or a `journal_failure` whose text reads
  /// "redis <where>: <step><reason>".
  caf::expected<redis_reply> read(const std::string& step);

  /// Sends `argv` and returns its reply, or a `journal_failure` as `read`
  /// (an error reply is a failure too).
  caf::expected<redis_reply> command(const std::vector<std::string_view>& argv,
                                     const std::string& step);

  redis_endpoint ep_;
  std::string where_;
  std::chrono::milliseconds timeout_{0};
  /// The endpoint's TLS settings, loaded once; null for plain TCP.
  std::shared_ptr<const redis_tls_context> tls_;
  /// [0] the one server; on a cluster the masters learned so far.
  std::vector<std::unique_ptr<server>> servers_;
  /// Cluster: the index in `servers_` of each slot's master; empty for one
  /// server.
  std::vector<uint16_t> slot_server_;
  /// Cluster: commands sent whose replies were not read yet, in order.
  std::deque<routed> routed_;
  /// Cluster: every script loaded through this connection, loaded again on
  /// each master it reaches later (EVALSHA never meets NOSCRIPT there).
  std::vector<std::string> scripts_;
  /// Cluster: a slot stayed unavailable, or redirects did not end.
  bool cluster_broken_ = false;
};

/// A connection to one Redis endpoint, made on first use and made again on
/// the next use after an I/O error broke it. Not thread-safe: one owner.
class redis_link {
public:
  redis_link(redis_endpoint ep, std::chrono::milliseconds timeout)
    : ep_(std::move(ep)), timeout_(timeout) {
    // nop
  }

  /// Returns a usable connection, or the error that made connecting fail.
  caf::expected<redis_connection*> get();

  const redis_endpoint& endpoint() const noexcept {
    return ep_;
  }

private:
  redis_endpoint ep_;
  std::chrono::milliseconds timeout_;
  std::optional<redis_connection> conn_;
};

/// Returns the text of an error reply, or an empty string if `x` is none.
std::string error_text(const redisReply& x);

/// Returns whether `x` is an error reply.
bool is_error(const redisReply& x) noexcept;

/// Returns the text of a string or status reply `x` (a view into it), or an
/// empty view for any other reply or a null `x`.
std::string_view reply_text(const redisReply* x) noexcept;

} // namespace saga
