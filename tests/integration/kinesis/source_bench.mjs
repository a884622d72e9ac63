// Benchmark: the kinesis delivery source (`source: {type: kinesis}`), one edge daemon reading a
// central sluice's stream (SigV4 on) with GetRecords (or enhanced fan-out) into the blackhole sink.
//   node source_bench.mjs --sluice PATH --loadgen PATH [--seconds 4] [--size 200] [--shards 4]
//                         [--runs 1] [--timeout 300] [--instances 1] [--consumer polling|efo]
// The central's stream `logs` (--shards shards) is filled first through its own Kinesis API by
// kinesis_loadgen (records of --size bytes for --seconds); the central is then started again on
// the same data with credentials on its API. An edge daemon starts with one delivery whose source
// is that stream (poll_interval 200ms, `consumer: <--consumer>`: polling reads with GetRecords,
// efo through a registered consumer with SubscribeToShard) and whose sink is `blackhole`, and is
// timed from its start to its last record delivered (its /status). Prints, per run (each with a
// fresh edge data dir; the central keeps its data), MB/s of record bytes, records/s, the edge's
// and the central's CPU seconds per GB, the edge's peak RSS and the source's counters, as JSON
// lines and a Markdown table. An edge that has not delivered everything after --timeout seconds
// fails the run, with its /status source section and its log's end. With --instances N > 1, N
// edges share the shards through a lease table in dynalite (a fresh table per run), are timed
// until together they delivered every record, and their CPU is summed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  freePort, startDaemon, adminOf, status, untilDelivered, usage, stop,
} from '../daemons.mjs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fillWithLoadgen } from '../edge.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => {
  if (v.startsWith('--')) acc.push([v.slice(2), a[i + 1]]);
  return acc;
}, []));
const bin = args.sluice;
const loadgen = args.loadgen;
if (!bin || !loadgen) throw new Error('usage: node source_bench.mjs --sluice PATH --loadgen PATH');
const SECONDS = Number(args.seconds ?? 4);
const SIZE = Number(args.size ?? 200);
const SHARDS = Number(args.shards ?? 4);
const RUNS = Number(args.runs ?? 1);
const TIMEOUT_S = Number(args.timeout ?? 300);
const INSTANCES = Number(args.instances ?? 1);
const CONSUMER = args.consumer ?? 'polling';
if (!['polling', 'efo'].includes(CONSUMER)) throw new Error('--consumer is polling or efo');
const KEY = { id: 'AKIDBENCH', secret: 'bench-secret-key' };
const DELIVERY = 'from-central';
const plugins = join(dirname(bin), 'plugins');
const root = mkdtempSync(join(tmpdir(), 'sluice-kinesis-source-bench-'));
process.on('exit', () => {
  if (process.env.KEEP_BENCH) console.error('kept', root);
  else rmSync(root, { recursive: true, force: true });
});
const start = (dir, yaml, log = 'daemon.log') => startDaemon(dir, yaml, { log, bin });

// Fill the central's stream (no credentials: kinesis_loadgen's signature is not verifiable),
// then start it again on the same data with credentials on its API, on a port known in advance.
const centralDir = join(root, 'central');
const { records: put } = await fillWithLoadgen(centralDir, {
  bin, plugins, loadgen, seconds: SECONDS, size: SIZE, shards: SHARDS,
});
const apiPort = await freePort();
const central = start(centralDir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth:
      - access_key_id: ${KEY.id}
        secret_access_key: ${KEY.secret}
streams:
  - name: logs
    shards: ${SHARDS}
    fsync: interval
`);
await adminOf(central);

// The records the central holds (the sum of its shards' end offsets in /status: nothing is
// trimmed); the edge must deliver that many. The loadgen's count should agree.
const held = (await status(central)).streams.find((s) => s.name === 'logs').shards
  .reduce((n, sh) => n + sh.end_offset, 0);
if (held !== put) {
  console.error(`note: the loadgen put ${put} records, the central holds ${held}`);
}
const records = held;
const bytes = records * SIZE;

// A lease table for several edges: dynalite (in memory) in a child process.
let dynamo;
let dynaliteChild;
if (INSTANCES > 1) {
  const here = dirname(fileURLToPath(import.meta.url));
  dynaliteChild = spawn(process.execPath, [join(here, 'dynalite_server.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) => createInterface({ input: dynaliteChild.stdout })
    .once('line', resolve));
  dynamo = `http://127.0.0.1:${/^PORT (\d+)$/.exec(line)[1]}`;
  process.on('exit', () => dynaliteChild.kill('SIGKILL'));
}
const leaseTable = (run, i) => (INSTANCES > 1
  ? `      lease_table: {endpoint: "${dynamo}", table: bench-run-${run}, worker_id: edge-${i}, failover_time: 3s}\n`
  : '');

