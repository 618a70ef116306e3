#include "tests/devtools_client.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace saga::test {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

/// The parts of "ws://host:port/path" or "http://host:port/path".
struct url_parts {
  std::string host;
  std::string port;
  std::string path;
};

url_parts split_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos)
    throw std::runtime_error("not a URL: " + url);
  auto rest = url.substr(scheme + 3);
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  url_parts result;
  result.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("no port in URL: " + url);
  result.host = authority.substr(0, colon);
  result.port = authority.substr(colon + 1);
  return result;
}

/// Runs `ioc` until `done` or `deadline`; on timeout cancels `socket`'s
/// operations, lets them finish and returns false.
template <class Socket>
bool run_until(boost::asio::io_context& ioc, const bool& done,
               clock_type::time_point deadline, Socket& socket) {
  ioc.restart();
  while (!done) {
    if (clock_type::now() >= deadline) {
      socket.cancel();
      ioc.restart();
      ioc.run();
      return false;
    }
    ioc.run_one_until(deadline);
  }
  return true;
}

/// GETs http://127.0.0.1:<port><target> and returns the body.
std::string http_get(uint16_t port, const std::string& target,
                     std::chrono::milliseconds timeout) {
  boost::asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  auto deadline = clock_type::now() + timeout;
  stream.expires_at(deadline); // async operations below honour it
  beast::error_code ec;
  stream.async_connect(tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"),
                                     port},
                       [&](beast::error_code e) { ec = e; });
  ioc.run();
  if (ec)
    throw std::runtime_error("DevTools HTTP: connect: " + ec.message());
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  http::async_write(stream, req,
                    [&](beast::error_code e, std::size_t) { ec = e; });
  ioc.restart();
  ioc.run();
  if (ec)
    throw std::runtime_error("DevTools HTTP: write: " + ec.message());
  beast::flat_buffer buf;
  http::response<http::string_body> resp;
  http::async_read(stream, buf, resp,
                   [&](beast::error_code e, std::size_t) { ec = e; });
  ioc.restart();
  ioc.run();
  if (ec)
    throw std::runtime_error("DevTools HTTP: read: " + ec.message());
  if (resp.result_int() != 200)
    throw std::runtime_error("DevTools HTTP: " + target + " answered "
                             + std::to_string(resp.result_int()));
  return resp.body();
}

std::string read_text_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string describe_exception(const json& details) {
  if (details.contains("exception")) {
    const auto& ex = details["exception"];
    if (ex.contains("description") && ex["description"].is_string())
      return ex["description"].get<std::string>();
    if (ex.contains("value"))
      return ex["value"].dump();
  }
  return details.value("text", std::string{"exception"});
}

} // namespace

// -- devtools_client ------------------------------------------------------------

struct devtools_client::impl {
  boost::asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
};

devtools_client::devtools_client(const std::string& ws_url,
                                 std::chrono::milliseconds timeout)
  : impl_(std::make_unique<impl>()) {
  auto parts = split_url(ws_url);
  auto& sock = beast::get_lowest_layer(impl_->ws);
  auto deadline = clock_type::now() + timeout;
  sock.expires_at(deadline);
  beast::error_code ec;
  tcp::resolver resolver{impl_->ioc};
  auto endpoints = resolver.resolve(parts.host, parts.port, ec);
  if (ec)
    throw std::runtime_error("DevTools: resolve " + parts.host + ": "
                             + ec.message());
  sock.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    ec = e;
  });
  impl_->ioc.run();
  if (ec)
    throw std::runtime_error("DevTools: connect to " + ws_url + ": "
                             + ec.message());
  impl_->ws.async_handshake(parts.host + ":" + parts.port, parts.path,
                            [&](beast::error_code e) { ec = e; });
  impl_->ioc.restart();
  impl_->ioc.run();
  if (ec)
    throw std::runtime_error("DevTools: WebSocket handshake with " + ws_url
                             + ": " + ec.message());
  sock.expires_never(); // reads are bounded by read()'s deadline instead
  impl_->ws.read_message_max(256 * 1024 * 1024); // screenshots are large
  impl_->ws.text(true);
}

