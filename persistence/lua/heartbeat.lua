-- heartbeat.lua: loaded by redis_directory.cpp (embedded at build time).
--
-- Takes or extends a node's lease and refreshes its record, atomically.
-- Both keys share the hash tag `{<id>}`, so this also runs on a cluster.
--
-- KEYS[1] = lease, KEYS[2] = record. ARGV: epoch, lease ms, host, port,
-- coordinates (0/1), participants (JSON array), admin ("host:port" or "").
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 'replaced' end
-- A newer incarnation registered and its lease ran out since: still newer.
local rec = redis.call('HGET', KEYS[2], 'epoch')
if rec and tonumber(rec) > tonumber(ARGV[1]) then return 'replaced' end
local status = 'held'
if cur ~= ARGV[1] then status = 'taken' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'host', ARGV[3], 'port',
           ARGV[4], 'coordinates', ARGV[5], 'participants', ARGV[6],
           'admin', ARGV[7])
return status
