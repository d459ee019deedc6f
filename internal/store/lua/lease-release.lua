-- lease-release.lua: give up the leader lease on shutdown, only if the caller holds it,
-- so that a successor can take over at once instead of after the TTL.
--
-- KEYS[1]  leader lease   waitroom:{<queue>}:leader
-- ARGV[1]  owner id
--
-- Returns 1 when released, 0 when it was not the caller's (nothing is deleted).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
