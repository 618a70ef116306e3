-- count.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Counts a saga's start and end in `saga:counts` exactly once, however
-- often it is called: a call whose reply was lost is simply sent again, and
-- recovery repeats what a dead writer may or may not have sent. The marker
-- set KEYS[2] (`{saga:counts}:seen`, in the slot of KEYS[1]) remembers per
-- saga what was counted: score 0 its start, its end time (ms, > 0) its end.
--
-- KEYS[1] = `saga:counts`, KEYS[2] = the marker set. ARGV: operation, saga
-- id, definition, and for `ended` the end state and time (ms, > 0).
-- - `started`: counts `started:<def>` unless marked.
-- - `ended`: unless its end is marked, marks it and counts `<state>:<def>`,
-- and `started:<def>` too if its start was not marked (never counted).
-- - `reopened` (an operator's retry of a failed saga): if its end is
-- marked, marks it open again and counts `failed:<def>` -1.
-- - `resumed` (recovery resumes it; it has not ended): `reopened` if its
-- end is marked (its reopen was not counted), else `started`.
-- Returns 1 if it counted, 0 if there was nothing to count.
local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
if score then score = tonumber(score) end
local op = ARGV[1]
local function count(state, by)
  redis.call('HINCRBY', KEYS[1], state .. ':' .. ARGV[3], by)
end
if op == 'resumed' then
  if score and score > 0 then op = 'reopened' else op = 'started' end
end
if op == 'started' then
  if score then return 0 end
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
  count('started', 1)
  return 1
elseif op == 'ended' then
  if score and score > 0 then return 0 end
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
  if not score then count('started', 1) end
  count(ARGV[4], 1)
  return 1
elseif op == 'reopened' then
  if not score or score == 0 then return 0 end
  redis.call('ZADD', KEYS[2], 'XX', 0, ARGV[2])
  count('failed', -1)
  return 1
end
return redis.error_reply('COUNT unknown operation ' .. tostring(op))
