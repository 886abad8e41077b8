--[[
  queue-router's add for Bull v3/v4 queues: writes exactly the layout Node's bull
  writes (see docs: job hash, wait/paused/delayed/priority, events), atomically and
  idempotently by job id. Options are passed as plain JSON and stored as JSON.
  Needs insertWaiting (bull_insert.lua) prepended.

  KEYS: 1 wait, 2 paused, 3 meta-paused, 4 id, 5 delayed, 6 priority
  ARGV: 1 key prefix "P:Q:", 2 job id, 3 name, 4 data JSON, 5 opts JSON,
        6 timestamp ms, 7 delay ms, 8 priority (0 = none), 9 lifo "1"/"0", 10 token
  Returns {jobId, 1} when added, {jobId, 0} when the id already existed.
]]
local counter = redis.call("INCR", KEYS[4])
local jobId = ARGV[2]
if jobId == "" then
  jobId = tostring(counter)
end
local jobKey = ARGV[1] .. jobId
if redis.call("EXISTS", jobKey) == 1 then
  redis.call("PUBLISH", ARGV[1] .. "duplicated@" .. ARGV[10], jobId)
  return {jobId, 0}
end

local timestamp = tonumber(ARGV[6])
local delay = tonumber(ARGV[7])
local priority = tonumber(ARGV[8])
redis.call("HMSET", jobKey, "name", ARGV[3], "data", ARGV[4], "opts", ARGV[5],
  "timestamp", ARGV[6], "delay", ARGV[7], "priority", ARGV[8])

if delay > 0 then
  local due = timestamp + delay
  redis.call("ZADD", KEYS[5], due * 0x1000 + bit.band(counter, 0xfff), jobId)
  redis.call("PUBLISH", KEYS[5], due)
  return {jobId, 1}
end

local target = KEYS[1]
if redis.call("EXISTS", KEYS[3]) == 1 then
  target = KEYS[2]
end
insertWaiting(target, KEYS[6], jobId, priority, ARGV[9] == "1")
redis.call("PUBLISH", ARGV[1] .. "waiting@" .. ARGV[10], jobId)
return {jobId, 1}
