-- append-event.lua: append one event to a queue's event stream (for changes made outside a
-- queue script, e.g. a webhook endpoint disabled by the dispatcher: its record lives in
-- another slot, so the event cannot share the change's script).
--
-- KEYS[1]  event stream    waitroom:{<queue>}:event-stream
-- ARGV[1]  type            ARGV[2]  body JSON      ARGV[3]  entries kept (MAXLEN ~, integer >= 1)
--
-- Returns the new entry id.
local keep = tonumber(ARGV[3])
if not string.match(ARGV[3], '^%d+$') or keep == nil or keep ~= keep or keep < 1 or keep > 9007199254740991 then
  error('WAITROOM_BAD_ARGUMENT entries kept must be a positive integer')
end
local t = redis.call('TIME')
local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'type', ARGV[1], 'time', ms, 'body', ARGV[2])
