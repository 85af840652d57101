// The admin UI protocol (@socket.io/admin-ui 0.5), differentially: one
// scripted scenario runs against sioc-protocol-server with SIOC_ADMIN set
// (sio_admin_instrument) and against tests/ref/protocol-server.mjs, where
// Node's own instrument() serves the same namespace, in the same run. An
// admin client speaks "/admin" as the UI does (auth {username, password},
// then {sessionId}); normal clients connect, join rooms, set data, emit
// (text and binary) and disconnect; the admin sends the UI's actions
// (emit, join, leave, _disconnect). Every event the admin client receives
// is recorded, its ids, dates and per-connection values (ports, client ids)
// replaced by stable names, and the two transcripts must be equal, event
// by event, in order. server_stats (timed) is compared by shape.
// Both transports. With SIOC_REF=1 both sides are Node.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import bcrypt from 'bcryptjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { createClient } from 'redis';

const USER = 'admin';
const PASSWORD = 's3cret-pw';
// The servers get a bcrypt hash of 2^4 rounds (bcryptjs's, as a Node user
// would make it): at the default 10 rounds Node's bcryptjs can take longer
// on a loaded machine than the protocol server's 1 s connectTimeout, which
// then closes the admin client's connection during the login. And Node's
// default heartbeat: the protocol server's 300/200 ms one loses clients on
// a loaded machine, and this suite does not test heartbeats.
const HASH = bcrypt.hashSync(PASSWORD, 4);
const ENV = { SIOC_ADMIN: `${USER}:${HASH}`, SIOC_SIO_HEARTBEAT: '25000,20000' };
const T = { timeout: 60_000 };
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const servers = {};
async function server(kind, env = ENV) {
  const key = `${kind}:${JSON.stringify(env)}`;
  servers[key] ??= await startServer('sioc-protocol-server', [], env, { ref: kind === 'node' ? true : undefined });
  return servers[key];
}
after(async () => {
  for (const s of Object.values(servers)) await s.stop();
});

let lastLog = null; // the event names the current admin client got, for errors

