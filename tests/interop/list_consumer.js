// An unmodified legacy consumer of a plain Redis list: BRPOP with ioredis, one line per
// element exactly as popped, until `count` elements were read.
// Usage: node list_consumer.js <redisUrl> <list> <count>
const Redis = require("ioredis");

async function main() {
  const [redisUrl, list, countText] = process.argv.slice(2);
  const redis = new Redis(redisUrl);
  for (let i = 0; i < Number(countText); i += 1) {
    const [, element] = await redis.brpop(list, 10);
    process.stdout.write(element + "\n");
  }
  redis.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
