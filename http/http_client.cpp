#include "http/http_client.hpp"

#include <deque>
#include <optional>
#include <thread>
#include <unordered_set>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include "saga/errc.hpp"

namespace saga::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

/// Bytes of an answer's status line and headers at most.
constexpr uint32_t header_bytes_max = 16 * 1024;

/// A request waiting for, or running on, a connection.
struct pending {
  http_call call;
  http_done done;
  /// Sent once already on a kept-alive connection that turned out closed.
  bool resent = false;
};

class client_impl;

/// One connection to the origin, plain or TLS; runs one request at a time.
/// Lives on the client's I/O thread.
class connection {
public:
  virtual ~connection() = default;
  /// Runs `p`, connecting first if the connection is not open yet.
  virtual void run(pending p) = 0;
  /// Closes the socket: a running request ends with an error.
  virtual void close() = 0;
};

/// Returns whether `ec`, on a connection that served requests before, says
/// the server had closed it (keep-alive timeouts): the request was not
/// read, so it may go again on a fresh connection.
bool closed_while_idle(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof
         || ec == asio::error::connection_reset
         || ec == asio::error::broken_pipe;
}

class client_impl final : public http_client,
                          public std::enable_shared_from_this<client_impl> {
public:
  explicit client_impl(http_client_config cfg)
    : cfg_(std::move(cfg)), guard_(asio::make_work_guard(ioc_)) {
  }

  ~client_impl() override {
    stop();
  }

  caf::error start() {
    if (cfg_.origin.tls)
      if (auto err = make_tls())
        return err;
    thread_ = std::thread{[this] { ioc_.run(); }};
    return {};
  }

  void send(http_call call, http_done done) override {
    asio::post(ioc_, [self = shared_from_this(), call = std::move(call),
                      done = std::move(done)]() mutable {
      self->enqueue(pending{std::move(call), std::move(done)});
    });
  }

  void stop() override {
    std::call_once(stopped_, [this] {
      asio::post(ioc_, [this] { shut_down(); });
      guard_.reset();
      if (thread_.joinable())
        thread_.join();
    });
  }

  // -- used by the connections (I/O thread) ---------------------------------

  const http_client_config& config() const noexcept {
    return cfg_;
  }

  asio::io_context& context() noexcept {
    return ioc_;
  }

  ssl::context& tls() noexcept {
    return *tls_;
  }

  /// Called by `c` when its request ended: answers it, then hands `c` the
  /// next waiting request or keeps it idle (`reusable`) or drops it.
  void finished(const std::shared_ptr<connection>& c, pending& p,
                caf::expected<http_answer> answer, bool reusable);

  /// Called by `c` when its kept-alive connection was found closed before
  /// the request was read: the request goes again on a fresh connection.
  void resend(const std::shared_ptr<connection>& c, pending p);

private:
  caf::error make_tls();
  void enqueue(pending p);
  void start_on_new_connection(pending p);
  void shut_down();

  http_client_config cfg_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::optional<ssl::context> tls_;
  std::thread thread_;
  std::once_flag stopped_;
  // I/O thread only:
  bool shutting_down_ = false;
  std::vector<std::shared_ptr<connection>> idle_;
  std::unordered_set<std::shared_ptr<connection>> live_;
  std::deque<pending> queue_;
};