/** Resolves once pred() holds (polled), or rejects after ms. */
async function until(pred, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${lastLog ? `; admin log: ${lastLog()}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** p, or a rejection naming what did not happen within ms. */
function within(p, what, ms = 10_000) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms${lastLog ? `; admin log: ${lastLog()}` : ''}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function connect(url, nsp, opts) {
  return io(`${url}${nsp}`, { forceNew: true, reconnection: false, ...opts });
}

async function connected(socket) {
  if (socket.connected) return;
  await within(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), `connect to ${socket.nsp}`);
}

/** The message of the connect_error a connection attempt ends with. */
async function connectError(url, auth, transports) {
  const s = connect(url, '/admin', { auth, transports });
  try {
    return await within(new Promise((resolve, reject) => {
      s.once('connect', () => reject(new Error('connected with bad credentials')));
      s.once('connect_error', (err) => resolve({ message: err.message, data: err.data ?? null }));
    }), 'connect_error');
  } finally {
    s.close();
  }
}

/** A recorder: an admin client that logs [event, args] of everything it gets. */
function admin(url, auth, transports) {
  const s = connect(url, '/admin', { auth, transports });
  const log = [];
  s.onAny((ev, ...args) => log.push([ev, args]));
  s.on('disconnect', (reason) => log.push(['(disconnect)', [reason]]));
  lastLog = () => JSON.stringify(log.map(([e, a]) => (e === '(disconnect)' ? `${e} ${a[0]}` : e)));
  return { s, log, has: (ev, pred = () => true) => log.some(([e, a]) => e === ev && pred(a)) };
}

/** What a handshake looks like, without per-connection values. */
function handshakeShape(h) {
  return {
    address: typeof h.address,
    headers: Object.keys(h.headers).sort(),
    query: Object.keys(h.query).sort(),
    issued: typeof h.issued,
    secure: h.secure,
    time: typeof h.time,
    url: typeof h.url === 'string' && h.url.startsWith('/socket.io/?'),
    xdomain: h.xdomain,
    keys: Object.keys(h).sort(),
  };
}

/** A value with ids named, dates and buffers made comparable. */
function normalize(v, names) {
  if (typeof v === 'string') {
    if (names.has(v)) return names.get(v);
    return ISO_DATE.test(v) ? '<date>' : v;
  }
  if (v instanceof Uint8Array || (typeof Buffer !== 'undefined' && Buffer.isBuffer(v))) return { buffer: Buffer.from(v).toString('hex') };
  if (v instanceof ArrayBuffer) return { buffer: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map((x) => normalize(x, names));
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) {
      if (k === 'handshake') o[k] = handshakeShape(v[k]);
      else if (k === 'clientId') o[k] = typeof v[k] === 'string' && v[k].length === 12 ? '<clientId>' : v[k];
      else o[k] = normalize(v[k], names);
    }
    return o;
  }
  return v;
}

/** A server_stats payload's shape (its values are timed). */
function statsShape(st) {
  return {
    keys: Object.keys(st).sort(),
    types: Object.fromEntries(Object.entries(st).map(([k, v]) => [k, Array.isArray(v) ? 'array' : typeof v])),
    // a dynamic child namespace is in it only while its socket is (timed)
    namespaces: st.namespaces.map((n) => n.name).filter((n) => !n.startsWith('/game-')).sort(),
    nspKeys: [...new Set(st.namespaces.map((n) => Object.keys(n).sort().join()))],
    eventKeys: [...new Set(st.aggregatedEvents.map((e) => Object.keys(e).sort().join()))].sort(),
    eventTypes: [...new Set(st.aggregatedEvents.map((e) => e.type))].sort(),
  };
}

/**
 * The scenario. Returns {transcript, stats, errors}: the admin client's
 * events in order (server_stats left out), the first server_stats' shape,
 * and the connect_error of the bad logins.
 */
async function scenario(url, transports) {
  const names = new Map();
  const errors = {
    wrongPassword: await connectError(url, { username: USER, password: 'nope' }, transports),
    wrongUser: await connectError(url, { username: 'root', password: PASSWORD }, transports),
    none: await connectError(url, undefined, transports),
    badSession: await connectError(url, { sessionId: '0123456789abcdef' }, transports),
  };
  const adm = admin(url, { username: USER, password: PASSWORD }, transports);
  const clients = [];
  try {
    await connected(adm.s);
    names.set(adm.s.id, '<admin>');
    await until(() => adm.has('all_sockets'), 'all_sockets');
    const session = adm.log.find(([e]) => e === 'session')?.[1][0];
    assert.match(session ?? '', /^[0-9a-f]{16}$/);
    names.set(session, '<session>');

    // A: /cluster, whose middleware puts auth.data into socket.data (Node:
    // one socket_updated per key, before socket_connected), joins a room
    // and sets data: two keys in one handler (one socket_updated per key,
    // as Node's Proxy), then from an ack callback, outside any event (at
    // once, not with the socket's next event).
    const a = connect(url, '/cluster', { transports, auth: { data: { team: 'red', n: 1 } } });
    clients.push(a);
    a.on('data-please', (ack) => ack());
    await connected(a);
    const aId = a.id; // the client forgets its id once disconnected
    names.set(aId, '<A>');
    await until(() => adm.has('socket_connected', ([s]) => s.id === a.id), 'socket_connected A');
    await within(a.emitWithAck('join', 'room1'), 'ack of join');
    await until(() => adm.has('room_joined', ([, room]) => room === 'room1'), 'room_joined room1');
    await within(a.emitWithAck('set-data', { nick: 'ann', age: 3 }), 'ack of set-data');
    await until(() => adm.has('socket_updated', ([u]) => u.data?.age === 3), 'socket_updated');
    await within(a.emitWithAck('set-data-later', { mood: 'calm' }), 'ack of set-data-later');
    await until(() => adm.has('socket_updated', ([u]) => u.data?.mood === 'calm'), 'socket_updated from an ack callback');

    // B: "/", which greets with "auth" and echoes "message" (text, binary).
    const b = connect(url, '/', { transports, auth: { token: 'b' } });
    clients.push(b);
    const gotAuth = new Promise((r) => b.once('auth', r));
    await connected(b);
    const bId = b.id;
    names.set(bId, '<B>');
    await within(gotAuth, 'auth event');
    await until(() => adm.has('event_sent', ([, id, args]) => id === b.id && args[0] === 'auth'), 'event_sent auth');
    const back = [];
    b.on('message-back', (...args) => back.push(args));
    // One at a time first.
    b.emit('message', 1, 'two', { three: [3] });
    await until(() => back.length === 1, 'message-back');
    b.emit('message', Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) });
    await until(() => back.length === 2, 'message-back x2');
    await until(() => adm.log.filter(([e, [, id]]) => e === 'event_sent' && id === b.id).length === 3, 'event_sent x3');
    // Two in one go: one POST on B's session carrying both (the client
    // itself sends one per POST when none is in flight), and Node runs an
    // event's handlers one tick after the onAny listeners of every packet
    // of that read: event_received x2, then event_sent x2. (Over WebSocket
    // two frames may come in one read or two: not compared.)
    if (transports[0] === 'polling') {
      const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${b.io.engine.id}`, {
        method: 'POST', body: '42["message","x"]\x1e42["message","y"]', headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      });
      assert.equal(res.status, 200);
      await until(() => back.length === 4, 'message-back x4');
      await until(() => adm.log.filter(([e, [, id]]) => e === 'event_sent' && id === b.id).length === 5, 'event_sent x5');
    }

    // G: a dynamic child namespace, created after instrument() (Node's
    // "new_namespace"), removed again when G leaves.
    const g = connect(url, '/game-7', { transports });
    const welcome = new Promise((r) => g.once('welcome', r));
    await connected(g);
    const gId = g.id;
    names.set(gId, '<G>');
    assert.equal(await within(welcome, 'welcome'), '/game-7');
    await until(() => adm.has('event_sent', ([, id]) => id === gId), 'event_sent welcome');
    g.disconnect();
    await until(() => adm.has('room_left', ([, , id]) => id === gId), 'room_left G');

    // The UI's actions.
    const hello = new Promise((r) => a.once('hello', (...args) => r(args)));
    adm.s.emit('emit', '/cluster', 'room1', 'hello', 'world', 42);
    assert.deepEqual(await within(hello, 'hello'), ['world', 42]);
    await until(() => adm.has('event_sent', ([, id, args]) => id === a.id && args[0] === 'hello'), 'event_sent hello');
    adm.s.emit('join', '/cluster', 'room2', 'room1');
    await until(() => adm.has('room_joined', ([, room]) => room === 'room2'), 'room_joined room2');
    adm.s.emit('leave', '/cluster', 'room2');
    await until(() => adm.has('room_left', ([, room]) => room === 'room2'), 'room_left room2');
    const bGone = new Promise((r) => b.once('disconnect', r));
    adm.s.emit('_disconnect', '/', false);
    assert.equal(await within(bGone, 'disconnect of B'), 'io server disconnect');
    await until(() => adm.has('room_left', ([, , id]) => id === bId), 'room_left B');

    // A leaves by itself.
    a.disconnect();
    await until(() => adm.has('socket_disconnected', ([, id]) => id === aId), 'socket_disconnected A');
    await until(() => adm.log.filter(([e, [, , id]]) => e === 'room_left' && id === aId).length === 3, 'room_left A x3 (room2 earlier)');

    // A second admin comes back with the session id, then leaves.
    const adm2 = admin(url, { sessionId: session }, transports);
    await connected(adm2.s);
    names.set(adm2.s.id, '<admin2>');
    await until(() => adm2.has('all_sockets'), 'all_sockets (session)');
    assert.ok(!adm2.has('session'), 'no new session for a session login');
    const id2 = adm2.s.id;
    adm2.s.disconnect();
    await until(() => adm.has('room_left', ([, , id]) => id === id2), 'room_left admin2');

    await until(() => adm.has('server_stats'), 'server_stats', 4000);
    const stats = adm.log.find(([e]) => e === 'server_stats')[1][0];
    const transcript = adm.log.filter(([e]) => e !== 'server_stats' && e !== '(disconnect)').map(([e, args]) => [e, normalize(args, names)]);
    return { transcript, stats: statsShape(stats), errors, admin2: normalize(adm2.log.filter(([e]) => e !== 'server_stats' && e !== '(disconnect)').map(([e]) => e), names) };
  } finally {
    for (const c of clients) c.close();
    adm.s.close();
  }
}

