// A delivery stream created through the Firehose API with a real destination: the AWS SDK for
// JavaScript v3 Firehose client creates a Direct PUT stream with an
// ExtendedS3DestinationConfiguration pointing at s3rver (behind the SigV4 verifier of
// tests/integration/s3), puts records, and every record is counted exactly once in the objects
// under the prefix. The delivery stream survives a daemon restart and keeps delivering;
// DescribeDeliveryStream shows the destination; UpdateDestination changes the prefix. The S3
// endpoint and credentials come from the `firehose_api: {s3: ...}` defaults. HttpEndpoint and
// Splunk and Amazonopensearchservice destinations deliver to receivers on loopback that speak
// those protocols. Server-side encryption (the daemon has a keyring made with `sluice keygen`):
// records put after StartDeliveryStreamEncryption, or into a stream created encrypted, are in no
// file under data_dir, across a restart, and are still delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { startS3, listKeys, ACCESS_KEY, SECRET_KEY } from '../s3/s3_peer.mjs';

let sdk;
try {
  sdk = await import('@aws-sdk/client-firehose');
} catch (e) {
  throw new Error('npm test peers are missing: run `npm ci` in tests/ (' + e.message + ')');
}

const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');
const NAME = 'lake-feed';
const BUCKET = 'lake';

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let peer, work, daemon, exited, client, port;

function logTail() {
  try {
    return fs.readFileSync(path.join(work, 'daemon.log'), 'utf8').slice(-3000);
  } catch {
    return '';
  }
}

async function startDaemon() {
  const log = fs.openSync(path.join(work, 'daemon.log'), 'a');
  daemon = spawn(bin, ['run', '-c', 'sluice.yaml'], { cwd: work, stdio: ['ignore', log, log] });
  exited = new Promise((resolve) => daemon.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30000;
  const before = logTail().split('sluice started').length;
  while (logTail().split('sluice started').length === before) {
    assert.equal(daemon.exitCode, null, 'the daemon exited:\n' + logTail());
    assert.ok(Date.now() < deadline, 'the daemon did not start:\n' + logTail());
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopDaemon() {
  daemon.kill('SIGTERM');
  assert.equal(await exited, 0, 'daemon exits 0 on SIGTERM\n' + logTail());
}

// An OpenSearch cluster's _bulk API: counts the documents by seq, each item answered 201.
const search = { counts: new Map(), indices: new Set() };
const searchServer = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.method !== 'POST' || !req.url.startsWith('/_bulk')) {
      return res.end(JSON.stringify({ status: 'green' }));
    }
    const lines = Buffer.concat(chunks).toString().split('\n').filter((l) => l);
    const items = [];
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const action = JSON.parse(lines[i]);
      const op = Object.keys(action)[0];
      search.indices.add(action[op]._index);
      const n = JSON.parse(lines[i + 1]).seq;
      search.counts.set(n, (search.counts.get(n) || 0) + 1);
      items.push({ [op]: { status: 201 } });
    }
    res.end(JSON.stringify({ errors: false, items }));
  });
});

before(async () => {
  await new Promise((r) => searchServer.listen(0, '127.0.0.1', r));
  // A default written with ${VAR}: expanded when the config loads, then used as it is.
  process.env.OPENSEARCH_PORT = String(searchServer.address().port);
  peer = await startS3([BUCKET]);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-firehose-dest-'));
  port = await freePort();
  const plugins = path.join(path.dirname(bin), 'plugins');
  const keyring = path.join(work, 'keyring');
  fs.writeFileSync(keyring, execFileSync(bin, ['keygen', '--id', 'k1'], { encoding: 'utf8' }) +
    execFileSync(bin, ['keygen', '--id', 'k2'], { encoding: 'utf8' }), { mode: 0o600 });
  fs.chmodSync(keyring, 0o600);
  fs.writeFileSync(path.join(work, 'sluice.yaml'), `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
broker:
  encryption: {keyring: ./keyring}
  api:
    listen: 127.0.0.1:${port}
firehose_api:
  s3:
    endpoint: ${peer.endpoint}
    force_path_style: true
    access_key_id: ${ACCESS_KEY}
    secret_access_key: ${SECRET_KEY}
  splunk:
    indexer_ack: false
  opensearch:
    endpoint: http://127.0.0.1:\${OPENSEARCH_PORT}
deliveries:
  - name: configured
    direct_put: true
    buffer: {size: 2MiB, interval: 10s}
    compression: gzip
    sink:
      type: s3
      bucket: ${BUCKET}
      prefix: yaml/
      endpoint: ${peer.endpoint}
      force_path_style: true
      access_key_id: ${ACCESS_KEY}
      secret_access_key: ${SECRET_KEY}
`, { mode: 0o600 });
  await startDaemon();
  client = new sdk.FirehoseClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'AKIDSLUICETEST', secretAccessKey: 'sluice-test-secret' },
    maxAttempts: 1,
  });
});

