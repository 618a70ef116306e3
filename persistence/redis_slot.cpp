#include "persistence/redis_slot.hpp"

#include <array>

namespace saga {

namespace {

/// The CRC16 of Redis Cluster: CCITT polynomial 0x1021, initial value 0,
/// no reflection (XMODEM), one table lookup per byte.
constexpr std::array<uint16_t, 256> make_crc16_table() {
  std::array<uint16_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    auto crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = static_cast<uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021
                                                      : crc << 1);
    table[i] = crc;
  }
  return table;
}

constexpr auto crc16_table = make_crc16_table();

uint16_t crc16(std::string_view bytes) noexcept {
  uint16_t crc = 0;
  for (unsigned char c : bytes)
    crc = static_cast<uint16_t>((crc << 8)
                                ^ crc16_table[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

} // namespace

uint16_t redis_key_slot(std::string_view key) noexcept {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<uint16_t>(crc16(key) % redis_slot_count);
}

} // namespace saga
