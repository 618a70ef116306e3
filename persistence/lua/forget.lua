-- forget.lua: loaded by redis_directory.cpp (embedded at build time).
--
-- Deletes a dead node's record once nothing of it is left to adopt.
-- KEYS[1] = lease, KEYS[2] = record, KEYS[3] = unfinished index.
-- ARGV[1] = the epoch the caller saw dead.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
return 1