after(async () => {
  client?.destroy();
  if (daemon && daemon.exitCode === null) await stopDaemon();
  await peer?.close();
  await new Promise((r) => searchServer.close(r));
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function failure(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

// Puts records `seq=<n>` for n in [from, to), each after `marker` when one is given; returns
// whether every answer said Encrypted.
async function putRange(from, to, name = NAME, marker = '') {
  let encrypted = true;
  for (let start = from; start < to; start += 500) {
    const Records = [];
    for (let n = start; n < Math.min(to, start + 500); ++n) Records.push({ Data: Buffer.from(`${marker}seq=${n}\n`) });
    const r = await client.send(new sdk.PutRecordBatchCommand({ DeliveryStreamName: name, Records }));
    assert.equal(r.FailedPutCount, 0);
    encrypted &&= r.Encrypted;
  }
  return encrypted;
}

// The files under `dir` whose bytes hold `needle`.
function filesHolding(dir, needle) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    if (fs.readFileSync(file).includes(needle)) out.push(file);
  }
  return out;
}

// seq -> times delivered, over the objects whose key starts with `prefix`; every key must match
// `shape`.
async function delivered(prefix, shape) {
  const counts = new Map();
  for (const k of await listKeys(peer.s3Endpoint, BUCKET)) {
    if (!k.startsWith(prefix)) continue;
    assert.match(k, shape);
    const obj = await peer.get(BUCKET, k);
    assert.equal(obj.status, 200, k);
    for (const m of zlib.gunzipSync(obj.body).toString().matchAll(/seq=(\d+)\n/g)) {
      const n = Number(m[1]);
      counts.set(n, (counts.get(n) || 0) + 1);
    }
  }
  return counts;
}

// Polls until `want` distinct records are under `prefix` (generous deadline), then checks that
// they are exactly [from, to), each once.
async function expectDelivered(prefix, shape, from, to) {
  const deadline = Date.now() + 60000;
  let counts = new Map();
  while (Date.now() < deadline) {
    assert.equal(daemon.exitCode, null, 'the daemon exited:\n' + logTail());
    counts = await delivered(prefix, shape);
    if (counts.size >= to - from) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(counts.size, to - from, `records under ${prefix}\n${logTail()}`);
  for (const [n, c] of counts) {
    assert.ok(n >= from && n < to, `unexpected seq ${n} under ${prefix}`);
    assert.equal(c, 1, `seq ${n} delivered ${c} times`);
  }
}

test('sluice check refuses a firehose_api key its sink does not have', () => {
  const plugins = path.join(path.dirname(bin), 'plugins');
  fs.writeFileSync(path.join(work, 'bad.yaml'), `data_dir: ./data
plugin_dirs: [${plugins}]
firehose_api:
  s3: {endpont: http://127.0.0.1:1}
`);
  const r = spawnSync(bin, ['check', '-c', 'bad.yaml'], { cwd: work, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr,
    /bad\.yaml:4:17: firehose_api\.s3\.endpont: unknown key 'endpont' for sink type s3 \(did you mean 'endpoint'\?\)/);
});

test('bad destinations are refused with the member named', async () => {
  let e = await failure(() => client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: 'bad', DeliveryStreamType: 'DirectPut',
    ExtendedS3DestinationConfiguration: { RoleARN: 'arn:aws:iam::000000000000:role/r', Prefix: 'x/' },
  })));
  assert.equal(e.name, 'ValidationException');
  assert.match(e.message, /extendedS3DestinationConfiguration\.bucketARN/);
  e = await failure(() => client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: 'bad', DeliveryStreamType: 'DirectPut',
    ExtendedS3DestinationConfiguration: {
      BucketARN: `arn:aws:s3:::${BUCKET}`, RoleARN: 'arn:aws:iam::000000000000:role/r',
      Prefix: '!{timestamp:yyyy',
    },
  })));
  assert.ok(e instanceof sdk.InvalidArgumentException, e.name);
  assert.match(e.message, /^Prefix \(sink\.prefix\): /, e.message);
  e = await failure(() => client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'bad' })));
  assert.ok(e instanceof sdk.ResourceNotFoundException, e.name);
});

