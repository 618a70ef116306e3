#include "persistence/effects.hpp"

#include <string_view>

#include "persistence/redis_journal.hpp"
#include "persistence/redis_slot.hpp"
#include "saga/errc.hpp"

namespace saga::detail {

std::string describe_effect(size_t n, const effect& x) {
  return "atomic effect " + std::to_string(n + 1) + " (" + to_string(x.what())
         + " on '" + x.key() + "')";
}

caf::error check_effects(const std::vector<effect>& effects) {
  for (size_t n = 0; n < effects.size(); ++n) {
    const auto& x = effects[n];
    if (std::string_view{to_string(x.what())} == "unknown")
      return make_error(errc::invalid_config,
                        "atomic effect " + std::to_string(n + 1)
                          + " has no known kind ("
                          + std::to_string(static_cast<int>(x.what()))
                          + "); nothing was applied");
    if (x.key().empty())
      return make_error(errc::invalid_config,
                        "atomic effect " + std::to_string(n + 1) + " ("
                          + to_string(x.what())
                          + ") has an empty key; nothing was applied");
  }
  return caf::error{};
}

caf::error check_effect_slots(const std::string& id,
                              const std::vector<effect>& effects) {
  const auto slot = redis_key_slot(redis_events_key(id));
  for (size_t n = 0; n < effects.size(); ++n)
    if (auto other = redis_key_slot(effects[n].key()); other != slot) {
      auto what = describe_effect(n, effects[n]);
      what += " writes slot " + std::to_string(other);
      what += ", saga '" + id + "' lives in slot " + std::to_string(slot);
      what += ": on a Redis Cluster an atomic effect may only write keys of "
              "its saga's slot (tag the key {";
      what += id;
      what += "}); nothing was applied";
      return make_error(errc::invalid_config, std::move(what));
    }
  return caf::error{};
}

std::vector<std::string> redis_command(const effect& x) {
  switch (x.what()) {
    case effect::kind::hset: return {"HSET", x.key(), x.field(), x.value()};
    case effect::kind::hsetnx: return {"HSETNX", x.key(), x.field(), x.value()};
    case effect::kind::hdel: return {"HDEL", x.key(), x.field()};
    case effect::kind::incr_by:
      return {"HINCRBY", x.key(), x.field(), std::to_string(x.by())};
    case effect::kind::del: return {"DEL", x.key()};
  }
  return {}; // refused by check_effects
}

} // namespace saga::detail
