// Encryption at rest through the AWS SDK against the built daemon (`sluice run`, SLUICE_BIN):
// StartStreamEncryption with AWS's managed key, 2,000 records none of which (data or partition
// key) can be found in any file the daemon wrote, read back exactly once and in order after a
// clean restart and after kill -9; StopStreamEncryption; an unknown key; a configured stream
// encrypted from its start; key rotation by appending to the keyring and reloading, and a start
// refused once a key that sealed segments is gone. Policies and the audit log cover the calls.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readdirSync, readFileSync, lstatSync, writeFileSync,
  chmodSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sdk, clients, CREDENTIALS, failure, streamAnswers } from './harness.mjs';
import { freePort, startDaemon, stop, killAll, adminOf, status } from '../daemons.mjs';

const K = sdk;
const ACCOUNT = '000000000000';
const arn = (stream) => `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/${stream}`;
// Only StopStreamEncryption (and describing) on the stream `enc`.
const STOPPER = { accessKeyId: 'AKIDENCSTOPPER', secretAccessKey: 'sluice-test-stopper' };
// Distinctive in every record of this run, so that a search of the files finds nothing else.
const tag = `${process.pid}x${Math.floor(Math.random() * 1e9).toString(36)}`;

let work;
after(() => {
  killAll();
  if (work && !process.env.DEBUG_KINESIS_ENCRYPTION) rmSync(work, { recursive: true, force: true });
  else if (work) console.error('kept', work);
});

// Streams the config declares besides `configured` (a reload adds one).
let moreStreams = '';

function config(port) {
  return `data_dir: ./data
admin: {listen: "127.0.0.1:0"}
broker:
  encryption: {keyring: ./keyring}
  api:
    listen: 127.0.0.1:${port}
    auth:
      - access_key_id: ${CREDENTIALS.accessKeyId}
        secret_access_key: ${CREDENTIALS.secretAccessKey}
      - access_key_id: ${STOPPER.accessKeyId}
        secret_access_key: ${STOPPER.secretAccessKey}
        policy:
          allow: [kinesis:StopStreamEncryption, kinesis:DescribeStreamSummary]
          resources: [enc]
streams:
  - name: configured
    encryption: {}
${moreStreams}`;
}

// A keyring line from `sluice keygen`.
function keygen(id) {
  return execFileSync(process.env.SLUICE_BIN, ['keygen', '--id', id], { encoding: 'utf8' });
}

function writeKeyring(dir, lines) {
  const path = join(dir, 'keyring');
  writeFileSync(path, lines.join(''), { mode: 0o600 });
  chmodSync(path, 0o600);
}

async function start(dir, port) {
  const daemon = startDaemon(dir, config(port));
  const client = clients(`http://127.0.0.1:${port}`).h1;
  await streamAnswers(client, daemon, 'configured');
  return { daemon, client };
}

