-- done.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Records the outcome of a claimed participant operation, only if the
-- claim is still the caller's: a participant that hung (SIGSTOP) past its
-- saga's timeout and wakes after another node re-claimed and finished the
-- operation must neither apply its effects again nor erase that record.
--
-- KEYS[1] = the saga's barrier hash. ARGV: field, "R:<token>", the record
-- ("" for a failure: the claim is dropped), retention seconds, effect
-- count, then per effect its argument count and arguments: the Redis
-- command of a typed saga::effect (HSET, HSETNX, HDEL key field, HINCRBY,
-- DEL key), built by redis_journal.cpp, which refuses an empty key before
-- the call. The effects are checked and run, and the record written, by
-- the functions of barrier_record.lua (prepended when loaded): a bad
-- effect fails the call with "EFFECT ..." before any effect ran; one that
-- fails when it runs leaves nothing recorded, and a retry claims and runs
-- the handler again. Returns 1, or 0 when the claim is no longer the
-- caller's.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
local cmds, err = barrier_effects(ARGV, 5, ARGV[1])
if not cmds then return err end
barrier_record(KEYS[1], ARGV[1], ARGV[3], cmds, ARGV[4])
return 1
