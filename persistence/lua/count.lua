-- count.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Counts sagas' starts and ends in `saga:counts` exactly once, however
-- often it is called: a call whose reply was lost is simply sent again, and
-- recovery repeats what a dead writer may or may not have sent. The marker
-- set KEYS[2] (`{saga:counts}:seen`, in the slot of KEYS[1]) remembers per
-- saga what was counted: score 0 its start, its end time (ms, > 0) its end.
--
-- The id index KEYS[3] (`{saga:counts}:ids`, all scores 0, ordered by id:
-- operators search it by id prefix) gets every saga whose marker is made;
-- its members leave with their ended markers (trim.lua).
--
-- KEYS[1] = `saga:counts`, KEYS[2] = the marker set, KEYS[3] = the id
-- index. ARGV: one or more
-- records, applied in order (a writer sends one call per pipeline for all
-- the sagas it counts): operation, saga id, definition, and for `ended`
-- also the end state and time (ms, > 0).
-- - `started`: counts `started:<def>` unless marked.
-- - `ended`: unless its end is marked, marks it and counts `<state>:<def>`,
-- and `started:<def>` too if its start was not marked (never counted).
-- - `reopened` (an operator's retry of a failed saga): if its end is
-- marked, marks it open again and counts `failed:<def>` -1.
-- - `resumed` (recovery resumes it; it has not ended): `reopened` if its
-- end is marked (its reopen was not counted), else `started`.
-- Returns how many records counted (0: there was nothing to count). A
-- malformed call (unknown operation, a record cut short) counts nothing.
local ops = {started = 3, ended = 5, reopened = 3, resumed = 3}
local i = 1
while i <= #ARGV do
  local width = ops[ARGV[i]]
  if not width then
    return redis.error_reply('COUNT unknown operation ' .. tostring(ARGV[i]))
  end
  if i + width - 1 > #ARGV then
    return redis.error_reply('COUNT record ' .. i .. ' is cut short')
  end
  i = i + width
end
local function apply(op, id, def, state, at)
  local score = redis.call('ZSCORE', KEYS[2], id)
  if score then score = tonumber(score) end
  local function count(name, by)
    redis.call('HINCRBY', KEYS[1], name .. ':' .. def, by)
  end
  if op == 'resumed' then
    if score and score > 0 then op = 'reopened' else op = 'started' end
  end
  if op == 'started' then
    if score then return 0 end
    redis.call('ZADD', KEYS[2], 0, id)
    redis.call('ZADD', KEYS[3], 0, id)
    count('started', 1)
    return 1
  elseif op == 'ended' then
    if score and score > 0 then return 0 end
    redis.call('ZADD', KEYS[2], at, id)
    if not score then
      redis.call('ZADD', KEYS[3], 0, id)
      count('started', 1)
    end
    count(state, 1)
    return 1
  end
  -- reopened
  if not score or score == 0 then return 0 end
  redis.call('ZADD', KEYS[2], 'XX', 0, id)
  count('failed', -1)
  return 1
end
local counted = 0
i = 1
while i <= #ARGV do
  local op = ARGV[i]
  counted = counted + apply(op, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
  i = i + ops[op]
end
return counted
