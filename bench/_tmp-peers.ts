import { closeRedisPools } from 'lambda-redis-pool';
import { benchPeers } from './peers.js';

const r = await benchPeers(
  'redis://127.0.0.1:6379',
  { rounds: 3, blockMs: 300, warmupMs: 200, inflight: 64, perInvocationPoolMax: 10 },
  (l) => process.stderr.write(`${l}\n`),
);
for (const s of r.shapes) {
  console.log(s.description);
  for (const x of s.sides)
    console.log(
      `  ${x.name.padEnd(50)} ${x.ratio.median}× (${x.ratio.min}–${x.ratio.max}) ${x.perSec}/s p50 ${x.p50Us}µs cpu ${x.cpuUsPerInvocation}µs`,
    );
}
console.log('emf lines', r.emfLines);
await closeRedisPools();
