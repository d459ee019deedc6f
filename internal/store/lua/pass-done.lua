-- pass-done.lua: the protected site reports a visitor's session over; the pass is revoked.
-- Counting and revoking in one step means a pass is counted once however often the site
-- retries, and a counted pass is always refused by the gate.
--
-- KEYS[1]  live passes (zset)     waitroom:{<queue>}:passes
-- KEYS[2]  revoked passes (zset)  waitroom:{<queue>}:revoked-passes
-- KEYS[3]  pass counters (hash)   waitroom:{<queue>}:pass-stats
-- ARGV[1]  jti     ARGV[2]  outcome: "completed" or "abandoned"
-- ARGV[3]  sharded pub/sub channel the revocation is announced on (SPUBLISH, same hash tag;
--          every replica's gate listens)
--
-- Returns {1, expMs}  marked done now: counted under the outcome, revoked, announced
--         {2, expMs}  it was already done (nothing changed)
--         {0}         unknown: never issued, or expired and already swept
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp then
  local done = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if done then return {2, done} end
  return {0}
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], exp, ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('SPUBLISH', ARGV[3], ARGV[1] .. ' ' .. exp)
return {1, exp}
