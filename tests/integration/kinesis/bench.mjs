// Benchmark: sluice's Kinesis API vs kinesalite in the same run, over loopback.
//   node bench.mjs --testserver PATH --loadgen PATH [--seconds 5] [--shards 4] [--sdk-clients 1]
// For each server: PutRecords of 500 x 100 B records with the AWS SDK (HTTP/2 for sluice, which
// kinesalite cannot speak, so HTTP/1.1 keep-alive for both) and with the C++ load generator, then
// GetRecords of everything with each. Prints a JSON line per measurement and a Markdown table.
// --sdk-clients N (default 1): the SDK rows from N Node processes at once (bench_client.mjs), each
// with its own client and --concurrency requests in flight, started together; PutRecords all on
// the same stream for the same time, GetRecords with the shards dealt round-robin over them.
import { spawn, execFile, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { K, client, sdkPut, sdkGet } from './bench_client.mjs';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => {
  if (v.startsWith('--')) acc.push([v.slice(2), a[i + 1]]);
  return acc;
}, []));
const SECONDS = Number(args.seconds ?? 5);
const SHARDS = Number(args.shards ?? 4);
const CONCURRENCY = Number(args.concurrency ?? 8);
const SDK_CLIENTS = Number(args['sdk-clients'] ?? 1);
if (!(Number.isInteger(SDK_CLIENTS) && SDK_CLIENTS >= 1)) throw new Error('--sdk-clients: a positive integer');

async function launch(cmd, argv) {
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`${cmd} exited ${c}`)));
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  return { port: Number(/^PORT (\d+)$/.exec(line)[1]), stop: () => child.kill('SIGTERM') };
}

// One SDK measurement from `n` child processes: each makes its client and connects, then all are
// released at once; records summed over the wall time from release to the last child's answer.
async function sdkChildren(n, cfgFor) {
  const kids = Array.from({ length: n }, (_, i) => {
    // --no-warnings: the SDK's Node-version notice once (from this process), not once per child.
    const kid = fork(path.join(here, 'bench_client.mjs'), [],
                     { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings'] });
    const replies = [];
    let waiting = null;
    const fail = (e) => { if (waiting) waiting.reject(e); else replies.push({ error: e.message }); };
    kid.on('message', (m) => { if (waiting) { const w = waiting; waiting = null; w.resolve(m); } else replies.push(m); });
    kid.on('error', fail);
    kid.on('exit', (code) => fail(new Error(`bench_client exited ${code}`)));
    const next = () => {
      if (replies.length) return Promise.resolve(replies.shift());
      return new Promise((resolve, reject) => { waiting = { resolve, reject }; });
    };
    const reply = async () => {
      const m = await next();
      if (m.error) throw new Error(`bench_client ${i}: ${m.error}`);
      return m;
    };
    kid.send(cfgFor(i));
    return { kid, reply };
  });
  try {
    await Promise.all(kids.map((k) => k.reply()));  // ready
    const start = Date.now();
    for (const k of kids) k.kid.send({ go: true });
    const results = await Promise.all(kids.map((k) => k.reply()));
    return { records: results.reduce((a, r) => a + r.records, 0), seconds: (Date.now() - start) / 1000 };
  } finally {
    for (const k of kids) if (k.kid.connected) k.kid.disconnect();  // each child exits on it
  }
}

async function loadgen(port, op, stream) {
  const extra = op === 'put'
    ? ['--connections', String(CONCURRENCY), '--seconds', String(SECONDS)]
    : ['--shards', String(SHARDS)];
  const { stdout } = await run(args.loadgen, [op, '--port', String(port), '--stream', stream, ...extra],
                               { maxBuffer: 1 << 20, timeout: 600000 });
  return JSON.parse(stdout);
}

async function measure(name, port, h2) {
  const out = {};
  const c = client(port, !h2, CONCURRENCY);
  const create = async (s) => {
    // ON_DEMAND: a ShardCount alone makes a PROVISIONED stream, throttled at Kinesis's per-shard
    // limits (kinesalite, which predates capacity modes, throttles nothing either way).
    await c.send(new K.CreateStreamCommand({
      StreamName: s, ShardCount: SHARDS, StreamModeDetails: { StreamMode: 'ON_DEMAND' },
    }));
    await K.waitUntilStreamExists({ client: c, maxWaitTime: 30 }, { StreamName: s });
  };
  await create('bench-sdk');
  await create('bench-cpp');
  const shards = Array.from({ length: SHARDS }, (_, s) => s);
  const base = { port, h1: !h2, stream: 'bench-sdk', seconds: SECONDS, concurrency: CONCURRENCY };
  const put = SDK_CLIENTS === 1
    ? await sdkPut(c, 'bench-sdk', SECONDS, CONCURRENCY)
    : await sdkChildren(SDK_CLIENTS, () => ({ ...base, op: 'put' }));
  out.sdk_put = put.records / put.seconds;
  const getters = Math.min(SDK_CLIENTS, SHARDS);
  const get = SDK_CLIENTS === 1
    ? await sdkGet(c, 'bench-sdk', shards)
    : await sdkChildren(getters, (i) => ({ ...base, op: 'get', shards: shards.filter((s) => s % getters === i) }));
  out.sdk_get = get.records / get.seconds;
  const lp = await loadgen(port, 'put', 'bench-cpp');
  out.cpp_put = lp.records_per_sec;
  const lg = await loadgen(port, 'get', 'bench-cpp');
  out.cpp_get = lg.records_per_sec;
  c.destroy();
  for (const [k, v] of Object.entries(out)) {
    const procs = SDK_CLIENTS > 1 && k.startsWith('sdk_')
      ? { sdk_processes: k === 'sdk_get' ? Math.min(SDK_CLIENTS, SHARDS) : SDK_CLIENTS } : {};
    console.log(JSON.stringify({ server: name, measure: k, records_per_sec: Math.round(v), ...procs }));
  }
  return out;
}

const sluice = await launch(args.testserver, []);
const sl = await measure(`sluice (SDK over ${args.h1 ? 'HTTP/1.1' : 'HTTP/2'})`, sluice.port, !args.h1);
sluice.stop();
const kl = await launch(process.execPath, [path.join(here, 'kinesalite_server.mjs')]);
const ka = await measure('kinesalite (SDK over HTTP/1.1)', kl.port, false);
kl.stop();

const row = (label, k) => `| ${label} | ${Math.round(sl[k]).toLocaleString('en-US')} | ` +
  `${Math.round(ka[k]).toLocaleString('en-US')} | ${(sl[k] / ka[k]).toFixed(1)}x |`;
console.log(`\n| records/s (${SHARDS} shards, ${CONCURRENCY} in flight, ${SECONDS}s) | sluice | kinesalite | ratio |`);
console.log('|---|---:|---:|---:|');
const procs = (n) => (SDK_CLIENTS > 1 ? ` (${n} SDK processes)` : '');
console.log(row(`PutRecords 500 x 100 B, AWS SDK v3${procs(SDK_CLIENTS)}`, 'sdk_put'));
console.log(row('PutRecords 500 x 100 B, C++ load generator', 'cpp_put'));
console.log(row(`GetRecords (Limit 10000), AWS SDK v3${procs(Math.min(SDK_CLIENTS, SHARDS))}`, 'sdk_get'));
console.log(row('GetRecords (Limit 10000), C++ load generator', 'cpp_get'));
process.exit(0);
