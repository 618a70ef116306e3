#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace saga {

/// The life cycle of one saga instance.
///
/// pending -> running -> completed
///                    -> compensating -> compensated
///                                    -> failed (needs an operator)
enum class saga_status : uint8_t {
  pending,
  running,
  completed,
  compensating,
  compensated,
  failed,
};

/// The life cycle of one step of a saga.
///
/// pending -> executing -> completed -> compensating -> compensated
///                      -> failed   (-> compensating, if its outcome is
///                      unknown)
enum class step_status : uint8_t {
  pending,
  executing,
  completed,
  compensating,
  compensated,
  failed,
};

/// Returns the name of `x`, e.g. `"compensating"`.
std::string_view to_string(saga_status x) noexcept;

/// Returns the name of `x`, e.g. `"executing"`.
std::string_view to_string(step_status x) noexcept;

/// Returns the status named `name`, if any.
std::optional<saga_status> parse_saga_status(std::string_view name) noexcept;

/// Returns whether a saga in status `x` has ended for good.
constexpr bool is_terminal(saga_status x) noexcept {
  return x == saga_status::completed || x == saga_status::compensated
         || x == saga_status::failed;
}

} // namespace saga