test('request values are taken literally: no ${VAR} of the daemon\'s environment', async () => {
  await client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: 'literal', DeliveryStreamType: 'DirectPut',
    ExtendedS3DestinationConfiguration: {
      BucketARN: `arn:aws:s3:::${BUCKET}`, RoleARN: 'arn:aws:iam::000000000000:role/r',
      Prefix: 'env-${SLUICE_TEST_UNSET_VARIABLE}-$${HOME}/',
    },
  }));
  const d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'literal' })))
    .DeliveryStreamDescription;
  assert.equal(d.Destinations[0].ExtendedS3DestinationDescription.Prefix,
    'env-${SLUICE_TEST_UNSET_VARIABLE}-$${HOME}/');
  await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: 'literal' }));
});

test('a configured delivery stream is described from its YAML and is read-only', async () => {
  const d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'configured' })))
    .DeliveryStreamDescription;
  assert.equal(d.VersionId, '1');
  const s3 = d.Destinations[0].ExtendedS3DestinationDescription;
  assert.equal(s3.BucketARN, `arn:aws:s3:::${BUCKET}`);
  assert.equal(s3.Prefix, 'yaml/');
  assert.equal(s3.CompressionFormat, 'GZIP');
  assert.deepEqual(s3.BufferingHints, { SizeInMBs: 2, IntervalInSeconds: 10 });
  const e = await failure(() => client.send(new sdk.UpdateDestinationCommand({
    DeliveryStreamName: 'configured', CurrentDeliveryStreamVersionId: '1',
    DestinationId: 'destinationId-000000000001', ExtendedS3DestinationUpdate: { Prefix: 'x/' },
  })));
  assert.ok(e instanceof sdk.ResourceInUseException, e.name);
  await client.send(new sdk.TagDeliveryStreamCommand({
    DeliveryStreamName: 'configured', Tags: [{ Key: 'owner', Value: 'ops' }],
  }));
  await client.send(new sdk.StartDeliveryStreamEncryptionCommand({ DeliveryStreamName: 'configured' }));
  const after = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'configured' })))
    .DeliveryStreamDescription;
  assert.deepEqual(after.DeliveryStreamEncryptionConfiguration, { KeyType: 'AWS_OWNED_CMK', Status: 'ENABLED' });
  const tags = await client.send(new sdk.ListTagsForDeliveryStreamCommand({ DeliveryStreamName: 'configured' }));
  assert.deepEqual(tags.Tags, [{ Key: 'owner', Value: 'ops' }]);
});

