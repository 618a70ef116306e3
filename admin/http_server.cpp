#include "admin/http_server.hpp"
#include "admin/start_body.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <functional>
#include <iostream>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <caf/message.hpp>
#include <caf/sec.hpp>

#include "core/parse_number.hpp"
#include "core/percent_decode.hpp"
#include "saga/errc.hpp"
#include "saga/saga_id.hpp"
#include "saga/status.hpp"

namespace saga::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

constexpr size_t max_target = 4 * 1024;
constexpr uint32_t max_header_block = 8 * 1024;
constexpr size_t max_filter_text = 256;
constexpr size_t max_cursor = 2048;
/// What a closing connection reads and discards at most before it closes,
/// so that the client sees the answer instead of a reset.
constexpr size_t max_drain = 1024 * 1024;
constexpr std::chrono::milliseconds max_drain_time{1000};
/// Connections beyond `max_connections` that are being answered 503 at
/// once; any further one is closed unanswered.
constexpr size_t max_refusing = 16;
/// What a refused connection's 503 tells the client to wait, seconds.
constexpr int refused_retry_after_s = 1;

/// What a closing connection reads and drops.
struct drain_buffer {
  std::array<char, 4096> bytes{};
  size_t total = 0;
};

/// Reads and drops what the client of `stream` still sends (a body we
/// refused) until it closes, `max_drain` bytes came, the stream's deadline
/// passed or `stopping()` holds; then calls `done`. The client thus reads
/// our answer rather than a reset. `owner` keeps `stream` and `buf` alive.
template <class Owner, class Stopping, class Done>
void drain_then(std::shared_ptr<Owner> owner, beast::tcp_stream& stream,
                drain_buffer& buf, Stopping stopping, Done done) {
  stream.async_read_some(asio::buffer(buf.bytes),
                         [owner = std::move(owner), &stream, &buf, stopping,
                          done](beast::error_code ec, size_t n) mutable {
                           buf.total += n;
                           if (!ec && buf.total <= max_drain && !stopping())
                             return drain_then(std::move(owner), stream, buf,
                                               stopping, done);
                           done();
                         });
}

// -- validation ---------------------------------------------------------------

bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9');
}

/// Returns whether `by` is 1 to 64 characters of [A-Za-z0-9._@-].
bool valid_operator(std::string_view by) noexcept {
  return !by.empty() && by.size() <= 64
         && std::all_of(by.begin(), by.end(), [](char c) {
              return is_alnum(c) || c == '.' || c == '_' || c == '@'
                     || c == '-';
            });
}

/// Returns whether `x` has no control characters.
bool printable(std::string_view x) noexcept {
  return std::none_of(x.begin(), x.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

/// Returns `x` as an unsigned number in [lo, hi], or nullopt.
template <class T>
std::optional<T> parse_number(std::string_view x, T lo, T hi) {
  T result{};
  if (!saga::parse_number(x, result) || result < lo || result > hi)
    return std::nullopt;
  return result;
}

caf::error bad_parameter(const std::string& name, const std::string& what) {
  return make_error(errc::invalid_request,
                    "bad query parameter '" + name + "': " + what);
}

/// The query of a request target: decoded (name, value) pairs.
using query_params = std::map<std::string, std::string>;

/// Returns the decoded parameters of `query` (the part after '?'), or an
/// `invalid_request` error naming a parameter that is broken or given twice.
caf::expected<query_params> parse_query(std::string_view query) {
  query_params result;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{}
                                          : query.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto raw_name = part.substr(0, eq);
    auto raw_value = eq == std::string_view::npos ? std::string_view{}
                                                  : part.substr(eq + 1);
    auto name = percent_decode(raw_name, true);
    if (!name)
      return bad_parameter(std::string{raw_name}, "broken percent-encoding");
    auto value = percent_decode(raw_value, true);
    if (!value)
      return bad_parameter(*name, "broken percent-encoding");
    if (!result.emplace(std::move(*name), std::move(*value)).second)
      return bad_parameter(std::string{raw_name}, "given twice");
  }
  return result;
}

/// Returns the value of parameter `name`, or nullptr if absent or empty
/// (empty values match everything).
const std::string* param(const query_params& params, const std::string& name) {
  auto i = params.find(name);
  return i == params.end() || i->second.empty() ? nullptr : &i->second;
}

/// Returns the filter of `GET /api/sagas` from `params`, or an
/// `invalid_request` error naming the first bad parameter. Unknown
/// parameters are ignored.
caf::expected<saga_filter> parse_filter(const query_params& params) {
  saga_filter f;
  if (auto x = param(params, "state")) {
    auto st = parse_saga_status(*x);
    if (!st || *st == saga_status::pending)
      return bad_parameter("state", "expected running, compensating, "
                                    "completed, compensated or failed");
    f.state = *st;
  }
  for (auto [name, field] :
       {std::pair{"definition", &f.definition}, std::pair{"node", &f.node},
        std::pair{"business_key", &f.business_key},
        std::pair{"id_prefix", &f.id_prefix}}) {
    if (auto x = param(params, name)) {
      if (x->size() > max_filter_text || !printable(*x))
        return bad_parameter(name, "expected at most 256 printable "
                                   "characters");
      *field = *x;
    }
  }
  constexpr auto max_age = std::numeric_limits<int64_t>::max();
  for (auto [name, field] : {std::pair{"min_age_s", &f.min_age_s},
                             std::pair{"max_age_s", &f.max_age_s}}) {
    if (auto x = param(params, name)) {
      auto n = parse_number<int64_t>(*x, 0, max_age);
      if (!n)
        return bad_parameter(name, "expected a number of seconds >= 0");
      *field = *n;
    }
  }
  for (auto [name, field] :
       {std::pair{"from_ms", &f.from_ms}, std::pair{"to_ms", &f.to_ms}}) {
    if (auto x = param(params, name)) {
      auto n = parse_number<int64_t>(*x, 0, max_age);
      if (!n)
        return bad_parameter(name, "expected ms since the Unix epoch");
      *field = *n;
    }
  }
  if (f.min_age_s && f.max_age_s && *f.min_age_s > *f.max_age_s)
    return bad_parameter("min_age_s", "greater than max_age_s");
  if (auto x = param(params, "limit")) {
    auto n = parse_number<uint32_t>(*x, 1, 500);
    if (!n)
      return bad_parameter("limit", "expected 1 to 500");
    f.limit = *n;
  }
  if (auto x = param(params, "cursor")) {
    if (x->size() > max_cursor || !printable(*x))
      return bad_parameter("cursor", "malformed");
    f.cursor = *x;
  }
  return f;
}

/// Returns whether `given` equals `expected`, in a time that depends only
/// on their lengths (never on where they differ).
bool token_equal(std::string_view expected, std::string_view given) noexcept {
  auto n = std::max(expected.size(), given.size());
  unsigned diff = expected.size() == given.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    auto a = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    auto b = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned>(a ^ b);
  }
  return diff == 0;
}

