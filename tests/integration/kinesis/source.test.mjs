// The kinesis delivery source (`source: {type: kinesis}`) end to end: an edge sluice reads a
// remote Kinesis stream with GetRecords ((a), (b)) or SubscribeToShard ((c)) and delivers it to a
// file sink.
// (a) The remote is a central sluice daemon (its Kinesis API); a 4-shard stream filled with
//     numbered records by the AWS SDK, a SplitShard while the edge reads, the edge killed -9 once
//     and restarted: every record in exactly one object, and per partition key the parent
//     shard's records before the child's.
// (b) The remote is kinesalite, some records KPL-aggregated by aws-kinesis-agg: they come out
//     de-aggregated, every user record once.
// (c) Enhanced fan-out (`consumer: efo`) from a central sluice: a 2-shard stream, records put
//     while the edge reads (pushed over its subscriptions), a SplitShard followed through
//     ChildShards, the edge killed -9 with a batch in flight and restarted: every record in
//     exactly one object, per partition key the parent's records before the child's, the
//     consumer registered and ACTIVE, MillisBehindLatest in /status.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { sdk, clients, streamAnswers, startCentral as startCentralDaemon } from './harness.mjs';
import {
  freePort, loggedLines, startDaemon, stop, waitFor, killAll, filesUnder, status,
} from '../daemons.mjs';

const agg = createRequire(import.meta.url)('aws-kinesis-agg');
const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const here = dirname(fileURLToPath(import.meta.url));
const plugins = join(dirname(bin), 'plugins');
const CREDS = { accessKeyId: 'AKIDCENTRAL', secretAccessKey: 'central-secret-key' };

