// The kafka source end to end: three daemons (`sluice run`) read the topic `logs` (8 partitions,
// librdkafka's mock cluster) as members of one consumer group and deliver it with the file sink
// into one shared directory (one bucket, as with S3). The topic is filled in waves, before and
// while they run; one member is killed with kill -9 while its sink is stalled (its batch's plan
// committed with the partition's offset, the object not written), and a fourth member joins once
// the group has moved the killed member's partitions. Every record is counted in the objects: each
// in exactly one object, none lost, and the batch in flight at the kill replayed by the
// partition's next owner under the key the killed member had planned.
//
// KAFKA_SOURCE_STRATEGY=roundrobin runs the same members with that assignment strategy.
//
// A second test: `sluice check` refuses a kafka source that sets a property the source owns or
// cooperative rebalancing, and a delivery with both a stream and a source.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  mkdtempSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { startCluster as startMock } from './cluster.mjs';
import {
  loggedLines, startDaemon, adminOf, adminAddress, status, waitFor, filesUnder, killAll, stop,
} from '../daemons.mjs';

const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const mockBin = process.env.KAFKA_MOCK_CLUSTER;
if (!mockBin) throw new Error('KAFKA_MOCK_CLUSTER must name the kafka_mock_cluster helper');
const kcat = process.env.KCAT_BIN;
if (!kcat || !existsSync(kcat)) {
  throw new Error(`kcat not found (KCAT_BIN=${kcat}): install the kcat package ` +
    '(packaging/setup.sh)');
}
const plugins = join(dirname(bin), 'plugins');

const PARTITIONS = 8;
const WAVE = 20000;  // records rec-1 ... rec-(3 * WAVE), in three waves
const N = 3 * WAVE;
const DELIVERY = 'fromkafka';
// KAFKA_SOURCE_STRATEGY=roundrobin runs the members with that assignment strategy (librdkafka's
// default, range,roundrobin, is eager, as the source requires: every rebalance revokes every
// partition before it assigns).
const strategy = process.env.KAFKA_SOURCE_STRATEGY;

const children = [];
let work;
after(() => {
  killAll();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (work && !process.env.DEBUG_KAFKA_SOURCE) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

// Produces rec-<from> ... rec-<to - 1> to `topic` with kcat, keyed k<i> (spread over the
// partitions); resolves once kcat flushed them all.
function produce(bootstrap, topic, from, to) {
  return new Promise((resolve, reject) => {
    const child = spawn(kcat, ['-P', '-b', bootstrap, '-t', topic, '-K:'],
      { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve()
      : reject(new Error(`kcat -P exited with ${code}: ${stderr}`))));
    const lines = [];
    for (let i = from; i < to; i++) lines.push(`k${i}:rec-${i}`);
    child.stdin.end(lines.join('\n') + '\n');
  });
}

// Where kcat finds each record of `topic`: Map record -> {partition, offset}.
function readTopic(bootstrap, topic) {
  return new Promise((resolve, reject) => {
    execFile(kcat, ['-C', '-b', bootstrap, '-t', topic, '-e', '-q', '-f', '%p %o %s\\n'],
      { maxBuffer: 64 << 20, timeout: 60000 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`kcat -C failed: ${err.message} ${stderr}`));
        const at = new Map();
        for (const line of stdout.split('\n')) {
          if (line === '') continue;
          const [partition, offset, rec] = line.split(' ');
          at.set(rec, { partition: Number(partition), offset: Number(offset) });
        }
        resolve(at);
      });
  });
}

// Produces [from, to) in `chunks` parts, `every` ms apart (records arriving while members deliver).
async function produceSlowly(bootstrap, topic, from, to, chunks, every) {
  const size = Math.ceil((to - from) / chunks);
  for (let i = from; i < to; i += size) {
    await produce(bootstrap, topic, i, Math.min(i + size, to));
    await new Promise((r) => setTimeout(r, every));
  }
}

// A member's config: the sink writes under `sinkPath`. A killed member's partitions move once its
// session times out (librdkafka's default is 45 s); the mock cluster honours a shorter one.
function config(bootstrap, sinkPath) {
  let properties = 'session.timeout.ms: "6000", heartbeat.interval.ms: "500"';
  if (strategy) properties += `, partition.assignment.strategy: ${strategy}`;
  return `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
deliveries:
  - name: ${DELIVERY}
    source:
      type: kafka
      brokers: "${bootstrap}"
      topics: [logs]
      group: g1
      rebalance_grace: 10s
      properties: {${properties}}
    buffer: {size: 1MiB, interval: 300ms}
    retry_duration: 10m
    record_delimiter: "\\n"
    errors: {path: ./errors}
    sink: {type: file, path: ${sinkPath}}
`;
}

