// An unmodified Bull worker: processes `count` jobs from a queue and prints one JSON line
// per job ({id, name, data, opts, attemptsMade}) in processing order, then exits.
// Usage: node bull_worker.js <redisUrl> <prefix> <queue> <count> [failTimes]
// A redisUrl of "cluster:host:port,host:port" connects through ioredis's Cluster client,
// as Bull's documentation shows for Redis Cluster (the prefix must be a {hash tag}).
const Queue = require("bull");
const Redis = require("ioredis");

const [redisUrl, prefix, queueName, countText, failTimesText] = process.argv.slice(2);
const count = Number(countText);
const failTimes = Number(failTimesText || 0);
const queue = redisUrl.startsWith("cluster:")
  ? new Queue(queueName, { prefix, createClient: () => clusterClient(redisUrl.slice(8)) })
  : new Queue(queueName, redisUrl, { prefix });

function clusterClient(seeds) {
  const nodes = seeds.split(",").map((seed) => {
    const [host, port] = seed.split(":");
    return { host, port: Number(port) };
  });
  return new Redis.Cluster(nodes, {
    redisOptions: { maxRetriesPerRequest: null, enableReadyCheck: false },
  });
}
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
