-- pass-clients.lua: counts the distinct clients each pass was used from and revokes a
-- pass used from more than the limit (sharing detection). Gates do not call this per
-- request: each replica notes new (pass, client) pairs in memory and sends them here in
-- one batch about once a second (internal/abuse/sharing-detector.ts). A HyperLogLog per
-- pass keeps the count in at most 12 KiB whatever the number of clients (~0.8% error;
-- exact below a few hundred, which is where the limit sits). A revoked pass is announced
-- on the same channel as pass-done.lua, so every gate refuses it within milliseconds.
--
-- KEYS[1]  live passes (zset)     waitroom:{<queue>}:passes
-- KEYS[2]  revoked passes (zset)  waitroom:{<queue>}:revoked-passes
-- KEYS[3]  pass counters (hash)   waitroom:{<queue>}:pass-stats
-- KEYS[4..3+n]  one HyperLogLog per pass in the batch   waitroom:{<queue>}:pass-clients:<jti>
-- ARGV[1]  pub/sub channel of revocations
-- ARGV[2]  max distinct clients per pass, integer >= 1
-- ARGV[3]  window in ms: a pass's count restarts this long after its first noted use
-- ARGV[4]  n, passes in the batch
-- then for each pass i: jti, k (clients), client 1 .. client k
--
-- Returns the jtis revoked by this call (possibly empty). Passes that are unknown,
-- expired or already revoked are skipped.
local function int(x, lo, hi)
  local v = tonumber(x)
  if v == nil or v ~= v or v % 1 ~= 0 or v < lo or v > hi then return nil end
  return v
end
local maxClients = int(ARGV[2], 1, 1e6)
local windowMs = int(ARGV[3], 1, 1e12)
local n = int(ARGV[4], 0, 1e5)
if not maxClients or not windowMs or not n then
  return redis.error_reply('WAITROOM_BAD_ARGUMENT max clients, window or count out of range')
end
if #KEYS ~= 3 + n then return redis.error_reply('WAITROOM_BAD_ARGUMENT one key per pass expected') end
local revoked = {}
local a = 5
for i = 1, n do
  local jti = ARGV[a]
  local k = int(ARGV[a + 1], 0, 1e5)
  if not jti or not k then return redis.error_reply('WAITROOM_BAD_ARGUMENT malformed batch') end
  local hll = KEYS[3 + i]
  local exp = redis.call('ZSCORE', KEYS[1], jti)
  if exp and k > 0 then
    redis.call('PFADD', hll, unpack(ARGV, a + 2, a + 1 + k))
    if redis.call('PTTL', hll) < 0 then redis.call('PEXPIRE', hll, windowMs) end
    if redis.call('PFCOUNT', hll) > maxClients then
      redis.call('ZREM', KEYS[1], jti)
      redis.call('ZADD', KEYS[2], exp, jti)
      redis.call('HINCRBY', KEYS[3], 'shared', 1)
      redis.call('SPUBLISH', ARGV[1], jti .. ' ' .. exp)
      redis.call('DEL', hll)
      revoked[#revoked + 1] = jti
    end
  end
  a = a + 2 + k
end
return revoked
