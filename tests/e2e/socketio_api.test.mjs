// The socket API beyond emit/on, against the real socket.io-client: once /
// off, onAny / prependAny, onAnyOutgoing, socket.use (per-socket middleware,
// errors to the socket's "error" listeners), disconnect / disconnecting
// through on(), the handshake query and peer address, compress(false) and
// httpCompression of polling responses, cleanupEmptyChildNamespaces,
// serveClient, and the engine's connection_error with err.context/err.req.
//
// The server is sioc-protocol-server, namespace "/api" (apps/protocol-server/
// api.c); with SIOC_REF=1 its Node twin tests/ref/protocol-server.mjs, which
// is how each expectation below was checked against socket.io 4.8.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodeHttp from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { io } from 'socket.io-client';
import { startServer, serverPerSuite } from './lib/server.mjs';
import { sleep, withTimeout, waitEvent, http, eioUrl, decodePayload, pollingHandshake, SEP } from './lib/util.mjs';

const T = { timeout: 15_000 };
const TRANSPORTS = [['websocket'], ['polling']];

const suite = serverPerSuite(() => startServer('sioc-protocol-server'));
const { cleanups } = suite;

async function connected(transports, opts = {}) {
  const socket = io(`${suite.server.url}/api`, { forceNew: true, reconnection: false, transports, ...opts });
  cleanups.push(async () => socket.disconnect());
  await waitEvent(socket, 'connect', 5000);
  return socket;
}

/** A raw polling session connected to "/api"; returns {post, get, id}. */
async function rawSession() {
  const hs = await http(eioUrl(suite.server.url, { transport: 'polling' }, '/socket.io/'));
  const { sid } = JSON.parse(hs.body.slice(1));
  const url = eioUrl(suite.server.url, { transport: 'polling', sid }, '/socket.io/');
  const post = async (body) => {
    const r = await http(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
    assert.equal(r.status, 200, r.body);
  };
  // One poll; a heartbeat ping, should one come, is answered and left
  // out, so only the packets under test remain.
  const get = async (headers = {}) => {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(3000) });
    const r = { status: res.status, encoding: res.headers.get('content-encoding'), packets: decodePayload(await res.text()) };
    if (r.packets.includes('2')) {
      await post('3');
      r.packets = r.packets.filter((p) => p !== '2');
      if (r.packets.length === 0) return get(headers);
    }
    return r;
  };
  await post('40/api,');
  const r = await get();
  assert.match(r.packets[0], /^40\/api,\{"sid":/);
  return { post, get, id: JSON.parse(r.packets[0].slice('40/api,'.length)).sid };
}

/** Emits with an ack and resolves the ack's arguments. */
function call(socket, event, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(event, ...args, (...r) => resolve(r))), 5000, `ack of ${event}`);
}

