-- queue-router side-effect claim: replace our own pending claim by the done record.
-- KEYS[1] effect key; ARGV[1] owner; ARGV[2] done record (JSON); ARGV[3] ttl seconds.
-- Returns 1, or 0 when the claim is no longer ours (our lease ran out). Idempotent: a
-- re-run after a lost reply finds our own done record and returns 1 again.
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, claim = pcall(cjson.decode, current)
if not ok or claim.owner ~= ARGV[1] then return 0 end
if claim.state == 'done' then return 1 end
if claim.state ~= 'pending' then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
