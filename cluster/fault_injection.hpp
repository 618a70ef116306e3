#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include <caf/error.hpp>

namespace saga::detail {

/// Fault injection for chaos campaigns (scripts/chaos.sh, docs/chaos.md):
/// step commands a node forwards to participants on other nodes are sent
/// twice or late, as a network that retransmits and reorders would. The
/// participant barrier must make both harmless. Off by default (both rates
/// 0); off, it costs one branch per forwarded command. A test hook, not
/// part of the installed API: a node takes it through
/// node/fault_injection.hpp (saga_node's --chaos-* options).
struct fault_injection {
  /// Probability that a forwarded command, once sent, is sent a second
  /// time after a delay drawn uniformly from [0, max_delay] (possibly to
  /// another node hosting the participant); the copy's reply is dropped.
  /// A command answered "no route" was never sent and is not copied.
  double duplicate_rate = 0.0;
  /// Probability that a forwarded command leaves only after a delay
  /// drawn uniformly from [0, max_delay].
  double delay_rate = 0.0;
  std::chrono::milliseconds max_delay{0};
  /// Seed of these random choices; each stand-in mixes in the name of
  /// its participant.
  uint64_t seed = 0;
  /// Called for every injected fault, on the stand-in's thread:
  /// `duplicated` is true for a copy sent, false for a command delayed.
  /// Optional; must not block.
  std::function<void(bool duplicated)> on_injected;

  bool enabled() const noexcept {
    return duplicate_rate > 0 || delay_rate > 0;
  }

  /// Returns an `errc::invalid_config` error naming the first bad setting
  /// (a rate outside [0, 1], a negative `max_delay`).
  caf::error validate() const;
};

} // namespace saga::detail
