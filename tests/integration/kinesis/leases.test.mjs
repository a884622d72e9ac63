// The kinesis delivery source sharing a stream through a KCL-compatible lease table
// (`source: {type: kinesis, lease_table: {...}}`): kinesalite is the Kinesis stream, dynalite the
// DynamoDB lease table, and every instance delivers with the file sink into one shared directory
// (one bucket, as with S3: object names are seeded with the batch's sequence numbers, so a batch
// sent again under its planned key replaces its object).
// (a) Instances a and b share a 4-shard stream (2 leases each) while numbered records flow; a is
//     killed -9 with a batch in flight (its sink stalled); b takes a's leases once they expire
//     (failover_time), sends a's planned batch under a's key, and a third instance c joins and
//     steals leases until each holds 2. Every record in exactly one object; the lease table holds
//     one KCL item per shard, checkpointed at the shard's last record.
// (b) Two instances read a 2-shard stream; the shard one of them holds is split while its sink is
//     stalled: the children are read only after the parent's lease reaches SHARD_END (no object
//     of the children while the parent's batch waits, every parent object written before any
//     child object), and the children's items name the parent (parentShardId).
// (c) Enhanced fan-out with a lease table: the stream is a central sluice's (its Kinesis API,
//     SigV4 on; kinesalite has no SubscribeToShard), 4 shards, numbered records put while two
//     instances with `consumer: efo` share it (2 leases each, one consumer); one is killed -9
//     with a batch in flight (its sink stalled); the other takes its leases once they expire and
//     reads them through its own subscriptions. Every record in exactly one object, the planned
//     batch written under its key, the items the survivor's (or free after its clean stop) and
//     checkpointed at each shard's last record, ListStreamConsumers listing the one consumer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sdk, clients, streamAnswers, startCentral as startCentralDaemon } from './harness.mjs';
import {
  adminAddress, adminOf, filesUnder, freePort, killAll, loggedLines, startDaemon, stop, waitFor,
} from '../daemons.mjs';

let ddb;
try {
  ddb = createRequire(import.meta.url)('@aws-sdk/client-dynamodb');
} catch (e) {
  throw new Error('npm test peers are missing: run `npm ci` in tests/ (' + e.message + ')');
}
const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const here = dirname(fileURLToPath(import.meta.url));
const plugins = join(dirname(bin), 'plugins');
const CREDS = { accessKeyId: 'AKIDLEASETEST', secretAccessKey: 'lease-test-secret-key' };
const DELIVERY = 'from-remote';
const FAILOVER_MS = 3000;
const KEYS = 16;   // partition keys k0..k15, each at a fixed hash key (ExplicitHashKey)
const BATCH = 250; // records per PutRecords

