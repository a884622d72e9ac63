// Every network sink verifies its peer's TLS certificate by default: against a server whose
// certificate a private CA signed, a batch is refused with the host's CA bundle (no ca_file) and
// with another CA's, and delivered with `ca_file` naming the right one. Peers: s3rver over https,
// a sluice daemon with broker.api.tls (the kinesis and firehose sinks), and receivers answering
// as a Firehose HTTP endpoint, an OpenSearch _bulk and a Splunk HEC do (the http, opensearch and
// splunk sinks). Each sink is driven through the real plugin host (sink_driver). The kafka sink
// verifies through librdkafka (`properties`: security.protocol ssl, ssl.ca.location); no Kafka
// broker with TLS runs here, so it has no case. Run by run.sh, which makes the PKI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { startDriver } from '../s3/harness.mjs';
import { freePort, startDaemon, stop, waitFor } from '../daemons.mjs';

const OK = 0, RETRY = 1;
const certs = process.env.SLUICE_TLS_CERTS;
const work = process.env.SLUICE_TLS_WORK;
if (!certs || !work) throw new Error('run through run.sh (SLUICE_TLS_CERTS, SLUICE_TLS_WORK)');
const cert = (name) => join(certs, name);
const serverTls = () => ({ cert: readFileSync(cert('server.pem')), key: readFileSync(cert('server.key')) });

const KEY = { id: 'AKIDSINKTLS', secret: 'sink-tls-secret' };
const peers = {};
const cleanup = [];

// An https server answering each request with `answer(req, body)` -> [status, json].
async function receiver(answer) {
  const server = createServer(serverTls(), (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const [status, doc] = answer(req, Buffer.concat(chunks));
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return `https://localhost:${server.address().port}`;
}

before(async () => {
  mkdirSync(work, { recursive: true });
  // Firehose's HTTP endpoint delivery protocol: the request id echoed with a timestamp.
  peers.http = await receiver((req) => [200, { requestId: req.headers['x-amz-firehose-request-id'],
    timestamp: Date.now() }]);
  // OpenSearch _bulk: an item per action line, all created.
  peers.opensearch = await receiver((req, body) => {
    const lines = body.toString().split('\n').filter((l) => l);
    const items = [];
    for (let i = 0; i < lines.length; i += 2) items.push({ index: { _index: 'logs', status: 201 } });
    return [200, { took: 1, errors: false, items }];
  });
  // Splunk HEC.
  peers.splunk = await receiver(() => [200, { text: 'Success', code: 0 }]);

  const s3dir = mkdtempSync(join(tmpdir(), 'sluice-s3rver-tls-'));
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: s3dir, silent: true,
    configureBuckets: [{ name: 'logs' }], ...serverTls() });
  const { port: s3Port } = await s3.run();
  peers.s3 = `https://localhost:${s3Port}`;
  cleanup.push(async () => { await s3.close(); rmSync(s3dir, { recursive: true, force: true }); });

  // A sluice daemon: the Kinesis and Firehose APIs over TLS.
  const apiPort = await freePort();
  const dir = join(work, 'central');
  const daemon = startDaemon(dir, `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  api:
    listen: 127.0.0.1:${apiPort}
    auth: [{access_key_id: ${KEY.id}, secret_access_key: ${KEY.secret}}]
    tls: {cert_file: ${cert('server.pem')}, key_file: ${cert('server.key')}}
streams:
  - {name: fleet-in, shards: 1}
deliveries:
  - name: fleet
    direct_put: true
    buffer: {size: 1MiB, interval: 1s}
    sink: {type: blackhole}
`);
  cleanup.push(() => stop(daemon, 'SIGTERM'));
  await waitFor('the central daemon', () => {
    if (daemon.exitCode !== null) throw new Error('daemon exited: ' + daemon.logText());
    return /kinesis api listening/.test(daemon.logSinceStart());
  }, 20000, 50);
  peers.api = `https://localhost:${apiPort}`;
});

after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const sinks = {
  http: () => ({ url: `${peers.http}/ingest` }),
  opensearch: () => ({ endpoint: peers.opensearch, index: 'logs' }),
  splunk: () => ({ endpoint: peers.splunk, token: 'hec-token-0000', indexer_ack: 'false' }),
  s3: () => ({ bucket: 'logs', endpoint: peers.s3, force_path_style: 'true', access_key_id: 'S3RVER',
    secret_access_key: 'S3RVER' }),
  kinesis: () => ({ stream: 'fleet-in', endpoint: peers.api, access_key_id: KEY.id,
    secret_access_key: KEY.secret }),
  firehose: () => ({ delivery_stream: 'fleet', endpoint: peers.api, access_key_id: KEY.id,
    secret_access_key: KEY.secret }),
};

for (const [type, opts] of Object.entries(sinks)) {
  test(`${type}: refused without the server's CA and with another CA, delivered with it`, async () => {
    const cases = [
      { extra: {}, want: RETRY },
      { extra: { ca_file: cert('rogue-ca.pem') }, want: RETRY },
      { extra: { ca_file: cert('ca.pem') }, want: OK },
    ];
    for (const { extra, want } of cases) {
      const d = await startDriver(type, { ...opts(), connect_timeout: '5s', ...extra });
      try {
        const batch = { op: 'deliver', batch_id: `b-${type}-${Object.keys(extra).length}`, max_attempts: 1 };
        if (type === 's3') {  // an object sink: a key and a file
          const file = join(work, `obj-${batch.batch_id}`);
          writeFileSync(file, '{"line":1}\n{"line":2}\n');
          Object.assign(batch, { key: `tls/${batch.batch_id}`, file });
        } else {
          batch.records = ['{"line":1}', '{"line":2}'];
        }
        const r = await d.send(batch);
        assert.equal(r.code, want, `${JSON.stringify(extra)}: ${JSON.stringify(r)}`);
        if (want === RETRY) {
          assert.match(JSON.stringify(r), /certificate|SSL/i, JSON.stringify(r));
        }
      } finally {
        await d.close();
      }
    }
  });
}