const edgeConfig = (run, i) => `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
deliveries:
  - name: ${DELIVERY}
    source:
      type: kinesis
      endpoint: http://127.0.0.1:${apiPort}
      stream: logs
      access_key_id: ${KEY.id}
      secret_access_key: ${KEY.secret}
      poll_interval: 200ms
      consumer: ${CONSUMER}
${leaseTable(run, i)}    buffer: {size: ${process.env.BUF ?? "5MiB"}, interval: 1s}
    record_delimiter: "\\n"
    errors: {path: ./errors}
    sink: {type: blackhole}
`;

const deliveredBy = async (edges) => {
  let n = 0;
  for (const e of edges) {
    const d = (await status(e))?.deliveries?.find((x) => x.name === DELIVERY);
    if (d?.records_spilled > 0) throw new Error(`${d.records_spilled} records spilled`);
    n += d?.records_delivered ?? 0;
  }
  return n;
};
const untilAllDelivered = async (edges) => {
  if (edges.length === 1) return untilDelivered(edges[0], DELIVERY, records);
  while ((await deliveredBy(edges)) < records) await new Promise((r) => setTimeout(r, 50));
  return undefined;
};

const rows = [];
for (let run = 0; run < RUNS; run++) {
  const centralBefore = usage(central.pid).cpu;
  const t0 = process.hrtime.bigint();
  const edges = [];
  for (let i = 0; i < INSTANCES; i++) {
    // A fresh data dir (and lease table): read from TRIM_HORIZON.
    edges.push(start(join(root, `edge-${run}-${i}`), edgeConfig(run, i)));
  }
  for (const edge of edges) await adminOf(edge);
  let timer;
  try {
    await Promise.race([
      untilAllDelivered(edges),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not delivered in ${TIMEOUT_S} s`)), TIMEOUT_S * 1000);
      }),
      ...edges.map((edge) => new Promise((_, reject) => edge.once('exit', (code, sig) =>
        reject(new Error(`an edge exited (${code ?? sig})`))))),
    ]);
  } catch (e) {
    console.error(e.message);
    for (const edge of edges) {
      const st = await status(edge);
      const d = st?.deliveries?.find((x) => x.name === DELIVERY);
      console.error('delivery:', JSON.stringify(d ? {
        records_in: d.records_in, records_delivered: d.records_delivered,
        buffered_bytes: d.buffered_bytes, source: d.source,
      } : null, null, 1));
      console.error('edge log:\n' + edge.logText());
    }
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const us = edges.map((edge) => usage(edge.pid));
  const u = { cpu: us.reduce((a, x) => a + x.cpu, 0), peakMiB: Math.max(...us.map((x) => x.peakMiB)) };
  const centralCpu = usage(central.pid).cpu - centralBefore;
  const srcs = [];
  for (const edge of edges) {
    srcs.push((await status(edge)).deliveries.find((x) => x.name === DELIVERY).source ?? {});
  }
  for (const edge of edges) await stop(edge, 'SIGTERM');
  const src = srcs.length === 1 ? srcs[0] : srcs.map((x) => ({ worker_id: x.worker_id,
    leases_held: x.leases_held, leases_taken: x.leases_taken, revocations: x.revocations }));
  const row = {
    run, consumer: CONSUMER, instances: INSTANCES, shards: SHARDS, records, bytes,
    seconds: +seconds.toFixed(3),
    mb_per_s: +(bytes / 1e6 / seconds).toFixed(1),
    records_per_s: Math.round(records / seconds),
    edge_cpu_s_per_gb: +(u.cpu / (bytes / 1e9)).toFixed(2),
    edge_peak_rss_mib: +u.peakMiB.toFixed(1),
    central_cpu_s_per_gb: +(centralCpu / (bytes / 1e9)).toFixed(2),
    source: Array.isArray(src) ? src
      : Object.fromEntries(Object.entries(src).filter(([k]) => k !== 'shards')),
  };
  console.log(JSON.stringify(row));
  rows.push(row);
}
await stop(central, 'SIGTERM');
console.log(`\n| run | consumer | instances | shards | records | MB/s | records/s | edge CPU s/GB | ` +
            `central CPU s/GB | edge peak RSS |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
  console.log(`| ${r.run} | ${r.consumer} | ${r.instances} | ${r.shards} | ${r.records} of ${SIZE} B | ` +
              `${r.mb_per_s} | ` +
              `${r.records_per_s} | ${r.edge_cpu_s_per_gb} | ${r.central_cpu_s_per_gb} | ` +
              `${r.edge_peak_rss_mib} MiB |`);
}
process.exit(0);
