// Node reference for sioc-protocol-server: the same HTTP endpoints, built on
// the real engine.io 6.6 and socket.io 4.8 packages, so that every e2e test
// can first be proven against Node's own behaviour (SIOC_REF=1) before it is
// pointed at the C program.
//
//   /engine.io/  Engine.IO v4, pingInterval 300, pingTimeout 200,
//                maxHttpBufferSize 1e6, CORS open to any origin with
//                credentials; every message is echoed back as it came.
//   /socket.io/  Socket.IO v5, Node's default heartbeat (25000/20000, or
//                SIOC_SIO_HEARTBEAT=INTERVAL,TIMEOUT), connectTimeout 1000.
//                On connection (namespaces "/" and "/custom") emits "auth"
//                with the handshake auth; "message" -> "message-back" with the
//                same arguments; "message-with-ack" acks with the same
//                arguments. "/api" exposes the socket API to
//                tests/e2e/socketio_api.test.mjs (the twin of
//                apps/protocol-server/api.c, see apiConnection below);
//                "/cluster" the cluster API to tests/e2e/cluster_api.test.mjs
//                (apps/protocol-server/cluster.c, see clusterConnection).
//                Other namespaces are refused ("Invalid namespace").
//   /msgpack.io/ Socket.IO with parser: socket.io-msgpack-parser, the same
//                "/" behaviour as /socket.io/.
//   anything else: 404.
//
// Usage: node tests/ref/protocol-server.mjs [--port N]   (0 = any free port)
// Prints "listening on http://localhost:PORT" once listening; exits 0 on
// SIGTERM/SIGINT.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Server as EngineServer } from 'engine.io';
import { Server as IoServer } from 'socket.io';
import msgpackParser from 'socket.io-msgpack-parser';
import { instrument } from '@socket.io/admin-ui';
import bcrypt from 'bcryptjs';

/** Parses --port N (default 3000) from argv. */
function parsePort(argv) {
  const i = argv.indexOf('--port');
  return i >= 0 ? Number(argv[i + 1]) : 3000;
}

/** --tls-cert/--tls-key/--tls-ca PEM files (https), or null. */
function parseTls(argv) {
  const file = (name) => { const i = argv.indexOf(name); return i >= 0 ? fs.readFileSync(argv[i + 1]) : undefined; };
  const cert = file('--tls-cert');
  if (!cert) return null;
  const ca = file('--tls-ca');
  // sioc bounds the TLS handshake by its headers timeout: Node's handshakeTimeout.
  const h = argv.indexOf('--headers-timeout');
  return {
    cert, key: file('--tls-key'), ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
    ...(h >= 0 ? { handshakeTimeout: Number(argv[h + 1]) } : {}),
  };
}
const TLS = parseTls(process.argv.slice(2));

const HEARTBEAT = { pingInterval: 300, pingTimeout: 200 };
// The /socket.io/ and /msgpack.io/ heartbeat (as socketio.c): Node's default,
// so a loaded machine loses no client; SIOC_SIO_HEARTBEAT=INTERVAL,TIMEOUT for
// the suites that test the heartbeat.
const [hbInterval, hbTimeout] = (process.env.SIOC_SIO_HEARTBEAT ?? '').split(',').map(Number);
const IO_HEARTBEAT = hbTimeout ? { pingInterval: hbInterval, pingTimeout: hbTimeout } : {};
const CORS = { origin: true, credentials: true };

// The fallback handler: engine.io and socket.io wrap it and call it for any
// request outside their path.
const notFound = (req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not Found');
};
const httpServer = TLS ? https.createServer(TLS, notFound) : http.createServer(notFound);

const engine = new EngineServer({ ...HEARTBEAT, maxHttpBufferSize: 1e6, cors: CORS });
engine.attach(httpServer, { path: '/engine.io/' });
engine.on('connection', (socket) => {
  socket.on('message', (data) => socket.send(data));
});

const io = new IoServer(httpServer, {
  path: '/socket.io/', ...IO_HEARTBEAT, connectTimeout: 1000, maxHttpBufferSize: 1e6, cors: CORS,
  cleanupEmptyChildNamespaces: true,
  // The twin of allow_request in apps/protocol-server/socketio.c.
  allowRequest: (req, cb) => {
    const deny = new URL(req.url, 'http://x').searchParams.get('deny') === 'loopback';
    cb(null, !(deny && ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(req.socket.remoteAddress)));
  },
});