test('an ExtendedS3 delivery stream delivers, survives a restart, and takes an update', { timeout: 240000 }, async () => {
  const created = await client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: NAME,
    DeliveryStreamType: 'DirectPut',
    ExtendedS3DestinationConfiguration: {
      BucketARN: `arn:aws:s3:::${BUCKET}`,
      RoleARN: 'arn:aws:iam::000000000000:role/firehose',
      Prefix: 'one/!{timestamp:yyyy}/',
      ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/',
      BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 0 },
      CompressionFormat: 'GZIP',
    },
    Tags: [{ Key: 'team', Value: 'logs' }],
  }));
  assert.equal(created.DeliveryStreamARN, `arn:aws:firehose:us-east-1:000000000000:deliverystream/${NAME}`);

  await putRange(0, 3000);
  await expectDelivered('one/', /^one\/\d{4}\/lake-feed-1-.*\.gz$/, 0, 3000);

  let d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: NAME })))
    .DeliveryStreamDescription;
  assert.equal(d.VersionId, '1');
  assert.ok(d.CreateTimestamp instanceof Date);
  assert.equal(d.DeliveryStreamEncryptionConfiguration.Status, 'DISABLED');
  assert.equal(d.Destinations.length, 1);
  assert.equal(d.Destinations[0].DestinationId, 'destinationId-000000000001');
  let s3 = d.Destinations[0].ExtendedS3DestinationDescription;
  assert.equal(s3.BucketARN, `arn:aws:s3:::${BUCKET}`);
  assert.equal(s3.Prefix, 'one/!{timestamp:yyyy}/');
  assert.equal(s3.CompressionFormat, 'GZIP');
  assert.deepEqual(s3.BufferingHints, { SizeInMBs: 1, IntervalInSeconds: 0 });
  assert.equal(s3.EncryptionConfiguration.NoEncryptionConfig, 'NoEncryption');

  // A restart: the stream, its destination and its tags are still there, and it delivers.
  await stopDaemon();
  await startDaemon();
  const list = await client.send(new sdk.ListDeliveryStreamsCommand({}));
  assert.ok(list.DeliveryStreamNames.includes(NAME), JSON.stringify(list.DeliveryStreamNames));
  const tags = await client.send(new sdk.ListTagsForDeliveryStreamCommand({ DeliveryStreamName: NAME }));
  assert.deepEqual(tags.Tags, [{ Key: 'team', Value: 'logs' }]);
  const kept = await client.send(new sdk.ListTagsForDeliveryStreamCommand({ DeliveryStreamName: 'configured' }));
  assert.deepEqual(kept.Tags, [{ Key: 'owner', Value: 'ops' }], 'a configured stream keeps its tags');
  await putRange(3000, 4000);
  await expectDelivered('one/', /^one\/\d{4}\/lake-feed-1-.*\.gz$/, 0, 4000);

  // UpdateDestination: a stale version is refused; the current one changes the prefix.
  const stale = await failure(() => client.send(new sdk.UpdateDestinationCommand({
    DeliveryStreamName: NAME, CurrentDeliveryStreamVersionId: '7',
    DestinationId: 'destinationId-000000000001',
    ExtendedS3DestinationUpdate: { Prefix: 'two/' },
  })));
  assert.ok(stale instanceof sdk.ConcurrentModificationException, stale.name);
  await client.send(new sdk.UpdateDestinationCommand({
    DeliveryStreamName: NAME, CurrentDeliveryStreamVersionId: '1',
    DestinationId: 'destinationId-000000000001',
    ExtendedS3DestinationUpdate: { Prefix: 'two/' },
  }));
  d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: NAME })))
    .DeliveryStreamDescription;
  assert.equal(d.VersionId, '2');
  assert.ok(d.LastUpdateTimestamp instanceof Date);
  s3 = d.Destinations[0].ExtendedS3DestinationDescription;
  assert.equal(s3.Prefix, 'two/');
  assert.equal(s3.CompressionFormat, 'GZIP', 'members the update does not name are kept');
  await putRange(4000, 4500);
  // No timestamp expression in the prefix: Firehose's default one follows it.
  await expectDelivered('two/', /^two\/\d{4}\/\d\d\/\d\d\/\d\d\/lake-feed-2-.*\.gz$/, 4000, 4500);
  await expectDelivered('one/', /^one\/\d{4}\/lake-feed-1-.*\.gz$/, 0, 4000);

  // A reload that configures a delivery of the same name does not start it beside this one.
  const yaml = path.join(work, 'sluice.yaml');
  const original = fs.readFileSync(yaml, 'utf8');
  fs.writeFileSync(yaml, original + `  - name: ${NAME}
    direct_put: true
    sink: {type: file, path: ./clash}
`, { mode: 0o600 });
  daemon.kill('SIGHUP');
  const reloadDeadline = Date.now() + 30000;
  while (!logTail().includes('configuration reloaded')) {
    assert.ok(Date.now() < reloadDeadline, 'no reload:\n' + logTail());
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(logTail(), /exists as a delivery stream created through the Firehose API/);
  assert.ok(!fs.existsSync(path.join(work, 'clash')), 'the configured one did not start');
  fs.writeFileSync(yaml, original, { mode: 0o600 });

  await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: NAME }));
  const gone = await failure(() => client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: NAME })));
  assert.ok(gone instanceof sdk.ResourceNotFoundException, gone.name);
  assert.ok(!fs.existsSync(path.join(work, 'data', 'firehose_api', `${NAME}.json`)));
});

