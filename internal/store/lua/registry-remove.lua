-- registry-remove.lua: drop a deleted queue from the registry and announce it.
--
-- KEYS[1]  registry hash   waitroom:{registry}:queues
-- KEYS[2]  change sequence (string)   waitroom:{registry}:change-seq
-- KEYS[3]  change log (zset)          waitroom:{registry}:changed (see registry-touch.lua)
-- KEYS[4]  change authors (hash)      waitroom:{registry}:changed-by (see registry-touch.lua)
-- ARGV[1]  queue id        ARGV[2]  sharded pub/sub channel of registry changes (SPUBLISH; same {registry} hash tag as KEYS[1])
--
-- Returns 1 when it was listed, 0 otherwise (announced either way: a replica that missed an
-- earlier announcement drops the queue now).
local n = redis.call('HDEL', KEYS[1], ARGV[1])
-- Logged too (a replica that missed the announcement drops the queue at its next poll); the
-- member stays until the queue is created again, so the log stays bounded by the queue ids seen.
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[2]), ARGV[1])
-- The queue's author entry goes, to free its space: the ZADD above already moved the score
-- past the entry's <seq>, so registry-touch.lua would not have used it again. Without this the
-- hash kept one entry per id ever deleted (a touch landing after the delete, from a leader
-- still closing, may write one back).
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('SPUBLISH', ARGV[2], 'del ' .. ARGV[1])
return n
