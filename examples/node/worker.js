// A Node.js Bull processor that honours queue-router's side-effect claims, so a job that
// is dual-written to Bull and Temporal sends its email once, whichever side runs first.
// The protocol (key, value, TTL) is in the README, "Side-effect claims"; the two Lua
// scripts are the very files the Python side runs.
//
// Usage (from this folder, after `npm ci`):
//   node worker.js <redisUrl> [prefix=bull] [queue=email-send] [count]
// With a count it exits after that many jobs (handy in scripts); without, it runs on.
// Your own processor can `require` this file and use `once` (see module.exports).
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const Queue = require("bull");

const SCRIPTS = path.join(__dirname, "..", "..", "queue_router", "processors");
const COMPLETE = fs.readFileSync(path.join(SCRIPTS, "effect_complete.lua"), "utf8");
const RELEASE = fs.readFileSync(path.join(SCRIPTS, "effect_release.lua"), "utf8");
const LEASE_MS = Number(process.env.QUEUE_ROUTER_EFFECT_LEASE_MS || 300000);
const TTL_S = Number(process.env.QUEUE_ROUTER_EFFECT_TTL_S || 7 * 24 * 3600);

// Run `action` unless another run (Python, Temporal, an earlier attempt) already did.
async function once(redis, queue, jobId, effect, action) {
  const key = `queue-router:effect:${queue}:${jobId}:${effect}`;
  const owner = crypto.randomUUID().replace(/-/g, "");
  const deadline = Date.now() + LEASE_MS;
  for (;;) {
    const pending = JSON.stringify({ state: "pending", owner, at: Date.now() });
    if (await redis.set(key, pending, "PX", LEASE_MS, "NX")) {
      let result;
      try {
        result = await action();
      } catch (err) {
        await redis.eval(RELEASE, 1, key, owner); // let the retry act
        throw err;
      }
      const done = JSON.stringify({ state: "done", owner, at: Date.now(), result });
      if (!(await redis.eval(COMPLETE, 1, key, owner, done, TTL_S))) {
        console.error(`effect ${key} outlived its lease; raise QUEUE_ROUTER_EFFECT_LEASE_MS`);
      }
      // The index a shadow comparison reads: which effects this job's legacy run performed.
      const index = `queue-router:effects:${queue}:${jobId}`;
      await redis.sadd(index, effect);
      await redis.expire(index, TTL_S);
      return { outcome: "performed", result };
    }
    const current = await redis.get(key);
    if (current && JSON.parse(current).state === "done") {
      return { outcome: "replayed", result: JSON.parse(current).result };
    }
    if (Date.now() > deadline) throw new Error(`effect ${key} is held by another run; retry later`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Your real side effect goes here (an SMTP or API call). Its result must be JSON.
async function sendEmail(queue, job) {
  return { message_id: `<${job.id}.${queue}@node>`, to: [job.data.to] };
}

function main() {
  const [redisUrl, prefix = "bull", queueName = "email-send", countText] = process.argv.slice(2);
  const queue = new Queue(queueName, redisUrl, { prefix });
  let done = 0;

  queue.process(async (job) => {
    const { outcome, result } = await once(queue.client, queueName, job.id, "send", () =>
      sendEmail(queueName, job),
    );
    process.stdout.write(JSON.stringify({ id: job.id, outcome, result }) + "\n");
    return result;
  });

  queue.on("completed", async () => {
    done += 1;
    if (countText && done >= Number(countText)) {
      await queue.close();
      process.exit(0);
    }
  });
}

module.exports = { once };
if (require.main === module) main();