function compare(ours, node) {
  if (process.env.ADMIN_DUMP) console.log(JSON.stringify(ours, null, 1));
  for (let i = 0; i < Math.max(ours.transcript.length, node.transcript.length); i++) {
    assert.deepEqual(ours.transcript[i], node.transcript[i], `event #${i} differs\nsioc: ${JSON.stringify(ours.transcript.map((x) => x[0]))}\nnode: ${JSON.stringify(node.transcript.map((x) => x[0]))}`);
  }
  assert.deepEqual(ours.stats, node.stats);
  assert.deepEqual(ours.errors, node.errors);
  assert.deepEqual(ours.admin2, node.admin2);
}

/**
 * Production mode, read-only: config only offers AGGREGATED_EVENTS, no
 * socket or room events, the actions are ignored, server_stats counts.
 */
async function quietScenario(url, transports) {
  const adm = admin(url, { username: USER, password: PASSWORD }, transports);
  const a = connect(url, '/cluster', { transports });
  try {
    await connected(adm.s);
    await until(() => adm.has('config'), 'config');
    await connected(a);
    await within(a.emitWithAck('join', 'room1'), 'ack of join');
    let hello = 0;
    a.on('hello', () => { hello++; });
    adm.s.emit('emit', '/cluster', 'room1', 'hello');
    adm.s.emit('emit', '/cluster', null, 'hello');
    adm.s.emit('join', '/cluster', 'room9');
    adm.s.emit('_disconnect', '/cluster', true);
    // a round trip on A after the actions: they had their chance
    const info = await within(a.emitWithAck('info'), 'ack of info');
    const since = adm.log.length;
    await until(() => adm.log.slice(since).some(([e]) => e === 'server_stats'), 'server_stats after A', 4000);
    const stats = adm.log.slice(since).find(([e]) => e === 'server_stats')[1][0];
    return {
      events: adm.log.filter(([e]) => e !== 'server_stats' && e !== '(disconnect)').map(([e, args]) => (e === 'session' ? [e] : [e, args])),
      rooms: info.rooms.filter((r) => r !== a.id),
      hello,
      connected: a.connected,
      counts: {
        clients: stats.clientsCount,
        polling: stats.pollingClientsCount,
        sockets: Object.fromEntries(stats.namespaces.map((n) => [n.name, n.socketsCount])),
      },

    };
  } finally {
    a.close();
    adm.s.close();
  }
}

