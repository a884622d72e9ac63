// Benchmark: the kafka sink from one edge daemon into librdkafka's mock cluster (3 brokers, a
// topic of 4 partitions with 3 replicas, acks=all, idempotent producer).
//   node sink_bench.mjs --sluice PATH --loadgen PATH --mock PATH [--seconds 4] [--size 200]
//                       [--concurrency 1,2] [--compression none,lz4]
// The edge's stream is filled first through its own Kinesis API by kinesis_loadgen (records of
// --size bytes, 500 keys); then the edge is started again with a delivery (kafka sink) and timed
// from its start to the last record delivered (its /status: every record has a successful
// delivery report). Prints, per row, records/s, MB/s of record bytes, the edge's CPU seconds per
// GB and peak RSS, and the mock cluster's CPU (it shares the machine), as JSON lines and a
// Markdown table.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startDaemon, adminOf, untilDelivered, usage, stop } from '../daemons.mjs';
import { fillWithLoadgen } from '../edge.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => {
  if (v.startsWith('--')) acc.push([v.slice(2), a[i + 1]]);
  return acc;
}, []));
const bin = args.sluice;
const loadgen = args.loadgen;
const mockBin = args.mock;
if (!bin || !loadgen || !mockBin) {
  throw new Error('usage: node sink_bench.mjs --sluice PATH --loadgen PATH --mock PATH');
}
const SECONDS = Number(args.seconds ?? 4);
const SIZE = Number(args.size ?? 200);
const CONCURRENCY = String(args.concurrency ?? '1,2').split(',').map(Number);
const COMPRESSION = String(args.compression ?? 'none,lz4').split(',');
const plugins = join(dirname(bin), 'plugins');
const root = mkdtempSync(join(tmpdir(), 'sluice-kafka-sink-bench-'));
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});
const start = (dir, yaml, log = 'daemon.log') => startDaemon(dir, yaml, { log, bin });

// The mock cluster with one topic per row (so each row is counted alone).
const topics = [];
for (const c of CONCURRENCY) for (const z of COMPRESSION) topics.push({ c, z, name: `bench-${z}-${c}` });
const mock = spawn(mockBin, topics.flatMap((t) => [t.name, '4', '3']),
  { stdio: ['pipe', 'pipe', 'inherit'] });
children.push(mock);
const first = await createInterface({ input: mock.stdout })[Symbol.asyncIterator]().next();
const bootstrap = /^BOOTSTRAP (\S+)$/.exec(first.value ?? '')?.[1];
if (!bootstrap) throw new Error(`unexpected mock cluster output: ${first.value}`);

// Fill the edge's stream.
const edgeDir = join(root, 'edge');
const { records, base } = await fillWithLoadgen(edgeDir, {
  bin, plugins, loadgen, seconds: SECONDS, size: SIZE,
});
const bytes = records * SIZE;

const rows = [];
for (const t of topics) {
  const name = `to-${t.name}`;
  const edge = start(edgeDir, base + `deliveries:
  - name: ${name}
    stream: logs
    buffer: {size: 5MiB, interval: 1s}
    concurrency: ${t.c}
    errors: {path: ./errors-${t.name}}
    sink:
      type: kafka
      brokers: "${bootstrap}"
      topic: ${t.name}
      compression: ${t.z}
`, `${t.name}.log`);
  const mock0 = usage(mock.pid).cpu;
  const t0 = process.hrtime.bigint();
  await adminOf(edge);
  await untilDelivered(edge, name, records);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = usage(edge.pid);
  const mockCpu = usage(mock.pid).cpu - mock0;
  await stop(edge, 'SIGTERM');
  const row = {
    compression: t.z, concurrency: t.c, records, bytes, seconds: +seconds.toFixed(3),
    records_per_s: Math.round(records / seconds),
    mb_per_s: +(bytes / 1e6 / seconds).toFixed(1),
    edge_cpu_s_per_gb: +(u.cpu / (bytes / 1e9)).toFixed(2),
    edge_peak_rss_mib: +u.peakMiB.toFixed(1),
    cluster_cpu_s: +mockCpu.toFixed(2),
  };
  console.log(JSON.stringify(row));
  rows.push(row);
}
console.log('\n| compression | concurrency | records | records/s | MB/s | edge CPU s/GB | edge peak RSS | mock cluster CPU s |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.compression} | ${r.concurrency} | ${r.records} of ${SIZE} B | ${r.records_per_s} | ` +
              `${r.mb_per_s} | ${r.edge_cpu_s_per_gb} | ${r.edge_peak_rss_mib} MiB | ${r.cluster_cpu_s} |`);
}
process.exit(0);
