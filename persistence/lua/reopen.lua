-- reopen.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Reopens a failed saga for an operator's retry: appends the
-- `saga_retried` event if the history's last event is `saga_failed` or
-- `saga_parked` and the event's seq follows it (a compare-and-set: of two
-- nodes reopening at once, one gets CONFLICT), takes the saga over for the
-- caller and stops its history and its barrier records from expiring
-- (the reopened saga's terminal append sets their TTL again). The entry
-- stores the
-- caller's token (field `owner`), as the append script's entries do.
--
-- KEYS[1] = the saga's stream, KEYS[2] = its owner key, KEYS[3] = its
-- barrier hash. ARGV: seq, owner token, retention seconds (unused: kept
-- for the call's shape), then the six
-- fields of the event. Returns the seq (negated: stored already).
local first = tonumber(ARGV[1])
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top == 0 then return redis.error_reply('UNKNOWN the saga has no history') end
local last = tonumber(string.match(top[1][1], '^0%-(%d+)$'))
if last >= first then
  local e = redis.call('XRANGE', KEYS[1], '0-' .. first, '0-' .. first)
  if #e == 1 and redis.call('GET', KEYS[2]) == ARGV[2] then
    local f = e[1][2]
    local same = true
    for i = 1, #f, 2 do
      if f[i] == 'type' and f[i + 1] ~= ARGV[4] then same = false end
      if f[i] == 'time' and f[i + 1] ~= ARGV[9] then same = false end
    end
    if same then return -first end
  end
  return redis.error_reply('CONFLICT the saga has ' .. last ..
                           ' events; the retry was for seq ' .. first)
end
if last + 1 ~= first then
  return redis.error_reply('CONFLICT the saga has ' .. last ..
                           ' events; the retry was for seq ' .. first)
end
local t = ''
local f = top[1][2]
for i = 1, #f, 2 do if f[i] == 'type' then t = f[i + 1] end end
if t ~= 'saga_failed' and t ~= 'saga_parked' then
  return redis.error_reply('NOTFAILED the saga has not failed (its last event is ' .. t .. ')')
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[3])
redis.call('XADD', KEYS[1], '0-' .. first, 'type', ARGV[4], 'step', ARGV[5],
           'attempt', ARGV[6], 'data', ARGV[7], 'error', ARGV[8],
           'time', ARGV[9], 'owner', ARGV[2])
return first