/** A client that upgrades from polling: socket_connected then socket_updated. */
async function upgradeScenario(url) {
  const adm = admin(url, { username: USER, password: PASSWORD }, ['websocket']);
  let c;
  try {
    await connected(adm.s);
    await until(() => adm.has('all_sockets'), 'all_sockets');
    c = connect(url, '/cluster', {});
    await connected(c);
    const id = c.id;
    await within(new Promise((r) => (c.io.engine.transport.name === 'websocket' ? r() : c.io.engine.once('upgrade', r))), 'upgrade');
    await until(() => adm.has('socket_updated', ([u]) => u.id === id), 'socket_updated');
    const names = new Map([[id, '<C>']]);
    return adm.log
      .filter(([e, args]) => e === 'socket_updated' || (e === 'socket_connected' && args[0].id === id))
      .map(([e, args]) => [e, e === 'socket_connected' ? { transport: args[0].transport } : normalize(args, names)]);
  } finally {
    c?.close();
    adm.s.close();
  }
}

const QUIET = { ...ENV, SIOC_ADMIN_MODE: 'production', SIOC_ADMIN_READONLY: '1' };

/**
 * What server_stats counts for one client's life (connect to "/", the
 * server's "auth" greeting, one echoed message, close), summed over the
 * windows that follow the server_stats the admin client had just got. In
 * production mode the admin client gets nothing else, so each window's
 * packetsOut also holds the one server_stats packet sent at its start
 * (counted after its own window was taken): those are subtracted. Node
 * counts what its engine's packetCreate/packet events carry data for: the
 * Engine.IO open packet is sent before instrument() listens to the new
 * socket, and pings and pongs carry none.
 */
