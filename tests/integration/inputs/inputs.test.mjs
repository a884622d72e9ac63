// The sources that are not file tails, against the built daemon: stdin (lines piped in), exec
// (a command restarted after each exit), syslog over UDP (paced datagrams) and TCP (several
// connections, octet-counted and newline-framed messages mixed). Every record is counted in the
// file sink's objects: none lost, none twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, fstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { filesUnder, stop, untilDelivered, adminOf, waitFor } from '../daemons.mjs';

const bin = process.env.SLUICE_BIN;
const plugins = join(dirname(bin), 'plugins');
const work = mkdtempSync(join(tmpdir(), 'sluice-inputs-'));
after(() => rmSync(work, { recursive: true, force: true }));

// `sluice run` in `dir` with its standard input a pipe (the child's stdin).
function startWithStdin(dir, yaml) {
  writeFileSync(join(dir, 'sluice.yaml'), yaml, { mode: 0o600 });
  const fd = openSync(join(dir, 'daemon.log'), 'a');
  const startOffset = fstatSync(fd).size;
  const child = spawn(bin, ['run', '-c', 'sluice.yaml'], { cwd: dir, stdio: ['pipe', fd, fd] });
  child.logText = () => readFileSync(join(dir, 'daemon.log'), 'utf8').slice(-3000);
  child.logSinceStart = () =>
    readFileSync(join(dir, 'daemon.log')).subarray(startOffset).toString('utf8');
  return child;
}

// The lines of every object delivered under `dir`.
function delivered(dir) {
  const lines = [];
  for (const f of filesUnder(dir)) {
    for (const l of readFileSync(f, 'utf8').split('\n')) if (l) lines.push(l);
  }
  return lines;
}

// Fails unless `got` holds each of `want` exactly once.
function assertExact(got, want, what) {
  const counts = new Map();
  for (const g of got) counts.set(g, (counts.get(g) || 0) + 1);
  const dup = [...counts].filter(([, n]) => n > 1).length;
  const missing = want.filter((w) => !counts.has(w)).length;
  assert.equal(dup, 0, `${what}: ${dup} records delivered twice`);
  assert.equal(missing, 0, `${what}: ${missing} records lost`);
  assert.equal(got.length, want.length, `${what}: unexpected records`);
}

function delivery(name) {
  return `  - name: ${name}
    stream: ${name}
    buffer: {size: 1MiB, interval: 100ms}
    record_delimiter: "\\n"
    sink: {type: file, path: ./out/${name}}
`;
}

// The port a syslog source bound (its listen address says port 0).
async function boundPort(child, flow) {
  return Number(await waitFor(`source ${flow} to listen`, () => {
    const m = new RegExp(`msg="source started" flow=${flow} .* port=(\\d+)`).exec(
      child.logSinceStart());
    return m ? m[1] : null;
  }, 10000, 25));
}

