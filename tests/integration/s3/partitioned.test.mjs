// The operator's trial, counted in the bucket: `sluice run` tails JSON access lines and delivers
// them to s3rver with dynamic partitioning by status, gzip and envelope encryption. Every record
// lands in the object of its own partition (no object overwrites another), the records whose
// partition key cannot be extracted or whose prefix cannot be rendered are spilled as
// partitioning-failed (and logged), the objects carry the key id in their metadata, and
// `sluice decrypt` opens objects and spills alike.
// `sluice check` refuses the same configuration with a typo in the prefix's key name.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { startS3, listKeys, ACCESS_KEY, SECRET_KEY } from './s3_peer.mjs';

const STATUSES = [200, 404, 500];
const PER_STATUS = 400;
const KEYLESS = 37; // lines without a status: their partition key cannot be extracted
const LONG = 5; // a status of 600 characters: the prefix it makes cannot be rendered (512 at most)
let peer, dir, daemon;

after(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  await peer?.close();
  if (dir && !process.env.DEBUG_S3) fs.rmSync(dir, { recursive: true, force: true });
  else if (dir) console.error('kept', dir);
});


function sluice(args, input) {
  const r = spawnSync(process.env.SLUICE_BIN, args, { cwd: dir, input });
  return { code: r.status, out: r.stdout, err: r.stderr.toString() };
}

function config(prefix) {
  return `data_dir: ./data
plugin_dirs: [${process.env.SLUICE_PLUGIN_DIR}]
admin: {listen: "127.0.0.1:0"}
streams:
  - name: web
    shards: 2
sources:
  - name: access
    paths: ["./log/*.log"]
    stream: web
    initial_position: start_of_file
    rescan_interval: 200ms
deliveries:
  - name: archive
    stream: web
    buffer: {size: 1MiB, interval: 1s}
    record_delimiter: "\\n"
    compression: gzip
    encryption: {keyring: ./keyring}
    partitioning: {keys: {status: .status}}
    errors: {path: ./errors}
    sink:
      type: s3
      bucket: logs
      prefix: "${prefix}"
      endpoint: ${peer.endpoint}
      force_path_style: true
      access_key_id: ${ACCESS_KEY}
      secret_access_key: ${SECRET_KEY}
`;
}

