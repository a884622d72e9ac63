// The kinesis sink end to end: an edge daemon (`sluice run`) tails a log file into its stream and
// delivers it with the kinesis sink to two Kinesis servers it did not write: a second sluice
// daemon (the central broker, SigV4 authentication on) and kinesalite, as plain records and as
// KPL aggregated records (aggregation: kpl), which aws-kinesis-agg (an independent implementation
// of the format) de-aggregates. Every line is read back with the AWS SDK for JavaScript v3 from
// each and counted (no loss, no duplicate); each record keeps the partition key it had at the
// edge, and the records of one key arrive in the order they were written.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { sdk, clients, destroyAll, streamAnswers } from './harness.mjs';
import {
  freePort, startDaemon, waitFor, killAll, killWhileDelivering,
} from '../daemons.mjs';
import { fillEdge, deliveryConfig, tailingConfig } from '../edge.mjs';

const agg = createRequire(import.meta.url)('aws-kinesis-agg');

const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const here = dirname(fileURLToPath(import.meta.url));
const LINES = 12000;
const CENTRAL = { accessKeyId: 'AKIDCENTRAL', secretAccessKey: 'central-secret-key' };

const children = [];  // kinesalite
let work;
after(() => {
  killAll();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (work && !process.env.DEBUG_KINESIS_SINK) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

async function startKinesalite() {
  const child = spawn(process.execPath, [join(here, 'kinesalite_server.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`kinesalite exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  const m = /^PORT (\d+)$/.exec(line);
  if (!m) throw new Error(`unexpected kinesalite output: ${line}`);
  return `http://127.0.0.1:${m[1]}`;
}

// The user records of an aggregated Kinesis record, by aws-kinesis-agg (checksums checked).
function deaggregate(rec) {
  let out;
  agg.deaggregateSync({
    data: Buffer.from(rec.Data).toString('base64'),
    partitionKey: rec.PartitionKey,
    sequenceNumber: rec.SequenceNumber,
  }, true, (err, users) => {
    if (err) throw err;
    out = users.map((u) => ({ data: Buffer.from(u.data, 'base64').toString(), key: u.partitionKey }));
  });
  return out;
}

// Every record of every shard of `stream`, shard by shard in order: [{data, key}]; with
// `aggregated`, the user records of each (and `.kinesisRecords`, how many Kinesis records).
async function readAll(client, stream, aggregated = false) {
  const out = [];
  const { Shards } = await client.send(new sdk.ListShardsCommand({ StreamName: stream }));
  for (const shard of Shards) {
    let { ShardIterator: it } = await client.send(new sdk.GetShardIteratorCommand({
      StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON',
    }));
    for (;;) {
      const r = await client.send(new sdk.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
      for (const rec of r.Records) {
        out.kinesisRecords = (out.kinesisRecords || 0) + 1;
        if (aggregated) out.push(...deaggregate(rec));
        else out.push({ data: Buffer.from(rec.Data).toString(), key: rec.PartitionKey });
      }
      it = r.NextShardIterator;
      if (!it || (r.Records.length === 0 && r.MillisBehindLatest === 0)) break;
    }
  }
  return out;
}

function check(records, want, where) {
  const seen = new Map();
  const lastOfKey = new Map();
  for (const r of records) {
    seen.set(r.data, (seen.get(r.data) || 0) + 1);
    const m = /^seq=(\d+) user=(u\d+)/.exec(r.data);
    assert.ok(m, `${where}: unexpected record ${r.data}`);
    assert.equal(r.key, m[2], `${where}: the edge's partition key is kept`);
    const seq = Number(m[1]);
    assert.ok(!(lastOfKey.get(r.key) > seq), `${where}: key ${r.key} out of order at seq ${seq}`);
    lastOfKey.set(r.key, seq);
  }
  let missing = 0, twice = 0;
  for (const line of want) {
    const n = seen.get(line) || 0;
    if (n === 0) missing++;
    if (n > 1) twice++;
  }
  assert.equal(missing, 0, `${where}: lines missing`);
  assert.equal(twice, 0, `${where}: lines delivered twice`);
  assert.equal(records.length, want.length, `${where}: records`);
}

test('an edge daemon feeds a central sluice and kinesalite through the kinesis sink',
  { timeout: 180000 }, async () => {
    work = mkdtempSync(join(tmpdir(), 'sluice-kinesis-sink-'));
    const plugins = join(dirname(bin), 'plugins');
    const apiPort = await freePort();
    const central = startDaemon(join(work, 'central'), `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth:
      - access_key_id: ${CENTRAL.accessKeyId}
        secret_access_key: ${CENTRAL.secretAccessKey}
streams:
  - name: fleet
    shards: 3
  - name: fleet-kpl
    shards: 3
`);
    const kinesaliteEndpoint = await startKinesalite();
    const k = clients(kinesaliteEndpoint, CENTRAL).h1;
    await k.send(new sdk.CreateStreamCommand({ StreamName: 'fleet', ShardCount: 2 }));
    await k.send(new sdk.CreateStreamCommand({ StreamName: 'fleet-kpl', ShardCount: 2 }));
    const c = clients(`http://127.0.0.1:${apiPort}`, CENTRAL).h1;
    await streamAnswers(c, central, 'fleet');

    const edgeDir = join(work, 'edge');
    mkdirSync(join(edgeDir, 'log'), { recursive: true });
    const want = [];
    for (let i = 0; i < LINES; i++) {
      want.push(`seq=${i} user=u${i % 37} path=/api/v1/items/${i} ${'x'.repeat(i % 300)}`);
    }
    // A first part before the start, the rest while it runs.
    writeFileSync(join(edgeDir, 'log', 'app.log'), want.slice(0, LINES / 2).join('\n') + '\n');
    const edge = startDaemon(edgeDir, tailingConfig(plugins, '"regex:user=(u[0-9]+)"', `  - name: to-central
    stream: logs
    buffer: {size: 256KiB, interval: 200ms}
    errors: {path: ./errors-central}
    sink:
      type: kinesis
      stream: fleet
      endpoint: http://127.0.0.1:${apiPort}
      access_key_id: ${CENTRAL.accessKeyId}
      secret_access_key: ${CENTRAL.secretAccessKey}
  - name: to-kinesalite
    stream: logs
    buffer: {size: 256KiB, interval: 200ms}
    errors: {path: ./errors-kinesalite}
    sink:
      type: kinesis
      stream: fleet
      endpoint: ${kinesaliteEndpoint}
      access_key_id: anything
      secret_access_key: anything
  - name: to-central-kpl
    stream: logs
    buffer: {size: 256KiB, interval: 200ms}
    errors: {path: ./errors-central-kpl}
    sink:
      type: kinesis
      stream: fleet-kpl
      aggregation: kpl
      endpoint: http://127.0.0.1:${apiPort}
      access_key_id: ${CENTRAL.accessKeyId}
      secret_access_key: ${CENTRAL.secretAccessKey}
  - name: to-kinesalite-kpl
    stream: logs
    buffer: {size: 256KiB, interval: 200ms}
    errors: {path: ./errors-kinesalite-kpl}
    sink:
      type: kinesis
      stream: fleet-kpl
      aggregation: kpl
      endpoint: ${kinesaliteEndpoint}
      access_key_id: anything
      secret_access_key: anything
`));
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync(join(edgeDir, 'log', 'app.log'), want.slice(LINES / 2).join('\n') + '\n', { flag: 'a' });

    const all = async () => ({
      central: await readAll(c, 'fleet'),
      kinesalite: await readAll(k, 'fleet'),
      centralKpl: await readAll(c, 'fleet-kpl', true),
      kinesaliteKpl: await readAll(k, 'fleet-kpl', true),
    });
    await waitFor('every line at both servers', async () => {
      assert.equal(edge.exitCode, null, 'the edge daemon exited: ' + edge.logText());
      const got = await all();
      return Object.values(got).every((records) => records.length >= LINES);
    }, 120000);
    await new Promise((r) => setTimeout(r, 1000));  // anything more would be a duplicate
    const got = await all();
    check(got.central, want, 'central sluice');
    check(got.kinesalite, want, 'kinesalite');
    check(got.centralKpl, want, 'central sluice, kpl');
    check(got.kinesaliteKpl, want, 'kinesalite, kpl');
    // Aggregated: far fewer Kinesis records than lines.
    assert.ok(got.centralKpl.kinesisRecords * 20 < LINES, `${got.centralKpl.kinesisRecords} records`);
    assert.ok(got.kinesaliteKpl.kinesisRecords * 20 < LINES);
    destroyAll({ c, k });
  });

// kill -9 of the sending daemon while it delivers: every record still arrives, and the records
// put twice are at most the batches in flight at the kills (a batch the central stream took but
// the edge had not yet checkpointed is put again on restart).
test('kill -9 of the edge daemon under load loses nothing', { timeout: 180000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'sluice-kinesis-kill-'));
  const plugins = join(dirname(bin), 'plugins');
  const apiPort = await freePort();
  const RECORDS = 100000, KILLS = 3, BATCH = 16384;
  const centralYaml = `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth:
      - access_key_id: ${CENTRAL.accessKeyId}
        secret_access_key: ${CENTRAL.secretAccessKey}
streams:
  - name: fleet
    shards: 2
`;
  // The runs that are killed have the delivery and no API listener; the fill run has the
  // listener and no delivery, and fills the edge's stream while the central daemon is not there
  // yet.
  const edgeYaml = deliveryConfig(plugins, 'to-central', BATCH, {
    type: 'kinesis',
    stream: 'fleet',
    endpoint: `http://127.0.0.1:${apiPort}`,
    access_key_id: CENTRAL.accessKeyId,
    secret_access_key: CENTRAL.secretAccessKey,
  });
  const want = await fillEdge(join(root, 'edge'), RECORDS);
  const central = startDaemon(join(root, 'central'), centralYaml);
  const c = clients(`http://127.0.0.1:${apiPort}`, CENTRAL).h1;
  await streamAnswers(c, central, 'fleet');
  // Started and killed while it catches up: each run is killed once it delivered a little.
  await killWhileDelivering(join(root, 'edge'), edgeYaml, { kills: KILLS, delivery: 'to-central' });
  const atKills = (await readAll(c, 'fleet')).length;
  assert.ok(atKills < RECORDS, `the kills came after the end (${atKills} records there)`);
  const edge = startDaemon(join(root, 'edge'), edgeYaml);
  let records = [];
  await waitFor('every record at the central stream', async () => {
    assert.equal(edge.exitCode, null, 'the edge daemon exited: ' + edge.logText());
    records = await readAll(c, 'fleet');
    return new Set(records.map((r) => r.data)).size >= RECORDS;
  }, 120000);
  await new Promise((r) => setTimeout(r, 1000));
  records = await readAll(c, 'fleet');
  const seen = new Map();
  for (const r of records) seen.set(r.data, (seen.get(r.data) || 0) + 1);
  for (const line of want) assert.ok(seen.has(line), `missing ${line.slice(0, 20)}`);
  assert.equal(seen.size, RECORDS, 'no other record');
  const duplicates = records.length - RECORDS;
  // At most one batch of records per kill (one worker; its checkpoint is durable before the
  // next batch is sent): a batch holds buffer.size bytes plus at most one read of the stream
  // (64 KiB), in records of at least 50 bytes.
  const bound = KILLS * Math.ceil((BATCH + 65536) / 50);
  assert.ok(duplicates <= bound, `${duplicates} duplicates (bound ${bound})`);
  if (process.env.DEBUG_KINESIS_SINK) {
    console.error(`${atKills} records after the kills; duplicates ${duplicates}`);
  }
  c.destroy();
  for (const child of [edge, central]) child.kill('SIGKILL');
  if (!process.env.DEBUG_KINESIS_SINK) rmSync(root, { recursive: true, force: true });
});
