// Socket.IO server features beyond the protocol server's echo: rooms and
// broadcast (to/union, except, broadcast from a socket, namespace-wide),
// socketsJoin/socketsLeave/fetchSockets/disconnectSockets, server-side acks
// with timeouts, disconnect reasons on both sides, middleware (accept, reject
// with data, finish later) and connection state recovery.
//
// The C server is sioc-protocol-server with SIOC_SIO_EXTRA=1 (namespaces
// "/test" and "/mw", see apps/protocol-server/extra.c). With SIOC_REF=1 the
// same tests run against an in-process Node socket.io server implementing
// the same events (refServer below), which is how each expectation was
// checked against Node. Recovery is on for the whole server, so every event
// without an ack carries an offset as its last argument (the official client
// passes it to listeners): helpers strip it.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { io } from 'socket.io-client';
import { startServer, IS_REF } from './lib/server.mjs';
import { sleep, withTimeout, waitEvent } from './lib/util.mjs';

const T = { timeout: 15_000 };
const TRANSPORTS = [['websocket'], ['polling'], undefined];
const label = (t) => (t ? t.join('+') : 'default (polling -> websocket)');
const RECOVERY_MS = 2000;

let server;
const cleanups = [];

/** The Node reference: the same "/test" and "/mw" behaviour as extra.c. */
async function refServer() {
  const { Server } = await import('socket.io');
  const httpServer = http.createServer();
  const ioServer = new Server(httpServer, {
    connectTimeout: 1000, // Node's heartbeat, as the protocol server's /socket.io/
    cors: { origin: true, credentials: true },
    connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: true },
  });
  const reasons = {};
  const held = [];
  const test = ioServer.of('/test');
  const op = (socket, o) => {
    let b = o.from ? socket.broadcast : test;
    for (const r of o.rooms || []) b = b.to(r);
    for (const e of o.except || []) b = b.except(e);
    return o.volatile ? b.volatile : b;
  };
  test.on('connection', (socket) => {
    const on = (ev, fn) => socket.on(ev, (...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : () => {};
      fn(ack, ...args);
    });
    on('join', (ack, room) => { socket.join(room); ack(); });
    on('leave', (ack, room) => { socket.leave(room); ack(); });
    on('set-data', (ack, d) => { Object.assign(socket.data, d); ack(); });
    on('info', (ack) => ack({ id: socket.id, rooms: [...socket.rooms].sort(), data: socket.data, recovered: socket.recovered }));
    on('to', (ack, o) => { op(socket, o).emit(o.event, ...(o.args || [])); ack(0); });
    on('ask', (ack, ms) => {
      socket.timeout(ms).emit('ask', (err, ...args) => socket.emit('ask-result', err ? err.message : null, ...args));
      ack();
    });
    on('disconnect-me', (ack, close) => socket.disconnect(close));
    on('sockets-join', (ack, o) => { test.in(o.room).socketsJoin(o.target); ack(0); });
    on('sockets-leave', (ack, o) => { test.in(o.room).socketsLeave(o.target); ack(0); });
    on('disconnect-sockets', (ack, o) => { ack(); test.in(o.room).disconnectSockets(o.close); });
    on('fetch', async (ack, room) => ack((await (room ? test.in(room) : test).fetchSockets()).map((s) => s.id)));
    on('reason', (ack, id) => ack(reasons[id] ?? null));
    on('release-held', (ack) => { const n = held.length; held.splice(0).forEach((f) => f()); ack(n); });
    socket.on('disconnecting', (reason) => { reasons[socket.id] = { disconnecting: reason, rooms: [...socket.rooms].sort() }; });
    socket.on('disconnect', (reason) => { reasons[socket.id].reason = reason; });
  });
  const mw = ioServer.of('/mw');
  mw.use((socket, next) => {
    const t = socket.handshake.auth.token;
    if (t === 'ok') next();
    else if (t === 'later') held.push(() => next());
    else { const e = new Error('not authorized'); e.data = { content: 'Please retry later' }; next(e); }
  });
  mw.use((socket, next) => { socket.data.mw = 2; next(); });
  mw.on('connection', (socket) => socket.emit('welcome', socket.data));
  await new Promise((resolve) => httpServer.listen(0, resolve));
  return {
    url: `http://localhost:${httpServer.address().port}`,
    alive: () => true,
    stderr: () => '',
    stop: async () => { ioServer.close(); httpServer.closeAllConnections?.(); },
  };
}

