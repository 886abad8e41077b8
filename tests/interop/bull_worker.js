// An unmodified Bull worker: processes `count` jobs from a queue and prints one JSON line
// per job ({id, name, data, opts, attemptsMade}) in processing order, then exits.
// Usage: node bull_worker.js <redisUrl> <prefix> <queue> <count> [failTimes]
const Queue = require("bull");

const [redisUrl, prefix, queueName, countText, failTimesText] = process.argv.slice(2);
const count = Number(countText);
const failTimes = Number(failTimesText || 0);
const queue = new Queue(queueName, redisUrl, { prefix });
let done = 0;

queue.process("*", 1, async (job) => {
  if (job.attemptsMade < failTimes) {
    throw new Error(`planned failure ${job.attemptsMade + 1}`);
  }
  process.stdout.write(
    JSON.stringify({ id: job.id, name: job.name, data: job.data, opts: job.opts,
                     attemptsMade: job.attemptsMade }) + "\n",
  );
  return { ok: job.id };
});

queue.on("completed", async () => {
  done += 1;
  if (done >= count) {
    await queue.close();
    process.exit(0);
  }
});

setTimeout(() => {
  process.stderr.write(`timed out after ${done} of ${count} jobs\n`);
  process.exit(2);
}, 30000);
