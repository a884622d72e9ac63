// The Firehose API on the broker's API listener, through the official AWS SDK for JavaScript v3
// Firehose client: records put with PutRecordBatch / PutRecord into a `direct_put: true` delivery
// stream must each land exactly once in the file sink's objects; limits and error names are
// Firehose's; server-side encryption, without a keyring, is InvalidKMSResourceException. Runs the
// built daemon (SLUICE_BIN) in a temporary directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, statSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

let sdk;
try {
  sdk = await import('@aws-sdk/client-firehose');
} catch (e) {
  throw new Error('npm test peers are missing: run `npm ci` in tests/ (' + e.message + ')');
}

const bin = process.env.SLUICE_BIN;
if (!bin) throw new Error('SLUICE_BIN must name the sluice binary');

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

function filesUnder(dir) {
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

// seq number -> how many times it appears in the delivered objects.
function delivered(dir) {
  const counts = new Map();
  for (const f of filesUnder(dir)) {
    for (const m of readFileSync(f, 'latin1').matchAll(/seq=(\d+)\n/g)) {
      const n = Number(m[1]);
      counts.set(n, (counts.get(n) || 0) + 1);
    }
  }
  return counts;
}

let work;
let daemon;
let client;
let exited;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'sluice-firehose-'));
  const port = await freePort();
  const plugins = join(dirname(bin), 'plugins');
  writeFileSync(join(work, 'sluice.yaml'), `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
plugin_dirs: [${plugins}]
broker:
  api:
    listen: 127.0.0.1:${port}
deliveries:
  - name: direct
    direct_put: true
    concurrency: 2
    buffer: {size: 1MiB, interval: 0s}
    sink:
      type: file
      path: ./out
`);
  daemon = spawn(bin, ['run', '-c', 'sluice.yaml'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  exited = new Promise((resolve) => daemon.once('exit', (code, signal) => resolve({ code, signal })));
  let log = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon did not start:\n' + log)), 20000);
    const onData = (chunk) => {
      log += chunk;
      if (log.includes('sluice started')) {
        clearTimeout(timer);
        resolve();
      }
    };
    daemon.stdout.on('data', onData);
    daemon.stderr.on('data', onData);
    daemon.once('exit', (code) => reject(new Error(`daemon exited with ${code}:\n${log}`)));
  });
  client = new sdk.FirehoseClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'AKIDSLUICETEST', secretAccessKey: 'sluice-test-secret' },
    maxAttempts: 1,
  });
});

after(async () => {
  client?.destroy();
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    const { code } = await exited;
    assert.equal(code, 0, 'daemon exits 0 on SIGTERM');
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

async function failure(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

test('the configured direct_put delivery stream is listed and described', async () => {
  const list = await client.send(new sdk.ListDeliveryStreamsCommand({}));
  assert.ok(list.DeliveryStreamNames.includes('direct'));
  assert.equal(list.HasMoreDeliveryStreams, false);
  const d = await client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'direct' }));
  const desc = d.DeliveryStreamDescription;
  assert.equal(desc.DeliveryStreamStatus, 'ACTIVE');
  assert.equal(desc.DeliveryStreamType, 'DirectPut');
  assert.equal(desc.DeliveryStreamARN, 'arn:aws:firehose:us-east-1:000000000000:deliverystream/direct');
  assert.equal(desc.Destinations.length, 1);
});