// Every file under `dir`, dot files and all.
function everyFile(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) out = out.concat(everyFile(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

// The files under `dir` whose bytes hold `needle`.
function filesHolding(dir, needle) {
  const n = Buffer.from(needle);
  return everyFile(dir).filter((f) => readFileSync(f).includes(n));
}

// What was put, in put order, by stream: {key, data}.
const expected = new Map();

// Puts `count` records numbered from `from`, 500 a call, each with its own partition key;
// `kind` marks the data and key ("secret", "plain", ...). Checks the EncryptionType answered.
async function put(c, stream, kind, from, count, encryptionType) {
  const list = expected.get(stream) ?? [];
  expected.set(stream, list);
  for (let i = from; i < from + count; i += 500) {
    const records = [];
    for (let n = i; n < Math.min(i + 500, from + count); n++) {
      records.push({ PartitionKey: `${kind}-pk-${tag}-${n}`,
        Data: Buffer.from(`${kind}-marker-${tag}-${n}-${'z'.repeat(40)}`) });
    }
    const r = await c.send(new K.PutRecordsCommand({ StreamName: stream, Records: records }));
    assert.equal(r.FailedRecordCount, 0);
    assert.equal(r.EncryptionType, encryptionType);
    for (const rec of records) list.push({ key: rec.PartitionKey, data: rec.Data.toString() });
  }
}

// Reads every shard of `stream` from TRIM_HORIZON and checks that each record put is there once,
// nothing else is, each shard in put order, with `encryptionType` on every record (by the
// stream's state now; AWS leaves the member out for unencrypted records).
async function readBack(c, stream, encryptionType) {
  const want = expected.get(stream) ?? [];
  const order = new Map(want.map((r, i) => [r.data, i]));
  const seen = new Set();
  const shards = (await c.send(new K.ListShardsCommand({ StreamName: stream }))).Shards;
  for (const shard of shards) {
    let it = (await c.send(new K.GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId,
      ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    let last = -1;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 1000, 'GetRecords does not come to an end');
      const r = await c.send(new K.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
      for (const rec of r.Records) {
        const data = Buffer.from(rec.Data).toString();
        const i = order.get(data);
        assert.ok(i !== undefined, `a record that was not put: ${data.slice(0, 60)}`);
        assert.ok(!seen.has(data), `read twice: ${data.slice(0, 60)}`);
        assert.ok(i > last, `out of order in ${shard.ShardId}: ${data.slice(0, 60)}`);
        assert.equal(rec.PartitionKey, want[i].key);
        assert.equal(rec.EncryptionType, encryptionType);
        seen.add(data);
        last = i;
      }
      if (r.Records.length === 0 && r.MillisBehindLatest === 0) break;
      it = r.NextShardIterator;
    }
  }
  assert.equal(seen.size, want.length, `${stream}: every record read back`);
}

async function summary(c, stream) {
  const s = (await c.send(new K.DescribeStreamSummaryCommand({ StreamName: stream })))
    .StreamDescriptionSummary;
  return s.KeyId ? `${s.EncryptionType} ${s.KeyId}` : s.EncryptionType;
}

async function reload(daemon) {
  const admin = await adminOf(daemon);
  const r = await fetch(`http://${admin}/reload`, { method: 'POST', headers: { 'X-Sluice-Admin': '1' } });
  return r.json();
}

async function streamStatus(daemon, name) {
  return (await status(daemon)).streams.find((s) => s.name === name);
}

test('encrypted streams: nothing in the files, everything read back, across restarts and a key rotation',
  { timeout: 240000 }, async () => {
    work = mkdtempSync(join(tmpdir(), 'sluice-kinesis-encryption-'));
    const dir = join(work, 'daemon');
    mkdirSync(dir, { recursive: true });
    const k1 = keygen('k1');
    writeKeyring(dir, [k1]);
    const port = await freePort();
    let { daemon, client: c } = await start(dir, port);

    // A configured stream with `encryption: {}` is encrypted from its start, under the primary.
    assert.equal(await summary(c, 'configured'), 'KMS alias/aws/kinesis');
    const conf = await streamStatus(daemon, 'configured');
    assert.equal(conf.encryption, 'KMS');
    assert.equal(conf.encryption_key_id, 'k1');
    await put(c, 'configured', 'configured', 0, 300, 'KMS');

    await c.send(new K.CreateStreamCommand({ StreamName: 'enc', StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
    assert.equal(await summary(c, 'enc'), 'NONE');
    const stopper = clients(`http://127.0.0.1:${port}`, STOPPER).h1;
    let e = await failure(() => stopper.send(new K.StartStreamEncryptionCommand({
      StreamName: 'enc', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' })));
    assert.equal(e.name, 'AccessDeniedException');
    assert.match(e.message, /kinesis:StartStreamEncryption on resource: arn:aws:kinesis:us-east-1:0{12}:stream\/enc/);
    const started = await c.send(new K.StartStreamEncryptionCommand({
      StreamName: 'enc', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }));
    assert.equal(await summary(c, 'enc'), 'KMS alias/aws/kinesis');
    e = await failure(() => c.send(new K.StartStreamEncryptionCommand({
      StreamARN: arn('enc'), EncryptionType: 'KMS', KeyId: 'arn:aws:kms:us-east-1:000000000000:key/no-such-key' })));
    assert.equal(e.name, 'KMSNotFoundException');
    assert.equal(e.message, "Key 'arn:aws:kms:us-east-1:000000000000:key/no-such-key' does not exist");
    const notFoundId = e.$metadata.requestId;
    assert.equal(await summary(c, 'enc'), 'KMS alias/aws/kinesis');  // unchanged

    await put(c, 'enc', 'secret', 0, 2000, 'KMS');
    const secrets = [`secret-marker-${tag}`, `secret-pk-${tag}`, `configured-marker-${tag}`,
      `configured-pk-${tag}`];
    for (const s of secrets) assert.deepEqual(filesHolding(dir, s), [], s);
    await readBack(c, 'enc', 'KMS');
    await readBack(c, 'configured', 'KMS');

    // A clean restart, then a kill -9 just after a put was answered.
    c.destroy();
    await stop(daemon, 'SIGTERM');
    assert.equal(daemon.exitCode, 0, daemon.logText());
    ({ daemon, client: c } = await start(dir, port));
    assert.equal(await summary(c, 'enc'), 'KMS alias/aws/kinesis');
    await readBack(c, 'enc', 'KMS');
    await put(c, 'enc', 'secret', 2000, 500, 'KMS');
    c.destroy();
    await stop(daemon, 'SIGKILL');
    ({ daemon, client: c } = await start(dir, port));
    await readBack(c, 'enc', 'KMS');
    await readBack(c, 'configured', 'KMS');
    for (const s of secrets) assert.deepEqual(filesHolding(dir, s), [], s);

    // Stopped (by a key whose policy allows only that, on this stream): new records are plain;
    // the sealed ones still read.
    e = await failure(() => stopper.send(new K.StopStreamEncryptionCommand({
      StreamName: 'configured', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' })));
    assert.equal(e.name, 'AccessDeniedException');
    await stopper.send(new K.StopStreamEncryptionCommand({
      StreamName: 'enc', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }));
    stopper.destroy();
    assert.equal(await summary(c, 'enc'), 'NONE');
    await put(c, 'enc', 'plain', 0, 200, 'NONE');
    await readBack(c, 'enc', undefined);
    assert.ok(filesHolding(join(dir, 'data'), `plain-marker-${tag}-199-`).length > 0,
      'a plain record is in the files');
    assert.deepEqual(filesHolding(dir, `secret-marker-${tag}`), []);

    // Key rotation: a key appended to the keyring and a reload make it the primary of the
    // streams without a key id; the segments sealed under k1 still read. The same reload adds a
    // stream that names the new key.
    await c.send(new K.StartStreamEncryptionCommand({
      StreamName: 'enc', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }));
    appendFileSync(join(dir, 'keyring'), keygen('k2'));
    moreStreams = '  - name: added\n    encryption: {key_id: k2}\n';
    writeFileSync(join(dir, 'sluice.yaml'), config(port), { mode: 0o600 });
    const answer = await reload(daemon);
    assert.equal(answer.ok, true, JSON.stringify(answer));
    assert.deepEqual(answer.added, ['stream/added']);
    assert.deepEqual(answer.notes, [], 'the keyring applies at a reload');
    for (const name of ['enc', 'configured']) {
      const st = await streamStatus(daemon, name);
      assert.equal(st.encryption, 'KMS', name);
      assert.equal(st.encryption_key_id, 'k2', name);
      assert.equal(st.encryption_key_primary, true, name);
    }
    assert.equal(await summary(c, 'added'), 'KMS k2');
    assert.equal((await streamStatus(daemon, 'added')).encryption_key_primary, undefined);
    await put(c, 'added', 'added', 0, 100, 'KMS');
    await put(c, 'enc', 'rotated', 0, 500, 'KMS');
    await put(c, 'configured', 'configured', 300, 300, 'KMS');
    await readBack(c, 'enc', 'KMS');
    await readBack(c, 'configured', 'KMS');
    await readBack(c, 'added', 'KMS');
    for (const s of [...secrets, `rotated-marker-${tag}`, `rotated-pk-${tag}`, `added-marker-${tag}`]) {
      assert.deepEqual(filesHolding(dir, s), [], s);
    }

    // The audit log has the calls, as any other.
    const audit = readFileSync(join(dir, 'data', 'audit', 'audit.log'), 'utf8').split('\n')
      .filter((l) => l).map((l) => JSON.parse(l));
    const line = (rid) => audit.filter((l) => l.request_id === rid);
    assert.equal(line(started.$metadata.requestId).length, 1);
    assert.equal(line(started.$metadata.requestId)[0].action, 'kinesis:StartStreamEncryption');
    assert.equal(line(started.$metadata.requestId)[0].resource, arn('enc'));
    assert.equal(line(started.$metadata.requestId)[0].result, 'ok');
    assert.equal(line(notFoundId)[0].result, 'KMSNotFoundException');
    assert.ok(audit.some((l) => l.action === 'kinesis:StopStreamEncryption' &&
      l.resource === arn('configured') && l.result === 'AccessDeniedException'));

    // A reloaded keyring that lacks a key a stream names is refused; the one in use stays.
    await c.send(new K.StartStreamEncryptionCommand({
      StreamName: 'enc', EncryptionType: 'KMS', KeyId: 'arn:aws:kms:us-east-1:000000000000:key/k1' }));
    assert.equal(await summary(c, 'enc'), 'KMS k1');
    const k2 = readFileSync(join(dir, 'keyring'), 'utf8').split('\n')[1] + '\n';
    writeKeyring(dir, [k2]);
    const refused = await reload(daemon);
    assert.equal(refused.ok, false, JSON.stringify(refused));
    assert.equal(refused.errors.length, 1, JSON.stringify(refused));
    assert.match(refused.errors[0], /^broker\.encryption\.keyring: .*\bk1\b.*\(the keyring in use stays\)$/);
    writeKeyring(dir, [k1, k2]);
    await put(c, 'enc', 'secret', 2500, 100, 'KMS');
    await readBack(c, 'enc', 'KMS');

    // A configured stream's encryption is the config's again at the next start, whatever the
    // API did meanwhile.
    await c.send(new K.StopStreamEncryptionCommand({
      StreamName: 'configured', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }));
    assert.equal(await summary(c, 'configured'), 'NONE');

    // Without k1, segments sealed under it cannot be read: the daemon refuses to start, naming it.
    c.destroy();
    await stop(daemon, 'SIGTERM');
    assert.equal(daemon.exitCode, 0, daemon.logText());
    writeKeyring(dir, [k2]);
    daemon = startDaemon(dir, config(port));
    await new Promise((r) => daemon.once('exit', r));
    assert.notEqual(daemon.exitCode, 0);
    assert.match(daemon.logSinceStart(), /\bk1\b/, daemon.logSinceStart());

    // With k1 back, everything reads again.
    writeKeyring(dir, [k1, k2]);
    ({ daemon, client: c } = await start(dir, port));
    assert.equal(await summary(c, 'configured'), 'KMS alias/aws/kinesis');
    assert.match(daemon.logSinceStart(), /msg="stream encryption started" stream=configured/);
    await readBack(c, 'enc', 'KMS');
    await readBack(c, 'configured', 'KMS');
    await readBack(c, 'added', 'KMS');
    c.destroy();
    await stop(daemon, 'SIGTERM');
    assert.equal(daemon.exitCode, 0, daemon.logText());
  });
