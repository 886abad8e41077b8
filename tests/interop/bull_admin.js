// Real Bull, driven from the tests: write jobs in every state, report counts, pause/resume.
// Usage: node bull_admin.js <redisUrl> <queue> <command>
//   produce  adds jobs that end up completed (c1), failed (f1), waiting (w1, w2, lifo l1),
//            prioritized (p1, p2) and delayed (d1); prints nothing
//   counts   prints Bull's getJobCounts() as JSON
//   pause | resume   global pause/resume
const Queue = require("bull");

const [redisUrl, queueName, command] = process.argv.slice(2);
const queue = new Queue(queueName, redisUrl);

async function produce() {
  await queue.add("render", { ok: true }, { jobId: "c1" });
  await queue.add("render", { boom: true }, { jobId: "f1", attempts: 1 });
  let settled = 0;
  await new Promise((resolve) => {
    queue.process("render", async (job) => {
      if (job.data.boom) throw new Error("kaputt: ünïcode reason");
      return { done: job.id };
    });
    const settle = () => (++settled === 2 ? resolve() : null);
    queue.on("completed", settle);
    queue.on("failed", settle);
  });
  await queue.pause(true, true); // stop this worker taking more (local pause)
  const data = { text: "日本語 🚀", nested: { list: [1, 2.5, null, true] } };
  await queue.add("render", data, { jobId: "w1", attempts: 3, backoff: { type: "exponential", delay: 500 } });
  await queue.add("render", { n: 2 }, { jobId: "w2", timeout: 9000, removeOnComplete: true });
  await queue.add("render", { n: 3 }, { jobId: "l1", lifo: true });
  await queue.add("render", { p: 3 }, { jobId: "p1", priority: 3 });
  await queue.add("render", { p: 1 }, { jobId: "p2", priority: 1 });
  await queue.add("render", { d: 1 }, { jobId: "d1", delay: 3600000 });
}

async function main() {
  if (command === "produce") await produce();
  else if (command === "counts") process.stdout.write(JSON.stringify(await queue.getJobCounts()));
  else if (command === "pause") await queue.pause();
  else if (command === "resume") await queue.resume();
  else throw new Error(`unknown command ${command}`);
  await queue.close();
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
