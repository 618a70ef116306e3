-- barrier_record.lua: functions, not a script. redis_journal.cpp prepends
-- it to done.lua and append.lua when it loads them, so an outcome recorded
-- by the participant and one recorded with the saga's next append are
-- checked and written alike.
--
-- barrier_effects(args, i, field) reads the atomic effects of the outcome
-- of `field` from args[i] on: their count, then per effect its argument
-- count and arguments (the Redis command of a typed saga::effect, built by
-- redis_journal.cpp, which refuses an empty key before the call). Redis
-- does not roll back a script's earlier writes, so every effect is checked
-- here, before any runs: a known command with a valid number of arguments
-- (COMMAND GETKEYS). Returns the commands and the index after the last
-- argument read, or nil and an "EFFECT ..." error reply naming the effect.
local function barrier_effects(args, i, field)
  local cmds = {}
  i = i + 1
  for k = 1, tonumber(args[i - 1]) do
    local argc = tonumber(args[i])
    local cmd = {}
    for j = 1, argc do cmd[j] = args[i + j] end
    i = i + argc + 1
    if argc == 0 then
      return nil, redis.error_reply('EFFECT atomic effect ' .. k .. ' of '
                                    .. field .. ' is an empty command;'
                                    .. ' nothing was applied')
    end
    local keys = redis.pcall('COMMAND', 'GETKEYS', unpack(cmd))
    if type(keys) == 'table' and keys.err
       and not string.find(keys.err, 'no key arguments', 1, true) then
      return nil, redis.error_reply('EFFECT atomic effect ' .. k .. ' of '
                                    .. field .. " ('" .. cmd[1] .. "'): "
                                    .. keys.err .. '; nothing was applied')
    end
    cmds[k] = cmd
  end
  return cmds, i
end

-- barrier_record(key, field, record, cmds, ttl) runs the checked effects
-- `cmds`, then stores `record` in field `field` of the barrier hash `key`.
-- The effects run first: one that fails only when it runs (WRONGTYPE: the
-- key holds no hash; HINCRBY of a field that holds no integer, or an
-- overflow) ends the script before the record is written, leaving the
-- effects before it applied. A hash that took effects gets the retention
-- `ttl` (seconds) from now as its TTL, unless `ttl` is false (the saga's
-- own append, whose terminal append sets it).
local function barrier_record(key, field, record, cmds, ttl)
  for k = 1, #cmds do redis.call(unpack(cmds[k])) end
  redis.call('HSET', key, field, record)
  if #cmds > 0 and ttl then redis.call('EXPIRE', key, ttl) end
end
