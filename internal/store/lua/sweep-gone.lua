-- sweep-gone.lua: one replica's batch of presence for one queue (docs/system.md, "No-shows:
-- visitors who went quiet"). Records the waiting tickets this replica heard from (a poll, an
-- open event stream) in the current period's "seen" bitmap, and marks gone the tickets it has
-- not heard from for the queue's grace, unless another replica heard from them meanwhile (their
-- bit is set in one of the seen bitmaps of the grace). One call per queue per sweep (at most
-- 10,000 tickets per call; a replica with more sends several).
--
-- KEYS[1]  queue state hash                      waitroom:{<queue>}:state
-- KEYS[2]  gone bitmap of the epoch              waitroom:{<queue>}:gone:<epoch>
-- KEYS[3]  seen bitmap of the current period     waitroom:{<queue>}:seen:<epoch>:<period>
-- KEYS[4..] seen bitmaps of the earlier periods that overlap the grace
-- ARGV[1]  the tickets' epoch
-- ARGV[2]  gone bitmap lifetime in ms (as mark-gone.lua)   ARGV[3]  seen bitmap lifetime in ms
-- ARGV[4]  n, how many seen tickets follow
-- ARGV[5 .. 4+n]  tickets heard from since this replica's last sweep
-- ARGV[5+n ..]    tickets this replica has not heard from for the grace
--   (tickets 1 to 2^32-1; at most 10,000 in all)
--
-- Returns {W, marked}: how many quiet tickets were marked gone now (only tickets still waiting,
--   not in passthrough, and seen by no replica in the periods of KEYS[3..]).
-- Returns {-1} when the state is missing or of another epoch (nothing written).
--#include checked-numbers
local goneLife, seenLife, n = arg(2, 1, MAX), arg(3, 1, MAX), arg(4, 0, 10000)
if #ARGV > 10004 or #ARGV < 4 + n then error({err = 'WAITROOM_ARG at most 10000 tickets, and n of them seen'}) end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'mode')
if f[1] ~= ARGV[1] then return {-1} end
local W = int(f[2], 0, MAX)
if not W then return redis.error_reply('WAITROOM_CORRUPT queue state field windowEnd is "' .. tostring(f[2]) .. '"') end
for i = 5, 4 + n do
  local t = arg(i, 1, 4294967295)
  if t > W then redis.call('SETBIT', KEYS[3], t, 1) end
end
if n > 0 and redis.call('PTTL', KEYS[3]) < seenLife then redis.call('PEXPIRE', KEYS[3], seenLife) end
local marked = 0
if f[3] ~= 'passthrough' then
  for i = 5 + n, #ARGV do
    local t = arg(i, 1, 4294967295)
    local quiet = t > W
    local k = 3
    while quiet and k <= #KEYS do
      if redis.call('GETBIT', KEYS[k], t) == 1 then quiet = false end
      k = k + 1
    end
    if quiet and redis.call('SETBIT', KEYS[2], t, 1) == 0 then marked = marked + 1 end
  end
end
if marked > 0 and redis.call('PTTL', KEYS[2]) < goneLife then redis.call('PEXPIRE', KEYS[2], goneLife) end
return {W, marked}
