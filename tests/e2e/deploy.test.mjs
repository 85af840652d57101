// The deployment files in deploy/, run for real: deploy/nginx/sioc.conf
// (only its ports and certificate paths replaced) in front of two sioc-chat
// processes on one SQLite file and one redis-server, with socket.io-client
// over https through it on polling, WebSocket and polling-then-upgrade; and
// deploy/systemd/sioc-chat@.service checked by `systemd-analyze verify`
// (ExecStart pointed at the built binary). Not run with SIOC_REF=1: these
// are sioc's files.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import nodeHttp from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IS_REF } from './lib/server.mjs';
import { startRedis, freePort } from './lib/redis.mjs';
import { Cleanups, tempDb, startChat, dbRows, connectedClient } from './lib/chat.mjs';
import { sleep, withTimeout } from './lib/util.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD = process.env.SIOC_BUILD_DIR ?? path.join(ROOT, 'build');
const T = { timeout: 30_000 };

/** Replaces `from` by `to` in text, failing when the file no longer has it. */
function replaceOnce(text, from, to) {
  assert.ok(text.includes(from), `deploy file no longer contains ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

/** GET over https or http without following redirects: {status, headers, body}. */
function get(url) {
  const mod = url.startsWith('https:') ? https : nodeHttp;
  return withTimeout(new Promise((resolve, reject) => {
    mod.get(url, { rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject);
  }), 5000, `GET ${url}`);
}

describe('deploy/nginx/sioc.conf in front of two sioc-chat processes', { skip: IS_REF }, () => {
  const cleanups = new Cleanups();
  let db;
  let A;
  let B;
  let base; // https://localhost:<nginx>
  let plainPort;

  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-nginx-'));
    fs.chmodSync(dir, 0o755); // nginx's workers may run as another user
    cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });

    const redis = await startRedis();
    cleanups.add(() => redis.stop());
    db = tempDb(cleanups);
    A = await startChat(cleanups, db, ['--redis', redis.url]);
    B = await startChat(cleanups, db, [], { REDIS_URL: redis.url }); // the unit's way: REDIS_URL

    const tlsPort = await freePort();
    plainPort = await freePort();
    let conf = fs.readFileSync(path.join(ROOT, 'deploy/nginx/sioc.conf'), 'utf8');
    conf = replaceOnce(conf, 'server 127.0.0.1:3000;', `server 127.0.0.1:${A.port};`);
    conf = replaceOnce(conf, 'server 127.0.0.1:3001;', `server 127.0.0.1:${B.port};`);
    conf = replaceOnce(conf, 'listen 443 ssl http2;', `listen 127.0.0.1:${tlsPort} ssl http2;`);
    conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${plainPort};`);
    conf = replaceOnce(conf, '/etc/letsencrypt/live/chat.example.com/fullchain.pem', path.join(dir, 'cert.pem'));
    conf = replaceOnce(conf, '/etc/letsencrypt/live/chat.example.com/privkey.pem', path.join(dir, 'key.pem'));
    fs.writeFileSync(path.join(dir, 'sioc.conf'), conf);
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((t) => `  ${t}_temp_path ${path.join(dir, t)};`).join('\n');
    fs.writeFileSync(path.join(dir, 'nginx.conf'), `daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
${temp}
  include ${path.join(dir, 'sioc.conf')};
}
`);
    const args = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')];
    const check = spawnSync('nginx', ['-t', ...args], { encoding: 'utf8' });
    assert.equal(check.status, 0, `nginx -t refused the configuration:\n${check.stderr}`);
    // Its own process group, so a stop that times out kills the worker too and
    // leaves no nginx behind (an orphan would also keep this file from exiting).
    const nginx = spawn('nginx', args, { stdio: 'ignore', detached: true });
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    cleanups.add(async () => {
      // SIGTERM, nginx's fast stop: a graceful SIGQUIT waits for every proxied
      // WebSocket and long poll to end, which is not what this file tests.
      nginx.kill('SIGTERM');
      try {
        await withTimeout(exited, 10_000, 'nginx to stop');
      } finally {
        try { process.kill(-nginx.pid, 'SIGKILL'); } catch { /* the group is gone already */ }
      }
    });
    base = `https://localhost:${tlsPort}`;
    for (let i = 0; ; i++) { // until nginx listens
      try { await get(`${base}/`); break; } catch (e) { if (i > 100) throw e; await sleep(50); }
    }
  });
  after(async () => { await cleanups.run(); });

  it('serves the page, the client bundle, and redirects plain http to https', T, async () => {
    const page = await get(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<form id="form"/);
    const bundle = await get(`${base}/socket.io/socket.io.js`);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers['content-type'], /javascript/);
    assert.ok(bundle.body.length > 10_000);
    const plain = await get(`http://127.0.0.1:${plainPort}/x?y=1`);
    assert.equal(plain.status, 301);
    assert.equal(plain.headers.location, 'https://127.0.0.1/x?y=1');
  });

  it('clients on polling, WebSocket and polling-then-upgrade through nginx, and one on the other process, all get every message', T, async () => {
    const opts = { rejectUnauthorized: false };
    const polling = await connectedClient(cleanups, base, { ...opts, transports: ['polling'] });
    const ws = await connectedClient(cleanups, base, { ...opts, transports: ['websocket'] });
    const upgraded = await connectedClient(cleanups, base, { ...opts, transports: ['polling', 'websocket'] });
    await withTimeout((async () => {
      while (upgraded.socket.io.engine.transport.name !== 'websocket') await sleep(20);
    })(), 5000, 'the upgrade through nginx');
    // ip_hash keeps every request of a polling session on one process;
    // clients straight on each process show that the two cooperate.
    const onA = await connectedClient(cleanups, A.url, { transports: ['websocket'] });
    const onB = await connectedClient(cleanups, B.url, { transports: ['polling'] });
    const clients = [polling, ws, upgraded, onA, onB];
    for (const [i, c] of clients.entries()) {
      assert.equal(await c.send(`hello ${i}`, `deploy-${i}`), undefined);
    }
    const rows = dbRows(db).map((r) => [r.content, r.id]);
    assert.equal(rows.length, clients.length, 'each message stored once');
    for (const c of clients) {
      const got = await c.waitCount(rows.length);
      assert.deepEqual([...got].sort((x, y) => x[1] - y[1]), rows);
    }
    // a polling POST as large as the chat allows goes through nginx
    const big = 'x'.repeat(60_000);
    assert.equal(await polling.send(big, 'deploy-big'), undefined);
    await ws.waitFor(big);
  });
});

describe('deploy/systemd/sioc-chat@.service', { skip: IS_REF }, () => {
  it('systemd-analyze verify accepts it with ExecStart on the built sioc-chat, and refuses a missing binary', T, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-unit-'));
    try {
      const unit = fs.readFileSync(path.join(ROOT, 'deploy/systemd/sioc-chat@.service'), 'utf8');
      const verify = (text) => {
        fs.writeFileSync(path.join(dir, 'sioc-chat@.service'), text);
        return spawnSync('systemd-analyze', ['verify', path.join(dir, 'sioc-chat@.service')], { encoding: 'utf8' });
      };
      const good = verify(replaceOnce(unit, '/usr/local/bin/sioc-chat', path.join(BUILD, 'sioc-chat')));
      assert.equal(good.status, 0, good.stderr);
      assert.equal(good.stderr.trim(), '', 'no warning');
      const bad = verify(replaceOnce(unit, '/usr/local/bin/sioc-chat', path.join(dir, 'missing')));
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /not executable/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
