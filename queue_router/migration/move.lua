--[[
  Moves one Bull job out of its queue and back, atomically, for the migration tool.
  Needs insertWaiting (backends/bull_insert.lua) prepended.

  The job never sits in two runnable places: "hold" takes it out of the container Bull
  workers read (into a hold hash Bull does not know), the workflow is started, then
  "confirm" moves the job hash into the ledger. "unhold" (the start definitely failed)
  and "restore" (rollback from the ledger) put it back where Bull expects it.

  KEYS: 1 job hash, 2 :lock, 3 :logs, 4 wait, 5 paused, 6 meta-paused, 7 delayed,
        8 priority, 9 failed, 10 hold hash, 11 ledger copy of the job hash,
        12 ledger index hash, 13 ledger sequence
  ARGV: 1 op (hold | confirm | unhold | restore), 2 job id, 3 layout (bull | rq), then:
        hold: 4 state (waiting | paused | delayed | failed), 5 record JSON
        confirm: 4 ledger record JSON        restore: 4 rollback time (ms)
  The rq layout maps: job rq:job:<id>, wait rq:queue:<q> (FIFO: RPUSH), delayed
  rq:scheduled:<q>, failed rq:failed:<q>; it has no lock, paused or priority keys.
  Scores travel as strings: a delayed score (due * 4096) has more digits than cjson keeps.
]]
local op, id, layout = ARGV[1], ARGV[2], ARGV[3]
local containers = { waiting = KEYS[4], paused = KEYS[5], delayed = KEYS[7], failed = KEYS[9] }

local function putBack(state, score)
  if state == "delayed" or state == "failed" then
    redis.call("ZADD", containers[state], score, id)
    if state == "delayed" and layout == "bull" then
      redis.call("PUBLISH", KEYS[7], math.floor(tonumber(score) / 4096))
    end
    return
  end
  if layout == "rq" then
    redis.call("RPUSH", KEYS[4], id)
    return
  end
  local target = KEYS[4]
  if redis.call("EXISTS", KEYS[6]) == 1 then target = KEYS[5] end
  local priority = tonumber(redis.call("HGET", KEYS[1], "priority") or "0") or 0
  insertWaiting(target, KEYS[8], id, priority, false)
end

if op == "hold" then
  local held = redis.call("HGET", KEYS[10], id)
  if held then return { "held", held } end
  if redis.call("EXISTS", KEYS[2]) == 1 then return { "locked", "" } end
  if redis.call("EXISTS", KEYS[1]) == 0 then return { "gone", "" } end
  local state, container = ARGV[4], containers[ARGV[4]]
  local score = ""
  if state == "delayed" or state == "failed" then
    score = redis.call("ZSCORE", container, id)
    if not score then return { "moved", "" } end
    redis.call("ZREM", container, id)
  else
    if redis.call("LREM", container, 0, id) == 0 then return { "moved", "" } end
    redis.call("ZREM", KEYS[8], id)
  end
  local record = cjson.decode(ARGV[5])
  record.state, record.score = state, score
  held = cjson.encode(record)
  redis.call("HSET", KEYS[10], id, held)
  return { "held", held }

elseif op == "confirm" then
  local held = redis.call("HGET", KEYS[10], id)
  if not held then
    if redis.call("HEXISTS", KEYS[12], id) == 1 then return { "moved-already", "" } end
    return { "not-held", "" }
  end
  local record = cjson.decode(ARGV[4])
  local hold = cjson.decode(held)
  record.state, record.score = hold.state, hold.score
  record.seq = redis.call("INCR", KEYS[13])
  redis.call("DEL", KEYS[11])
  if redis.call("EXISTS", KEYS[1]) == 1 then
    redis.call("RENAME", KEYS[1], KEYS[11])
  else
    record.hash_missing = true
  end
  redis.call("DEL", KEYS[3])
  redis.call("HSET", KEYS[12], id, cjson.encode(record))
  redis.call("HDEL", KEYS[10], id)
  return { "moved", cjson.encode(record) }

elseif op == "unhold" then
  local held = redis.call("HGET", KEYS[10], id)
  if not held then return { "not-held", "" } end
  redis.call("HDEL", KEYS[10], id)
  if redis.call("EXISTS", KEYS[1]) == 0 then return { "gone", "" } end
  local hold = cjson.decode(held)
  putBack(hold.state, hold.score)
  return { "restored", "" }

elseif op == "restore" then
  local entry = redis.call("HGET", KEYS[12], id)
  if not entry then return { "not-in-ledger", "" } end
  local record = cjson.decode(entry)
  if record.rolled_back then return { "already", entry } end
  if redis.call("EXISTS", KEYS[1]) == 1 then return { "exists", entry } end
  if redis.call("EXISTS", KEYS[11]) == 0 then return { "missing", entry } end
  redis.call("RENAME", KEYS[11], KEYS[1])
  putBack(record.state, record.score)
  record.rolled_back = ARGV[4]
  entry = cjson.encode(record)
  redis.call("HSET", KEYS[12], id, entry)
  return { "restored", entry }
end
return redis.error_reply("unknown op " .. tostring(op))