test('stdin, exec and syslog sources deliver every record exactly once', async () => {
  const dir = work;
  const streams = ['stdin', 'exec', 'udp', 'tcp'];
  const child = startWithStdin(dir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
streams:
${streams.map((s) => `  - {name: ${s}, shards: 2}\n`).join('')}sources:
  - {name: stdin, type: stdin, stream: stdin}
  - name: exec
    type: exec
    stream: exec
    restart_delay: 50ms
    # each run prints 500 lines tagged with its number, then exits
    command: [sh, -c, 'n=$(($(cat runs 2>/dev/null || echo 0) + 1)); echo $n > runs; i=0; while [ $i -lt 500 ]; do echo "run$n-$i"; i=$((i + 1)); done; echo "run $n done" >&2']
  - {name: udp, type: syslog, stream: udp, listen: "udp://127.0.0.1:0", format: auto}
  - {name: tcp, type: syslog, stream: tcp, listen: "tcp://127.0.0.1:0", format: rfc5424}
deliveries:
${streams.map(delivery).join('')}`);
  try {
    await adminOf(child);
    const tcpPort = await boundPort(child, 'tcp');
    const udpPort = await boundPort(child, 'udp');

    // stdin: 20,000 lines, then its end; the daemon runs on.
    const stdinWant = [];
    for (let i = 0; i < 20000; i++) stdinWant.push(`stdin line ${i} ${'x'.repeat(i % 50)}`);
    child.stdin.end(stdinWant.join('\n') + '\n');

    // TCP: 10,000 RFC 5424 messages over 4 connections, octet-counted and newline-framed
    // alternately, written in chunks that split messages anywhere.
    const tcpWant = [];
    await Promise.all([0, 1, 2, 3].map((c) => new Promise((resolve, reject) => {
      let text = '';
      for (let i = c; i < 10000; i += 4) {
        const msg = `<165>1 2024-01-02T03:04:05Z host${c} app ${i} ID - tcp message ${i}`;
        tcpWant.push(`tcp message ${i}`);
        text += i % 8 < 4 ? `${Buffer.byteLength(msg)} ${msg}` : `${msg}\n`;
      }
      const sock = connect(tcpPort, '127.0.0.1', () => {
        const buf = Buffer.from(text);
        for (let off = 0; off < buf.length; off += 1000 + c * 7) {
          sock.write(buf.subarray(off, Math.min(buf.length, off + 1000 + c * 7)));
        }
        sock.end(resolve);
      });
      sock.on('error', reject);
    })));

    // UDP: 2,000 RFC 3164 datagrams, paced (batches of 20, each sent once the previous is).
    const udpWant = [];
    const udp = createSocket('udp4');
    for (let i = 0; i < 2000; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, k) => new Promise((resolve, reject) => {
        const n = i + k;
        udpWant.push(`udp message ${n}`);
        udp.send(`<13>Oct 11 22:14:15 host app[${n}]: udp message ${n}`, udpPort, '127.0.0.1',
          (err) => (err ? reject(err) : resolve()));
      })));
      await new Promise((r) => setImmediate(r));
    }
    udp.close();

    await untilDelivered(child, 'stdin', stdinWant.length);
    await untilDelivered(child, 'tcp', tcpWant.length);
    await untilDelivered(child, 'udp', udpWant.length);
    // exec: at least 3 runs delivered (so it was restarted twice).
    await waitFor('3 exec runs', () => delivered(join(dir, 'out/exec'))
      .some((l) => l.startsWith('run3-')), 60000, 100);
    await stop(child, 'SIGTERM');
    assert.equal(child.exitCode, 0, child.logText());

    assertExact(delivered(join(dir, 'out/stdin')), stdinWant, 'stdin');
    const parsed = (name) => delivered(join(dir, `out/${name}`)).map((l) => JSON.parse(l));
    const tcp = parsed('tcp');
    assertExact(tcp.map((r) => r.message), tcpWant, 'tcp');
    assert.deepEqual(tcp.find((r) => r.message === 'tcp message 5'),
      { pri: 165, facility: 20, severity: 5, time: '2024-01-02T03:04:05Z', host: 'host1',
        ident: 'app', pid: '5', msgid: 'ID', message: 'tcp message 5' });
    const udpGot = parsed('udp');
    assertExact(udpGot.map((r) => r.message), udpWant, 'udp');
    assert.equal(udpGot.find((r) => r.message === 'udp message 7').pid, '7');

    // exec: every run that ended before the stop, complete; the last one may be cut by the stop.
    const runs = new Map();
    for (const l of delivered(join(dir, 'out/exec'))) {
      const run = Number(/^run(\d+)-/.exec(l)[1]);
      if (!runs.has(run)) runs.set(run, []);
      runs.get(run).push(l);
    }
    const last = Math.max(...runs.keys());
    assert.ok(last >= 3, `only ${last} runs`);
    for (let r = 1; r < last; r++) {
      assertExact(runs.get(r) || [], Array.from({ length: 500 }, (_, i) => `run${r}-${i}`),
        `exec run ${r}`);
    }
    const log = child.logSinceStart();
    assert.match(log, /msg="stdin ended; what it held is put and synced" flow=stdin/);
    assert.match(log, /msg="command stderr" flow=exec line="run 1 done"/);
  } finally {
    await stop(child);
  }
});
