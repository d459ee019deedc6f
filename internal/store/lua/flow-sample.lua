-- flow-sample.lua: record a queue's cumulative flow (tickets issued, tickets admitted) for the
-- operator console's charts, once per second and once per minute, only when it changed.
--
-- KEYS[1]  queue state hash        waitroom:{<queue>}:state     (field windowEnd = W, admitted)
-- KEYS[2]  ticket counter          waitroom:{<queue>}:counter   (issued)
-- KEYS[3]  per-second stream       waitroom:{<queue>}:flow:s
-- KEYS[4]  per-minute stream       waitroom:{<queue>}:flow:m
-- ARGV[1]  the sample's time in ms since the Unix epoch, or "" for Redis TIME (the normal case;
--          an explicit time lets a tool import past samples; it must be after the last one)
-- ARGV[2]  how long per-second samples are kept, ms (3600000: one hour)
-- ARGV[3]  how long per-minute samples are kept, ms (604800000: seven days)
--
-- Returns {code, timeMs, issued, admitted}
--   code 1  a per-second sample was written (and a per-minute one if this is the minute's first change)
--   code 0  nothing changed since the last per-second sample: nothing written
--   code 2  the last per-second sample is from this second (or later: a clock that went back):
--           nothing written; the caller tries again next second
--   code 3  the queue state is missing: nothing written
-- Errors "WAITROOM_CORRUPT <what>" when the counter or W is not a valid integer;
-- "WAITROOM_ARG <what>" for a bad argument.
--
-- Entry ids are the second (or minute) in ms with sequence 0, so a range read by time is an
-- XRANGE by id and a second can hold one entry only. Trimming is MINID ~ (whole listpack
-- nodes of at most 100 entries), so a stream holds at most its window plus one node:
-- 3,600 + 100 and 10,080 + 100 entries (docs/operations.md gives the bytes measured).
--#include checked-numbers
local keepSeconds = arg(2, 1000, 86400000)
local keepMinutes = arg(3, 60000, 31622400000)
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = arg(1, 0, MAX)
end

local rawW = redis.call('HGET', KEYS[1], 'windowEnd')
if not rawW then return {3, now, 0, 0} end
local W = int(rawW, 0, MAX)
if not W then return redis.error_reply('WAITROOM_CORRUPT queue state field windowEnd is "' .. tostring(rawW) .. '"') end
local rawC = redis.call('GET', KEYS[2]) or '0'
local counter = int(rawC, 0, MAX)
if not counter then return redis.error_reply('WAITROOM_CORRUPT ticket counter is "' .. tostring(rawC) .. '"') end

-- The last entry of a stream: its id's ms part and its i, a fields (nil when empty).
local function last(key)
  local e = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
  if not e then return nil end
  local ms = tonumber(string.match(e[1], '^(%d+)-'))
  local f = {}
  for j = 1, #e[2], 2 do f[e[2][j]] = e[2][j + 1] end
  return ms, f.i, f.a
end

local second = now - now % 1000
local minute = now - now % 60000
local i, a = string.format('%d', counter), string.format('%d', W)
local lastS, lastI, lastA = last(KEYS[3])
if lastS and lastI == i and lastA == a then return {0, now, counter, W} end
if lastS and lastS >= second then return {2, now, counter, W} end
redis.call('XADD', KEYS[3], 'MINID', '~', string.format('%d', second - keepSeconds), string.format('%d-0', second), 'i', i, 'a', a)
local lastM, mI, mA = last(KEYS[4])
if (not lastM or lastM < minute) and (mI ~= i or mA ~= a) then
  redis.call('XADD', KEYS[4], 'MINID', '~', string.format('%d', minute - keepMinutes), string.format('%d-0', minute), 'i', i, 'a', a)
end
return {1, now, counter, W}
