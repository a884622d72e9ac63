// Benchmark: sluice's Kinesis API vs kinesalite in the same run, over loopback.
//   node bench.mjs --testserver PATH --loadgen PATH [--seconds 5] [--shards 4]
// For each server: PutRecords of 500 x 100 B records with the AWS SDK (HTTP/2 for sluice, which
// kinesalite cannot speak, so HTTP/1.1 keep-alive for both) and with the C++ load generator, then
// GetRecords of everything with each. Prints a JSON line per measurement and a Markdown table.
import { spawn, execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent } from 'node:http';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as K from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => {
  if (v.startsWith('--')) acc.push([v.slice(2), a[i + 1]]);
  return acc;
}, []));
const SECONDS = Number(args.seconds ?? 5);
const SHARDS = Number(args.shards ?? 4);
const CONCURRENCY = Number(args.concurrency ?? 8);

async function launch(cmd, argv) {
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`${cmd} exited ${c}`)));
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  return { port: Number(/^PORT (\d+)$/.exec(line)[1]), stop: () => child.kill('SIGTERM') };
}

function client(port, h1) {
  const cfg = {
    region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1,
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
  };
  if (h1) {
    cfg.requestHandler = new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) });
  }
  return new K.KinesisClient(cfg);
}

async function sdkPut(c, stream) {
  const data = new Uint8Array(100).fill(120);
  const records = Array.from({ length: 500 }, (_, i) => ({ PartitionKey: `pk-${i}`, Data: data }));
  const end = Date.now() + SECONDS * 1000;
  const start = Date.now();
  let ok = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) {
      const r = await c.send(new K.PutRecordsCommand({ StreamName: stream, Records: records }));
      ok += 500 - r.FailedRecordCount;
    }
  }));
  return { records: ok, seconds: (Date.now() - start) / 1000 };
}

async function sdkGet(c, stream) {
  const start = Date.now();
  let total = 0;
  for (let s = 0; s < SHARDS; s++) {
    let it = (await c.send(new K.GetShardIteratorCommand({
      StreamName: stream, ShardId: `shardId-${String(s).padStart(12, '0')}`, ShardIteratorType: 'TRIM_HORIZON',
    }))).ShardIterator;
    for (;;) {
      const r = await c.send(new K.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
      total += r.Records.length;
      if (r.Records.length === 0 || !r.NextShardIterator) break;
      it = r.NextShardIterator;
    }
  }
  return { records: total, seconds: (Date.now() - start) / 1000 };
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
  const c = client(port, !h2);
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
  const put = await sdkPut(c, 'bench-sdk');
  out.sdk_put = put.records / put.seconds;
  const get = await sdkGet(c, 'bench-sdk');
  out.sdk_get = get.records / get.seconds;
  const lp = await loadgen(port, 'put', 'bench-cpp');
  out.cpp_put = lp.records_per_sec;
  const lg = await loadgen(port, 'get', 'bench-cpp');
  out.cpp_get = lg.records_per_sec;
  c.destroy();
  for (const [k, v] of Object.entries(out)) {
    console.log(JSON.stringify({ server: name, measure: k, records_per_sec: Math.round(v) }));
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
console.log(row('PutRecords 500 x 100 B, AWS SDK v3', 'sdk_put'));
console.log(row('PutRecords 500 x 100 B, C++ load generator', 'cpp_put'));
console.log(row('GetRecords (Limit 10000), AWS SDK v3', 'sdk_get'));
console.log(row('GetRecords (Limit 10000), C++ load generator', 'cpp_get'));
process.exit(0);