test('server-side encryption seals the records at rest; they are delivered as put', { timeout: 240000 }, async () => {
  const SEALED = 'sealed-feed';
  const keyArn = (id) => `arn:aws:kms:us-east-1:000000000000:key/${id}`;
  // Distinctive in every record of this test, so that a search of the files finds nothing else.
  const marker = `sse-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}-`;
  const data = path.join(work, 'data');
  const shape = /^sealed\/\d{4}\/sealed-feed-1-.*\.gz$/;
  const encryptionOf = async () => (await client.send(new sdk.DescribeDeliveryStreamCommand({
    DeliveryStreamName: SEALED }))).DeliveryStreamDescription.DeliveryStreamEncryptionConfiguration;

  // Created encrypted under a customer managed key: sealed from the first record.
  await client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: SEALED,
    DeliveryStreamType: 'DirectPut',
    DeliveryStreamEncryptionConfigurationInput: { KeyType: 'CUSTOMER_MANAGED_CMK', KeyARN: keyArn('k1') },
    ExtendedS3DestinationConfiguration: {
      BucketARN: `arn:aws:s3:::${BUCKET}`, RoleARN: 'arn:aws:iam::000000000000:role/firehose',
      Prefix: 'sealed/!{timestamp:yyyy}/', BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 0 },
      CompressionFormat: 'GZIP',
    },
  }));
  assert.deepEqual(await encryptionOf(),
    { KeyARN: keyArn('k1'), KeyType: 'CUSTOMER_MANAGED_CMK', Status: 'ENABLED' });
  assert.equal(await putRange(0, 1000, SEALED, marker), true, 'PutRecordBatch answers Encrypted');
  await expectDelivered('sealed/', shape, 0, 1000);
  assert.deepEqual(filesHolding(data, marker), []);

  // A key the keyring lacks is KMS's problem, and changes nothing.
  const e = await failure(() => client.send(new sdk.StartDeliveryStreamEncryptionCommand({
    DeliveryStreamName: SEALED,
    DeliveryStreamEncryptionConfigurationInput: { KeyType: 'CUSTOMER_MANAGED_CMK', KeyARN: keyArn('k9') },
  })));
  assert.ok(e instanceof sdk.InvalidKMSResourceException, e.name);
  assert.equal(e.message, `Key '${keyArn('k9')}' does not exist`);
  assert.equal((await encryptionOf()).KeyARN, keyArn('k1'));

  // StartDeliveryStreamEncryption with Firehose's own key: the keyring's primary.
  await client.send(new sdk.StartDeliveryStreamEncryptionCommand({ DeliveryStreamName: SEALED }));
  assert.deepEqual(await encryptionOf(), { KeyType: 'AWS_OWNED_CMK', Status: 'ENABLED' });

  // A restart keeps the state and the stream's encryption alike.
  await stopDaemon();
  await startDaemon();
  assert.deepEqual(await encryptionOf(), { KeyType: 'AWS_OWNED_CMK', Status: 'ENABLED' });
  assert.equal(await putRange(1000, 2000, SEALED, marker), true);
  await expectDelivered('sealed/', shape, 0, 2000);
  assert.deepEqual(filesHolding(data, marker), []);

  // Stopped: new records are stored in clear again, which the search finds.
  await client.send(new sdk.StopDeliveryStreamEncryptionCommand({ DeliveryStreamName: SEALED }));
  assert.deepEqual(await encryptionOf(), { Status: 'DISABLED' });
  const clear = marker.replace('sse-', 'clear-');
  assert.equal(await putRange(2000, 2100, SEALED, clear), false);
  await expectDelivered('sealed/', shape, 0, 2100);
  assert.notDeepEqual(filesHolding(data, clear), []);
  assert.deepEqual(filesHolding(data, marker), []);

  // A state asking for encryption that its stream lacks (kept by a version that only recorded
  // the request) is applied at start.
  await stopDaemon();
  const stateFile = path.join(data, 'firehose_api', `${SEALED}.json`);
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  assert.equal(state.encrypted, false);
  fs.writeFileSync(stateFile, JSON.stringify({ ...state, encrypted: true }));
  await startDaemon();
  assert.match(logTail(), /delivery stream encryption applied as its state asks/);
  assert.deepEqual(await encryptionOf(), { KeyType: 'AWS_OWNED_CMK', Status: 'ENABLED' });
  assert.equal(await putRange(2100, 2200, SEALED, marker), true);
  await expectDelivered('sealed/', shape, 0, 2200);
  assert.deepEqual(filesHolding(data, marker), []);
  await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: SEALED }));
});

