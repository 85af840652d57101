// https / wss: sioc-protocol-server with --tls-cert/--tls-key (a self-signed
// certificate made here with `openssl req`), driven by the real
// socket.io-client over WebSocket and polling (rejectUnauthorized: false,
// then with the certificate as CA); with SIOC_REF=1 the Node twin on
// https.createServer. Bad input on the TLS port is bad input like any other:
// plain HTTP, garbage, a handshake that never ends (headers timeout), a bad
// record after the handshake: each gets a clear close, and the server keeps
// serving.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { io } from 'socket.io-client';
import { startServer } from './lib/server.mjs';
import { sleep, withTimeout, waitEvent } from './lib/util.mjs';

const T = { timeout: 20_000 };
const HEADERS_TIMEOUT = 800;

let server;
let dir;
let cert;
const cleanups = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'], { stdio: 'ignore' });
  cert = fs.readFileSync(path.join(dir, 'cert.pem'));
  server = await startServer('sioc-protocol-server', ['--tls-cert', path.join(dir, 'cert.pem'),
    '--tls-key', path.join(dir, 'key.pem'), '--headers-timeout', String(HEADERS_TIMEOUT)]);
});
after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
  assert.ok(server.alive(), `server died:\n${server.stderr()}`);
});

function client(nsp, transports, opts = {}) {
  const socket = io(`https://localhost:${server.port}${nsp}`, {
    forceNew: true, reconnection: false, transports, rejectUnauthorized: false, ...opts,
  });
  cleanups.push(async () => socket.disconnect());
  return socket;
}

function call(socket, event, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(event, ...args, (...r) => resolve(r))), 5000, `ack of ${event}`);
}

for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
  describe(`socket.io over TLS, ${transports.join('+')}`, () => {
    it('connects, echoes text and binary, acks; handshake.secure is true', T, async () => {
      const s = client('/', transports, { auth: { token: 't' } });
      assert.deepEqual(await waitEvent(s, 'auth', 5000), [{ token: 't' }]);
      const bin = Buffer.alloc(100_000, 9);
      const back = waitEvent(s, 'message-back', 5000);
      s.emit('message', 'x'.repeat(50_000), { n: 1 }, bin);
      const got = await back;
      assert.equal(got[0], 'x'.repeat(50_000));
      assert.deepEqual(got[1], { n: 1 });
      assert.ok(Buffer.from(got[2]).equals(bin));
      const api = client('/api', transports);
      await waitEvent(api, 'connect', 5000);
      const [hs] = await call(api, 'handshake');
      assert.equal(hs.secure, true);
      if (transports.length === 2) {
        await withTimeout((async () => { while (s.io.engine.transport.name !== 'websocket') await sleep(20); })(), 5000, 'upgrade');
        assert.deepEqual(await call(s, 'message-with-ack', 1, 'after upgrade'), [1, 'after upgrade']);
      }
    });

    it('the certificate as CA: verified connection', T, async () => {
      const s = client('/', transports, { rejectUnauthorized: true, ca: cert });
      await waitEvent(s, 'auth', 5000);
    });
  });
}

describe('TLS options', () => {
  it('--tls-ca: a client certificate signed by the CA is required', T, async () => {
    const key = fs.readFileSync(path.join(dir, 'key.pem'));
    const mtls = await startServer('sioc-protocol-server', ['--tls-cert', path.join(dir, 'cert.pem'),
      '--tls-key', path.join(dir, 'key.pem'), '--tls-ca', path.join(dir, 'cert.pem')]);
    try {
      const url = `https://localhost:${mtls.port}`;
      const withCert = io(url, { forceNew: true, reconnection: false, transports: ['websocket'], ca: cert, cert, key });
      const without = io(url, { forceNew: true, reconnection: false, transports: ['websocket'], ca: cert });
      const refused = waitEvent(without, 'connect_error', 5000);
      try {
        await waitEvent(withCert, 'auth', 5000);
        await refused;
        assert.ok(!without.connected);
      } finally {
        withCert.disconnect();
        without.disconnect();
      }
    } finally {
      await mtls.stop();
    }
  });

  it('an unreadable certificate: the server refuses to start', T, async () => {
    await assert.rejects(startServer('sioc-protocol-server', ['--tls-cert', path.join(dir, 'missing.pem'),
      '--tls-key', path.join(dir, 'key.pem')]), /exited/);
  });
});

