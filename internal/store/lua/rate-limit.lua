-- rate-limit.lua: one token bucket per client address, shared by every replica, for a
-- batch of joins: the joins that reach one replica in the same event-loop turn share one
-- call (internal/abuse/bucket-batcher.ts). A join that needs no challenge takes its token in
-- join.lua instead, in the same round trip as its ticket; this script serves the joins that
-- must show a solved challenge, whose token is taken before the proof of work is checked.
-- The bucket itself (burst, refill rate, Redis TIME as the clock) is lib/token-bucket.lua.
--
-- KEYS[1..n]  one bucket per join in the batch (hash: tokens, ts), in arrival order; a
--             client with several joins in the batch appears several times
--             waitroom:{<queue>}:limit:join:<address>
-- ARGV[1]  burst: bucket size, integer >= 1
-- ARGV[2]  rate: tokens per second, finite > 0
--
-- Returns n groups of four, one per key in order: {allowed, remaining, retryAfterMs, fullInMs, ...}
--   allowed       1 if a token was taken, 0 if refused
--   remaining     whole tokens left after this request
--   retryAfterMs  0 when allowed; else ms until one token is back
--   fullInMs      ms until the bucket is full again (the RateLimit reset)
--#include token-bucket
local burst, rate, bad = bucketLimits(ARGV[1], ARGV[2])
if bad then return redis.error_reply('WAITROOM_BAD_ARGUMENT ' .. bad) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local allowed, remaining, retry, fullIn = takeBucket(KEYS[i], burst, rate, now)
  out[#out + 1] = allowed
  out[#out + 1] = remaining
  out[#out + 1] = retry
  out[#out + 1] = fullIn
end
return out
