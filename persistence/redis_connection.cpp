#include "persistence/redis_connection.hpp"

#include <cerrno>

#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "saga/errc.hpp"

namespace saga {

void redis_reply_deleter::operator()(redisReply* x) const noexcept {
  if (x != nullptr)
    freeReplyObject(x);
}

void redis_connection::context_deleter::operator()(
  redisContext* x) const noexcept {
  if (x != nullptr)
    redisFree(x);
}

redis_connection::~redis_connection() = default;

bool is_error(const redisReply& x) noexcept {
  return x.type == REDIS_REPLY_ERROR;
}

std::string_view reply_text(const redisReply* x) noexcept {
  if (x == nullptr
      || (x->type != REDIS_REPLY_STRING && x->type != REDIS_REPLY_STATUS))
    return {};
  return {x->str, x->len};
}

std::string error_text(const redisReply& x) {
  if (x.type != REDIS_REPLY_ERROR || x.str == nullptr)
    return {};
  return std::string{x.str, x.len};
}

namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

/// Returns whether the I/O error on `ctx` (with `saved_errno` right after
/// it) was the socket timeout: hiredis 0.14 reports it as the errno it got
/// (EAGAIN, "Resource temporarily unavailable"), later ones by a code.
bool timed_out(const redisContext& ctx, int saved_errno) {
#ifdef REDIS_ERR_TIMEOUT
  if (ctx.err == REDIS_ERR_TIMEOUT)
    return true;
#endif
  return ctx.err == REDIS_ERR_IO
         && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK);
}

} // namespace

redis_connection::redis_connection() = default;
redis_connection::redis_connection(redis_connection&&) noexcept = default;
redis_connection&
redis_connection::operator=(redis_connection&&) noexcept = default;

bool redis_connection::broken() const noexcept {
  if (servers_.empty() || cluster_broken_)
    return true;
  for (const auto& x : servers_)
    if (!x->error.empty())
      return true;
  return false;
}

std::string redis_connection::open(server& s) {
  auto tv = to_timeval(timeout_);
  redisContext* raw
    = ep_.socket_path.empty()
        ? redisConnectWithTimeout(s.addr.host.c_str(), s.addr.port, tv)
        : redisConnectUnixWithTimeout(ep_.socket_path.c_str(), tv);
  if (raw == nullptr)
    return "out of memory";
  s.ctx.reset(raw);
  if (raw->err != 0)
    return std::string{"cannot connect: "} + raw->errstr;
  // Replies must not take forever either: a hung server is an I/O error.
  redisSetTimeout(raw, tv);
  redisEnableKeepAlive(raw);
  // Log in and learn the scripts in one round trip.
  std::vector<std::pair<std::vector<std::string_view>, std::string>> hello;
  if (!ep_.password.empty()) {
    std::vector<std::string_view> auth{"AUTH"};
    if (!ep_.user.empty())
      auth.push_back(ep_.user);
    auth.push_back(ep_.password);
    hello.emplace_back(std::move(auth), "AUTH failed: ");
  }
  auto db = std::to_string(ep_.db);
  if (ep_.db != 0)
    hello.push_back({{"SELECT", db}, "SELECT failed: "});
  for (const auto& x : scripts_)
    hello.push_back({{"SCRIPT", "LOAD", x}, "SCRIPT LOAD failed: "});
  for (const auto& [argv, step] : hello) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (auto x : argv) {
      ptrs.push_back(x.data());
      lens.push_back(x.size());
    }
    redisAppendCommandArgv(raw, static_cast<int>(argv.size()), ptrs.data(),
                           lens.data());
  }
  for (const auto& [argv, step] : hello) {
    auto r = receive(s, step);
    if (!r)
      return step + s.error;
    if (is_error(**r))
      return step + error_text(**r);
  }
  return {};
}

caf::expected<redis_connection>
redis_connection::connect(const redis_endpoint& ep,
                          std::chrono::milliseconds timeout) {
  if (ep.cluster())
    return connect_cluster(ep, timeout);
  redis_connection conn;
  conn.ep_ = ep;
  conn.where_ = ep.describe();
  conn.timeout_ = timeout;
  auto s = std::make_unique<server>();
  s->addr = redis_host{ep.host, ep.port};
  if (auto why = conn.open(*s); !why.empty())
    return conn.failure(why);
  conn.servers_.push_back(std::move(s));
  return conn;
}

