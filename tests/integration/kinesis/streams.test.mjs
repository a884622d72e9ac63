// Stream control plane through the AWS SDK: create, describe, list, tags, retention, delete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, startServer, clients, destroyAll, failure, unique } from './harness.mjs';

const K = sdk;
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

for (const transport of ['h2', 'h1']) {
  test(`stream lifecycle over ${transport}`, async () => {
    const c = all[transport];
    const name = unique(`s-${transport}`);
    await c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 3 }));
    await K.waitUntilStreamExists({ client: c, maxWaitTime: 30 }, { StreamName: name });
    const d = await c.send(new K.DescribeStreamCommand({ StreamName: name, Limit: 2 }));
    assert.equal(d.StreamDescription.StreamStatus, 'ACTIVE');
    assert.equal(d.StreamDescription.Shards.length, 2);
    assert.equal(d.StreamDescription.HasMoreShards, true);
    assert.ok(d.StreamDescription.StreamCreationTimestamp instanceof Date);
    const rest = await c.send(new K.DescribeStreamCommand({
      StreamName: name, ExclusiveStartShardId: d.StreamDescription.Shards[1].ShardId,
    }));
    assert.equal(rest.StreamDescription.Shards.length, 1);
    assert.equal(rest.StreamDescription.Shards[0].HashKeyRange.EndingHashKey,
                 '340282366920938463463374607431768211455');

    const arn = d.StreamDescription.StreamARN;
    assert.match(arn, /^arn:aws:kinesis:us-east-1:\d{12}:stream\//);
    const sum = await c.send(new K.DescribeStreamSummaryCommand({ StreamARN: arn }));
    assert.equal(sum.StreamDescriptionSummary.OpenShardCount, 3);
    assert.equal(sum.StreamDescriptionSummary.ConsumerCount, 0);

    const listed = await c.send(new K.ListStreamsCommand({}));
    assert.ok(listed.StreamNames.includes(name));
    assert.ok(listed.StreamSummaries.some((s) => s.StreamARN === arn));

    const shards = await c.send(new K.ListShardsCommand({ StreamName: name, MaxResults: 2 }));
    assert.equal(shards.Shards.length, 2);
    const page2 = await c.send(new K.ListShardsCommand({ NextToken: shards.NextToken }));
    assert.equal(page2.Shards.length, 1);
    assert.equal(page2.NextToken, undefined);

    await c.send(new K.AddTagsToStreamCommand({ StreamName: name, Tags: { a: '1', b: '2' } }));
    await c.send(new K.RemoveTagsFromStreamCommand({ StreamName: name, TagKeys: ['a'] }));
    const tags = await c.send(new K.ListTagsForStreamCommand({ StreamName: name }));
    assert.deepEqual(tags.Tags, [{ Key: 'b', Value: '2' }]);
    assert.equal(tags.HasMoreTags, false);

    await c.send(new K.IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: 72 }));
    await c.send(new K.DecreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: 48 }));
    const after = await c.send(new K.DescribeStreamSummaryCommand({ StreamName: name }));
    assert.equal(after.StreamDescriptionSummary.RetentionPeriodHours, 48);

    await c.send(new K.DeleteStreamCommand({ StreamName: name }));
    const gone = await failure(() => c.send(new K.DescribeStreamCommand({ StreamName: name })));
    assert.equal(gone.name, 'ResourceNotFoundException');
  });

  test(`stream errors over ${transport}`, async () => {
    const c = all[transport];
    const name = unique(`e-${transport}`);
    let e = await failure(() => c.send(new K.CreateStreamCommand({ StreamName: 'bad name', ShardCount: 1 })));
    assert.equal(e.name, 'ValidationException');
    assert.match(e.message, /at 'streamName' failed to satisfy constraint/);
    assert.equal(e.$metadata.httpStatusCode, 400);
    e = await failure(() => c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 0 })));
    assert.equal(e.name, 'ValidationException');
    await c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    e = await failure(() => c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 1 })));
    assert.equal(e.name, 'ResourceInUseException');
    e = await failure(() => c.send(new K.IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: 12 })));
    assert.equal(e.name, 'InvalidArgumentException');
    e = await failure(() => c.send(new K.DecreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: 9000 })));
    assert.equal(e.name, 'ValidationException');
    e = await failure(() => c.send(new K.DeleteStreamCommand({ StreamName: unique('none') })));
    assert.equal(e.name, 'ResourceNotFoundException');
    e = await failure(() => c.send(new K.ListShardsCommand({ NextToken: 'bm90IGEgdG9rZW4=' })));
    assert.equal(e.name, 'InvalidArgumentException');
    e = await failure(() => c.send(new K.UpdateShardCountCommand({ StreamName: name, TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' })));
    assert.equal(e.name, 'LimitExceededException');
    const tooMany = {};
    for (let i = 0; i < 11; i++) tooMany[`k${i}`] = 'v';
    e = await failure(() => c.send(new K.AddTagsToStreamCommand({ StreamName: name, Tags: tooMany })));
    assert.equal(e.name, 'ValidationException');
    await c.send(new K.DeleteStreamCommand({ StreamName: name }));
  });
}