devtools_client::~devtools_client() {
  if (impl_ && impl_->ws.is_open()) {
    beast::error_code ec;
    beast::get_lowest_layer(impl_->ws).socket().close(ec);
  }
}

json devtools_client::read(clock_type::time_point deadline) {
  beast::flat_buffer buf;
  beast::error_code ec;
  bool done = false;
  impl_->ws.async_read(buf, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!run_until(impl_->ioc, done, deadline,
                 beast::get_lowest_layer(impl_->ws).socket()))
    throw std::runtime_error("DevTools: no answer in time");
  if (ec)
    throw std::runtime_error("DevTools: read: " + ec.message());
  return json::parse(beast::buffers_to_string(buf.data()));
}

json devtools_client::call(const std::string& method, json params,
                           std::chrono::milliseconds timeout) {
  auto id = next_id_++;
  json msg{{"id", id}, {"method", method}, {"params", std::move(params)}};
  auto text = msg.dump();
  beast::error_code ec;
  impl_->ws.write(boost::asio::buffer(text), ec);
  if (ec)
    throw std::runtime_error("DevTools: send " + method + ": " + ec.message());
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    json answer;
    try {
      answer = read(deadline);
    } catch (const std::exception& e) {
      throw std::runtime_error(method + ": " + e.what());
    }
    if (!answer.contains("id")) {
      events_.push_back(std::move(answer));
      continue;
    }
    if (answer["id"] != id)
      continue; // an answer to an earlier call that timed out
    if (answer.contains("error"))
      throw std::runtime_error("DevTools: " + method
                               + " failed: " + answer["error"].dump());
    return answer.value("result", json::object());
  }
}

json devtools_client::wait_event(const std::string& method,
                                 std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    for (auto i = events_.begin(); i != events_.end(); ++i)
      if (i->value("method", "") == method) {
        auto params = i->value("params", json::object());
        events_.erase(i);
        return params;
      }
    json msg;
    try {
      msg = read(deadline);
    } catch (const std::exception& e) {
      throw std::runtime_error("waiting for event " + method + ": " + e.what());
    }
    if (!msg.contains("id"))
      events_.push_back(std::move(msg));
  }
}

void devtools_client::drop_events() {
  events_.clear();
}

void devtools_client::navigate(const std::string& url,
                               std::chrono::milliseconds timeout) {
  drop_events();
  auto result = call("Page.navigate", {{"url", url}}, timeout);
  if (result.contains("errorText")
      && !result["errorText"].get<std::string>().empty())
    throw std::runtime_error("navigating to " + url + ": "
                             + result["errorText"].get<std::string>());
  wait_event("Page.loadEventFired", timeout);
}

json devtools_client::evaluate(const std::string& expression,
                               std::chrono::milliseconds timeout) {
  auto result = call("Runtime.evaluate",
                     {{"expression", expression},
                      {"awaitPromise", true},
                      {"returnByValue", true},
                      {"timeout", timeout.count()}},
                     timeout + std::chrono::seconds{5});
  if (result.contains("exceptionDetails"))
    throw std::runtime_error("in the page: "
                             + describe_exception(result["exceptionDetails"]));
  const auto& value = result["result"];
  return value.contains("value") ? value["value"] : json{};
}

json devtools_client::wait_for(const std::string& condition,
                               std::chrono::milliseconds timeout,
                               const std::string& what_then) {
  // The page polls the condition itself: one round trip, no sleeps here.
  std::string js = "new Promise((resolve, reject) => {\n"
                   "  const t0 = Date.now();\n"
                   "  const check = () => {\n"
                   "    let v, err = null;\n"
                   "    try { v = ("
                   + condition
                   + "); } catch (e) { err = e; }\n"
                     "    if (v) return resolve(v);\n"
                     "    if (Date.now() - t0 > "
                   + std::to_string(timeout.count())
                   + ") {\n"
                     "      let then = '';\n"
                     "      try { then = String("
                   + what_then
                   + "); } catch (e) {}\n"
                     "      return reject(new Error('timed out waiting for: '\n"
                     "        + "
                   + json(condition).dump()
                   + " + (err ? ' (' + err + ')' : '')\n"
                     "        + '\\n-- then: ' + then));\n"
                     "    }\n"
                     "    setTimeout(check, 50);\n"
                     "  };\n"
                     "  check();\n"
                     "})";
  return evaluate(js, timeout + std::chrono::seconds{5});
}