test('partitioned, encrypted delivery: every record counted in its partition', { timeout: 90000 },
  async () => {
    assert.ok(process.env.SLUICE_BIN, 'SLUICE_BIN is not set (run through ctest)');
    peer = await startS3(['logs']);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-partitioned-'));
    fs.mkdirSync(path.join(dir, 'log'));
    const keygen = sluice(['keygen', '--id', 'web-2026']);
    assert.equal(keygen.code, 0, keygen.err);
    fs.writeFileSync(path.join(dir, 'keyring'), keygen.out, { mode: 0o600 });

    // The typo is refused before anything runs, at its position.
    fs.writeFileSync(path.join(dir, 'typo.yaml'), config('web/status=!{partitionKeyFromQuery:stauts}/'),
      { mode: 0o600 });
    const check = sluice(['check', '-c', 'typo.yaml']);
    assert.equal(check.code, 1);
    assert.match(check.err, /typo\.yaml:\d+:\d+: deliveries\[0\]\.sink\.prefix: !\{partitionKeyFromQuery:stauts\} names no partitioning key \(status\)/);

    const want = new Map(STATUSES.map((s) => [String(s), []]));
    const lines = [];
    for (let i = 0; i < PER_STATUS; i++) {
      for (const s of STATUSES) {
        const line = JSON.stringify({ seq: `${s}-${i}`, status: s, path: `/p/${i}` });
        want.get(String(s)).push(line);
        lines.push(line);
      }
      if (i < KEYLESS) lines.push(JSON.stringify({ seq: `none-${i}`, path: '/health' }));
      if (i < LONG) lines.push(JSON.stringify({ seq: `long-${i}`, status: 'x'.repeat(600) }));
    }
    fs.writeFileSync(path.join(dir, 'log', 'access.log'), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'sluice.yaml'), config('web/status=!{partitionKeyFromQuery:status}/'),
      { mode: 0o600 });
    const log = fs.openSync(path.join(dir, 'daemon.log'), 'a');
    daemon = spawn(process.env.SLUICE_BIN, ['run', '-c', 'sluice.yaml'],
      { cwd: dir, stdio: ['ignore', log, log] });

    const deadline = Date.now() + 60000;
    let got, spilled, keys;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(daemon.exitCode, null,
        'the daemon exited: ' + fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8').slice(-2000));
      keys = await listKeys(peer.s3Endpoint, 'logs');
      got = new Map();
      for (const k of keys) {
        const obj = await peer.get('logs', k);
        assert.equal(obj.status, 200, k);
        assert.equal(obj.headers.get('content-type'), 'application/octet-stream', k);
        assert.equal(obj.headers.get('content-encoding'), null, k);
        assert.equal(obj.headers.get('x-amz-meta-sluice-key-id'), 'web-2026', k);
        const m = k.match(/^web\/status=(\d+)\/(\d{4}\/\d\d\/\d\d\/\d\d\/)?archive-1-.*\.gz\.enc$/);
        assert.ok(m, `object key ${k}`);
        const plain = sluice(['decrypt', '-k', 'keyring', '-'], obj.body);
        assert.equal(plain.code, 0, plain.err);
        const recs = zlib.gunzipSync(plain.out).toString().split('\n').filter((l) => l);
        got.set(m[1], [...(got.get(m[1]) || []), ...recs]);
      }
      spilled = [];
      const errDir = path.join(dir, 'errors');
      if (fs.existsSync(errDir)) {
        for (const f of fs.readdirSync(errDir, { recursive: true })) {
          const p = path.join(errDir, f);
          if (!fs.statSync(p).isFile() || path.basename(p).startsWith('.tmp-')) continue;
          const plain = sluice(['decrypt', '-k', 'keyring', p]);
          if (plain.code !== 0) continue; // still being written
          assert.match(f, /partitioning-failed/, `error output ${f}`);
          spilled.push(...plain.out.toString().split('\n').filter((l) => l).map((l) => JSON.parse(l)));
        }
      }
      const n = [...got.values()].reduce((a, v) => a + v.length, 0);
      if (n >= STATUSES.length * PER_STATUS && spilled.length >= KEYLESS + LONG) break;
    }
    daemon.kill('SIGTERM');
    const code = await new Promise((r) => daemon.on('exit', r));
    const daemonLog = fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8');
    assert.equal(code, 0, daemonLog.slice(-2000));
    // Each partition holds exactly its own records, once each: nothing overwritten, nothing twice.
    assert.deepEqual([...got.keys()].sort(), STATUSES.map(String).sort(), `objects: ${keys}`);
    for (const [s, recs] of got) {
      assert.equal(recs.length, PER_STATUS, `status ${s}: ${recs.length} records`);
      assert.deepEqual([...recs].sort(), [...want.get(s)].sort(), `status ${s}`);
    }
    assert.equal(spilled.length, KEYLESS + LONG);
    const kinds = { none: 0, long: 0 };
    for (const e of spilled) {
      assert.equal(e.errorCode, 'PartitionKey.Invalid', JSON.stringify(e));
      const seq = /"seq":"(none|long)-\d+"/.exec(Buffer.from(e.rawData, 'base64').toString());
      assert.ok(seq, JSON.stringify(e));
      kinds[seq[1]]++;
      // A prefix that does not render spills its records, never writes them without it.
      if (seq[1] === 'long') assert.match(e.errorMessage, /prefix: evaluated prefix is \d+ characters; the limit is 512/);
    }
    assert.deepEqual(kinds, { none: KEYLESS, long: LONG });
    assert.match(daemonLog, /records sent to the error output.*delivery=archive sink=s3 type=partitioning-failed.*errorCode=PartitionKey\.Invalid/);
    assert.equal(peer.state.mismatches, 0);
  });
