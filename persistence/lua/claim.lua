-- claim.lua: loaded by redis_journal.cpp (embedded at build time), after
-- barrier_claim.lua, whose function it calls.
--
-- Decides a participant operation for the barrier (see barrier_verdict)
-- and records the claim, refusal or null compensation atomically.
--
-- KEYS[1] = the saga's barrier hash. ARGV: step, op ("x" execute, "c"
-- compensate), claim token, ttl seconds, refusal reply, null-compensation
-- reply. Returns {verdict, stored reply[, 'unrecorded']}.
return barrier_claim(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
                     ARGV[6])
