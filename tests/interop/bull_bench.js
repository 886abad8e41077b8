// Node's own Bull producer, timed: the peer benchmarks/bench_vs_node.py compares us with.
// Usage: node bull_bench.js <redisUrl> <queue> <sequential|concurrent|bulk> <n> [concurrency]
// Prints {"mode", "jobs", "seconds", "per_s"}.
const Queue = require("bull");

async function main() {
  const [redisUrl, queueName, mode, nText, concurrencyText = "50"] = process.argv.slice(2);
  const n = Number(nText);
  const concurrency = Number(concurrencyText);
  const queue = new Queue(queueName, redisUrl);
  await queue.isReady();
  const data = (i) => ({ to: `user${i}@example.com`, subject: "hello", n: i });
  const started = process.hrtime.bigint();
  if (mode === "sequential") {
    for (let i = 0; i < n; i += 1) await queue.add(data(i), { jobId: `node-${i}` });
  } else if (mode === "concurrent") {
    let next = 0;
    const lane = async () => {
      while (next < n) {
        const i = next;
        next += 1;
        await queue.add(data(i), { jobId: `node-${i}` });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
  } else {
    for (let i = 0; i < n; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 500); j += 1) {
        batch.push({ data: data(j), opts: { jobId: `node-${j}` } });
      }
      await queue.addBulk(batch);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(JSON.stringify({ mode, jobs: n, seconds, per_s: n / seconds }) + "\n");
  await queue.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
