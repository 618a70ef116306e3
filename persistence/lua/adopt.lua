-- adopt.lua: loaded by redis_journal.cpp (embedded at build time).
--
-- Adopts one saga for a new owner: the compare-and-set that makes a
-- takeover atomic per saga, so no two nodes ever own the same saga.
--
-- KEYS[1] = the saga's owner key. ARGV: the node being adopted from, the
-- epoch bound (owners of that node with a lower epoch are taken over),
-- the adopter's token, retention seconds. Returns 'claimed', 'mine' (the
-- adopter owns it already), 'live' (a current incarnation owns it),
-- 'moved' (another node owns it) or 'gone' (no owner: ended and expired,
-- or not written yet).
--
-- A saga listed but without owner may be one whose first batch is still on
-- its way from the incarnation being adopted (it lists before it appends).
-- 'gone' therefore plants the adopter as the owner, expiring after the
-- retention: that late first batch is fenced instead of starting a saga
-- nobody drives (the adopter has walked past its entry). The adopter's own
-- first batch makes a planted owner permanent (append script).
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  return 'gone'
end
if cur == ARGV[3] then return 'mine' end
local node, epoch = string.match(cur, '^(.*)/(%d+)$')
if node ~= ARGV[1] then return 'moved' end
if tonumber(epoch) >= tonumber(ARGV[2]) then return 'live' end
redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
return 'claimed'
