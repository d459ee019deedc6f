-- webhook-health.lua: track how long an endpoint has failed without a success in between.
--
-- KEYS[1]  failing since   waitroom:{webhooks}:failing-since (hash: id -> ms of the first failure in a row)
-- ARGV[1]  endpoint id     ARGV[2]  "1" after a success, "0" after a failure
-- ARGV[3]  now ms (integer)          ARGV[4]  disable after ms (integer)
--
-- Returns {due, since}: due = 1 when the endpoint has failed continuously for at least
-- ARGV[4] ms (the caller disables it), else 0; since = the first failure ms (0 after a success).
local function int(s, name)
  local n = tonumber(s)
  if not string.match(s, '^%d+$') or n == nil or n ~= n or n > 9007199254740991 then
    error('WAITROOM_BAD_ARGUMENT ' .. name .. ' must be a non-negative integer')
  end
  return n
end
local now = int(ARGV[3], 'now')
local after = int(ARGV[4], 'disable after')
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {0, 0}
end
local since = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '')
if since == nil or since ~= since or since > now or since < 0 then
  since = now
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now))
end
if now - since >= after then return {1, string.format('%d', since)} end
return {0, string.format('%d', since)}
