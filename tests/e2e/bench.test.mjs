// End-to-end tests of the load generator: sioc-bench against the Node
// reference chat (bench/node-ref/index.js) and, when they are built, against
// sioc-chat and the floor server (bench/floor, no protocol layers: only the
// broadcast scenario, which is what make bench runs against it). Each scenario runs small and quick, and its one JSON line must
// hold figures that agree with what the server stored and sent: no failed
// connection, every message acked and delivered, every row replayed.
//
// Skipped when $SIOC_BUILD_DIR/sioc-bench is missing, and the Node part
// when the reference's npm packages are missing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertNoSanitizerReport } from './lib/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const BUILD = process.env.SIOC_BUILD_DIR ?? path.join(REPO, 'build');
const BENCH = path.join(BUILD, 'sioc-bench');
const require = createRequire(import.meta.url);

// Whether the node reference can run here.
function nodeRefDeps() {
  try {
    for (const m of ['socket.io', 'better-sqlite3', 'express']) require.resolve(m);
    return true;
  } catch {
    return false;
  }
}

// Starts a chat server on a free port with a fresh database.
function startChat(kind) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-e2e-'));
  const db = path.join(dir, 'chat.db');
  const [cmd, args] = kind === 'node'
    ? [process.execPath, [path.join(REPO, 'bench/node-ref/index.js'), '--port', '0', '--db', db]]
    : kind === 'floor'
      ? [path.join(BUILD, 'sioc-floor'), ['--port', '0']]
      : [path.join(BUILD, 'sioc-chat'), ['--port', '0', '--db', db]];
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${kind} did not start: ${err}`)); }, 10_000);
    proc.on('exit', (code) => reject(new Error(`${kind} exited ${code}: ${err}`)));
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/localhost:(\d+)/);
      if (!m) return;
      clearTimeout(timer);
      const stop = () => new Promise((res) => {
        if (proc.exitCode !== null) { res(proc.exitCode); return; }
        const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
        proc.removeAllListeners('exit');
        proc.on('exit', (code) => { clearTimeout(kill); rmSync(dir, { recursive: true, force: true }); res(code); });
        proc.kill('SIGTERM');
      });
      resolve({ url: `http://127.0.0.1:${m[1]}`, pid: proc.pid, db, stop, stderr: () => err });
    });
  });
}

// Runs sioc-bench; resolves {code, json, stderr}.
function bench(args) {
  return new Promise((resolve) => {
    execFile(BENCH, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (error.code ?? 1) : 0;
      assertNoSanitizerReport(stderr, 'sioc-bench');
      let json;
      try { json = JSON.parse(stdout.trim().split('\n').pop()); } catch { json = undefined; }
      resolve({ code, json, stderr });
    });
  });
}

// Rows in a chat database (read with better-sqlite3 while the server runs).
function countRows(db) {
  const Database = require('better-sqlite3');
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return d.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT client_offset) AS u FROM messages').get();
  } finally {
    d.close();
  }
}

const servers = [];
if (nodeRefDeps()) servers.push('node');
if (existsSync(path.join(BUILD, 'sioc-chat'))) servers.push('sioc');
const haveBench = existsSync(BENCH);

describe('sioc-bench command line', { skip: !haveBench && `${BENCH} missing` }, () => {
  it('refuses a target that is not loopback', async () => {
    const r = await bench(['connect', '--url', 'http://10.0.0.1:3000', '--n', '1']);
    assert.equal(r.code, 2);
    assert.equal(r.json, undefined);
  });

  it('refuses an unknown option', async () => {
    const r = await bench(['chat', '--bogus', '1']);
    assert.equal(r.code, 2);
  });
});

