// Starts dynalite (npm, in-memory DynamoDB) on 127.0.0.1 with a free port and prints "PORT <n>",
// the same contract as kinesalite_server.mjs. Tables are ACTIVE at once (no CREATING phase).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite');
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
// dynalite's close waits for open connections (up to 30 s); the store is in memory, so there is
// nothing to keep: leave at once.
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
