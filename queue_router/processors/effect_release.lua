-- queue-router side-effect claim: the effect failed, delete our own pending claim so a
-- retry can act; never someone else's. KEYS[1] effect key; ARGV[1] owner.
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, claim = pcall(cjson.decode, current)
if not ok or claim.state ~= 'pending' or claim.owner ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
