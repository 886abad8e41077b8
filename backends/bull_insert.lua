--[[
  Put a job id into a Bull wait (or paused) list exactly where Node's bull would:
  plain jobs at the head (LPUSH; taken last) or, with lifo, at the tail (taken next);
  prioritized jobs indexed in the priority zset and placed at the tail, ordered by
  priority. Prepended to every script that inserts waiting jobs.
]]
local function insertWaiting(target, priorityKey, jobId, priority, lifo)
  if priority == 0 then
    if lifo then
      redis.call("RPUSH", target, jobId)
    else
      redis.call("LPUSH", target, jobId)
    end
    return
  end
  redis.call("ZADD", priorityKey, priority, jobId)
  local ahead = redis.call("ZCOUNT", priorityKey, 0, priority)
  local len = redis.call("LLEN", target)
  local pivot = redis.call("LINDEX", target, len - (ahead - 1))
  if pivot then
    redis.call("LINSERT", target, "BEFORE", pivot, jobId)
  else
    redis.call("RPUSH", target, jobId)
  end
end
