#pragma once

#include <memory>

#include "saga/runtime.hpp"

namespace saga::detail {

class directory;

/// What the layers above the engine (the node: its gateway and membership)
/// need from a `saga::runtime` beyond its public API. Not installed: the
/// runtime's members stay in actors/runtime.cpp (`runtime::impl`).
struct runtime_access {
  /// Returns the directory of `rt`'s current incarnations (never null).
  static std::shared_ptr<directory> directory_of(const runtime& rt);
};

} // namespace saga::detail
