-- append.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Appends a batch to a saga's stream atomically. The stream entry ID of the
-- event with seq N is `0-N`, so Redis itself keeps the order; the script
-- also refuses gaps and overlaps, and accepts a retry of a batch that
-- already landed (same first event). Fencing: the first batch records the
-- writer's owner token ("<node>/<epoch>"); every later batch must come
-- from that owner, which changes only when another node adopts the saga.
-- Every entry stores the token it was written under (field `owner`), so
-- fencing can be audited from the history alone.
--
-- With the events it can claim participant operations that the batch's
-- intent sends to participants of the same Redis (pre-claims): the
-- barrier claim of each (barrier_claim.lua, prepended when loaded) runs in
-- the same atomic call, so the participant needs no claim round trip.
--
-- KEYS[1] = the saga's stream, KEYS[2] = its owner key, and with
-- pre-claims KEYS[3] = its barrier hash (all in the saga's slot).
-- ARGV: first seq, event count, retention seconds, terminal (0/1), owner
-- token, then six fields per event: type, step, attempt, data, error, time;
-- with pre-claims then the refusal and null-compensation replies and three
-- fields per pre-claim: step, op ("x"/"c"), claim token.
-- Returns the last seq, negated for a batch that was stored already (a
-- retry after a lost reply: nothing is claimed then, the participants
-- claim themselves). With pre-claims a fresh batch returns {last seq,
-- verdict 1, verdict 2, ...}, each verdict as barrier_claim returns it.
local first = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[5] then
  return redis.error_reply('FENCED the saga is owned by ' .. owner ..
                           ', not by ' .. ARGV[5])
end
if not owner and first ~= 1 then
  return redis.error_reply('FENCED the saga has no owner record')
end
-- The entries are 0-1 .. 0-<last> without gaps (this script and the reopen
-- script only ever add the next seq; nothing deletes single entries), so
-- the stream's length is its last seq: XLEN answers in O(1) without
-- copying the last entry's fields into Lua as XREVRANGE did.
local last = redis.call('XLEN', KEYS[1])
if last >= first + n - 1 then
  local e = redis.call('XRANGE', KEYS[1], '0-' .. first, '0-' .. first)
  if #e == 1 then
    local f = e[1][2]
    local same = true
    for i = 1, #f, 2 do
      if f[i] == 'type' and f[i + 1] ~= ARGV[6] then same = false end
      if f[i] == 'step' and f[i + 1] ~= ARGV[7] then same = false end
      if f[i] == 'attempt' and f[i + 1] ~= ARGV[8] then same = false end
      if f[i] == 'time' and f[i + 1] ~= ARGV[11] then same = false end
    end
    if same then return -(first + n - 1) end
  end
end
if last + 1 ~= first then
  return redis.error_reply('CONFLICT the saga has ' .. last ..
                           ' events; the batch starts at seq ' .. first)
end
if not owner then
  redis.call('SET', KEYS[2], ARGV[5])
elseif first == 1 then
  -- Our own adoption walk planted this owner (with a TTL) while our first
  -- batch was on its way: the saga lives now, its owner must not expire.
  redis.call('PERSIST', KEYS[2])
end
for k = 0, n - 1 do
  local b = 6 + k * 6
  redis.call('XADD', KEYS[1], '0-' .. (first + k), 'type', ARGV[b],
             'step', ARGV[b + 1], 'attempt', ARGV[b + 2], 'data', ARGV[b + 3],
             'error', ARGV[b + 4], 'time', ARGV[b + 5], 'owner', ARGV[5])
end
if ARGV[4] == '1' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
if #KEYS < 3 then return first + n - 1 end
local out = {first + n - 1}
local c = 6 + n * 6
for k = c + 2, #ARGV - 2, 3 do
  out[#out + 1] = barrier_claim(KEYS[3], ARGV[k], ARGV[k + 1], ARGV[k + 2],
                                ARGV[3], ARGV[c], ARGV[c + 1])
end
return out
