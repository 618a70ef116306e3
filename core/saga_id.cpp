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

} // namespace

bool valid_saga_id(std::string_view id) noexcept {
  return !id.empty() && id.size() <= max_saga_id_bytes
         && std::all_of(id.begin(), id.end(), is_id_char);
}

caf::error check_saga_id(std::string_view id) {
  if (id.empty())
    return make_error(errc::invalid_id, "the saga id is empty");
  if (id.size() > max_saga_id_bytes)
    return make_error(errc::invalid_id,
                      "the saga id has " + std::to_string(id.size())
                        + " bytes; at most " + std::to_string(max_saga_id_bytes)
                        + " are allowed");
  auto bad = std::find_if_not(id.begin(), id.end(), is_id_char);
  if (bad != id.end())
    return make_error(errc::invalid_id,
                      "the saga id has a character other than letters, "
                      "digits, '.', '_', ':' and '-' at byte "
                        + std::to_string(bad - id.begin()));
  return caf::none;
}

caf::error check_business_key(std::string_view key) {
  if (key.empty())
    return make_error(errc::invalid_id, "the business key is empty");
  if (key.size() > max_saga_id_bytes)
    return make_error(errc::invalid_id,
                      "the business key has " + std::to_string(key.size())
                        + " bytes; at most " + std::to_string(max_saga_id_bytes)
                        + " are allowed");
  auto bad = std::find_if(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (bad != key.end())
    return make_error(errc::invalid_id,
                      "the business key has a control character at byte "
                        + std::to_string(bad - key.begin()));
  return caf::none;
}

} // namespace saga