before(async () => {
  server = IS_REF ? await refServer() : await startServer('sioc-protocol-server', [], { SIOC_SIO_EXTRA: '1', SIOC_SIO_RECOVERY_MS: String(RECOVERY_MS) });
});
after(async () => { await server.stop(); });
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
  assert.ok(server.alive(), `server died:\n${server.stderr()}`);
});

/** A socket.io-client socket, closed after the test. */
function client(nsp, transports, opts = {}) {
  const socket = io(`${server.url}${nsp}`, {
    forceNew: true, reconnection: false, ...(transports ? { transports } : {}), ...opts,
  });
  cleanups.push(async () => socket.disconnect());
  return socket;
}

async function connected(nsp, transports, opts) {
  const socket = client(nsp, transports, opts);
  await waitEvent(socket, 'connect', 5000);
  return socket;
}

/** Emits with an ack and resolves the ack's arguments. */
function call(socket, event, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(event, ...args, (...r) => resolve(r))), 5000, `ack of ${event}`);
}

/** Records every event a socket receives, offsets stripped. */
function record(socket) {
  const got = [];
  socket.onAny((event, ...args) => {
    assert.equal(typeof args[args.length - 1], 'string', `offset on ${event}`);
    got.push([event, ...args.slice(0, -1)]);
  });
  return got;
}

const uniq = (() => { let n = 0; return (p) => `${p}-${process.pid}-${++n}`; })();