// An HTTP endpoint speaking Firehose's HTTP endpoint delivery protocol: checks the access key,
// counts the records by seq and answers with the request's id.
async function startEndpoint() {
  const state = { counts: new Map(), keys: new Set(), attributes: new Set() };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return res.end();  // the sink's health check (HEAD)
      const body = JSON.parse(Buffer.concat(chunks).toString());
      state.keys.add(req.headers['x-amz-firehose-access-key']);
      state.attributes.add(req.headers['x-amz-firehose-common-attributes']);
      for (const r of body.records) {
        for (const m of Buffer.from(r.data, 'base64').toString().matchAll(/seq=(\d+)\n/g)) {
          const n = Number(m[1]);
          state.counts.set(n, (state.counts.get(n) || 0) + 1);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ requestId: body.requestId, timestamp: Date.now() }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/in`, state, close: () => new Promise((r) => server.close(r)) };
}

test('an HttpEndpoint delivery stream posts every record once', { timeout: 120000 }, async () => {
  const endpoint = await startEndpoint();
  try {
    await client.send(new sdk.CreateDeliveryStreamCommand({
      DeliveryStreamName: 'to-http',
      DeliveryStreamType: 'DirectPut',
      HttpEndpointDestinationConfiguration: {
        EndpointConfiguration: { Url: endpoint.url, Name: 'test', AccessKey: 'key-123' },
        BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 0 },
        RequestConfiguration: {
          ContentEncoding: 'NONE', CommonAttributes: [{ AttributeName: 'env', AttributeValue: 'test' }],
        },
        RetryOptions: { DurationInSeconds: 60 },
        S3BackupMode: 'FailedDataOnly',
        S3Configuration: { BucketARN: `arn:aws:s3:::${BUCKET}`, RoleARN: 'arn:aws:iam::000000000000:role/f', Prefix: 'http-backup/' },
        RoleARN: 'arn:aws:iam::000000000000:role/f',
      },
    }));
    const Records = [];
    for (let n = 0; n < 400; ++n) Records.push({ Data: Buffer.from(`seq=${n}\n`) });
    const r = await client.send(new sdk.PutRecordBatchCommand({ DeliveryStreamName: 'to-http', Records }));
    assert.equal(r.FailedPutCount, 0);
    const deadline = Date.now() + 60000;
    while (endpoint.state.counts.size < 400 && Date.now() < deadline) {
      assert.equal(daemon.exitCode, null, 'the daemon exited:\n' + logTail());
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(endpoint.state.counts.size, 400, logTail());
    for (const [n, c] of endpoint.state.counts) assert.equal(c, 1, `seq ${n} posted ${c} times`);
    assert.deepEqual([...endpoint.state.keys], ['key-123']);
    assert.deepEqual([...endpoint.state.attributes].map((a) => JSON.parse(a)), [{ commonAttributes: { env: 'test' } }]);
    const d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'to-http' })))
      .DeliveryStreamDescription.Destinations[0].HttpEndpointDestinationDescription;
    assert.equal(d.EndpointConfiguration.Url, endpoint.url);
    assert.equal(d.EndpointConfiguration.AccessKey, undefined, 'the access key is never described');
    assert.equal(d.S3BackupMode, 'FailedDataOnly');
    assert.equal(d.S3DestinationDescription.BucketARN, `arn:aws:s3:::${BUCKET}`);
    await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: 'to-http' }));
  } finally {
    await endpoint.close();
  }
});

// A Splunk HTTP Event Collector's raw endpoint (no indexer acknowledgement): checks the token,
// counts the records by seq.
test('a Splunk delivery stream sends every record once, with firehose_api.splunk defaults', { timeout: 120000 }, async () => {
  const state = { counts: new Map(), auth: new Set(), paths: new Set() };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      state.paths.add(req.url.split('?')[0]);
      if (req.method === 'POST' && req.url.startsWith('/services/collector/raw')) {
        state.auth.add(req.headers.authorization);
        for (const m of Buffer.concat(chunks).toString().matchAll(/seq=(\d+)\n/g)) {
          const n = Number(m[1]);
          state.counts.set(n, (state.counts.get(n) || 0) + 1);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ text: 'Success', code: 0 }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    await client.send(new sdk.CreateDeliveryStreamCommand({
      DeliveryStreamName: 'to-splunk',
      DeliveryStreamType: 'DirectPut',
      SplunkDestinationConfiguration: {
        HECEndpoint: `http://127.0.0.1:${server.address().port}`,
        HECEndpointType: 'Raw',
        HECToken: 'token-abc',
        BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 0 },
        S3BackupMode: 'FailedEventsOnly',
        S3Configuration: { BucketARN: `arn:aws:s3:::${BUCKET}`, RoleARN: 'arn:aws:iam::000000000000:role/f' },
      },
    }));
    const Records = [];
    for (let n = 0; n < 300; ++n) Records.push({ Data: Buffer.from(`seq=${n}\n`) });
    assert.equal((await client.send(new sdk.PutRecordBatchCommand({ DeliveryStreamName: 'to-splunk', Records }))).FailedPutCount, 0);
    const deadline = Date.now() + 60000;
    while (state.counts.size < 300 && Date.now() < deadline) {
      assert.equal(daemon.exitCode, null, 'the daemon exited:\n' + logTail());
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state.counts.size, 300, logTail());
    for (const [n, c] of state.counts) assert.equal(c, 1, `seq ${n} sent ${c} times`);
    assert.deepEqual([...state.auth], ['Splunk token-abc']);
    assert.ok(!state.paths.has('/services/collector/ack'), 'indexer_ack: false (the default) applied');
    const d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'to-splunk' })))
      .DeliveryStreamDescription.Destinations[0].SplunkDestinationDescription;
    assert.equal(d.HECEndpointType, 'Raw');
    assert.equal(d.HECToken, undefined, 'the token is never described');
    await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: 'to-splunk' }));
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('an Amazonopensearchservice delivery stream named by DomainARN indexes every record once', { timeout: 120000 }, async () => {
  await client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: 'to-search',
    DeliveryStreamType: 'DirectPut',
    AmazonopensearchserviceDestinationConfiguration: {
      // No ClusterEndpoint: the endpoint is firehose_api.opensearch's.
      DomainARN: 'arn:aws:es:us-east-1:000000000000:domain/logs',
      IndexName: 'events',
      IndexRotationPeriod: 'NoRotation',
      BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 0 },
      RoleARN: 'arn:aws:iam::000000000000:role/f',
      S3Configuration: { BucketARN: `arn:aws:s3:::${BUCKET}`, RoleARN: 'arn:aws:iam::000000000000:role/f' },
    },
  }));
  const Records = [];
  for (let n = 0; n < 250; ++n) Records.push({ Data: Buffer.from(JSON.stringify({ seq: n })) });
  assert.equal((await client.send(new sdk.PutRecordBatchCommand({ DeliveryStreamName: 'to-search', Records }))).FailedPutCount, 0);
  const deadline = Date.now() + 60000;
  while (search.counts.size < 250 && Date.now() < deadline) {
    assert.equal(daemon.exitCode, null, 'the daemon exited:\n' + logTail());
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(search.counts.size, 250, logTail());
  for (const [n, c] of search.counts) assert.equal(c, 1, `seq ${n} indexed ${c} times`);
  assert.deepEqual([...search.indices], ['events']);
  const d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'to-search' })))
    .DeliveryStreamDescription.Destinations[0].AmazonopensearchserviceDestinationDescription;
  assert.equal(d.DomainARN, 'arn:aws:es:us-east-1:000000000000:domain/logs');
  assert.equal(d.IndexName, 'events');
  await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: 'to-search' }));
});

