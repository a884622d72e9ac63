// The kafka sink end to end: the daemon (`sluice run`) tails a log file into its stream and
// delivers it with the kafka sink to librdkafka's mock cluster (three brokers, the real Kafka
// protocol). Every line is read back twice, with kcat (librdkafka) and with kafkajs (an
// independent client), and counted: no loss, no duplicate, and each message keeps the partition
// key the line had at the source. A second test takes every broker down for a few seconds and
// injects produce errors while the daemon delivers, and counts again; a third lets delivery
// reports time out; a fourth kills the daemon with kill -9 three times while it catches up on a
// filled stream: every record arrives, and the duplicates stay within the batches in flight at
// the kills.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync, existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

import {
  startDaemon, waitFor, filesUnder, killAll, stop, killWhileDelivering, replayed,
} from '../daemons.mjs';
import { startCluster as startMock } from './cluster.mjs';
import { fillEdge, deliveryConfig, tailingConfig } from '../edge.mjs';

const { Kafka, logLevel } = createRequire(import.meta.url)('kafkajs');

const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const mockBin = process.env.KAFKA_MOCK_CLUSTER;
if (!mockBin) throw new Error('KAFKA_MOCK_CLUSTER must name the kafka_mock_cluster helper');
const kcat = process.env.KCAT_BIN;
if (!kcat || !existsSync(kcat)) {
  throw new Error(`kcat not found (KCAT_BIN=${kcat}): install the kcat package (packaging/setup.sh)`);
}
const LINES = 20000;

const children = [];
let work;
// The mock cluster with `topic` in 4 partitions of 3 replicas.
const startCluster = (topic) => startMock(mockBin, children, topic, 4, 3);
after(() => {
  killAll();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (work && !process.env.DEBUG_KAFKA_SINK) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

// Every message of `topic` by kcat: [{key, data}].
function readWithKcat(bootstrap, topic) {
  return new Promise((resolve, reject) => {
    execFile(kcat, ['-C', '-b', bootstrap, '-t', topic, '-e', '-q', '-f', '%k %s\n'],
      { maxBuffer: 256 << 20, timeout: 60000 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`kcat failed: ${err.message} ${stderr}`));
        const out = [];
        for (const line of stdout.split('\n')) {
          if (line === '') continue;
          const sp = line.indexOf(' ');
          out.push({ key: line.slice(0, sp), data: line.slice(sp + 1) });
        }
        resolve(out);
      });
  });
}

// Every message of `topic` by kafkajs, once `want` of them arrived: [{key, data}].
async function readWithKafkajs(bootstrap, topic, want) {
  const kafka = new Kafka({ clientId: 'sluice-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `check-${topic}-${process.pid}-${Date.now()}` });
  const out = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push({ key: message.key ? message.key.toString() : '', data: message.value.toString() });
      },
    });
    await waitFor(`${want} messages with kafkajs`, () => out.length >= want, 90000);
    await new Promise((r) => setTimeout(r, 1000));  // anything more would be a duplicate
  } finally {
    await consumer.disconnect();
  }
  return out.slice();
}

function check(records, want, where) {
  const seen = new Map();
  for (const r of records) {
    seen.set(r.data, (seen.get(r.data) || 0) + 1);
    const m = /^seq=(\d+) user=(u\d+)/.exec(r.data);
    assert.ok(m, `${where}: unexpected record ${r.data}`);
    assert.equal(r.key, m[2], `${where}: the source's partition key is the message key`);
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

// Every record of the error output under `dir` (JSON lines, one file per spilled batch).
function spilledRecords(dir) {
  const out = [];
  for (const path of filesUnder(dir)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line) out.push({ path, ...JSON.parse(line) });
    }
  }
  return out;
}

function lines(from, to) {
  const out = [];
  for (let i = from; i < to; i++) out.push(`seq=${i} user=u${i % 37} path=/api/v1/items/${i} ${'x'.repeat(i % 300)}`);
  return out;
}

// kafkajs decodes gzip and uncompressed message sets only (lz4, snappy, zstd need codecs).
function edgeConfig(plugins, bootstrap, topic, compression, messageTimeout = '2m') {
  return tailingConfig(plugins, '"regex:user=(u[0-9]+)"', `  - name: to-kafka
    stream: logs
    buffer: {size: 256KiB, interval: 200ms}
    errors: {path: ./errors}
    sink:
      type: kafka
      brokers: ${bootstrap}
      topic: ${topic}
      compression: ${compression}
      message_timeout: ${messageTimeout}
      properties: {linger.ms: 10, message.max.bytes: 100000}
`);
}

