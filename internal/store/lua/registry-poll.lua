-- registry-poll.lua: one replica's poll of the change log (registry-touch.lua), in one
-- atomic read: the sequence, the queues logged after `since` up to it with their scores,
-- and who made each one's latest changes. Atomic because a replica may skip a queue whose
-- every change since `since` was its own (the author's entry), which is only sound if no
-- change can fall between the sequence it reads and the members it lists: read apart, a
-- touch landing in between was listed by no poll, and its author's entry could then be
-- overwritten by this replica's own next change before any poll saw it.
--
-- KEYS[1]  change sequence (string)   waitroom:{registry}:change-seq
-- KEYS[2]  change log (zset)          waitroom:{registry}:changed      member = queue id, score = sequence
-- KEYS[3]  change authors (hash)      waitroom:{registry}:changed-by   field = queue id, value = "<author> <before> <seq>"
-- KEYS[4]  change log id (string)     waitroom:{registry}:change-log-id
-- ARGV[1]  since: the sequence the caller last read, an integer from 0 to 2^53 - 1
--
-- Returns {seq, logId} when there is nothing to list (the sequence is at or below `since`, or
-- is not an integer: returned as stored, "0" when missing, for the caller to check and report),
-- else {seq, logId, id1, score1, entry1, id2, score2, entry2, ...}, the members scored in
-- (since, seq], each with its author entry ('' when it has none). logId is '' when there was
-- none and Redis refused to store a new one.
--
-- The log id is made here, from Redis's TIME, when there is none: the first poll after the log
-- was lost with all of Redis's data (a new Redis, a restart without persistence) gives it a new
-- one. A replica that sees the id change re-reads every queue: the sequence alone tells it only
-- while the new log's sequence is still below the one it last read. A partial loss that keeps
-- the id (a failover to a lagging replica, a restart from an AOF or RDB a little behind) is not
-- caught this way: only a sequence behind the reader's, or the full re-read, catches that.
-- Every replica polls about once a second, so the write here (a SET only when missing) is rare.
--#include checked-numbers
local since = arg(1, 0, MAX)
local logId = redis.call('GET', KEYS[4])
if not logId then
  local t = redis.call('TIME')
  logId = t[1] .. '.' .. t[2]
  -- A write Redis may refuse (OOM under noeviction, NOREPLICAS, a read-only node): then the
  -- poll still answers, with '' for the id, which the caller does not compare. A failed poll
  -- would instead leave every cached state unconfirmed, and /status answering 503.
  local set = redis.pcall('SET', KEYS[4], logId)
  if type(set) == 'table' and set.err then logId = '' end
end
local raw = redis.call('GET', KEYS[1])
if not raw then return {'0', logId} end
local seq = int(raw, 0, MAX)
if not seq or seq <= since then return {raw, logId} end
local listed = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%d', since), raw, 'WITHSCORES')
local out = {raw, logId}
for i = 1, #listed, 2 do
  out[#out + 1] = listed[i]
  out[#out + 1] = listed[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[3], listed[i]) or ''
end
return out
