-- rate-limit.lua: one token bucket per client address, shared by every replica, for a
-- batch of joins: the joins that reach one replica in the same event-loop turn share one
-- call (internal/abuse/bucket-batcher.ts), as their tickets share one join.lua call.
-- A bucket holds up to `burst` tokens and refills at `rate` tokens per second; a join takes
-- one. So a client may take `burst` places at once (a stadium's visitors behind one NAT
-- address arriving together) and then `rate` per second, however many replicas it spreads
-- its requests over. Redis TIME is the clock, so replicas' clocks need not agree.
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
-- A bucket whose stored fields are not finite numbers in range (edited by hand, or
-- left by another version) is treated as full: the limit is a courtesy to visitors,
-- never a reason to refuse one on bad data.
local function finite(x)
  return x ~= nil and x == x and x ~= math.huge and x ~= -math.huge
end
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
if not finite(burst) or burst < 1 or burst > 1e9 or burst % 1 ~= 0 then
  return redis.error_reply('WAITROOM_BAD_ARGUMENT burst must be an integer from 1 to 1e9')
end
if not finite(rate) or rate <= 0 or rate > 1e9 then
  return redis.error_reply('WAITROOM_BAD_ARGUMENT rate must be a number above 0 and at most 1e9')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(f[1])
  local ts = tonumber(f[2])
  if not finite(tokens) or tokens < 0 or tokens > burst or not finite(ts) or ts > now then
    tokens = burst
    ts = now
  end
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  local allowed = 0
  local retry = 0
  if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
  else
    retry = math.ceil((1 - tokens) * 1000 / rate)
  end
  local fullIn = math.ceil((burst - tokens) * 1000 / rate)
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts', now)
  -- A full bucket and a missing one mean the same: let the key go once it would be full.
  redis.call('PEXPIRE', KEYS[i], math.max(1, fullIn))
  out[#out + 1] = allowed
  out[#out + 1] = math.floor(tokens)
  out[#out + 1] = retry
  out[#out + 1] = fullIn
end
return out
