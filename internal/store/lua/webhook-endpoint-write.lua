-- webhook-endpoint-write.lua: create, replace or delete one webhook endpoint, checking its version.
--
-- KEYS[1]  endpoints       waitroom:{webhooks}:endpoints       (hash: id -> endpoint JSON)
-- KEYS[2]  failing since   waitroom:{webhooks}:failing-since   (hash: id -> ms of the first failure in a row)
-- KEYS[3]  deliveries      waitroom:{webhooks}:deliveries:<id> (hash: event id -> delivery JSON)
-- KEYS[4]  delivery index  waitroom:{webhooks}:delivery-index:<id> (sorted set: event id by last attempt ms)
-- ARGV[1]  id
-- ARGV[2]  expected version: "new" (must not exist), "any", or a decimal integer
-- ARGV[3]  new endpoint JSON, or "" to delete
--
-- Returns {1} when written, {0} when missing, {2, current version} on a version mismatch,
-- {3} when "new" and it exists already. A delete also drops the endpoint's failure clock
-- and delivery records.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local expected = ARGV[2]
if expected == 'new' then
  if cur then return {3} end
else
  if not cur then return {0} end
  local ok, doc = pcall(cjson.decode, cur)
  if not ok or type(doc) ~= 'table' then return redis.error_reply('WAITROOM_CORRUPT webhook endpoint ' .. ARGV[1]) end
  local v = tonumber(doc['version'])
  -- nan, inf and 1e400 pass tonumber: only an exact integer counts.
  if v == nil or v ~= v or v < 0 or v > 9007199254740991 or v % 1 ~= 0 then
    return redis.error_reply('WAITROOM_CORRUPT webhook endpoint ' .. ARGV[1] .. ' version')
  end
  if expected ~= 'any' then
    if not string.match(expected, '^%d+$') or tonumber(expected) ~= v then return {2, string.format('%d', v)} end
  end
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3], KEYS[4])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return {1}
