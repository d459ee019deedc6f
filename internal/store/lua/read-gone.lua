-- read-gone.lua: the tickets of a range marked gone, for a replica's copy of the skipped tickets
-- of each newly admitted range (docs/system.md, "No-shows"). Read only: one GETRANGE of the bytes
-- that hold the range, decoded here so the reply is a short list of numbers, not binary.
--
-- KEYS[1]  gone bitmap of an epoch    waitroom:{<queue>}:gone:<epoch>
-- ARGV[1]  first ticket (1 to 2^32-1)   ARGV[2]  last ticket (ARGV[1] to ARGV[1] + 8,000,000)
--
-- Returns the marked tickets from..to in ascending order (an empty list when none).
--#include checked-numbers
local from = arg(1, 1, 4294967295)
local to = arg(2, from, math.min(from + 8000000, 4294967295))
local first = math.floor(from / 8)
local bytes = redis.call('GETRANGE', KEYS[1], first, math.floor(to / 8))
local out = {}
for i = 1, #bytes do
  local b = string.byte(bytes, i)
  if b ~= 0 then
    for j = 0, 7 do
      local bit = 2 ^ (7 - j)
      if b % (2 * bit) >= bit then
        local t = (first + i - 1) * 8 + j
        if t >= from and t <= to then out[#out + 1] = t end
      end
    end
  end
end
return out
