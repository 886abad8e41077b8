-- queue-router list backend: push a job onto a plain Redis list, once per job id.
-- KEYS[1] the list; KEYS[2] the job id's marker (same hash slot as the list).
-- ARGV[1] the element (the job's data as JSON, or its envelope); ARGV[2] marker TTL (s).
-- Returns 1 when pushed, 0 when the job id was pushed before (nothing pushed). Atomic, so
-- re-running it after a lost reply never pushes twice.
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[2])) then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  return 1
end
return 0
