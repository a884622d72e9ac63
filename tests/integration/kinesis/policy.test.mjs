// Authorization per credential: broker.api.auth[].policy (the short form) and policy_document
// (an IAM JSON policy) against the built daemon, through the AWS SDK for JavaScript v3 (Kinesis
// over HTTP/2 and HTTP/1.1, Firehose). A call the policy does not allow is AccessDeniedException
// in AWS's words and does nothing; the resource of GetRecords is the stream its iterator was
// issued for. Every call, denied ones too, is one line of the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
