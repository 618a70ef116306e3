#pragma once

#include <caf/error.hpp>

#include "cluster/fault_injection.hpp"
#include "saga/node.hpp"

namespace saga::detail {

/// The test hook that turns on a node's fault injection (chaos campaigns:
/// saga_node's --chaos-* options, docs/chaos.md). Not installed, not part
/// of the API: `saga::node` names it only as a friend.
struct node_fault_injection {
  /// Makes the stand-ins that `n` starts for participants on other nodes
  /// inject `faults` (see `fault_injection`). Call before `n.start()`.
  /// Returns `faults.validate()`'s error, or `errc::invalid_state` once `n`
  /// has started; `n` is unchanged then.
  static caf::error set(node& n, fault_injection faults);
};

} // namespace saga::detail