/** The behaviour shared by "/" and "/custom". */
function onConnection(socket) {
  socket.emit('auth', socket.handshake.auth);
  // An ack callback (present when the client asked for an ack) is not an
  // argument to send back: it would make socket.io request an ack of its own.
  socket.on('message', (...args) => socket.emit('message-back', ...args.filter((a) => typeof a !== 'function')));
  socket.on('message-with-ack', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
}
io.on('connection', onConnection);
io.of('/custom').on('connection', onConnection);

/** /msgpack.io/: the same "/" with the msgpack parser. */
const ioMsgpack = new IoServer(httpServer, {
  path: '/msgpack.io/', ...IO_HEARTBEAT, connectTimeout: 1000, maxHttpBufferSize: 1e6, cors: CORS,
  parser: msgpackParser, serveClient: false,
});
ioMsgpack.on('connection', onConnection);

/** "/api": the same remote controls as apps/protocol-server/api.c. */
const reasons = {};
let connErrors = [];
/** mw-hold steps waiting for mw-release (as apps/protocol-server/api.c and extra.c). */
const held = [];
io.engine.on('connection_error', (err) => {
  connErrors.push({ code: err.code, message: err.message, context: err.context ?? null, method: err.req.method, url: err.req.url });
});
function apiConnection(socket) {
  const incoming = [];
  const outgoing = [];
  const on = (ev, fn) => socket.on(ev, (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : () => {};
    fn(ack, ...args);
  });
  socket.onAny((ev) => incoming.push(`any1:${ev}`));
  socket.prependAny((ev) => incoming.push(`any0:${ev}`));
  socket.onAnyOutgoing((ev) => outgoing.push(ev));
  socket.use((packet, next) => {
    if (packet[0] === 'mw-deny') {
      const e = new Error('denied');
      e.data = { code: 7 };
      next(e);
      return;
    }
    if (packet[0] === 'mw-edit') {
      const ack = typeof packet[packet.length - 1] === 'function' ? packet.pop() : null;
      packet.push('edited');
      if (ack) packet.push(ack);
    }
    if (packet[0] === 'mw-hold' && held.length < 16) {
      held.push(next);
      return;
    }
    next();
  });
  socket.use((packet, next) => next(packet[0] === 'mw-hold' ? new Error('held-denied') : undefined));
  socket.on('error', (err) => {
    incoming.push(`error:${err.message}`);
    (reasons[socket.id] ??= {}).error = `${err.message}:${socket.connected}`;
    socket.emit('error-seen', { message: err.message, data: err.data });
  });
  socket.on('disconnecting', (reason) => { (reasons[socket.id] ??= {}).disconnecting = reason; });
  socket.on('disconnect', (reason) => { (reasons[socket.id] ??= {}).disconnect = reason; });
  socket.once('once', () => socket.emit('once-hit'));
  const offMe = () => socket.emit('off-hit');
  socket.on('off-me', offMe);
  on('incoming', (ack) => ack([...incoming]));
  on('outgoing', (ack) => ack([...outgoing]));
  on('ping-me', (ack, n) => { socket.emit('pong-you', n); socket.nsp.emit('to-all', n); ack(true); });
  on('remove-off', (ack) => { const n = socket.listeners('off-me').length; socket.off('off-me', offMe); ack(n - socket.listeners('off-me').length); });
  on('mw-edit', (ack, ...args) => ack(...args));
  on('mw-release', (ack) => { const n = held.splice(0); n.forEach((next) => next()); ack(n.length); });
  on('reason', (ack, id) => ack(reasons[id] ?? null));
  on('handshake', (ack) => {
    const q = socket.handshake.query;
    const name = Array.isArray(q.name) ? q.name[0] : q.name;
    const a = socket.handshake.address;
    ack({ name: name ?? null, tags: q.tags ?? null, loopback: ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(a), secure: socket.handshake.secure });
  });
  on('compress-off', (ack, n) => socket.compress(false).emit('plain', 'a'.repeat(n)));
  on('nsp-count', (ack) => ack(io._nsps.size));
  on('conn-errors', (ack) => { ack(connErrors); connErrors = []; });
}
io.of('/api').on('connection', apiConnection);
io.of(/^\/game-\d+$/).on('connection', (socket) => socket.emit('welcome', socket.nsp.name));

/** "/cluster": the same remote controls as apps/protocol-server/cluster.c. */
const cluster = io.of('/cluster');
let roomLog = [];
for (const ev of ['create-room', 'delete-room', 'join-room', 'leave-room']) {
  cluster.adapter.on(ev, (room, sid) => roomLog.push(sid === undefined ? [ev, room] : [ev, room, sid]));
}
let ssCalled = 0;
let ssLocal = 0;
cluster.on('ping', () => { ssLocal++; });
/** What the tests compare of a handshake (the rest differs by transport). */
function hsSummary(hs) {
  return {
    loopback: ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(hs.address),
    xdomain: hs.xdomain,
    secure: hs.secure,
    issued: Number.isInteger(hs.issued),
    time: typeof hs.time === 'string',
    url: hs.url.startsWith('/socket.io/?') && hs.url.includes('EIO=4'),
    x: hs.query.x ?? null,
    auth: hs.auth,
    host: typeof hs.headers.host === 'string',
  };
}
function clusterConnection(socket) {
  const on = (ev, fn) => socket.on(ev, (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : () => {};
    fn(ack, ...args);
  });
  const to = (room) => (room ? cluster.in(room) : cluster);
  on('fetch', async (ack, room) => {
    const sockets = await to(room).fetchSockets();
    ack(sockets.map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), data: s.data, hs: hsSummary(s.handshake) }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  });
  on('fetch-op', async (ack, { room, op, arg }) => {
    const sockets = await to(room).fetchSockets();
    for (const s of sockets) {
      if (op === 'emit') s.emit('op-hit', arg ?? null);
      else if (op === 'join') s.join(arg);
      else if (op === 'leave') s.leave(arg);
      else if (op === 'disconnect') s.disconnect(arg === true);
    }
    ack(sockets.length);
  });
  on('join', (ack, room) => { socket.join(room); ack(); });
  on('set-data', (ack, obj) => { Object.assign(socket.data, obj); ack(); });
  on('set-data-later', (ack, obj) => {
    socket.timeout(5000).emit('data-please', (err) => { if (!err) Object.assign(socket.data, obj); });
    ack();
  });
  on('info', (ack) => ack({ rooms: [...socket.rooms].sort() }));
  on('bcast-ack', (ack, { rooms, timeout }) => {
    cluster.to(rooms).timeout(timeout).emit('q', (err, responses) => {
      socket.emit('bcast-ack-result', { err: err ? err.message : null, responses });
    });
    ack();
  });
  on('server-side', (ack, withAck) => {
    const warn = console.warn;
    console.warn = () => {}; // "this adapter does not support the serverSideEmit() functionality"
    if (withAck) cluster.serverSideEmit('ping', 1, () => { ssCalled++; });
    else cluster.serverSideEmit('ping', 1);
    console.warn = warn;
    ack();
  });
  on('server-side-result', (ack) => ack({ called: ssCalled, local: ssLocal }));
  on('server-count', async (ack) => ack(await io.of('/cluster').adapter.serverCount()));
  on('room-size', (ack, room) => ack(cluster.adapter.rooms.get(room)?.size ?? 0));
  on('rooms', (ack) => ack([...cluster.adapter.rooms.keys()].sort()));
  on('room-events', (ack) => { const log = roomLog; roomLog = []; ack(log); });
}
cluster.use((socket, next) => {
  const d = socket.handshake.auth?.data;
  if (d && typeof d === 'object' && !Array.isArray(d)) Object.assign(socket.data, d);
  next();
});
cluster.on('connection', clusterConnection);

// SIOC_ADMIN=USER:PASSWORD: the admin UI's own instrument() (the twin of
// setup_admin in apps/protocol-server/socketio.c).
if (process.env.SIOC_ADMIN) {
  const [username, ...rest] = process.env.SIOC_ADMIN.split(':');
  const pw = rest.join(':');
  instrument(io, {
    auth: { type: 'basic', username, password: /^\$2[aby]\$\d\d\$/.test(pw) && pw.length === 60 ? pw : bcrypt.hashSync(pw, 10) },
    mode: process.env.SIOC_ADMIN_MODE ?? 'development',
    readonly: process.env.SIOC_ADMIN_READONLY === '1',
  });
}

httpServer.listen(parsePort(process.argv.slice(2)), () => {
  console.log(`listening on ${TLS ? 'https' : 'http'}://localhost:${httpServer.address().port}`);
});

/** Orderly shutdown: close every client, then exit 0. */
function shutdown() {
  io.close();
  ioMsgpack.close();
  engine.close();
  httpServer.closeAllConnections?.();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