// The delivery's source counters in the member's /status, or null before it answers.
async function sourceOf(child) {
  const st = await status(child);
  return st ? st.deliveries.find((d) => d.name === DELIVERY).source : null;
}

async function deliveryOf(child) {
  const st = await status(child);
  return st ? st.deliveries.find((d) => d.name === DELIVERY) : null;
}

// The member's /metrics value `name`{delivery_stream="fromkafka"...}, summed over its series.
async function metric(child, name) {
  const text = await (await fetch(`http://${adminAddress(child)}/metrics`)).text();
  let sum = 0, found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') || !line.includes(`delivery_stream="${DELIVERY}"`)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  assert.ok(found, `no ${name} in /metrics`);
  return sum;
}

// The partitions the live `members` hold now ("logs-3"...), each once, or null when two members
// claim one or a member does not answer.
async function assignment(members) {
  const held = new Map();
  for (const m of members) {
    assert.equal(m.exitCode, null, 'a member exited: ' + m.logText());
    const src = await sourceOf(m);
    if (!src) return null;
    held.set(m, src.shards.map((s) => s.id));
  }
  const all = [...held.values()].flat();
  if (new Set(all).size !== all.length) return null;
  return held;
}

// Every object under `out`: records by object name, and the objects each record is in.
function objects(out) {
  const byObject = new Map();
  const objectsOf = new Map();
  for (const path of filesUnder(out)) {
    const name = path.slice(out.length + 1);
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
    byObject.set(name, lines);
    for (const l of lines) {
      const seen = objectsOf.get(l);
      if (seen) seen.push(name);
      else objectsOf.set(l, [name]);
    }
  }
  return { byObject, objectsOf };
}

// The log lines `msg` of the daemons' logs, each as {field: value}.
const logged = (members, msg) => loggedLines(members.map((m) => m.logPath), msg);

function member(dir, yaml) {
  const child = startDaemon(dir, yaml);
  child.logPath = join(dir, 'daemon.log');
  return child;
}

