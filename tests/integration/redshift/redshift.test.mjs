// The redshift sink against a real PostgreSQL started here (postgres mode: COPY FROM STDIN),
// and its Redshift mode's staging (object + manifest) against s3rver behind the SigV4 verifier.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, PASSWORD } from './pg_peer.mjs';
import { startS3, ACCESS_KEY, SECRET_KEY } from '../s3/s3_peer.mjs';
import { startDriver } from '../s3/harness.mjs';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const OK = 0, RETRY = 1, REJECT = 2, PARTIAL = 3;
let pg;

before(async () => { pg = await startPostgres(); });
after(() => pg?.stop());

function pgOpts(extra = {}) {
  return { mode: 'postgres', conninfo: pg.conninfo, password_file: pg.pwfile, sslmode: 'disable',
    connect_timeout: '5s', ...extra };
}

test('JSON lines load into a jsonb column; a bad row is rejected with the server message', async () => {
  pg.psql('CREATE TABLE "Events" (id serial PRIMARY KEY, doc jsonb NOT NULL)');
  const d = await startDriver('redshift', pgOpts({ table: 'public.Events', format: 'json', json_column: 'doc' }));
  try {
    const records = ['{"a":1}', '{"s":"tab\\tquote\\"back\\\\slash é"}', 'not json', '{"n":\n2}',
      '{"last":[1,2,3]}\n'];
    const r = await d.send({ op: 'deliver', batch_id: 'b1', records });
    assert.equal(r.code, PARTIAL, JSON.stringify(r));
    assert.deepEqual(r.records.map((x) => x.code), [OK, OK, REJECT, OK, OK], JSON.stringify(r));
    assert.match(r.records[2].reason, /^Postgres\.22P02: invalid input syntax for type json/);
    const rows = pg.psql('SELECT doc::text FROM "Events" ORDER BY id').split('\n');
    assert.deepEqual(rows, ['{"a": 1}', '{"s": "tab\\tquote\\"back\\\\slash é"}', '{"n": 2}',
      '{"last": [1, 2, 3]}']);
    const h = await d.send({ op: 'health' });
    assert.equal(h.code, 0);
  } finally {
    await d.close();
  }
});

test('CSV rows load into typed columns; bad rows are set aside, the rest loads', async () => {
  pg.psql('CREATE TABLE t_csv (n int, s text)');
  const d = await startDriver('redshift', pgOpts({ table: 't_csv', format: 'csv', columns: 'n, s' }));
  try {
    const records = ['1,one', 'x,two', '3,"th,ree"', '4', '5,"multi\nline"', '6,six'];
    const r = await d.send({ op: 'deliver', batch_id: 'b2', records });
    assert.equal(r.code, PARTIAL, JSON.stringify(r));
    assert.deepEqual(r.records.map((x) => x.code), [OK, REJECT, OK, REJECT, OK, OK]);
    assert.match(r.records[1].reason, /invalid input syntax for type integer/);
    assert.match(r.records[3].reason, /missing data for column "s"/);
    assert.equal(pg.psql("SELECT string_agg(n || ':' || s, '|' ORDER BY n) FROM t_csv"),
      '1:one|3:th,ree|5:multi\nline|6:six');
  } finally {
    await d.close();
  }
});

test('a server restart mid-stream is survived by reconnecting', async () => {
  pg.psql('CREATE TABLE t_restart (data jsonb)');
  const d = await startDriver('redshift', pgOpts({ table: 't_restart' }));
  try {
    let r = await d.send({ op: 'deliver', batch_id: 'r1', records: ['{"i":1}', '{"i":2}'] });
    assert.equal(r.code, OK, JSON.stringify(r));
    pg.restart();
    r = await d.send({ op: 'deliver', batch_id: 'r2', records: ['{"i":3}', '{"i":4}'], max_attempts: 3 });
    assert.equal(r.code, OK, JSON.stringify(r));
    assert.equal(r.attempts, 2);  // the first attempt finds the old connection dead
    assert.equal(pg.psql('SELECT count(*) FROM t_restart'), '4');
  } finally {
    await d.close();
  }
});

test('a wrong password is retried loudly; a statement timeout is retried', async () => {
  pg.psql('CREATE TABLE t_lock (data jsonb)');
  let d = await startDriver('redshift', pgOpts({ table: 't_lock', password: 'wrong', password_file: '' }));
  try {
    const r = await d.send({ op: 'deliver', batch_id: 'w', records: ['{}'], max_attempts: 1 });
    assert.equal(r.code, RETRY, JSON.stringify(r));
    assert.match(r.error_message, /password authentication failed/);
    assert.match(d.stderr(), /refuses the load/);
  } finally {
    await d.close();
  }
  process.env.SLUICE_TEST_PG_PASSWORD = PASSWORD;
  d = await startDriver('redshift', pgOpts({ table: 't_lock', password_file: '',
    password_env: 'SLUICE_TEST_PG_PASSWORD', statement_timeout: '300ms' }));
  try {
    const locked = pg.background('BEGIN; LOCK TABLE t_lock IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;');
    await new Promise((r) => setTimeout(r, 400));
    const r = await d.send({ op: 'deliver', batch_id: 'l', records: ['{"x":1}'] });
    assert.equal(r.code, RETRY, JSON.stringify(r));
    assert.equal(r.error_code, 'Postgres.57014');  // query_canceled by statement_timeout
    await locked;
    const again = await d.send({ op: 'deliver', batch_id: 'l', records: ['{"x":1}'] });
    assert.equal(again.code, OK, JSON.stringify(again));
  } finally {
    await d.close();
  }
});

