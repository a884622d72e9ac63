// The s3 sink against s3rver behind a SigV4 verifier (s3_peer.mjs), through the real plugin
// host (sink_driver). Every object is read back and compared byte for byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startS3, ACCESS_KEY, SECRET_KEY } from './s3_peer.mjs';
import { startDriver } from './harness.mjs';

const OK = 0, RETRY = 1, REJECT = 2;
let peer, tmp;

before(async () => {
  peer = await startS3(['logs']);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-test-'));
});
after(async () => {
  await peer?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function baseOpts(extra = {}) {
  return {
    bucket: 'logs', endpoint: peer.endpoint, force_path_style: 'true', region: 'us-east-1',
    access_key_id: ACCESS_KEY, secret_access_key: SECRET_KEY, request_timeout: '20s',
    ...extra,
  };
}

let fileNo = 0;
function writeTmp(buf) {
  const p = path.join(tmp, `obj-${fileNo++}`);
  fs.writeFileSync(p, buf);
  return p;
}

test('single objects with spaces, unicode, + and = in their keys arrive byte-exact', async () => {
  const d = await startDriver('s3', baseOpts({ content_type: 'application/x-ndjson' }));
  try {
    const keys = [
      'app/2026/01/01/00/plain-1-2026-01-01-00-00-00-abc.gz',
      'with space/dir two/a b.txt',
      'unicode/ü ñ/日本語-データ.json',
      'plus+and=equals/k+1=2.log',
      'sealed/app-1-2026-01-01-00-00-00-abc.gz.enc',
    ];
    // The host says "encrypted" for envelope-encrypted objects (gzip inside): ciphertext is stored
    // as application/octet-stream with no Content-Encoding, which clients would try to decode.
    const encodings = ['gzip', '', '', '', 'encrypted'];
    for (const [i, key] of keys.entries()) {
      const body = crypto.randomBytes(1000 + i * 777);
      const sealed = encodings[i] === 'encrypted';
      const r = await d.send({ op: 'deliver', key, file: writeTmp(body), encoding: encodings[i],
                               key_id: sealed ? 'k2-2026/ü' : '' });
      assert.equal(r.code, OK, JSON.stringify(r));
      const got = await peer.get('logs', key);
      assert.equal(got.status, 200, key);
      assert.ok(got.body.equals(body), `bytes of ${key}`);
      assert.equal(got.headers.get('content-type'),
                   encodings[i] === 'encrypted' ? 'application/octet-stream' : 'application/x-ndjson');
      assert.equal(got.headers.get('content-encoding'), i === 0 ? 'gzip' : null);
      // The master key that opens it is in the object's metadata (non-ASCII bytes %XX-encoded).
      assert.equal(got.headers.get('x-amz-meta-sluice-key-id'), sealed ? 'k2-2026/%C3%BC' : null);
      assert.equal(got.headers.get('x-amz-meta-sluice-encryption'),
                   sealed ? 'aes-256-gcm-envelope' : null);
    }
    assert.equal(peer.state.mismatches, 0);
    const h = await d.send({ op: 'health' });
    assert.equal(h.code, 0, JSON.stringify(h));
  } finally {
    await d.close();
  }
});

test('a large object goes up as a multipart upload and arrives byte-exact', async () => {
  const d = await startDriver('s3', baseOpts({ multipart_threshold: '5MiB', part_size: '5MiB' }));
  try {
    const body = crypto.randomBytes(12 * 1024 * 1024 + 12345);
    const key = 'multi/big object+1.bin';
    const before = peer.state.log.length;
    const r = await d.send({ op: 'deliver', key, file: writeTmp(body) });
    assert.equal(r.code, OK, JSON.stringify(r));
    const reqs = peer.state.log.slice(before).map((e) => `${e.method} ${e.url.split('?')[1]}`);
    assert.deepEqual(reqs.map((s) => s.replace(/uploadId=[^&]+/, 'uploadId=U')), [
      'POST uploads=',
      'PUT partNumber=1&uploadId=U', 'PUT partNumber=2&uploadId=U', 'PUT partNumber=3&uploadId=U',
      'POST uploadId=U',
    ]);
    const got = await peer.get('logs', key);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(body), 'multipart bytes');
    assert.equal(peer.state.mismatches, 0);
  } finally {
    await d.close();
  }
});

test('SSE-KMS, storage class and tags are sent and signed', async () => {
  const d = await startDriver('s3', baseOpts({
    server_side_encryption: 'aws:kms', kms_key_id: 'arn:aws:kms:us-east-1:1:key/k-1',
    storage_class: 'STANDARD_IA', tags: 'team=logs&env=a b',
  }));
  try {
    const body = crypto.randomBytes(5000);
    const r = await d.send({ op: 'deliver', key: 'sse/k.bin', file: writeTmp(body) });
    assert.equal(r.code, OK, JSON.stringify(r));
    const signed = peer.state.signed.filter((s) => s.url.includes('/sse/k.bin')).pop();
    assert.ok(signed.headers.includes(
      'x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id;' +
      'x-amz-storage-class;x-amz-tagging'), signed.headers);
    assert.equal(peer.state.mismatches, 0);
    assert.ok((await peer.get('logs', 'sse/k.bin')).body.equals(body));
  } finally {
    await d.close();
  }
});

test('wrong credentials are retried and logged loudly, never rejected', async () => {
  const d = await startDriver('s3', baseOpts({ secret_access_key: 'wrong-secret' }));
  try {
    const before = peer.state.mismatches;
    const r = await d.send({ op: 'deliver', key: 'denied/x', file: writeTmp('x'), max_attempts: 2 });
    assert.equal(r.code, RETRY, JSON.stringify(r));
    assert.equal(r.attempts, 2);
    assert.equal(r.error_code, 'S3.SignatureDoesNotMatch');
    assert.equal(peer.state.mismatches, before + 2);
    assert.match(d.stderr(), /refuses writes/);
    assert.equal((await peer.get('logs', 'denied/x')).status, 404);
  } finally {
    await d.close();
  }
});

test('a missing bucket is retried loudly', async () => {
  const d = await startDriver('s3', baseOpts({ bucket: 'no-such-bucket' }));
  try {
    const r = await d.send({ op: 'deliver', key: 'k', file: writeTmp('x') });
    assert.equal(r.code, RETRY, JSON.stringify(r));
    assert.equal(r.error_code, 'S3.NoSuchBucket');
    assert.match(d.stderr(), /no-such-bucket refuses writes/);
    const h = await d.send({ op: 'health' });
    assert.equal(h.code, 1);
  } finally {
    await d.close();
  }
});

test('503 SlowDown and 500 answers are retried until the object is complete', async () => {
  const d = await startDriver('s3', baseOpts());
  try {
    peer.inject({ method: 'PUT', status: 503, code: 'SlowDown' });
    peer.inject({ method: 'PUT', status: 500, code: 'InternalError' });
    const body = crypto.randomBytes(3000);
    const r = await d.send({ op: 'deliver', key: 'flaky/a', file: writeTmp(body), max_attempts: 5 });
    assert.equal(r.code, OK, JSON.stringify(r));
    assert.equal(r.attempts, 3);
    assert.ok((await peer.get('logs', 'flaky/a')).body.equals(body));
  } finally {
    await d.close();
  }
});

test('a connection dropped mid-part is retried for that part only, then completes', async () => {
  const d = await startDriver('s3', baseOpts({ multipart_threshold: '5MiB', part_size: '5MiB' }));
  try {
    peer.inject({ method: 'PUT', query: 'partNumber=2', drop: true });
    peer.inject({ method: 'PUT', query: 'partNumber=2', status: 503, code: 'SlowDown' });
    const body = crypto.randomBytes(11 * 1024 * 1024);
    const before = peer.state.log.length;
    const r = await d.send({ op: 'deliver', key: 'flaky/multi', file: writeTmp(body) });
    assert.equal(r.code, OK, JSON.stringify(r));
    assert.equal(r.attempts, 1);
    const parts = peer.state.log.slice(before).filter((e) => e.url.includes('partNumber=2'));
    assert.equal(parts.length, 2);  // the dropped one never reached the log; 503, then 200
    assert.ok((await peer.get('logs', 'flaky/multi')).body.equals(body));
  } finally {
    await d.close();
  }
});

test('a failing multipart upload is aborted and InvalidArgument is rejected', async () => {
  const d = await startDriver('s3', baseOpts({ multipart_threshold: '5MiB', part_size: '5MiB',
    part_attempts: '1' }));
  try {
    peer.inject({ method: 'PUT', query: 'partNumber=1', status: 400, code: 'InvalidArgument' });
    const before = peer.state.log.length;
    const r = await d.send({ op: 'deliver', key: 'bad/multi', file: writeTmp(crypto.randomBytes(6 << 20)), max_attempts: 3 });
    assert.equal(r.code, REJECT, JSON.stringify(r));
    assert.equal(r.error_code, 'S3.InvalidArgument');
    assert.equal(r.attempts, 1);
    const last = peer.state.log.slice(before).pop();
    assert.equal(last.method, 'DELETE');
    assert.match(last.url, /uploadId=/);
  } finally {
    await d.close();
  }
});