/// Returns the token of an `Authorization: Bearer <token>` header value, or
/// nullopt for any other scheme.
std::optional<std::string_view> bearer_token(std::string_view value) {
  constexpr std::string_view scheme = "bearer";
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  if (value.size() <= scheme.size() || value[scheme.size()] != ' ')
    return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i)
    if ((value[i] | 0x20) != scheme[i])
      return std::nullopt;
  value.remove_prefix(scheme.size());
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value.empty())
    return std::nullopt;
  return value;
}

/// Returns the operator named by a POST body (empty or `{"by": "..."}`),
/// or an `invalid_request` error.
caf::expected<std::string> parse_operator(const std::string& body) {
  if (std::all_of(body.begin(), body.end(), [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
      }))
    return std::string{"admin"};
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded())
    return make_error(errc::invalid_request, "body is not valid JSON");
  if (!doc.is_object())
    return make_error(errc::invalid_request, "body is not a JSON object");
  std::string by = "admin";
  for (auto i = doc.begin(); i != doc.end(); ++i) {
    if (i.key() != "by")
      return make_error(errc::invalid_request, "unknown member '"
                                                 + i.key().substr(0, 64)
                                                 + "' in the body");
    if (!i.value().is_string()
        || !valid_operator(i.value().get_ref<const std::string&>()))
      return make_error(errc::invalid_request,
                        "'by' must be 1 to 64 characters of "
                        "[A-Za-z0-9._@-]");
    by = i.value().get<std::string>();
  }
  return by;
}

// -- responses ----------------------------------------------------------------

void common_headers(response& res) {
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
}

response json_response(http::status status, const json& body) {
  response res{status, 11};
  res.set(http::field::content_type, "application/json");
  common_headers(res);
  // Replace invalid UTF-8 from the backend instead of throwing.
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  res.body() += '\n';
  return res;
}

response error_response(http::status status, std::string_view code,
                        std::string text) {
  return json_response(status, json{{"error", std::move(text)},
                                    {"code", std::string{code}}});
}

/// Returns the HTTP status of a backend (or validation) error.
http::status status_of(const caf::error& err) {
  if (err.category() != error_category())
    return http::status::internal_server_error;
  switch (static_cast<errc>(err.code())) {
    case errc::unknown_saga: return http::status::not_found;
    // A bad request, or a definition that a start cannot run.
    case errc::invalid_request:
    case errc::invalid_id:
    case errc::no_steps:
    case errc::empty_name:
    case errc::duplicate_step:
    case errc::unknown_participant:
    case errc::invalid_timeout:
    case errc::invalid_backoff:
    case errc::invalid_retry:
    case errc::invalid_payload:
    case errc::unknown_dependency:
    case errc::dependency_cycle:
    case errc::invalid_pivot: return http::status::bad_request;
    case errc::invalid_state: return http::status::conflict;
    case errc::journal_failure:
    case errc::no_route:
    case errc::overloaded:
    case errc::shutting_down: return http::status::service_unavailable;
    default: return http::status::internal_server_error;
  }
}

response error_response(const caf::error& err) {
  std::string text;
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    text = ctx.get_as<std::string>(0);
  else
    text = describe(err);
  std::string code = err.category() == error_category()
                       ? to_string(static_cast<errc>(err.code()))
                       : "internal_error";
  return error_response(status_of(err), code, std::move(text));
}

