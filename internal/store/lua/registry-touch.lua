-- registry-touch.lua: note in the change log that a queue's shared state changed, so every
-- replica re-reads that queue within one poll (STATE_REFRESH_MS) even when it missed the
-- queue's pub/sub message. Run by the writer right after the script that made the change
-- (the log is in the {registry} slot, the queue's keys in their own: in Redis Cluster one
-- script cannot write both); registry-set.lua and registry-remove.lua log their own changes.
--
-- KEYS[1]  change sequence (string)   waitroom:{registry}:change-seq
-- KEYS[2]  change log (zset)          waitroom:{registry}:changed   member = queue id, score = sequence
-- ARGV[1]  queue id (1-64 characters)
--
-- Returns the new sequence number. The log holds one member per queue (ZADD moves its score),
-- so it never grows beyond the number of queues; a reader asks for the members scored above
-- the sequence it last saw.
local id = ARGV[1]
if type(id) ~= 'string' or #id == 0 or #id > 64 then return redis.error_reply('WAITROOM_ARG argument 1 is not a queue id') end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, id)
return seq