for (const transports of TRANSPORTS) {
  describe(`socket API over ${transports[0]}`, () => {
    it('once fires once, off removes, prependAny runs before onAny', T, async () => {
      const s = await connected(transports);
      let onceHits = 0;
      let offHits = 0;
      s.on('once-hit', () => { onceHits++; });
      s.on('off-hit', () => { offHits++; });
      s.emit('once');
      s.emit('once');
      s.emit('off-me');
      assert.deepEqual(await call(s, 'remove-off'), [1]);
      s.emit('off-me');
      assert.deepEqual(await call(s, 'remove-off'), [0]);
      await sleep(150);
      assert.equal(onceHits, 1);
      assert.equal(offHits, 1);
      const [seen] = await call(s, 'incoming');
      const names = ['once', 'once', 'off-me', 'remove-off', 'off-me', 'remove-off', 'incoming'];
      assert.deepEqual(seen, names.flatMap((n) => [`any0:${n}`, `any1:${n}`]));
    });

    it('onAnyOutgoing sees emits and broadcasts, not acks', T, async () => {
      const s = await connected(transports);
      const pong = waitEvent(s, 'pong-you');
      const all = waitEvent(s, 'to-all');
      assert.deepEqual(await call(s, 'ping-me', 5), [true]);
      assert.deepEqual(await pong, [5]);
      assert.deepEqual(await all, [5]);
      assert.deepEqual(await call(s, 'outgoing'), [['pong-you', 'to-all']]);
    });

    it('socket.use: a middleware edits the arguments, next(err) goes to "error" listeners', T, async () => {
      const s = await connected(transports);
      assert.deepEqual(await call(s, 'mw-edit', 1, { a: 2 }), [1, { a: 2 }, 'edited']);
      const seen = waitEvent(s, 'error-seen');
      let acked = false;
      s.emit('mw-deny', 'x', () => { acked = true; });
      assert.deepEqual(await seen, [{ message: 'denied', data: { code: 7 } }]);
      await sleep(100);
      assert.equal(acked, false); // the refused event is dropped with its ack
      assert.ok(s.connected);
    });

    it('disconnect and disconnecting through on() get the reason', T, async () => {
      const observer = await connected(transports);
      const s = await connected(transports);
      const id = s.id;
      s.disconnect();
      let why = null;
      for (let i = 0; i < 50 && !(why && why.disconnect); i++) {
        [why] = await call(observer, 'reason', id);
        if (!why || !why.disconnect) await sleep(50);
      }
      assert.deepEqual(why, { disconnecting: 'client namespace disconnect', disconnect: 'client namespace disconnect' });
    });

    it('allowRequest sees the peer address: deny=loopback is refused from 127.0.0.1/::1', T, async () => {
      const s = io(`${suite.server.url}/api`, { forceNew: true, reconnection: false, transports, query: { deny: 'loopback' } });
      cleanups.push(async () => s.disconnect());
      const [err] = await waitEvent(s, 'connect_error', 5000);
      assert.ok(err instanceof Error);
      assert.ok(!s.connected);
      await connected(transports, { query: { deny: 'nobody' } });
    });

    it('handshake query decoded, peer address', T, async () => {
      const s = await connected(transports, { query: { name: 'A & B+é', tags: 'x,y' } });
      assert.deepEqual(await call(s, 'handshake'), [{ name: 'A & B+é', tags: 'x,y', loopback: true, secure: false }]);
      const t = await connected(transports);
      assert.deepEqual(await call(t, 'handshake'), [{ name: null, tags: null, loopback: true, secure: false }]);
    });
  });
}

describe('socket.use errors wait for the tick, like the listeners (Node: dispatch defers _onerror)', () => {
  it('a refused event and another in one POST: onAny sees both before the "error" listener runs', T, async () => {
    const { post, get } = await rawSession();
    await post(`42/api,["mw-deny"]${SEP}42/api,1["incoming"]`);
    const seen = [];
    for (let i = 0; i < 5 && !seen.some((p) => p.startsWith('43/api,1')); i++) seen.push(...(await get()).packets);
    assert.ok(seen.includes('42/api,["error-seen",{"message":"denied","data":{"code":7}}]'), seen.join(' '));
    const names = ['mw-deny', 'incoming'].flatMap((n) => [`any0:${n}`, `any1:${n}`]);
    assert.ok(seen.includes(`43/api,1[${JSON.stringify([...names, 'error:denied'])}]`), seen.join(' '));
  });

  it('a refused event and a DISCONNECT in one POST: the "error" listener still runs, after the disconnect', T, async () => {
    const observer = await connected(['websocket']);
    const { post, id } = await rawSession();
    await post(`42/api,["mw-deny"]${SEP}41/api,`);
    let why = null;
    for (let i = 0; i < 50 && !(why && why.error); i++) {
      [why] = await call(observer, 'reason', id);
      if (!why || !why.error) await sleep(50);
    }
    assert.deepEqual(why, { disconnecting: 'client namespace disconnect', disconnect: 'client namespace disconnect', error: 'denied:false' });
  });

  it('a middleware that finishes after the disconnect: the next middleware still runs and its error reaches the listener (Node\'s run() does not check)', T, async () => {
    const observer = await connected(['websocket']);
    const { post, id } = await rawSession();
    await post('42/api,["mw-hold"]');
    await post('41/api,');
    let why = null;
    for (let i = 0; i < 50 && !(why && why.disconnect); i++) {
      [why] = await call(observer, 'reason', id);
      if (!why || !why.disconnect) await sleep(20);
    }
    assert.deepEqual(await call(observer, 'mw-release'), [1]);
    for (let i = 0; i < 50 && !(why && why.error); i++) {
      [why] = await call(observer, 'reason', id);
      if (!why || !why.error) await sleep(50);
    }
    assert.deepEqual(why, { disconnecting: 'client namespace disconnect', disconnect: 'client namespace disconnect', error: 'held-denied:false' });
  });
});

