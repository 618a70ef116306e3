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
-- With the events it can record the outcomes of operations it pre-claimed
-- before (the participant answered the saga and left the record to this
-- append: done.lua's work, in the same atomic call, with the functions of
-- barrier_record.lua) and claim participant operations that the batch's
-- intent sends to participants of the same Redis (pre-claims:
-- barrier_claim.lua; both files are prepended when loaded), so the
-- participant needs neither a claim nor a record round trip.
--
-- KEYS[1] = the saga's stream, KEYS[2] = its owner key, and with
-- outcomes, pre-claims or a terminal event KEYS[3] = its barrier hash (all
-- in the saga's slot): the records and claims made here set no TTL, the
-- terminal append gives the hash the history's. ARGV: first seq, event count, retention seconds, terminal (0/1),
-- owner token, then six fields per event: type, step, attempt, data,
-- error, time; with KEYS[3] then the refusal and null-compensation
-- replies, the pre-claim count and three fields per pre-claim: step, op
-- ("x"/"c"), claim token; then the outcome count and per outcome its
-- field ("<step>/x"), the claim it needs ("R:<token>"), the record to
-- store, its effect count and per effect its argument count and
-- arguments (as done.lua takes them).
-- Every check comes before any write: an outcome whose claim is no longer
-- its token's fails the call with "CONFLICT ..." and a bad effect with
-- "EFFECT ...", nothing written. The effects run before the events are
-- added, so an effect that fails only when it runs (WRONGTYPE) leaves no
-- event saying the step succeeded.
-- Returns the last seq, negated for a batch that was stored already (a
-- retry after a lost reply: nothing is recorded or claimed then; its
-- outcomes landed with it, the participants claim themselves). With
-- KEYS[3] a fresh batch returns {last seq, verdict 1, verdict 2, ...},
-- each pre-claim's verdict as barrier_claim returns it.
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
-- The outcomes: checked whole, then applied before the events.
local outcomes = {}
local pre = 6 + n * 6 + 2
if #KEYS >= 3 then
  local i = pre + 1 + tonumber(ARGV[pre]) * 3
  local count = tonumber(ARGV[i])
  i = i + 1
  for k = 1, count do
    local field, claim, record = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if redis.call('HGET', KEYS[3], field) ~= claim then
      return redis.error_reply('CONFLICT the claim of ' .. field ..
                               ' is no longer ' .. string.sub(claim, 3) ..
                               '; its outcome was not recorded')
    end
    local cmds, next_or_err = barrier_effects(ARGV, i + 3, field)
    if not cmds then return next_or_err end
    i = next_or_err
    outcomes[k] = {field, record, cmds}
  end
end
for k = 1, #outcomes do
  local o = outcomes[k]
  barrier_record(KEYS[3], o[1], o[2], o[3], false)
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
  -- The barrier records go with the history: none expires while the saga
  -- runs, however long, and a late copy of a command finds them for the
  -- retention after its end.
  if #KEYS >= 3 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
end
if #KEYS < 3 then return first + n - 1 end
local out = {first + n - 1}
for k = 1, tonumber(ARGV[pre]) do
  local a = pre + 1 + (k - 1) * 3
  out[#out + 1] = barrier_claim(KEYS[3], ARGV[a], ARGV[a + 1], ARGV[a + 2],
                                false, ARGV[pre - 2], ARGV[pre - 1])
end
return out
