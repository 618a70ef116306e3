-- barrier_claim.lua: a function, not a script. redis_journal.cpp prepends
-- it to claim.lua and append.lua when it loads them, so a participant's own
-- claim and a claim made with the saga's append decide alike.
--
-- barrier_claim(key, step, op, token, ttl, refusal, nullcomp) decides a
-- participant operation for the barrier (see barrier_verdict) and records
-- the claim, refusal or null compensation in the saga's barrier hash `key`.
-- op: "x" execute, "c" compensate; token: the claim token; ttl: retention
-- seconds that a hash this call creates gets as its TTL, or false for none
-- (the saga's own append: its terminal append sets the hash's TTL with the
-- history's, so records last as long as the saga runs and the retention
-- after it ended); refusal and nullcomp: the replies recorded for a refused
-- execute and a null compensation. Field "<step>/x" or "<step>/c" holds
-- "R:<token>" while claimed and "D<ok>:<reply>" when done. A claim that is
-- not done yet (its claimant died, or this is a resent claim) is simply
-- claimed again: the handler runs at least once. Returns {verdict, stored
-- reply} and, for a compensation that revoked a claimed execute, a third
-- element 'unrecorded'.
local function barrier_claim(key, step, op, token, ttl, refusal, nullcomp)
  local xf = step .. '/x'
  local cf = step .. '/c'
  local uf = step .. '/u'
  local xc = redis.call('HMGET', key, xf, cf, uf)
  local x = xc[1]
  local c = xc[2]
  local revoked = xc[3]
  local function put(f, v)
    -- A new hash gets the retention as its TTL; later fields keep it.
    if redis.call('HSET', key, f, v) == 1 and ttl
       and redis.call('TTL', key) < 0 then
      redis.call('EXPIRE', key, ttl)
    end
  end
  local mine = x
  local mf = xf
  if op == 'c' then mine = c; mf = cf end
  if op == 'x' and c then
    if not x or string.sub(x, 1, 1) ~= 'D' then
      x = 'D0:' .. refusal
      put(xf, x)
    end
    return {'refused', string.sub(x, 4)}
  end
  if mine and string.sub(mine, 1, 1) == 'D' then
    return {'duplicate', string.sub(mine, 4)}
  end
  -- A failed execute attempt is remembered with its number ("F<n>:<reply>"):
  -- a copy of attempt n or an earlier one (delayed, duplicated, re-sent)
  -- gets the same failure without running, so it cannot take effect after
  -- the saga was told nothing happened; a later attempt (a retry) runs.
  if op == 'x' and x and string.sub(x, 1, 1) == 'F' then
    local n, rep = string.match(x, '^F(%d+):(.*)$')
    local a = tonumber(string.match(token, '^(%d+):'))
    if n and a and a <= tonumber(n) then return {'duplicate', rep} end
  end
  if op == 'c' and not revoked
     and (not x or string.sub(x, 1, 2) == 'D0' or string.sub(x, 1, 1) == 'F') then
    put(cf, 'D1:' .. nullcomp)
    return {'null_compensated', nullcomp}
  end
  put(mf, 'R:' .. token)
  if op == 'c' and string.sub(x, 1, 1) == 'R' then
    -- An execute still claimed (its attempt crashed, hung or was cut off)
    -- is revoked: it can never record its outcome or apply its atomic
    -- effects now. The compensation runs, told so, and so do its retries
    -- (the "/u" mark).
    put(xf, 'D0:' .. refusal)
    put(uf, '1')
    return {'proceed', '', 'unrecorded'}
  end
  if op == 'c' and revoked then return {'proceed', '', 'unrecorded'} end
  return {'proceed', ''}
end
