-- mark-gone.lua: a waiting visitor left the line (POST /leave, DELETE /status, the page's
-- pagehide beacon, or the replica that served them saw nothing from them for the queue's grace).
-- Checking "still waiting" and setting the bit is one step, so a ticket the leader admits at the
-- same moment is never marked after its admission (a set bit under W means "skipped").
--
-- KEYS[1]  queue state hash            waitroom:{<queue>}:state
-- KEYS[2]  gone bitmap of the epoch    waitroom:{<queue>}:gone:<epoch>
-- ARGV[1]  the tickets' epoch (KEYS[2] is this epoch's bitmap)
-- ARGV[2]  bitmap lifetime in ms (1 to 2^53-1): the key lives at least this long from now, so a
--          bit outlives the ticket it belongs to (the caller passes the ticket lifetime)
-- ARGV[3..] ticket numbers (1 to 2^32-1: a Redis bitmap offset), at most 10,000
--
-- Returns {W, marked, already, admitted}: how many tickets were marked now, were marked before,
--   or were not waiting (t <= W, or the queue is in passthrough: admitted, nothing to leave).
-- Returns {-1} when the state is missing or of another epoch: the tickets are void (queue_reset).
-- Errors "WAITROOM_CORRUPT <what>" when windowEnd is not a valid integer.
--#include checked-numbers
local life = arg(2, 1, MAX)
if #ARGV < 3 or #ARGV > 10002 then error({err = 'WAITROOM_ARG between 1 and 10000 tickets expected'}) end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'mode')
if f[1] ~= ARGV[1] then return {-1} end
local W = int(f[2], 0, MAX)
if not W then return redis.error_reply('WAITROOM_CORRUPT queue state field windowEnd is "' .. tostring(f[2]) .. '"') end
local marked, already, admitted = 0, 0, 0
for i = 3, #ARGV do
  local t = arg(i, 1, 4294967295)
  if t <= W or f[3] == 'passthrough' then
    admitted = admitted + 1
  elseif redis.call('SETBIT', KEYS[2], t, 1) == 1 then
    already = already + 1
  else
    marked = marked + 1
  end
end
if marked > 0 and redis.call('PTTL', KEYS[2]) < life then redis.call('PEXPIRE', KEYS[2], life) end
return {W, marked, already, admitted}
