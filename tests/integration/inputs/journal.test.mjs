// The journal source (`type: journal`) against the built daemon, without a running journald:
// journal files are written by systemd-journal-remote from the Journal Export Format, into a
// directory the source reads (`journal.directory`). Entries of several units and priorities, a
// few with another SYSLOG_IDENTIFIER; the source matches two units, priority <= warning and the
// identifier, and every matching entry is counted in the file sink's objects by its unique
// MESSAGE: none lost, none twice, none that does not match. Then entries appended in a second
// journal file arrive; then the daemon is killed with SIGKILL while it reads a third file and
// restarted: it resumes after its cursor, and the duplicates stay within what was put after the
// last cursor write plus the delivery's batches in flight.
//
// Run directly (not under --test): without systemd-journal-remote it exits 77, which ctest
// shows as skipped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { adminOf, filesUnder, startDaemon, status, stop, untilDelivered, waitFor } from
  '../daemons.mjs';

const journalRemote = ['/lib/systemd/systemd-journal-remote', '/usr/lib/systemd/systemd-journal-remote']
  .find((p) => existsSync(p));
if (!journalRemote) {
  console.log('SKIP: systemd-journal-remote is not installed (apt-get install systemd-journal-remote)');
  process.exit(77);
}

const bin = process.env.SLUICE_BIN;
const plugins = join(dirname(bin), 'plugins');
const work = mkdtempSync(join(tmpdir(), 'sluice-journal-'));
after(() => rmSync(work, { recursive: true, force: true }));

const BOOT = '0123456789abcdef0123456789abcdef';
const UNITS = ['alpha.service', 'beta.service', 'gamma.service'];

// Entry i: its unit, priority and identifier cycle, so about a third match the source.
function entry(i) {
  return {
    unit: UNITS[i % 3], priority: i % 8, ident: i % 5 === 0 ? 'other' : 'sluice-test',
    message: `journal entry ${i}`,
  };
}
const matches = (e) => e.unit !== 'gamma.service' && e.priority <= 4 && e.ident === 'sluice-test';