const children = [];
const sdkClients = [];
let work;
after(() => {
  killAll();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const c of sdkClients) c.destroy();
  if (work && !process.env.DEBUG_KINESIS_LEASES) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs a node script that prints "PORT <n>" (kinesalite_server.mjs, dynalite_server.mjs); its
// http://127.0.0.1:<n> endpoint.
async function startServer(script) {
  const child = spawn(process.execPath, [join(here, script)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const line = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  const m = /^PORT (\d+)$/.exec(line);
  if (!m) throw new Error(`unexpected ${script} output: ${line}`);
  return `http://127.0.0.1:${m[1]}`;
}

// kinesalite and dynalite, started once for both tests (each test has its stream and table), and
// an SDK client of each.
let servers;
async function startServers() {
  if (servers) return servers;
  work ??= mkdtempSync(join(tmpdir(), 'sluice-kinesis-leases-'));
  const [kinesis, dynamo] = await Promise.all([
    startServer('kinesalite_server.mjs'), startServer('dynalite_server.mjs'),
  ]);
  const k = clients(kinesis, CREDS).h1;
  const d = new ddb.DynamoDBClient({
    region: 'us-east-1', endpoint: dynamo, credentials: CREDS, maxAttempts: 3,
  });
  sdkClients.push(k, d);
  servers = { kinesis, dynamo, k, d };
  return servers;
}

// A central sluice (harness.mjs) with CREDS: {central, endpoint, k}.
async function startCentral(dir, stream, shards) {
  const { central, endpoint, client: k } = await startCentralDaemon(dir, stream, shards,
    { credentials: CREDS, plugins });
  sdkClients.push(k);
  return { central, endpoint, k };
}

async function createStream(k, stream, shards) {
  await k.send(new sdk.CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
  await streamActive(k, stream);
  return (await k.send(new sdk.ListShardsCommand({ StreamName: stream }))).Shards;
}

async function streamActive(k, stream) {
  await waitFor(`stream ${stream} ACTIVE`, async () => (await k.send(
    new sdk.DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary
    .StreamStatus === 'ACTIVE', 30000, 50);
}

const line = (j) => `rec=${j} key=k${j % KEYS}`;
// Key i sits at the middle of the i-th of KEYS equal slices of the hash space: with 4 (or 2)
// equal shards each holds 4 (or 8) keys, and a shard split at its middle gives each child half.
const hashOf = (i) => ((2n * BigInt(i) + 1n) * (1n << 128n) / (2n * BigInt(KEYS))).toString();

// What the stream holds, as the PutRecords answers said: per record its shard and its place in the
// shard (0, 1, ...); per shard its last sequence number.
function ledger() {
  return { shardOf: [], posOf: [], next: new Map(), lastSeq: new Map(), count: 0 };
}

// Puts records from.. (line(j)), BATCH per PutRecords, one call at a time, `pause` ms apart, until
// `to` (`done` resolves with `to`) or stop() (resolves with the next record number: the count).
function feed(k, stream, book, { from, to, pause }) {
  const f = { next: from, stopped: false };
  f.done = (async () => {
    while (!f.stopped && f.next < to) {
      const n = Math.min(BATCH, to - f.next);
      const Records = [];
      for (let j = f.next; j < f.next + n; j++) {
        Records.push({ Data: Buffer.from(line(j)), PartitionKey: `k${j % KEYS}`,
          ExplicitHashKey: hashOf(j % KEYS) });
      }
      const r = await k.send(new sdk.PutRecordsCommand({ StreamName: stream, Records }));
      if (r.FailedRecordCount) throw new Error(`PutRecords: ${r.FailedRecordCount} of ${n} failed`);
      r.Records.forEach((rr, i) => {
        const j = f.next + i;
        const pos = book.next.get(rr.ShardId) ?? 0;
        book.shardOf[j] = rr.ShardId;
        book.posOf[j] = pos;
        book.next.set(rr.ShardId, pos + 1);
        book.lastSeq.set(rr.ShardId, rr.SequenceNumber);
      });
      f.next += n;
      book.count = Math.max(book.count, f.next);
      if (pause) await sleep(pause);
    }
    return f.next;
  })();
  f.done.catch((e) => { f.error = e; });  // thrown again by stop() and done
  f.stop = async () => {
    f.stopped = true;
    return f.done;
  };
  return f;
}

// `consumer`: the source's consumer (polling when absent, as the source's default).
function config({ kinesis, dynamo, stream, table, worker, sinkPath, consumer }) {
  return `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
deliveries:
  - name: ${DELIVERY}
    source:
      type: kinesis
      endpoint: ${kinesis}
      stream: ${stream}
      access_key_id: ${CREDS.accessKeyId}
      secret_access_key: ${CREDS.secretAccessKey}
      poll_interval: 200ms
${consumer ? `      consumer: ${consumer}\n` : ''}      lease_table:
        endpoint: ${dynamo}
        table: ${table}
        worker_id: ${worker}
        failover_time: ${FAILOVER_MS / 1000}s
    buffer: {size: 1MiB, interval: 300ms}
    retry_duration: 10m
    retry_backoff: {base: 100ms, cap: 1s}
    record_delimiter: "\\n"
    errors: {path: ./errors}
    sink: {type: file, path: ${sinkPath}}
`;
}

// An instance in <work>/<name> with worker id edge-<name>; its sink writes to `out` through a
// link of its own (<work>/<name>-out), so that replacing the link with a file stalls its sink
// alone (mkdir under it fails; the sink answers retry).
function instance(name, settings, out) {
  const link = join(work, `${name}-out`);
  symlinkSync(out, link);
  const child = startDaemon(join(work, name), config({
    ...settings, worker: `edge-${name}`, sinkPath: link,
  }));
  Object.assign(child, { label: name, worker: `edge-${name}`, link, out,
    logPath: join(work, name, 'daemon.log') });
  return child;
}

function stall(m) {
  const f = join(work, `${m.label}-stall`);
  writeFileSync(f, 'not a directory\n');
  renameSync(f, m.link);
}

function unstall(m) {
  rmSync(m.link);
  symlinkSync(m.out, m.link);
}

// The instance's admin address, kept once its log said it (adminAddress reads only the log's
// tail, which the lease messages soon push the start line out of).
function adminAt(m) {
  m.admin ??= adminAddress(m);
  return m.admin;
}

// The instance's delivery in its /status, or null before it answers (or when it does not answer
// within 5 s: m.statusError says why).
async function deliveryOf(m) {
  const admin = adminAt(m);
  if (!admin) {
    m.statusError = 'no admin address in its log yet';
    return null;
  }
  try {
    const r = await fetch(`http://${admin}/status`, { signal: AbortSignal.timeout(5000) });
    const st = await r.json();
    m.statusError = null;
    const dl = st.deliveries.find((d) => d.name === DELIVERY);
    if (!dl) m.statusError = `no delivery ${DELIVERY} in ${JSON.stringify(st.deliveries)}`;
    return dl ?? null;
  } catch (e) {
    m.statusError = `${e.name}: ${e.message}`;
    return null;
  }
}

// The delivery's source in the instance's /status; null before it answers. Fails at once if the
// instance exited.
async function sourceOf(m) {
  if (m.exitCode !== null || m.signalCode !== null) {
    throw new Error(`instance ${m.label} exited (${m.exitCode ?? m.signalCode}): ${m.logText()}`);
  }
  const dl = await deliveryOf(m);
  return dl ? dl.source : null;
}

// The shards each of `members` holds now ({label: [shard ids]}), or null while one does not
// answer.
async function holdings(members) {
  const held = {};
  for (const m of members) {
    const src = await sourceOf(m);
    if (!src) return null;
    held[m.label] = src.shards.map((s) => s.id).sort();
  }
  return held;
}

// What the instances say and the lease table holds, for failure messages. `verbose`: each
// instance's whole /status source section and its log's tail too.
async function seen(members, d, table, { verbose = false } = {}) {
  const parts = [];
  const tail = (m) => (verbose ? `\n${m.label}'s log tail:\n${m.logText()}\n` : '');
  for (const m of members) {
    if (m.exitCode !== null || m.signalCode !== null) {
      parts.push(`${m.label}: exited (${m.exitCode ?? m.signalCode})${tail(m)}`);
      continue;
    }
    const dl = await deliveryOf(m);
    if (!dl) {
      parts.push(`${m.label}: running, /status does not answer (${m.statusError})${tail(m)}`);
      continue;
    }
    const { source: s } = dl;
    parts.push(`${m.label}: ${JSON.stringify(verbose ? {
      records_delivered: dl.records_delivered, objects_delivered: dl.objects_delivered,
      last_error: dl.last_error, source: s,
    } : {
      worker_id: s.worker_id, leases_held: s.leases_held, leases_taken: s.leases_taken,
      revocations: s.revocations, shards: (s.shards || []).map((x) => x.id),
      records_delivered: dl.records_delivered, last_error: s.last_error ?? dl.last_error,
    })}${tail(m)}`);
  }
  try {
    const items = await leaseItems(d, table);
    parts.push(`table ${table}: ` + [...items.values()].map((it) => `${it.leaseKey?.S} ` +
      `owner=${it.leaseOwner?.S ?? '-'} counter=${it.leaseCounter?.N} ` +
      `checkpoint=${it.checkpoint?.S}`).join('; '));
  } catch (e) {
    parts.push(`table ${table}: ${e.name}: ${e.message}`);
  }
  return parts.join(' | ');
}

// waitFor, whose failure says what was seen last (`describe()`).
async function until(what, pred, ms, describe) {
  try {
    return await waitFor(what, pred, ms, 250);
  } catch (e) {
    e.message += `; seen: ${await describe()}`;
    throw e;
  }
}

// The lease table's items by leaseKey, raw attribute values ({S}, {N}, {SS}, {B}).
async function leaseItems(d, table) {
  const items = new Map();
  let ExclusiveStartKey;
  do {
    const r = await d.send(new ddb.ScanCommand({ TableName: table, ConsistentRead: true,
      ExclusiveStartKey }));
    for (const it of r.Items) items.set(it.leaseKey?.S, it);
    ExclusiveStartKey = r.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

// What is wrong with the KCL lease item of `shard` once every record is delivered and the
// instances stopped: checkpoint `checkpoint`, owner absent (evicted at shutdown) or among
// `owners`, parents `parents` (parentShardId, SS), nothing pending.
function leaseProblems(shard, it, { checkpoint, owners, parents = [] }) {
  if (!it) return [`${shard}: no item`];
  const p = [];
  const want = (cond, what) => {
    if (!cond) p.push(`${shard}: expected ${what}, saw ${JSON.stringify(it)}`);
  };
  want(it.leaseKey?.S === shard, 'leaseKey S is the shard id');
  want(it.leaseCounter?.N !== undefined && /^\d+$/.test(it.leaseCounter.N) &&
    Number(it.leaseCounter.N) > 0, 'leaseCounter N > 0');
  want(it.ownerSwitchesSinceCheckpoint?.N !== undefined &&
    /^\d+$/.test(it.ownerSwitchesSinceCheckpoint.N), 'ownerSwitchesSinceCheckpoint N >= 0');
  want(it.checkpoint?.S === checkpoint, `checkpoint S ${checkpoint} (KCL: the last record ` +
    'processed, SHARD_END for a closed shard read to its end)');
  want(it.checkpointSubSequenceNumber?.N === '0', 'checkpointSubSequenceNumber N 0 (no KPL)');
  want(it.leaseOwner === undefined || owners.includes(it.leaseOwner.S),
    `leaseOwner absent or one of ${owners.join(', ')}`);
  want(it.pendingCheckpoint === undefined && it.pendingCheckpointState === undefined &&
    it.pendingCheckpointSubSequenceNumber === undefined,
  'no pending checkpoint once every batch is delivered');
  if (parents.length > 0) {
    want(JSON.stringify([...(it.parentShardId?.SS ?? [])].sort()) ===
      JSON.stringify([...parents].sort()), `parentShardId SS [${parents.join(', ')}]`);
  } else {
    want(it.parentShardId === undefined, 'no parentShardId');
  }
  return p;
}

// /metrics `name` of the delivery, summed over its series; null when absent.
async function metric(m, name) {
  const text = await (await fetch(`http://${adminAt(m)}/metrics`,
    { signal: AbortSignal.timeout(5000) })).text();
  let sum = null;
  for (const l of text.split('\n')) {
    if (!l.startsWith(name + '{') || !l.includes(`="${DELIVERY}"`)) continue;
    sum = (sum ?? 0) + Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}

// Every object under `out`: [{name (relative to out), lines, mtimeNs (bigint)}].
function objects(out) {
  return filesUnder(out).map((f) => ({
    name: f.slice(out.length + 1),
    lines: readFileSync(f, 'utf8').split('\n').filter((l) => l !== ''),
    mtimeNs: statSync(f, { bigint: true }).mtimeNs,
  })).filter((o) => o.lines.length > 0);
}

function distinctLines(out) {
  const s = new Set();
  for (const o of objects(out)) for (const l of o.lines) s.add(l);
  return s.size;
}

// Every record 0..N-1 in exactly one object line, nothing else; and each object one run of one
// shard, as read (consecutive places in the shard, in order).
function checkObjects(objs, book, N) {
  const where = new Map();
  let lines = 0, other = 0;
  for (const o of objs) {
    for (const l of o.lines) {
      lines++;
      const m = /^rec=(\d+) key=k(\d+)$/.exec(l);
      if (!m || Number(m[1]) >= N || line(Number(m[1])) !== l) {
        other++;
        continue;
      }
      const at = where.get(l);
      if (at) at.push(o.name);
      else where.set(l, [o.name]);
    }
  }
  let missing = 0, twice = 0;
  const examples = [];
  for (let j = 0; j < N; j++) {
    const at = where.get(line(j));
    if (!at) {
      missing++;
      if (examples.length < 5) examples.push(`rec=${j} (${book.shardOf[j]}) in no object`);
    } else if (at.length > 1) {
      twice++;
      if (examples.length < 5) examples.push(`rec=${j} in ${at.join(' and ')}`);
    }
  }
  const summary = `${N} records put, ${lines} lines in ${objs.length} objects: ${missing} ` +
    `missing, ${twice} in more than one line, ${other} other lines; ${examples.join('; ')}`;
  assert.equal(missing, 0, `expected every record in an object: ${summary}`);
  assert.equal(twice, 0, `expected each record in one object line: ${summary}`);
  assert.equal(other, 0, `expected no line that is not a record put: ${summary}`);
  assert.equal(lines, N, `expected ${N} lines: ${summary}`);
  const runs = [];
  for (const o of objs) {
    const recs = o.lines.map((l) => Number(/^rec=(\d+)/.exec(l)[1]));
    const shard = book.shardOf[recs[0]];
    for (let k = 1; k < recs.length; k++) {
      if (book.shardOf[recs[k]] !== shard || book.posOf[recs[k]] !== book.posOf[recs[0]] + k) {
        runs.push(`${o.name}: line ${k} rec=${recs[k]} (${book.shardOf[recs[k]]} #` +
          `${book.posOf[recs[k]]}) after rec=${recs[0]} (${shard} #${book.posOf[recs[0]]})`);
        break;
      }
    }
  }
  assert.deepEqual(runs, [], 'expected each object to be one run of one shard, in order');
}

async function checkMetrics(m) {
  await until(`${m.label}'s /metrics to agree with its /status on leases`, async () => {
    const src = await sourceOf(m);
    const held = await metric(m, 'sluice_delivery_source_leases_held');
    const taken = await metric(m, 'sluice_delivery_source_leases_taken_total');
    m.metricsSeen = {
      status: { held: src.leases_held, taken: src.leases_taken }, metrics: { held, taken },
    };
    return held === src.leases_held && taken === src.leases_taken;
  }, 10000, async () => JSON.stringify(m.metricsSeen));
}

test('two instances share a stream through the lease table; one killed -9, a third joins',
  { timeout: 130000 }, async (t) => {
    const began = Date.now();
    const { kinesis, dynamo, k, d } = await startServers();
    const stream = 'logs', table = 'sluice-leases';
    const shardIds = (await createStream(k, stream, 4)).map((s) => s.ShardId).sort();
    const out = join(work, 'a-objects');
    mkdirSync(out);
    const book = ledger();
    // Records flow (~1,500 a second, 20,000 to 40,000 in all) while the instances start, share,
    // fail over and rebalance.
    const MIN = 20000, MAX = 40000;
    const writer = feed(k, stream, book, { from: 0, to: MAX, pause: 100 });
    const settings = { kinesis, dynamo, stream, table };
    const a = instance('a', settings, out);
    const b = instance('b', settings, out);
    a.admin = await adminOf(a);
    b.admin = await adminOf(b);
    const see = (members) => () => seen(members, d, table);

    await until('a and b to hold 2 leases each', async () => {
      const h = await holdings([a, b]);
      if (!h || h.a.length !== 2 || h.b.length !== 2) return false;
      const sa = await sourceOf(a), sb = await sourceOf(b);
      return sa.leases_held === 2 && sb.leases_held === 2 &&
        new Set([...h.a, ...h.b]).size === 4;
    }, 60000, see([a, b]));
    for (const [m, src] of [[a, await sourceOf(a)], [b, await sourceOf(b)]]) {
      assert.equal(src.type, 'kinesis');
      assert.equal(src.worker_id, m.worker, `${m.label}'s worker_id`);
    }
    await until(`a to deliver objects of its own, ${MIN / 4} records put`, async () => {
      if (writer.error) throw writer.error;
      const dl = await deliveryOf(a);
      return dl && dl.objects_delivered > 0 && writer.next >= MIN / 4;
    }, 30000, async () => `${writer.next} put; ${await see([a, b])()}`);

    // a's sink stalls: a batch is planned (its plan in the lease item) and not written; a is
    // killed -9 with it in flight, records still flowing.
    stall(a);
    const stalled = await until('a\'s stalled sink to fail a batch', () => {
      const failed = loggedLines([a.logPath], 'delivery attempt failed; retrying');
      return failed.length > 0 ? failed[0] : null;
    }, 30000, see([a, b]));
    const aShards = (await sourceOf(a)).shards.map((s) => s.id).sort();
    assert.equal(aShards.length, 2, `expected a to hold 2 shards at the kill, saw ${aShards}`);
    const takenBefore = (await sourceOf(b)).leases_taken;
    // The plan of the batch in flight is in a's lease item (pendingCheckpointState), where the
    // shard's next owner finds it.
    let planned;
    await until(`a's batch in flight planned in one of a's lease items (${aShards.join(', ')}): ` +
      'pendingCheckpointState B', async () => {
      planned = await leaseItems(d, table);
      return aShards.some((id) => planned.get(id)?.pendingCheckpointState?.B?.length > 0);
    }, 10000, async () => JSON.stringify(aShards.map((id) => planned?.get(id))));
    const flowing = writer.next < MAX, killedAtRecord = writer.next;
    await stop(a);  // kill -9
    const killedAt = Date.now();

    // b takes a's leases once their counters have not moved for failover_time.
    await until(`b to take a's 2 leases (held 4, leases_taken from ${takenBefore} to at least ` +
      `${takenBefore + 2})`, async () => {
      const sb = await sourceOf(b);
      return sb && sb.leases_held === 4 && sb.shards.length === 4 &&
        sb.leases_taken >= takenBefore + 2;
    }, 45000, see([a, b]));
    // A lease expires once its counter has not moved for failover_time; a renews every third of
    // it, so its last renewal was at most a third before the kill.
    const tookAfter = Date.now() - killedAt;
    assert.ok(tookAfter >= FAILOVER_MS / 2, `expected a's leases to move no sooner than ` +
      `failover_time (${FAILOVER_MS} ms) after a's last renewal, saw them moved ${tookAfter} ms ` +
      'after the kill');
    const afterTakeover = await leaseItems(d, table);
    for (const id of aShards) {
      assert.equal(afterTakeover.get(id)?.leaseOwner?.S, 'edge-b',
        `expected ${id} (a's) owned by edge-b after the takeover; saw ` +
        JSON.stringify(afterTakeover.get(id)));
    }

    // c joins and steals from b until the count is balanced.
    const c = instance('c', settings, out);
    c.admin = await adminOf(c);
    const joinedAt = Date.now();
    await until('c to steal a lease from b', async () => {
      const sc = await sourceOf(c);
      return sc && sc.leases_held >= 1;
    }, 45000, see([b, c]));
    const stoleAfter = Date.now() - joinedAt;
    await until(`${MIN} records put`, () => {
      if (writer.error) throw writer.error;
      return writer.next >= MIN;
    }, 60000, async () => `${writer.next} put`);
    const N = await writer.stop();

    try {
      await until(`every record in the objects, b and c holding 2 leases each`, async () => {
        const h = await holdings([b, c]);
        if (!h || h.b.length !== 2 || h.c.length !== 2 ||
          new Set([...h.b, ...h.c]).size !== 4) return false;
        return distinctLines(out) >= N;
      }, 90000, see([b, c]));
    } catch (e) {
      e.message += `; ${distinctLines(out)} of ${N} records in the objects`;
      throw e;
    }
    await sleep(1500);  // anything written from now on would be a duplicate

    const sb = await sourceOf(b), sc = await sourceOf(c);
    assert.equal(sc.worker_id, 'edge-c', 'c\'s worker_id');
    assert.ok(sc.leases_taken >= 2,
      `expected c to have taken (stolen from b) 2 leases, saw leases_taken ${sc.leases_taken}`);
    assert.ok(sb.revocations >= 2,
      `expected b to have lost 2 leases to c, saw revocations ${sb.revocations}`);
    assert.deepEqual([...sb.shards, ...sc.shards].map((s) => s.id).sort(), shardIds,
      'the shards b and c hold');
    for (const m of [b, c]) {
      const dl = await deliveryOf(m);
      assert.equal(dl.records_spilled, 0, `${m.label}: records spilled`);
      await checkMetrics(m);
    }
    const tail = { b: b.logText(), c: c.logText() };
    await Promise.all([stop(b, 'SIGTERM'), stop(c, 'SIGTERM')]);
    assert.equal(b.exitCode, 0, `b's exit on SIGTERM: ${tail.b}`);
    assert.equal(c.exitCode, 0, `c's exit on SIGTERM: ${tail.c}`);

    const objs = objects(out);
    checkObjects(objs, book, N);
    assert.ok(existsSync(join(out, stalled.key)), `expected a's batch in flight at the kill ` +
      `(${stalled.key}) written by its shard's next owner under the key a planned`);
    assert.deepEqual(['a', 'b', 'c'].flatMap((n) => filesUnder(join(work, n, 'errors'))), [],
      'nothing in the error outputs');

    const items = await leaseItems(d, table);
    assert.deepEqual([...items.keys()].sort(), shardIds, 'the lease items: one per shard');
    const problems = shardIds.flatMap((id) => leaseProblems(id, items.get(id), {
      checkpoint: book.lastSeq.get(id), owners: ['edge-b', 'edge-c'],
    }));
    assert.deepEqual(problems, [], 'the lease items after every record is delivered');

    const replays = loggedLines([b.logPath, c.logPath],
      'replaying a batch planned by the partition\'s previous reader');
    t.diagnostic(`${N} records in ${objs.length} objects; a (${aShards.join(',')}) killed at ` +
      `record ${killedAtRecord} (records ${flowing ? 'still' : 'no longer'} put) with ` +
      `${stalled.key} in flight; b took its leases ${tookAfter} ms after the kill; c stole its ` +
      `first lease ${stoleAfter} ms after it started; replays: ` +
      `${replays.map((r) => `${r.shard}:${r.records}`).join(' ') || 'none logged'}; leases ` +
      `taken b ${sb.leases_taken}, c ${sc.leases_taken}; revocations b ${sb.revocations}, c ` +
      `${sc.revocations}; ${((Date.now() - began) / 1000).toFixed(1)} s`);
  });

test('resharding with leases: the children are read once the parent\'s lease is at SHARD_END',
  { timeout: 90000 }, async (t) => {
    const began = Date.now();
    const { kinesis, dynamo, k, d } = await startServers();
    const stream = 'split', table = 'split-leases';
    const shards = await createStream(k, stream, 2);
    const out = join(work, 'b-objects');
    mkdirSync(out);
    const book = ledger();
    const settings = { kinesis, dynamo, stream, table };
    const phase1 = feed(k, stream, book, { from: 0, to: 4000, pause: 100 });
    const x = instance('x', settings, out);
    const y = instance('y', settings, out);
    x.admin = await adminOf(x);
    y.admin = await adminOf(y);
    const see = () => seen([x, y], d, table);
    await until('x and y to hold 1 lease each', async () => {
      const h = await holdings([x, y]);
      return h && h.x.length === 1 && h.y.length === 1 && h.x[0] !== h.y[0];
    }, 60000, see);
    let N = await phase1.done;
    await until('x and y to deliver objects of their own', async () => {
      for (const m of [x, y]) {
        const dl = await deliveryOf(m);
        if (!dl || dl.objects_delivered === 0) return false;
      }
      return true;
    }, 30000, see);

    // x's shard is split while x's sink is stalled with records of it still to deliver.
    const parentId = (await sourceOf(x)).shards[0].id;
    const p = shards.find((s) => s.ShardId === parentId);
    assert.ok(p, `x holds ${parentId}, one of ${shards.map((s) => s.ShardId)}`);
    stall(x);
    N = await feed(k, stream, book, { from: N, to: N + 2000, pause: 0 }).done;
    await until('x\'s stalled sink to fail a batch', () =>
      loggedLines([x.logPath], 'delivery attempt failed; retrying').length > 0, 30000, see);
    const lo = BigInt(p.HashKeyRange.StartingHashKey), hi = BigInt(p.HashKeyRange.EndingHashKey);
    await k.send(new sdk.SplitShardCommand({
      StreamName: stream, ShardToSplit: parentId,
      NewStartingHashKey: ((lo + hi + 1n) / 2n).toString(),
    }));
    await streamActive(k, stream);
    const all = (await k.send(new sdk.ListShardsCommand({ StreamName: stream }))).Shards;
    const kids = all.filter((s) => s.ParentShardId === parentId).map((s) => s.ShardId).sort();
    assert.equal(kids.length, 2, `the split's children: ${JSON.stringify(all)}`);
    N = await feed(k, stream, book, { from: N, to: N + 4000, pause: 0 }).done;
    for (const kid of kids) {
      assert.ok(book.next.get(kid) > 0, `records put to the child ${kid}`);
    }
    // A window for a reader that does not wait for the parent to show itself (nothing to wait
    // for: a correct one does nothing here): the parent is not at SHARD_END (x's batch is not
    // written), so no record of the children may be delivered yet. Then x's sink works again.
    const shardOfObject = (o) => book.shardOf[Number(/^rec=(\d+)/.exec(o.lines[0])[1])];
    await sleep(FAILOVER_MS + 1000);
    const early = objects(out).filter((o) => kids.includes(shardOfObject(o)));
    assert.deepEqual(early.map((o) => `${o.name} (${shardOfObject(o)})`), [],
      `expected no object of the children while the parent ${parentId} has records to deliver`);
    unstall(x);

    try {
      await until('every record in the objects', () => distinctLines(out) >= N, 60000, see);
    } catch (e) {
      e.message += `; ${distinctLines(out)} of ${N} records in the objects`;
      throw e;
    }
    await sleep(1500);  // anything written from now on would be a duplicate
    const tail = { x: x.logText(), y: y.logText() };
    const held = await holdings([x, y]);
    await Promise.all([stop(x, 'SIGTERM'), stop(y, 'SIGTERM')]);
    assert.equal(x.exitCode, 0, `x's exit on SIGTERM: ${tail.x}`);
    assert.equal(y.exitCode, 0, `y's exit on SIGTERM: ${tail.y}`);

    const objs = objects(out);
    checkObjects(objs, book, N);
    // Every object of the parent was written before any of its children's: per partition key,
    // the parent's records (before the split) are delivered before the children's.
    const parentObjs = objs.filter((o) => shardOfObject(o) === parentId);
    const kidObjs = objs.filter((o) => kids.includes(shardOfObject(o)));
    assert.ok(parentObjs.length > 0 && kidObjs.length > 0, 'objects of the parent and children');
    const lastParent = parentObjs.reduce((m, o) => (o.mtimeNs > m.mtimeNs ? o : m));
    const firstKid = kidObjs.reduce((m, o) => (o.mtimeNs < m.mtimeNs ? o : m));
    assert.ok(lastParent.mtimeNs <= firstKid.mtimeNs, 'expected every object of the parent ' +
      `${parentId} written before any of its children: ${firstKid.name} ` +
      `(${shardOfObject(firstKid)}, ` +
      `keys ${[...new Set(firstKid.lines.map((l) => l.split(' ')[1]))].join(',')}) was written ` +
      `${Number(lastParent.mtimeNs - firstKid.mtimeNs) / 1e6} ms before ${lastParent.name}`);

    const items = await leaseItems(d, table);
    const ids = [...shards.map((s) => s.ShardId), ...kids].sort();
    assert.deepEqual([...items.keys()].sort(), ids, 'the lease items: the two shards and the ' +
      'split\'s children');
    const problems = ids.flatMap((id) => leaseProblems(id, items.get(id), {
      checkpoint: id === parentId ? 'SHARD_END' : book.lastSeq.get(id),
      owners: ['edge-x', 'edge-y'],
      parents: kids.includes(id) ? [parentId] : [],
    }));
    assert.deepEqual(problems, [], 'the lease items after every record is delivered');
    t.diagnostic(`${N} records in ${objs.length} objects; ${parentId} split into ` +
      `${kids.join(', ')}; held at the end: ${JSON.stringify(held)}; ` +
      `${((Date.now() - began) / 1000).toFixed(1)} s`);
  });

test('enhanced fan-out with a lease table: two instances share one consumer; one killed -9',
  { timeout: 60000 }, async (t) => {
    const began = Date.now();
    const { dynamo, d } = await startServers();
    const stream = 'fan', table = 'efo-leases';
    const { endpoint, k } = await startCentral(join(work, 'central'), stream, 4);
    const shardIds = (await k.send(new sdk.ListShardsCommand({ StreamName: stream }))).Shards
      .map((s) => s.ShardId).sort();
    assert.equal(shardIds.length, 4, `expected 4 shards, seen ${shardIds}`);
    const out = join(work, 'c-objects');
    mkdirSync(out);
    const book = ledger();
    // Records flow (~2,500 a second) while the instances start, share and fail over; the writer
    // stops once MIN are put and records went on past the takeover (MAX only bounds a runaway).
    const MIN = 8000, MAX = 100000;
    const writer = feed(k, stream, book, { from: 0, to: MAX, pause: 100 });
    const settings = { kinesis: endpoint, dynamo, stream, table, consumer: 'efo' };
    const a = instance('efo-a', settings, out);
    const b = instance('efo-b', settings, out);
    a.admin = await adminOf(a);
    b.admin = await adminOf(b);
    const see = (members) => () => seen(members, d, table, { verbose: true });
    // Each shard `m` holds had a SubscribeToShardEvent since its lease was taken
    // (millis_behind_latest is reset with the lease): its subscription delivers.
    const subscribed = (src) => src.shards.every((s) => Number.isInteger(s.millis_behind_latest));

    await until('efo-a and efo-b to hold 2 leases each, every shard of theirs with a ' +
      'SubscribeToShardEvent (millis_behind_latest)', async () => {
      if (writer.error) throw writer.error;
      const sa = await sourceOf(a), sb = await sourceOf(b);
      if (!sa || !sb) return false;
      const held = [...sa.shards, ...sb.shards].map((s) => s.id);
      return sa.leases_held === 2 && sb.leases_held === 2 && sa.shards.length === 2 &&
        sb.shards.length === 2 && new Set(held).size === 4 && subscribed(sa) && subscribed(sb);
    }, 20000, see([a, b]));
    await until('efo-a to deliver objects of its own', async () => {
      if (writer.error) throw writer.error;
      const dl = await deliveryOf(a);
      return dl && dl.objects_delivered > 0;
    }, 10000, see([a, b]));

    // a's sink stalls: a batch is planned (its plan in the lease item) and not written; a is
    // killed -9 with it in flight, records still flowing.
    stall(a);
    const stalled = await until('efo-a\'s stalled sink to fail a batch', () => {
      const failed = loggedLines([a.logPath], 'delivery attempt failed; retrying');
      return failed.length > 0 ? failed[0] : null;
    }, 10000, see([a, b]));
    const aShards = (await sourceOf(a)).shards.map((s) => s.id).sort();
    assert.equal(aShards.length, 2, `expected efo-a to hold 2 shards at the kill, saw ${aShards}`);
    const takenBefore = (await sourceOf(b)).leases_taken;
    let planned;
    await until('efo-a\'s batch in flight planned in one of its lease items ' +
      `(${aShards.join(', ')}): pendingCheckpointState B`, async () => {
      planned = await leaseItems(d, table);
      return aShards.some((id) => planned.get(id)?.pendingCheckpointState?.B?.length > 0);
    }, 10000, async () => JSON.stringify(aShards.map((id) => planned?.get(id))));
    const killedAtRecord = writer.next;
    await stop(a);  // kill -9
    const killedAt = Date.now();

    // b takes a's leases once they expire, and subscribes to their shards.
    await until(`efo-b to take efo-a's 2 leases (held 4, leases_taken from ${takenBefore} to at ` +
      `least ${takenBefore + 2})`, async () => {
      const sb = await sourceOf(b);
      return sb && sb.leases_held === 4 && sb.shards.length === 4 &&
        sb.leases_taken >= takenBefore + 2;
    }, 15000, see([a, b]));
    const tookAfter = Date.now() - killedAt;
    // Records from here on were put after the takeover (the PutRecords in flight now may have
    // been sent before it).
    const takenAtRecord = writer.next + BATCH;
    const afterTakeover = await leaseItems(d, table);
    for (const id of aShards) {
      assert.equal(afterTakeover.get(id)?.leaseOwner?.S, 'edge-efo-b',
        `expected ${id} (efo-a's) owned by edge-efo-b after the takeover; saw ` +
        JSON.stringify(afterTakeover.get(id)));
    }
    // Records go on after the takeover (so that a's shards are pushed to b live), then stop.
    const stopAt = Math.max(MIN, takenAtRecord + 1000);
    await until(`${stopAt} records put`, () => {
      if (writer.error) throw writer.error;
      return writer.next >= stopAt;
    }, 15000, async () => `${writer.next} put`);
    const N = await writer.stop();
    const afterTakeoverOfA = N - takenAtRecord > 0 ? book.shardOf.slice(takenAtRecord, N)
      .filter((s) => aShards.includes(s)).length : 0;
    assert.ok(afterTakeoverOfA > 0, `expected records put to efo-a's shards after the takeover, ` +
      `seen ${afterTakeoverOfA} (records ${takenAtRecord}..${N - 1})`);

    // Every record delivered, and nothing left in flight at b (what is fetched is delivered), each
    // of its 4 shards with a SubscribeToShardEvent since its lease was taken.
    let lastSrc;
    try {
      await until(`every record (${N}) in the objects; efo-b holding the 4 shards, each with ` +
        'millis_behind_latest and lag_records 0', async () => {
        const sb = await sourceOf(b);
        lastSrc = sb;
        if (!sb || sb.shards.length !== 4 || !subscribed(sb) || sb.lag_records !== 0) return false;
        return distinctLines(out) >= N;
      }, 20000, see([a, b]));
    } catch (e) {
      e.message += `; ${distinctLines(out)} of ${N} records in the objects`;
      throw e;
    }
    assert.deepEqual(lastSrc.shards.map((s) => s.id).sort(), shardIds, 'the shards efo-b holds');

    // One consumer, registered by whichever instance came first and found by the other.
    const arn = (await k.send(new sdk.DescribeStreamSummaryCommand({ StreamName: stream })))
      .StreamDescriptionSummary.StreamARN;
    const { Consumers } = await k.send(new sdk.ListStreamConsumersCommand({ StreamARN: arn }));
    const listed = Consumers.map((x) => `${x.ConsumerName} ${x.ConsumerStatus}`);
    assert.deepEqual(listed, [`sluice-${DELIVERY} ACTIVE`],
      `consumers: expected [sluice-${DELIVERY} ACTIVE], seen ${JSON.stringify(listed)}`);
    for (const m of [a, b]) {
      const used = loggedLines([m.logPath],
        'kinesis source reads through an enhanced fan-out consumer').map((l) => l.consumer_arn);
      assert.deepEqual(used, [Consumers[0].ConsumerARN], `${m.label}: expected reading through ` +
        `${Consumers[0].ConsumerARN}, seen ${JSON.stringify(used)}`);
    }
    const dl = await deliveryOf(b);
    assert.equal(dl.records_spilled, 0, 'efo-b: records spilled');
    await checkMetrics(b);
    const sb = lastSrc;
    const replays = loggedLines([b.logPath],
      'replaying a batch planned by the partition\'s previous reader');
    const tail = b.logText();
    await stop(b, 'SIGTERM');
    assert.equal(b.exitCode, 0, `efo-b's exit on SIGTERM: ${tail}`);

    const objs = objects(out);
    checkObjects(objs, book, N);
    assert.ok(existsSync(join(out, stalled.key)), `expected efo-a's batch in flight at the kill ` +
      `(${stalled.key}) written by its shard's next owner under the key efo-a planned; replays ` +
      `logged by efo-b: ${JSON.stringify(replays.map((r) => `${r.shard} ${r.key}`))}`);
    assert.deepEqual(['efo-a', 'efo-b'].flatMap((n) => filesUnder(join(work, n, 'errors'))), [],
      'nothing in the error outputs');

    const items = await leaseItems(d, table);
    assert.deepEqual([...items.keys()].sort(), shardIds, 'the lease items: one per shard');
    const problems = shardIds.flatMap((id) => leaseProblems(id, items.get(id), {
      checkpoint: book.lastSeq.get(id), owners: ['edge-efo-b'],
    }));
    assert.deepEqual(problems, [], 'the lease items after every record is delivered');

    t.diagnostic(`${N} records in ${objs.length} objects; efo-a (${aShards.join(',')}) killed ` +
      `at record ${killedAtRecord} with ${stalled.key} in flight; efo-b took its leases ` +
      `${tookAfter} ms after the kill (at record ${takenAtRecord}; ${afterTakeoverOfA} records ` +
      `put to them after); replays: ` +
      `${replays.map((r) => `${r.shard}:${r.records}`).join(' ') || 'none logged'}; leases taken ` +
      `efo-b ${sb.leases_taken}; ${((Date.now() - began) / 1000).toFixed(1)} s`);
  });
