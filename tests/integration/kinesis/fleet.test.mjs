// A fleet, end to end: two edge daemons tail log files that rotate (by rename) into their own
// streams and feed a central sluice with the kinesis sink; the central daemon's delivery reads
// its stream and writes gzip objects to S3 (s3rver behind a SigV4 verifier). Every line of both
// edges is counted in the bucket: each exactly once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, renameSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import zlib from 'node:zlib';
import { startS3, listKeys, ACCESS_KEY, SECRET_KEY } from '../s3/s3_peer.mjs';
import { freePort, startDaemon, killAll } from '../daemons.mjs';

const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const PER_EDGE = 12000, ROTATE_EVERY = 3000;
const CENTRAL = { id: 'AKIDCENTRAL', secret: 'central-secret-key' };

let work, peer;
after(async () => {
  killAll();
  await peer?.close();
  if (work && !process.env.DEBUG_FLEET) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

test('two edges feed a central sluice that archives to S3: every line once', { timeout: 180000 },
  async () => {
    work = mkdtempSync(join(tmpdir(), 'sluice-fleet-'));
    const plugins = join(dirname(bin), 'plugins');
    peer = await startS3(['logs']);
    const apiPort = await freePort();
    const central = startDaemon(join(work, 'central'), `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth:
      - access_key_id: ${CENTRAL.id}
        secret_access_key: ${CENTRAL.secret}
streams:
  - name: fleet
    shards: 2
deliveries:
  - name: archive
    stream: fleet
    buffer: {size: 1MiB, interval: 1s}
    record_delimiter: "\\n"
    compression: gzip
    errors: {path: ./errors}
    sink:
      type: s3
      bucket: logs
      prefix: "fleet/"
      endpoint: ${peer.endpoint}
      force_path_style: true
      access_key_id: ${ACCESS_KEY}
      secret_access_key: ${SECRET_KEY}
`);
    const edges = [];
    const want = [];
    for (const host of ['web-1', 'web-2']) {
      const dir = join(work, host);
      mkdirSync(join(dir, 'log'), { recursive: true });
      edges.push({
        host,
        dir,
        daemon: startDaemon(dir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
streams:
  - name: web
    shards: 2
sources:
  - name: app
    paths: ["./log/app.log*"]
    stream: web
    initial_position: start_of_file
    partition_key: file
    rescan_interval: 200ms
deliveries:
  - name: to-central
    stream: web
    buffer: {size: 256KiB, interval: 200ms}
    errors: {path: ./errors}
    sink:
      type: kinesis
      stream: fleet
      endpoint: http://127.0.0.1:${apiPort}
      access_key_id: ${CENTRAL.id}
      secret_access_key: ${CENTRAL.secret}
`),
      });
    }
    // Both edges write, rotating by rename (app.log -> app.log.N) every ROTATE_EVERY lines.
    for (let i = 0; i < PER_EDGE; i += 500) {
      for (const e of edges) {
        const chunk = [];
        for (let k = i; k < i + 500; k++) chunk.push(`host=${e.host} seq=${k} ${'w'.repeat(k % 90)}`);
        want.push(...chunk);
        appendFileSync(join(e.dir, 'log', 'app.log'), chunk.join('\n') + '\n');
        if ((i + 500) % ROTATE_EVERY === 0) {
          renameSync(join(e.dir, 'log', 'app.log'), join(e.dir, 'log', `app.log.${i + 500}`));
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const deadline = Date.now() + 120000;
    let seen = new Map();
    for (;;) {
      for (const d of [central, ...edges.map((e) => e.daemon)]) {
        assert.equal(d.exitCode, null, 'a daemon exited: ' + d.logText());
      }
      seen = new Map();
      for (const key of await listKeys(peer.s3Endpoint, 'logs')) {
        const obj = await peer.get('logs', key);
        assert.equal(obj.status, 200, key);
        for (const line of zlib.gunzipSync(obj.body).toString().split('\n')) {
          if (line) seen.set(line, (seen.get(line) || 0) + 1);
        }
      }
      let total = 0;
      for (const n of seen.values()) total += n;
      if (total >= want.length) break;
      assert.ok(Date.now() < deadline, `only ${total} of ${want.length} lines in the bucket`);
      await new Promise((r) => setTimeout(r, 500));
    }
    let missing = 0, twice = 0;
    for (const line of want) {
      const n = seen.get(line) || 0;
      if (n === 0) missing++;
      if (n > 1) twice++;
    }
    assert.equal(missing, 0, 'lines missing');
    assert.equal(twice, 0, 'lines twice');
    assert.equal(seen.size, want.length, 'no other line');
    assert.equal(peer.state.mismatches, 0, 'every S3 request signed right');
  });