void redis_connection::append(const std::vector<std::string_view>& argv) {
  if (!slot_server_.empty()) {
    append_routed(argv);
    return;
  }
  if (broken())
    return;
  // hiredis wants parallel arrays; small vectors on the stack would be
  // nicer, but argv sizes vary with the batch.
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (auto x : argv) {
    ptrs.push_back(x.data());
    lens.push_back(x.size());
  }
  auto& s = *servers_.front();
  s.written = true;
  if (redisAppendCommandArgv(s.ctx.get(), static_cast<int>(argv.size()),
                             ptrs.data(), lens.data())
      != REDIS_OK)
    s.error = "cannot queue a command";
}

caf::error redis_connection::wait_replicas(uint32_t replicas,
                                           std::chrono::milliseconds timeout) {
  const auto n = std::to_string(replicas);
  const auto ms = std::to_string(timeout.count());
  // A script load sent to the other masters (hidden) may still await its
  // reply: it comes before the WAIT's.
  while (!routed_.empty() && routed_.front().hidden) {
    auto& r = routed_.front();
    if (!r.early && r.server < servers_.size())
      (void) receive(*servers_[r.server], "SCRIPT LOAD: ");
    routed_.pop_front();
  }
  std::vector<server*> asked;
  for (auto& x : servers_) {
    if (!x->written)
      continue;
    if (x->ctx == nullptr || !x->error.empty())
      return failure(x->where + "WAIT: " + x->error);
    if (!slot_server_.empty() && !x->master)
      continue;
    x->written = false;
    redisAppendCommand(x->ctx.get(), "WAIT %s %s", n.c_str(), ms.c_str());
    asked.push_back(x.get());
  }
  caf::error first;
  for (auto* x : asked) {
    auto r = receive(*x, "WAIT: ");
    if (!r) {
      if (!first)
        first = std::move(r.error());
      continue;
    }
    auto got = (*r)->type == REDIS_REPLY_INTEGER ? (*r)->integer : -1;
    if (got < static_cast<long long>(replicas) && !first) {
      x->error = "WAIT: " + std::to_string(got < 0 ? 0 : got);
      x->error += " of ";
      x->error += n;
      x->error += " replicas confirmed within ";
      x->error += ms;
      x->error += " ms";
      if (is_error(**r))
        x->error += " (" + error_text(**r) + ")";
      first = failure(x->where + x->error);
    }
  }
  return first;
}

caf::error redis_connection::failure(const std::string& what) const {
  return make_error(errc::journal_failure, "redis " + where_ + ": " + what);
}

caf::expected<redis_reply> redis_connection::read() {
  return read("");
}

caf::expected<redis_reply> redis_connection::read(const std::string& step) {
  if (!slot_server_.empty())
    return read_routed(step);
  if (broken())
    return failure(step + "connection lost");
  return receive(*servers_.front(), step);
}

caf::expected<redis_reply> redis_connection::receive(server& s,
                                                     const std::string& step) {
  if (!s.error.empty() || s.ctx == nullptr)
    return failure(step + s.where
                   + (s.error.empty() ? "not connected" : s.error));
  void* raw = nullptr;
  if (redisGetReply(s.ctx.get(), &raw) != REDIS_OK || raw == nullptr) {
    // A read or write past the socket timeout: name the timeout, not
    // hiredis' "Resource temporarily unavailable".
    auto saved_errno = errno;
    s.error = timed_out(*s.ctx, saved_errno)
                ? "did not answer within " + std::to_string(timeout_.count())
                    + " ms"
                : std::string{s.ctx->errstr};
    return failure(step + s.where + s.error);
  }
  return redis_reply{static_cast<redisReply*>(raw)};
}

caf::expected<redis_reply>
redis_connection::command(const std::vector<std::string_view>& argv) {
  return command(argv, "");
}

caf::expected<redis_reply>
redis_connection::command(const std::vector<std::string_view>& argv,
                          const std::string& step) {
  append(argv);
  auto r = read(step);
  if (r && is_error(**r))
    return failure(step + error_text(**r));
  return r;
}

caf::expected<redis_connection*> redis_link::get() {
  if (conn_ && !conn_->broken())
    return &*conn_;
  conn_.reset();
  auto c = redis_connection::connect(ep_, timeout_);
  if (!c)
    return c.error();
  conn_ = std::move(*c);
  return &*conn_;
}

} // namespace saga
