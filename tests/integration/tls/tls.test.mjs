// TLS on the daemon's listeners, through real clients: the AWS SDK for JavaScript v3 over
// https with its default HTTP/2 handler (ALPN h2) and with HTTP/1.1, a client that does not trust
// the certificate refused, plaintext refused, mutual TLS on the admin endpoint (the CLI presenting
// a client certificate), certificates read again on SIGHUP with open sessions kept, and
// `sluice check` refusing a public API address without TLS; the admin endpoint's bearer token
// (admin.auth) on a loopback listener. Run by run.sh, which makes the PKI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import http2 from 'node:http2';
import { request as httpRequest } from 'node:http';
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

test('admin.auth: /api and /reload need the bearer token; the status page and the CLI work', async () => {
  const adir = join(work, 'token-daemon');
  mkdirSync(adir, { recursive: true });
  const token = 'a'.repeat(8) + Math.random().toString(36).slice(2).padEnd(24, 'z');
  const token2 = 'b'.repeat(8) + Math.random().toString(36).slice(2).padEnd(24, 'y');
  writeFileSync(join(adir, 'admin.token'), token + '\n', { mode: 0o600 });
  const port = await freePort();
  const d = startDaemon(adir, `
data_dir: ./data
admin:
  listen: 127.0.0.1:${port}
  auth: {token_file: ./admin.token}
  socket: ./admin.sock
streams:
  - {name: tok-in, shards: 1}
`);
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor('the admin endpoint', async () => {
      if (d.exitCode !== null) throw new Error('daemon exited: ' + d.logText());
      return fetch(`${base}/health`).then((r) => r.ok, () => false);
    }, 20000, 100);
    const api = (headers) => fetch(`${base}/api`, { method: 'POST', body: '{}',
      headers: { 'x-amz-target': 'Kinesis_20131202.ListStreams', 'content-type': 'application/x-amz-json-1.1',
        ...headers } });
    // Read-only pages stay open on loopback (a browser shows the status page).
    assert.equal((await fetch(`${base}/status`)).status, 200);
    assert.equal((await fetch(`${base}/`)).status, 200);
    let r = await api({});
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="sluice admin"');
    assert.match(await r.text(), /needs Authorization: Bearer/);
    r = await api({ authorization: 'Bearer ' + token.slice(0, -1) + 'Q' });
    assert.equal(r.status, 401);
    assert.match(await r.text(), /not the one in admin\.auth\.token_file/);
    r = await api({ authorization: 'Bearer ' + token });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(await r.text()).StreamNames, ['tok-in']);
    r = await fetch(`${base}/reload`, { method: 'POST', headers: { 'x-sluice-admin': '1' } });
    assert.equal(r.status, 401);
    r = await fetch(`${base}/reload`, { method: 'POST', headers: { authorization: 'Bearer ' + token } });
    assert.equal(r.status, 200, await r.text());
    // A page rebound to 127.0.0.1 still gets nothing, even for read-only paths.
    const rebound = await new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/status', headers: { host: 'evil.example' } },
        (res) => { res.resume(); resolve(res.statusCode); });
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound, 403);

    // The CLI: the token from -c FILE; without it, refused with the endpoint's reason.
    const cli = await run(process.env.SLUICE_BIN, ['streams', 'list', '-c', join(adir, 'sluice.yaml')],
      { cwd: adir });
    assert.match(cli.stdout, /tok-in/);
    const bare = await run(process.env.SLUICE_BIN, ['streams', 'list', '--admin', `127.0.0.1:${port}`])
      .then(() => null, (e) => e);
    assert.ok(bare, 'the CLI without the token must fail');
    assert.match(bare.stderr, /Authorization: Bearer/);
    const withFile = await run(process.env.SLUICE_BIN, ['streams', 'list', '--admin', `127.0.0.1:${port}`,
      '--token-file', join(adir, 'admin.token')]);
    assert.match(withFile.stdout, /tok-in/);

    // The token rotated in place: a reload makes the new one the only one accepted.
    writeFileSync(join(adir, 'admin.token'), token2 + '\n', { mode: 0o600 });
    r = await fetch(`${base}/reload`, { method: 'POST', headers: { authorization: 'Bearer ' + token } });
    assert.equal(r.status, 200, await r.text());
    r = await api({ authorization: 'Bearer ' + token });
    assert.equal(r.status, 401, 'the old token must be refused after the reload');
    r = await api({ authorization: 'Bearer ' + token2 });
    assert.equal(r.status, 200);
    writeFileSync(join(adir, 'admin.token'), token + '\n', { mode: 0o600 });
    r = await fetch(`${base}/reload`, { method: 'POST', headers: { authorization: 'Bearer ' + token2 } });
    assert.equal(r.status, 200, await r.text());
    r = await api({ authorization: 'Bearer ' + token });
    assert.equal(r.status, 200);

    // admin.socket: owner-only; its peers (this user) need no token, for /api and /reload alike.
    const sock = join(adir, 'admin.sock');
    const st = statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    const overSocket = (path, headers) => new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath: sock, path, method: 'POST', headers }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', reject);
      req.end('{}');
    });
    let s = await overSocket('/api', { 'x-amz-target': 'Kinesis_20131202.ListStreams',
      'content-type': 'application/x-amz-json-1.1' });
    assert.equal(s.status, 200, s.body);
    assert.deepEqual(JSON.parse(s.body).StreamNames, ['tok-in']);
    s = await overSocket('/reload', {});
    assert.equal(s.status, 200, s.body);
    const viaSocket = await run(process.env.SLUICE_BIN, ['streams', 'list', '--admin', `unix:${sock}`]);
    assert.match(viaSocket.stdout, /tok-in/);
    // The CLI with -c uses the socket named there (the token file aside, it still gets in).
    const noToken = join(adir, 'socket-only.yaml');
    writeFileSync(noToken, `data_dir: ./data\nadmin:\n  listen: 127.0.0.1:${port}\n  socket: ./admin.sock\n`,
      { mode: 0o600 });
    const fromConfig = await run(process.env.SLUICE_BIN, ['streams', 'list', '-c', noToken], { cwd: adir });
    assert.match(fromConfig.stdout, /tok-in/);
    // Another user cannot even connect (the file is owner-only; the daemon checks the peer too).
    if (process.getuid() === 0) {
      const other = await run('runuser', ['-u', 'nobody', '--', 'curl', '-sS', '--unix-socket', sock,
        'http://localhost/status']).then(() => null, (e) => e);
      assert.ok(other, 'user nobody must not reach the admin socket');
      assert.match(other.stderr, /Permission denied|Couldn't connect/);
    }
  } finally {
    await stop(d, 'SIGTERM');
  }
  assert.ok(!d.logSinceStart().includes(token), 'the token must never be logged');
  assert.ok(!d.logSinceStart().includes(token2), 'the token must never be logged');
});

