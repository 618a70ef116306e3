#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/redis_url.hpp"

struct redisContext;
struct redisReply;

namespace saga {

/// Frees a hiredis reply.
struct redis_reply_deleter {
  void operator()(redisReply* x) const noexcept;
};

/// An owned hiredis reply.
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;

/// One blocking connection to Redis. Commands are binary-safe argv vectors
/// (never format strings). Supports pipelining: `append` commands, then
/// `read` as many replies. Not thread-safe: one owner (a detached actor).
class redis_connection {
public:
  redis_connection() = default;
  redis_connection(redis_connection&&) noexcept = default;
  redis_connection& operator=(redis_connection&&) noexcept = default;
  ~redis_connection();

  /// Returns a connection to `ep`, logged in and on its database, or an
  /// error naming what failed: `journal_failure` for an unreachable server,
  /// a failed AUTH or SELECT. `timeout` bounds connecting and every reply:
  /// a server that takes longer is reported as not answering within it.
  static caf::expected<redis_connection>
  connect(const redis_endpoint& ep, std::chrono::milliseconds timeout);

  /// Queues a command; nothing is sent until `read` or `flush`.
  void append(const std::vector<std::string_view>& argv);

  /// Returns the next reply. An error reply is a reply (check its type);
  /// an I/O error is an error, after which the connection is broken.
  caf::expected<redis_reply> read();

  /// Sends `argv` and returns its reply; an error reply becomes an error.
  caf::expected<redis_reply> command(const std::vector<std::string_view>& argv);

  /// Returns whether an I/O error made this connection unusable.
  bool broken() const noexcept {
    return broken_ || ctx_ == nullptr;
  }

private:
  struct context_deleter {
    void operator()(redisContext* x) const noexcept;
  };

  /// Returns a `journal_failure` "redis <where>: <what>".
  caf::error failure(const std::string& what) const;

  /// Returns the next reply, or a `journal_failure` whose text reads
  /// "redis <where>: <step><reason>".
  caf::expected<redis_reply> read(const std::string& step);

  /// Sends `argv` and returns its reply, or a `journal_failure` as `read`
  /// (an error reply is a failure too).
  caf::expected<redis_reply> command(const std::vector<std::string_view>& argv,
                                     const std::string& step);

  std::unique_ptr<redisContext, context_deleter> ctx_;
  std::string where_;
  std::chrono::milliseconds timeout_{0};
  bool broken_ = false;
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
