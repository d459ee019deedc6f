-- claim-pass.lua: record the one pass of an active ticket, atomically per ticket.
-- Fifty simultaneous claims of one ticket run this script one after another: the first
-- stores its freshly signed pass, every later one sees it and follows the policy.
--
-- KEYS[1]  the ticket's claim   waitroom:{<queue>}:pass:<epoch>:<ticket>
-- KEYS[2]  live passes (zset)   waitroom:{<queue>}:passes
-- KEYS[3]  pass counters (hash) waitroom:{<queue>}:pass-stats
-- ARGV[1]  jti of the new pass          ARGV[2]  the new pass (compact JWT)
-- ARGV[3]  the new pass's exp, ms since the Unix epoch
-- ARGV[4]  claim TTL in ms: the ticket's remaining lifetime (after it, the ticket cannot claim)
-- ARGV[5]  policy: "same" or "refuse"
--
-- Returns {1, pass}  the new pass was stored and counted as claimed
--         {2, pass}  the ticket was claimed before and the policy is "same": the stored pass
--         {0}        the ticket was claimed before and the policy is "refuse"
local existing = redis.call('GET', KEYS[1])
if existing then
  if ARGV[5] == 'same' then return {2, existing} end
  return {0}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[4]))
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
redis.call('HINCRBY', KEYS[3], 'claimed', 1)
return {1, ARGV[2]}
