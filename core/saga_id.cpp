#include "saga/saga_id.hpp"

#include <algorithm>
#include <string>

#include "saga/errc.hpp"

namespace saga {

namespace {

bool is_id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
         || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':'
         || c == '-';
}

bool is_control_char(char c) noexcept {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

/// Returns an `errc::invalid_id` error naming `what` (e.g. "the saga id")
/// when `text` is empty, too long, or has a byte for which `bad_char` holds
/// (`bad_char_text` says what such a byte is), or none.
template <class Predicate>
caf::error check_text(std::string_view text, const char* what,
                      Predicate bad_char, const char* bad_char_text) {
  if (text.empty())
    return make_error(errc::invalid_id, std::string{what} + " is empty");
  if (text.size() > max_saga_id_bytes)
    return make_error(errc::invalid_id,
                      std::string{what} + " has " + std::to_string(text.size())
                        + " bytes; at most " + std::to_string(max_saga_id_bytes)
                        + " are allowed");
  auto bad = std::find_if(text.begin(), text.end(), bad_char);
  if (bad != text.end())
    return make_error(errc::invalid_id, std::string{what} + " has "
                                          + bad_char_text + " at byte "
                                          + std::to_string(bad - text.begin()));
  return caf::none;
}

} // namespace

bool valid_saga_id(std::string_view id) noexcept {
  return !id.empty() && id.size() <= max_saga_id_bytes
         && std::all_of(id.begin(), id.end(), is_id_char);
}

caf::error check_saga_id(std::string_view id) {
  return check_text(
    id, "the saga id", [](char c) { return !is_id_char(c); },
    "a character other than letters, digits, '.', '_', ':' and '-'");
}

caf::error check_business_key(std::string_view key) {
  return check_text(key, "the business key", is_control_char,
                    "a control character");
}

} // namespace saga
