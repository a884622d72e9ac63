// Shared by the node tests and benchmarks that run the built daemon (`sluice run`, the binary in
// SLUICE_BIN or given): starting daemons in their own directories with a config, free loopback
// ports, waiting for a condition, reading a daemon's /status, and the files it wrote. Every
// daemon started here is killed when the process exits.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, openSync, readdirSync, statSync } from 'node:fs';
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
// appended to <dir>/<log>. The child has logText(): the log's last 3,000 characters.
export function startDaemon(dir, yaml, { log = 'daemon.log', bin = process.env.SLUICE_BIN } = {}) {
  if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'sluice.yaml'), yaml, { mode: 0o600 });
  const fd = openSync(join(dir, log), 'a');
  const child = spawn(bin, ['run', '-c', 'sluice.yaml'], { cwd: dir, stdio: ['ignore', fd, fd] });
  started.push(child);
  child.logText = () => readFileSync(join(dir, log), 'utf8').slice(-3000);
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

// The daemon's admin address once its log says it started ("127.0.0.1:port"), else null.
export function adminAddress(child) {
  const m = /msg="sluice started".* admin=(127\.0\.0\.1:\d+)/.exec(child.logText());
  return m ? m[1] : null;
}

// The daemon's /status document, or null before it answers.
export async function status(child) {
  const admin = adminAddress(child);
  if (!admin) return null;
  try {
    return await (await fetch(`http://${admin}/status`)).json();
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
