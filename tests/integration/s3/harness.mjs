// Drives a sink plugin through tests/integration/s3/sink_driver (the real plugin host).
import { spawn } from 'node:child_process';
import readline from 'node:readline';

export function driverPath() {
  const p = process.env.SINK_DRIVER;
  if (!p) throw new Error('SINK_DRIVER is not set (run through ctest)');
  return p;
}

export async function startDriver(type, opts, env = {}) {
  const args = ['--plugins', process.env.SLUICE_PLUGIN_DIR, '--type', type];
  for (const [k, v] of Object.entries(opts)) args.push('--opt', `${k}=${v}`);
  const child = spawn(driverPath(), args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (l) => { const w = waiting.shift(); if (w) w(JSON.parse(l)); });
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  const next = () => new Promise((resolve, reject) => {
    waiting.push(resolve);
    exited.then((code) => reject(new Error(`sink_driver exited ${code}: ${stderr}`)));
  });
  const ready = await next();
  if (!ready.ready) throw new Error('driver not ready');
  return {
    stderr: () => stderr,
    send(cmd) { const p = next(); child.stdin.write(JSON.stringify(cmd) + '\n'); return p; },
    async close() { child.stdin.end(); await exited; },
  };
}