const children = [];
let work;
after(() => {
  killAll();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (work && !process.env.DEBUG_KINESIS_SOURCE) rmSync(work, { recursive: true, force: true });
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

// `source`: more lines of the source's section (each indented by 6).
function edgeConfig(endpoint, stream, creds, source = '') {
  return `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
deliveries:
  - name: from-remote
    source:
      type: kinesis
      endpoint: ${endpoint}
      stream: ${stream}
      access_key_id: ${creds.accessKeyId}
      secret_access_key: ${creds.secretAccessKey}
      poll_interval: 200ms
${source}    buffer: {size: 1MiB, interval: 300ms}
    retry_duration: 10m
    record_delimiter: "\\n"
    errors: {path: ./errors}
    sink: {type: file, path: ./out}
`;
}

// The lines of `log` (in `dir`) with message `msg`, as {field: value}.
const logged = (dir, log, msg) => loggedLines([join(dir, log)], msg);

// Every delivered line, by object: [{file, lines}]. The sink writes to ./out, which the test
// makes a link to ./objects where it wants to stall the sink.
function objects(dir) {
  const real = join(dir, 'objects');
  return filesUnder(filesUnder(real).length > 0 ? real : join(dir, 'out')).map((f) => ({
    file: f,
    lines: readFileSync(f, 'utf8').split('\n').filter((l) => l !== ''),
  }));
}

function countLines(dir) {
  return objects(dir).reduce((n, o) => n + o.lines.length, 0);
}

// The directory of this file's tests (removed after them).
function workDir() {
  work ??= mkdtempSync(join(tmpdir(), 'sluice-kinesis-source-'));
  return work;
}

// A central sluice (harness.mjs) with CREDS: {central, endpoint, c}.
async function startCentral(dir, stream, shards) {
  const { central, endpoint, client: c } = await startCentralDaemon(dir, stream, shards,
    { credentials: CREDS, plugins });
  return { central, endpoint, c };
}

async function putNumbered(client, stream, from, to, keys) {
  for (let i = from; i < to; i += 250) {
    const Records = [];
    for (let j = i; j < Math.min(to, i + 250); j++) {
      Records.push({ Data: Buffer.from(`rec=${j} key=k${j % keys}`), PartitionKey: `k${j % keys}` });
    }
    const r = await client.send(new sdk.PutRecordsCommand({ StreamName: stream, Records }));
    assert.equal(r.FailedRecordCount ?? 0, 0);
  }
}

test('an edge reads a central sluice stream through a split and a kill -9', { timeout: 90000 },
  async () => {
    const { endpoint, c } = await startCentral(join(workDir(), 'central'), 'logs', 4);
    const N = 20000, KEYS = 16;
    await putNumbered(c, 'logs', 0, N / 2, KEYS);

    const edgeDir = join(work, 'edge');
    // ./out is a link to ./objects, so that the sink can be stalled by putting a file there.
    mkdirSync(join(edgeDir, 'objects'), { recursive: true });
    symlinkSync(join(edgeDir, 'objects'), join(edgeDir, 'out'));
    let edge = startDaemon(edgeDir, edgeConfig(endpoint, 'logs', CREDS));
    await waitFor('some records delivered', () => countLines(edgeDir) >= 2000, 30000, 50);
    // A split while the edge reads, then the rest of the records (some to the children).
    const { Shards } = await c.send(new sdk.ListShardsCommand({ StreamName: 'logs' }));
    const parent = Shards[0];
    const lo = BigInt(parent.HashKeyRange.StartingHashKey);
    const hi = BigInt(parent.HashKeyRange.EndingHashKey);
    await c.send(new sdk.SplitShardCommand({
      StreamName: 'logs', ShardToSplit: parent.ShardId, NewStartingHashKey: ((lo + hi) / 2n).toString(),
    }));
    await waitFor('the split', async () => (await c.send(new sdk.DescribeStreamSummaryCommand(
      { StreamName: 'logs' }))).StreamDescriptionSummary.StreamStatus === 'ACTIVE');
    await putNumbered(c, 'logs', N / 2, N, KEYS);
    // The sink stalls (its directory is a file now): a batch is planned and not written, and the
    // edge is killed with it in flight.
    writeFileSync(join(edgeDir, 'stall'), 'not a directory\n');
    renameSync(join(edgeDir, 'stall'), join(edgeDir, 'out'));
    const stalled = await waitFor('a batch the stalled sink fails', () => {
      const failed = logged(edgeDir, 'daemon.log', 'delivery attempt failed; retrying');
      return failed.length > 0 ? failed[0] : null;
    }, 30000, 50);
    await stop(edge);  // kill -9, mid-way
    rmSync(join(edgeDir, 'out'));
    symlinkSync(join(edgeDir, 'objects'), join(edgeDir, 'out'));

    edge = startDaemon(edgeDir, edgeConfig(endpoint, 'logs', CREDS), { log: 'daemon-2.log' });
    try {
      await waitFor('every record delivered', () => {
        if (edge.exitCode !== null) throw new Error('the edge exited: ' + edge.logText());
        return countLines(edgeDir) >= N;
      }, 60000, 200);
    } catch (e) {
      const st = await status(edge).catch(() => null);
      const dl = st && st.deliveries[0];
      e.message += `; ${countLines(edgeDir)} of ${N} delivered; ` + (dl ? JSON.stringify({
        records_in: dl.records_in, records_delivered: dl.records_delivered,
        buffered_bytes: dl.buffered_bytes, source: dl.source,
      }) : 'no status');
      throw e;
    }
    await new Promise((r) => setTimeout(r, 1500));  // nothing more comes
    // The batch in flight at the kill was replayed under the key it was planned with.
    const replays = logged(edgeDir, 'daemon-2.log',
      'replaying a batch planned by the partition\'s previous reader');
    assert.ok(replays.some((r) => r.key === stalled.key),
      `the stalled batch ${stalled.key} replayed (replays: ${replays.map((r) => r.key)})`);
    // The source's state in /status and /metrics.
    const st = await status(edge);
    const src = st.deliveries[0].source;
    assert.equal(src.type, 'kinesis');
    // The shards read now: the split's parent, read to its end, is done.
    assert.equal(src.shards.length, 5, JSON.stringify(src));
    assert.ok(src.shards.every((sh) => sh.lag_records === 0), JSON.stringify(src));
    await stop(edge, 'SIGTERM');

    const objs = objects(edgeDir);
    const seen = new Map();
    for (const o of objs) for (const l of o.lines) seen.set(l, (seen.get(l) || 0) + 1);
    let missing = 0, twice = 0;
    for (let j = 0; j < N; j++) {
      const n = seen.get(`rec=${j} key=k${j % KEYS}`) || 0;
      if (n === 0) missing++;
      if (n > 1) twice++;
    }
    assert.equal(missing, 0, 'records missing');
    assert.equal(twice, 0, 'records in two objects');
    // Per key, in delivery order within each object name's shard: records of the parent shard
    // (written before the split) come before the child's (written after), so the first record
    // number after N/2 of a key is never followed by one before N/2 in the same object or a
    // later-named one of the children. Objects are checked through their names' time order.
    for (const o of objs) {
      const last = new Map();
      for (const l of o.lines) {
        const [, rec, key] = /^rec=(\d+) key=(k\d+)$/.exec(l);
        assert.ok(!(last.get(key) > Number(rec)), `${o.file}: ${key} out of order`);
        last.set(key, Number(rec));
      }
    }
    const ck = JSON.parse(readFileSync(join(edgeDir, 'data', 'deliveries', 'from-remote',
      'kinesis-checkpoints.json'), 'utf8'));
    const parentCk = ck.shards.find((s) => s.id === parent.ShardId);
    assert.ok(parentCk && parentCk.end, 'the parent was checkpointed at SHARD_END');
    assert.equal(ck.shards.length, 6, 'four shards and two children');
  });

test('an edge de-aggregates KPL records read from kinesalite', { timeout: 60000 }, async () => {
  const endpoint = await startKinesalite();
  const k = clients(endpoint, CREDS).h1;
  await k.send(new sdk.CreateStreamCommand({ StreamName: 'kpl', ShardCount: 2 }));
  await waitFor('the stream', async () => (await k.send(new sdk.DescribeStreamSummaryCommand(
    { StreamName: 'kpl' }))).StreamDescriptionSummary.StreamStatus === 'ACTIVE');
  const want = [];
  // Plain records, and aggregates of 50 user records each.
  await putNumbered(k, 'kpl', 0, 1000, 7);
  for (let j = 0; j < 1000; j++) want.push(`rec=${j} key=k${j % 7}`);
  const users = [];
  for (let j = 0; j < 2000; j++) {
    users.push({ partitionKey: `u${j % 5}`, data: Buffer.from(`agg=${j} key=u${j % 5}`) });
    want.push(`agg=${j} key=u${j % 5}`);
  }
  const aggregated = [];
  await new Promise((resolve, reject) => {
    agg.aggregate(users, (enc, cb) => {
      aggregated.push({ Data: enc.data, PartitionKey: enc.partitionKey });
      cb();
    }, () => resolve(), (err) => reject(err));
  });
  for (let i = 0; i < aggregated.length; i += 100) {
    const r = await k.send(new sdk.PutRecordsCommand({
      StreamName: 'kpl', Records: aggregated.slice(i, i + 100),
    }));
    assert.equal(r.FailedRecordCount ?? 0, 0);
  }
  const edgeDir = join(workDir(), 'edge-kpl');
  const edge = startDaemon(edgeDir, edgeConfig(endpoint, 'kpl', { accessKeyId: 'a', secretAccessKey: 'b' }));
  await waitFor('every user record delivered', () => {
    if (edge.exitCode !== null) throw new Error('the edge exited: ' + edge.logText());
    return countLines(edgeDir) >= want.length;
  }, 45000, 200);
  await new Promise((r) => setTimeout(r, 1000));
  await stop(edge, 'SIGTERM');
  const seen = new Map();
  for (const o of objects(edgeDir)) for (const l of o.lines) seen.set(l, (seen.get(l) || 0) + 1);
  assert.equal(seen.size, want.length, 'distinct lines');
  for (const w of want) assert.equal(seen.get(w), 1, w);
});

test('a first batch read from LATEST is replayed after a kill -9', { timeout: 60000 }, async () => {
  // Its plan has no checkpoint before it: the restarted edge must read it again from its first
  // record, not from LATEST again (which would skip it).
  const endpoint = await startKinesalite();
  const k = clients(endpoint, CREDS).h1;
  await k.send(new sdk.CreateStreamCommand({ StreamName: 'late', ShardCount: 1 }));
  await waitFor('the stream', async () => (await k.send(new sdk.DescribeStreamSummaryCommand(
    { StreamName: 'late' }))).StreamDescriptionSummary.StreamStatus === 'ACTIVE');
  await putNumbered(k, 'late', 0, 100, 3);  // before the edge: not to be delivered
  const edgeDir = join(workDir(), 'edge-latest');
  mkdirSync(join(edgeDir, 'objects'), { recursive: true });
  // The sink is stalled from the start (./out is a file): the first batch is planned, not written.
  writeFileSync(join(edgeDir, 'out'), 'not a directory\n');
  const creds = { accessKeyId: 'a', secretAccessKey: 'b' };
  const config = edgeConfig(endpoint, 'late', creds)
    .replace('    buffer:', '    initial_position: latest\n    buffer:');
  let edge = startDaemon(edgeDir, config);
  // Its LATEST iterator is taken (a GetRecords answered) before the records it must deliver.
  await waitFor('the edge at the stream\'s tip', async () => {
    const sh = (await status(edge).catch(() => null))?.deliveries?.[0]?.source?.shards?.[0];
    return sh !== undefined && sh.millis_behind_latest !== undefined;
  }, 20000, 50);
  await putNumbered(k, 'late', 100, 600, 3);
  const stalled = await waitFor('a batch the stalled sink fails', () => {
    const failed = logged(edgeDir, 'daemon.log', 'delivery attempt failed; retrying');
    return failed.length > 0 ? failed[0] : null;
  }, 30000, 50);
  await stop(edge);  // kill -9
  rmSync(join(edgeDir, 'out'));
  symlinkSync(join(edgeDir, 'objects'), join(edgeDir, 'out'));
  edge = startDaemon(edgeDir, config, { log: 'daemon-2.log' });
  await waitFor('the planned batch delivered', () => {
    if (edge.exitCode !== null) throw new Error('the edge exited: ' + edge.logText());
    return countLines(edgeDir) >= 500;
  }, 30000, 100);
  await stop(edge, 'SIGTERM');
  const replays = logged(edgeDir, 'daemon-2.log',
    'replaying a batch planned by the partition\'s previous reader');
  assert.ok(replays.some((r) => r.key === stalled.key),
    `the stalled batch ${stalled.key} replayed (replays: ${replays.map((r) => r.key)})`);
  const lines = objects(edgeDir).flatMap((o) => o.lines);
  const want = [];
  for (let j = 100; j < 600; j++) want.push(`rec=${j} key=k${j % 3}`);
  assert.deepEqual([...lines].sort(), want.sort(), 'the records put after the edge started, once');
});

// The source's state of `edge`'s delivery, the lines delivered and the log's end: for failures.
async function edgeState(edge, edgeDir, want) {
  const st = await status(edge).catch(() => null);
  const dl = st && st.deliveries[0];
  return `${countLines(edgeDir)} of ${want} lines delivered; ` + (dl ? JSON.stringify({
    records_in: dl.records_in, records_delivered: dl.records_delivered,
    buffered_bytes: dl.buffered_bytes, source: dl.source,
  }) : 'no status') + `\nedge log:\n${edge.logText()}`;
}

// Waits for `pred` while `edge` runs; a failure tells where the edge is.
async function whileEdgeRuns(what, edge, edgeDir, want, pred, ms) {
  try {
    return await waitFor(what, () => {
      if (edge.exitCode !== null || edge.signalCode !== null) {
        throw new Error(`the edge exited while waiting for ${what}`);
      }
      return pred();
    }, ms, 50);
  } catch (e) {
    e.message += '; ' + await edgeState(edge, edgeDir, want);
    throw e;
  }
}

// The partition keys k0..k<keys-1> whose MD5 hash key falls in `shard`'s range.
function keysOf(shard, keys) {
  const lo = BigInt(shard.HashKeyRange.StartingHashKey);
  const hi = BigInt(shard.HashKeyRange.EndingHashKey);
  const out = new Set();
  for (let k = 0; k < keys; k++) {
    const h = BigInt('0x' + createHash('md5').update(`k${k}`).digest('hex'));
    if (h >= lo && h <= hi) out.add(`k${k}`);
  }
  return out;
}

test('an edge reads a central sluice stream through enhanced fan-out', { timeout: 60000 },
  async () => {
    const dir = join(workDir(), 'efo');
    const { endpoint, c } = await startCentral(join(dir, 'central'), 'fan', 2);
    // Put in four parts: a backlog before the edge starts, records while it reads, records
    // after the split (the split shard's to its children), records while the sink is stalled.
    const N = 10000, KEYS = 16, BACKLOG = 6000, SPLIT_AT = 7500, STALL_AT = 9000;
    await putNumbered(c, 'fan', 0, BACKLOG, KEYS);

    const edgeDir = join(dir, 'edge');
    mkdirSync(join(edgeDir, 'objects'), { recursive: true });
    symlinkSync(join(edgeDir, 'objects'), join(edgeDir, 'out'));
    const config = edgeConfig(endpoint, 'fan', CREDS, '      consumer: efo\n');
    let edge = startDaemon(edgeDir, config);
    await whileEdgeRuns('part of the backlog delivered', edge, edgeDir, N,
      () => countLines(edgeDir) >= 1500, 15000);
    // Records put while the edge is subscribed: pushed to it live.
    await putNumbered(c, 'fan', BACKLOG, SPLIT_AT, KEYS);
    const { Shards } = await c.send(new sdk.ListShardsCommand({ StreamName: 'fan' }));
    const parent = Shards[0];
    const lo = BigInt(parent.HashKeyRange.StartingHashKey);
    const hi = BigInt(parent.HashKeyRange.EndingHashKey);
    await c.send(new sdk.SplitShardCommand({
      StreamName: 'fan', ShardToSplit: parent.ShardId, NewStartingHashKey: ((lo + hi) / 2n).toString(),
    }));
    await waitFor('the split', async () => (await c.send(new sdk.DescribeStreamSummaryCommand(
      { StreamName: 'fan' }))).StreamDescriptionSummary.StreamStatus === 'ACTIVE', 10000, 50);
    const children = (await c.send(new sdk.ListShardsCommand({ StreamName: 'fan' }))).Shards
      .filter((sh) => sh.ParentShardId === parent.ShardId).map((sh) => sh.ShardId);
    assert.equal(children.length, 2, `children of the split: expected 2, seen ${children}`);
    await putNumbered(c, 'fan', SPLIT_AT, STALL_AT, KEYS);
    // The edge reads the parent to its end (its last event names the children) and then the
    // children: everything put so far is delivered.
    await whileEdgeRuns(`the ${STALL_AT} records put so far delivered (the children's too)`, edge,
      edgeDir, N, () => countLines(edgeDir) >= STALL_AT, 15000);
    const ended = logged(edgeDir, 'daemon.log', 'kinesis source read a closed shard to its end');
    assert.deepEqual(ended.map((l) => l.shard), [parent.ShardId],
      `closed shards read to their end: expected [${parent.ShardId}], seen ` +
      JSON.stringify(ended.map((l) => l.shard)));

    // The sink stalls (its directory is a file now), then the last records come: a batch is
    // planned and not written, and the edge is killed with it in flight.
    writeFileSync(join(edgeDir, 'stall'), 'not a directory\n');
    renameSync(join(edgeDir, 'stall'), join(edgeDir, 'out'));
    await putNumbered(c, 'fan', STALL_AT, N, KEYS);
    const stalled = await whileEdgeRuns('a batch the stalled sink fails', edge, edgeDir, N, () => {
      const failed = logged(edgeDir, 'daemon.log', 'delivery attempt failed; retrying');
      return failed.length > 0 ? failed[0] : null;
    }, 15000);
    await stop(edge);  // kill -9, mid-way
    rmSync(join(edgeDir, 'out'));
    symlinkSync(join(edgeDir, 'objects'), join(edgeDir, 'out'));

    edge = startDaemon(edgeDir, config, { log: 'daemon-2.log' });
    await whileEdgeRuns('every record delivered', edge, edgeDir, N,
      () => countLines(edgeDir) >= N, 20000);
    // Then idle: the shards read now (the parent is done) have delivered all they fetched, and
    // each had a SubscribeToShardEvent (MillisBehindLatest; one comes at least every 5 s).
    let seen;
    const src = await whileEdgeRuns('3 shards in /status, none lagging, each with ' +
      'millis_behind_latest', edge, edgeDir, N, async () => {
      seen = (await status(edge))?.deliveries[0].source;
      return seen && seen.shards.length === 3 && seen.shards.every((sh) => sh.lag_records === 0 &&
        Number.isInteger(sh.millis_behind_latest) && sh.millis_behind_latest >= 0) ? seen : null;
    }, 10000).catch((e) => {
      e.message = 'expected 3 shards in /status with lag_records 0 and millis_behind_latest >= 0, ' +
        `seen ${JSON.stringify(seen?.shards)}: ${e.message}`;
      throw e;
    });
    assert.equal(src.type, 'kinesis');
    // The shards read now: the other shard and the children (the parent, read to its end, is
    // done).
    const reading = [Shards[1].ShardId, ...children].sort();
    assert.deepEqual(src.shards.map((sh) => sh.id).sort(), reading,
      `shards read: expected ${reading}, seen ${src.shards.map((sh) => sh.id).sort()}`);

    // The batch in flight at the kill was replayed under the key it was planned with.
    const replays = logged(edgeDir, 'daemon-2.log',
      'replaying a batch planned by the partition\'s previous reader');
    assert.ok(replays.some((r) => r.key === stalled.key),
      `expected the stalled batch ${stalled.key} replayed, seen replays of ${JSON.stringify(
        replays.map((r) => r.key))}`);
    // Both runs read through the consumer sluice-from-remote, which the stream lists ACTIVE.
    const arn = (await c.send(new sdk.DescribeStreamSummaryCommand({ StreamName: 'fan' })))
      .StreamDescriptionSummary.StreamARN;
    const { Consumers } = await c.send(new sdk.ListStreamConsumersCommand({ StreamARN: arn }));
    const listed = Consumers.map((x) => `${x.ConsumerName} ${x.ConsumerStatus}`);
    assert.deepEqual(listed, ['sluice-from-remote ACTIVE'],
      `consumers: expected [sluice-from-remote ACTIVE], seen ${JSON.stringify(listed)}`);
    for (const log of ['daemon.log', 'daemon-2.log']) {
      const used = logged(edgeDir, log, 'kinesis source reads through an enhanced fan-out consumer')
        .map((l) => l.consumer_arn);
      assert.deepEqual(used, [Consumers[0].ConsumerARN],
        `${log}: expected reading through ${Consumers[0].ConsumerARN}, seen ${JSON.stringify(used)}`);
    }
    await stop(edge, 'SIGTERM');

    // Every record in exactly one object.
    const objs = objects(edgeDir);
    const seenLines = new Map();
    for (const o of objs) for (const l of o.lines) seenLines.set(l, (seenLines.get(l) || 0) + 1);
    const missing = [], twice = [];
    for (let j = 0; j < N; j++) {
      const n = seenLines.get(`rec=${j} key=k${j % KEYS}`) || 0;
      if (n === 0) missing.push(j);
      if (n > 1) twice.push(j);
    }
    const some = (a) => `${a.length} (${a.slice(0, 10).join(', ')}${a.length > 10 ? ', ...' : ''})`;
    assert.equal(missing.length, 0, `records missing: expected 0, seen ${some(missing)}`);
    assert.equal(twice.length, 0, `records in two objects: expected 0, seen ${some(twice)}`);
    const lines = objs.reduce((n, o) => n + o.lines.length, 0);
    assert.equal(lines, N, `lines delivered: expected ${N}, seen ${lines}`);
    // Per key, in order within each object (each holds one shard's records).
    for (const o of objs) {
      const last = new Map();
      for (const l of o.lines) {
        const [, rec, key] = /^rec=(\d+) key=(k\d+)$/.exec(l);
        assert.ok(!(last.get(key) > Number(rec)),
          `${o.file}: ${key} out of order: rec=${rec} after rec=${last.get(key)}`);
        last.set(key, Number(rec));
      }
    }
    // Across the split: for a key of the parent, every object with its records put before the
    // split (the parent's) was written before any object with its records put after it (a
    // child's, read only once the parent was delivered to its end).
    for (const key of keysOf(parent, KEYS)) {
      let parentLast = null, childFirst = null;
      for (const o of objs) {
        const recs = o.lines.map((l) => /^rec=(\d+) key=(k\d+)$/.exec(l))
          .filter((m) => m[2] === key).map((m) => Number(m[1]));
        if (recs.length === 0) continue;
        const mtime = statSync(o.file).mtimeMs;
        const before = recs.filter((r) => r < SPLIT_AT).length;
        assert.ok(before === 0 || before === recs.length, `${o.file}: expected ${key}'s records ` +
          `of one shard, seen ${before} from before the split and ${recs.length - before} after`);
        if (before > 0 && (!parentLast || mtime > parentLast.mtime)) parentLast = { o, mtime };
        if (before === 0 && (!childFirst || mtime < childFirst.mtime)) childFirst = { o, mtime };
      }
      assert.ok(parentLast && childFirst, `${key}: expected objects from both sides of the ` +
        `split, seen the parent's: ${Boolean(parentLast)}, a child's: ${Boolean(childFirst)}`);
      assert.ok(parentLast.mtime <= childFirst.mtime, `${key}: expected the parent's objects ` +
        `written before the child's, seen ${parentLast.o.file} (mtime ${parentLast.mtime}) after ` +
        `${childFirst.o.file} (mtime ${childFirst.mtime})`);
    }
    const ck = JSON.parse(readFileSync(join(edgeDir, 'data', 'deliveries', 'from-remote',
      'kinesis-checkpoints.json'), 'utf8'));
    const parentCk = ck.shards.find((s) => s.id === parent.ShardId);
    assert.ok(parentCk && parentCk.end,
      `expected the parent checkpointed at SHARD_END, seen ${JSON.stringify(parentCk)}`);
    assert.equal(ck.shards.length, 4,
      `checkpointed shards: expected 4 (two and two children), seen ${JSON.stringify(ck.shards)}`);
  });