test('TLS is verified by default: refused without the server\'s CA, loaded with it', async () => {
  const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pg-tls-'));
  execFileSync('bash', [path.join(import.meta.dirname, '..', 'tls', 'make_certs.sh'), certs]);
  const tpg = await startPostgres({ tls: { cert: path.join(certs, 'server.pem'), key: path.join(certs, 'server.key') } });
  try {
    tpg.psql('CREATE TABLE t_tls (data jsonb)');
    // No sslmode given: verify-full. The system's CAs do not know this server's.
    const base = { mode: 'postgres', conninfo: tpg.conninfo, password_file: tpg.pwfile, connect_timeout: '5s',
      table: 't_tls' };
    for (const extra of [{}, { sslrootcert: path.join(certs, 'rogue-ca.pem') }]) {
      const d = await startDriver('redshift', { ...base, ...extra });
      try {
        const r = await d.send({ op: 'deliver', batch_id: 'v', records: ['{"n":0}'], max_attempts: 1 });
        assert.equal(r.code, RETRY, JSON.stringify(r));
        assert.match(r.error_message, /certificate verify failed/);
        assert.match(d.stderr(), /refuses the load/);  // loud: the configuration's doing
      } finally {
        await d.close();
      }
    }
    // The name is checked too: a certificate for localhost/127.0.0.1 does not pass as another host.
    const wrongName = await startDriver('redshift', { ...base, sslrootcert: path.join(certs, 'ca.pem'),
      conninfo: tpg.conninfo.replace('host=127.0.0.1', 'host=127.0.0.1 hostaddr=127.0.0.1 host=pg.invalid') });
    try {
      const r = await wrongName.send({ op: 'deliver', batch_id: 'n', records: ['{"n":0}'], max_attempts: 1 });
      assert.equal(r.code, RETRY, JSON.stringify(r));
      assert.match(r.error_message, /does not match host name "pg\.invalid"/);
    } finally {
      await wrongName.close();
    }
    const d = await startDriver('redshift', { ...base, sslrootcert: path.join(certs, 'ca.pem') });
    try {
      const r = await d.send({ op: 'deliver', batch_id: 'ok', records: ['{"n":1}', '{"n":2}'] });
      assert.equal(r.code, OK, JSON.stringify(r));
      // The sink's connection, still open, is TLS.
      assert.equal(tpg.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) " +
        "WHERE a.application_name = 'sluice' AND s.ssl"), '1');
    } finally {
      await d.close();
    }
    assert.equal(tpg.psql('SELECT count(*) FROM t_tls'), '2');
  } finally {
    tpg.stop();
    fs.rmSync(certs, { recursive: true, force: true });
  }
});

test('redshift mode stages the batch and its manifest in S3, then runs the COPY', async () => {
  const s3 = await startS3(['stage']);
  const d = await startDriver('redshift', {
    mode: 'redshift', conninfo: pg.conninfo, password_file: pg.pwfile, sslmode: 'disable',
    table: 'analytics.events', s3_bucket: 'stage', s3_prefix: 'rs/', s3_endpoint: s3.endpoint,
    s3_force_path_style: 'true', s3_access_key_id: ACCESS_KEY, s3_secret_access_key: SECRET_KEY,
    iam_role: 'arn:aws:iam::123456789012:role/Loader',
  });
  try {
    const batch = '2026/01/01/00/d-1-2026-01-01-00-00-00-abc';
    const r = await d.send({ op: 'deliver', batch_id: batch, records: ['{"a":1}', '{"b":2}'] });
    // PostgreSQL does not speak Redshift's COPY ... IAM_ROLE: a syntax error, retried loudly.
    assert.equal(r.code, RETRY, JSON.stringify(r));
    assert.equal(r.error_code, 'Postgres.42601');
    assert.match(pg.log(), /COPY "analytics"."events" FROM 's3:\/\/stage\/rs\/manifests\/2026\/01\/01\/00\/d-1-2026-01-01-00-00-00-abc' IAM_ROLE 'arn:aws:iam::123456789012:role\/Loader' REGION 'us-east-1' MANIFEST JSON 'auto'/);
    const obj = await s3.get('stage', `rs/${batch}`);
    assert.equal(obj.status, 200);
    assert.equal(obj.body.toString(), '{"a":1}\n{"b":2}\n');
    const man = await s3.get('stage', `rs/manifests/${batch}`);
    assert.deepEqual(JSON.parse(man.body.toString()),
      { entries: [{ url: `s3://stage/rs/${batch}`, mandatory: true }] });
    assert.equal(s3.state.mismatches, 0);
  } finally {
    await d.close();
    await s3.close();
  }
});
