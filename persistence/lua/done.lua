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
-- the call. Effects run before the record is written: if one fails (a
-- script error), nothing is recorded and a retry claims and runs the
-- handler again. Redis does not roll back a script's earlier writes, so
-- every effect is checked first (COMMAND GETKEYS: a known command with a
-- valid number of arguments) and a bad one fails the call with
-- "EFFECT ..." before any effect ran; an effect that fails only when it
-- runs (WRONGTYPE: the key holds no hash; HINCRBY of a field that holds no
-- integer, or an overflow) leaves the effects before it applied. Returns 1,
-- or 0 when the claim is no longer the caller's.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
local n = tonumber(ARGV[5])
local i = 6
local cmds = {}
for k = 1, n do
  local argc = tonumber(ARGV[i])
  local cmd = {}
  for j = 1, argc do cmd[j] = ARGV[i + j] end
  i = i + argc + 1
  if argc == 0 then
    return redis.error_reply('EFFECT atomic effect ' .. k
                             .. ' is an empty command; nothing was applied')
  end
  local keys = redis.pcall('COMMAND', 'GETKEYS', unpack(cmd))
  if type(keys) == 'table' and keys.err
     and not string.find(keys.err, 'no key arguments', 1, true) then
    return redis.error_reply('EFFECT atomic effect ' .. k .. " ('" .. cmd[1]
                             .. "'): " .. keys.err
                             .. '; nothing was applied')
  end
  cmds[k] = cmd
end
for k = 1, n do redis.call(unpack(cmds[k])) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if n > 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
