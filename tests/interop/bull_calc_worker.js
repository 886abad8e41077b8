// The legacy side of the shadow and rollout tests: an unmodified Bull worker running the
// Node twin of tests/worker_processors.py's `calc` processor. It returns
// {total: n * 2, generated_at: <now>} and, when data.send is set, sends through the
// claim protocol (examples/node/worker.js), as a legacy processor that records
// its effects does. It runs for `seconds`, then exits.
// Usage: node bull_calc_worker.js <redisUrl> <prefix> <queue> <seconds> [concurrency]
const Queue = require("bull");
const { once } = require("../../examples/node/worker.js");

const [redisUrl, prefix, queueName, secondsText, concurrencyText] = process.argv.slice(2);
const queue = new Queue(queueName, redisUrl, { prefix });
let done = 0;

queue.process(Number(concurrencyText || 20), async (job) => {
  if (job.data.send) {
    await once(queue.client, queueName, job.id, "send", async () => ({ to: job.data.to }));
  }
  done += 1;
  return { total: job.data.n * 2, generated_at: Date.now() };
});

setTimeout(async () => {
  process.stdout.write(JSON.stringify({ done }) + "\n");
  await queue.close();
  process.exit(0);
}, Number(secondsText) * 1000);