/// A connection over `Stream`: `beast::tcp_stream` or an SSL stream over
/// one.
template <class Stream>
class connection_on final
  : public connection,
    public std::enable_shared_from_this<connection_on<Stream>> {
public:
  template <class... Args>
  connection_on(client_impl& client, Args&&... args)
    : client_(client),
      stream_(std::forward<Args>(args)...),
      resolver_(client.context()) {
  }

  void run(pending p) override {
    p_ = std::move(p);
    auto& lowest = beast::get_lowest_layer(stream_);
    lowest.expires_after(client_.config().timeout);
    if (open_) {
      reused_ = true;
      write();
      return;
    }
    const auto& origin = client_.config().origin;
    resolver_.async_resolve(
      origin.host, std::to_string(origin.port),
      [self = this->shared_from_this()](beast::error_code ec,
                                        tcp::resolver::results_type r) {
        if (ec)
          return self->fail("cannot resolve the host", ec);
        self->connect(r);
      });
  }

  void close() override {
    beast::error_code ignored;
    resolver_.cancel();
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

private:
  void connect(const tcp::resolver::results_type& r) {
    beast::get_lowest_layer(stream_)
      .async_connect(r,
                     [self = this->shared_from_this()](beast::error_code ec,
                                                       const tcp::endpoint&) {
                       if (ec)
                         return self->fail("cannot connect", ec);
                       self->open_ = true;
                       self->handshake();
                     });
  }

  void handshake();

  void write() {
    const auto& call = p_.call;
    req_ = {};
    req_.method_string(call.method);
    req_.target(call.target);
    req_.version(11);
    const auto& origin = client_.config().origin;
    const bool v6 = origin.host.find(':') != std::string::npos;
    req_.set(bhttp::field::host, (v6 ? "[" + origin.host + "]" : origin.host)
                                   + ":" + std::to_string(origin.port));
    req_.set(bhttp::field::content_type, "application/json");
    for (const auto& [name, value] : call.headers)
      req_.set(name, value);
    req_.keep_alive(true);
    req_.body() = call.body;
    req_.prepare_payload();
    bhttp::async_write(stream_, req_,
                       [self = this->shared_from_this()](beast::error_code ec,
                                                         size_t) {
                         if (ec)
                           return self->fail("cannot send the request", ec,
                                             true);
                         self->read();
                       });
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(header_bytes_max);
    parser_->body_limit(client_.config().response_bytes_max);
    // The head first: Beast 1.74's async_read of a whole message does not
    // report a Content-Length over the body limit (measured: it reads the
    // body anyway), async_read_header does.
    bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code ec, size_t) {
        if (ec)
          return self->fail("no complete answer", ec, true);
        self->read_body();
      });
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec,
                                                        size_t) {
                        if (ec)
                          return self->fail("no complete answer", ec, true);
                        self->answered();
                      });
  }

  void answered() {
    auto& res = parser_->get();
    http_answer a;
    a.status = res.result_int();
    a.body = std::move(res.body());
    if (auto i = res.find(bhttp::field::retry_after); i != res.end())
      a.retry_after = std::string{i->value()};
    const bool reusable = parser_->keep_alive();
    if (!reusable)
      close();
    open_ = reusable;
    reused_ = false;
    client_.finished(this->shared_from_this(), p_, std::move(a), reusable);
  }

  /// Ends the request with an error naming `what` failed: `errc::no_route`
  /// before any of it was sent (nothing happened), else
  /// `errc::outcome_unknown` (the service may have acted).
  void fail(const char* what, const beast::error_code& ec, bool sent = false) {
    const bool stale = reused_ && !p_.resent && closed_while_idle(ec);
    close();
    open_ = false;
    reused_ = false;
    if (stale) {
      p_.resent = true;
      client_.resend(this->shared_from_this(), std::move(p_));
      return;
    }
    std::string why = what;
    why.append(" (")
      .append(ec == beast::error::timeout
                ? "no answer within "
                    + std::to_string(client_.config().timeout.count()) + " ms"
              : ec == bhttp::error::body_limit
                ? "the body is over "
                    + std::to_string(client_.config().response_bytes_max)
                    + " bytes"
                : ec.message())
      .append(")");
    client_.finished(this->shared_from_this(), p_,
                     make_error(sent ? errc::outcome_unknown : errc::no_route,
                                std::move(why)),
                     false);
  }

  client_impl& client_;
  Stream stream_;
  tcp::resolver resolver_;
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::string_body> req_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  pending p_;
  bool open_ = false;
  bool reused_ = false;
};

template <>
void connection_on<beast::tcp_stream>::handshake() {
  write();
}

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

template <>
void connection_on<tls_stream>::handshake() {
  const auto& cfg = client_.config();
  const auto& name = cfg.server_name.empty() ? cfg.origin.host
                                             : cfg.server_name;
  beast::error_code ec;
  asio::ip::make_address(name, ec); // fails for a name
  // SNI takes names only; an address is verified as such below.
  if (ec && !SSL_set_tlsext_host_name(stream_.native_handle(), name.c_str()))
    return fail("cannot set the server name",
                beast::error_code{static_cast<int>(::ERR_get_error()),
                                  asio::error::get_ssl_category()});
  stream_.set_verify_callback(ssl::host_name_verification(name));
  stream_.async_handshake(ssl::stream_base::client,
                          [self = shared_from_this()](beast::error_code e) {
                            if (e)
                              return self->fail("TLS handshake failed", e);
                            self->write();
                          });
}