describe('sioc-bench against the floor server', {
  skip: !(haveBench && existsSync(path.join(BUILD, 'sioc-floor'))) && 'sioc-bench or sioc-floor missing',
  timeout: 120_000,
}, () => {
  let srv;
  before(async () => { srv = await startChat('floor'); });
  after(async () => {
    if (!srv) return;
    assert.equal(await srv.stop(), 0, 'floor exits 0 on SIGTERM');
    assertNoSanitizerReport(srv.stderr(), 'sioc-floor');
  });

  it('broadcast closed loop and at a fixed rate loses nothing', async () => {
    for (const rate of ['0', '2000']) {
      const r = await bench(['broadcast', '--url', srv.url, '--n', '20', '--senders', '2', '--rate', rate,
        '--duration', '1', '--warmup', '0.2', '--pid', String(srv.pid)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.loss, 0, JSON.stringify(r.json));
      assert.ok(r.json.deliveries_per_s > 0 && r.json.server_cpu_us_per_delivery > 0);
      if (rate !== '0') assert.ok(Math.abs(r.json.deliveries_per_s - 2000) < 400, JSON.stringify(r.json));
    }
  });

  it('answers an ack and refuses a request that is not an upgrade', async () => {
    const r = await bench(['chat', '--url', srv.url, '--senders', '2', '--n', '3', '--duration', '1',
      '--warmup', '0.2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.unacked, 0);
    const res = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 400);
  });
});

for (const kind of servers) {
  describe(`sioc-bench against ${kind}`, { skip: !haveBench && `${BENCH} missing`, timeout: 120_000 }, () => {
    let srv;
    before(async () => { srv = await startChat(kind); });
    after(async () => {
      if (!srv) return;
      assert.equal(await srv.stop(), 0, 'server exits 0 on SIGTERM');
      assertNoSanitizerReport(srv.stderr(), kind);
    });

    it('connect --n 50 opens every connection and reads the server RSS', async () => {
      const r = await bench(['connect', '--url', srv.url, '--n', '50', '--pid', String(srv.pid), '--idle', '0.3']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.scenario, 'connect');
      assert.equal(r.json.connected, 50);
      assert.equal(r.json.failed, 0);
      assert.ok(r.json.handshake_p50_ms > 0 && r.json.handshake_p99_ms >= r.json.handshake_p50_ms);
      assert.ok(r.json.rss_after_kb > 0 && Number.isFinite(r.json.kb_per_conn));
    });

    it('chat --senders 2 --duration 2 gets every message acked, stored once and delivered', async () => {
      const before = countRows(srv.db).n;
      const r = await bench(['chat', '--url', srv.url, '--senders', '2', '--n', '3', '--duration', '2',
        '--warmup', '0.2', '--pid', String(srv.pid)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.connected, 3);
      assert.equal(r.json.unacked, 0);
      assert.ok(r.json.acked_per_s > 10, `acked ${r.json.acked_per_s}/s`);
      assert.ok(r.json.ack_p99_ms >= r.json.ack_p50_ms);
      // Every acked message reached the 3 sockets (give or take the window edges).
      const acked = r.json.acked_per_s * 2;
      assert.ok(r.json.deliveries_per_s * 2 >= acked * 3 * 0.9, JSON.stringify(r.json));
      const rows = countRows(srv.db);
      assert.ok(rows.n - before >= acked, `${rows.n - before} rows for ${acked} acks`);
      assert.equal(rows.n, rows.u, 'one row per clientOffset');
    });

    it('broadcast closed loop and at a fixed rate loses nothing', async () => {
      for (const rate of ['0', '2000']) {
        const r = await bench(['broadcast', '--url', srv.url, '--n', '20', '--senders', '2', '--rate', rate,
          '--duration', '1', '--warmup', '0.2', '--pid', String(srv.pid)]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.json.loss, 0, JSON.stringify(r.json));
        assert.ok(r.json.deliveries_per_s > 0);
        assert.ok(r.json.p999_ms >= r.json.p50_ms);
        if (rate !== '0') assert.ok(Math.abs(r.json.deliveries_per_s - 2000) < 400, JSON.stringify(r.json));
      }
    });

    it('replay --n 20 --rows 50 gives every client every row', async () => {
      const r = await bench(['replay', '--url', srv.url, '--n', '20', '--rows', '50', '--pid', String(srv.pid)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.complete, 20);
      assert.equal(r.json.rows_received, 20 * 50);
      assert.ok(r.json.seconds > 0 && r.json.peak_rss_kb >= r.json.rss_before_kb);
    });
  });
}
