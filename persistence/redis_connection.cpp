#include "persistence/redis_connection.hpp"

#include <array>

#include <hiredis/hiredis.h>

#include "saga/errc.hpp"

namespace saga {

namespace {

/// Bytes read from a socket per call (as hiredis' redisBufferRead): one
/// read usually takes a whole pipeline's replies.
constexpr size_t read_chunk_bytes = 16 * 1024;

} // namespace

void redis_reply_deleter::operator()(redisReply* x) const noexcept {
  if (x != nullptr)
    freeReplyObject(x);
}

void redis_connection::reader_deleter::operator()(
  redisReader* x) const noexcept {
  if (x != nullptr)
    redisReaderFree(x);
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

void append_command(std::string& out,
                    const std::vector<std::string_view>& argv) {
  out += '*';
  out += std::to_string(argv.size());
  out += "\r\n";
  for (auto x : argv) {
    out += '$';
    out += std::to_string(x.size());
    out += "\r\n";
    out.append(x.data(), x.size());
    out += "\r\n";
  }
}

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
  if (auto why = s.socket.connect(s.addr, ep_.socket_path, tls_, timeout_);
      !why.empty())
    return why;
  s.reader.reset(redisReaderCreate());
  s.unsent.clear();
  if (s.reader == nullptr)
    return "out of memory";
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
  // TLS 1.3 finishes the handshake before the server checks a client
  // certificate: a refusal (an alert, or a reset) comes with the first
  // reply, so a TLS connection asks for one.
  if (tls_ != nullptr && hello.empty())
    hello.push_back({{"PING"}, ""});
  for (const auto& [argv, step] : hello)
    append_command(s.unsent, argv);
  for (const auto& [argv, step] : hello) {
    auto r = receive(s, step);
    if (!r && tls_ != nullptr && &step == &hello.front().second
        && s.error.rfind("did not answer", 0) != 0)
      return "TLS: the server ended the connection after the handshake ("
             + s.error + ")"
             + (tls_->has_client_certificate()
                  ? ": does it trust the CA of cert_file?"
                  : ": does it want a client certificate (cert_file, "
                    "key_file)?");
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
  auto tls = redis_tls_context::of(ep);
  if (!tls)
    return std::move(tls.error());
  conn.tls_ = std::move(*tls);
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
  auto& s = *servers_.front();
  s.written = true;
  append_command(s.unsent, argv);
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
    if (!x->socket.is_open() || !x->error.empty())
      return failure(x->where + "WAIT: " + x->error);
    if (!slot_server_.empty() && !x->master)
      continue;
    x->written = false;
    append_command(x->unsent, {"WAIT", n, ms});
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
  if (!s.error.empty() || !s.socket.is_open())
    return failure(step + s.where
                   + (s.error.empty() ? "not connected" : s.error));
  if (!s.unsent.empty()) {
    s.error = s.socket.write_all(s.unsent);
    s.unsent.clear();
    if (!s.error.empty())
      return failure(step + s.where + s.error);
  }
  std::array<char, read_chunk_bytes> buf;
  while (true) {
    void* raw = nullptr;
    if (redisReaderGetReply(s.reader.get(), &raw) != REDIS_OK) {
      s.error = std::string{"protocol error: "} + s.reader->errstr;
      return failure(step + s.where + s.error);
    }
    if (raw != nullptr)
      return redis_reply{static_cast<redisReply*>(raw)};
    auto n = s.socket.read_some(buf.data(), buf.size(), s.error);
    if (n == 0)
      return failure(step + s.where + s.error);
    redisReaderFeed(s.reader.get(), buf.data(), n);
  }
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
