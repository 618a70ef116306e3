#include "tests/support/http_test_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "tests/support/tls_certs.hpp"

namespace saga::test {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast_request = http::request<http::string_body>;
using beast_response = http::response<http::string_body>;
using test_request = http_test_server::request;
using test_response = http_test_server::response;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

/// Request bodies above this many bytes end the connection.
constexpr uint64_t max_body = 1024 * 1024;

std::string str(beast::string_view x) {
  return std::string{x.data(), x.size()};
}

/// Returns `x` with ASCII letters in lower case.
std::string lower(std::string x) {
  for (auto& c : x)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return x;
}

/// Returns `req` as the tests see it.
test_request to_request(const beast_request& req) {
  test_request result;
  result.method = str(req.method_string());
  result.target = str(req.target());
  for (const auto& field : req) {
    auto value = str(field.value());
    auto [pos, fresh] = result.headers.emplace(lower(str(field.name_string())),
                                               value);
    if (!fresh)
      pos->second += ", " + value;
  }
  result.body = req.body();
  return result;
}

/// Returns the answer `r` as an HTTP/1.1 message that keeps the connection
/// if `keep_alive` and `r` sets no "Connection: close".
beast_response make_response(const test_response& r, bool keep_alive) {
  beast_response res;
  res.version(11);
  res.result(r.status);
  for (const auto& [name, value] : r.headers)
    res.insert(name, value);
  if (res.find(http::field::content_type) == res.end())
    res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive && res.keep_alive());
  res.body() = r.body;
  res.prepare_payload();
  return res;
}

/// Returns the bytes of `r` cut in the middle of its body: the head with
/// the full Content-Length, then half of the body.
std::string half_response(const test_response& r) {
  std::string body = r.body.size() < 2 ? std::string{"{\"ok\":true}"} : r.body;
  return "HTTP/1.1 " + std::to_string(r.status)
         + " X\r\nContent-Length: " + std::to_string(body.size())
         + "\r\nContent-Type: application/json\r\n\r\n"
         + body.substr(0, body.size() / 2);
}

/// A connection, as the server sees it to close it.
class session_base {
public:
  virtual ~session_base() = default;

  /// Closes the socket; pending operations end with operation_aborted.
  virtual void close() = 0;
};

/// What the sessions share with the server. `mtx` guards `requests`;
/// `sessions` and `stopping` belong to the I/O thread.
struct server_state {
  http_test_server::handler on_request;
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<test_request> requests;
  std::atomic<size_t> connections{0};
  std::vector<std::weak_ptr<session_base>> sessions;
  bool stopping = false;

  /// Appends `req` to `requests` and wakes the waiters.
  void record(test_request req) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      requests.push_back(std::move(req));
    }
    cv.notify_all();
  }

  /// Returns the handler's answer to `req`, or 500 with the message of
  /// what it threw.
  test_response respond(const test_request& req) {
    if (!on_request)
      return {};
    try {
      return on_request(req);
    } catch (const std::exception& e) {
      test_response res;
      res.status = 500;
      res.body = e.what();
      return res;
    } catch (...) {
      test_response res;
      res.status = 500;
      return res;
    }
  }
};

