// demo/chaos/violations.hpp: the invariant violations a campaign found,
// grouped by invariant and by kind. Thread-safe: the watcher thread and the
// main thread add to the one instance the campaign owns.

#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace chaos {

/// The invariant violations found so far, grouped by invariant and by
/// kind (the message with every word that holds a digit blanked out, so
/// that one bug seen a thousand times is one line of the report).
class violations {
public:
  violations(uint64_t seed, std::string duration)
    : seed_(seed), duration_(std::move(duration)) {
  }

  /// Records a violation of `invariant`; prints the first three of a kind
  /// at once, with the command that reproduces the campaign.
  void add(const std::string& invariant, const std::string& what);

  /// Returns how many violations of `invariant` were found.
  size_t count(const std::string& invariant) const;

  /// Returns how many violations were found in all.
  size_t total() const;

  /// Returns, per kind of violation of `invariant`, how often it was seen
  /// and its first examples, the most frequent first.
  std::vector<std::pair<size_t, std::vector<std::string>>>
  kinds(const std::string& invariant) const;

private:
  static std::string kind_of(const std::string& what);

  struct kind {
    size_t count = 0;
    std::vector<std::string> examples;
  };

  uint64_t seed_;
  std::string duration_;
  mutable std::mutex mtx_;
  std::map<std::string, std::map<std::string, kind>> kinds_;
  std::map<std::string, size_t> counts_;
};

} // namespace chaos
