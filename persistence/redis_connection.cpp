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

caf::expected<redis_connection>
redis_connection::connect(const redis_endpoint& ep,
                          std::chrono::milliseconds timeout) {
  redis_connection conn;
  conn.where_ = ep.describe();
  conn.timeout_ = timeout;
  auto tv = to_timeval(timeout);
  redisContext* raw = ep.socket_path.empty()
                        ? redisConnectWithTimeout(ep.host.c_str(), ep.port, tv)
                        : redisConnectUnixWithTimeout(ep.socket_path.c_str(),
                                                      tv);
  if (raw == nullptr)
    return conn.failure("out of memory");
  conn.ctx_.reset(raw);
  if (raw->err != 0)
    return conn.failure(std::string{"cannot connect: "} + raw->errstr);
  // Replies must not take forever either: a hung server is an I/O error.
  redisSetTimeout(raw, tv);
  redisEnableKeepAlive(raw);
  if (!ep.password.empty()) {
    std::vector<std::string_view> auth{"AUTH"};
    if (!ep.user.empty())
      auth.push_back(ep.user);
    auth.push_back(ep.password);
    if (auto r = conn.command(auth, "AUTH failed: "); !r)
      return std::move(r.error());
  }
  if (ep.db != 0) {
    auto db = std::to_string(ep.db);
    if (auto r = conn.command({"SELECT", db}, "SELECT failed: "); !r)
      return std::move(r.error());
  }
  return conn;
}

void redis_connection::append(const std::vector<std::string_view>& argv) {
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
  if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()),
                             ptrs.data(), lens.data())
      != REDIS_OK)
    broken_ = true;
}

caf::error redis_connection::failure(const std::string& what) const {
  return make_error(errc::journal_failure, "redis " + where_ + ": " + what);
}

caf::expected<redis_reply> redis_connection::read() {
  return read("");
}

caf::expected<redis_reply> redis_connection::read(const std::string& step) {
  if (broken())
    return failure(step + "connection lost");
  void* raw = nullptr;
  if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
    // A read or write past the socket timeout: name the timeout, not
    // hiredis' "Resource temporarily unavailable".
    auto saved_errno = errno;
    broken_ = true;
    if (timed_out(*ctx_, saved_errno))
      return failure(step + "did not answer within "
                     + std::to_string(timeout_.count()) + " ms");
    return failure(step + ctx_->errstr);
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
