-- trim.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Removes up to ARGV[3] entries scored from ARGV[1] to ARGV[2] (ZRANGEBYSCORE
-- bounds: "(" excludes) from the sorted set KEYS[1] (one key per call: the
-- ended indexes live in different hash slots), and the same members from
-- KEYS[2] if given (the id index, beside the marker set in its slot).
-- Returns how many it removed.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2],
                       'LIMIT', 0, tonumber(ARGV[3]))
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
  if KEYS[2] then redis.call('ZREM', KEYS[2], unpack(ids)) end
end
return #ids