test('the daemon delivers a tailed file to a Kafka cluster, every line once with its key',
  { timeout: 240000 }, async () => {
    work = mkdtempSync(join(tmpdir(), 'sluice-kafka-sink-'));
    const plugins = join(dirname(bin), 'plugins');
    const cluster = await startCluster('fleet');
    const dir = join(work, 'edge');
    mkdirSync(join(dir, 'log'), { recursive: true });
    const want = lines(0, LINES);
    // A first part before the start, the rest while it runs. One line over message.max.bytes
    // (100000) is rejected by the producer and spilled, named with its size.
    const big = `seq=big user=u1 ${'y'.repeat(200000)}`;
    writeFileSync(join(dir, 'log', 'app.log'),
      [...want.slice(0, LINES / 4), big, ...want.slice(LINES / 4, LINES / 2)].join('\n') + '\n');
    const edge = startDaemon(dir, edgeConfig(plugins, cluster.bootstrap, 'fleet', 'gzip'));
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync(join(dir, 'log', 'app.log'), want.slice(LINES / 2).join('\n') + '\n', { flag: 'a' });

    await waitFor('every line at the cluster', async () => {
      assert.equal(edge.exitCode, null, 'the daemon exited: ' + edge.logText());
      return (await readWithKcat(cluster.bootstrap, 'fleet')).length >= LINES;
    }, 120000);
    await new Promise((r) => setTimeout(r, 1000));  // anything more would be a duplicate
    check(await readWithKcat(cluster.bootstrap, 'fleet'), want, 'kcat');
    check(await readWithKafkajs(cluster.bootstrap, 'fleet', LINES), want, 'kafkajs');
    assert.equal(edge.exitCode, null, 'the daemon exited: ' + edge.logText());
    const spilled = await waitFor('the too large line in the error output', () => {
      const recs = spilledRecords(join(dir, 'errors'));
      return recs.length > 0 ? recs : null;
    });
    assert.equal(spilled.length, 1, 'one record spilled');
    assert.ok(spilled[0].path.includes('kafka-failed'), spilled[0].path);
    assert.equal(Buffer.from(spilled[0].rawData, 'base64').toString(), big);
    assert.match(spilled[0].errorMessage, /MSG_SIZE_TOO_LARGE.* of 200016 bytes/);
    edge.kill('SIGTERM');
  });

test('brokers down and produce errors while delivering: nothing is lost',
  { timeout: 240000 }, async () => {
    work ??= mkdtempSync(join(tmpdir(), 'sluice-kafka-sink-'));
    const plugins = join(dirname(bin), 'plugins');
    const cluster = await startCluster('faults');
    const dir = join(work, 'faults');
    mkdirSync(join(dir, 'log'), { recursive: true });
    const want = lines(0, LINES);
    const third = Math.floor(LINES / 3);
    const file = join(dir, 'log', 'app.log');
    writeFileSync(file, want.slice(0, third).join('\n') + '\n');
    const edge = startDaemon(dir, edgeConfig(plugins, cluster.bootstrap, 'faults', 'none'));
    await waitFor('the first lines at the cluster', async () => {
      assert.equal(edge.exitCode, null, 'the daemon exited: ' + edge.logText());
      return (await readWithKcat(cluster.bootstrap, 'faults')).length > 0;
    });
    // Every broker down while the second third is read and delivered.
    for (const id of [1, 2, 3]) await cluster.command(`DOWN ${id}`);
    writeFileSync(file, want.slice(third, 2 * third).join('\n') + '\n', { flag: 'a' });
    await new Promise((r) => setTimeout(r, 4000));
    for (const id of [1, 2, 3]) await cluster.command(`UP ${id}`);
    // Produce (API key 0) answers errors a broker gives while leaders move or replicas lag.
    await cluster.command('ERRORS 0 7 6 19 7 6 19');
    writeFileSync(file, want.slice(2 * third).join('\n') + '\n', { flag: 'a' });

    await waitFor('every line at the cluster', async () => {
      assert.equal(edge.exitCode, null, 'the daemon exited: ' + edge.logText());
      return (await readWithKcat(cluster.bootstrap, 'faults')).length >= LINES;
    }, 150000);
    await new Promise((r) => setTimeout(r, 1000));
    check(await readWithKcat(cluster.bootstrap, 'faults'), want, 'kcat, after faults');
    check(await readWithKafkajs(cluster.bootstrap, 'faults', LINES), want, 'kafkajs, after faults');
    edge.kill('SIGTERM');
  });

