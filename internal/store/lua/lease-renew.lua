-- lease-renew.lua: extend the leader lease only if the caller still holds it.
--
-- KEYS[1]  leader lease   waitroom:{<queue>}:leader
-- ARGV[1]  owner id       ARGV[2]  lease TTL in ms
--
-- Returns 1 when renewed, 0 when the lease is held by another owner or has expired
-- (the caller must then stop acting as leader).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
