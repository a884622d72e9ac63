// SigV4 through the AWS SDK against a server with credentials configured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, startServer, clients, destroyAll, failure, unique, CREDENTIALS } from './harness.mjs';

const K = sdk;
let server;
before(async () => {
  server = await startServer(['--auth', `${CREDENTIALS.accessKeyId}:${CREDENTIALS.secretAccessKey}`]);
});
after(async () => server.stop());

for (const transport of ['h2', 'h1']) {
  test(`signed requests pass, bad ones get Kinesis's answers over ${transport}`, async () => {
    const good = clients(server.endpoint);
    const wrongSecret = clients(server.endpoint, { ...CREDENTIALS, secretAccessKey: 'wrong' });
    const unknownKey = clients(server.endpoint, { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' });
    try {
      const name = unique(`a-${transport}`);
      await good[transport].send(new K.CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
      const put = await good[transport].send(new K.PutRecordCommand({
        StreamName: name, PartitionKey: 'k', Data: new TextEncoder().encode('signed'),
      }));
      assert.ok(put.SequenceNumber);
      let e = await failure(() => wrongSecret[transport].send(new K.ListStreamsCommand({})));
      assert.equal(e.name, 'InvalidSignatureException');
      e = await failure(() => unknownKey[transport].send(new K.ListStreamsCommand({})));
      assert.equal(e.name, 'UnrecognizedClientException');
    } finally {
      destroyAll(good);
      destroyAll(wrongSecret);
      destroyAll(unknownKey);
    }
  });
}

test('an unsigned request is refused with MissingAuthenticationToken', async () => {
  const res = await fetch(server.endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Kinesis_20131202.ListStreams' },
    body: '{}',
  });
  const body = await res.json();
  assert.equal(res.status, 400);
  assert.equal(body.__type, 'MissingAuthenticationTokenException');
});