describe("the engine's connection_error", () => {
  /** A raw request on its own connection: resolves the status line's code. */
  function raw(path, headers = '') {
    return new Promise((resolve, reject) => {
      const u = new URL(suite.server.url);
      const sock = net.connect(Number(u.port), u.hostname, () => {
        sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
      });
      let got = '';
      sock.on('data', (d) => { got += d; });
      sock.on('error', reject);
      sock.on('close', () => resolve(Number(got.split(' ')[1])));
    });
  }

  it('each refusal carries Node\'s code, message, context and the request', T, async () => {
    const observer = await connected(['websocket']);
    await call(observer, 'conn-errors'); // start from a clean list
    const base = `${suite.server.url}`;
    const url = (q) => eioUrl(base, q, '/socket.io/');
    const path = (q) => url(q).slice(base.length);
    const { sid } = await pollingHandshake(base, {}, '/socket.io/');
    const steps = [
      [{ transport: 'carrier-pigeon' }, 'GET'],
      [{ transport: 'polling', sid: 'nope' }, 'GET'],
      [{ transport: 'polling' }, 'PUT'],
      [{ transport: 'websocket' }, 'GET'],
      [{ EIO: '3', transport: 'polling' }, 'GET'],
      [{ transport: 'websocket', sid }, 'GET'],
      [{ EIO: '3', transport: 'polling', sid }, 'GET'],
    ];
    for (const [q, method] of steps) {
      const res = await http(url(q), { method });
      assert.equal(res.status, 400, `${method} ${JSON.stringify(q)}: ${res.body}`);
    }
    // a refused WebSocket upgrade
    const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    assert.equal(await raw(path({ transport: 'flying-carpet' }), upgrade), 400);
    const [errors] = await call(observer, 'conn-errors');
    const want = [
      [0, 'Transport unknown', { transport: 'carrier-pigeon' }],
      [1, 'Session ID unknown', { sid: 'nope' }],
      [2, 'Bad handshake method', { method: 'PUT' }],
      [3, 'Bad request', { name: 'TRANSPORT_HANDSHAKE_ERROR' }],
      [5, 'Unsupported protocol version', { protocol: 3 }],
      [3, 'Bad request', { name: 'TRANSPORT_MISMATCH', transport: 'websocket', previousTransport: 'polling' }],
      [3, 'Bad request', { name: 'PROTOCOL_MISMATCH', protocol: 3, previousProtocol: 4 }],
      [0, 'Transport unknown', { transport: 'flying-carpet' }],
    ];
    const methods = [...steps.map(([, m]) => m), 'GET'];
    const paths = [...steps.map(([q]) => path(q)), path({ transport: 'flying-carpet' })];
    assert.deepEqual(errors, want.map(([code, message, context], i) => ({
      code, message, context, method: methods[i], url: paths[i],
    })));
  });
});

describe('cleanupEmptyChildNamespaces', () => {
  it('200 short-lived dynamic namespaces: each is gone with its last socket', T, async () => {
    const observer = await connected(['websocket']);
    const [before] = await call(observer, 'nsp-count');
    for (let i = 0; i < 200; i += 20) {
      const batch = [];
      for (let k = i; k < i + 20; k++) {
        const s = io(`${suite.server.url}/game-${k}`, { forceNew: true, reconnection: false, transports: ['websocket'] });
        batch.push(waitEvent(s, 'welcome', 5000).then(([name]) => { assert.equal(name, `/game-${k}`); s.disconnect(); }));
      }
      await Promise.all(batch);
    }
    let n;
    for (let tries = 0; tries < 40; tries++) {
      [n] = await call(observer, 'nsp-count');
      if (n === before) break;
      await sleep(50);
    }
    assert.equal(n, before);
    // the same name again: a fresh namespace
    const again = io(`${suite.server.url}/game-7`, { forceNew: true, reconnection: false, transports: ['websocket'] });
    cleanups.push(async () => again.disconnect());
    assert.deepEqual(await waitEvent(again, 'welcome', 5000), ['/game-7']);
    assert.equal((await call(observer, 'nsp-count'))[0], before + 1);
  });
});