test('dynamic partitioning: MetadataExtraction keys name the object prefixes', { timeout: 120000 }, async () => {
  await client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: 'parted',
    DeliveryStreamType: 'DirectPut',
    ExtendedS3DestinationConfiguration: {
      BucketARN: `arn:aws:s3:::${BUCKET}`,
      RoleARN: 'arn:aws:iam::000000000000:role/f',
      Prefix: 'parted/c=!{partitionKeyFromQuery:customer}/',
      ErrorOutputPrefix: 'parted-errors/!{firehose:error-output-type}/',
      BufferingHints: { SizeInMBs: 64, IntervalInSeconds: 0 },
      DynamicPartitioningConfiguration: { Enabled: true },
      ProcessingConfiguration: {
        Enabled: true,
        Processors: [
          { Type: 'MetadataExtraction', Parameters: [
            { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{customer: .customer}' },
            { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' }] },
          { Type: 'AppendDelimiterToRecord', Parameters: [] },
        ],
      },
    },
  }));
  const Records = [];
  for (let n = 0; n < 200; ++n) {
    Records.push({ Data: Buffer.from(JSON.stringify({ customer: n % 2 ? 'odd' : 'even', seq: n })) });
  }
  assert.equal((await client.send(new sdk.PutRecordBatchCommand({ DeliveryStreamName: 'parted', Records }))).FailedPutCount, 0);
  const deadline = Date.now() + 60000;
  let seen = new Map();
  while (Date.now() < deadline) {
    seen = new Map();
    for (const k of await listKeys(peer.s3Endpoint, BUCKET)) {
      if (!k.startsWith('parted/')) continue;
      const customer = k.match(/^parted\/c=(\w+)\//)[1];
      const body = (await peer.get(BUCKET, k)).body.toString();
      for (const line of body.split('\n').filter((l) => l)) {
        const r = JSON.parse(line);  // AppendDelimiterToRecord: one record a line
        assert.equal(r.customer, customer, `${k} holds ${line}`);
        seen.set(r.seq, (seen.get(r.seq) || 0) + 1);
      }
    }
    if (seen.size >= 200) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(seen.size, 200, logTail());
  for (const [n, c] of seen) assert.equal(c, 1, `seq ${n} delivered ${c} times`);
  const d = (await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'parted' })))
    .DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription;
  assert.equal(d.DynamicPartitioningConfiguration.Enabled, true);
  assert.equal(d.ProcessingConfiguration.Processors[0].Type, 'MetadataExtraction');
  await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: 'parted' }));
});
