-- trim.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Removes up to ARGV[3] entries scored from ARGV[1] to ARGV[2] (ZRANGEBYSCORE
-- bounds: "(" excludes) from the sorted set KEYS[1] (one key per call: the
-- ended indexes live in different hash slots). Returns how many it removed.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2],
                       'LIMIT', 0, tonumber(ARGV[3]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return #ids
