// Benchmark: the kinesis sink from one edge daemon into a central sluice (SigV4 on), without and
// with KPL aggregation.
//   node sink_bench.mjs --sluice PATH --loadgen PATH [--seconds 4] [--size 200] [--shards 4]
//                       [--edge-shards 2] [--concurrency 4] [--calls-in-flight 4]
//                       [--latency-ms 0] [--modes none,kpl]
// The edge's stream (--edge-shards shards) is filled first through its own Kinesis API by
// kinesis_loadgen (records of --size bytes, 500 keys); then the edge is started again with a
// delivery (kinesis sink, its `concurrency` workers each sending one batch at a time, its calls
// `calls_in_flight` at once) and timed from its start to the last record delivered (its
// /status). Prints, per mode, MB/s of record bytes, records/s, the edge's and the central's CPU
// seconds per GB, the edge's peak RSS and the sink's counters, as JSON lines and a Markdown
// table. With --latency-ms, the edge reaches the central through a proxy that holds every chunk
// half that long each way: a round trip as to a regional endpoint.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, startDaemon, adminOf, adminAddress, untilDelivered, usage, stop } from '../daemons.mjs';
import { fillWithLoadgen } from '../edge.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => {
  if (v.startsWith('--')) acc.push([v.slice(2), a[i + 1]]);
  return acc;
}, []));
const bin = args.sluice;
const loadgen = args.loadgen;
if (!bin || !loadgen) throw new Error('usage: node sink_bench.mjs --sluice PATH --loadgen PATH');
const SECONDS = Number(args.seconds ?? 4);
const SIZE = Number(args.size ?? 200);
const SHARDS = Number(args.shards ?? 4);
const CONCURRENCY = Number(args.concurrency ?? 4);
// The edge stream's shards: a delivery's workers each read their share of them.
const EDGE_SHARDS = Number(args['edge-shards'] ?? 2);
const IN_FLIGHT = Number(args['calls-in-flight'] ?? 4);
const LATENCY_MS = Number(args['latency-ms'] ?? 0);
const MODES = (args.modes ?? 'none,kpl').split(',');
const KEY = { id: 'AKIDBENCH', secret: 'bench-secret-key' };
const plugins = join(dirname(bin), 'plugins');
const root = mkdtempSync(join(tmpdir(), 'sluice-kinesis-sink-bench-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const start = (dir, yaml, log = 'daemon.log') => startDaemon(dir, yaml, { log, bin });

const apiPort = await freePort();
const central = start(join(root, 'central'), `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth:
      - access_key_id: ${KEY.id}
        secret_access_key: ${KEY.secret}
streams:
  - name: fleet-none
    shards: ${SHARDS}
    fsync: interval
  - name: fleet-kpl
    shards: ${SHARDS}
    fsync: interval
`);
await adminOf(central);

// The proxy that adds latency: each chunk is forwarded LATENCY_MS / 2 later, in order.
let sinkPort = apiPort;
if (LATENCY_MS > 0) {
  const half = LATENCY_MS / 2;
  const relay = (from, to) => from.on('data', (chunk) => setTimeout(() => to.write(chunk), half));
  const proxy = createServer((client) => {
    const upstream = connect(apiPort, '127.0.0.1');
    relay(client, upstream);
    relay(upstream, client);
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  sinkPort = proxy.address().port;
  process.on('exit', () => proxy.close());
}

// Fill the edge's stream.
const edgeDir = join(root, 'edge');
const { records, base } = await fillWithLoadgen(edgeDir, {
  bin, plugins, loadgen, seconds: SECONDS, size: SIZE, shards: EDGE_SHARDS,
});
const bytes = records * SIZE;

const rows = [];
for (const mode of MODES) {
  const edge = start(edgeDir, base + `deliveries:
  - name: bench-${mode}
    stream: logs
    buffer: {size: 5MiB, interval: 1s}
    concurrency: ${CONCURRENCY}
    errors: {path: ./errors-${mode}}
    sink:
      type: kinesis
      stream: fleet-${mode}
      aggregation: ${mode}
      calls_in_flight: ${IN_FLIGHT}
      endpoint: http://127.0.0.1:${sinkPort}
      access_key_id: ${KEY.id}
      secret_access_key: ${KEY.secret}
`, `${mode}.log`);
  const t0 = process.hrtime.bigint();
  const centralBefore = usage(central.pid).cpu;
  await adminOf(edge);
  await untilDelivered(edge, `bench-${mode}`, records);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = usage(edge.pid);
  const centralCpu = usage(central.pid).cpu - centralBefore;
  // The sink's own counters: calls made, bytes sent, records the central refused for a retry.
  const metrics = await (await fetch(`http://${adminAddress(edge)}/metrics`)).text();
  const counter = (name) => Number(new RegExp(
    `sluice_delivery_plugin_counter\\{[^}]*counter="${name}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  await stop(edge, 'SIGTERM');
  const row = {
    mode, calls_in_flight: IN_FLIGHT, latency_ms: LATENCY_MS, records, bytes,
    seconds: +seconds.toFixed(3),
    mb_per_s: +(bytes / 1e6 / seconds).toFixed(1),
    records_per_s: Math.round(records / seconds),
    edge_cpu_s_per_gb: +(u.cpu / (bytes / 1e9)).toFixed(2),
    edge_peak_rss_mib: +u.peakMiB.toFixed(1),
    central_cpu_s_per_gb: +(centralCpu / (bytes / 1e9)).toFixed(2),
    calls: counter('requests'),
    bytes_sent: counter('bytes_sent'),
    records_failed: counter('records_failed'),
  };
  console.log(JSON.stringify(row));
  rows.push(row);
}
await stop(central, 'SIGTERM');
console.log(`\n| aggregation | records | MB/s | records/s | edge CPU s/GB | central CPU s/GB | ` +
            `edge peak RSS |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const r of rows) {
  console.log(`| ${r.mode} | ${r.records} of ${SIZE} B | ${r.mb_per_s} | ${r.records_per_s} | ` +
              `${r.edge_cpu_s_per_gb} | ${r.central_cpu_s_per_gb} | ${r.edge_peak_rss_mib} MiB |`);
}
process.exit(0);  // the latency proxy would keep the process alive
