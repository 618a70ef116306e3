// Redis Cluster hash slots: the values the cluster specification gives, and
// its hash-tag rules. tests/redis_cluster_test.cpp checks them against a
// real cluster's CLUSTER KEYSLOT.

#include "persistence/redis_slot.hpp"

#include <gtest/gtest.h>

namespace saga {
namespace {

TEST(redis_slot, crc16_of_the_specification) {
  // The cluster specification's test vector: CRC16("123456789") = 0x31C3.
  EXPECT_EQ(redis_key_slot("123456789"), 0x31C3 % redis_slot_count);
  EXPECT_EQ(redis_key_slot(""), 0);
  EXPECT_LT(redis_key_slot("\xff\xfe"), redis_slot_count);
}

TEST(redis_slot, a_hash_tag_decides_the_slot) {
  EXPECT_EQ(redis_key_slot("{user1000}.following"),
            redis_key_slot("{user1000}.followers"));
  EXPECT_EQ(redis_key_slot("{user1000}.following"), redis_key_slot("user1000"));
  // The first '{' and the first '}' after it; an empty tag hashes it all.
  EXPECT_EQ(redis_key_slot("foo{{bar}}zap"), redis_key_slot("{bar"));
  EXPECT_EQ(redis_key_slot("foo{bar}{zap}"), redis_key_slot("bar"));
  EXPECT_NE(redis_key_slot("foo{}{bar}"), redis_key_slot("bar"));
  EXPECT_EQ(redis_key_slot("foo{}{bar}"),
            redis_key_slot("foo{}{bar}")); // the whole key
  EXPECT_NE(redis_key_slot("no-close{abc"), redis_key_slot("abc"));
}

} // namespace
} // namespace saga