std::string devtools_client::screenshot_png() {
  auto metrics = call("Page.getLayoutMetrics");
  json size = metrics.contains("cssContentSize") ? metrics["cssContentSize"]
                                                 : metrics["contentSize"];
  double width = size.value("width", 1280.0);
  double height = std::min(size.value("height", 800.0), 6000.0);
  auto shot = call("Page.captureScreenshot", {{"format", "png"},
                                              {"captureBeyondViewport", true},
                                              {"clip",
                                               {{"x", 0},
                                                {"y", 0},
                                                {"width", width},
                                                {"height", height},
                                                {"scale", 1}}}});
  return base64_decode(shot.at("data").get<std::string>());
}

// -- headless_chromium ----------------------------------------------------------

std::string headless_chromium::find_executable() {
  if (const char* env = std::getenv("SAGA_CHROMIUM"); env && *env)
    return ::access(env, X_OK) == 0 ? std::string{env} : std::string{};
  return ::access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : "";
}

headless_chromium::headless_chromium(const std::string& exe,
                                     const std::string& log_path,
                                     std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/saga-chromium-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("cannot create a profile directory");
  profile_dir_ = tmpl;
  std::vector<std::string> args{"--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--disable-quic",
                                "--no-first-run",
                                "--disable-background-networking",
                                "--disable-component-update",
                                "--disable-sync",
                                "--disable-dev-shm-usage",
                                "--user-data-dir=" + profile_dir_,
                                "--remote-debugging-port=0",
                                "--window-size=1400,1000",
                                "about:blank"};
  proc_ = std::make_unique<child_process>(exe, args, log_path);
  auto deadline = clock_type::now() + timeout;
  auto fail = [&](const std::string& why) {
    std::string msg = "chromium: " + why + "; its output:";
    for (const auto& line : proc_->lines())
      msg += "\n  " + line;
    throw std::runtime_error(msg);
  };
  // Chromium writes the port it chose to DevToolsActivePort (first line).
  auto port_file = profile_dir_ + "/DevToolsActivePort";
  for (;;) {
    auto text = read_text_file(port_file);
    if (auto nl = text.find('\n'); nl != std::string::npos && nl > 0) {
      port_ = static_cast<uint16_t>(std::stoul(text.substr(0, nl)));
      break;
    }
    if (!proc_->running())
      fail("exited before it listened");
    if (clock_type::now() > deadline)
      fail("no DevToolsActivePort in time");
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  // The first page target (about:blank) may show up a moment later.
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0)
      fail("no page target in time");
    auto targets = json::parse(http_get(port_, "/json/list", left));
    for (const auto& t : targets)
      if (t.value("type", "") == "page" && t.contains("webSocketDebuggerUrl")) {
        page_ = std::make_unique<devtools_client>(
          t["webSocketDebuggerUrl"].get<std::string>(), left);
        return;
      }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

headless_chromium::~headless_chromium() {
  page_.reset();
  if (proc_) {
    // A clean exit takes its renderer and zygote processes with it.
    proc_->signal(SIGTERM);
    proc_->wait_exit(std::chrono::seconds{5});
    proc_.reset(); // SIGKILL if it still runs
  }
  // Its helper processes may still write there for a moment after it exited.
  for (int i = 0; i < 20; ++i) {
    std::error_code ec;
    std::filesystem::remove_all(profile_dir_, ec);
    if (!std::filesystem::exists(profile_dir_, ec))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

// -- helpers --------------------------------------------------------------------

std::string base64_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=')
      break;
    else if (c == '\n' || c == '\r' || c == ' ')
      continue;
    else
      throw std::runtime_error("not base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

} // namespace saga::test
