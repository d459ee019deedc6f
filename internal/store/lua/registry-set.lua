-- registry-set.lua: record a queue's config version in the registry and announce it.
-- Run after create-queue.lua or update-queue.lua succeeded (the registry is its own slot,
-- so it cannot be written by the same script in Redis Cluster).
--
-- KEYS[1]  registry hash   waitroom:{registry}:queues
-- KEYS[2]  change sequence (string)   waitroom:{registry}:change-seq
-- KEYS[3]  change log (zset)          waitroom:{registry}:changed (see registry-touch.lua)
-- ARGV[1]  queue id   ARGV[2]  config version   ARGV[3]  sharded pub/sub channel of registry changes (SPUBLISH; same {registry} hash tag as KEYS[1])
--
-- Returns 1 when recorded, 0 when the registry already holds a newer version (two changes
-- finished out of order: the newer one stays).
-- Versions are plain decimal integers (checked as in ensure-queue.lua); a damaged entry is
-- replaced: the registry only says which queues exist, the queue's own keys hold the truth.
--#include checked-numbers
local v = int(ARGV[2], 0, MAX)
if not v then return redis.error_reply('WAITROOM_ARG argument 2 is not an integer in [0, ' .. MAX .. ']') end
local current = int(redis.call('HGET', KEYS[1], ARGV[1]), 0, MAX)
if current and current >= v then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
-- Logged too: a replica that missed the announcement below learns of it at its next poll.
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[2]), ARGV[1])
redis.call('SPUBLISH', ARGV[3], 'set ' .. ARGV[1] .. ' ' .. ARGV[2])
return 1
