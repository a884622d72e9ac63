// The account, capacity-mode, monitoring, resource-tag, resource-policy and record-size operations
// through the AWS SDK against the built daemon (`sluice run`, SLUICE_BIN), and what of them
// survives a restart: the mode, the metrics, tags, policies and paginating NextTokens.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sdk, clients, CREDENTIALS, failure, streamAnswers } from './harness.mjs';
import { freePort, startDaemon, stop, killAll } from '../daemons.mjs';

const K = sdk;
let work;
after(() => {
  killAll();
  if (work && !process.env.DEBUG_KINESIS_OPS) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

function config(port) {
  return `data_dir: ./data
broker:
  api:
    listen: 127.0.0.1:${port}
    auth:
      - access_key_id: ${CREDENTIALS.accessKeyId}
        secret_access_key: ${CREDENTIALS.secretAccessKey}
streams:
  - name: configured
    shards: 1
`;
}

async function start(dir, port) {
  const daemon = startDaemon(dir, config(port));
  const client = clients(`http://127.0.0.1:${port}`).h1;
  await streamAnswers(client, daemon, 'configured');
  return { daemon, client };
}

test('account, mode, monitoring, tags and policies, before and after a restart',
  { timeout: 120000 }, async () => {
    work = mkdtempSync(join(tmpdir(), 'sluice-kinesis-ops-'));
    const dir = join(work, 'daemon');
    const port = await freePort();
    let { daemon, client: c } = await start(dir, port);

    await c.send(new K.CreateStreamCommand({
      StreamName: 'ops', ShardCount: 3, StreamModeDetails: { StreamMode: 'PROVISIONED' },
    }));
    await c.send(new K.CreateStreamCommand({
      StreamName: 'ops-od', StreamModeDetails: { StreamMode: 'ON_DEMAND' },
    }));
    const arn = (await c.send(new K.DescribeStreamSummaryCommand({ StreamName: 'ops' })))
      .StreamDescriptionSummary.StreamARN;

    const limits = await c.send(new K.DescribeLimitsCommand({}));
    assert.ok(limits.ShardLimit > 0);
    assert.equal(limits.OpenShardCount, 3 + 4 + 1);  // ops, ops-od, configured
    const onDemandBefore = limits.OnDemandStreamCount;
    assert.ok(onDemandBefore >= 1);
    const account = await c.send(new K.DescribeAccountSettingsCommand({}));
    assert.equal(account.MinimumThroughputBillingCommitment.Status, 'DISABLED');

    // Capacity mode.
    await c.send(new K.UpdateStreamModeCommand({
      StreamARN: arn, StreamModeDetails: { StreamMode: 'ON_DEMAND' },
    }));
    let sum = (await c.send(new K.DescribeStreamSummaryCommand({ StreamARN: arn })))
      .StreamDescriptionSummary;
    assert.equal(sum.StreamModeDetails.StreamMode, 'ON_DEMAND');
    assert.equal(sum.MaxRecordSizeInKiB, 1024);
    assert.equal((await c.send(new K.DescribeLimitsCommand({}))).OnDemandStreamCount,
                 onDemandBefore + 1);

    // Enhanced monitoring.
    let mon = await c.send(new K.EnableEnhancedMonitoringCommand({
      StreamARN: arn, ShardLevelMetrics: ['ALL'],
    }));
    assert.deepEqual(mon.CurrentShardLevelMetrics, []);
    assert.equal(mon.DesiredShardLevelMetrics.length, 7);
    mon = await c.send(new K.DisableEnhancedMonitoringCommand({
      StreamName: 'ops', ShardLevelMetrics: ['IncomingBytes', 'OutgoingBytes'],
    }));
    assert.equal(mon.DesiredShardLevelMetrics.length, 5);
    assert.ok(!mon.DesiredShardLevelMetrics.includes('IncomingBytes'));

    // Tags of the stream and of a consumer, through both families of calls.
    await c.send(new K.TagResourceCommand({ ResourceARN: arn, Tags: { team: 'logs', env: 'test' } }));
    await c.send(new K.UntagResourceCommand({ ResourceARN: arn, TagKeys: ['env'] }));
    assert.deepEqual((await c.send(new K.ListTagsForStreamCommand({ StreamName: 'ops' }))).Tags,
                     [{ Key: 'team', Value: 'logs' }]);
    const consumer = (await c.send(new K.RegisterStreamConsumerCommand({
      StreamARN: arn, ConsumerName: 'reader', Tags: { owner: 'ops' },
    }))).Consumer.ConsumerARN;
    await c.send(new K.TagResourceCommand({ ResourceARN: consumer, Tags: { tier: 'gold' } }));
    assert.deepEqual((await c.send(new K.ListTagsForResourceCommand({ ResourceARN: consumer }))).Tags,
                     [{ Key: 'owner', Value: 'ops' }, { Key: 'tier', Value: 'gold' }]);
    const tooMany = Object.fromEntries([...Array(50).keys()].map((i) => [`k${i}`, 'v']));
    let e = await failure(() => c.send(new K.TagResourceCommand({ ResourceARN: arn, Tags: tooMany })));
    assert.equal(e.name, 'LimitExceededException');

    // Resource policies.
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:root' },
                    Action: 'kinesis:DescribeStreamSummary', Resource: arn }],
    });
    assert.equal((await c.send(new K.GetResourcePolicyCommand({ ResourceARN: arn }))).Policy, '{}');
    await c.send(new K.PutResourcePolicyCommand({ ResourceARN: arn, Policy: policy }));
    const consumerPolicy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: '111111111111' }, Action: 'kinesis:SubscribeToShard',
        Resource: consumer }],
    });
    await c.send(new K.PutResourcePolicyCommand({ ResourceARN: consumer, Policy: consumerPolicy }));
    e = await failure(() => c.send(new K.PutResourcePolicyCommand({ ResourceARN: consumer,
      Policy: '{"Version":"2012-10-17"}' })));
    assert.equal(e.name, 'InvalidArgumentException');
    e = await failure(() => c.send(new K.PutResourcePolicyCommand({ ResourceARN: arn, Policy: '{nope' })));
    assert.equal(e.name, 'InvalidArgumentException');

    // Record size: the current maximum is accepted, a larger one refused.
    await c.send(new K.UpdateMaxRecordSizeCommand({ StreamARN: arn, MaxRecordSizeInKiB: 1024 }));
    e = await failure(() => c.send(new K.UpdateMaxRecordSizeCommand({
      StreamARN: arn, MaxRecordSizeInKiB: 2048,
    })));
    assert.equal(e.name, 'ValidationException');

    // Encryption needs a keyring (broker.encryption.keyring; encryption.test.mjs): this daemon
    // has none, as an AWS account without KMS. Stopping needs no key.
    e = await failure(() => c.send(new K.StartStreamEncryptionCommand({
      StreamName: 'ops', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis',
    })));
    assert.equal(e.name, 'KMSOptInRequired');
    await c.send(new K.StopStreamEncryptionCommand({
      StreamName: 'ops', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis',
    }));
    assert.equal((await c.send(new K.DescribeStreamSummaryCommand({ StreamName: 'ops' })))
      .StreamDescriptionSummary.EncryptionType, 'NONE');

    // Pages started before the restart go on after it.
    const streams = await c.send(new K.ListStreamsCommand({ Limit: 1 }));
    const shards = await c.send(new K.ListShardsCommand({ StreamName: 'ops', MaxResults: 1 }));
    assert.ok(streams.NextToken && shards.NextToken);
    c.destroy();
    await stop(daemon, 'SIGTERM');
    assert.equal(daemon.exitCode, 0, daemon.logText());
    ({ daemon, client: c } = await start(dir, port));

    const rest = await c.send(new K.ListStreamsCommand({ NextToken: streams.NextToken }));
    assert.deepEqual(rest.StreamNames, ['ops', 'ops-od']);
    const more = await c.send(new K.ListShardsCommand({ NextToken: shards.NextToken }));
    assert.deepEqual(more.Shards.map((s) => s.ShardId), ['shardId-000000000001', 'shardId-000000000002']);

    sum = (await c.send(new K.DescribeStreamSummaryCommand({ StreamARN: arn }))).StreamDescriptionSummary;
    assert.equal(sum.StreamModeDetails.StreamMode, 'ON_DEMAND');
    assert.equal(sum.EnhancedMonitoring[0].ShardLevelMetrics.length, 5);
    assert.deepEqual((await c.send(new K.ListTagsForResourceCommand({ ResourceARN: arn }))).Tags,
                     [{ Key: 'team', Value: 'logs' }]);
    assert.equal((await c.send(new K.ListTagsForResourceCommand({ ResourceARN: consumer }))).Tags.length, 2);
    assert.deepEqual(JSON.parse((await c.send(new K.GetResourcePolicyCommand({ ResourceARN: arn }))).Policy),
                     JSON.parse(policy));
    await c.send(new K.DeleteResourcePolicyCommand({ ResourceARN: arn }));
    assert.equal((await c.send(new K.GetResourcePolicyCommand({ ResourceARN: arn }))).Policy, '{}');
    assert.equal((await c.send(new K.GetResourcePolicyCommand({ ResourceARN: consumer }))).Policy,
                 consumerPolicy);
    c.destroy();
    await stop(daemon, 'SIGTERM');
  });
