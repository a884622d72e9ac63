// Enhanced fan-out consumer registry through the AWS SDK.
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
  test(`register, describe, list, deregister over ${transport}`, async () => {
    const c = all[transport];
    const name = unique(`c-${transport}`);
    await c.send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    const arn = (await c.send(new K.DescribeStreamSummaryCommand({ StreamName: name })))
      .StreamDescriptionSummary.StreamARN;
    const reg = await c.send(new K.RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'app1' }));
    assert.equal(reg.Consumer.ConsumerName, 'app1');
    assert.equal(reg.Consumer.ConsumerStatus, 'ACTIVE');
    assert.ok(reg.Consumer.ConsumerARN.startsWith(`${arn}/consumer/app1:`));
    await c.send(new K.RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'app2' }));
    let e = await failure(() => c.send(new K.RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'app1' })));
    assert.equal(e.name, 'ResourceInUseException');

    const d = await c.send(new K.DescribeStreamConsumerCommand({ ConsumerARN: reg.Consumer.ConsumerARN }));
    assert.equal(d.ConsumerDescription.StreamARN, arn);
    assert.equal(d.ConsumerDescription.ConsumerName, 'app1');
    const byName = await c.send(new K.DescribeStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'app2' }));
    assert.equal(byName.ConsumerDescription.ConsumerName, 'app2');

    const page = await c.send(new K.ListStreamConsumersCommand({ StreamARN: arn, MaxResults: 1 }));
    assert.equal(page.Consumers.length, 1);
    const page2 = await c.send(new K.ListStreamConsumersCommand({ StreamARN: arn, NextToken: page.NextToken }));
    assert.deepEqual([page.Consumers[0].ConsumerName, page2.Consumers[0].ConsumerName], ['app1', 'app2']);
    const summary = await c.send(new K.DescribeStreamSummaryCommand({ StreamName: name }));
    assert.equal(summary.StreamDescriptionSummary.ConsumerCount, 2);

    e = await failure(() => c.send(new K.DeleteStreamCommand({ StreamName: name })));
    assert.equal(e.name, 'ResourceInUseException');
    await c.send(new K.DeregisterStreamConsumerCommand({ ConsumerARN: reg.Consumer.ConsumerARN }));
    e = await failure(() => c.send(new K.DescribeStreamConsumerCommand({ ConsumerARN: reg.Consumer.ConsumerARN })));
    assert.equal(e.name, 'ResourceNotFoundException');
    e = await failure(() => c.send(new K.DescribeStreamConsumerCommand({ StreamARN: arn })));
    assert.equal(e.name, 'InvalidArgumentException');
    await c.send(new K.DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true }));
  });
}
