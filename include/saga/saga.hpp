#pragma once

/// caf-saga: all-or-nothing business operations across actors and nodes.
/// Include this header for the whole public API.

#include "saga/coordinator.hpp"
#include "saga/definition.hpp"
#include "saga/effect.hpp"
#include "saga/errc.hpp"
#include "saga/event.hpp"
#include "saga/gateway.hpp"
#include "saga/json.hpp"
#include "saga/lifecycle.hpp"
#include "saga/metrics.hpp"
#include "saga/node.hpp"
#include "saga/participant.hpp"
#include "saga/replay.hpp"
#include "saga/retry_policy.hpp"
#include "saga/runtime.hpp"
#include "saga/runtime_config.hpp"
#include "saga/saga_id.hpp"
#include "saga/saga_result.hpp"
#include "saga/status.hpp"
#include "saga/step_context.hpp"
#include "saga/step_outcome.hpp"
#include "saga/supervisor.hpp"

// The journal's interface (saga/journal/): what a journal implementation
// answers, and the journals this library ships (make_journal).
#include "saga/journal/journal.hpp"
