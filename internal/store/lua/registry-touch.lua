-- registry-touch.lua: note in the change log that a queue's shared state changed, so every
-- replica re-reads that queue within one poll (STATE_REFRESH_MS) even when it missed the
-- queue's pub/sub message. Run by the writer right after the script that made the change
-- (the log is in the {registry} slot, the queue's keys in their own: in Redis Cluster one
-- script cannot write both); registry-set.lua and registry-remove.lua log their own changes.
--
-- KEYS[1]  change sequence (string)   waitroom:{registry}:change-seq
-- KEYS[2]  change log (zset)          waitroom:{registry}:changed      member = queue id, score = sequence
-- KEYS[3]  change authors (hash)      waitroom:{registry}:changed-by   field = queue id, value = "<author> <before> <seq>"
-- ARGV[1]  queue id (1-64 characters)
-- ARGV[2]  author: the replica whose queue cache already holds this change (its reply was
--          applied there), or '' for a change no replica is known to hold (a revocation, a new
--          epoch, an origin hold); at most 200 characters, no space
--
-- Returns the new sequence number. The log holds one member per queue (ZADD moves its score),
-- so it never grows beyond the number of queues; a reader asks for the members scored above
-- the sequence it last saw.
--
-- The author's entry says who made the queue's latest changes and since when: <seq> is the
-- sequence of the change it describes and <before> that of the last change by anyone else (or
-- by no known author, or this change itself when there is no earlier one to go by), kept while
-- the same author goes on changing the queue. So every change
-- logged after sequence s was this author's exactly when <author> is theirs, <before> <= s and
-- <seq> is the queue's score in the log (registry-set.lua and registry-remove.lua log changes
-- too, without an author: they move the score past <seq>). A replica polling from s may then
-- skip re-reading a queue whose every change since s it made and applied itself (the
-- leader's own advances, its own joins). Any other change in between moves <before> past s.
-- The poll reads the log in one script (registry-poll.lua), so that no change can fall
-- between the sequence it reads and the members it lists.
--#include checked-numbers
local id = ARGV[1]
if type(id) ~= 'string' or #id == 0 or #id > 64 then return redis.error_reply('WAITROOM_ARG argument 1 is not a queue id') end
local author = ARGV[2]
-- Printable ASCII without spaces, so that "<author> <before> <seq>" reads back unambiguously.
if type(author) ~= 'string' or #author > 200 or not string.match(author, '^[\33-\126]*$') then
  return redis.error_reply('WAITROOM_ARG argument 2 is not an author')
end
-- A score this script (or registry-set.lua, registry-remove.lua) wrote is an integer sequence.
local last = int(redis.call('ZSCORE', KEYS[2], id), 0, MAX)
local seq = redis.call('INCR', KEYS[1])
-- The run of changes this one belongs to. By default it is this change alone: after the queue's
-- latest logged change (its score), or, with no score to go by (the first change, a log Redis
-- lost, a score that is not a sequence), after this change itself, so that no poll from before
-- it can count the queue as anyone's own. A bad entry never blocks a touch.
local before = last or seq
if author ~= '' and last then
  local a, b, l = string.match(redis.call('HGET', KEYS[3], id) or '', '^(%S+) (%d+) (%d+)$')
  -- The same author again, and nothing logged since its last change (registry-set.lua and
  -- registry-remove.lua move the score past <seq>): its run goes on, and so does the
  -- sequence before it.
  if a == author and tonumber(l) == last then before = tonumber(b) end
end
redis.call('ZADD', KEYS[2], seq, id)
redis.call('HSET', KEYS[3], id, author .. ' ' .. string.format('%d', before) .. ' ' .. string.format('%d', seq))
return seq