test('members share a topic; kill -9 of one mid-batch, a fourth joins: each record in one object',
  { timeout: 240000 }, async (t) => {
    work = mkdtempSync(join(tmpdir(), 'sluice-kafka-source-'));
    const began = Date.now();
    const cluster = await startMock(mockBin, children, 'logs', PARTITIONS, 3);
    const { bootstrap } = cluster;
    const out = join(work, 'out');
    mkdirSync(out);
    // Member b reaches the shared directory through a link of its own: replacing the link with a
    // file stalls b's sink alone (mkdir under it fails; the sink answers retry).
    const linkB = join(work, 'out-b');
    symlinkSync(out, linkB);

    await produce(bootstrap, 'logs', 1, WAVE + 1);
    const a = member(join(work, 'a'), config(bootstrap, out));
    const b = member(join(work, 'b'), config(bootstrap, linkB));
    const c = member(join(work, 'c'), config(bootstrap, out));
    for (const m of [a, b, c]) await adminOf(m);
    // The group settles: every partition held, each member some.
    await waitFor('the three members to share the partitions', async () => {
      const held = await assignment([a, b, c]);
      return held && [...held.values()].every((p) => p.length > 0) &&
        [...held.values()].flat().length === PARTITIONS;
    }, 60000);
    const heldByB = (await sourceOf(b)).shards.map((s) => s.id);

    // The second wave arrives while they deliver; b is stalled and killed part way through it.
    const wave2 = produceSlowly(bootstrap, 'logs', WAVE + 1, 2 * WAVE + 1, 20, 150);
    await waitFor('b to deliver records of its own', async () => {
      const dl = await deliveryOf(b);
      return dl && dl.records_delivered > 0 && dl.objects_delivered > 0;
    }, 30000);
    await new Promise((r) => setTimeout(r, 700));
    const stallFile = join(work, 'stall');
    writeFileSync(stallFile, 'not a directory\n');
    renameSync(stallFile, linkB);
    const stalled = await waitFor('b\'s sink to fail a batch (its plan committed)', () => {
      const failed = logged([b], 'delivery attempt failed; retrying');
      return failed.length > 0 ? failed[0] : null;
    }, 30000, 50);
    const bDelivered = (await deliveryOf(b)).records_delivered;
    const bLag = (await sourceOf(b)).lag_records;
    assert.ok(bLag > 0, 'b has records to deliver at its kill');
    await stop(b);  // kill -9
    const killedAt = Date.now();
    t.diagnostic(`b (partitions ${heldByB.join(',')}) killed with ${bDelivered} records ` +
      `delivered and ${bLag} not yet; its batch in flight: ${stalled.key}`);
    await wave2;
    // The third wave while b's partitions wait for its session to time out and move.
    const wave3 = produceSlowly(bootstrap, 'logs', 2 * WAVE + 1, N + 1, 10, 150);
    await waitFor('a and c to take b\'s partitions', async () => {
      const held = await assignment([a, c]);
      return held && [...held.values()].flat().length === PARTITIONS;
    }, 60000);
    const movedAfter = Date.now() - killedAt;
    await wave3;

    // A fourth member joins: the group moves partitions again, while the third wave is delivered.
    const d = member(join(work, 'd'), config(bootstrap, out));
    await adminOf(d);
    await waitFor('d to be given partitions', async () => {
      const held = await assignment([a, c, d]);
      return held && held.get(d).length > 0 && [...held.values()].flat().length === PARTITIONS;
    }, 60000);

    const live = [a, c, d];
    try {
      await waitFor('every record in the objects and no lag', async () => {
        const held = await assignment(live);
        if (!held || [...held.values()].flat().length !== PARTITIONS) return false;
        for (const m of live) {
          const src = await sourceOf(m);
          if (src.shards.some((s) => s.lag_records !== 0 || s.committed !== s.end)) return false;
        }
        return objects(out).objectsOf.size >= N;
      }, 90000, 500);
    } catch (e) {
      const states = [];
      for (const [name, m] of [['a', a], ['c', c], ['d', d]]) {
        const dl = await deliveryOf(m);
        const state = dl && {
          ...dl.source, records_in: dl.records_in, records_delivered: dl.records_delivered,
          buffered_bytes: dl.buffered_bytes,
        };
        states.push(`${name}: ${state ? JSON.stringify(state) : 'no answer'}`);
      }
      e.message += `; ${objects(out).objectsOf.size} of ${N} records in the objects; ` +
        states.join('; ');
      throw e;
    }
    // Anything written from now on would be a duplicate or a stray rewrite.
    await new Promise((r) => setTimeout(r, 1500));

    const { byObject, objectsOf } = objects(out);
    let missing = 0, inTwo = 0, other = 0, lines = 0;
    const examples = [];
    for (let i = 1; i <= N; i++) {
      const where = objectsOf.get(`rec-${i}`);
      if (!where) missing++;
      else if (where.length > 1) {
        inTwo++;
        if (examples.length < 5) examples.push(`rec-${i} in ${where.join(' and ')}`);
      }
    }
    for (const [rec] of objectsOf) if (!/^rec-\d+$/.test(rec) || Number(rec.slice(4)) > N) other++;
    for (const [, recs] of byObject) lines += recs.length;
    assert.equal(missing, 0, 'records in no object');
    assert.equal(inTwo, 0, `records in two objects (or twice in one): ${examples.join('; ')}`);
    assert.equal(other, 0, 'lines that are no record');
    assert.equal(lines, N, 'lines in the objects');
    for (const m of live) {
      const dl = await deliveryOf(m);
      assert.equal(dl.records_spilled, 0, 'records spilled: ' + m.logText());
      assert.equal(m.exitCode, null, 'a member exited: ' + m.logText());
    }
    // Each object is one batch: records of one partition at consecutive offsets, as read.
    const at = await readTopic(bootstrap, 'logs');
    assert.equal(at.size, N, 'records in the topic');
    const batchProblems = [];
    for (const [name, recs] of byObject) {
      const pos = recs.map((r) => at.get(r));
      for (let k = 0; k < pos.length; k++) {
        if (pos[k].partition !== pos[0].partition || pos[k].offset !== pos[0].offset + k) {
          batchProblems.push(`${name}: ${recs[k]} at ${pos[k].partition}/${pos[k].offset} after ` +
            `${pos[0].partition}/${pos[0].offset} + ${k}`);
          break;
        }
      }
    }
    assert.deepEqual(batchProblems, [], 'objects that are not one run of one partition');
    assert.deepEqual(['a', 'c', 'd'].flatMap((name) => filesUnder(join(work, name, 'errors'))), [],
      'nothing in the error outputs');

    // The batch b planned and could not write was replayed by the partition's next owner, under
    // b's key, whole: the object holds exactly the records of b's plan.
    const replays = logged(live, 'replaying a batch planned by the partition\'s previous reader');
    const replayedStalled = replays.filter((r) => r.key === stalled.key);
    // (Once, or again by a later owner when a rebalance took the partition before it was written.)
    assert.ok(replayedStalled.length >= 1,
      `b's batch in flight (${stalled.key}) replayed; replays: ${JSON.stringify(replays)}`);
    for (const r of replays) {
      const recs = byObject.get(r.key);
      assert.ok(recs, `the replayed object ${r.key} is there`);
      assert.equal(recs.length, Number(r.records), `the replayed object ${r.key} holds its plan`);
    }

    // The group's counters: each survivor saw rebalances, a and c had partitions revoked (d's
    // join), d was assigned some.
    let rebalances = 0, revoked = 0, plansReplayed = 0, dropped = 0, commitErrors = 0;
    const perMember = [];
    for (const [name, m] of [['a', a], ['c', c], ['d', d]]) {
      const src = await sourceOf(m);
      const r = await metric(m, 'sluice_delivery_source_rebalances_total');
      assert.equal(r, src.rebalances, '/metrics and /status agree on rebalances');
      rebalances += r;
      revoked += await metric(m, 'sluice_delivery_source_revoked_partitions_total');
      plansReplayed += await metric(m, 'sluice_delivery_source_replayed_plans_total');
      dropped += src.batches_dropped;
      commitErrors += src.commit_errors;
      perMember.push(`${name}: rebalances ${src.rebalances}, revocations ${src.revocations}, ` +
        `plans_replayed ${src.plans_replayed}, batches_dropped ${src.batches_dropped}, ` +
        `commit_errors ${src.commit_errors}, partitions ${src.shards.map((s) => s.id).join(',')}`);
    }
    const assignedD = await metric(d, 'sluice_delivery_source_assigned_partitions');
    for (const m of live) {
      assert.equal(await metric(m, 'sluice_delivery_source_lag_records'), 0, 'lag in /metrics');
    }
    assert.ok(rebalances >= 2, `rebalances ${rebalances}`);
    assert.ok(revoked > 0, 'partitions revoked from a or c');
    assert.ok(assignedD > 0, 'partitions assigned to d');
    assert.ok(plansReplayed >= 1, `plans replayed ${plansReplayed}`);
    const replayed = replays.map((r) => `${r.shard}:${r.records}`).join(' ');
    t.diagnostic(`${N} records in ${byObject.size} objects; b's partitions moved ${movedAfter} ` +
      `ms after the kill; ${replays.length} plans replayed (${replayed}); totals: rebalances ` +
      `${rebalances}, revoked ${revoked}, replayed ${plansReplayed}, dropped ${dropped}, commit ` +
      `errors ${commitErrors}; ${((Date.now() - began) / 1000).toFixed(1)} s`);
    for (const line of perMember) t.diagnostic(line);
    // They stop cleanly, leaving the group.
    await Promise.all(live.map((m) => stop(m, 'SIGTERM')));
    for (const m of live) assert.equal(m.exitCode, 0, 'a member\'s exit: ' + m.logText());
  });