test('every record put lands in exactly one object of the file sink', async () => {
  const batches = 12;
  let seq = 0;
  for (let b = 0; b < batches; ++b) {
    const Records = [];
    for (let i = 0; i < 500; ++i) {
      Records.push({ Data: Buffer.from(`seq=${seq++}\n`) });
    }
    const r = await client.send(new sdk.PutRecordBatchCommand({ DeliveryStreamName: 'direct', Records }));
    assert.equal(r.FailedPutCount, 0);
    assert.equal(r.RequestResponses.length, 500);
    assert.ok(r.RequestResponses.every((e) => e.RecordId && !e.ErrorCode));
  }
  const one = await client.send(new sdk.PutRecordCommand({
    DeliveryStreamName: 'direct', Record: { Data: Buffer.from(`seq=${seq++}\n`) },
  }));
  assert.ok(one.RecordId);
  assert.equal(one.Encrypted, false);

  const deadline = Date.now() + 30000;
  let counts = new Map();
  while (Date.now() < deadline) {
    counts = delivered(join(work, 'out'));
    if (counts.size >= seq) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(counts.size, seq, 'every record delivered');
  for (const [n, c] of counts) {
    assert.ok(n >= 0 && n < seq, `unexpected seq ${n}`);
    assert.equal(c, 1, `seq ${n} delivered ${c} times`);
  }
});

test('limits and errors are Firehose\'s', async () => {
  let e = await failure(() => client.send(new sdk.PutRecordBatchCommand({
    DeliveryStreamName: 'direct',
    Records: Array.from({ length: 501 }, () => ({ Data: Buffer.from('x') })),
  })));
  assert.equal(e.name, 'ValidationException');
  e = await failure(() => client.send(new sdk.PutRecordCommand({
    DeliveryStreamName: 'direct', Record: { Data: Buffer.alloc(1024001, 1) },
  })));
  assert.equal(e.name, 'ValidationException');
  e = await failure(() => client.send(new sdk.PutRecordBatchCommand({
    DeliveryStreamName: 'direct',
    Records: Array.from({ length: 5 }, () => ({ Data: Buffer.alloc(1024000, 2) })),
  })));
  assert.ok(e instanceof sdk.InvalidArgumentException, e.name);
  e = await failure(() => client.send(new sdk.PutRecordCommand({
    DeliveryStreamName: 'absent', Record: { Data: Buffer.from('x') },
  })));
  assert.ok(e instanceof sdk.ResourceNotFoundException, e.name);
  e = await failure(() => client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: 'direct' })));
  assert.ok(e instanceof sdk.ResourceInUseException, e.name);
});

test('CreateDeliveryStream and DeleteDeliveryStream', async () => {
  const c = await client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: 'made', DeliveryStreamType: 'DirectPut',
  }));
  assert.equal(c.DeliveryStreamARN, 'arn:aws:firehose:us-east-1:000000000000:deliverystream/made');
  const e = await failure(() => client.send(new sdk.CreateDeliveryStreamCommand({ DeliveryStreamName: 'made' })));
  assert.ok(e instanceof sdk.ResourceInUseException, e.name);
  const put = await client.send(new sdk.PutRecordBatchCommand({
    DeliveryStreamName: 'made', Records: [{ Data: Buffer.from('kept') }],
  }));
  assert.equal(put.FailedPutCount, 0);
  const list = await client.send(new sdk.ListDeliveryStreamsCommand({ DeliveryStreamType: 'DirectPut' }));
  assert.deepEqual(list.DeliveryStreamNames, ['direct', 'made']);
  await client.send(new sdk.DeleteDeliveryStreamCommand({ DeliveryStreamName: 'made' }));
  const gone = await failure(() => client.send(new sdk.DescribeDeliveryStreamCommand({ DeliveryStreamName: 'made' })));
  assert.ok(gone instanceof sdk.ResourceNotFoundException, gone.name);
});

test('server-side encryption needs a keyring: InvalidKMSResourceException, nothing changed', async () => {
  const describe = async (name) => (await client.send(new sdk.DescribeDeliveryStreamCommand({
    DeliveryStreamName: name }))).DeliveryStreamDescription;
  let e = await failure(() => client.send(new sdk.StartDeliveryStreamEncryptionCommand({
    DeliveryStreamName: 'direct' })));
  assert.ok(e instanceof sdk.InvalidKMSResourceException, e.name);
  assert.match(e.message, /broker\.encryption\.keyring/);
  assert.deepEqual((await describe('direct')).DeliveryStreamEncryptionConfiguration, { Status: 'DISABLED' });
  const put = await client.send(new sdk.PutRecordCommand({
    DeliveryStreamName: 'direct', Record: { Data: Buffer.from('still taken\n') },
  }));
  assert.equal(put.Encrypted, false);

  e = await failure(() => client.send(new sdk.CreateDeliveryStreamCommand({
    DeliveryStreamName: 'sealed', DeliveryStreamType: 'DirectPut',
    DeliveryStreamEncryptionConfigurationInput: { KeyType: 'AWS_OWNED_CMK' },
  })));
  assert.ok(e instanceof sdk.InvalidKMSResourceException, e.name);
  assert.match(e.message, /broker\.encryption\.keyring/);
  const gone = await failure(() => describe('sealed'));
  assert.ok(gone instanceof sdk.ResourceNotFoundException, gone.name);
});