describe('bad input on the TLS port', () => {
  /** Opens a raw TCP connection; resolves {sock, closed (resolves ms until close), data()}. */
  async function raw() {
    const sock = net.connect(server.port, '127.0.0.1');
    cleanups.push(async () => sock.destroy());
    await withTimeout(new Promise((resolve, reject) => { sock.on('connect', resolve); sock.on('error', reject); }), 3000, 'connect');
    const start = Date.now();
    let got = Buffer.alloc(0);
    sock.on('data', (d) => { got = Buffer.concat([got, d]); });
    sock.on('error', () => {});
    const closed = new Promise((resolve) => sock.on('close', () => resolve(Date.now() - start)));
    return { sock, closed, data: () => got };
  }

  it('plain HTTP gets no HTTP answer and a close', T, async () => {
    const { sock, closed, data } = await raw();
    sock.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n');
    const ms = await withTimeout(closed, 3000, 'close');
    assert.ok(ms < HEADERS_TIMEOUT, `closed after ${ms} ms`);
    assert.ok(!data().toString('latin1').startsWith('HTTP/'), 'no plaintext HTTP answer');
  });

  it('garbage bytes: a close', T, async () => {
    const { sock, closed } = await raw();
    sock.write(Buffer.from('16030100ff0100fffb0303deadbeef'.repeat(20), 'hex'));
    await withTimeout(closed, 3000, 'close');
  });

  it('a handshake that never ends (nothing sent, half a ClientHello) is closed after the headers timeout', T, async () => {
    const idle = await raw();
    const half = await raw();
    half.sock.write(Buffer.from('160301020001', 'hex')); // a record header announcing 512 bytes, then nothing
    for (const c of [idle, half]) {
      const ms = await withTimeout(c.closed, 5000, 'close');
      assert.ok(ms >= HEADERS_TIMEOUT * 0.8 && ms < HEADERS_TIMEOUT * 4, `closed after ${ms} ms`);
    }
  });

  it('a flood of 100 unfinished handshakes holds nothing: all closed, the server still serves', T, async () => {
    const conns = await Promise.all(Array.from({ length: 100 }, () => raw()));
    for (const c of conns) c.sock.write(Buffer.from('16030100', 'hex'));
    await withTimeout(Promise.all(conns.map((c) => c.closed)), 8000, 'all closed');
    const s = client('/', ['websocket']);
    await waitEvent(s, 'auth', 5000);
  });

  it('a bad record after the handshake: a close', T, async () => {
    // A TCP relay between a Node TLS client and the server lets the test
    // slip a forged record into the encrypted stream.
    let upstream;
    const relay = net.createServer((down) => {
      upstream = net.connect(server.port, '127.0.0.1');
      down.pipe(upstream);
      upstream.pipe(down);
      down.on('error', () => {});
      upstream.on('error', () => {});
    });
    await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => relay.close());
    const sock = tls.connect({ port: relay.address().port, host: '127.0.0.1', rejectUnauthorized: false });
    cleanups.push(async () => sock.destroy());
    sock.on('error', () => {});
    await withTimeout(new Promise((resolve) => sock.on('secureConnect', resolve)), 3000, 'TLS handshake');
    sock.write('GET /nope HTTP/1.1\r\nHost: x\r\n\r\n');
    const answer = await withTimeout(new Promise((resolve) => sock.once('data', resolve)), 3000, 'an answer over TLS');
    assert.match(answer.toString('latin1'), /^HTTP\/1\.1 404/);
    const closed = new Promise((resolve) => upstream.on('close', resolve));
    upstream.write(Buffer.concat([Buffer.from('1703030020', 'hex'), Buffer.alloc(32, 0x78)]));
    await withTimeout(closed, 5000, 'close');
  });
});
