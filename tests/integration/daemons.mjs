// Shared by the node tests and benchmarks that run the built daemon (`sluice run`, the binary in
// SLUICE_BIN or given): starting daemons in their own directories with a config, free loopback
// ports, waiting for a condition, reading a daemon's /status and logs, the files it wrote and its
// CPU and memory use, and killing it repeatedly while it delivers. Every daemon started here is
// killed when the process exits.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, openSync, readdirSync, statSync, fstatSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const started = [];
process.on('exit', () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

// A loopback port free now (for a listener the daemon must be told in advance).
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Writes `yaml` to <dir>/sluice.yaml (owner-only) and runs `sluice run` there, its output
// appended to <dir>/<log>. The child has logText(): the log's last 3,000 characters, and
// logSinceStart(): all this run wrote to it (the log may hold earlier runs).
export function startDaemon(dir, yaml, { log = 'daemon.log', bin = process.env.SLUICE_BIN } = {}) {
  if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'sluice.yaml'), yaml, { mode: 0o600 });
  const fd = openSync(join(dir, log), 'a');
  const startOffset = fstatSync(fd).size;
  const child = spawn(bin, ['run', '-c', 'sluice.yaml'], { cwd: dir, stdio: ['ignore', fd, fd] });
  started.push(child);
  child.logText = () => readFileSync(join(dir, log), 'utf8').slice(-3000);
  child.logSinceStart = () => readFileSync(join(dir, log)).subarray(startOffset).toString('utf8');
  return child;
}

// Kills every daemon started here that still runs.
export function killAll() {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

// Kills `child` with SIGKILL (or stops it with `signal`) and waits for its exit.
export async function stop(child, signal = 'SIGKILL') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

// Polls `pred` until it returns a truthy value (returned), failing after `ms`.
export async function waitFor(what, pred, ms = 60000, every = 300) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// The daemon's admin address once its log says it started ("127.0.0.1:port"), else null. Found
// in all this run logged (a chatty log soon pushes the line out of logText()), then kept.
export function adminAddress(child) {
  if (child.adminAddress) return child.adminAddress;
  const text = child.logSinceStart ? child.logSinceStart() : child.logText();
  const m = /msg="sluice started".* admin=(127\.0\.0\.1:\d+)/.exec(text);
  if (m) child.adminAddress = m[1];
  return m ? m[1] : null;
}

// Waits for the daemon's admin address (returned), failing at once if it exits.
export async function adminOf(child) {
  return waitFor('the daemon to start', () => {
    if (child.exitCode !== null) throw new Error('daemon exited: ' + child.logText());
    return adminAddress(child);
  }, 10000, 25);
}

// The daemon's /status document, or null before it answers.
export async function status(child) {
  const admin = adminAddress(child);
  if (!admin) return null;
  try {
    return await (await fetch(`http://${admin}/status`, { signal: AbortSignal.timeout(5000) }))
      .json();
  } catch {
    return null;
  }
}

// Every file under `dir` (recursively; dot files left out); [] when it does not exist.
export function filesUnder(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(filesUnder(p));
    else out.push(p);
  }
  return out;
}

// The records a daemon's delivery `name` has delivered (its /status), or -1 before it answers.
export async function deliveredBy(child, name) {
  const st = await status(child);
  return st ? st.deliveries.find((d) => d.name === name).records_delivered : -1;
}

// Polls the daemon's /status every 20 ms until its delivery `name` has delivered `records`,
// failing as soon as it spilled any.
export async function untilDelivered(child, name, records) {
  let delivered = 0;
  while (delivered < records) {
    await new Promise((r) => setTimeout(r, 20));
    const st = await status(child);
    if (!st) continue;
    const d = st.deliveries.find((x) => x.name === name);
    delivered = d.records_delivered;
    if (d.records_spilled > 0) throw new Error(`${d.records_spilled} records spilled`);
  }
}

// Starts the daemon in `dir` with `yaml` `kills` times (logs daemon-<k>.log) and kills each run
// with SIGKILL once its delivery `delivery` has delivered 1,000 records, after `beforeKill()`
// when given. Fails at once when a run ends by itself or `alive()` throws (another daemon the
// runs need exited), and when a run makes no such progress in 30 s.
export async function killWhileDelivering(dir, yaml, { kills, delivery, alive = () => {}, beforeKill }) {
  for (let k = 0; k < kills; k++) {
    const child = startDaemon(dir, yaml, { log: `daemon-${k}.log` });
    const deadline = Date.now() + 30000;
    while ((await deliveredBy(child, delivery)) < 1000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`run ${k} ended: ` + child.logText());
      }
      alive();
      if (Date.now() >= deadline) throw new Error('no progress: ' + child.logText());
      await new Promise((r) => setTimeout(r, 2));
    }
    if (beforeKill) await beforeKill();
    await stop(child);
  }
}

// The records of the journaled batches the daemons in `dir` replayed at their starts (their logs).
export function replayed(dir) {
  let n = 0;
  for (const f of readdirSync(dir).filter((name) => name.endsWith('.log'))) {
    const log = readFileSync(join(dir, f), 'utf8');
    for (const m of log.matchAll(/msg="replaying a journaled batch".* records=(\d+)/g)) n += Number(m[1]);
  }
  return n;
}

// utime + stime of a process, in seconds; its peak RSS in MiB (from /proc).
export function usage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpu: ticks / 100, peakMiB: Number(hwm[1]) / 1024 };
}

// The lines with message `msg` of the log files `paths`, each as {field: value} (logfmt: quoted
// values unquoted, escapes kept).
export function loggedLines(paths, msg) {
  const out = [];
  for (const path of paths) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.includes(`msg="${msg}"`)) continue;
      const fields = {};
      for (const f of line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
        fields[f[1]] = f[2].startsWith('"') ? f[2].slice(1, -1) : f[2];
      }
      out.push(fields);
    }
  }
  return out;
}
