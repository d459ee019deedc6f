-- lib/checked-numbers.lua: how a script reads a number, from its arguments or from a stored
-- field. Not a script of its own: scripts.ts puts this text where a script says
-- `--#include checked-numbers` (the same rules as internal/queue/state-check.ts).
--
-- tonumber() accepts 'nan', 'inf', '1e400', '0x1f', ' 7' and fractions: only plain decimal
-- integers of at most 16 digits pass here, then the range check. A number computed from
-- 'nan' or a negative counter is a place nobody can honour.
local MAX = 9007199254740991 -- 2^53 - 1: Lua numbers are doubles, exact integers end here
local function int(v, lo, hi)
  if type(v) ~= 'string' or #v > 17 or not string.find(v, '^%-?%d+$') then return nil end
  local n = tonumber(v)
  if n < lo or n > hi then return nil end
  return n
end
-- ARGV[i] as an integer in [lo, hi], or the script stops with "WAITROOM_ARG ...".
local function arg(i, lo, hi)
  local n = int(ARGV[i], lo, hi)
  if not n then error({err = 'WAITROOM_ARG argument ' .. i .. ' is not an integer in [' .. lo .. ', ' .. hi .. ']'}) end
  return n
end
-- The reply for a damaged stored value: "WAITROOM_CORRUPT <what> is "<value>"".
local function corrupt(what, v)
  return redis.error_reply('WAITROOM_CORRUPT ' .. what .. ' is "' .. tostring(v) .. '"')
end
