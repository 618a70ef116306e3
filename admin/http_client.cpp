#include "admin/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/parse_number.hpp"
#include "saga/errc.hpp"

namespace saga::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

caf::expected<std::pair<std::string, uint16_t>>
parse_address(const std::string& address) {
  auto bad = [&] {
    return make_error(errc::invalid_request,
                      "'" + address + "' is not host:port");
  };
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return bad();
  auto host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto p = std::string_view{address}.substr(colon + 1);
  if (!parse_number(p, port) || port == 0 || port > 65535)
    return bad();
  return std::make_pair(host, static_cast<uint16_t>(port));
}

caf::expected<http_response> send(const http_request& req) {
  auto where = req.host + ":" + std::to_string(req.port);
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  http::request<http::string_body> msg{http::string_to_verb(req.method),
                                       req.target, 11};
  msg.set(http::field::host, where);
  msg.set(http::field::user_agent, "sagactl");
  for (const auto& [name, value] : req.headers)
    msg.set(name, value);
  if (!req.body.empty()) {
    msg.set(http::field::content_type, "application/json");
    msg.body() = req.body;
  }
  msg.prepare_payload();
  beast::flat_buffer buf;
  http::response<http::string_body> answer;
  beast::error_code failure;
  const char* stage = "cannot connect";
  // Beast's timeouts apply to asynchronous operations only: run the chain
  // on a private io_context.
  tcp::resolver resolver{ioc};
  auto fail = [&](const char* what, beast::error_code ec) {
    stage = what;
    failure = ec;
  };
  resolver.async_resolve(
    req.host, std::to_string(req.port),
    [&](beast::error_code ec, const tcp::resolver::results_type& hosts) {
      if (ec)
        return fail("cannot resolve", ec);
      stream.expires_after(req.timeout);
      stream.async_connect(hosts, [&](beast::error_code ec,
                                      const tcp::endpoint&) {
        if (ec)
          return fail("cannot connect", ec);
        stream.expires_after(req.timeout);
        http::async_write(stream, msg, [&](beast::error_code ec, size_t) {
          if (ec)
            return fail("cannot send the request", ec);
          http::async_read(stream, buf, answer,
                           [&](beast::error_code ec, size_t) {
                             if (ec)
                               return fail("no answer", ec);
                             stage = nullptr;
                           });
        });
      });
    });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  if (stage != nullptr)
    return make_error(errc::no_route,
                      std::string{stage} + " " + where + ": "
                        + (failure ? failure.message()
                                   : std::string{"unknown error"}));
  return http_response{answer.result_int(), std::move(answer.body())};
}

} // namespace saga::admin