test('sluice check: a public admin address needs auth, and tls or allow_plaintext; weak tokens refused', async () => {
  const check = async (yaml) => {
    const file = join(work, `check-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml, { mode: 0o600 });
    return run(process.env.SLUICE_BIN, ['check', '-c', file]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }), (e) => ({ code: e.code, out: e.stdout + e.stderr }));
  };
  const good = join(work, 'good.token');
  writeFileSync(good, 'x'.repeat(40), { mode: 0o600 });
  const short = join(work, 'short.token');
  writeFileSync(short, 'tooshort', { mode: 0o600 });
  const open = join(work, 'open.token');
  writeFileSync(open, 'y'.repeat(40), { mode: 0o644 });
  const tls = `  tls: {cert_file: ${cert('server.pem')}, key_file: ${cert('server.key')}}\n`;
  let r = await check('data_dir: ./d\nadmin:\n  listen: 0.0.0.0:4195\n');
  assert.notEqual(r.code, 0);
  assert.match(r.out, /give auth \(token_file\) to listen on other interfaces/);
  r = await check(`data_dir: ./d\nadmin:\n  listen: 0.0.0.0:4195\n  auth: {token_file: ${good}}\n`);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /give tls \(cert_file, key_file\) so that the token does not cross the network/);
  r = await check(`data_dir: ./d\nadmin:\n  listen: 0.0.0.0:4195\n  auth: {token_file: ${good}}\n` + tls);
  assert.equal(r.code, 0, r.out);
  r = await check(`data_dir: ./d\nadmin:\n  auth: {token_file: ${short}}\n`);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /shorter than 16 characters/);
  r = await check(`data_dir: ./d\nadmin:\n  auth: {token_file: ${open}}\n`);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /open\.token/);
  assert.ok(!r.out.includes('y'.repeat(40)), 'the token must not be printed');
});