response result_response(const caf::expected<json>& x) {
  if (!x)
    return error_response(x.error());
  return json_response(http::status::ok, *x);
}

response method_not_allowed(std::string_view allow) {
  auto res = error_response(http::status::method_not_allowed,
                            "method_not_allowed",
                            "method not allowed; use " + std::string{allow});
  res.set(http::field::allow, std::string{allow});
  return res;
}

response not_found() {
  return error_response(http::status::not_found, "not_found", "no such route");
}

/// How often an event stream looks for new events, and how long it stays
/// silent at most (then a comment line: proxies and clients see it alive,
/// and a client that left is noticed by the failing write).
constexpr std::chrono::milliseconds stream_tick{100};
constexpr std::chrono::milliseconds stream_keepalive{15'000};

/// Events one tick of an event stream sends at most; more follow the
/// next tick.
constexpr uint32_t stream_batch_max = 500;

/// Returns the `max` query parameter of `params` (default 100), or an
/// `invalid_request` error unless it is 1 to `limit`.
caf::expected<uint32_t> parse_max(const query_params& params, uint32_t limit) {
  auto x = param(params, "max");
  if (!x)
    return uint32_t{100};
  auto n = parse_number<uint32_t>(*x, 1, limit);
  if (!n)
    return bad_parameter("max", "expected 1 to " + std::to_string(limit));
  return *n;
}

/// An event cursor: the seq after which to read, and the node's epoch it
/// belongs to (either may be absent).
using event_cursor
  = std::pair<std::optional<uint64_t>, std::optional<uint64_t>>;

/// Returns the `after` and `epoch` query parameters of `params`, or an
/// `invalid_request` error naming the one that is not a number.
caf::expected<event_cursor> parse_event_cursor(const query_params& params) {
  event_cursor result;
  for (auto [name, out] :
       {std::pair{"after", &result.first}, {"epoch", &result.second}})
    if (auto x = param(params, name)) {
      auto n = parse_number<uint64_t>(*x, 0,
                                      std::numeric_limits<uint64_t>::max());
      if (!n)
        return bad_parameter(name, "expected a number");
      *out = *n;
    }
  return result;
}

/// Returns where an event stream starts: the `Last-Event-ID` header of a
/// reconnecting EventSource (`<epoch>:<seq>`, as the stream's ids are),
/// else the `after` and `epoch` query parameters, else nothing (the
/// newest events); or an `invalid_request` error naming the bad one.
caf::expected<event_cursor> stream_start(const request& req) {
  std::string_view target{req.target().data(), req.target().size()};
  auto qm = target.find('?');
  auto params = parse_query(
    qm == std::string_view::npos ? std::string_view{} : target.substr(qm + 1));
  if (!params)
    return params.error();
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  auto last = req.find("Last-Event-ID");
  if (last != req.end()) {
    std::string_view v{last->value().data(), last->value().size()};
    auto colon = v.find(':');
    auto e = parse_number<uint64_t>(v.substr(0, colon), 0, max);
    auto n = colon == std::string_view::npos
               ? std::nullopt
               : parse_number<uint64_t>(v.substr(colon + 1), 0, max);
    if (!e || !n)
      return make_error(errc::invalid_request,
                        "Last-Event-ID: expected <epoch>:<seq>");
    return event_cursor{*n, *e};
  }
  return parse_event_cursor(*params);
}

/// Returns `page` (an answer of `admin_backend::events`) as Server-Sent
/// Events: a `reset` event if the reader's epoch was another, then one
/// message per event with id `<epoch>:<seq>`.
std::string sse_text(const json& page) {
  std::string out;
  auto epoch = std::to_string(page.value("epoch", uint64_t{0}));
  if (page.value("reset", false))
    out += "event: reset\ndata: {}\n\n";
  for (const auto& ev : page.value("events", json::array())) {
    out += "id: " + epoch + ":" + std::to_string(ev.value("seq", uint64_t{0}))
           + "\ndata: "
           // A participant's error text may not be UTF-8: never throw here.
           + ev.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
  }
  return out;
}

bool is_http_error(const beast::error_code& ec) {
  return ec.category()
         == http::make_error_code(http::error::bad_target).category();
}

} // namespace

// -- the server ---------------------------------------------------------------

class admin_session;

/// The state of a running server. Everything but `stop_mtx_`, `stopped_`
/// and `port_` is touched only by the I/O thread once it runs.
class admin_server_impl {
public:
  admin_server_impl(admin_server_config cfg,
                    std::shared_ptr<admin_backend> backend)
    : cfg_(std::move(cfg)), backend_(std::move(backend)) {
    // nop
  }

  ~admin_server_impl() {
    stop();
  }

  /// Returns an error if the server cannot listen as configured.
  caf::error listen();

  /// Starts the I/O thread.
  void run();

  void stop();

  uint16_t port() const noexcept {
    return port_;
  }

  /// Returns the answer to `req` (never throws).
  response handle(const request& req);

  /// Answers `req` through `then`, on the I/O thread: at once for what needs
  /// no backend call that may wait on Redis (metrics, events, assets),
  /// otherwise after the call ran on the backend thread, so a slow Redis
  /// delays only the requests that need it.
  void handle_async(const request& req, std::function<void(response)> then);

