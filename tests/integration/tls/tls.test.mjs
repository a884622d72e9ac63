// TLS on the daemon's listeners, through real clients: the AWS SDK for JavaScript v3 over
// https with its default HTTP/2 handler (ALPN h2) and with HTTP/1.1, a client that does not trust
// the certificate refused, plaintext refused, mutual TLS on the admin endpoint (the CLI presenting
// a client certificate), certificates read again on SIGHUP with open sessions kept, and
// `sluice check` refusing a public API address without TLS. Run by run.sh, which makes the PKI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import http2 from 'node:http2';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startDaemon, stop, waitFor } from '../daemons.mjs';
import { sdk, CREDENTIALS, streamAnswers, failure } from '../kinesis/harness.mjs';

const smithy = await import('@smithy/node-http-handler');
const run = promisify(execFile);
const certs = process.env.SLUICE_TLS_CERTS;
const work = process.env.SLUICE_TLS_WORK;
if (!certs || !work) throw new Error('run through run.sh (SLUICE_TLS_CERTS, SLUICE_TLS_WORK)');
const cert = (name) => join(certs, name);

let daemon;
let apiPort;
let adminPort;
const dir = join(work, 'daemon');
const live = join(dir, 'live');  // the API's certificate files, replaced by the reload test

before(async () => {
  mkdirSync(live, { recursive: true });
  copyFileSync(cert('server.pem'), join(live, 'cert.pem'));
  copyFileSync(cert('server.key'), join(live, 'key.pem'));
  apiPort = await freePort();
  adminPort = await freePort();
  daemon = startDaemon(dir, `
data_dir: ./data
admin:
  listen: 127.0.0.1:${adminPort}
  tls: {cert_file: ${cert('server.pem')}, key_file: ${cert('server.key')}, client_ca_file: ${cert('ca.pem')}}
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth: [{access_key_id: ${CREDENTIALS.accessKeyId}, secret_access_key: ${CREDENTIALS.secretAccessKey}}]
    tls: {cert_file: ${join(live, 'cert.pem')}, key_file: ${join(live, 'key.pem')}}
streams:
  - {name: tls-in, shards: 2}
`);
  const probe = new sdk.KinesisClient({ region: 'us-east-1', endpoint: `https://localhost:${apiPort}`,
    credentials: CREDENTIALS, maxAttempts: 1 });
  try {
    await streamAnswers(probe, daemon, 'tls-in');
  } finally {
    probe.destroy();
  }
});

after(async () => {
  if (daemon) await stop(daemon, 'SIGTERM');
});

// The subject of the certificate a fresh TLS connection to the API gets.
async function peerSubject(port) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: 'localhost', path: '/', method: 'GET',
      agent: false }, (res) => {
      resolve(res.socket.getPeerCertificate().subject.CN);
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
}

async function putAndCount(client, stream, n) {
  const records = Array.from({ length: n }, (_, i) => ({
    PartitionKey: `k${i}`, Data: new TextEncoder().encode(`line ${i}`),
  }));
  const put = await client.send(new sdk.PutRecordsCommand({ StreamName: stream, Records: records }));
  assert.equal(put.FailedRecordCount, 0);
  return put.Records.length;
}

