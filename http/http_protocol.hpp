#pragma once

// The protocol between caf-saga and a service taking part over HTTP
// (docs/http-participants.md): the request a step operation becomes, and
// what its answer means. Pure functions, thread-safe.

#include <chrono>
#include <string>

#include <caf/expected.hpp>

#include "http/http_client.hpp"
#include "http/http_url.hpp"
#include "saga/http_participant.hpp"
#include "saga/messages.hpp"

namespace saga::detail {

/// Bytes of the execute's result sent to a compensation in the
/// `Saga-Result` header at most: a larger result is left out (the header
/// says `omitted`), since servers refuse header blocks of more than 8-16 KB.
constexpr size_t result_header_bytes_max = 4 * 1024;

/// Returns the endpoint of `action` for an execute or a compensation: its
/// route, or `POST /<action>` and `POST /<action>/compensate`.
http_endpoint endpoint_of(const http_participant_config& cfg,
                          const std::string& action, bool compensate);

/// Returns the request for `cmd`: the endpoint (the command's own, else
/// `endpoint_of` its action) with its method and path below
/// `origin`'s prefix, the payload as the body, the configured headers and
/// the saga's: `Saga-Id`, `Saga-Name`, `Saga-Step`, `Saga-Operation`
/// (`execute`/`compensate`), `Saga-Attempt`, `Idempotency-Key`
/// (`<saga id>/<step>/<operation>`, the same for every attempt) and, for a
/// compensation, `Saga-Result` (the execute's result). Values are
/// percent-encoded where they hold bytes outside printable ASCII. An
/// `errc::invalid_url` error if the command's endpoint is malformed.
caf::expected<http_call> make_call(const step_command& cmd, bool compensate,
                                   const http_participant_config& cfg,
                                   const http_url& origin);

/// What an answer means for the step.
struct http_verdict {
  /// The service is still working (425): ask again after `wait`, without
  /// counting an attempt.
  bool still_working = false;
  std::chrono::milliseconds wait{0};
  /// Otherwise, when the service may have acted but said nothing usable
  /// (no complete answer, a status other than 2xx, 409 and 425, a 2xx body
  /// that is not JSON): an `errc::outcome_unknown` error for the saga,
  /// which retries the operation or, out of attempts, compensates it.
  caf::error unknown;
  /// Otherwise: the reply for the saga.
  step_reply reply;
};

/// Returns what `answer` (or the error that stood in its place) means for
/// an execute or a compensation of the request described by `what`
/// (e.g. "POST http://host:80/charge"): 2xx done (the body, JSON or empty,
/// is the result); 409 failed without effect (an execute is not retried; a
/// compensation is); 425 still working; anything else, and no answer to a
/// request that was sent, an unknown outcome (retried under the step's
/// policy); a request that could not be sent, a retryable failure.
http_verdict judge(const caf::expected<http_answer>& answer, bool compensate,
                   const std::string& what);

/// Returns `value` with every byte outside printable ASCII, and '%',
/// written as `%XX`: safe in a header value.
std::string header_safe(const std::string& value);

} // namespace saga::detail
