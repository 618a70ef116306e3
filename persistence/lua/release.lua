-- release.lua: loaded by redis_directory.cpp (embedded at build time).
--
-- Deletes our lease if we still hold it. KEYS[1] = lease, ARGV[1] = epoch.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
