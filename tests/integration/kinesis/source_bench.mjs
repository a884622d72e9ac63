// Benchmark: the kinesis delivery source (`source: {type: kinesis}`), one edge daemon reading a
// central sluice's stream (SigV4 on) with GetRecords into the blackhole sink.
//   node source_bench.mjs --sluice PATH --loadgen PATH [--seconds 4] [--size 200] [--shards 4]
//                         [--runs 1] [--timeout 300]
// The central's stream `logs` (--shards shards) is filled first through its own Kinesis API by
// kinesis_loadgen (records of --size bytes for --seconds); the central is then started again on
// the same data with credentials on its API. An edge daemon starts with one delivery whose source
// is that stream (poll_interval 200ms) and whose sink is `blackhole`, and is timed from its start
// to its last record delivered (its /status). Prints, per run (each with a fresh edge data dir;
// the central keeps its data), MB/s of record bytes, records/s, the edge's and the central's CPU
// seconds per GB, the edge's peak RSS and the source's counters, as JSON lines and a Markdown
// table. An edge that has not delivered everything after --timeout seconds fails the run, with
// its /status source section and its log's end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  freePort, startDaemon, adminOf, status, untilDelivered, usage, stop,
} from '../daemons.mjs';
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

const edgeConfig = `data_dir: ./data
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
    buffer: {size: 5MiB, interval: 1s}
    record_delimiter: "\\n"
    errors: {path: ./errors}
    sink: {type: blackhole}
`;

const rows = [];
for (let run = 0; run < RUNS; run++) {
  const edgeDir = join(root, `edge-${run}`);  // a fresh data dir: read from TRIM_HORIZON
  const centralBefore = usage(central.pid).cpu;
  const t0 = process.hrtime.bigint();
  const edge = start(edgeDir, edgeConfig);
  await adminOf(edge);
  let timer;
  try {
    await Promise.race([
      untilDelivered(edge, DELIVERY, records),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not delivered in ${TIMEOUT_S} s`)), TIMEOUT_S * 1000);
      }),
      new Promise((_, reject) => edge.once('exit', (code, sig) =>
        reject(new Error(`the edge exited (${code ?? sig})`)))),
    ]);
  } catch (e) {
    const st = await status(edge);
    const d = st?.deliveries?.find((x) => x.name === DELIVERY);
    console.error(e.message);
    console.error('delivery:', JSON.stringify(d ? {
      records_in: d.records_in, records_delivered: d.records_delivered,
      buffered_bytes: d.buffered_bytes, source: d.source,
    } : null, null, 1));
    console.error('edge log:\n' + edge.logText());
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = usage(edge.pid);
  const centralCpu = usage(central.pid).cpu - centralBefore;
  const src = (await status(edge)).deliveries.find((x) => x.name === DELIVERY).source ?? {};
  await stop(edge, 'SIGTERM');
  const row = {
    run, shards: SHARDS, records, bytes,
    seconds: +seconds.toFixed(3),
    mb_per_s: +(bytes / 1e6 / seconds).toFixed(1),
    records_per_s: Math.round(records / seconds),
    edge_cpu_s_per_gb: +(u.cpu / (bytes / 1e9)).toFixed(2),
    edge_peak_rss_mib: +u.peakMiB.toFixed(1),
    central_cpu_s_per_gb: +(centralCpu / (bytes / 1e9)).toFixed(2),
    source: Object.fromEntries(Object.entries(src).filter(([k]) => k !== 'shards')),
  };
  console.log(JSON.stringify(row));
  rows.push(row);
}
await stop(central, 'SIGTERM');
console.log(`\n| run | shards | records | MB/s | records/s | edge CPU s/GB | central CPU s/GB | ` +
            `edge peak RSS |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
  console.log(`| ${r.run} | ${r.shards} | ${r.records} of ${SIZE} B | ${r.mb_per_s} | ` +
              `${r.records_per_s} | ${r.edge_cpu_s_per_gb} | ${r.central_cpu_s_per_gb} | ` +
              `${r.edge_peak_rss_mib} MiB |`);
}
process.exit(0);
