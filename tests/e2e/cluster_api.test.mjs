// The cluster API on one server, against the real socket.io-client:
// fetchSockets (local sockets as descriptors, and operations on them),
// broadcast with acks (every client answers; one does not answer in time),
// serverSideEmit with the in-memory adapter (nothing runs, no callback),
// serverCount, the rooms of a namespace and the room events.
//
// The server is sioc-protocol-server, namespace "/cluster" (apps/protocol-
// server/cluster.c); with SIOC_REF=1 its Node twin tests/ref/protocol-
// server.mjs, which is how each expectation below was checked against
// socket.io 4.8 and socket.io-adapter 2.5.
//
// allRooms() (the Redis adapter's) is checked on a real Redis with a sioc
// node (sioc-cluster-node) and a Node node (tests/ref/cluster-node.mjs,
// @socket.io/redis-adapter 8.3) asking each other; with SIOC_REF=1 both
// are Node.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { createClient } from 'redis';
import { startServer, serverPerSuite, stopCluster } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { sleep, withTimeout, waitEvent } from './lib/util.mjs';

const T = { timeout: 15_000 };
const TRANSPORTS = [['websocket'], ['polling']];

const suite = serverPerSuite(() => startServer('sioc-protocol-server'));
const { cleanups } = suite;

async function connected(transports, opts = {}) {
  const socket = io(`${suite.server.url}/cluster`, { forceNew: true, reconnection: false, transports, ...opts });
  cleanups.push(async () => socket.disconnect());
  await waitEvent(socket, 'connect', 5000);
  return socket;
}

/** The first argument of the next event. */
const first = (emitter, event, ms) => waitEvent(emitter, event, ms).then((args) => args[0]);

/** Emits with an ack and resolves the ack's first argument. */
function call(socket, event, ...args) {
  return withTimeout(new Promise((resolve) => socket.emit(event, ...args, (r) => resolve(r))), 5000, `ack of ${event}`);
}

/** Retries check (an async function that throws) until it passes or ms pass. */
async function eventually(check, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(50);
    }
  }
}

const HS = (x, auth) => ({
  loopback: true, xdomain: false, secure: false, issued: true, time: true, url: true, x, auth, host: true,
});

for (const transports of TRANSPORTS) {
  describe(`cluster API over ${transports[0]}`, () => {
    it('fetchSockets returns the matching sockets with handshake, rooms and data', T, async () => {
      const a = await connected(transports);
      const b = await connected(transports, { auth: { token: 't' }, query: { x: 'a b' } });
      const room = `f-${a.id}`;
      await call(a, 'join', room);
      await call(b, 'join', room);
      await call(b, 'set-data', { k: 7 });
      const got = await call(a, 'fetch', room);
      const want = [
        { id: a.id, rooms: [a.id, room].sort(), data: {}, hs: HS(null, {}) },
        { id: b.id, rooms: [b.id, room].sort(), data: { k: 7 }, hs: HS('a b', { token: 't' }) },
      ].sort((p, q) => (p.id < q.id ? -1 : 1));
      assert.deepEqual(got, want);
      assert.deepEqual(await call(a, 'fetch', `nobody-${a.id}`), []);
    });

    it('fetched sockets can be emitted to, joined, left and disconnected', T, async () => {
      const a = await connected(transports);
      const b = await connected(transports);
      const room = `o-${a.id}`;
      await call(a, 'join', room);
      await call(b, 'join', room);
      const hits = [first(a, 'op-hit'), first(b, 'op-hit')];
      assert.equal(await call(a, 'fetch-op', { room, op: 'emit', arg: 5 }), 2);
      assert.deepEqual(await Promise.all(hits), [5, 5]);
      assert.equal(await call(a, 'fetch-op', { room, op: 'join', arg: `z-${a.id}` }), 2);
      assert.deepEqual((await call(b, 'info')).rooms, [b.id, room, `z-${a.id}`].sort());
      assert.equal(await call(a, 'fetch-op', { room, op: 'leave', arg: room }), 2);
      assert.deepEqual((await call(b, 'info')).rooms, [b.id, `z-${a.id}`].sort());
      const gone = first(b, 'disconnect');
      assert.equal(await call(a, 'fetch-op', { room: b.id, op: 'disconnect', arg: false }), 1);
      assert.equal(await gone, 'io server disconnect');
    });

    it('broadcast with acks: every answer, or the timeout with those that came', T, async () => {
      const a = await connected(transports);
      const b = await connected(transports);
      const room = `q-${a.id}`;
      await call(a, 'join', room);
      await call(b, 'join', room);
      a.on('q', (cb) => cb('from-a'));
      b.on('q', (cb) => setTimeout(() => cb('from-b'), 50));
      let result = first(a, 'bcast-ack-result', 5000);
      await call(a, 'bcast-ack', { rooms: [room], timeout: 2000 });
      let r = await result;
      assert.equal(r.err, null);
      assert.deepEqual(r.responses.sort(), ['from-a', 'from-b']);
      // a client with no listener never answers
      const c = await connected(transports);
      await call(c, 'join', room);
      result = first(a, 'bcast-ack-result', 5000);
      const t0 = Date.now();
      await call(a, 'bcast-ack', { rooms: [room], timeout: 300 });
      r = await result;
      assert.ok(Date.now() - t0 >= 250, 'not before the timeout');
      assert.equal(r.err, 'operation has timed out');
      assert.deepEqual(r.responses.sort(), ['from-a', 'from-b']);
      // nobody in the room: done at once, no error
      result = first(a, 'bcast-ack-result', 5000);
      await call(a, 'bcast-ack', { rooms: [`empty-${a.id}`], timeout: 2000 });
      r = await result;
      assert.deepEqual(r, { err: null, responses: [] });
    });

    it('serverSideEmit on one server runs nothing and never calls back', T, async () => {
      const a = await connected(transports);
      const before = await call(a, 'server-side-result');
      await call(a, 'server-side', false);
      await call(a, 'server-side', true);
      await sleep(300);
      assert.deepEqual(await call(a, 'server-side-result'), before);
      assert.equal(await call(a, 'server-count'), 1);
    });

    it('room queries: the size of a room and the rooms of the namespace', T, async () => {
      const a = await connected(transports);
      const b = await connected(transports);
      const room = `s-${a.id}`;
      await call(a, 'join', room);
      await call(b, 'join', room);
      assert.equal(await call(a, 'room-size', room), 2);
      assert.equal(await call(a, 'room-size', a.id), 1);
      assert.equal(await call(a, 'room-size', `none-${a.id}`), 0);
      const rooms = await call(a, 'rooms');
      for (const r of [room, a.id, b.id]) assert.ok(rooms.includes(r), `${r} listed`);
      const bid = b.id;
      b.disconnect();
      await eventually(async () => assert.equal(await call(a, 'room-size', room), 1));
      assert.ok(!(await call(a, 'rooms')).includes(bid));
    });

    it('room events: create/join on connect and join, leave/delete on disconnect', T, async () => {
      const a = await connected(transports);
      await call(a, 'room-events');
      const c = await connected(transports);
      const id = c.id; // the client forgets it on disconnect
      const room = `e-${id}`;
      await call(c, 'join', room);
      await call(c, 'join', room);
      c.disconnect();
      const mine = [];
      await eventually(async () => {
        mine.push(...(await call(a, 'room-events')).filter((e) => e[1] === id || e[1] === room));
        assert.equal(mine.length, 8);
      });
      assert.deepEqual(mine, [
        ['create-room', id], ['join-room', id, id],
        ['create-room', room], ['join-room', room, id],
        ['leave-room', id, id], ['delete-room', id],
        ['leave-room', room, id], ['delete-room', room],
      ]);
    });
  });
}

