-- webhook-delivery-record.lua: record one event's delivery state for one endpoint, keeping the newest N.
--
-- KEYS[1]  deliveries      waitroom:{webhooks}:deliveries:<id>     (hash: event id -> delivery JSON)
-- KEYS[2]  delivery index  waitroom:{webhooks}:delivery-index:<id> (sorted set: event id by last attempt ms)
-- KEYS[3]  endpoints       waitroom:{webhooks}:endpoints           (the endpoint must still exist)
-- ARGV[1]  endpoint id     ARGV[2]  event id     ARGV[3]  delivery JSON
-- ARGV[4]  last attempt ms (integer)             ARGV[5]  records kept per endpoint (integer >= 1)
--
-- Returns 1 when recorded, 0 when the endpoint was deleted meanwhile (nothing written).
local function int(s, name)
  local n = tonumber(s)
  if not string.match(s, '^%d+$') or n == nil or n ~= n or n > 9007199254740991 then
    error('WAITROOM_BAD_ARGUMENT ' .. name .. ' must be a non-negative integer')
  end
  return n
end
local at = int(ARGV[4], 'attempt time')
local keep = int(ARGV[5], 'records kept')
if keep < 1 then error('WAITROOM_BAD_ARGUMENT records kept must be at least 1') end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], at, ARGV[2])
local n = redis.call('ZCARD', KEYS[2])
if n > keep then
  local old = redis.call('ZRANGE', KEYS[2], 0, n - keep - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1)
end
return 1