async function statsCountScenario(url, transport) {
  const adm = admin(url, { username: USER, password: PASSWORD }, ['websocket']);
  let c;
  try {
    await connected(adm.s);
    await until(() => adm.has('config'), 'config');
    const stats = () => adm.log.filter(([e]) => e === 'server_stats').map(([, [st]]) => st);
    const before = stats().length;
    await until(() => stats().length > before, 'a server_stats', 4000);
    const start = stats().length; // windows from here on
    c = connect(url, '/', { transports: [transport] });
    const greeted = new Promise((r) => c.once('auth', r));
    await connected(c);
    await within(greeted, 'auth');
    const back = new Promise((r) => c.once('message-back', r));
    c.emit('message', 'x');
    await within(back, 'message-back');
    c.close();
    await new Promise((r) => setTimeout(r, 100));
    const end = stats().length;
    await until(() => stats().length > end, 'the server_stats after the client', 4000);
    const windows = stats().slice(start);
    const sum = (type) => windows.flatMap((st) => st.aggregatedEvents).filter((e) => e.type === type).reduce((n, e) => n + e.count, 0);
    const reasons = windows.flatMap((st) => st.aggregatedEvents).filter((e) => e.type === 'rawDisconnection').map((e) => e.subType);
    return {
      rawConnection: sum('rawConnection'),
      rawDisconnection: reasons,
      packetsIn: sum('packetsIn'),
      bytesIn: sum('bytesIn'),
      packetsOut: sum('packetsOut') - windows.length,
    };
  } finally {
    c?.close();
    adm.s.close();
  }
}

for (const transport of ['websocket', 'polling']) {
  describe(`admin UI over ${transport}`, () => {
    test('the scenario gives the admin client the same events as Node\'s instrument()', T, async () => {
      const node = await scenario((await server('node')).url, [transport]);
      const ours = await scenario((await server('sioc')).url, [transport]);
      assert.equal(node.errors.wrongPassword.message, 'invalid credentials');
      compare(ours, node);
    });

    test('production mode, read-only: config and server_stats only, actions ignored', T, async () => {
      const node = await quietScenario((await server('node', QUIET)).url, [transport]);
      const ours = await quietScenario((await server('sioc', QUIET)).url, [transport]);
      assert.deepEqual(node.events, [['session'], ['config', [{ supportedFeatures: ['AGGREGATED_EVENTS'] }]]]);
      assert.deepEqual(ours, node);
    });
  });
}

for (const transport of ['websocket', 'polling']) {
  test(`server_stats counts a ${transport} client's packets and bytes as Node does`, T, async () => {
    const node = await statsCountScenario((await server('node', QUIET)).url, transport);
    const ours = await statsCountScenario((await server('sioc', QUIET)).url, transport);
    // out: CONNECT reply, "auth", "message-back" (no open packet); in:
    // CONNECT, "message", DISCONNECT
    assert.deepEqual(node, { rawConnection: 1, rawDisconnection: ['transport close'], packetsIn: 3, bytesIn: 18, packetsOut: 3 });
    assert.deepEqual(ours, node);
  });
}

test('an upgrade from polling is a socket_updated with the new transport', T, async () => {
  const node = await upgradeScenario((await server('node')).url);
  const ours = await upgradeScenario((await server('sioc')).url);
  assert.deepEqual(node, [['socket_connected', { transport: 'polling' }], ['socket_updated', [{ id: '<C>', nsp: '/cluster', transport: 'websocket' }]]]);
  assert.deepEqual(ours, node);
});