test('the AWS SDK over https: HTTP/2 (ALPN h2) and HTTP/1.1, every record read back', async () => {
  const endpoint = `https://localhost:${apiPort}`;
  const base = { region: 'us-east-1', endpoint, credentials: CREDENTIALS, maxAttempts: 1 };
  const h2 = new sdk.KinesisClient(base);  // the SDK's default handler: HTTP/2
  const h1 = new sdk.KinesisClient({ ...base,
    requestHandler: new smithy.NodeHttpHandler({ httpsAgent: new HttpsAgent({ keepAlive: true }) }) });
  try {
    let put = 0;
    for (let i = 0; i < 5; i++) put += await putAndCount(i % 2 ? h1 : h2, 'tls-in', 100);
    assert.equal(put, 500);
    const shards = (await h2.send(new sdk.ListShardsCommand({ StreamName: 'tls-in' }))).Shards;
    let read = 0;
    for (const s of shards) {
      let it = (await h1.send(new sdk.GetShardIteratorCommand({ StreamName: 'tls-in', ShardId: s.ShardId,
        ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
      for (;;) {
        const r = await h2.send(new sdk.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
        read += r.Records.length;
        if (r.Records.length === 0) break;
        it = r.NextShardIterator;
      }
    }
    assert.equal(read, 500);
  } finally {
    h1.destroy();
    h2.destroy();
  }
  // ALPN chose h2 for a client offering it (what the SDK's handler does).
  const session = http2.connect(`https://localhost:${apiPort}`);
  try {
    await new Promise((resolve, reject) => { session.once('connect', resolve); session.once('error', reject); });
    assert.equal(session.alpnProtocol, 'h2');
  } finally {
    session.close();
  }
});

test('a client that does not trust the certificate, plaintext and a wrong name are refused', async () => {
  const get = (opts) => new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port: apiPort, path: '/', agent: false, ...opts },
      (res) => { res.resume(); resolve('answered'); });
    req.on('error', (e) => resolve(e.code || e.message));
    req.end();
  });
  assert.equal(await get({ ca: readFileSync(cert('rogue-ca.pem')), servername: 'localhost' }),
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  assert.equal(await get({ servername: 'example.com' }),
    'ERR_TLS_CERT_ALTNAME_INVALID');
  // http:// to the TLS port: no HTTP answer.
  const plain = await fetch(`http://127.0.0.1:${apiPort}/`, { method: 'POST', body: '{}',
    signal: AbortSignal.timeout(10000) }).then(() => 'answered', (e) => e.cause?.code || e.name);
  assert.notEqual(plain, 'answered');
  const sdkPlain = new sdk.KinesisClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${apiPort}`,
    credentials: CREDENTIALS, maxAttempts: 1,
    requestHandler: new smithy.NodeHttpHandler({ requestTimeout: 5000 }) });
  try {
    await failure(() => sdkPlain.send(new sdk.ListStreamsCommand({})));
  } finally {
    sdkPlain.destroy();
  }
});

test('the admin endpoint with mutual TLS: refused without a client certificate, the CLI with one', async () => {
  const get = (opts) => new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port: adminPort, path: '/health', servername: 'localhost',
      agent: false, ...opts }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', (e) => resolve(e.code || e.message));
    req.end();
  });
  const none = await get({});
  assert.ok(!none.startsWith('200'), none);
  const rogue = await get({ cert: readFileSync(cert('rogue-client.pem')), key: readFileSync(cert('rogue-client.key')) });
  assert.ok(!rogue.startsWith('200'), rogue);
  const good = await get({ cert: readFileSync(cert('client.pem')), key: readFileSync(cert('client.key')) });
  assert.match(good, /^200 \{"status":"ok"/);

  // The CLI: https from the config's admin.tls, the daemon's own certificate trusted, a client
  // certificate presented.
  const cli = await run(process.env.SLUICE_BIN, ['streams', 'list', '-c', join(dir, 'sluice.yaml'),
    '--cert', cert('client.pem'), '--key', cert('client.key')], { cwd: dir });
  assert.match(cli.stdout, /tls-in/);
  const refused = await run(process.env.SLUICE_BIN, ['streams', 'list', '-c', join(dir, 'sluice.yaml')],
    { cwd: dir }).then(() => null, (e) => e);
  assert.ok(refused, 'the CLI without a client certificate must fail');
  assert.match(refused.stderr, /cannot reach the sluice admin endpoint at https:\/\/127\.0\.0\.1/);
});

test('SIGHUP reads the certificate again; a session opened before keeps working', async () => {
  assert.equal(await peerSubject(apiPort), 'sluice test server');
  const session = http2.connect(`https://localhost:${apiPort}`);
  await new Promise((resolve, reject) => { session.once('connect', resolve); session.once('error', reject); });
  try {
    copyFileSync(cert('server2.pem'), join(live, 'cert.pem'));
    copyFileSync(cert('server2.key'), join(live, 'key.pem'));
    daemon.kill('SIGHUP');
    await waitFor('the new certificate', async () => (await peerSubject(apiPort)) === 'sluice test server 2',
      20000, 100);
    assert.match(daemon.logSinceStart(), /reload: certificate read again.*listener=broker\.api\.tls/);
    // The old session, still on the first certificate, is served.
    const status = await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/', 'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Kinesis_20131202.ListStreams' });
      req.on('response', (h) => resolve(h[':status']));
      req.on('error', reject);
      req.end('{}');
    });
    // Unsigned: the API answers (400, MissingAuthenticationToken) over the kept connection.
    assert.equal(status, 400);
  } finally {
    session.close();
  }
});

test('sluice check: a public API address needs tls or allow_plaintext', async () => {
  const check = async (yaml) => {
    const file = join(work, `check-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml, { mode: 0o600 });
    return run(process.env.SLUICE_BIN, ['check', '-c', file]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }), (e) => ({ code: e.code, out: e.stdout + e.stderr }));
  };
  const api = `data_dir: ./d\nbroker:\n  api:\n    listen: 0.0.0.0:4567\n    auth: [{access_key_id: AK, secret_access_key_env: HOME}]\n`;
  let r = await check(api);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /is not a loopback address; give tls \(cert_file, key_file\)/);
  r = await check(api + `    tls: {cert_file: ${cert('server.pem')}, key_file: ${cert('server.key')}}\n`);
  assert.equal(r.code, 0, r.out);
  r = await check(api + '    allow_plaintext: true\n');
  assert.equal(r.code, 0, r.out);
  r = await check(api + `    tls: {cert_file: ${cert('server.pem')}, key_file: ${cert('client.key')}}\n`);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /broker\.api\.tls: the key in .*client\.key does not match the certificate/);
});
