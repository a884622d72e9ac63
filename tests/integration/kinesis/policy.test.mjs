// Authorization per credential: broker.api.auth[].policy (the short form) and policy_document
// (an IAM JSON policy) against the built daemon, through the AWS SDK for JavaScript v3 (Kinesis
// over HTTP/2 and HTTP/1.1, Firehose). A call the policy does not allow is AccessDeniedException
// in AWS's words and does nothing; the resource of GetRecords is the stream its iterator was
// issued for. Every call, denied ones too, is one line of the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import crypto from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FirehoseClient, PutRecordBatchCommand, ListDeliveryStreamsCommand } from '@aws-sdk/client-firehose';
import { freePort, startDaemon, stop } from '../daemons.mjs';
import { sdk as K, clients, destroyAll, failure, streamAnswers } from './harness.mjs';

const keys = {
  admin: { accessKeyId: 'AKIDPOLICYADMIN', secretAccessKey: 'admin-secret-0' },
  producer: { accessKeyId: 'AKIDPRODUCER', secretAccessKey: 'producer-secret-0' },
  reader: { accessKeyId: 'AKIDREADER', secretAccessKey: 'reader-secret-0' },
  fleet: { accessKeyId: 'AKIDFLEET', secretAccessKey: 'fleet-secret-0' },
  temporary: { accessKeyId: 'ASIATEMPORARY', secretAccessKey: 'temporary-secret-0',
    sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE-session-token' },
};
const readerDocument = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['kinesis:Get*', 'kinesis:List*', 'kinesis:Describe*'],
      Resource: 'arn:aws:kinesis:*:*:stream/*' },
    { Effect: 'Deny', Action: 'kinesis:*', Resource: 'arn:aws:kinesis:*:*:stream/secret' },
  ],
});

let work;
let daemon;
let endpoint;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'sluice-policy-'));
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  writeFileSync(join(work, 'session.token'), keys.temporary.sessionToken + '\n', { mode: 0o600 });
  daemon = startDaemon(work, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  api:
    listen: 127.0.0.1:${port}
    auth:
      - {access_key_id: ${keys.admin.accessKeyId}, secret_access_key: ${keys.admin.secretAccessKey}}
      - access_key_id: ${keys.producer.accessKeyId}
        secret_access_key: ${keys.producer.secretAccessKey}
        policy:
          allow: ["kinesis:PutRecord*", "kinesis:DescribeStreamSummary"]
          resources: ["app-*"]
      - access_key_id: ${keys.reader.accessKeyId}
        secret_access_key: ${keys.reader.secretAccessKey}
        policy_document: '${readerDocument}'
      - access_key_id: ${keys.fleet.accessKeyId}
        secret_access_key: ${keys.fleet.secretAccessKey}
        policy: {allow: ["firehose:PutRecord*"], resources: [fleet]}
      - access_key_id: ${keys.temporary.accessKeyId}
        secret_access_key: ${keys.temporary.secretAccessKey}
        session_token_file: ./session.token
streams:
  - {name: app-web, shards: 1}
  - {name: secret, shards: 1}
deliveries:
  - {name: fleet, direct_put: true, sink: {type: blackhole}}
  - {name: other, direct_put: true, sink: {type: blackhole}}
`);
  const probe = clients(endpoint, keys.admin);
  try {
    await streamAnswers(probe.h1, daemon, 'app-web');
  } finally {
    destroyAll(probe);
  }
});

after(async () => {
  if (daemon) await stop(daemon, 'SIGTERM');
  if (work) rmSync(work, { recursive: true, force: true });
});

const data = (s) => new TextEncoder().encode(s);

async function denied(fn, action, resource, why) {
  const e = await failure(fn);
  assert.equal(e.name, 'AccessDeniedException', `${action}: ${e.name}: ${e.message}`);
  const user = /user\/(\w+)/.exec(e.message)?.[1];
  assert.ok(user, e.message);
  assert.equal(e.message, `User: arn:aws:iam::000000000000:user/${user} is not authorized to perform: ` +
    `${action} on resource: ${resource} ${why === 'explicit' ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${action} action`}`);
  return e;
}

const arn = (s) => `arn:aws:kinesis:us-east-1:000000000000:stream/${s}`;