describe('httpCompression of polling responses', () => {
  it('a big payload is gzip- or deflate-compressed as Accept-Encoding asks; compress(false) and small ones are not', T, async () => {
    const { post, get } = await rawSession();
    const big = 'b'.repeat(2000);
    await post(`42/api,["ping-me","${big}"]`);
    let r = await get({ 'accept-encoding': 'gzip, deflate' });
    assert.equal(r.encoding, 'gzip');
    assert.deepEqual(r.packets.slice(0, 2), [`42/api,["pong-you","${big}"]`, `42/api,["to-all","${big}"]`]);
    await post(`42/api,["ping-me","${big}"]`);
    r = await get({ 'accept-encoding': 'deflate;q=1, gzip;q=0.5' });
    assert.equal(r.encoding, 'deflate');
    await post(`42/api,["ping-me","${big}"]`);
    r = await get({ 'accept-encoding': 'identity' });
    assert.equal(r.encoding, null);
    assert.equal(r.packets[0], `42/api,["pong-you","${big}"]`);
    await post('42/api,["compress-off",3000]');
    r = await get({ 'accept-encoding': 'gzip' });
    assert.equal(r.encoding, null);
    assert.equal(r.packets[0], `42/api,["plain","${'a'.repeat(3000)}"]`);
    await post('42/api,["ping-me",1]');
    r = await get({ 'accept-encoding': 'gzip' });
    assert.equal(r.encoding, null); // under the 1024-byte threshold
    assert.ok(!r.packets.join(SEP).includes('\0'));
  });
});

describe('serveClient', () => {
  const DIST = new URL('../../node_modules/socket.io-client/dist/', import.meta.url);
  const VERSION = JSON.parse(fs.readFileSync(new URL('../../node_modules/socket.io-client/package.json', import.meta.url))).version;

  /** A raw GET (no automatic decompression): {status, headers, body Buffer}. */
  function rawGet(p, headers = {}) {
    return withTimeout(new Promise((resolve, reject) => {
      const req = nodeHttp.get({ host: 'localhost', port: suite.server.port, path: p, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
    }), 3000, `GET ${p}`);
  }

  it('the bundle files with the client version as ETag, 304, gzip and deflate', T, async () => {
    for (const name of ['socket.io.js', 'socket.io.min.js', 'socket.io.esm.min.js', 'socket.io.msgpack.min.js', 'socket.io.js.map', 'socket.io.min.js.map']) {
      const file = fs.readFileSync(new URL(name, DIST));
      const res = await rawGet(`/socket.io/${name}?v=1`);
      assert.equal(res.status, 200, name);
      assert.equal(res.headers['content-type'], `application/${name.endsWith('.map') ? 'json' : 'javascript'}; charset=utf-8`);
      assert.equal(res.headers.etag, `"${VERSION}"`);
      assert.equal(res.headers['cache-control'], 'public, max-age=0');
      assert.equal(res.headers['content-encoding'], undefined);
      assert.ok(res.body.equals(file), `${name}: the file's bytes`);
    }
    const js = fs.readFileSync(new URL('socket.io.js', DIST));
    for (const inm of [`"${VERSION}"`, `W/"${VERSION}"`]) {
      const res = await rawGet('/socket.io/socket.io.js', { 'If-None-Match': inm });
      assert.equal(res.status, 304);
      assert.equal(res.body.length, 0);
    }
    assert.equal((await rawGet('/socket.io/socket.io.js', { 'If-None-Match': '"0.0.1"' })).status, 200);
    const gz = await rawGet('/socket.io/socket.io.js', { 'Accept-Encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(zlib.gunzipSync(gz.body).equals(js));
    const df = await rawGet('/socket.io/socket.io.js', { 'Accept-Encoding': 'deflate' });
    assert.equal(df.headers['content-encoding'], 'deflate');
    assert.ok(zlib.inflateSync(df.body).equals(js));
    for (const p of ['/socket.io/socket.io.jsx', '/socket.io/socket.io.js/x', '/socket.io/../socket.io/socket.io.js', '/socket.io/client.js']) {
      assert.notEqual((await rawGet(p)).status, 200, p);
    }
  });
});