  const admin_server_config& config() const noexcept {
    return cfg_;
  }

  /// Returns the backend's events (never waits: I/O thread).
  caf::expected<json> events(std::optional<uint64_t> after,
                             std::optional<uint64_t> epoch, uint32_t max) {
    try {
      return backend_->events(after, epoch, max);
    } catch (const std::exception& e) {
      return caf::make_error(caf::sec::runtime_error, e.what());
    }
  }

  bool stopping() const noexcept {
    return stopping_.load();
  }

  void add(admin_session* s) {
    sessions_.insert(s);
  }

  void remove(admin_session* s) {
    sessions_.erase(s);
  }

private:
  /// A `POST /api/sagas` waiting for what becomes of its saga. Lives on the
  /// I/O thread, in `starts_`, until answered or the server stops.
  struct start_call {
    explicit start_call(asio::io_context& ioc) : timer(ioc) {
      // nop
    }
    std::function<void(response)> then;
    std::string id;
    std::chrono::milliseconds wait{0};
    /// What `started` reported (null: nothing yet).
    json started;
    asio::steady_timer timer;
  };

  /// Lets the backend's callbacks, on any thread, reach the I/O thread
  /// only while the server runs.
  struct io_gate {
    std::mutex mtx;
    bool open = true;
    asio::io_context* ioc = nullptr;
  };

  /// Answers `POST /api/sagas` through `then` (see docs/admin-api.md): checks
  /// the token and body on the I/O thread, starts on the backend thread.
  void start_saga(const request& req, std::function<void(response)> then);

  /// Runs `f(call)` on the I/O thread behind `gate` if the server still
  /// runs and `call` has not been answered. Safe from any thread, also
  /// once the server is gone.
  template <class F>
  static void on_io(const std::shared_ptr<io_gate>& gate,
                    const std::weak_ptr<start_call>& call, F f);

  /// Answers `call` with `res` unless it was answered.
  void answer_start(const std::shared_ptr<start_call>& call, response res);

  /// Returns the 401 answer if `req` lacks the right bearer token.
  std::optional<response> check_token(const request& req) const;

  response route(const request& req);
  response post_operator(const request& req, const std::string& id,
                         std::string_view action);
  response asset(const request& req, std::string_view path);

  void do_accept();

  /// A connection beyond `max_connections`, answered 503.
  struct refusal {
    explicit refusal(tcp::socket s) : stream(std::move(s)) {
      // nop
    }
    beast::tcp_stream stream;
    response res;
    drain_buffer drained;
  };

  /// Answers a connection beyond `max_connections` 503 with Retry-After.
  void refuse(tcp::socket socket);

  admin_server_config cfg_;
  std::shared_ptr<admin_backend> backend_;
  uint16_t port_ = 0;
  // Declared before the io_context: sessions that die with its pending
  // handlers still find the set.
  std::unordered_set<admin_session*> sessions_;
  size_t refusing_ = 0;
  /// Written by the I/O thread, read by the backend thread too.
  std::atomic<bool> stopping_{false};
  asio::io_context ioc_{1};
  /// Runs the backend calls that may wait on Redis, one at a time: the
  /// backend (the node's saga catalog and its Redis connection) is not
  /// thread-safe, and the I/O thread must never wait on it.
  asio::thread_pool backend_thread_{1};
  tcp::acceptor acceptor_{ioc_};
  /// Starts waiting for an answer (I/O thread only).
  std::unordered_set<std::shared_ptr<start_call>> starts_;
  std::shared_ptr<io_gate> gate_ = make_gate(ioc_);

  static std::shared_ptr<io_gate> make_gate(asio::io_context& ioc) {
    auto gate = std::make_shared<io_gate>();
    gate->ioc = &ioc;
    return gate;
  }
  std::thread thread_;
  std::mutex stop_mtx_;
  bool stopped_ = false;
};

/// One connection: reads requests, answers them in order, keeps alive.
class admin_session : public std::enable_shared_from_this<admin_session> {
public:
  admin_session(admin_server_impl& srv, tcp::socket socket)
    : srv_(srv), stream_(std::move(socket)) {
    srv_.add(this);
  }

  ~admin_session() {
    srv_.remove(this);
  }

  void start() {
    do_read();
  }