// The Journal Export Format of entries [from, to); every 97th also has a binary field (the
// length-prefixed form: name, newline, 64-bit little-endian size, data, newline).
function exportFormat(from, to) {
  const parts = [];
  for (let i = from; i < to; i++) {
    const e = entry(i);
    parts.push(Buffer.from(`__REALTIME_TIMESTAMP=${1700000000000000 + i}\n` +
      `__MONOTONIC_TIMESTAMP=${1000000 + i}\n_BOOT_ID=${BOOT}\n_HOSTNAME=testhost\n` +
      `_SYSTEMD_UNIT=${e.unit}\nPRIORITY=${e.priority}\nSYSLOG_IDENTIFIER=${e.ident}\n` +
      `MESSAGE=${e.message}\n`));
    if (i % 97 === 0) {
      const data = Buffer.from([0, 1, 2, 0xff, 10, 0x41]);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(data.length));
      parts.push(Buffer.from('BLOB\n'), len, data, Buffer.from('\n'));
    }
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

// Writes entries [from, to) into <dir>/<name> with systemd-journal-remote.
async function writeJournal(dir, name, from, to) {
  const child = spawn(journalRemote, [`--output=${join(dir, name)}`, '-'],
    { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end(exportFormat(from, to));
  const code = await done;
  assert.equal(code, 0, `systemd-journal-remote failed: ${err}`);
}

// The records delivered under `dir`, parsed.
function delivered(dir) {
  const out = [];
  for (const f of filesUnder(dir)) {
    for (const l of readFileSync(f, 'utf8').split('\n')) if (l) out.push(JSON.parse(l));
  }
  return out;
}

// The number of times each MESSAGE was delivered.
function counts(records) {
  const m = new Map();
  for (const r of records) m.set(r.MESSAGE, (m.get(r.MESSAGE) || 0) + 1);
  return m;
}

function config(journalDir, extra = '') {
  return `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
streams:
  # Kinesis limits (1,000 records/s a shard) pace the source: reads stop while puts are throttled,
  # so the kill below lands while the source is still reading.
  - {name: journal, shards: 2, mode: provisioned}
sources:
  - name: journal
    type: journal
    stream: journal
    initial_position: start_of_file
    checkpoint_interval: 0s
    journal:
      directory: ${journalDir}
      units: [alpha, beta.service]
      priority: warning
      matches: {SYSLOG_IDENTIFIER: sluice-test}
    processing:
      - timestamp: {field: __REALTIME_TIMESTAMP, format: epoch_us}
${extra}deliveries:
  - name: journal
    stream: journal
    buffer: {size: 1MiB, interval: 100ms}
    record_delimiter: "\\n"
    sink: {type: file, path: ./out}
`;
}

// The source's records_put (its /status), or -1 before the daemon answers.
async function recordsPut(child) {
  const st = await status(child);
  return st ? st.sources.find((s) => s.name === 'journal').records_put : -1;
}

test('journal entries matched, appended, and resumed after kill -9', async (t) => {
  const journalDir = join(work, 'journal');
  mkdirSync(journalDir);
  const N1 = 5000, N2 = 2000, N3 = 60000;
  await writeJournal(journalDir, 'first.journal', 0, N1);
  const want = (from, to) => {
    const w = [];
    for (let i = from; i < to; i++) if (matches(entry(i))) w.push(entry(i).message);
    return w;
  };
  const want1 = want(0, N1);
  const dir = join(work, 'daemon');
  let child = startDaemon(dir, config(journalDir));
  try {
    await adminOf(child);
    await untilDelivered(child, 'journal', want1.length);
    // Entries appended to the directory (a second file) while the daemon runs.
    await writeJournal(journalDir, 'second.journal', N1, N1 + N2);
    const want2 = want(0, N1 + N2);
    await untilDelivered(child, 'journal', want2.length);
    await new Promise((r) => setTimeout(r, 1000));  // anything more would be a stray record
    let got = delivered(join(dir, 'out'));
    const c = counts(got);
    assert.equal(got.length, want2.length, 'records that do not match were delivered');
    for (const m of want2) assert.equal(c.get(m), 1, `${m}: delivered ${c.get(m) || 0} times`);

    // The record of a matching entry: its fields, the binary one base64 under BLOB_base64.
    const r0 = got.find((r) => r.MESSAGE === 'journal entry 1');
    assert.equal(r0.__REALTIME_TIMESTAMP, '1700000000000001');
    assert.equal(r0._SYSTEMD_UNIT, 'beta.service');
    assert.equal(r0.PRIORITY, '1');
    assert.equal(r0._HOSTNAME, 'testhost');
    const withBlob = got.find((r) => r.BLOB_base64 !== undefined);
    assert.ok(withBlob, 'no record with the binary field');
    assert.equal(withBlob.BLOB_base64, Buffer.from([0, 1, 2, 0xff, 10, 0x41]).toString('base64'));

    // Kill -9 while a third file is being read, then restart.
    await stop(child, 'SIGTERM');
    await writeJournal(journalDir, 'third.journal', N1 + N2, N1 + N2 + N3);
    const wantAll = want(0, N1 + N2 + N3);
    const third = wantAll.length - want2.length;
    child = startDaemon(dir, config(journalDir), { log: 'daemon-killed.log' });
    await adminOf(child);
    const putAtKill = await waitFor('the source to put records of the third file', async () => {
      const n = await recordsPut(child);
      return n >= 5000 ? n : null;
    }, 30000, 1);
    await stop(child);  // SIGKILL
    t.diagnostic(`killed after ${putAtKill} of ${third} records of the third file were put`);
    assert.ok(putAtKill < third, 'the source had read everything before the kill');

    child = startDaemon(dir, config(journalDir), { log: 'daemon-restarted.log' });
    await adminOf(child);
    await waitFor('every matching entry', () => {
      const have = counts(delivered(join(dir, 'out')));
      return wantAll.every((m) => have.has(m));
    }, 120000, 200);
    await new Promise((r) => setTimeout(r, 1500));  // anything more would be a duplicate
    got = delivered(join(dir, 'out'));
    const all = counts(got);
    const wanted = new Set(wantAll);
    const strays = got.filter((r) => !wanted.has(r.MESSAGE)).length;
    assert.equal(strays, 0, `${strays} records that do not match`);
    const lost = wantAll.filter((m) => !all.has(m)).length;
    assert.equal(lost, 0, `${lost} entries lost`);
    const duplicates = got.length - wantAll.length;
    // Delivered again: the killed run's puts after its last cursor write (the cursor is written
    // at each durable advance, so what the stream put in its last fsync_interval, 100 ms, and
    // durability tick, 50 ms) and the delivery's batch in flight (interval 100 ms). Bound: one
    // second of the stream's write limit (2 shards x 1,000 records/s).
    const bound = 2000;
    t.diagnostic(`${duplicates} duplicates after the kill (bound ${bound})`);
    assert.ok(duplicates <= bound, `${duplicates} duplicates (bound ${bound})`);
    for (const [m, n] of all) {
      if (n > 1) assert.ok(want(0, N1 + N2).indexOf(m) < 0, `${m} of the first runs delivered again`);
    }
    const cursor = readFileSync(join(dir, 'data/agent/journal/journal.cursor'), 'utf8');
    assert.match(cursor, /^s=[0-9a-f]+;i=[0-9a-f]+;b=/);
  } finally {
    await stop(child);
  }
});
