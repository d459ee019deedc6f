-- replica-heartbeat.lua: a replica says it is alive and reads who else is.
-- The live set decides which replica leads which queue (rendezvous hashing,
-- internal/queues/lease-placement.ts), so queues spread over replicas.
--
-- KEYS[1]  live replicas (sorted set)   waitroom:{replicas}:live
-- ARGV[1]  this replica's id   ARGV[2]  how long a heartbeat counts, ms
--
-- Returns the ids of live replicas (this one included), in id order.
-- The ttl is checked as every number a script reads (see ensure-queue.lua): a plain decimal integer.
local ttl = (type(ARGV[2]) == 'string' and #ARGV[2] <= 8 and string.find(ARGV[2], '^%d+$')) and tonumber(ARGV[2]) or nil
if not ttl or ttl < 1 or ttl > 3600000 then return redis.error_reply('WAITROOM_ARG argument 2 is not an integer in [1, 3600000]') end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
return redis.call('ZRANGE', KEYS[1], 0, -1)
