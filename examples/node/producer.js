// The legacy producer, unchanged by the migration: a Node app adding Bull jobs. The jobs
// look exactly like the ones queue-router's router writes (same queue, same data), so the
// worker next to this file, queue-router's migration tool and the router all read them.
//
// Usage (from this folder, after `npm ci`):
//   node producer.js <redisUrl> [prefix=bull] [queue=email-send] [count=3]
const Queue = require("bull");

async function main() {
  const [redisUrl, prefix = "bull", queueName = "email-send", countText = "3"] =
    process.argv.slice(2);
  const queue = new Queue(queueName, redisUrl, { prefix });
  for (let i = 1; i <= Number(countText); i += 1) {
    const job = await queue.add(
      { to: `user${i}@example.com`, subject: "Welcome", text: "Hello from the Node producer" },
      { jobId: `node-${i}`, attempts: 3, backoff: { type: "exponential", delay: 1000 } },
    );
    process.stdout.write(JSON.stringify({ id: job.id, queue: queueName }) + "\n");
  }
  await queue.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
