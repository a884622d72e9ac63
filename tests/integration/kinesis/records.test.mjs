// Data plane through the AWS SDK: PutRecord(s), every iterator type, GetRecords, and errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, startServer, clients, destroyAll, failure, unique } from './harness.mjs';

const K = sdk;
const enc = new TextEncoder();
const dec = new TextDecoder();
let server;
let all;
before(async () => {
  server = await startServer();
  all = clients(server.endpoint);
});
after(async () => {
  destroyAll(all);
  await server.stop();
});

async function readAll(c, iterator, limit) {
  const out = [];
  for (let i = 0; i < 100 && iterator; i++) {
    const r = await c.send(new K.GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
    out.push(...r.Records);
    if (r.Records.length === 0) break;
    iterator = r.NextShardIterator;
  }
  return out;
}

for (const transport of ['h2', 'h1']) {
  test(`put and get over ${transport}`, async () => {
    const c = all[transport];
    const name = unique(`r-${transport}`);
    // ON_DEMAND: 500 records to one shard in one call is past a PROVISIONED shard's 1,000/s burst
    // once the other puts are counted (a ShardCount alone makes a PROVISIONED stream, as AWS).
    await c.send(new K.CreateStreamCommand({
      StreamName: name, ShardCount: 2, StreamModeDetails: { StreamMode: 'ON_DEMAND' },
    }));
    const start = new Date(Date.now() - 1000);
    const one = await c.send(new K.PutRecordCommand({
      StreamName: name, PartitionKey: 'k', Data: enc.encode('first'), ExplicitHashKey: '0',
    }));
    assert.equal(one.ShardId, 'shardId-000000000000');
    assert.match(one.SequenceNumber, /^\d+$/);
    const entries = [];
    for (let i = 0; i < 500; i++) {
      entries.push({ PartitionKey: `pk-${i}`, Data: enc.encode(`record-${i}`), ExplicitHashKey: '1' });
    }
    const batch = await c.send(new K.PutRecordsCommand({ StreamName: name, Records: entries }));
    assert.equal(batch.FailedRecordCount, 0);
    assert.equal(batch.Records.length, 500);
    assert.ok(batch.Records.every((r) => r.ShardId === 'shardId-000000000000'));
    // Binary data survives the base64 round trip.
    const bin = new Uint8Array([0, 255, 1, 254, 10, 13]);
    await c.send(new K.PutRecordCommand({
      StreamName: name, PartitionKey: 'b', Data: bin, ExplicitHashKey: '2',
      SequenceNumberForOrdering: one.SequenceNumber,
    }));

    const trim = await c.send(new K.GetShardIteratorCommand({
      StreamName: name, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON',
    }));
    const got = await readAll(c, trim.ShardIterator, 200);
    assert.equal(got.length, 502);
    assert.equal(dec.decode(got[0].Data), 'first');
    assert.equal(got[0].PartitionKey, 'k');
    assert.equal(got[0].SequenceNumber, one.SequenceNumber);
    assert.ok(got[0].ApproximateArrivalTimestamp instanceof Date);
    assert.equal(dec.decode(got[500].Data), 'record-499');
    assert.deepEqual([...got[501].Data], [...bin]);
    for (let i = 1; i < got.length; i++) {
      assert.ok(BigInt(got[i].SequenceNumber) > BigInt(got[i - 1].SequenceNumber));
    }

    const at = await c.send(new K.GetShardIteratorCommand({
      StreamName: name, ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      StartingSequenceNumber: batch.Records[10].SequenceNumber,
    }));
    let r = await c.send(new K.GetRecordsCommand({ ShardIterator: at.ShardIterator, Limit: 1 }));
    assert.equal(dec.decode(r.Records[0].Data), 'record-10');
    const afterIt = await c.send(new K.GetShardIteratorCommand({
      StreamARN: (await c.send(new K.DescribeStreamSummaryCommand({ StreamName: name })))
        .StreamDescriptionSummary.StreamARN,
      ShardId: 'shardId-000000000000', ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      StartingSequenceNumber: batch.Records[10].SequenceNumber,
    }));
    r = await c.send(new K.GetRecordsCommand({ ShardIterator: afterIt.ShardIterator, Limit: 1 }));
    assert.equal(dec.decode(r.Records[0].Data), 'record-11');
    const ts = await c.send(new K.GetShardIteratorCommand({
      StreamName: name, ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_TIMESTAMP',
      Timestamp: start,
    }));
    r = await c.send(new K.GetRecordsCommand({ ShardIterator: ts.ShardIterator, Limit: 1 }));
    assert.equal(dec.decode(r.Records[0].Data), 'first');

    const latest = await c.send(new K.GetShardIteratorCommand({
      StreamName: name, ShardId: 'shardId-000000000001', ShardIteratorType: 'LATEST',
    }));
    r = await c.send(new K.GetRecordsCommand({ ShardIterator: latest.ShardIterator }));
    assert.equal(r.Records.length, 0);
    assert.equal(r.MillisBehindLatest, 0);
    await c.send(new K.PutRecordCommand({
      StreamName: name, PartitionKey: 'x', Data: enc.encode('late'),
      ExplicitHashKey: '340282366920938463463374607431768211455',
    }));
    r = await c.send(new K.GetRecordsCommand({ ShardIterator: r.NextShardIterator }));
    assert.equal(dec.decode(r.Records[0].Data), 'late');
    await c.send(new K.DeleteStreamCommand({ StreamName: name }));
  });

  test(`data-plane errors over ${transport}`, async () => {
    const c = all[transport];
    const name = unique(`re-${transport}`);
    await c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    let e = await failure(() => c.send(new K.PutRecordCommand({ StreamName: name, PartitionKey: '', Data: enc.encode('x') })));
    assert.equal(e.name, 'ValidationException');
    e = await failure(() => c.send(new K.PutRecordCommand({ StreamName: name, PartitionKey: 'k', Data: new Uint8Array(1048577) })));
    assert.equal(e.name, 'ValidationException');
    e = await failure(() => c.send(new K.PutRecordCommand({
      StreamName: name, PartitionKey: 'k', Data: enc.encode('x'),
      ExplicitHashKey: '340282366920938463463374607431768211456',
    })));
    assert.equal(e.name, 'InvalidArgumentException');
    e = await failure(() => c.send(new K.PutRecordCommand({ StreamName: unique('none'), PartitionKey: 'k', Data: enc.encode('x') })));
    assert.equal(e.name, 'ResourceNotFoundException');
    const tooMany = Array.from({ length: 501 }, () => ({ PartitionKey: 'k', Data: enc.encode('x') }));
    e = await failure(() => c.send(new K.PutRecordsCommand({ StreamName: name, Records: tooMany })));
    assert.equal(e.name, 'ValidationException');
    e = await failure(() => c.send(new K.GetShardIteratorCommand({
      StreamName: name, ShardId: 'shardId-000000000007', ShardIteratorType: 'LATEST',
    })));
    assert.equal(e.name, 'ResourceNotFoundException');
    e = await failure(() => c.send(new K.GetShardIteratorCommand({
      StreamName: name, ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_SEQUENCE_NUMBER',
    })));
    assert.equal(e.name, 'InvalidArgumentException');
    e = await failure(() => c.send(new K.GetShardIteratorCommand({
      StreamName: name, ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      StartingSequenceNumber: '12345678901234567890123456789012345678901234567890',
    })));
    assert.equal(e.name, 'InvalidArgumentException');
    e = await failure(() => c.send(new K.GetRecordsCommand({ ShardIterator: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })));
    assert.equal(e.name, 'InvalidArgumentException');
    e = await failure(() => c.send(new K.GetRecordsCommand({ ShardIterator: 'x', Limit: 10001 })));
    assert.equal(e.name, 'ValidationException');
    await c.send(new K.DeleteStreamCommand({ StreamName: name }));
  });
}

test('provisioned throughput is enforced per shard', async () => {
  const s = await startServer(['--provisioned']);
  const c = clients(s.endpoint).h2;
  try {
    const name = unique('prov');
    await c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    // 1 MiB/s per shard: three requests of 5 x 400 KiB exceed it within a second.
    const big = new Uint8Array(400 * 1024);
    let throttled = 0;
    for (let i = 0; i < 3; i++) {
      const entries = Array.from({ length: 5 }, (_, j) => ({ PartitionKey: `k${j}`, Data: big }));
      const r = await c.send(new K.PutRecordsCommand({ StreamName: name, Records: entries }));
      for (const rec of r.Records) {
        if (rec.ErrorCode) {
          assert.equal(rec.ErrorCode, 'ProvisionedThroughputExceededException');
          assert.match(rec.ErrorMessage, /Rate exceeded for shard shardId-000000000000/);
          throttled++;
        }
      }
    }
    assert.ok(throttled > 0, 'expected throttled records');
  } finally {
    c.destroy();
    await s.stop();
  }
});
