// The firehose sink end to end: an edge daemon (`sluice run`) tails a log file into its stream
// and delivers it with the firehose sink (PutRecordBatch, SigV4) to a second sluice daemon's
// Firehose API, where a Direct PUT delivery stream writes objects with the file sink. Every line
// is counted in the central objects: each exactly once, each on its own line. A second test kills
// the edge with kill -9 three times while it catches up on a filled stream: every record arrives,
// and the duplicates stay within the batches in flight at the kills.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  freePort, startDaemon, filesUnder, killAll, stop, status, waitFor, killWhileDelivering, replayed,
} from '../daemons.mjs';
import { fillEdge, deliveryConfig, tailingConfig } from '../edge.mjs';

const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const LINES = 15000;
const KEY = { id: 'AKIDCENTRAL', secret: 'central-secret-key' };

let work;
after(() => {
  killAll();
  if (work && !process.env.DEBUG_FIREHOSE_SINK) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

// The central daemon in `dir`: its Firehose API on `port` (SigV4 with KEY), a Direct PUT
// delivery stream `fleet` that writes objects to <dir>/out with the file sink.
function startCentral(dir, port) {
  return startDaemon(dir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${join(dirname(bin), 'plugins')}]
broker:
  api:
    listen: 127.0.0.1:${port}
    auth:
      - access_key_id: ${KEY.id}
        secret_access_key: ${KEY.secret}
deliveries:
  - name: fleet
    direct_put: true
    buffer: {size: 1MiB, interval: 1s}
    sink:
      type: file
      path: ./out
`);
}

// line -> how many times it is in the objects under `dir`.
function delivered(dir) {
  const counts = new Map();
  for (const f of filesUnder(dir)) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (line) counts.set(line, (counts.get(line) || 0) + 1);
    }
  }
  return counts;
}

test('an edge daemon feeds a central sluice Firehose delivery stream', { timeout: 120000 },
  async () => {
    work = mkdtempSync(join(tmpdir(), 'sluice-firehose-sink-'));
    const plugins = join(dirname(bin), 'plugins');
    const port = await freePort();
    const central = startCentral(join(work, 'central'), port);
    const edgeDir = join(work, 'edge');
    mkdirSync(join(edgeDir, 'log'), { recursive: true });
    const want = [];
    for (let i = 0; i < LINES; i++) want.push(`seq=${i} host=web-1 status=${200 + (i % 5)} ${'y'.repeat(i % 400)}`);
    writeFileSync(join(edgeDir, 'log', 'app.log'), want.slice(0, LINES / 2).join('\n') + '\n');
    const edge = startDaemon(edgeDir, tailingConfig(plugins, 'random', `  - name: to-central
    stream: logs
    buffer: {size: 512KiB, interval: 200ms}
    errors: {path: ./errors}
    sink:
      type: firehose
      delivery_stream: fleet
      endpoint: http://127.0.0.1:${port}
      access_key_id: ${KEY.id}
      secret_access_key: ${KEY.secret}
`));
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync(join(edgeDir, 'log', 'app.log'), want.slice(LINES / 2).join('\n') + '\n', { flag: 'a' });
    const out = join(work, 'central', 'out');
    const deadline = Date.now() + 90000;
    let got;
    for (;;) {
      assert.equal(central.exitCode, null, 'the central daemon exited: ' + central.logText());
      assert.equal(edge.exitCode, null, 'the edge daemon exited: ' + edge.logText());
      got = delivered(out);
      let total = 0;
      for (const n of got.values()) total += n;
      if (total >= LINES) break;
      assert.ok(Date.now() < deadline, `only ${total} of ${LINES} lines arrived`);
      await new Promise((r) => setTimeout(r, 300));
    }
    await new Promise((r) => setTimeout(r, 1500));  // anything more would be a duplicate
    got = delivered(out);
    let missing = 0, twice = 0;
    for (const line of want) {
      const n = got.get(line) || 0;
      if (n === 0) missing++;
      if (n > 1) twice++;
    }
    assert.equal(missing, 0, 'lines missing');
    assert.equal(twice, 0, 'lines delivered twice');
    assert.equal(got.size, LINES, 'no other line');
  });

test('kill -9 of the edge daemon under load loses nothing', { timeout: 120000 }, async (t) => {
  work ??= mkdtempSync(join(tmpdir(), 'sluice-firehose-sink-'));
  const root = join(work, 'kill');
  const plugins = join(dirname(bin), 'plugins');
  const RECORDS = 100000, KILLS = 3, BATCH = 16384;
  // The edge's stream is filled through its own Kinesis API (no agent: only the sink's leg is
  // measured) by a daemon without the delivery; the runs that are killed have the delivery and no
  // API listener (no port to bind again at each start).
  const edgeDir = join(root, 'edge');
  const want = await fillEdge(edgeDir, RECORDS);
  const port = await freePort();
  const central = startCentral(join(root, 'central'), port);
  await waitFor('the central daemon', async () => {
    assert.equal(central.exitCode, null, 'the central daemon exited: ' + central.logText());
    return (await status(central)) !== null;
  });
  const out = join(root, 'central', 'out');
  const edgeYaml = deliveryConfig(plugins, 'to-central', BATCH, {
    type: 'firehose',
    delivery_stream: 'fleet',
    endpoint: `http://127.0.0.1:${port}`,
    access_key_id: KEY.id,
    secret_access_key: KEY.secret,
  });
  // Started and killed while it catches up: each run is killed once it delivered a little.
  await killWhileDelivering(edgeDir, edgeYaml, {
    kills: KILLS,
    delivery: 'to-central',
    alive: () => assert.equal(central.exitCode, null, 'the central daemon exited: ' + central.logText()),
  });
  await new Promise((r) => setTimeout(r, 1500));  // the central's buffer interval is 1 s
  let atKills = 0;
  for (const n of delivered(out).values()) atKills += n;
  assert.ok(atKills < RECORDS, `the kills came after the end (${atKills} records there)`);
  const edge = startDaemon(edgeDir, edgeYaml, { log: 'daemon-last.log' });
  await waitFor('every record in the central objects', () => {
    assert.equal(central.exitCode, null, 'the central daemon exited: ' + central.logText());
    assert.equal(edge.exitCode, null, 'the edge daemon exited: ' + edge.logText());
    return delivered(out).size >= RECORDS;
  }, 60000);
  await new Promise((r) => setTimeout(r, 1500));  // anything more would be a duplicate
  const got = delivered(out);
  let total = 0, missing = 0;
  for (const n of got.values()) total += n;
  for (const line of want) if (!got.has(line)) missing++;
  assert.equal(missing, 0, 'lines missing');
  assert.equal(got.size, RECORDS, 'no other line');
  assert.deepEqual(filesUnder(join(edgeDir, 'errors')), [], 'nothing spilled');
  const duplicates = total - RECORDS;
  // At most one batch of records per kill (one worker; its checkpoint is durable before the
  // next batch is read, and a killed run's batch is journaled and replayed whole by the next):
  // a batch holds buffer.size bytes plus at most one read of the stream (64 KiB), in records of
  // at least 50 bytes.
  const bound = KILLS * Math.ceil((BATCH + 65536) / 50);
  t.diagnostic(`${atKills} records at the central after the kills; ${duplicates} duplicates ` +
    `(bound ${bound}); ${replayed(edgeDir)} records in the batches replayed at the edge's starts`);
  assert.ok(duplicates <= bound, `${duplicates} duplicates (bound ${bound})`);
  await stop(edge);
  await stop(central);
});