  /// Closes the connection; pending operations end with operation_aborted.
  void close() {
    delay_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

private:
  void do_read() {
    if (srv_.stopping())
      return close();
    parser_.emplace();
    parser_->header_limit(max_header_block);
    parser_->body_limit(static_cast<uint64_t>(srv_.config().max_body));
    stream_.expires_after(srv_.config().io_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (ec == asio::error::operation_aborted || srv_.stopping())
      return close();
    if (ec == http::error::body_limit)
      return answer(error_response(http::status::payload_too_large,
                                   "payload_too_large",
                                   "request body over "
                                     + std::to_string(srv_.config().max_body)
                                     + " bytes"),
                    false);
    if (ec == http::error::header_limit)
      return answer(
        error_response(http::status::request_header_fields_too_large,
                       "header_too_large", "header block over 8 KiB"),
        false);
    if (ec == http::error::end_of_stream || ec == http::error::partial_message
        || ec == beast::error::timeout)
      return close();
    if (ec && is_http_error(ec))
      return answer(error_response(http::status::bad_request, "invalid_request",
                                   "malformed request: " + ec.message()),
                    false);
    if (ec)
      return close();
    const auto& req = parser_->get();
    std::string_view target{req.target().data(), req.target().size()};
    if (req.method() == http::verb::get
        && target.substr(0, target.find('?')) == "/api/events/stream")
      return start_event_stream(req);
    srv_.handle_async(req, [self = shared_from_this()](response res) {
      const auto& req = self->parser_->get();
      res.version(req.version() == 10 ? 10 : 11);
      if (res.result() == http::status::unauthorized)
        return self->refuse_slowly(std::move(res), req.keep_alive());
      self->answer(std::move(res), req.keep_alive());
    });
  }

  /// Logs a call refused for its token and answers it after the
  /// configured delay.
  void refuse_slowly(response res, bool keep_alive) {
    beast::error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    const auto& req = parser_->get();
    std::cerr << "caf-saga: admin API: refused " << req.method_string() << ' '
              << std::string_view{req.target().data(),
                                  std::min<size_t>(req.target().size(), 200)}
              << " from "
              << (ec ? std::string{"?"} : peer.address().to_string())
              << ": missing or wrong bearer token" << std::endl;
    delay_.expires_after(srv_.config().auth_failure_delay);
    delay_.async_wait([self = shared_from_this(), res = std::move(res),
                       keep_alive](beast::error_code ec) mutable {
      if (ec || self->srv_.stopping())
        return self->close();
      self->answer(std::move(res), keep_alive);
    });
  }

  void answer(response res, bool keep_alive) {
    res_ = std::move(res);
    res_.keep_alive(keep_alive);
    res_.prepare_payload();
    stream_.expires_after(srv_.config().io_timeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this()](beast::error_code ec,
                                                  size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(beast::error_code ec) {
    if (ec)
      return close();
    if (!res_.keep_alive())
      return linger();
    do_read();
  }

  /// Turns this connection into a stream of Server-Sent Events (`GET
  /// /api/events/stream`, docs/admin-api.md) until the client leaves or
  /// the server stops: the head without a length, then every tick the
  /// node's new events, a comment line when silent for long.
  void start_event_stream(const request& req) {
    auto from = stream_start(req);
    if (!from)
      return answer(error_response(from.error()), req.keep_alive());
    after_ = from->first;
    epoch_ = from->second;
    auto head
      = std::make_shared<http::response<http::empty_body>>(http::status::ok,
                                                           req.version() == 10
                                                             ? 10
                                                             : 11);
    head->set(http::field::content_type, "text/event-stream");
    head->set(http::field::cache_control, "no-store");
    head->set("X-Content-Type-Options", "nosniff");
    // No length: the body ends when the connection closes.
    head->keep_alive(false);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(
      *head);
    stream_.expires_after(srv_.config().io_timeout);
    http::async_write_header(stream_, *sr,
                             [self = shared_from_this(), head,
                              sr](beast::error_code ec, size_t) {
                               if (ec)
                                 return self->close();
                               // Ticks are no I/O: only a write may time out.
                               self->stream_.expires_never();
                               self->watch_close();
                               self->pump_events();
                             });
  }

  /// Sends what the node has after the stream's cursor (or a keep-alive
  /// comment once silent for `stream_keepalive`), then waits a tick.
  void pump_events() {
    if (srv_.stopping())
      return close();
    auto page = srv_.events(after_, epoch_, stream_batch_max);
    sse_out_.clear();
    if (page) {
      sse_out_ = sse_text(*page);
      if (page->contains("next") && page->contains("epoch")) {
        after_ = page->value("next", uint64_t{0});
        epoch_ = page->value("epoch", uint64_t{0});
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (sse_out_.empty() && now - last_sent_ < stream_keepalive)
      return wait_tick();
    if (sse_out_.empty())
      sse_out_ = ": keep-alive\n\n";
    last_sent_ = now;
    stream_.expires_after(srv_.config().io_timeout);
    asio::async_write(stream_, asio::buffer(sse_out_),
                      [self = shared_from_this()](beast::error_code ec,
                                                  size_t) {
                        if (ec)
                          return self->close();
                        self->stream_.expires_never();
                        self->wait_tick();
                      });
  }

  /// Keeps a read pending on an event stream's socket, so a client that
  /// leaves frees its connection at once instead of at the next failed
  /// write; whatever a client sends is discarded.
  void watch_close() {
    stream_.socket().async_read_some(
      asio::buffer(probe_),
      [self = shared_from_this()](const beast::error_code& ec, size_t) {
        if (ec)
          return self->close();
        self->watch_close();
      });
  }

  /// Runs `pump_events` after one `stream_tick`.
  void wait_tick() {
    delay_.expires_after(stream_tick);
    delay_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return self->close();
      self->pump_events();
    });
  }

  /// Closes gracefully: no more sending, then `drain_then` until the
  /// client closes.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || srv_.stopping())
      return close();
    stream_.expires_after(std::min(srv_.config().io_timeout, max_drain_time));
    drain_then(
      shared_from_this(), stream_, drained_, [this] { return srv_.stopping(); },
      [this] { close(); });
  }

  admin_server_impl& srv_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  response res_;
  drain_buffer drained_;
  /// Holds back the answer to a call refused for its token; an event
  /// stream's tick.
  asio::steady_timer delay_{stream_.get_executor()};
  /// An event stream's cursor, its text in flight, and when it last sent.
  std::optional<uint64_t> after_;
  std::optional<uint64_t> epoch_;
  std::string sse_out_;
  std::array<char, 256> probe_{};
  std::chrono::steady_clock::time_point last_sent_
    = std::chrono::steady_clock::now();
};

caf::error admin_server_impl::listen() {
  if (!backend_)
    return make_error(errc::invalid_config, "admin server: no backend");
  if (cfg_.max_connections == 0)
    return make_error(errc::invalid_config,
                      "admin server: max_connections must be at least 1");
  if (cfg_.io_timeout <= std::chrono::milliseconds{0})
    return make_error(errc::invalid_config,
                      "admin server: io_timeout must be positive");
  boost::system::error_code ec;
  auto host = cfg_.host == "localhost" ? std::string{"127.0.0.1"} : cfg_.host;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    return make_error(errc::invalid_config,
                      "admin server: bad host '" + cfg_.host
                        + "' (expected a numeric address or localhost)");
  tcp::endpoint ep{addr, cfg_.port};
  auto where = cfg_.host + ":" + std::to_string(cfg_.port);
  auto fail = [&](const char* what) {
    return make_error(errc::invalid_config, "admin server: cannot "
                                              + std::string{what} + " " + where
                                              + ": " + ec.message());
  };
  if (acceptor_.open(ep.protocol(), ec); ec)
    return fail("open");
  // Lets a restarted node bind while old connections sit in TIME_WAIT; on
  // Linux it does not allow two listeners on one port.
  if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec); ec)
    return fail("configure");
  if (acceptor_.bind(ep, ec); ec)
    return fail("bind");
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec)
    return fail("listen on");
  auto local = acceptor_.local_endpoint(ec);
  if (ec)
    return fail("read the port of");
  port_ = local.port();
  return {};
}

