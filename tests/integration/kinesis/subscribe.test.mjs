// SubscribeToShard (enhanced fan-out) through the AWS SDK over HTTP/2: live records, the
// 5-second takeover rule, and the end of a split parent shard.
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

async function setup(c, shards = 1) {
  const name = unique('sub');
  await c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  const arn = (await c.send(new K.DescribeStreamSummaryCommand({ StreamName: name })))
    .StreamDescriptionSummary.StreamARN;
  const reg = await c.send(new K.RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'efo' }));
  return { name, consumerArn: reg.Consumer.ConsumerARN };
}

test('records put after subscribing arrive live', async () => {
  const c = all.h2;
  const { name, consumerArn } = await setup(c);
  const sub = await c.send(new K.SubscribeToShardCommand({
    ConsumerARN: consumerArn, ShardId: 'shardId-000000000000', StartingPosition: { Type: 'LATEST' },
  }));
  const want = ['a', 'b', 'c'];
  setTimeout(async () => {
    for (const d of want) {
      await c.send(new K.PutRecordCommand({ StreamName: name, PartitionKey: 'k', Data: enc.encode(d) }));
    }
  }, 50);
  const got = [];
  let continuation;
  for await (const event of sub.EventStream) {
    assert.ok(event.SubscribeToShardEvent, JSON.stringify(Object.keys(event)));
    const e = event.SubscribeToShardEvent;
    got.push(...e.Records.map((r) => dec.decode(r.Data)));
    continuation = e.ContinuationSequenceNumber;
    if (got.length >= want.length) break;
  }
  assert.deepEqual(got, want);
  assert.match(continuation, /^\d+$/);

  // Within 5 s of the first subscription, a second one for the same consumer and shard fails.
  const e = await failure(() => c.send(new K.SubscribeToShardCommand({
    ConsumerARN: consumerArn, ShardId: 'shardId-000000000000',
    StartingPosition: { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: continuation },
  })));
  assert.equal(e.name, 'ResourceInUseException');
  await c.send(new K.DeregisterStreamConsumerCommand({ ConsumerARN: consumerArn }));
  await c.send(new K.DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true }));
});

test('a split parent ends the subscription with its children', async () => {
  const c = all.h2;
  const { name, consumerArn } = await setup(c);
  await c.send(new K.PutRecordCommand({ StreamName: name, PartitionKey: 'k', Data: enc.encode('old') }));
  await c.send(new K.SplitShardCommand({
    StreamName: name, ShardToSplit: 'shardId-000000000000',
    NewStartingHashKey: '170141183460469231731687303715884105728',
  }));
  const sub = await c.send(new K.SubscribeToShardCommand({
    ConsumerARN: consumerArn, ShardId: 'shardId-000000000000',
    StartingPosition: { Type: 'TRIM_HORIZON' },
  }));
  const got = [];
  let children = [];
  for await (const event of sub.EventStream) {
    const e = event.SubscribeToShardEvent;
    got.push(...e.Records.map((r) => dec.decode(r.Data)));
    if (e.ChildShards) children = e.ChildShards;
  }
  assert.deepEqual(got, ['old']);
  assert.equal(children.length, 2);
  assert.deepEqual(children[0].ParentShards, ['shardId-000000000000']);
});

test('subscribe errors', async () => {
  const c = all.h2;
  const { name, consumerArn } = await setup(c);
  let e = await failure(() => c.send(new K.SubscribeToShardCommand({
    ConsumerARN: consumerArn, ShardId: 'shardId-000000000009', StartingPosition: { Type: 'LATEST' },
  })));
  assert.equal(e.name, 'ResourceNotFoundException');
  e = await failure(() => c.send(new K.SubscribeToShardCommand({
    ConsumerARN: `${consumerArn.split('/consumer/')[0]}/consumer/nobody:1`,
    ShardId: 'shardId-000000000000', StartingPosition: { Type: 'LATEST' },
  })));
  assert.equal(e.name, 'ResourceNotFoundException');
  e = await failure(() => c.send(new K.SubscribeToShardCommand({
    ConsumerARN: consumerArn, ShardId: 'shardId-000000000000',
    StartingPosition: { Type: 'AT_SEQUENCE_NUMBER' },
  })));
  assert.equal(e.name, 'InvalidArgumentException');
  await c.send(new K.DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true }));
});