/** sioc-chat --admin and tests/ref/chat.mjs --admin: one chat client's life. */
async function chatScenario(kind) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-admin-chat-'));
  const chat = await startServer('sioc-chat', ['--db', path.join(dir, 'chat.db'), '--admin', `${USER}:${PASSWORD}`], {},
    { ref: kind === 'node' ? true : undefined });
  const names = new Map();
  let adm;
  try {
    const refused = await connectError(chat.url, { username: USER, password: 'x' }, ['websocket']);
    adm = admin(chat.url, { username: USER, password: PASSWORD }, ['websocket']);
    await connected(adm.s);
    names.set(adm.s.id, '<admin>');
    await until(() => adm.has('all_sockets'), 'all_sockets');
    const c = connect(chat.url, '/', { transports: ['websocket'], auth: { serverOffset: 0 } });
    await connected(c);
    const id = c.id;
    names.set(id, '<C>');
    const [ack] = await within(Promise.all([c.emitWithAck('chat message', 'hi', 'off-1'), new Promise((r) => c.once('chat message', r))]), 'chat message ack and broadcast');
    assert.equal(ack, undefined);
    await until(() => adm.has('event_sent', ([, sid, args]) => sid === id && args[0] === 'chat message'), 'event_sent');
    c.disconnect();
    await until(() => adm.has('socket_disconnected', ([, sid]) => sid === id), 'socket_disconnected');
    await new Promise((r) => setTimeout(r, 50)); // the room_left that follow
    // The chat keeps packets for connection state recovery, so each emit
    // ends with its offset (yeast ids in Node, counters in sioc), and
    // event_sent shows it as Node's onAnyOutgoing does: ("chat message",
    // msg, id, offset); sioc's chat also parks a new socket in its
    // "replaying" room (apps/chat).
    const offset = (args) => (typeof args.at(-1) === 'string' && !ISO_DATE.test(args.at(-1)) ? [...args.slice(0, -1), '<offset>'] : args);
    const sent = (e, args) => (e === 'event_sent' ? [args[0], args[1], offset(args[2]), ...args.slice(3)] : args);
    return {
      refused,
      events: adm.log.filter(([e, args]) => e !== 'server_stats' && e !== 'session' && e !== '(disconnect)' && args[1] !== 'replaying')
        .map(([e, args]) => [e, normalize(sent(e, offset(args)), names)]),
    };
  } finally {
    adm?.s.close();
    await chat.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('sioc-chat --admin USER:PASSWORD serves the admin namespace as the Node chat with instrument() does', T, async () => {
  const node = await chatScenario('node');
  const ours = await chatScenario('sioc');
  if (process.env.ADMIN_DUMP) console.log(JSON.stringify({ node, ours }, null, 1));
  assert.deepEqual(node.refused, { message: 'invalid credentials', data: null });
  assert.deepEqual(ours, node);
});

// A cluster on one Redis: node A is sioc-cluster-node, node N its Node twin,
// both instrumented. The admin events are emits to the admin namespace, so
// an admin client on either node hears both nodes; all_sockets is a
// fetchSockets across the cluster; an action reaches the other node's
// sockets; every node sends its own server_stats.
test('across a Redis cluster of a sioc node and a Node node, each admin client sees and steers both', T, async () => {
  const redis = await startRedis();
  const nodes = {};
  const clients = [];
  const admins = [];
  try {
    const args = (name) => ['--redis', redis.url, '--name', name, '--admin', `${USER}:${HASH}`];
    nodes.A = await startServer('sioc-cluster-node', args('A'));
    nodes.N = await startServer('sioc-cluster-node', args('N'), {}, { ref: true });
    const client = async (node) => {
      const c = connect(nodes[node].url, '/', { transports: ['websocket'] });
      clients.push(c);
      await connected(c);
      return c;
    };
    const a1 = await client('A');
    const n1 = await client('N');
    const ids = { a1: a1.id, n1: n1.id };
    const x = admin(nodes.A.url, { username: USER, password: PASSWORD }, ['websocket']);
    admins.push(x);
    await connected(x.s);
    await until(() => x.has('all_sockets'), 'all_sockets on A');
    const y = admin(nodes.N.url, { username: USER, password: PASSWORD }, ['websocket']);
    admins.push(y);
    await connected(y.s);
    await until(() => y.has('all_sockets'), 'all_sockets on N');
    ids.x = x.s.id;
    ids.y = y.s.id;
    const listed = (adm) => adm.log.find(([e]) => e === 'all_sockets')[1][0].map((s) => `${s.nsp} ${s.id} ${s.transport}`).sort();
    const expect = (...names) => names.map((n) => `${n[0] === 'x' || n[0] === 'y' ? '/admin' : '/'} ${ids[n]} websocket`).sort();
    assert.deepEqual(listed(x), expect('a1', 'n1', 'x'), 'all_sockets from the sioc node');
    assert.deepEqual(listed(y), expect('a1', 'n1', 'x', 'y'), 'all_sockets from the Node node');

    // the Node node's admin client arriving is heard on the sioc node's one
    await until(() => x.has('socket_connected', ([s]) => s.id === ids.y), `socket_connected of y on A (x got ${JSON.stringify(x.log.map(([e, a]) => e === 'server_stats' ? a[0].serverId : e))})`);
    // a client on each node: both admin clients hear both
    const a2 = await client('A');
    const n2 = await client('N');
    for (const [adm, where] of [[x, 'A'], [y, 'N']]) {
      for (const c of [a2, n2]) {
        await until(() => adm.has('socket_connected', ([s]) => s.id === c.id && s.nsp === '/' && s.transport === 'websocket'), `socket_connected of ${c.id} on ${where}`);
        await until(() => adm.has('room_joined', ([nsp, room, id]) => nsp === '/' && room === c.id && id === c.id), `room_joined of ${c.id} on ${where}`);
      }
    }
    // the sioc node's admin client disconnects every "/" socket of the cluster
    const gone = [a1, a2, n1, n2].map((c) => within(new Promise((r) => c.once('disconnect', r)), `disconnect of ${c.id}`));
    const allIds = [a1, a2, n1, n2].map((c) => c.id);
    x.s.emit('_disconnect', '/', false);
    assert.deepEqual(await Promise.all(gone), Array(4).fill('io server disconnect'));
    for (const [adm, where] of [[x, 'A'], [y, 'N']]) {
      await until(() => allIds.every((id) => adm.has('socket_disconnected', ([nsp, sid, reason]) => nsp === '/' && sid === id && reason === 'server namespace disconnect')), `socket_disconnected of all four on ${where}`);
    }
    // server_stats from both nodes reach each admin client
    for (const [adm, where] of [[x, 'A'], [y, 'N']]) {
      await until(() => ['A', 'N'].every((id) => adm.has('server_stats', ([st]) => st.serverId === id)), `server_stats of A and N on ${where}`, 6000);
    }
  } finally {
    for (const c of clients) c.close();
    for (const a of admins) a.s.close();
    for (const n of Object.values(nodes)) await n.stop();
    await redis.stop();
  }
});

// A node of the cluster that never answers (a Redis client subscribed to
// the request channels: counted by PUBSUB NUMSUB, silent): fetchSockets()
// fails at requestsTimeout, so Node's admin connection handler never sends
// all_sockets (its Promise.all rejects); sioc's neither, rather than a list
// without the namespaces that failed. Once that node is gone, a new admin
// client gets all_sockets again.
test('all_sockets is not sent when a node of the cluster does not answer fetchSockets, as with Node', T, async () => {
  const redis = await startRedis();
  const nodes = {};
  const admins = [];
  const silent = createClient({ url: redis.url });
  silent.on('error', () => {});
  try {
    const args = (name) => ['--redis', redis.url, '--name', name, '--admin', `${USER}:${HASH}`, '--requests-timeout', '1000'];
    nodes.A = await startServer('sioc-cluster-node', args('A'));
    nodes.N = await startServer('sioc-cluster-node', args('N'), {}, { ref: true });
    await silent.connect();
    for (const nsp of ['/', '/admin']) await silent.subscribe(`socket.io-request#${nsp}#`, () => {});
    const seen = {};
    for (const n of ['A', 'N']) {
      const x = admin(nodes[n].url, { username: USER, password: PASSWORD }, ['websocket']);
      admins.push(x);
      await connected(x.s);
      await until(() => x.has('config'), `config on ${n}`);
      await new Promise((r) => setTimeout(r, 1800)); // past requestsTimeout
      seen[n] = { config: x.has('config'), all_sockets: x.has('all_sockets'), connected: x.s.connected };
    }
    assert.deepEqual(seen.N, { config: true, all_sockets: false, connected: true });
    assert.deepEqual(seen.A, seen.N);
    await silent.quit();
    for (const n of ['A', 'N']) {
      const y = admin(nodes[n].url, { username: USER, password: PASSWORD }, ['websocket']);
      admins.push(y);
      await connected(y.s);
      await until(() => y.has('all_sockets'), `all_sockets on ${n} once every node answers`);
    }
  } finally {
    for (const a of admins) a.s.close();
    if (silent.isOpen) await silent.quit().catch(() => {});
    for (const n of Object.values(nodes)) await n.stop();
    await redis.stop();
  }
});