caf::error client_impl::make_tls() {
  tls_.emplace(ssl::context::tls_client);
  auto& ctx = *tls_;
  ctx.set_verify_mode(ssl::verify_peer);
  // An encrypted key would prompt on the terminal: refuse it instead.
  ctx.set_password_callback(
    [](size_t, ssl::context::password_purpose) { return std::string{}; });
  beast::error_code ec;
  auto bad = [&](const char* what, const std::string& file) {
    return make_error(errc::invalid_config,
                      std::string{what} + " '" + file
                        + "' cannot be loaded: " + ec.message());
  };
  if (cfg_.ca_file.empty())
    ctx.set_default_verify_paths(ec);
  else
    ctx.load_verify_file(cfg_.ca_file, ec);
  if (ec)
    return bad("ca_file", cfg_.ca_file);
  if (cfg_.cert_file.empty() != cfg_.key_file.empty())
    return make_error(errc::invalid_config,
                      "cert_file and key_file go together");
  if (!cfg_.cert_file.empty()) {
    if (ctx.use_certificate_chain_file(cfg_.cert_file, ec); ec)
      return bad("cert_file", cfg_.cert_file);
    if (ctx.use_private_key_file(cfg_.key_file, ssl::context::pem, ec); ec)
      return bad("key_file", cfg_.key_file);
  }
  return {};
}

void client_impl::enqueue(pending p) {
  if (shutting_down_) {
    p.done(make_error(errc::shutting_down, "the HTTP client stopped"));
    return;
  }
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    c->run(std::move(p));
  } else if (live_.size() < cfg_.max_in_flight) {
    start_on_new_connection(std::move(p));
  } else if (queue_.size() < cfg_.queue_max) {
    queue_.push_back(std::move(p));
  } else {
    p.done(make_error(errc::overloaded,
                      "HTTP client busy: " + std::to_string(queue_.size())
                        + " requests wait (queue_max)"));
  }
}

void client_impl::start_on_new_connection(pending p) {
  std::shared_ptr<connection> c;
  if (cfg_.origin.tls)
    c = std::make_shared<connection_on<tls_stream>>(*this, ioc_, *tls_);
  else
    c = std::make_shared<connection_on<beast::tcp_stream>>(*this, ioc_);
  live_.insert(c);
  c->run(std::move(p));
}

void client_impl::finished(const std::shared_ptr<connection>& c, pending& p,
                           caf::expected<http_answer> answer, bool reusable) {
  auto done = std::move(p.done);
  p = {};
  if (shutting_down_ || !reusable) {
    live_.erase(c);
  } else if (!queue_.empty()) {
    auto next = std::move(queue_.front());
    queue_.pop_front();
    c->run(std::move(next));
  } else {
    idle_.push_back(c);
  }
  if (!shutting_down_ && !reusable && !queue_.empty()
      && live_.size() < cfg_.max_in_flight) {
    auto next = std::move(queue_.front());
    queue_.pop_front();
    start_on_new_connection(std::move(next));
  }
  done(std::move(answer));
}

void client_impl::resend(const std::shared_ptr<connection>& c, pending p) {
  live_.erase(c);
  start_on_new_connection(std::move(p));
}

void client_impl::shut_down() {
  shutting_down_ = true;
  for (auto& p : queue_)
    p.done(make_error(errc::shutting_down, "the HTTP client stopped"));
  queue_.clear();
  idle_.clear();
  // Closing ends every running request with an error (answered by its
  // connection's handler); the handlers then drop the connections.
  for (const auto& c : live_)
    c->close();
}

} // namespace

caf::expected<std::shared_ptr<http_client>>
http_client::make(http_client_config cfg) {
  if (cfg.max_in_flight == 0)
    return make_error(errc::invalid_config, "max_in_flight must be at least 1");
  auto c = std::make_shared<client_impl>(std::move(cfg));
  if (auto err = c->start())
    return err;
  return std::shared_ptr<http_client>{std::move(c)};
}

} // namespace saga::detail
