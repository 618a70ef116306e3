#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace saga {

/// One write to a hash (or the removal of a key) that a step handler wants
/// applied atomically with the participant barrier's record of its outcome
/// (see `step_outcome::atomically`): exactly-once effects for state kept in
/// the journal's store. A value type; make one with the factories below.
/// Both journals apply the same set: the Redis journal runs each effect as
/// the Redis command named below, the memory journal applies it to its own
/// hashes with the same semantics.
///
/// Key placement: every key must live on the journal's Redis: one server,
/// or, under Redis Cluster, the hash slot of the saga's barrier hash
/// (`saga:{<id>}:barrier`), e.g. a key with the hash tag `{<saga id>}`.
/// A key in another slot fails the record with Redis' CROSSSLOT error.
///
/// An effect with an empty key is refused by both journals before any
/// effect of its batch runs (`errc::invalid_config`, naming the effect).
class effect {
public:
  /// What an effect does.
  enum class kind : uint8_t {
    /// `HSET key field value`: sets the field.
    hset = 1,
    /// `HSETNX key field value`: sets the field unless it exists.
    hsetnx = 2,
    /// `HDEL key field`: removes the field (a hash left empty vanishes).
    hdel = 3,
    /// `HINCRBY key field by`: adds `by` to the field's 64-bit integer
    /// (0 if absent); fails if the field holds no integer or the sum
    /// overflows.
    incr_by = 4,
    /// `DEL key`: removes the key.
    del = 5,
  };

  /// Sets `field` of hash `key` to `value` (HSET).
  static effect hset(std::string key, std::string field, std::string value) {
    return {kind::hset, std::move(key), std::move(field), std::move(value), 0};
  }

  /// Sets `field` of hash `key` to `value` unless the field exists (HSETNX).
  static effect hsetnx(std::string key, std::string field, std::string value) {
    return {kind::hsetnx, std::move(key), std::move(field), std::move(value),
            0};
  }

  /// Removes `field` from hash `key` (HDEL).
  static effect hdel(std::string key, std::string field) {
    return {kind::hdel, std::move(key), std::move(field), {}, 0};
  }

  /// Adds `by` (negative: subtracts) to the integer in `field` of hash `key`
  /// (HINCRBY).
  static effect incr_by(std::string key, std::string field, int64_t by) {
    return {kind::incr_by, std::move(key), std::move(field), {}, by};
  }

  /// Removes `key`, whatever it holds (DEL).
  static effect del(std::string key) {
    return {kind::del, std::move(key), {}, {}, 0};
  }

  /// An empty effect (no kind, no key): refused by the journals. Exists for
  /// deserialization; use the factories.
  effect() = default;

  kind what() const noexcept {
    return kind_;
  }

  const std::string& key() const noexcept {
    return key_;
  }

  /// The hash field (empty for `del`).
  const std::string& field() const noexcept {
    return field_;
  }

  /// The value of `hset` and `hsetnx` (empty otherwise).
  const std::string& value() const noexcept {
    return value_;
  }

  /// The increment of `incr_by` (0 otherwise).
  int64_t by() const noexcept {
    return by_;
  }

  friend bool operator==(const effect& x, const effect& y) noexcept {
    return x.kind_ == y.kind_ && x.key_ == y.key_ && x.field_ == y.field_
           && x.value_ == y.value_ && x.by_ == y.by_;
  }

  friend bool operator!=(const effect& x, const effect& y) noexcept {
    return !(x == y);
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, effect& x) {
    return f(caf::meta::type_name("saga::effect"), x.kind_, x.key_, x.field_,
             x.value_, x.by_);
  }

private:
  effect(kind k, std::string key, std::string field, std::string value,
         int64_t by)
    : kind_(k),
      key_(std::move(key)),
      field_(std::move(field)),
      value_(std::move(value)),
      by_(by) {
    // nop
  }

  kind kind_ = static_cast<kind>(0);
  std::string key_;
  std::string field_;
  std::string value_;
  int64_t by_ = 0;
};

/// Returns the name of `k` as in the factories ("hset", ..., "incr_by",
/// "del"), or "unknown" for a value outside `effect::kind`.
inline const char* to_string(effect::kind k) noexcept {
  switch (k) {
    case effect::kind::hset: return "hset";
    case effect::kind::hsetnx: return "hsetnx";
    case effect::kind::hdel: return "hdel";
    case effect::kind::incr_by: return "incr_by";
    case effect::kind::del: return "del";
  }
  return "unknown";
}

} // namespace saga
