// The Kinesis API in CBOR (application/x-amz-cbor-1.1), as the AWS SDK for Java and KCL speak it
// by default: SigV4-signed requests with byte-string Data and timestamps as tag 1 + integer epoch
// milliseconds, answers (errors too) in CBOR, and SubscribeToShard's event payloads in CBOR over
// HTTP/2. The requests are built with the npm `cbor` package in the shapes the Java SDK sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import { SignatureV4 } from '@smithy/signature-v4';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, unique, CREDENTIALS } from './harness.mjs';
import { freePort, startDaemon, stop, waitFor } from '../daemons.mjs';

let cbor;
try {
  cbor = (await import('cbor')).default;
} catch (e) {
  throw new Error('npm test peers are missing: run `npm ci` in tests/ (' + e.message + ')');
}

const CBOR_TYPE = 'application/x-amz-cbor-1.1';

class Sha256 {
  constructor(secret) {
    this.h = secret ? crypto.createHmac('sha256', Buffer.from(secret)) : crypto.createHash('sha256');
  }
  update(data) { this.h.update(typeof data === 'string' ? Buffer.from(data) : data); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

// The sluice daemon itself when SLUICE_BIN names it (ctest kinesis_api_cbor_daemon, puts on the
// loop), else the API test server (kinesis_api_cbor, puts on 2 worker threads).
async function startSluice() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cbor-'));
  const port = await freePort();
  const child = startDaemon(dir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  api:
    listen: 127.0.0.1:${port}
    auth:
      - access_key_id: ${CREDENTIALS.accessKeyId}
        secret_access_key: ${CREDENTIALS.secretAccessKey}
`);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor('the daemon\'s Kinesis API', async () => {
    if (child.exitCode !== null) throw new Error('the daemon exited: ' + child.logText());
    try {
      await fetch(endpoint, { method: 'POST' });
      return true;
    } catch {
      return false;
    }
  });
  return {
    port,
    endpoint,
    async stop() {
      await stop(child, 'SIGTERM');
      assert.equal(child.exitCode, 0, child.logText());
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let server;
before(async () => {
  server = process.env.SLUICE_BIN
    ? await startSluice()
    : await startServer(['--auth', `${CREDENTIALS.accessKeyId}:${CREDENTIALS.secretAccessKey}`]);
});
after(async () => server.stop());

// Timestamps as the Java SDK writes them (SdkCborGenerator): tag 1, integer epoch milliseconds.
const millis = (ms) => new cbor.Tagged(1, ms);
// Decodes an answer keeping tag 1 visible: { tag1: <number> }.
const decode = (buf) => cbor.decodeFirstSync(buf, { tags: { 1: (v) => ({ tag1: v }) } });

async function signed(operation, body, credentials = CREDENTIALS) {
  const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 'kinesis', sha256: Sha256 });
  const req = await signer.sign({
    method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: server.port, path: '/',
    headers: {
      host: `127.0.0.1:${server.port}`,
      'content-type': CBOR_TYPE,
      'x-amz-target': `Kinesis_20131202.${operation}`,
    },
    body,
  });
  return req.headers;
}

// One signed CBOR call over HTTP/1.1: { status, headers, body (decoded, or null when empty) }.
async function call(operation, input, { raw, credentials } = {}) {
  const body = raw ?? cbor.encode(input);
  const headers = await signed(operation, body, credentials);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/', headers }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf.length ? decode(buf) : null });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function ok(operation, input) {
  const r = await call(operation, input);
  assert.equal(r.status, 200, `${operation}: ${JSON.stringify(r.body)}`);
  assert.equal(r.headers['content-type'], CBOR_TYPE);
  return r.body;
}

test('CBOR end to end: create, put bytes, read them back from a tag-1 timestamp', async () => {
  const name = unique('cbor');
  await ok('CreateStream', { StreamName: name, ShardCount: 1 });
  const summary = (await ok('DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary;
  assert.equal(summary.StreamName, name);
  assert.equal(summary.OpenShardCount, 1);
  const created = summary.StreamCreationTimestamp.tag1;
  assert.ok(Number.isInteger(created) && Math.abs(created - Date.now()) < 60000, `${created}`);

  const before = Date.now() - 1000;
  const datas = [Buffer.from([0, 1, 2, 255, 254]), Buffer.alloc(0), crypto.randomBytes(1024)];
  const put = await ok('PutRecords', {
    StreamName: name,
    Records: datas.map((d, i) => ({ Data: d, PartitionKey: `k${i}` })),
  });
  assert.equal(put.FailedRecordCount, 0);
  assert.equal(put.Records.length, 3);
  assert.ok(put.Records.every((r) => typeof r.SequenceNumber === 'string' && r.ShardId));
  const single = await ok('PutRecord', { StreamName: name, PartitionKey: 'k', Data: Buffer.from('one') });
  assert.equal(single.ShardId, 'shardId-000000000000');
  datas.push(Buffer.from('one'));

  // AT_TIMESTAMP a second before the puts: every record. Read as seconds, the same number would
  // be ~55,000 years ahead and find none.
  const it = await ok('GetShardIterator', {
    StreamName: name, ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_TIMESTAMP',
    Timestamp: millis(before),
  });
  const got = await ok('GetRecords', { ShardIterator: it.ShardIterator, Limit: 100 });
  assert.equal(got.Records.length, datas.length);
  got.Records.forEach((r, i) => {
    assert.ok(Buffer.isBuffer(r.Data), 'Data is a byte string');
    assert.deepEqual(r.Data, datas[i]);
    const at = r.ApproximateArrivalTimestamp.tag1;
    assert.ok(Number.isInteger(at), `integer milliseconds, not ${at}`);
    assert.ok(at >= before && at <= Date.now() + 1000, `${at}`);
  });
  assert.ok(Number.isInteger(got.MillisBehindLatest));
  assert.equal(typeof got.NextShardIterator, 'string');

  // A minute ahead: nothing (a timestamp read as 1970 would return everything).
  const later = await ok('GetShardIterator', {
    StreamName: name, ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_TIMESTAMP',
    Timestamp: millis(Date.now() + 60000),
  });
  assert.equal((await ok('GetRecords', { ShardIterator: later.ShardIterator })).Records.length, 0);

  const shards = await ok('ListShards', {
    StreamName: name, ShardFilter: { Type: 'AT_TIMESTAMP', Timestamp: millis(before) },
  });
  assert.deepEqual(shards.Shards.map((s) => s.ShardId), ['shardId-000000000000']);
  assert.equal(typeof shards.Shards[0].SequenceNumberRange.StartingSequenceNumber, 'string');
});

test('CBOR errors: Kinesis exceptions, malformed bodies and bad signatures answer in CBOR', async () => {
  let r = await call('DescribeStreamSummary', { StreamName: unique('missing') });
  assert.equal(r.status, 400);
  assert.equal(r.headers['content-type'], CBOR_TYPE);
  assert.equal(r.headers['x-amzn-errortype'], 'ResourceNotFoundException');
  assert.equal(r.body.__type, 'ResourceNotFoundException');
  assert.match(r.body.message, /not found/);

  r = await call('CreateStream', { StreamName: 'bad name!', ShardCount: 1 });
  assert.equal(r.body.__type, 'ValidationException');

  // {"Data": <a byte string claiming 2^32-1 bytes>} in a 13-byte body.
  const claim = Buffer.concat([Buffer.from([0xa1, 0x64]), Buffer.from('Data'),
    Buffer.from([0x5a, 0xff, 0xff, 0xff, 0xff]), Buffer.from('xyz')]);
  r = await call('PutRecord', null, { raw: claim });
  assert.equal(r.status, 400);
  assert.equal(r.headers['content-type'], CBOR_TYPE);
  assert.equal(r.body.__type, 'SerializationException');
  assert.match(r.body.message, /^Malformed CBOR at byte 6: the body ends inside an item/);

  r = await call('ListStreams', null, { raw: Buffer.from([0x82, 0x01, 0x02]) });
  assert.equal(r.body.__type, 'SerializationException');
  assert.match(r.body.message, /the body must be a CBOR map/);

  r = await call('ListStreams', {}, { credentials: { ...CREDENTIALS, secretAccessKey: 'wrong' } });
  assert.equal(r.status, 400);
  assert.equal(r.headers['content-type'], CBOR_TYPE);
  assert.equal(r.body.__type, 'InvalidSignatureException');
});

// AWS event-stream frames (event_stream.h): {headers, payload} of each complete message in `buf`.
function frames(buf) {
  const out = [];
  let pos = 0;
  while (buf.length - pos >= 16) {
    const total = buf.readUInt32BE(pos);
    if (buf.length - pos < total) break;
    const headersLen = buf.readUInt32BE(pos + 4);
    const headers = {};
    let h = pos + 12;
    while (h < pos + 12 + headersLen) {
      const n = buf[h];
      const name = buf.toString('utf8', h + 1, h + 1 + n);
      h += 1 + n;
      assert.equal(buf[h], 7, 'string header');
      const len = buf.readUInt16BE(h + 1);
      headers[name] = buf.toString('utf8', h + 3, h + 3 + len);
      h += 3 + len;
    }
    out.push({ headers, payload: buf.subarray(pos + 12 + headersLen, pos + total - 4) });
    pos += total;
  }
  return { messages: out, rest: buf.subarray(pos) };
}

test('SubscribeToShard over HTTP/2 in CBOR: event payloads in CBOR', async () => {
  const name = unique('cbor-sub');
  await ok('CreateStream', { StreamName: name, ShardCount: 1 });
  const arn = (await ok('DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary.StreamARN;
  const reg = await ok('RegisterStreamConsumer', { StreamARN: arn, ConsumerName: 'efo' });
  assert.ok(Number.isInteger(reg.Consumer.ConsumerCreationTimestamp.tag1));
  const before = Date.now() - 1000;
  await ok('PutRecords', { StreamName: name, Records: [{ Data: Buffer.from([9, 0, 9]), PartitionKey: 'k' }] });

  const body = cbor.encode({
    ConsumerARN: reg.Consumer.ConsumerARN, ShardId: 'shardId-000000000000',
    StartingPosition: { Type: 'AT_TIMESTAMP', Timestamp: millis(before) },
  });
  const headers = await signed('SubscribeToShard', body);
  delete headers.host;
  const session = http2.connect(server.endpoint);
  try {
    const events = await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/', ...headers });
      let buf = Buffer.alloc(0);
      const seen = [];
      req.on('response', (h) => {
        if (h[':status'] !== 200) reject(new Error(`status ${h[':status']}`));
        assert.equal(h['content-type'], 'application/vnd.amazon.eventstream');
      });
      req.on('data', (d) => {
        const { messages, rest } = frames(Buffer.concat([buf, d]));
        buf = rest;
        seen.push(...messages);
        if (seen.some((m) => m.headers[':event-type'] === 'SubscribeToShardEvent')) {
          req.close();
          resolve(seen);
        }
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(events[0].headers[':event-type'], 'initial-response');
    for (const e of events) assert.equal(e.headers[':content-type'], CBOR_TYPE);
    const event = events.find((e) => e.headers[':event-type'] === 'SubscribeToShardEvent');
    const payload = decode(event.payload);
    assert.equal(payload.Records.length, 1);
    assert.deepEqual(payload.Records[0].Data, Buffer.from([9, 0, 9]));
    const at = payload.Records[0].ApproximateArrivalTimestamp.tag1;
    assert.ok(Number.isInteger(at) && at >= before, `${at}`);
    assert.equal(typeof payload.ContinuationSequenceNumber, 'string');
    assert.ok(Number.isInteger(payload.MillisBehindLatest));
  } finally {
    session.close();
  }
});