for (const transports of TRANSPORTS) {
  describe(`socket.io server API over ${label(transports)}`, () => {
    it('to() several rooms reaches each member once; except; broadcast from a socket; namespace-wide', T, async () => {
      const [r1, r2] = [uniq('r1'), uniq('r2')];
      const [a, b, c] = await Promise.all([0, 1, 2].map(() => connected('/test', transports)));
      await call(a, 'join', r1);
      await call(b, 'join', r1);
      await call(b, 'join', r2);
      await call(c, 'join', r2);
      const [ga, gb, gc] = [a, b, c].map(record);
      assert.deepEqual(await call(a, 'to', { rooms: [r1, r2], event: 'news', args: [1, { x: 'y' }] }), [0]);
      await call(a, 'to', { rooms: [r2], except: [r1], event: 'only-c', args: [] });
      await call(a, 'to', { rooms: [r1, r2], from: true, event: 'not-a', args: ['s'] });
      await sleep(200);
      assert.deepEqual(ga, [['news', 1, { x: 'y' }]]);
      assert.deepEqual(gb, [['news', 1, { x: 'y' }], ['not-a', 's']]);
      assert.deepEqual(gc, [['news', 1, { x: 'y' }], ['only-c'], ['not-a', 's']]);
      const all = waitEvent(c, 'everyone', 3000);
      await call(b, 'to', { event: 'everyone', args: [true] });
      assert.deepEqual((await all).slice(0, -1), [true]);
    });

    it('socketsJoin, fetchSockets, socketsLeave and disconnectSockets', T, async () => {
      const [r, t] = [uniq('r'), uniq('t')];
      const [a, b, c] = await Promise.all([0, 1, 2].map(() => connected('/test', transports)));
      await call(a, 'join', r);
      await call(b, 'join', r);
      await call(c, 'sockets-join', { room: r, target: t });
      assert.deepEqual((await call(c, 'fetch', t))[0].sort(), [a.id, b.id].sort());
      const info = (await call(a, 'info'))[0];
      assert.deepEqual(info.rooms, [a.id, r, t].sort());
      await call(c, 'sockets-leave', { room: r, target: t });
      assert.deepEqual((await call(c, 'fetch', t))[0], []);
      const aid = a.id;
      const gone = [waitEvent(a, 'disconnect', 3000), waitEvent(b, 'disconnect', 3000)];
      await call(c, 'disconnect-sockets', { room: r, close: false });
      for (const g of gone) assert.deepEqual((await g)[0], 'io server disconnect');
      const why = (await call(c, 'reason', aid))[0];
      assert.equal(why.reason, 'server namespace disconnect');
      assert.equal(why.disconnecting, 'server namespace disconnect');
      assert.deepEqual(why.rooms, [aid, r].sort());
      assert.ok(c.connected);
    });

    it('server emit with ack: answered, and timed out', T, async () => {
      const s = await connected('/test', transports);
      s.once('ask', (cb) => cb('yes', 2));
      const res = waitEvent(s, 'ask-result', 3000);
      await call(s, 'ask', 2000);
      assert.deepEqual((await res).slice(0, -1), [null, 'yes', 2]);
      s.once('ask', () => {});
      const res2 = waitEvent(s, 'ask-result', 3000);
      await call(s, 'ask', 200);
      assert.deepEqual((await res2).slice(0, -1), ['operation has timed out']);
    });

    it('disconnect reasons on both sides', T, async () => {
      const observer = await connected('/test', transports);
      const reasonOf = async (id) => {
        for (let i = 0; i < 50; i++) {
          const r = (await call(observer, 'reason', id))[0];
          if (r && r.reason) return r.reason;
          await sleep(50);
        }
        return null;
      };
      let s = await connected('/test', transports);
      let id = s.id;
      s.disconnect();
      assert.equal(await reasonOf(id), 'client namespace disconnect');

      s = await connected('/test', transports);
      id = s.id;
      let d = waitEvent(s, 'disconnect', 3000);
      s.emit('disconnect-me', false);
      assert.equal((await d)[0], 'io server disconnect');
      assert.equal(await reasonOf(id), 'server namespace disconnect');

      s = await connected('/test', transports);
      id = s.id;
      d = waitEvent(s, 'disconnect', 3000);
      s.emit('disconnect-me', true);
      assert.equal((await d)[0], 'io server disconnect');
      assert.equal(await reasonOf(id), 'server namespace disconnect');

      s = await connected('/test', transports);
      id = s.id;
      d = waitEvent(s, 'disconnect', 3000);
      s.io.engine.close();
      assert.equal(typeof (await d)[0], 'string');
      assert.equal(await reasonOf(id), 'transport close');
    });

    it('middleware: accept, reject with data, finish later', T, async () => {
      const ok = client('/mw', transports, { auth: { token: 'ok' } });
      const welcome = waitEvent(ok, 'welcome', 5000);
      await waitEvent(ok, 'connect', 5000);
      assert.deepEqual((await welcome).slice(0, -1), [{ mw: 2 }]);

      const bad = client('/mw', transports, { auth: { token: 'nope' } });
      const [err] = await waitEvent(bad, 'connect_error', 5000);
      assert.equal(err.message, 'not authorized');
      assert.deepEqual(err.data, { content: 'Please retry later' });
      assert.equal(bad.connected, false);

      const later = client('/mw', transports, { auth: { token: 'later' } });
      const laterConnect = waitEvent(later, 'connect', 5000);
      await sleep(300);
      assert.equal(later.connected, false);
      const ctl = await connected('/test', transports);
      assert.ok((await call(ctl, 'release-held'))[0] >= 1);
      await laterConnect;
      assert.ok(later.connected);
    });

    it('connection state recovery: missed events, rooms and data restored; expired after maxDisconnectionDuration', T, async () => {
      const room = uniq('rec');
      const s = await connected('/test', transports);
      const other = await connected('/test', transports);
      await call(s, 'join', room);
      await call(s, 'set-data', { user: 'bob' });
      const firstId = s.id;
      const got = record(s);
      await call(other, 'to', { rooms: [room], event: 'before', args: [0] });
      await sleep(100);
      const d = waitEvent(s, 'disconnect', 3000);
      s.io.engine.close();
      await d;
      await call(other, 'to', { rooms: [room], event: 'missed', args: [1] });
      await call(other, 'to', { rooms: [uniq('elsewhere')], event: 'not-mine', args: [] });
      await call(other, 'to', { rooms: [room], event: 'missed', args: [2, { b: true }] });
      s.connect();
      await waitEvent(s, 'connect', 5000);
      assert.equal(s.recovered, true);
      assert.equal(s.id, firstId);
      await sleep(100);
      assert.deepEqual(got, [['before', 0], ['missed', 1], ['missed', 2, { b: true }]]);
      const info = (await call(s, 'info'))[0];
      assert.equal(info.recovered, true);
      assert.deepEqual(info.rooms, [firstId, room].sort());
      assert.deepEqual(info.data, { user: 'bob' });

      const d2 = waitEvent(s, 'disconnect', 3000);
      s.io.engine.close();
      await d2;
      await sleep(RECOVERY_MS + 1200);
      s.connect();
      await waitEvent(s, 'connect', 5000);
      assert.equal(s.recovered, false);
      assert.notEqual(s.id, firstId);
    });
  });
}
