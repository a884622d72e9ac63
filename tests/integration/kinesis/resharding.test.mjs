// Resharding through the AWS SDK: split, merge, UpdateShardCount, and reading a parent to its
// end (NextShardIterator null, ChildShards named) before its children.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, startServer, clients, destroyAll, failure, unique } from './harness.mjs';

const K = sdk;
const enc = new TextEncoder();
const dec = new TextDecoder();
const HALF = '170141183460469231731687303715884105728';
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

async function drain(c, name, shardId) {
  const it = await c.send(new K.GetShardIteratorCommand({
    StreamName: name, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON',
  }));
  let iterator = it.ShardIterator;
  const records = [];
  let children;
  for (let i = 0; i < 50 && iterator; i++) {
    const r = await c.send(new K.GetRecordsCommand({ ShardIterator: iterator }));
    records.push(...r.Records.map((x) => dec.decode(x.Data)));
    iterator = r.NextShardIterator;
    children = r.ChildShards;
    if (r.Records.length === 0 && iterator) break;  // open shard: caught up
  }
  return { records, closed: iterator === undefined, children };
}

for (const transport of ['h2', 'h1']) {
  test(`split, merge and read across generations over ${transport}`, async () => {
    const c = all[transport];
    const name = unique(`rs-${transport}`);
    await c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    const put = (data, hashKey) => c.send(new K.PutRecordCommand({
      StreamName: name, PartitionKey: 'k', Data: enc.encode(data), ExplicitHashKey: hashKey,
    }));
    await put('parent-low', '1');
    await put('parent-high', HALF);
    await c.send(new K.SplitShardCommand({
      StreamName: name, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: HALF,
    }));
    const low = await put('child-low', '1');
    const high = await put('child-high', HALF);
    assert.notEqual(low.ShardId, high.ShardId);

    const shards = (await c.send(new K.ListShardsCommand({ StreamName: name }))).Shards;
    assert.equal(shards.length, 3);
    const parent = shards.find((s) => s.ShardId === 'shardId-000000000000');
    assert.ok(parent.SequenceNumberRange.EndingSequenceNumber);
    const kids = shards.filter((s) => s.ParentShardId === 'shardId-000000000000');
    assert.equal(kids.length, 2);
    assert.equal(kids.find((s) => s.HashKeyRange.StartingHashKey === HALF).ShardId, high.ShardId);
    const open = await c.send(new K.ListShardsCommand({ StreamName: name, ShardFilter: { Type: 'AT_LATEST' } }));
    assert.equal(open.Shards.length, 2);

    const p = await drain(c, name, 'shardId-000000000000');
    assert.deepEqual(p.records, ['parent-low', 'parent-high']);
    assert.equal(p.closed, true);
    assert.deepEqual(p.children.map((x) => x.ShardId).sort(), kids.map((x) => x.ShardId).sort());
    assert.deepEqual((await drain(c, name, low.ShardId)).records, ['child-low']);
    assert.deepEqual((await drain(c, name, high.ShardId)).records, ['child-high']);
    // Children sequence numbers sort above the parent's.
    assert.ok(BigInt(low.SequenceNumber) > BigInt(parent.SequenceNumberRange.EndingSequenceNumber));

    let e = await failure(() => c.send(new K.SplitShardCommand({
      StreamName: name, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: '5',
    })));
    assert.equal(e.name, 'ResourceInUseException');
    e = await failure(() => c.send(new K.SplitShardCommand({
      StreamName: name, ShardToSplit: low.ShardId, NewStartingHashKey: '0',
    })));
    assert.equal(e.name, 'InvalidArgumentException');

    await c.send(new K.MergeShardsCommand({
      StreamName: name, ShardToMerge: low.ShardId, AdjacentShardToMerge: high.ShardId,
    }));
    const merged = await put('merged', '7');
    const all3 = (await c.send(new K.ListShardsCommand({ StreamName: name }))).Shards;
    const m = all3.find((s) => s.ShardId === merged.ShardId);
    assert.deepEqual([m.ParentShardId, m.AdjacentParentShardId].sort(), [low.ShardId, high.ShardId].sort());
    assert.deepEqual((await drain(c, name, merged.ShardId)).records, ['merged']);

    const u = await c.send(new K.UpdateShardCountCommand({
      StreamName: name, TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING',
    }));
    assert.equal(u.CurrentShardCount, 1);
    assert.equal(u.TargetShardCount, 2);
    const sum = await c.send(new K.DescribeStreamSummaryCommand({ StreamName: name }));
    assert.equal(sum.StreamDescriptionSummary.OpenShardCount, 2);
    await c.send(new K.DeleteStreamCommand({ StreamName: name }));
  });
}
