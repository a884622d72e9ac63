// Test peers for the S3 sink: s3rver (a real S3 implementation on the local file system) behind
// a verifier that recomputes every request's SigV4 signature with the AWS SDK's own signer
// (@smithy/signature-v4) and checks Content-MD5 and x-amz-content-sha256 against the body. A
// mismatch answers 403 SignatureDoesNotMatch / 400 BadDigest and is counted. The verifier can
// also inject faults: answer an S3 error, or drop the connection in the middle of a request.
// Both listen on 127.0.0.1, on ephemeral ports.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { SignatureV4 } from '@smithy/signature-v4';

// The hash constructor the signer takes (the shape of @smithy/hash-node's), on node's crypto.
class Sha256 {
  constructor(secret) {
    this.h = secret ? crypto.createHmac('sha256', Buffer.from(secret)) : crypto.createHash('sha256');
  }
  update(data) { this.h.update(typeof data === 'string' ? Buffer.from(data) : data); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

export const ACCESS_KEY = 'S3RVER';
export const SECRET_KEY = 'S3RVER';

function errorXml(code, message) {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message></Error>`;
}

// The keys in `bucket` (up to 1,000), straight from s3rver (no SigV4 proxy in between).
export function listKeys(s3Endpoint, bucket) {
  return new Promise((resolve, reject) => {
    http.get(`${s3Endpoint}/${bucket}?list-type=2&max-keys=1000`, (r) => {
      let body = '';
      r.on('data', (c) => { body += c; });
      r.on('end', () => resolve([...body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]
        .replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'))));
    }).on('error', reject);
  });
}

export async function startS3(buckets = ['logs']) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s3rver-'));
  const s3 = new S3rver({
    address: '127.0.0.1', port: 0, directory: dir, silent: true,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port: s3Port } = await s3.run();

  const state = { log: [], faults: [], mismatches: 0, signed: [] };
  const signer = new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false,
    applyChecksum: false,
  });

  async function verify(req, body) {
    const auth = req.headers['authorization'] || '';
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return ['AccessDenied', 'no SigV4 Authorization header'];
    const sha = crypto.createHash('sha256').update(body).digest('hex');
    if (req.headers['x-amz-content-sha256'] !== sha) {
      return ['XAmzContentSHA256Mismatch', 'x-amz-content-sha256 does not match the body'];
    }
    if (req.method === 'PUT' || req.method === 'POST') {
      const md5 = crypto.createHash('md5').update(body).digest('base64');
      if (req.headers['content-md5'] !== md5) return ['BadDigest', 'Content-MD5 missing or wrong'];
    }
    const url = new URL(req.url, 'http://x');
    const query = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const headers = {};
    for (const h of m[4].split(';')) {
      if (req.headers[h] === undefined) return ['AccessDenied', `signed header ${h} not sent`];
      headers[h] = req.headers[h];
    }
    const amzDate = req.headers['x-amz-date'];
    const when = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T` +
      `${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    const rawPath = req.url.split('?')[0];
    const signed = await signer.sign({
      method: req.method, protocol: 'http:', hostname: '127.0.0.1', path: rawPath, query,
      headers: { ...headers },
    }, {
      signingDate: when,
      signableHeaders: new Set(Object.keys(headers)),
      unsignableHeaders: new Set(),
    });
    const want = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization)[1];
    const wantHeaders = /SignedHeaders=([^,]+)/.exec(signed.headers.authorization)[1];
    state.signed.push({ method: req.method, url: req.url, headers: m[4] });
    if (m[1] !== ACCESS_KEY || want !== m[5] || wantHeaders !== m[4]) {
      return ['SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.'];
    }
    return null;
  }

  const proxy = http.createServer((req, res) => {
    const chunks = [];
    let received = 0;
    const fault = state.faults.length && matches(state.faults[0], req) ? state.faults.shift() : null;
    req.on('data', (c) => {
      chunks.push(c);
      received += c.length;
      if (fault && fault.drop && received >= 65536) req.socket.destroy();
    });
    req.on('end', async () => {
      if (fault && fault.drop) { req.socket.destroy(); return; }
      const body = Buffer.concat(chunks);
      const entry = { method: req.method, url: req.url, bytes: body.length, status: 0 };
      state.log.push(entry);
      if (fault) {
        entry.status = fault.status;
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end(errorXml(fault.code, 'injected fault'));
        return;
      }
      let bad;
      try { bad = await verify(req, body); } catch (e) { bad = ['AccessDenied', String(e)]; }
      if (bad) {
        state.mismatches++;
        entry.status = bad[0] === 'SignatureDoesNotMatch' || bad[0] === 'AccessDenied' ? 403 : 400;
        entry.error = bad[0];
        res.writeHead(entry.status, { 'content-type': 'application/xml' });
        res.end(errorXml(bad[0], bad[1]));
        return;
      }
      const fwd = http.request({
        host: '127.0.0.1', port: s3Port, method: req.method, path: req.url,
        headers: { ...req.headers, 'content-length': body.length },
      }, (up) => {
        entry.status = up.statusCode;
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      fwd.on('error', () => req.socket.destroy());
      fwd.end(body);
    });
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));

  return {
    endpoint: `http://127.0.0.1:${proxy.address().port}`,
    s3Endpoint: `http://127.0.0.1:${s3Port}`,
    state,
    // Faults apply to the next requests that match {method, query}, in order.
    inject(fault) { state.faults.push(fault); },
    // Reads an object back from s3rver directly, raw (no content decoding).
    get(bucket, key) {
      const p = key.split('/').map(encodeURIComponent).join('/');
      return new Promise((resolve, reject) => {
        http.get(`http://127.0.0.1:${s3Port}/${bucket}/${p}`, (r) => {
          const chunks = [];
          r.on('data', (c) => chunks.push(c));
          r.on('end', () => resolve({
            status: r.statusCode,
            headers: { get: (n) => r.headers[n] ?? null },
            body: Buffer.concat(chunks),
          }));
        }).on('error', reject);
      });
    },
    async close() {
      await new Promise((r) => proxy.close(r));
      proxy.closeAllConnections?.();
      await s3.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function matches(f, req) {
  if (f.method && f.method !== req.method) return false;
  if (f.query && !req.url.includes(f.query)) return false;
  return true;
}
