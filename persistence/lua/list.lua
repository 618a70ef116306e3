-- list.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Lists sagas in their node's unfinished index before their first event is
-- written, unless a newer incarnation of the node has registered: that
-- one's adoption walk may have passed already, so the sagas must not start
-- here (their first batches are not sent; the saga actors are fenced). The
-- index, lease and record share the node's hash tag: one slot. The check
-- is the node's, not a saga's, so one call lists every first batch of a
-- writer's pipeline.
--
-- A node registered in this Redis (it has a record: a `saga::node` whose
-- directory is the journal's Redis) must also hold its lease: once it ran
-- out, an adopter may walk the index any moment, and a saga listed after
-- that walk would be driven by nobody if the node then died. Such a
-- listing is answered NOLEASE and tried again (the node renews its lease
-- or learns it was replaced). A runtime without a directory has no record
-- and no lease.
--
-- KEYS[1] = the node's unfinished index, KEYS[2] = its lease, KEYS[3] =
-- its record. ARGV: our epoch, then the saga ids (at least one). Returns
-- how many ids were given.
local e = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[2]))
local rec = tonumber(redis.call('HGET', KEYS[3], 'epoch'))
local newer = nil
if cur and cur > e then newer = cur end
if rec and rec > e then newer = rec end
if newer then
  return redis.error_reply('FENCED epoch ' .. ARGV[1] ..
    ' was replaced by epoch ' .. newer .. ' of the same node id')
end
if rec and cur ~= e then
  return redis.error_reply('NOLEASE epoch ' .. ARGV[1] ..
    ' does not hold the lease of its node right now')
end
-- ZADD in slices: unpack() is bounded by Lua's C stack.
local members = {}
for k = 2, #ARGV do
  members[#members + 1] = 0
  members[#members + 1] = ARGV[k]
  if #members == 400 or k == #ARGV then
    redis.call('ZADD', KEYS[1], unpack(members))
    members = {}
  end
end
return #ARGV - 1