describe('allRooms() on a Redis cluster: a sioc node and a Node node', () => {
  const TIMEOUT = 1000; // requestsTimeout of both nodes
  let redis;
  const nodes = {};
  const clients = {};

  async function client(node, transport) {
    const c = io(node.url, { forceNew: true, reconnection: false, transports: [transport] });
    await waitEvent(c, 'connect', 5000);
    return c;
  }

  before(async () => {
    redis = await startRedis();
    const args = (name) => ['--redis', redis.url, '--name', name, '--requests-timeout', String(TIMEOUT)];
    nodes.S = await startServer('sioc-cluster-node', args('S'));
    nodes.N = await startServer('sioc-cluster-node', args('N'), {}, { ref: true });
    clients.s1 = await client(nodes.S, 'websocket');
    clients.s2 = await client(nodes.S, 'polling');
    clients.n1 = await client(nodes.N, 'polling');
    await call(clients.s1, 'join', 'only-s');
    await call(clients.n1, 'join', 'only-n');
    await call(clients.s2, 'join', 'both');
    await call(clients.n1, 'join', 'both');
  });

  after(() => stopCluster(clients, nodes, redis));

  it('every room of every node, each once, asked from either kind of node', T, async () => {
    const { s1, s2, n1 } = clients;
    const want = [s1.id, s2.id, n1.id, 'only-s', 'only-n', 'both'].sort();
    assert.deepEqual(await call(s1, 'all_rooms'), { err: null, rooms: want });
    assert.deepEqual(await call(n1, 'all_rooms'), { err: null, rooms: want });
  });

  it('a subscriber that never answers: rejected at requestsTimeout, the answers that came dropped', T, async () => {
    // Counted by PUBSUB NUMSUB on the request channel, as a hung node is.
    const silent = createClient({ url: redis.url });
    silent.on('error', () => {});
    await silent.connect();
    try {
      await silent.subscribe('socket.io-request#/#', () => {});
      for (const c of [clients.s1, clients.n1]) {
        const t0 = Date.now();
        assert.deepEqual(await call(c, 'all_rooms'), { err: 'timeout', rooms: [] });
        const took = Date.now() - t0;
        assert.ok(took >= TIMEOUT - 50 && took < TIMEOUT + 1500, `answered after ${took} ms`);
      }
    } finally {
      await silent.disconnect();
    }
    const rooms = await call(clients.s1, 'all_rooms');
    assert.equal(rooms.err, null);
    assert.ok(rooms.rooms.includes('only-n'));
  });
});
