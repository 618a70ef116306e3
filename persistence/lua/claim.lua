-- claim.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Decides a participant operation for the barrier (see barrier_verdict)
-- and records the claim, refusal or null compensation atomically.
--
-- KEYS[1] = the saga's barrier hash. ARGV: step, op ("x" execute, "c"
-- compensate), claim token, ttl seconds, refusal reply, null-compensation
-- reply. Field "<step>/x" or "<step>/c" holds "R:<token>" while claimed and
-- "D<ok>:<reply>" when done. A claim that is not done yet (its claimant
-- died, or this is a resent claim) is simply claimed again: the handler
-- runs at least once. Returns {verdict, stored reply}.
local xf = ARGV[1] .. '/x'
local cf = ARGV[1] .. '/c'
local uf = ARGV[1] .. '/u'
local xc = redis.call('HMGET', KEYS[1], xf, cf, uf)
local x = xc[1]
local c = xc[2]
local revoked = xc[3]
local function put(f, v)
  -- A new hash gets the retention as its TTL; later fields keep it.
  if redis.call('HSET', KEYS[1], f, v) == 1 and redis.call('TTL', KEYS[1]) < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[4])
  end
end
local mine = x
local mf = xf
if ARGV[2] == 'c' then mine = c; mf = cf end
if ARGV[2] == 'x' and c then
  if not x or string.sub(x, 1, 1) ~= 'D' then
    x = 'D0:' .. ARGV[5]
    put(xf, x)
  end
  return {'refused', string.sub(x, 4)}
end
if mine and string.sub(mine, 1, 1) == 'D' then
  return {'duplicate', string.sub(mine, 4)}
end
-- A failed execute attempt is remembered with its number ("F<n>:<reply>"):
-- a copy of attempt n or an earlier one (delayed, duplicated, re-sent) gets
-- the same failure without running, so it cannot take effect after the
-- saga was told nothing happened; a later attempt (a retry) runs.
if ARGV[2] == 'x' and x and string.sub(x, 1, 1) == 'F' then
  local n, rep = string.match(x, '^F(%d+):(.*)$')
  local a = tonumber(string.match(ARGV[3], '^(%d+):'))
  if n and a and a <= tonumber(n) then return {'duplicate', rep} end
end
if ARGV[2] == 'c' and not revoked
   and (not x or string.sub(x, 1, 2) == 'D0' or string.sub(x, 1, 1) == 'F') then
  put(cf, 'D1:' .. ARGV[6])
  return {'null_compensated', ARGV[6]}
end
put(mf, 'R:' .. ARGV[3])
if ARGV[2] == 'c' and string.sub(x, 1, 1) == 'R' then
  -- An execute still claimed (its attempt crashed, hung or was cut off)
  -- is revoked: it can never record its outcome or apply its atomic
  -- effects now. The compensation runs, told so, and so do its retries
  -- (the "/u" mark).
  put(xf, 'D0:' .. ARGV[5])
  put(uf, '1')
  return {'proceed', '', 'unrecorded'}
end
if ARGV[2] == 'c' and revoked then return {'proceed', '', 'unrecorded'} end
return {'proceed', ''}
