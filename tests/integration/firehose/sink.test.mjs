// The firehose sink end to end: an edge daemon (`sluice run`) tails a log file into its stream
// and delivers it with the firehose sink (PutRecordBatch, SigV4) to a second sluice daemon's
// Firehose API, where a Direct PUT delivery stream writes objects with the file sink. Every line
// is counted in the central objects: each exactly once, each on its own line.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, startDaemon, filesUnder, killAll } from '../daemons.mjs';

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
    const central = startDaemon(join(work, 'central'), `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
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
    const edgeDir = join(work, 'edge');
    mkdirSync(join(edgeDir, 'log'), { recursive: true });
    const want = [];
    for (let i = 0; i < LINES; i++) want.push(`seq=${i} host=web-1 status=${200 + (i % 5)} ${'y'.repeat(i % 400)}`);
    writeFileSync(join(edgeDir, 'log', 'app.log'), want.slice(0, LINES / 2).join('\n') + '\n');
    const edge = startDaemon(edgeDir, `data_dir: ./data
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
    partition_key: random
    rescan_interval: 200ms
deliveries:
  - name: to-central
    stream: logs
    buffer: {size: 512KiB, interval: 200ms}
    errors: {path: ./errors}
    sink:
      type: firehose
      delivery_stream: fleet
      endpoint: http://127.0.0.1:${port}
      access_key_id: ${KEY.id}
      secret_access_key: ${KEY.secret}
`);
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
