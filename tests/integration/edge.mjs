// Shared by the sink tests and benchmarks that let an edge daemon catch up on a filled stream:
// filling its stream `logs` (2 shards) through its own Kinesis API (no agent: only the sink's leg
// is measured), with the AWS SDK or with kinesis_loadgen, and the config of the runs that then
// deliver it; and the config of an edge that tails log files instead.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, startDaemon, adminOf, stop } from './daemons.mjs';
import { clients, destroyAll, sdk, streamAnswers } from './kinesis/harness.mjs';

const run = promisify(execFile);

// Fills the stream of a daemon started in `dir` (log fill.log) without a delivery: `records`
// records line(0) ... line(records - 1), put 500 at a time, each keyed by its `user=`. Stops the
// daemon and returns the lines.
export async function fillEdge(dir, records,
  line = (i) => `seq=${i} user=u${i % 11} ${'z'.repeat(40 + (i % 60))}`) {
  const port = await freePort();
  const edge = startDaemon(dir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  api:
    listen: 127.0.0.1:${port}
streams:
  - name: logs
    shards: 2
`, { log: 'fill.log' });
  const kc = clients(`http://127.0.0.1:${port}`);
  await streamAnswers(kc.h1, edge, 'logs');
  const want = [];
  for (let i = 0; i < records; i++) want.push(line(i));
  for (let i = 0; i < records; i += 500) {
    const Records = want.slice(i, i + 500).map((d) => ({
      Data: Buffer.from(d), PartitionKey: /user=(u\d+)/.exec(d)[1],
    }));
    const r = await kc.h1.send(new sdk.PutRecordsCommand({ StreamName: 'logs', Records }));
    if (r.FailedRecordCount !== 0) throw new Error(`${r.FailedRecordCount} records failed`);
  }
  destroyAll(kc);
  await stop(edge, 'SIGTERM');
  return want;
}

// The config of the runs that deliver the filled stream (no API listener: no port to bind again
// at each start): delivery `name`, batches of `batch` bytes or 100 ms, retried for 10 minutes,
// into `sink` (its settings, one line each).
export function deliveryConfig(plugins, name, batch, sink) {
  return `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
streams:
  - name: logs
    shards: 2
deliveries:
  - name: ${name}
    stream: logs
    buffer: {size: ${batch}, interval: 100ms}
    retry_duration: 10m
    errors: {path: ./errors}
    sink:
${Object.entries(sink).map(([k, v]) => `      ${k}: ${v}\n`).join('')}`;
}

// The config of an edge daemon that tails ./log/*.log from the start of each file into its stream
// `logs` (2 shards), keyed by `partitionKey` (YAML text, quoted where it needs to be), and delivers
// as `deliveries` says (the YAML items of the deliveries list).
export function tailingConfig(plugins, partitionKey, deliveries) {
  return `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
streams:
  - name: logs
    shards: 2
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    partition_key: ${partitionKey}
    rescan_interval: 200ms
deliveries:
${deliveries}`;
}

// Fills the stream of a daemon (sluice binary `bin`) started in `dir` (log fill.log) with
// kinesis_loadgen for `seconds` (records of `size` bytes; a stream of `shards` shards) and stops it. Returns the records put
// and `base`, the config without a delivery for the runs that follow (`fsync: interval`; the API
// on any free port).
export async function fillWithLoadgen(dir, { bin, plugins, loadgen, seconds, size, shards = 2 }) {
  const port = await freePort();
  const config = (listen) => `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
broker:
  api:
    listen: 127.0.0.1:${listen}
streams:
  - name: logs
    shards: ${shards}
    fsync: interval
`;
  const edge = startDaemon(dir, config(port), { log: 'fill.log', bin });
  await adminOf(edge);
  const put = JSON.parse((await run(loadgen, ['put', '--port', String(port), '--stream', 'logs',
    '--seconds', String(seconds), '--size', String(size), '--connections', '2'])).stdout);
  await stop(edge, 'SIGTERM');
  return { records: put.records, base: config(0) };
}
