#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "saga/json.hpp"

namespace saga::detail {

/// The deepest nesting of arrays and objects caf-saga accepts in JSON from
/// outside: definitions (rt.execute, a gateway's run, a journal's
/// saga_started) and step payloads and results. nlohmann::json parses and
/// destroys iteratively, but copies, compares and dumps recursively, one
/// stack frame per level: 100,000 nested arrays (200 KB of text) overflow a
/// thread's stack. Real payloads nest a handful of levels.
constexpr size_t max_json_depth = 256;

/// Returns whether `x` nests arrays and objects deeper than `max` levels
/// (a scalar has depth 0, `[]` depth 1). Iterative: safe on any input.
inline bool nests_deeper_than(const json& x, size_t max) {
  std::vector<std::pair<const json*, size_t>> todo{{&x, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured())
      continue;
    if (depth + 1 > max)
      return true;
    for (const auto& child : *v)
      if (child.is_structured())
        todo.emplace_back(&child, depth + 1);
  }
  return false;
}

} // namespace saga::detail
