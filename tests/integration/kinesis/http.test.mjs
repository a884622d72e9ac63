// Raw HTTP behaviour of the API server: awsJson1.1 errors, body limit, malformed input,
// keep-alive and many idle connections, without the SDK in the way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { startServer } from './harness.mjs';

let server;
before(async () => {
  server = await startServer(['--max-body-size', '65536']);
});
after(async () => server.stop());

async function call(target, body, headers = {}) {
  const res = await fetch(server.endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': target, ...headers },
    body,
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

test('errors are awsJson1.1 documents', async () => {
  let r = await call('Kinesis_20131202.ListStreams', '{"Limit": "ten"}');
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).__type, 'SerializationException');
  r = await call('Kinesis_20131202.ListStreams', '{"Limit":');
  assert.equal(JSON.parse(r.text).__type, 'SerializationException');
  r = await call('Kinesis_20131202.Nope', '{}');
  assert.equal(JSON.parse(r.text).__type, 'UnknownOperationException');
  r = await call('Other_2000.ListStreams', '{}');
  assert.equal(JSON.parse(r.text).__type, 'UnknownOperationException');
  r = await call('Kinesis_20131202.ListStreams', '{}');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/x-amz-json-1.1');
  assert.ok(r.headers.get('x-amzn-requestid'));
  assert.deepEqual(JSON.parse(r.text).StreamNames, []);
});

test('a body over the limit gets 413 with a clear message', async () => {
  const r = await call('Kinesis_20131202.ListStreams', 'x'.repeat(70000));
  assert.equal(r.status, 413);
  assert.match(r.text, /exceeds the limit of 65536 bytes/);
});

test('HTTP/2 prior knowledge: many streams on one session', async () => {
  const session = http2.connect(server.endpoint);
  try {
    const one = () => new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST', ':path': '/', 'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Kinesis_20131202.ListStreams',
      });
      let data = '';
      let status = 0;
      req.on('response', (h) => { status = h[':status']; });
      req.on('data', (d) => { data += d; });
      req.on('end', () => resolve({ status, data }));
      req.on('error', reject);
      req.end('{}');
    });
    const results = await Promise.all(Array.from({ length: 50 }, one));
    assert.ok(results.every((r) => r.status === 200 && JSON.parse(r.data).StreamNames));
  } finally {
    session.close();
  }
});

test('a thousand idle connections do not stop the server answering', async () => {
  const sockets = [];
  try {
    for (let i = 0; i < 1000; i++) {
      sockets.push(await new Promise((resolve, reject) => {
        const s = net.connect(server.port, '127.0.0.1', () => resolve(s));
        s.on('error', reject);
      }));
    }
    const r = await call('Kinesis_20131202.ListStreams', '{}');
    assert.equal(r.status, 200);
  } finally {
    for (const s of sockets) s.destroy();
  }
});

test('garbage on the wire gets 400 and a close', async () => {
  const reply = await new Promise((resolve, reject) => {
    const s = net.connect(server.port, '127.0.0.1', () => s.write('NOT HTTP AT ALL\r\n\r\n'));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
});