void admin_server_impl::run() {
  do_accept();
  thread_ = std::thread{[this] {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (...) {
        // A handler threw (only allocation can): keep serving.
      }
    }
  }};
}

void admin_server_impl::stop() {
  std::lock_guard<std::mutex> guard{stop_mtx_};
  if (stopped_)
    return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> gate_guard{gate_->mtx};
    gate_->open = false;
  }
  if (!thread_.joinable())
    return;
  asio::post(ioc_, [this] {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (const auto& call : starts_)
      call->timer.cancel();
    starts_.clear();
    std::vector<admin_session*> open{sessions_.begin(), sessions_.end()};
    for (auto* s : open)
      s->close();
  });
  thread_.join();
  // A backend call under way finishes; queued ones see stopping_ and skip.
  backend_thread_.join();
}

void admin_server_impl::do_accept() {
  acceptor_.async_accept(
    [this](boost::system::error_code ec, tcp::socket socket) {
      if (stopping_ || ec == asio::error::operation_aborted) {
        socket.close(ec);
        return;
      }
      if (!ec) {
        if (sessions_.size() >= cfg_.max_connections) {
          refuse(std::move(socket));
        } else {
          std::make_shared<admin_session>(*this, std::move(socket))->start();
        }
      }
      // Transient errors (too many open files) do not stop the server.
      do_accept();
    });
}

void admin_server_impl::refuse(tcp::socket socket) {
  boost::system::error_code ec;
  if (refusing_ >= max_refusing) {
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    return;
  }
  ++refusing_;
  auto r = std::make_shared<refusal>(std::move(socket));
  r->res = error_response(http::status::service_unavailable, "overloaded",
                          "the admin server serves "
                            + std::to_string(cfg_.max_connections)
                            + " connections at once; retry later");
  r->res.set(http::field::retry_after, std::to_string(refused_retry_after_s));
  r->res.keep_alive(false);
  r->res.prepare_payload();
  r->stream.expires_after(std::min(cfg_.io_timeout, max_drain_time));
  // Answered before its request is read; then, as `linger`, the request is
  // drained until the client closes.
  http::async_write(r->stream, r->res, [this, r](beast::error_code ec, size_t) {
    if (!ec)
      r->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      r->stream.close();
      --refusing_;
      return;
    }
    drain_then(
      r, r->stream, r->drained, [this] { return stopping_.load(); },
      [this, r] {
        r->stream.close();
        --refusing_;
      });
  });
}

void admin_server_impl::handle_async(const request& req,
                                     std::function<void(response)> then) {
  std::string_view target{req.target().data(), req.target().size()};
  auto path = target.substr(0, target.find('?'));
  if (path == "/api/sagas" && req.method() == http::verb::post) {
    start_saga(req, std::move(then));
    return;
  }
  const bool waits_on_redis = path.rfind("/api/", 0) == 0
                              && path != "/api/events";
  if (!waits_on_redis) {
    then(handle(req));
    return;
  }
  // The work guard keeps the I/O thread running while no socket operation
  // is pending; the session (held by `then`) keeps `req` alive.
  asio::post(backend_thread_, [this, &req, then = std::move(then),
                               work = asio::make_work_guard(ioc_)]() mutable {
    auto res = stopping_.load()
                 ? error_response(http::status::service_unavailable,
                                  "shutting_down", "the admin server stops")
                 : handle(req);
    asio::post(ioc_, [then = std::move(then), res = std::move(res)]() mutable {
      then(std::move(res));
    });
  });
}

