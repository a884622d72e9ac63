// The AWS SDK side of bench.mjs: the client configuration and the PutRecords / GetRecords loops,
// imported by bench.mjs for one in-process client, and run as a child process (one SDK client per
// process, started by bench.mjs with --sdk-clients N > 1) so the SDK's per-request CPU (SigV4
// signing and hashing of each ~85 KB body, base64, JSON) spreads over cores.
//
// Child protocol (over the fork IPC channel):
//   parent -> child  { op: 'put' | 'get', port, h1, stream, seconds, concurrency, shards: [ids] }
//   child  -> parent { ready: true }            client made and connected (one DescribeStreamSummary)
//   parent -> child  { go: true }               start barrier
//   child  -> parent { records, seconds }       or { error: message }
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as K from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export { K };

// sluice: the SDK's default HTTP/2 handler; kinesalite (no HTTP/2): NodeHttpHandler keep-alive
// HTTP/1.1 with as many sockets as requests in flight.
export function client(port, h1, concurrency) {
  const cfg = {
    region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1,
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
  };
  if (h1) {
    cfg.requestHandler = new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: concurrency }) });
  }
  return new K.KinesisClient(cfg);
}

export const shardId = (s) => `shardId-${String(s).padStart(12, '0')}`;

// PutRecords of 500 x 100 B, `concurrency` requests in flight, until `seconds` have passed.
export async function sdkPut(c, stream, seconds, concurrency) {
  const data = new Uint8Array(100).fill(120);
  const records = Array.from({ length: 500 }, (_, i) => ({ PartitionKey: `pk-${i}`, Data: data }));
  const end = Date.now() + seconds * 1000;
  const start = Date.now();
  let ok = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const r = await c.send(new K.PutRecordsCommand({ StreamName: stream, Records: records }));
      ok += 500 - r.FailedRecordCount;
    }
  }));
  return { records: ok, seconds: (Date.now() - start) / 1000 };
}

// GetRecords (Limit 10000) of the given shards, one after the other, TRIM_HORIZON to the end.
export async function sdkGet(c, stream, shards) {
  const start = Date.now();
  let total = 0;
  for (const s of shards) {
    let it = (await c.send(new K.GetShardIteratorCommand({
      StreamName: stream, ShardId: shardId(s), ShardIteratorType: 'TRIM_HORIZON',
    }))).ShardIterator;
    for (;;) {
      const r = await c.send(new K.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
      total += r.Records.length;
      if (r.Records.length === 0 || !r.NextShardIterator) break;
      it = r.NextShardIterator;
    }
  }
  return { records: total, seconds: (Date.now() - start) / 1000 };
}

async function child() {
  // The parent disconnecting (done, or gone) ends the child.
  process.on('disconnect', () => process.exit(0));
  const cfg = await new Promise((resolve) => process.once('message', resolve));
  try {
    const c = client(cfg.port, cfg.h1, cfg.concurrency);
    // Connect (and warm the signer) before the barrier.
    await c.send(new K.DescribeStreamSummaryCommand({ StreamName: cfg.stream }));
    const go = new Promise((resolve) => process.once('message', resolve));
    process.send({ ready: true });
    await go;
    const r = cfg.op === 'put'
      ? await sdkPut(c, cfg.stream, cfg.seconds, cfg.concurrency)
      : await sdkGet(c, cfg.stream, cfg.shards);
    c.destroy();
    process.send(r);
  } catch (e) {
    process.send({ error: String(e?.stack ?? e) });
  }
  // Stay until the parent has the answer and disconnects (exiting here could race the message).
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) await child();
