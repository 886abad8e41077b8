--[[
  queue-router's add for Bull v3/v4 queues: writes exactly the layout Node's bull
  writes (see docs: job hash, wait/paused/delayed/priority, events), atomically and
  idempotently by job id. Options are passed as plain JSON and stored as JSON.
  One call adds one job or many of one queue (a batch costs Redis one script call, not
  one per job). Needs insertWaiting (bull_insert.lua) prepended.

  KEYS: 1 wait, 2 paused, 3 meta-paused, 4 id, 5 delayed, 6 priority
  ARGV: 1 key prefix "P:Q:", 2 token, then 8 per job: job id, name, data JSON,
        opts JSON, timestamp ms, delay ms, priority (0 = none), lifo "1"/"0"
  Returns one character per job, in order: "1" added, "0" the id already existed
  (a single string: the reply of a 100-job call stays one flat value).
]]
local prefix, token = ARGV[1], ARGV[2]
local paused = redis.call("EXISTS", KEYS[3]) == 1

local function addJob(i)
  local counter = redis.call("INCR", KEYS[4])  -- Bull counts every add, custom id or not
  local jobId = ARGV[i]
  local jobKey = prefix .. jobId
  if redis.call("EXISTS", jobKey) == 1 then
    redis.call("PUBLISH", prefix .. "duplicated@" .. token, jobId)
    return "0"
  end

  local timestamp = tonumber(ARGV[i + 4])
  local delay = tonumber(ARGV[i + 5])
  local priority = tonumber(ARGV[i + 6])
  redis.call("HMSET", jobKey, "name", ARGV[i + 1], "data", ARGV[i + 2], "opts", ARGV[i + 3],
    "timestamp", ARGV[i + 4], "delay", ARGV[i + 5], "priority", ARGV[i + 6])

  if delay > 0 then
    local due = timestamp + delay
    redis.call("ZADD", KEYS[5], due * 0x1000 + bit.band(counter, 0xfff), jobId)
    redis.call("PUBLISH", KEYS[5], due)
    return "1"
  end

  insertWaiting(paused and KEYS[2] or KEYS[1], KEYS[6], jobId, priority, ARGV[i + 7] == "1")
  redis.call("PUBLISH", prefix .. "waiting@" .. token, jobId)
  return "1"
end

local added = {}
for i = 3, #ARGV, 8 do
  added[#added + 1] = addJob(i)
end
return table.concat(added)
