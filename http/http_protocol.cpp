#include "http/http_protocol.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/http_endpoint.hpp"
#include "core/parse_number.hpp"
#include "saga/errc.hpp"

namespace saga::detail {

namespace {

/// Bytes of a service's answer quoted in an error at most.
constexpr size_t quoted_body_max = 200;

/// How long to wait after a 425 without a usable Retry-After, and the
/// bounds on what a Retry-After may ask.
constexpr std::chrono::milliseconds still_working_wait{200};
constexpr std::chrono::milliseconds retry_after_min{50};
constexpr std::chrono::milliseconds retry_after_max{5'000};

std::string quoted(const std::string& body) {
  if (body.size() <= quoted_body_max)
    return body;
  return body.substr(0, quoted_body_max) + "...";
}

step_reply failed(bool retryable, std::string error) {
  step_reply r;
  r.ok = false;
  r.retryable = retryable;
  r.error = std::move(error);
  return r;
}

/// Returns the execute's result for a compensation's header, or "omitted".
std::string result_of(const step_command& cmd) {
  auto results = nlohmann::json::parse(cmd.results, nullptr, false);
  if (!results.is_object())
    return {};
  auto i = results.find(cmd.step);
  if (i == results.end())
    return {};
  auto text = i->dump(-1, ' ', true); // ASCII: \u escapes
  return text.size() <= result_header_bytes_max ? text : "omitted";
}

/// Returns the time (seconds since the epoch) an HTTP date such as
/// `Sun, 06 Nov 1994 08:49:37 GMT` (the only form RFC 9110 lets a sender
/// write) stands for, if it is one. In time_t: a system_clock time point
/// in nanoseconds ends in 2262, and a date need not.
std::optional<time_t> http_date(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0')
    return std::nullopt;
  auto t = timegm(&tm);
  if (t == static_cast<time_t>(-1))
    return std::nullopt;
  return t;
}

/// Returns how long a 425 with `retry_after` (seconds or an HTTP date)
/// asks to wait, clamped; 200 ms without a usable one.
std::chrono::milliseconds wait_of(const std::string& retry_after) {
  using std::chrono::milliseconds;
  int64_t seconds = 0;
  uint32_t n = 0;
  if (parse_number(retry_after, n))
    seconds = n;
  else if (auto at = http_date(retry_after))
    seconds = static_cast<int64_t>(*at) - static_cast<int64_t>(time(nullptr));
  else
    return still_working_wait;
  // Clamped in seconds first: no overflow on the way to milliseconds.
  seconds = std::clamp<int64_t>(seconds, 0, 3'600);
  return std::clamp<milliseconds>(std::chrono::seconds{seconds},
                                  retry_after_min, retry_after_max);
}

/// Returns `text` with every byte that `keep` refuses written as `%XX`.
template <class Keep>
std::string percent_encoded(const std::string& text, Keep keep) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (keep(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
  }
  return out;
}

/// Returns `segment` with every byte but letters, digits and `-._~`
/// percent-encoded: one path segment.
std::string path_safe(const std::string& segment) {
  return percent_encoded(segment, [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
  });
}

} // namespace

std::string header_safe(const std::string& value) {
  return percent_encoded(value, [](unsigned char c) {
    return c >= 0x20 && c < 0x7f && c != '%';
  });
}

http_endpoint endpoint_of(const http_participant_config& cfg,
                          const std::string& action, bool compensate) {
  if (auto i = cfg.routes.find(action); i != cfg.routes.end())
    return compensate ? i->second.compensate : i->second.execute;
  http_endpoint e;
  e.path = "/" + path_safe(action) + (compensate ? "/compensate" : "");
  return e;
}

caf::expected<http_call> make_call(const step_command& cmd, bool compensate,
                                   const http_participant_config& cfg,
                                   const http_url& origin) {
  auto ep = endpoint_of(cfg, cmd.action, compensate);
  if (!cmd.endpoint.empty()) {
    // From the step's definition; checked there, but it may come over
    // the wire from another node.
    auto own = http_endpoint_from_text(cmd.endpoint);
    if (!own)
      return std::move(own.error());
    ep = std::move(*own);
  }
  http_call call;
  call.method = ep.method;
  call.target = origin.prefix + ep.path;
  call.body = cmd.payload.empty() ? "{}" : cmd.payload;
  call.headers = cfg.headers;
  const char* op = compensate ? "compensate" : "execute";
  auto& h = call.headers;
  h.emplace_back("Saga-Id", header_safe(cmd.id));
  h.emplace_back("Saga-Name", header_safe(cmd.saga_name));
  h.emplace_back("Saga-Step", header_safe(cmd.step));
  h.emplace_back("Saga-Operation", op);
  h.emplace_back("Saga-Attempt", std::to_string(cmd.attempt));
  h.emplace_back("Idempotency-Key",
                 header_safe(cmd.id + "/" + cmd.step + "/" + op));
  if (compensate)
    if (auto r = result_of(cmd); !r.empty())
      h.emplace_back("Saga-Result", std::move(r));
  return call;
}

http_verdict judge(const caf::expected<http_answer>& answer, bool compensate,
                   const std::string& what) {
  http_verdict v;
  if (!answer) {
    // Not sent at all (no connection, a full queue): nothing happened.
    if (!is(answer.error(), errc::outcome_unknown))
      v.reply = failed(true, what + ": " + describe(answer.error()));
    else
      v.unknown = make_error(errc::outcome_unknown,
                             what + ": " + describe(answer.error()));
    return v;
  }
  const auto status = answer->status;
  const auto& body = answer->body;
  if (status >= 200 && status < 300) {
    if (!body.empty() && !nlohmann::json::accept(body)) {
      v.unknown = make_error(errc::outcome_unknown,
                             what + " answered " + std::to_string(status)
                               + " with a body that is not JSON: "
                               + quoted(body));
      return v;
    }
    v.reply.ok = true;
    v.reply.result = body;
    return v;
  }
  if (status == 425) {
    v.still_working = true;
    v.wait = wait_of(answer->retry_after);
    return v;
  }
  auto why = what + " answered " + std::to_string(status);
  if (status >= 300 && status < 400)
    why += " (redirects are not followed)";
  if (!body.empty())
    why += ": " + quoted(body);
  // 409 alone says "nothing happened"; after anything else the service may
  // have acted, so the saga must not take it for a failure without effect.
  if (status == 409)
    v.reply = failed(compensate, std::move(why));
  else
    v.unknown = make_error(errc::outcome_unknown, std::move(why));
  return v;
}

} // namespace saga::detail
