// Starts kinesalite (npm, in-memory) on 127.0.0.1 with a free port and prints "PORT <n>", the
// same contract as kinesis_api_testserver, so the benchmark drives both the same way.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const kinesalite = require('kinesalite');
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
