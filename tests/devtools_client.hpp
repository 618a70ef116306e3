#pragma once

// Drives a headless Chromium through the DevTools protocol over a WebSocket
// (Boost.Beast): navigate, evaluate JavaScript (awaiting promises), take
// screenshots. For tests of the admin dashboard; no npm, no Playwright.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/child_process.hpp"

namespace saga::test {

/// A DevTools protocol connection to one page target
/// (ws://host:port/devtools/page/<id>). Synchronous: every call waits for its
/// answer up to a timeout and throws std::runtime_error on a protocol error,
/// a timeout or a lost connection. Events that arrive meanwhile are kept
/// until `wait_event` takes them. Not thread-safe.
class devtools_client {
public:
  /// Connects to the WebSocket URL `ws_url` (a target's webSocketDebuggerUrl).
  explicit devtools_client(const std::string& ws_url,
                           std::chrono::milliseconds timeout
                           = std::chrono::seconds{10});
  ~devtools_client();

  devtools_client(const devtools_client&) = delete;
  devtools_client& operator=(const devtools_client&) = delete;

  /// Sends command `method` with `params`; returns its `result`.
  nlohmann::json call(const std::string& method,
                      nlohmann::json params = nlohmann::json::object(),
                      std::chrono::milliseconds timeout = std::chrono::seconds{
                        30});

  /// Returns the params of the first event `method` received since the last
  /// `drop_events`, waiting up to `timeout` (and removes it).
  nlohmann::json wait_event(const std::string& method,
                            std::chrono::milliseconds timeout);

  /// Forgets the events received so far.
  void drop_events();

  /// Returns the events received so far (method, params), oldest first.
  const std::deque<nlohmann::json>& events() const noexcept {
    return events_;
  }

  /// Navigates the page to `url` and waits for its load event.
  void navigate(const std::string& url,
                std::chrono::milliseconds timeout = std::chrono::seconds{30});

  /// Evaluates `expression` in the page (awaiting it if it is a promise)
  /// and returns its value; throws with the page's exception text if it
  /// threw or its promise was rejected.
  nlohmann::json
  evaluate(const std::string& expression,
           std::chrono::milliseconds timeout = std::chrono::seconds{30});

  /// Waits up to `timeout` inside the page until the JavaScript expression
  /// `condition` is truthy (checked every 50 ms); returns its value. Throws
  /// naming the condition (and `what_then`, an expression evaluated then,
  /// e.g. the page's text) on timeout.
  nlohmann::json
  wait_for(const std::string& condition, std::chrono::milliseconds timeout,
           const std::string& what_then
           = "document.body ? document.body.innerText.slice(0, 2000) : ''");

  /// Returns a PNG of the whole page (beyond the viewport), decoded.
  std::string screenshot_png();

private:
  struct impl;

  /// Reads one message, waiting up to `deadline`; throws on timeout.
  nlohmann::json read(std::chrono::steady_clock::time_point deadline);

  std::unique_ptr<impl> impl_;
  int64_t next_id_ = 1;
  std::deque<nlohmann::json> events_;
};

/// A headless Chromium with a fresh profile in a temporary directory and a
/// DevTools connection to its first page. The destructor closes the
/// connection, kills the browser and removes the profile.
class headless_chromium {
public:
  /// Returns the Chromium binary to use (/usr/bin/chromium), or "" if there
  /// is none.
  static std::string find_executable();

  /// Starts `exe` (its output goes to `log_path`, if not empty) and connects
  /// to its page; throws std::runtime_error naming what went wrong.
  explicit headless_chromium(const std::string& exe,
                             const std::string& log_path = {},
                             std::chrono::milliseconds timeout
                             = std::chrono::seconds{30});
  ~headless_chromium();

  headless_chromium(const headless_chromium&) = delete;
  headless_chromium& operator=(const headless_chromium&) = delete;

  devtools_client& page() {
    return *page_;
  }

  /// Returns the DevTools HTTP port.
  uint16_t port() const noexcept {
    return port_;
  }

private:
  std::string profile_dir_;
  std::unique_ptr<child_process> proc_;
  uint16_t port_ = 0;
  std::unique_ptr<devtools_client> page_;
};

/// Returns the bytes encoded in base64 `text` (whitespace ignored); throws
/// std::runtime_error on any other character.
std::string base64_decode(const std::string& text);

/// Writes `bytes` to file `path`; throws std::runtime_error on failure.
void write_file(const std::string& path, const std::string& bytes);

} // namespace saga::test