test('sluice check refuses a kafka source that sets what the source owns, and stream with source',
  { timeout: 30000 }, () => {
    work ??= mkdtempSync(join(tmpdir(), 'sluice-kafka-source-'));
    const dir = join(work, 'check');
    mkdirSync(dir, { recursive: true });
    const check = (name, yaml) => {
      writeFileSync(join(dir, name), yaml, { mode: 0o600 });
      const r = spawnSync(bin, ['check', '-c', name], { cwd: dir });
      return { code: r.status, text: r.stdout.toString() + r.stderr.toString() };
    };
    const delivery = (extra, properties = '') => `data_dir: ./data
plugin_dirs: [${plugins}]
streams:
  - name: logs
    shards: 1
deliveries:
  - name: ${DELIVERY}
${extra}    source:
      type: kafka
      brokers: "127.0.0.1:9092"
      topics: [logs]
      group: g1
${properties}    buffer: {size: 1MiB, interval: 1s}
    sink: {type: file, path: ./out}
`;
    const good = check('good.yaml', delivery(''));
    assert.equal(good.code, 0, good.text);

    const owned = check('owned.yaml',
      delivery('', '      properties: {enable.auto.commit: "true", session.timeout.ms: "6000"}\n'));
    assert.notEqual(owned.code, 0, owned.text);
    assert.match(owned.text, /properties.*"enable\.auto\.commit" is set by the source/, owned.text);

    const group = check('group.yaml', delivery('', '      properties: {group.id: other}\n'));
    assert.notEqual(group.code, 0, group.text);
    assert.match(group.text, /"group\.id" is set by the source/, group.text);

    const coop = check('coop.yaml',
      delivery('', '      properties: {partition.assignment.strategy: cooperative-sticky}\n'));
    assert.notEqual(coop.code, 0, coop.text);
    assert.match(coop.text, /cooperative-sticky is not supported by the kafka source/, coop.text);

    const both = check('both.yaml', delivery('    stream: logs\n'));
    assert.notEqual(both.code, 0, both.text);
    assert.match(both.text, /deliveries\[0\].*give one of stream, source, direct_put: true/,
      both.text);
  });
