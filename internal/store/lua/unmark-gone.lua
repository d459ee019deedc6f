-- unmark-gone.lua: a visitor who left comes back (POST /stay: the page shown again, a reload, a
-- reconnect after a long disconnect). Before its turn the ticket keeps its place (the bit is
-- cleared); once its turn was skipped (t <= W with the bit set) it is told so. One step, so the
-- leader cannot skip the ticket between the check and the clear.
--
-- KEYS[1]  queue state hash            waitroom:{<queue>}:state
-- KEYS[2]  gone bitmap of the epoch    waitroom:{<queue>}:gone:<epoch>
-- ARGV[1]  the ticket's epoch (KEYS[2] is this epoch's bitmap)
-- ARGV[2]  the ticket number (1 to 2^32-1)
--
-- Returns {code, W}:
--   1 the ticket was marked gone and is waiting: unmarked, it keeps its place
--   2 the ticket is waiting and was not marked: nothing changed
--   3 skipped: its turn came while it was marked gone (t <= W, bit set); nothing changed
--   4 admitted: t <= W and not marked (its turn came, or is still on); nothing changed
-- Returns {-1} when the state is missing or of another epoch (queue_reset).
-- Errors "WAITROOM_CORRUPT <what>" when windowEnd is not a valid integer.
--#include checked-numbers
local t = int(ARGV[2], 1, 4294967295)
if not t then error({err = 'WAITROOM_ARG argument 2 is not an integer in [1, 4294967295]'}) end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd')
if f[1] ~= ARGV[1] then return {-1} end
local W = int(f[2], 0, MAX)
if not W then return redis.error_reply('WAITROOM_CORRUPT queue state field windowEnd is "' .. tostring(f[2]) .. '"') end
if t <= W then
  if redis.call('GETBIT', KEYS[2], t) == 1 then return {3, W} end
  return {4, W}
end
-- GETBIT first: SETBIT of a 0 would create (or grow) the bitmap for a ticket that never left.
if redis.call('GETBIT', KEYS[2], t) == 0 then return {2, W} end
redis.call('SETBIT', KEYS[2], t, 0)
return {1, W}
