// A real PostgreSQL for the redshift sink tests: initdb into a temporary directory, started with
// pg_ctl on 127.0.0.1 (a free port) and a unix socket in that directory. PostgreSQL refuses to
// run as root, so under root the server runs as the `postgres` user (runuser). Password
// authentication (scram-sha-256) over TCP, trust over the socket for the test's own psql.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PASSWORD = 'pg-secret-Ω';

function findBin() {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) throw new Error(`PostgreSQL is not installed (${root} missing)`);
  const vers = fs.readdirSync(root).filter((v) => fs.existsSync(`${root}/${v}/bin/initdb`))
    .sort((a, b) => Number(b) - Number(a));
  if (!vers.length) throw new Error(`no initdb under ${root}`);
  return `${root}/${vers[0]}/bin`;
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// `tls`: {cert, key} PEM files: the server also takes TLS connections with that certificate.
export async function startPostgres({ tls } = {}) {
  const bin = findBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pg-'));
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, PASSWORD + '\n', { mode: 0o600 });
  const asRoot = process.getuid() === 0;
  let uid = 0, gid = 0;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const p of [dir, sock, pwfile]) fs.chownSync(p, uid, gid);
  }
  const run = (cmd, args, opts = {}) => {
    const file = asRoot ? 'runuser' : `${bin}/${cmd}`;
    const argv = asRoot ? ['-u', 'postgres', '--', `${bin}/${cmd}`, ...args] : args;
    return execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir, ...opts }).toString();
  };
  run('initdb', ['-D', data, '-U', 'sluice', '--auth-local=trust', '--auth-host=scram-sha-256',
    `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  let serverOpts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off`;
  if (tls) {
    // PostgreSQL wants its key owned by itself and not readable by others.
    const crt = path.join(data, 'server.crt');
    const key = path.join(data, 'server.key');
    fs.copyFileSync(tls.cert, crt);
    fs.copyFileSync(tls.key, key);
    fs.chmodSync(key, 0o600);
    if (asRoot) for (const p of [crt, key]) fs.chownSync(p, uid, gid);
    serverOpts += ' -c ssl=on';
  }
  const log = path.join(dir, 'server.log');
  const ctl = (...args) => run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '30', ...args]);
  ctl('-o', serverOpts, 'start');
  const psql = (sql, db = 'postgres') => run('psql', ['-h', sock, '-p', String(port), '-U', 'sluice',
    '-d', db, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql]).trim();
  return {
    port, pwfile,
    conninfo: `host=127.0.0.1 port=${port} dbname=postgres user=sluice`,
    psql,
    // Runs `sql` in the background through psql; resolves when psql exits.
    background(sql) {
      const file = asRoot ? 'runuser' : `${bin}/psql`;
      const pre = asRoot ? ['-u', 'postgres', '--', `${bin}/psql`] : [];
      const child = spawn(file, [...pre, '-h', sock, '-p', String(port), '-U', 'sluice', '-d',
        'postgres', '-At', '-c', sql], { stdio: 'ignore', cwd: dir });
      return new Promise((r) => child.on('exit', r));
    },
    restart() { ctl('-o', serverOpts, '-m', 'fast', 'restart'); },
    stop() {
      try { ctl('-m', 'immediate', 'stop'); } catch { /* already stopped */ }
      fs.rmSync(dir, { recursive: true, force: true });
    },
    log: () => fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '',
  };
}
