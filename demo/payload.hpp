#pragma once

// Reading the demo participants' payloads: a missing or mistyped field
// reads as empty (the handler then refuses the request by its own rules).

#include <cstdint>
#include <string>

#include <saga/json.hpp>

namespace demo {

/// Returns the string field `key` of `payload`, or "".
inline std::string text(const saga::json& payload, const char* key) {
  auto i = payload.find(key);
  return i != payload.end() && i->is_string() ? i->get<std::string>() : "";
}

/// Returns the integer field `key` of `payload`, or 0.
inline int64_t number(const saga::json& payload, const char* key) {
  auto i = payload.find(key);
  return i != payload.end() && i->is_number_integer() ? i->get<int64_t>() : 0;
}

} // namespace demo
