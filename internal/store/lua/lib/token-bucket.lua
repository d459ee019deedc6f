-- lib/token-bucket.lua: the per-address join bucket, shared by rate-limit.lua and join.lua.
-- Not a script of its own: scripts.ts puts this text where a script says `--#include token-bucket`,
-- so the two scripts that take join tokens cannot drift apart (the bucket of one address is the
-- same hash whichever of them takes from it).
--
-- A bucket holds up to `burst` tokens and refills at `rate` tokens per second; a join takes one.
-- Redis TIME is the clock (the caller passes `now`), so replicas' clocks need not agree. A bucket
-- whose stored fields are not finite numbers in range (edited by hand, or left by another
-- version) is treated as full: the limit is a courtesy to visitors, never a reason to refuse
-- one on bad data.
local function bucketFinite(x)
  return x ~= nil and x == x and x ~= math.huge and x ~= -math.huge
end
-- Validates burst (an integer from 1 to 1e9) and rate (above 0, at most 1e9) as read from ARGV;
-- returns them, or nil and the reason.
local function bucketLimits(burstArg, rateArg)
  local burst, rate = tonumber(burstArg), tonumber(rateArg)
  if not bucketFinite(burst) or burst < 1 or burst > 1e9 or burst % 1 ~= 0 then
    return nil, nil, 'burst must be an integer from 1 to 1e9'
  end
  if not bucketFinite(rate) or rate <= 0 or rate > 1e9 then
    return nil, nil, 'rate must be a number above 0 and at most 1e9'
  end
  return burst, rate
end
-- Takes one token from the bucket at `key`; returns allowed (1 or 0), the whole tokens left,
-- the ms until one token is back (0 when allowed) and the ms until the bucket is full again.
local function takeBucket(key, burst, rate, now)
  local f = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(f[1]), tonumber(f[2])
  if not bucketFinite(tokens) or tokens < 0 or tokens > burst or not bucketFinite(ts) or ts > now then
    tokens = burst
    ts = now
  end
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  local allowed, retry = 0, 0
  if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
  else
    retry = math.ceil((1 - tokens) * 1000 / rate)
  end
  local fullIn = math.ceil((burst - tokens) * 1000 / rate)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
  -- A full bucket and a missing one mean the same: let the key go once it would be full.
  redis.call('PEXPIRE', key, math.max(1, fullIn))
  return allowed, math.floor(tokens), retry, fullIn
end
