// Shared by the Kinesis API integration tests: starts kinesis_api_testserver (path in
// KINESIS_API_TESTSERVER), builds SDK clients over HTTP/2 (the SDK's default handler) and
// HTTP/1.1 (NodeHttpHandler), and waits for a daemon's Kinesis API to answer.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent } from 'node:http';
import { freePort, startDaemon, waitFor } from '../daemons.mjs';

let sdk;
let smithy;
try {
  sdk = await import('@aws-sdk/client-kinesis');
  smithy = await import('@smithy/node-http-handler');
} catch (e) {
  throw new Error('npm test peers are missing: run `npm ci` in tests/ (' + e.message + ')');
}
export { sdk };

export const CREDENTIALS = { accessKeyId: 'AKIDSLUICETEST', secretAccessKey: 'sluice-test-secret' };

// Puts run on 2 worker threads (broker.api.workers: 2), so every SDK test covers that path; the
// daemon tests cover the default (on the loop).
export async function startServer(args = []) {
  const bin = process.env.KINESIS_API_TESTSERVER;
  if (!bin) throw new Error('KINESIS_API_TESTSERVER must name the kinesis_api_testserver binary');
  const child = spawn(bin, ['--workers', '2', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`test server exited with ${code}`)));
    lines.once('line', (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`unexpected test server output: ${line}`));
    });
  });
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    // Stops the server; it must close every handle and exit 0 (uv_loop_close succeeded).
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      child.kill('SIGTERM');
      const { code, signal } = await exited;
      if (code !== 0) throw new Error(`test server exited with ${code} (${signal}) on SIGTERM`);
      return code;
    },
  };
}

// Both transports, so every test runs over each.
export function clients(endpoint, credentials = CREDENTIALS) {
  const base = { region: 'us-east-1', endpoint, credentials, maxAttempts: 1 };
  return {
    h2: new sdk.KinesisClient(base),
    h1: new sdk.KinesisClient({
      ...base,
      requestHandler: new smithy.NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true }) }),
    }),
  };
}

export function destroyAll(map) {
  for (const c of Object.values(map)) c.destroy();
}

// Waits until the Kinesis API of the daemon `child` describes `stream` through `client`, failing
// at once if the daemon exits.
export async function streamAnswers(client, child, stream) {
  return waitFor(`the daemon's Kinesis API (${stream})`, async () => {
    if (child.exitCode !== null) throw new Error('the daemon exited: ' + child.logText());
    try {
      await client.send(new sdk.DescribeStreamSummaryCommand({ StreamName: stream }));
      return true;
    } catch {
      return false;
    }
  });
}

// Runs `fn` and returns the error it throws (failing if it does not).
export async function failure(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

export function unique(prefix) {
  return `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
}

// A central sluice daemon in `dir` serving `stream` (`shards` shards) through its Kinesis API, SigV4
// with `credentials`, on a port of its own, with the plugins of `plugins`: {central, endpoint,
// client}, `client` an SDK client (HTTP/1.1) once the API answers.
export async function startCentral(dir, stream, shards, { credentials, plugins }) {
  const apiPort = await freePort();
  const central = startDaemon(dir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth:
      - access_key_id: ${credentials.accessKeyId}
        secret_access_key: ${credentials.secretAccessKey}
streams:
  - name: ${stream}
    shards: ${shards}
`);
  const endpoint = `http://127.0.0.1:${apiPort}`;
  const client = clients(endpoint, credentials).h1;
  await streamAnswers(client, central, stream);
  return { central, endpoint, client };
}
