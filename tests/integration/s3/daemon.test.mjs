// The built daemon (`sluice run`) tails a log file and delivers it through the s3 sink, gzip-
// compressed, to s3rver behind the SigV4 verifier; every line arrives exactly as written, and a
// burst of 503s on the way is retried without loss.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { startS3, listKeys, ACCESS_KEY, SECRET_KEY } from './s3_peer.mjs';

const LINES = 20000;
let peer, dir, daemon;

after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  await peer?.close();
  if (dir && !process.env.DEBUG_S3) fs.rmSync(dir, { recursive: true, force: true });
  else if (dir) console.error('kept', dir);
});


test('sluice run delivers a tailed file to S3, every line once', { timeout: 90000 }, async () => {
  const bin = process.env.SLUICE_BIN;
  assert.ok(bin, 'SLUICE_BIN is not set (run through ctest)');
  peer = await startS3(['logs']);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-daemon-'));
  fs.mkdirSync(path.join(dir, 'log'));
  const want = [];
  for (let i = 0; i < LINES; i++) want.push(`seq=${i} user=ü+= ${'x'.repeat(i % 50)}`);
  fs.writeFileSync(path.join(dir, 'log', 'app.log'), want.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'sluice.yaml'), `data_dir: ./data
plugin_dirs: [${process.env.SLUICE_PLUGIN_DIR}]
admin: {listen: "127.0.0.1:0"}
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
  - name: archive
    stream: logs
    buffer: {size: 1MiB, interval: 1s}
    record_delimiter: "\\n"
    compression: gzip
    retry_duration: 60s
    errors: {path: ./errors}
    sink:
      type: s3
      bucket: logs
      prefix: "app/!{timestamp:yyyy/MM/dd}/with space+=/"
      endpoint: ${peer.endpoint}
      force_path_style: true
      access_key_id: ${ACCESS_KEY}
      secret_access_key: ${SECRET_KEY}
`, { mode: 0o600 });
  for (let i = 0; i < 3; i++) peer.inject({ method: 'PUT', status: 503, code: 'SlowDown' });
  const log = fs.openSync(path.join(dir, 'daemon.log'), 'a');
  daemon = spawn(bin, ['run', '-c', 'sluice.yaml'], { cwd: dir, stdio: ['ignore', log, log] });
  const deadline = Date.now() + 60000;
  let got = [];
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(daemon.exitCode, null,
      'the daemon exited: ' + fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8').slice(-2000));
    const keys = await listKeys(peer.s3Endpoint, 'logs');
    got = [];
    for (const k of keys) {
      const obj = await peer.get('logs', k);
      assert.equal(obj.status, 200, k);
      assert.match(k, /^app\/\d{4}\/\d\d\/\d\d\/with space\+=\/archive-1-.*\.gz$/);
      got.push(...zlib.gunzipSync(obj.body).toString().split('\n').filter((l) => l));
    }
    if (process.env.DEBUG_S3) console.error(`keys ${keys.length} lines ${got.length}`);
    if (got.length >= LINES) break;
  }
  daemon.kill('SIGTERM');
  const code = await new Promise((r) => daemon.on('exit', r));
  const daemonLog = fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8');
  assert.equal(code, 0, daemonLog.slice(-2000));
  assert.equal(got.length, LINES, `lines delivered: ${got.length}\n${daemonLog.slice(-2000)}`);
  assert.deepEqual([...got].sort(), [...want].sort());
  assert.equal(peer.state.mismatches, 0);
  assert.ok(peer.state.log.some((e) => e.status === 503), 'the injected 503s were met');
  assert.ok(!fs.existsSync(path.join(dir, 'errors')) ||
    fs.readdirSync(path.join(dir, 'errors'), { recursive: true }).length === 0, 'nothing spilled');
});