test('records whose delivery reports time out are retried by the host until the brokers are back',
  { timeout: 240000 }, async () => {
    work ??= mkdtempSync(join(tmpdir(), 'sluice-kafka-sink-'));
    const plugins = join(dirname(bin), 'plugins');
    const cluster = await startCluster('timeouts');
    const dir = join(work, 'timeouts');
    mkdirSync(join(dir, 'log'), { recursive: true });
    const want = lines(0, 6000);
    const file = join(dir, 'log', 'app.log');
    writeFileSync(file, want.slice(0, 2000).join('\n') + '\n');
    // librdkafka gives up on a record after 2 s: its report says _MSG_TIMED_OUT, the sink answers
    // RETRY and the host sends it again later.
    const edge = startDaemon(dir, edgeConfig(plugins, cluster.bootstrap, 'timeouts', 'none', '2s'));
    await waitFor('the first part at the cluster', async () => {
      assert.equal(edge.exitCode, null, 'the daemon exited: ' + edge.logText());
      return (await readWithKcat(cluster.bootstrap, 'timeouts')).length >= 2000;
    });
    // Nothing in flight now: every broker down for longer than message_timeout.
    for (const id of [1, 2, 3]) await cluster.command(`DOWN ${id}`);
    writeFileSync(file, want.slice(2000, 4000).join('\n') + '\n', { flag: 'a' });
    await waitFor('a delivery report timing out', () =>
      readFileSync(join(dir, 'daemon.log'), 'utf8').includes('_MSG_TIMED_OUT'), 30000);
    await new Promise((r) => setTimeout(r, 3000));
    for (const id of [1, 2, 3]) await cluster.command(`UP ${id}`);
    writeFileSync(file, want.slice(4000).join('\n') + '\n', { flag: 'a' });

    await waitFor('every line at the cluster', async () => {
      assert.equal(edge.exitCode, null, 'the daemon exited: ' + edge.logText());
      return (await readWithKcat(cluster.bootstrap, 'timeouts')).length >= want.length;
    }, 150000);
    await new Promise((r) => setTimeout(r, 1000));
    check(await readWithKcat(cluster.bootstrap, 'timeouts'), want, 'kcat, after timeouts');
    assert.deepEqual(spilledRecords(join(dir, 'errors')), [], 'nothing spilled');
    edge.kill('SIGTERM');
  });

test('kill -9 of the producing daemon under load loses nothing', { timeout: 120000 }, async (t) => {
  work ??= mkdtempSync(join(tmpdir(), 'sluice-kafka-sink-'));
  const plugins = join(dirname(bin), 'plugins');
  const cluster = await startCluster('killed');
  const dir = join(work, 'killed');
  const RECORDS = 60000, KILLS = 3, BATCH = 16384;
  // The daemon's stream is filled through its own Kinesis API (no agent: only the sink's leg is
  // measured), each record keyed by its user, by a run without the delivery; the runs that are
  // killed have the delivery and no API listener (no port to bind again at each start).
  const want = await fillEdge(dir, RECORDS,
    (i) => `seq=${i} user=u${i % 37} ${'x'.repeat(40 + (i % 60))}`);
  const yaml = deliveryConfig(plugins, 'to-kafka', BATCH, {
    type: 'kafka',
    brokers: cluster.bootstrap,
    topic: 'killed',
    properties: '{linger.ms: 0}',
  });
  // Started and killed while it catches up: each run is killed once it delivered a little, and
  // then up to 50 ms later, so that the kills find the batch in flight at different points (no
  // linger.ms: its records go to the brokers as soon as they are produced).
  await killWhileDelivering(dir, yaml, {
    kills: KILLS,
    delivery: 'to-kafka',
    beforeKill: () => new Promise((r) => setTimeout(r, Math.random() * 50)),
  });
  const atKills = (await readWithKcat(cluster.bootstrap, 'killed')).length;
  assert.ok(atKills < RECORDS, `the kills came after the end (${atKills} records there)`);
  const edge = startDaemon(dir, yaml, { log: 'daemon-last.log' });
  let records = [];
  await waitFor('every record at the cluster', async () => {
    assert.equal(edge.exitCode, null, 'the daemon exited: ' + edge.logText());
    records = await readWithKcat(cluster.bootstrap, 'killed');
    return new Set(records.map((r) => r.data)).size >= RECORDS;
  }, 60000, 1000);
  await new Promise((r) => setTimeout(r, 1000));  // anything more would be a duplicate
  records = await readWithKcat(cluster.bootstrap, 'killed');
  const seen = new Map();
  for (const r of records) {
    seen.set(r.data, (seen.get(r.data) || 0) + 1);
    const m = /^seq=(\d+) user=(u\d+)/.exec(r.data);
    assert.ok(m, `unexpected record ${r.data.slice(0, 40)}`);
    assert.equal(r.key, m[2], 'the source\'s partition key is the message key');
  }
  let missing = 0;
  for (const line of want) if (!seen.has(line)) missing++;
  assert.equal(missing, 0, 'lines missing');
  assert.equal(seen.size, RECORDS, 'no other record');
  assert.deepEqual(spilledRecords(join(dir, 'errors')), [], 'nothing spilled');
  const duplicates = records.length - RECORDS;
  // At most one batch of records per kill. One worker (concurrency 1) sends one batch at a time:
  // Send returns only once every record of it has its delivery report, and the batch's
  // checkpoint is durable before the next batch is read. A killed run's batch is journaled and
  // replayed whole by the next run, as a new producer id: the idempotent producer deduplicates
  // only its own retries, so what the killed run had produced of it is there twice. A batch holds
  // buffer.size bytes plus at most one read of the stream (64 KiB), in records of at least 50
  // bytes.
  const bound = KILLS * Math.ceil((BATCH + 65536) / 50);
  t.diagnostic(`${atKills} records in the topic after the kills; ${duplicates} duplicates ` +
    `(bound ${bound}); ${replayed(dir)} records in the batches replayed at the daemon's starts`);
  assert.ok(duplicates <= bound, `${duplicates} duplicates (bound ${bound})`);
  await stop(edge);
});