/// One connection over `Stream` (beast::tcp_stream or tls_stream): reads
/// requests one after another on the kept-alive connection and answers
/// each as the handler says.
template <class Stream>
class session : public session_base,
                public std::enable_shared_from_this<session<Stream>> {
public:
  static constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

  /// Makes the stream from `args` (a socket, and a TLS context for TLS).
  template <class... Args>
  explicit session(server_state& srv, Args&&... args)
    : srv_(srv), stream_(std::forward<Args>(args)...) {
    // nop
  }

  /// Starts serving: the TLS handshake if any, then the first read.
  void start() {
    if constexpr (is_tls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](
                                beast::error_code ec) {
                                if (ec)
                                  return self->close();
                                self->do_read();
                              });
    } else {
      do_read();
    }
  }

  void close() override {
    timer_.cancel();
    auto& socket = beast::get_lowest_layer(stream_).socket();
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(max_body);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec,
                                                       size_t) {
                       self->on_read(ec);
                     });
  }

  /// Records the request read, asks the handler, and answers.
  void on_read(beast::error_code ec) {
    if (ec || srv_.stopping)
      return close();
    try {
      const auto& req = parser_->get();
      keep_alive_ = req.keep_alive();
      auto recorded = to_request(req);
      srv_.record(recorded);
      answer(srv_.respond(recorded));
    } catch (...) {
      // A status or body Beast refuses: give up on the connection.
      close();
    }
  }

  /// Answers as `r` says: never (but notices the client leaving), or after
  /// its delay, or at once.
  void answer(test_response r) {
    if (r.hang)
      return watch_close();
    if (r.delay.count() <= 0)
      return send(r);
    timer_.expires_after(r.delay);
    timer_.async_wait([self = this->shared_from_this(),
                       later = std::move(r)](beast::error_code ec) {
      if (ec || self->srv_.stopping)
        return self->close();
      try {
        self->send(later);
      } catch (...) {
        self->close();
      }
    });
  }

  /// Writes `r` whole, or half of it and closes.
  void send(const test_response& r) {
    if (r.close_mid_body) {
      raw_ = half_response(r);
      asio::async_write(stream_, asio::buffer(raw_),
                        [self = this->shared_from_this()](beast::error_code,
                                                          size_t) {
                          self->close();
                        });
      return;
    }
    res_ = make_response(r, keep_alive_);
    http::async_write(stream_, res_,
                      [self = this->shared_from_this()](beast::error_code ec,
                                                        size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(beast::error_code ec) {
    if (ec || srv_.stopping)
      return close();
    if (!res_.keep_alive())
      return finish();
    do_read();
  }

  /// Ends the connection after a last answer: TLS close_notify first.
  void finish() {
    if constexpr (is_tls) {
      stream_.async_shutdown([self = this->shared_from_this()](
                               beast::error_code) { self->close(); });
    } else {
      close();
    }
  }

  /// Keeps a read pending on a hanging connection, discarding what comes,
  /// so that it lives until the client closes it or the server stops.
  void watch_close() {
    stream_.async_read_some(asio::buffer(probe_),
                            [self
                             = this->shared_from_this()](beast::error_code ec,
                                                         size_t) {
                              if (ec)
                                return self->close();
                              self->watch_close();
                            });
  }

  server_state& srv_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  beast_response res_;
  std::string raw_;
  std::array<char, 512> probe_{};
  asio::steady_timer timer_{stream_.get_executor()};
};

} // namespace

// -- the server ---------------------------------------------------------------

/// The listener, the I/O thread and what the sessions share.
struct http_test_server::impl {
  /// Listens and starts the I/O thread; throws std::runtime_error if it
  /// cannot listen or load the TLS files.
  impl(handler h, const tls_certs* certs) {
    state_.on_request = std::move(h);
    if (certs != nullptr)
      load_tls(*certs);
    listen();
    do_accept();
    thread_ = std::thread{[this] { run(); }};
  }

  ~impl() {
    stop();
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  uint16_t port() const noexcept {
    return port_;
  }

  bool tls() const noexcept {
    return tls_ctx_ != nullptr;
  }

  server_state& state() noexcept {
    return state_;
  }

private:
  void load_tls(const tls_certs& certs);
  void listen();
  void run();
  void do_accept();

  /// Starts a session over a `Stream` made from `args`.
  template <class Stream, class... Args>
  void launch(Args&&... args);

  /// Closes the listener and every connection, stops the I/O thread and
  /// joins it.
  void stop();

  // Declared before the io_context: sessions that die with its pending
  // handlers still find them.
  server_state state_;
  std::unique_ptr<asio::ssl::context> tls_ctx_;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::thread thread_;
};

void http_test_server::impl::load_tls(const tls_certs& certs) {
  tls_ctx_ = std::make_unique<asio::ssl::context>(
    asio::ssl::context::tls_server);
  beast::error_code ec;
  tls_ctx_->use_certificate_chain_file(certs.path("server.crt"), ec);
  if (!ec)
    tls_ctx_->use_private_key_file(certs.path("server.key"),
                                   asio::ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("http_test_server: cannot load server.crt/"
                             "server.key: "
                             + ec.message());
}

void http_test_server::impl::listen() {
  beast::error_code ec;
  tcp::endpoint ep{asio::ip::make_address_v4("127.0.0.1"), 0};
  auto fail = [&ec](const char* what) {
    throw std::runtime_error(std::string{"http_test_server: cannot "} + what
                             + " 127.0.0.1:0: " + ec.message());
  };
  if (acceptor_.open(ep.protocol(), ec); ec)
    fail("open");
  if (acceptor_.bind(ep, ec); ec)
    fail("bind");
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec)
    fail("listen on");
  auto local = acceptor_.local_endpoint(ec);
  if (ec)
    fail("read the port of");
  port_ = local.port();
}

void http_test_server::impl::run() {
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (...) {
      // A handler threw (sessions catch their own errors): keep serving.
    }
  }
}

template <class Stream, class... Args>
void http_test_server::impl::launch(Args&&... args) {
  auto& list = state_.sessions;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const auto& weak) { return weak.expired(); }),
             list.end());
  auto s = std::make_shared<session<Stream>>(state_,
                                             std::forward<Args>(args)...);
  list.emplace_back(s);
  s->start();
}

void http_test_server::impl::do_accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || state_.stopping)
      return;
    if (!ec) {
      ++state_.connections;
      if (tls_ctx_)
        launch<tls_stream>(std::move(socket), *tls_ctx_);
      else
        launch<beast::tcp_stream>(std::move(socket));
    }
    do_accept();
  });
}

void http_test_server::impl::stop() {
  if (!thread_.joinable())
    return;
  asio::post(ioc_, [this] {
    state_.stopping = true;
    beast::error_code ec;
    acceptor_.close(ec);
    for (const auto& weak : state_.sessions)
      if (auto s = weak.lock())
        s->close();
    state_.sessions.clear();
    // The handlers the closing aborted never run: the io_context's
    // destructor drops them, and with them the sessions.
    ioc_.stop();
  });
  thread_.join();
}

// -- http_test_server ---------------------------------------------------------

http_test_server::http_test_server(handler h, const tls_certs* tls)
  : impl_(std::make_unique<impl>(std::move(h), tls)) {
  // nop
}

http_test_server::~http_test_server() = default;

uint16_t http_test_server::port() const noexcept {
  return impl_->port();
}

std::string http_test_server::base_url() const {
  return std::string{impl_->tls() ? "https" : "http"}
         + "://127.0.0.1:" + std::to_string(impl_->port());
}

std::vector<http_test_server::request> http_test_server::requests() const {
  auto& st = impl_->state();
  std::lock_guard<std::mutex> guard{st.mtx};
  return st.requests;
}

bool http_test_server::wait_requests(size_t n,
                                     std::chrono::milliseconds timeout) const {
  auto& st = impl_->state();
  std::unique_lock<std::mutex> guard{st.mtx};
  return st.cv.wait_for(guard, timeout,
                        [&st, n] { return st.requests.size() >= n; });
}

size_t http_test_server::connections() const {
  return impl_->state().connections.load();
}

} // namespace saga::test