response admin_server_impl::handle(const request& req) {
  try {
    return route(req);
  } catch (const std::exception& e) {
    return error_response(http::status::internal_server_error, "internal_error",
                          e.what());
  } catch (...) {
    return error_response(http::status::internal_server_error, "internal_error",
                          "unknown exception");
  }
}

response admin_server_impl::route(const request& req) {
  std::string_view target{req.target().data(), req.target().size()};
  if (target.size() > max_target)
    return error_response(http::status::bad_request, "invalid_request",
                          "request target over 4 KiB");
  if (target.empty() || target.front() != '/')
    return error_response(http::status::bad_request, "invalid_request",
                          "request target must be a path");
  auto qm = target.find('?');
  auto path = target.substr(0, qm);
  auto query = qm == std::string_view::npos ? std::string_view{}
                                            : target.substr(qm + 1);
  auto is_get = req.method() == http::verb::get;
  constexpr std::string_view sagas = "/api/sagas";
  if (path == sagas) {
    if (!is_get)
      return method_not_allowed("GET, POST");
    auto params = parse_query(query);
    if (!params)
      return error_response(params.error());
    auto filter = parse_filter(*params);
    if (!filter)
      return error_response(filter.error());
    return result_response(backend_->list(*filter));
  }
  if (path.size() > sagas.size() && path.substr(0, sagas.size()) == sagas
      && path[sagas.size()] == '/') {
    auto rest = path.substr(sagas.size() + 1);
    auto slash = rest.find('/');
    auto action = slash == std::string_view::npos ? std::string_view{}
                                                  : rest.substr(slash + 1);
    if (slash != std::string_view::npos && action != "retry"
        && action != "abort")
      return not_found();
    auto allowed = slash == std::string_view::npos ? "GET" : "POST";
    if (req.method()
        != (slash == std::string_view::npos ? http::verb::get
                                            : http::verb::post))
      return method_not_allowed(allowed);
    auto id = percent_decode(rest.substr(0, slash), false);
    if (slash != std::string_view::npos) {
      // The token first: a caller without one learns nothing, not even
      // whether its id or body would have been accepted.
      return post_operator(req, id && valid_saga_id(*id) ? *id : std::string{},
                           action);
    }
    if (!id || !valid_saga_id(*id))
      return error_response(http::status::bad_request, "invalid_request",
                            "bad saga id: expected 1 to 200 characters of "
                            "[A-Za-z0-9._:-]");
    return result_response(backend_->show(*id));
  }
  if (path == "/api/stats") {
    if (!is_get)
      return method_not_allowed("GET");
    return result_response(backend_->stats());
  }
  if (path == "/api/nodes") {
    if (!is_get)
      return method_not_allowed("GET");
    return result_response(backend_->nodes());
  }
  if (path == "/api/events") {
    if (!is_get)
      return method_not_allowed("GET");
    auto params = parse_query(query);
    if (!params)
      return error_response(params.error());
    auto from = parse_event_cursor(*params);
    if (!from)
      return error_response(from.error());
    auto [after, epoch] = *from;
    auto max = parse_max(*params, 1000);
    if (!max)
      return error_response(max.error());
    return result_response(backend_->events(after, epoch, *max));
  }
  if (path == "/api/audit") {
    if (!is_get)
      return method_not_allowed("GET");
    // Who did what is for operators: behind the token like the actions.
    if (auto refused = check_token(req))
      return std::move(*refused);
    auto params = parse_query(query);
    if (!params)
      return error_response(params.error());
    auto max = parse_max(*params, 500);
    if (!max)
      return error_response(max.error());
    return result_response(backend_->audit(*max));
  }
  if (path == "/healthz") {
    if (!is_get)
      return method_not_allowed("GET");
    auto h = backend_->health();
    const bool ok = h.is_object() && h.value("ok", false);
    return json_response(ok ? http::status::ok
                            : http::status::service_unavailable,
                         h);
  }
  if (path == "/metrics") {
    if (!is_get)
      return method_not_allowed("GET");
    response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    common_headers(res);
    res.body() = backend_->metrics_text();
    return res;
  }
  return asset(req, path);
}

std::optional<response>
admin_server_impl::check_token(const request& req) const {
  auto auth = req.find(http::field::authorization);
  std::optional<std::string_view> given;
  if (auth != req.end())
    given = bearer_token({auth->value().data(), auth->value().size()});
  if (!cfg_.token.empty() && given && token_equal(cfg_.token, *given))
    return std::nullopt;
  auto res = error_response(http::status::unauthorized, "unauthorized",
                            cfg_.token.empty()
                              ? "this node accepts no mutating calls "
                                "(no admin token configured)"
                              : "missing or wrong bearer token");
  res.set(http::field::www_authenticate, "Bearer");
  return res;
}