for (const transport of ['h2', 'h1']) {
  test(`a producer key puts into app-* and nothing else (${transport})`, async () => {
    const p = clients(endpoint, keys.producer)[transport];
    const admin = clients(endpoint, keys.admin);
    try {
      const put = await p.send(new K.PutRecordsCommand({ StreamName: 'app-web',
        Records: [{ PartitionKey: 'k', Data: data(`from producer ${transport}`) }] }));
      assert.equal(put.FailedRecordCount, 0);
      await p.send(new K.DescribeStreamSummaryCommand({ StreamName: 'app-web' }));
      await denied(() => p.send(new K.GetShardIteratorCommand({ StreamName: 'app-web', ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON' })), 'kinesis:GetShardIterator', arn('app-web'));
      await denied(() => p.send(new K.DeleteStreamCommand({ StreamName: 'app-web' })), 'kinesis:DeleteStream',
        arn('app-web'));
      await denied(() => p.send(new K.PutRecordCommand({ StreamName: 'secret', PartitionKey: 'k', Data: data('x') })),
        'kinesis:PutRecord', arn('secret'));
      await denied(() => p.send(new K.PutRecordsCommand({ StreamARN: arn('secret'),
        Records: [{ PartitionKey: 'k', Data: data('x') }] })), 'kinesis:PutRecords', arn('secret'));
      await denied(() => p.send(new K.ListStreamsCommand({})), 'kinesis:ListStreams', arn('*'));
      // Nothing of the denied calls happened: the stream is there, `secret` got no record.
      const streams = await admin.h1.send(new K.ListStreamsCommand({}));
      assert.deepEqual(streams.StreamNames.sort(), ['app-web', 'secret']);
      const it = await admin.h1.send(new K.GetShardIteratorCommand({ StreamName: 'secret',
        ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
      const got = await admin.h1.send(new K.GetRecordsCommand({ ShardIterator: it.ShardIterator }));
      assert.equal(got.Records.length, 0);
    } finally {
      p.destroy();
      destroyAll(admin);
    }
  });
}

test('a reader key with an IAM policy document: reads, explicit deny on one stream, no writes', async () => {
  const r = clients(endpoint, keys.reader);
  const admin = clients(endpoint, keys.admin);
  try {
    await admin.h1.send(new K.PutRecordCommand({ StreamName: 'secret', PartitionKey: 'k', Data: data('classified') }));
    const it = await r.h2.send(new K.GetShardIteratorCommand({ StreamName: 'app-web',
      ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
    const got = await r.h1.send(new K.GetRecordsCommand({ ShardIterator: it.ShardIterator }));
    assert.ok(got.Records.length >= 1, 'the producer\'s records are readable');
    assert.deepEqual((await r.h2.send(new K.ListStreamsCommand({}))).StreamNames.sort(), ['app-web', 'secret']);
    await denied(() => r.h2.send(new K.GetShardIteratorCommand({ StreamName: 'secret',
      ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' })), 'kinesis:GetShardIterator',
    arn('secret'), 'explicit');
    // An iterator obtained by another key: GetRecords is checked against the stream it names.
    const secretIt = await admin.h1.send(new K.GetShardIteratorCommand({ StreamName: 'secret',
      ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
    await denied(() => r.h1.send(new K.GetRecordsCommand({ ShardIterator: secretIt.ShardIterator })),
      'kinesis:GetRecords', arn('secret'), 'explicit');
    await denied(() => r.h2.send(new K.PutRecordCommand({ StreamName: 'app-web', PartitionKey: 'k',
      Data: data('x') })), 'kinesis:PutRecord', arn('app-web'));
  } finally {
    destroyAll(r);
    destroyAll(admin);
  }
});

test('a Firehose key puts into its delivery stream only', async () => {
  const base = { region: 'us-east-1', endpoint, maxAttempts: 1 };
  const f = new FirehoseClient({ ...base, credentials: keys.fleet });
  try {
    const ok = await f.send(new PutRecordBatchCommand({ DeliveryStreamName: 'fleet',
      Records: [{ Data: data('a\n') }, { Data: data('b\n') }] }));
    assert.equal(ok.FailedPutCount, 0);
    const fh = (n) => `arn:aws:firehose:us-east-1:000000000000:deliverystream/${n}`;
    await denied(() => f.send(new PutRecordBatchCommand({ DeliveryStreamName: 'other',
      Records: [{ Data: data('c\n') }] })), 'firehose:PutRecordBatch', fh('other'));
    await denied(() => f.send(new ListDeliveryStreamsCommand({})), 'firehose:ListDeliveryStreams', fh('*'));
  } finally {
    f.destroy();
  }
});

test('the audit log holds each call once: who, what, on what, the outcome; no secret, no data', async () => {
  const auditFile = join(work, 'data', 'audit', 'audit.log');
  const before = readFileSync(auditFile, 'utf8').split('\n').filter((l) => l).length;
  const p = clients(endpoint, keys.producer).h1;
  const bad = clients(endpoint, { accessKeyId: keys.producer.accessKeyId, secretAccessKey: 'wrong' }).h1;
  const ids = [];
  try {
    const put = await p.send(new K.PutRecordsCommand({ StreamName: 'app-web',
      Records: [{ PartitionKey: 'k', Data: data('audited-payload-1') }, { PartitionKey: 'k', Data: data('audited-payload-2') }] }));
    ids.push([put.$metadata.requestId, 'AKIDPRODUCER', 'kinesis:PutRecords', arn('app-web'), 'ok', 2]);
    const e1 = await denied(() => p.send(new K.DeleteStreamCommand({ StreamName: 'app-web' })), 'kinesis:DeleteStream',
      arn('app-web'));
    ids.push([e1.$metadata.requestId, 'AKIDPRODUCER', 'kinesis:DeleteStream', arn('app-web'), 'AccessDeniedException']);
    const e2 = await failure(() => bad.send(new K.ListStreamsCommand({})));
    assert.equal(e2.name, 'InvalidSignatureException');
    ids.push([e2.$metadata.requestId, 'unauthenticated', 'kinesis:ListStreams', '', 'InvalidSignatureException']);
  } finally {
    p.destroy();
    bad.destroy();
  }
  const text = readFileSync(auditFile, 'utf8');
  const lines = text.split('\n').filter((l) => l).map((l) => JSON.parse(l));
  assert.equal(lines.length, before + ids.length);
  for (const [rid, principal, action, resource, result, records] of ids) {
    const mine = lines.filter((l) => l.request_id === rid);
    assert.equal(mine.length, 1, `request ${rid} once in the audit log`);
    const l = mine[0];
    assert.equal(l.principal, principal);
    assert.equal(l.action, action);
    assert.equal(l.resource, resource);
    assert.equal(l.result, result);
    assert.match(l.source, /^127\.0\.0\.1:\d+$/);
    assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    if (records !== undefined) assert.equal(l.records, records);
  }
  for (const secret of [...Object.values(keys).map((k) => k.secretAccessKey), 'wrong', 'audited-payload',
    Buffer.from('audited-payload-1').toString('base64'), 'Signature=']) {
    assert.ok(!text.includes(secret), `the audit log must not hold ${secret}`);
  }
});

test('temporary credentials need their session token; a presigned request passes until it expires', async () => {
  const temp = clients(endpoint, keys.temporary);
  const noToken = clients(endpoint, { accessKeyId: keys.temporary.accessKeyId,
    secretAccessKey: keys.temporary.secretAccessKey });
  const wrongToken = clients(endpoint, { ...keys.temporary, sessionToken: keys.temporary.sessionToken + 'x' });
  try {
    for (const t of ['h2', 'h1']) {
      const r = await temp[t].send(new K.ListStreamsCommand({}));
      assert.deepEqual(r.StreamNames.sort(), ['app-web', 'secret']);
      for (const c of [noToken[t], wrongToken[t]]) {
        const e = await failure(() => c.send(new K.ListStreamsCommand({})));
        assert.equal(e.name, 'UnrecognizedClientException');
        assert.equal(e.message, 'The security token included in the request is invalid.');
      }
    }
  } finally {
    destroyAll(temp);
    destroyAll(noToken);
    destroyAll(wrongToken);
  }

  // The AWS SDK's own presigner: the signature in the query, X-Amz-Target kept as a header.
  class Sha256 {
    constructor(secret) {
      this.h = secret ? crypto.createHmac('sha256', Buffer.from(secret)) : crypto.createHash('sha256');
    }
    update(data) { this.h.update(typeof data === 'string' ? Buffer.from(data) : data); }
    async digest() { return new Uint8Array(this.h.digest()); }
  }
  const url = new URL(endpoint);
  const presign = async (creds, expiresIn, body = '{}') => {
    const signer = new SignatureV4({ credentials: creds, region: 'us-east-1', service: 'kinesis', sha256: Sha256 });
    const signed = await signer.presign({
      method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', query: {},
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Kinesis_20131202.ListStreams' },
      body,
    }, { expiresIn, unhoistableHeaders: new Set(['x-amz-target']) });
    const q = new URLSearchParams(signed.query).toString();
    return { href: `${endpoint}/?${q}`, headers: signed.headers };
  };
  const call = async ({ href, headers }, body = '{}') => {
    const { host, ...rest } = headers;
    const res = await fetch(href, { method: 'POST', headers: rest, body });
    return { status: res.status, doc: await res.json() };
  };
  let r = await call(await presign(keys.admin, 60));
  assert.equal(r.status, 200, JSON.stringify(r.doc));
  assert.deepEqual(r.doc.StreamNames.sort(), ['app-web', 'secret']);
  // Temporary credentials presign with their token in the query.
  r = await call(await presign(keys.temporary, 60));
  assert.equal(r.status, 200, JSON.stringify(r.doc));
  // Another body than the one signed, and a presigned URL whose time is up, are refused.
  r = await call(await presign(keys.admin, 60), '{"Limit": 1}');
  assert.equal(r.doc.__type, 'InvalidSignatureException');
  const old = await presign(keys.admin, 1);
  await new Promise((res) => setTimeout(res, 2100));
  r = await call(old);
  assert.equal(r.doc.__type, 'InvalidSignatureException');
  assert.match(r.doc.message, /presigned at \d{8}T\d{6}Z for 1 seconds/);
  // A presigned call is subject to the key's policy like any other.
  r = await call(await presign(keys.producer, 60));
  assert.equal(r.doc.__type, 'AccessDeniedException');
});

test('a resource policy on a stream grants and denies beside the keys\' own policies', async () => {
  const admin = clients(endpoint, keys.admin);
  const p = clients(endpoint, keys.producer);
  const producerArn = `arn:aws:iam::000000000000:user/${keys.producer.accessKeyId}`;
  try {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: producerArn }, Action: ['kinesis:GetShardIterator', 'kinesis:GetRecords'],
          Resource: arn('app-web') },
        { Effect: 'Deny', Principal: { AWS: [producerArn] }, Action: 'kinesis:PutRecord*', Resource: arn('app-web') },
      ],
    });
    await admin.h1.send(new K.PutResourcePolicyCommand({ ResourceARN: arn('app-web'), Policy: policy }));
    // Granted by the stream's policy, though the producer's own policy does not allow it.
    const it = await p.h2.send(new K.GetShardIteratorCommand({ StreamName: 'app-web',
      ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
    const got = await p.h1.send(new K.GetRecordsCommand({ ShardIterator: it.ShardIterator }));
    assert.ok(got.Records.length >= 1);
    // Denied by it, though the producer's own policy allows it.
    const e = await failure(() => p.h2.send(new K.PutRecordCommand({ StreamName: 'app-web', PartitionKey: 'k',
      Data: data('x') })));
    assert.equal(e.name, 'AccessDeniedException');
    assert.equal(e.message, `User: ${producerArn} is not authorized to perform: kinesis:PutRecord on resource: ` +
      `${arn('app-web')} with an explicit deny in a resource-based policy`);
    // Other keys are not named by it.
    await admin.h2.send(new K.PutRecordCommand({ StreamName: 'app-web', PartitionKey: 'k', Data: data('admin') }));
    // A document that is not a resource policy is refused when put.
    const bad = await failure(() => admin.h1.send(new K.PutResourcePolicyCommand({ ResourceARN: arn('app-web'),
      Policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'kinesis:*', Resource: '*' }] }) })));
    assert.equal(bad.name, 'InvalidArgumentException');
    assert.match(bad.message, /Principal is missing/);
    // A resource policy's allow does not undo the key's own explicit deny (the reader's document
    // denies everything on `secret`).
    const readerArn = `arn:aws:iam::000000000000:user/${keys.reader.accessKeyId}`;
    await admin.h1.send(new K.PutResourcePolicyCommand({ ResourceARN: arn('secret'), Policy: JSON.stringify({
      Statement: [{ Effect: 'Allow', Principal: { AWS: readerArn }, Action: 'kinesis:*', Resource: arn('secret') }],
    }) }));
    const r = clients(endpoint, keys.reader);
    try {
      await denied(() => r.h1.send(new K.GetShardIteratorCommand({ StreamName: 'secret',
        ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' })), 'kinesis:GetShardIterator',
      arn('secret'), 'explicit');
    } finally {
      destroyAll(r);
    }
    await admin.h1.send(new K.DeleteResourcePolicyCommand({ ResourceARN: arn('secret') }));
    await admin.h1.send(new K.DeleteResourcePolicyCommand({ ResourceARN: arn('app-web') }));
    const put = await p.h1.send(new K.PutRecordCommand({ StreamName: 'app-web', PartitionKey: 'k', Data: data('y') }));
    assert.ok(put.SequenceNumber);
    await denied(() => p.h1.send(new K.GetShardIteratorCommand({ StreamName: 'app-web',
      ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' })), 'kinesis:GetShardIterator', arn('app-web'));
  } finally {
    destroyAll(admin);
    destroyAll(p);
  }
});
