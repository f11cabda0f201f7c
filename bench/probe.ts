// A health-check prober for `npm run bench`, in its own process so that the
// load generator's event loop does not add its delays to the latencies:
//   node bench/probe.ts URL SECONDS  ->  prints the latencies (ms) as a JSON array
// One keep-alive connection, checked again 5 ms after each answer: a balancer's
// check, sampled often enough for a p99 (10 s give ~1,000 latencies).
// The first request is not counted: it opens the connection and runs the
// prober's own code for the first time (20-25 ms of its own on these machines).
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const [url = '', seconds = '3'] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

async function check(): Promise<number> {
  const started = performance.now();
  const status = await new Promise<number>((resolve) => {
    const req = request(url, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(0));
    req.end();
  });
  if (status !== 200) {
    console.error(`${url} answered ${status}`);
    process.exit(1);
  }
  return performance.now() - started;
}

await check();
const latencies: number[] = [];
const until = performance.now() + Number(seconds) * 1000;
while (performance.now() < until) {
  latencies.push(await check());
  await sleep(5);
}
agent.destroy();
console.log(JSON.stringify(latencies));