/// How long a start without `wait` waits for its saga to exist at most
/// (a saga queued behind `max_active_sagas`, a slow journal): then 202.
constexpr std::chrono::milliseconds start_accept_bound{10'000};

void admin_server_impl::start_saga(const request& req,
                                   std::function<void(response)> then) {
  if (auto refused = check_token(req))
    return then(std::move(*refused));
  auto parsed = parse_start_body(req.body());
  if (!parsed)
    return then(error_response(parsed.error()));
  auto call = std::make_shared<start_call>(ioc_);
  call->then = std::move(then);
  call->id = parsed->def.id();
  call->wait = parsed->wait;
  starts_.insert(call);
  call->timer.expires_after(call->wait.count() > 0 ? call->wait
                                                   : start_accept_bound);
  call->timer.async_wait(
    [this, weak = std::weak_ptr<start_call>{call}](beast::error_code ec) {
      auto call = weak.lock();
      if (ec || !call)
        return;
      // Not ended within the wait: the saga goes on; the client asks by id.
      auto body = call->started.is_object()
                    ? call->started
                    : json{{"id", call->id}, {"ended", false}};
      answer_start(call, json_response(http::status::accepted, body));
    });
  std::weak_ptr<start_call> weak = call;
  start_observer obs;
  obs.started = [this, gate = gate_, weak](json info) {
    on_io(gate, weak,
          [this,
           info = std::move(info)](const std::shared_ptr<start_call>& call) {
            call->started = info;
            if (call->wait.count() == 0)
              answer_start(call, json_response(info.value("created", false)
                                                 ? http::status::created
                                                 : http::status::ok,
                                               info));
          });
  };
  obs.answered = [this, gate = gate_, weak](caf::expected<json> x) {
    on_io(gate, weak,
          [this, x = std::move(x)](const std::shared_ptr<start_call>& call) {
            if (!x)
              return answer_start(call, error_response(x.error()));
            answer_start(call, json_response(x->value("created", false)
                                               ? http::status::created
                                               : http::status::ok,
                                             *x));
          });
  };
  asio::post(backend_thread_,
             [this, req = std::move(*parsed), obs = std::move(obs)]() mutable {
               if (stopping_.load())
                 return obs.answered(
                   make_error(errc::shutting_down, "the admin server stops"));
               try {
                 backend_->start(std::move(req), std::move(obs));
               } catch (const std::exception& e) {
                 // `obs` was moved into the call: its own answer, if any, is
                 // lost with it; the accept bound answers the client.
                 std::cerr << "caf-saga: admin API: start failed: " << e.what()
                           << std::endl;
               }
             });
}

template <class F>
void admin_server_impl::on_io(const std::shared_ptr<io_gate>& gate,
                              const std::weak_ptr<start_call>& call, F f) {
  std::lock_guard<std::mutex> guard{gate->mtx};
  if (!gate->open)
    return;
  asio::post(*gate->ioc, [call, f = std::move(f)]() mutable {
    if (auto strong = call.lock())
      f(strong);
  });
}

void admin_server_impl::answer_start(const std::shared_ptr<start_call>& call,
                                     response res) {
  if (starts_.erase(call) == 0)
    return; // answered already
  call->timer.cancel();
  auto then = std::move(call->then);
  then(std::move(res));
}

response admin_server_impl::post_operator(const request& req,
                                          const std::string& id,
                                          std::string_view action) {
  if (auto refused = check_token(req))
    return std::move(*refused);
  if (id.empty())
    return error_response(http::status::bad_request, "invalid_request",
                          "bad saga id: expected 1 to 200 characters of "
                          "[A-Za-z0-9._:-]");
  auto by = parse_operator(req.body());
  if (!by)
    return error_response(by.error());
  if (action == "retry")
    return result_response(backend_->retry(id, *by));
  return result_response(backend_->abort(id, *by));
}

response admin_server_impl::asset(const request& req, std::string_view path) {
  auto key = path == "/" ? std::string{"/index.html"} : std::string{path};
  auto i = cfg_.assets.find(key);
  if (i == cfg_.assets.end())
    return not_found();
  if (req.method() != http::verb::get)
    return method_not_allowed("GET");
  response res{http::status::ok, 11};
  res.set(http::field::content_type, i->second.first);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy", "default-src 'self'");
  res.body() = i->second.second;
  return res;
}

// -- admin_server -------------------------------------------------------------

caf::expected<std::unique_ptr<admin_server>>
admin_server::start(admin_server_config cfg,
                    std::shared_ptr<admin_backend> backend) {
  std::unique_ptr<admin_server_impl> impl;
  try {
    impl = std::make_unique<admin_server_impl>(std::move(cfg),
                                               std::move(backend));
    if (auto err = impl->listen())
      return err;
    impl->run();
  } catch (const std::exception& e) {
    return make_error(errc::invalid_config,
                      std::string{"admin server: "} + e.what());
  }
  return std::unique_ptr<admin_server>{new admin_server(std::move(impl))};
}

admin_server::admin_server(std::unique_ptr<admin_server_impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

admin_server::~admin_server() {
  stop();
}

uint16_t admin_server::port() const noexcept {
  return impl_->port();
}

void admin_server::stop() {
  impl_->stop();
}

} // namespace saga::detail
