// A mixed cluster on one real Redis: two sioc nodes (A, B: sioc-cluster-node
// on the Redis adapter) and one Node node (N: socket.io 4.8 +
// @socket.io/redis-adapter 8.3, tests/ref/cluster-node.mjs), real
// socket.io-client clients on each (WebSocket and polling). Every cluster
// operation is checked in both directions (sioc -> Node and Node -> sioc):
// broadcasts (all, room, except, one socket id on another node), broadcast
// with acks (including a node that does not answer in time), fetchSockets,
// socketsJoin, disconnectSockets, serverSideEmit with and without an ack,
// the server count, a message from @socket.io/redis-emitter 5.1; then Redis
// is killed and restarted: local delivery never stops and cluster delivery
// resumes. With SIOC_REF=1 all three nodes are Node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { io as ioc } from 'socket.io-client';
import { createClient } from 'redis';
import { Emitter } from '@socket.io/redis-emitter';
import { IS_REF, startServer, stopCluster } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { sleep, withTimeout, waitEvent } from './lib/util.mjs';

const TIMEOUT = 1000; // requestsTimeout of every node
let redis;
const nodes = {};
const clients = {};

function connect(name, node, transport) {
  const c = ioc(node.url, { transports: [transport], forceNew: true, reconnection: false });
  c.name = name;
  c.got = [];
  c.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    c.got.push({ event, args });
    if (event === 'ask' && ack && !c.silent) ack({ from: name, args });
  });
  return withTimeout(new Promise((resolve, reject) => {
    c.on('connect', () => resolve(c));
    c.on('connect_error', reject);
  }), 5000, `${name} connecting`);
}

const call = (c, hook, arg) => withTimeout(
  arg === undefined ? c.emitWithAck(hook) : c.emitWithAck(hook, arg), 8000, `${c.name} ${hook}`);

/** Resets every client's log. */
function clear() {
  for (const c of Object.values(clients)) c.got = [];
}

/** Waits until exactly the named clients got event (and, 200 ms later, no other). */
async function expectOnly(event, names, ms = 3000) {
  const has = (c) => c.got.some((g) => g.event === event);
  await withTimeout((async () => {
    while (!names.every((n) => has(clients[n]))) await sleep(10);
  })(), ms, `"${event}" at ${names.join(',')}`);
  await sleep(200);
  const got = Object.values(clients).filter(has).map((c) => c.name).sort();
  assert.deepEqual(got, [...names].sort(), `"${event}" reached ${got}`);
  return Object.fromEntries(names.map((n) => [n, clients[n].got.find((g) => g.event === event)]));
}

const ALL = ['a1', 'a2', 'b1', 'n1', 'n2'];

describe('Redis adapter: sioc and Node in one cluster', () => {
  before(async () => {
    redis = await startRedis();
    const args = (name) => ['--redis', redis.url, '--name', name, '--requests-timeout', String(TIMEOUT)];
    nodes.A = await startServer('sioc-cluster-node', args('A'));
    nodes.B = await startServer('sioc-cluster-node', args('B'));
    nodes.N = await startServer('sioc-cluster-node', args('N'), {}, { ref: true });
    clients.a1 = await connect('a1', nodes.A, 'websocket');
    clients.a2 = await connect('a2', nodes.A, 'polling');
    clients.b1 = await connect('b1', nodes.B, 'websocket');
    clients.n1 = await connect('n1', nodes.N, 'websocket');
    clients.n2 = await connect('n2', nodes.N, 'polling');
    for (const c of Object.values(clients)) await call(c, 'set_data', { name: c.name });
    await call(clients.b1, 'join', 'r1');
    await call(clients.n1, 'join', 'r1');
    await call(clients.a2, 'join', 'r2');
  });

  after(() => stopCluster(clients, nodes, redis));

  test('server count: PUBSUB NUMSUB sees the three nodes from each', async () => {
    for (const c of ['a1', 'b1', 'n1']) assert.equal(await call(clients[c], 'server_count'), 3);
  });

  for (const [from, label] of [['a1', 'sioc -> all'], ['n1', 'Node -> all']]) {
    test(`broadcast to everyone (${label})`, async () => {
      clear();
      await call(clients[from], 'bcast', { event: 'hello', args: [1, 'two', { three: [3] }, null] });
      const got = await expectOnly('hello', ALL);
      for (const n of ALL) assert.deepEqual(got[n].args, [1, 'two', { three: [3] }, null]);
    });
  }

  for (const [from, label] of [['a1', 'sioc'], ['n2', 'Node']]) {
    test(`broadcast to a room, with except, to one socket id (${label} sends)`, async () => {
      clear();
      await call(clients[from], 'bcast', { to: ['r1'], event: 'room' });
      await expectOnly('room', ['b1', 'n1']);
      clear();
      await call(clients[from], 'bcast', { to: ['r1', 'r2'], except: ['r2'], event: 'two' });
      await expectOnly('two', ['b1', 'n1']);
      clear();
      await call(clients[from], 'bcast', { except: ['r1'], event: 'rest' });
      await expectOnly('rest', ['a1', 'a2', 'n2']);
      clear();
      const target = from === 'a1' ? 'n2' : 'a2'; // a socket on the other kind of node
      await call(clients[from], 'bcast', { to: [clients[target].id], event: 'direct', args: ['hi'] });
      const got = await expectOnly('direct', [target]);
      assert.deepEqual(got[target].args, ['hi']);
      clear();
      await call(clients[from], 'bcast', { local: true, event: 'mine' });
      await expectOnly('mine', from === 'a1' ? ['a1', 'a2'] : ['n1', 'n2']);
    });
  }

  for (const [from, label] of [['a1', 'sioc'], ['n1', 'Node']]) {
    test(`broadcast with acks across nodes (${label} asks)`, async () => {
      const r = await call(clients[from], 'bcast_ack', { event: 'ask', args: [7], timeout: 2000 });
      assert.equal(r.err, null);
      assert.deepEqual(r.responses.map((x) => x.from).sort(), ALL);
      for (const x of r.responses) assert.deepEqual(x.args, [7]);
      const room = await call(clients[from], 'bcast_ack', { to: ['r1'], event: 'ask', timeout: 2000 });
      assert.equal(room.err, null);
      assert.deepEqual(room.responses.map((x) => x.from).sort(), ['b1', 'n1']);
    });
  }

  test('broadcast with acks: a client that does not answer, a node that does not answer', async () => {
    clients.b1.silent = true;
    try {
      for (const from of ['a1', 'n1']) {
        const r = await call(clients[from], 'bcast_ack', { event: 'ask', timeout: 500 });
        assert.equal(r.err, 'timeout');
        assert.deepEqual(r.responses.map((x) => x.from).sort(), ['a1', 'a2', 'n1', 'n2']);
      }
    } finally {
      clients.b1.silent = false;
    }
    nodes.B.proc.kill('SIGSTOP'); // subscribed, so counted, but silent
    try {
      for (const from of ['a1', 'n1']) {
        const r = await call(clients[from], 'bcast_ack', { event: 'ask', timeout: 500 });
        assert.equal(r.err, 'timeout');
        assert.deepEqual(r.responses.map((x) => x.from).sort(), ['a1', 'a2', 'n1', 'n2']);
      }
    } finally {
      nodes.B.proc.kill('SIGCONT');
    }
    await sleep(300);
    clear();
  });

  for (const [from, label] of [['a2', 'sioc'], ['n2', 'Node']]) {
    test(`fetchSockets sees every node's sockets with rooms and data (${label})`, async () => {
      const r = await call(clients[from], 'fetch', {});
      assert.equal(r.err, null);
      const byId = Object.fromEntries(r.sockets.map((s) => [s.id, s]));
      for (const n of ALL) {
        const s = byId[clients[n].id];
        assert.ok(s, `${n} fetched`);
        assert.deepEqual(s.data, { name: n });
        assert.ok(s.rooms.includes(clients[n].id));
      }
      assert.ok(byId[clients.b1.id].rooms.includes('r1'));
      const inR1 = await call(clients[from], 'fetch', { to: ['r1'] });
      assert.deepEqual(inR1.sockets.map((s) => s.data.name).sort(), ['b1', 'n1']);
    });
  }

  for (const [from, label, room] of [['a1', 'sioc', 'j1'], ['n1', 'Node', 'j2']]) {
    test(`socketsJoin / socketsLeave reach other nodes (${label})`, async () => {
      await call(clients[from], 'sockets_join', { to: ['r1'], rooms: [room] });
      await sleep(200);
      clear();
      await call(clients.a2, 'bcast', { to: [room], event: 'joined' });
      await expectOnly('joined', ['b1', 'n1']);
      await call(clients[from], 'sockets_leave', { to: [room], except: ['r2'], rooms: [room] });
      await sleep(200);
      clear();
      await call(clients.n2, 'bcast', { to: [room], event: 'left' });
      await sleep(300);
      assert.deepEqual(Object.values(clients).filter((c) => c.got.length).map((c) => c.name), []);
    });
  }

  for (const [from, label] of [['a1', 'sioc'], ['n1', 'Node']]) {
    test(`serverSideEmit with and without an ack (${label})`, async () => {
      clear();
      await call(clients[from], 'sse', { event: 'sse_noanswer', args: ['x', 1] });
      const others = from === 'a1' ? ['b1', 'n1', 'n2'] : ['a1', 'a2', 'b1'];
      const seen = await expectOnly('sse_seen', others);
      for (const n of others) assert.deepEqual(seen[n].args[0].args, ['x', 1]);
      const r = await call(clients[from], 'sse_ack', { event: 'sse_ping', args: [5] });
      assert.equal(r.err, null);
      const expectNodes = from === 'a1' ? ['B', 'N'] : ['A', 'B'];
      assert.deepEqual(r.responses.map((x) => x.node).sort(), expectNodes);
      for (const x of r.responses) assert.deepEqual(x.args, [5]);
      const t0 = Date.now();
      const late = await call(clients[from], 'sse_ack', { event: 'sse_noanswer', args: [] });
      assert.equal(late.err, 'timeout');
      assert.deepEqual(late.responses, []);
      assert.ok(Date.now() - t0 >= TIMEOUT - 50, 'answered at requestsTimeout');
      await sleep(200);
    });
  }

  test('a message from @socket.io/redis-emitter reaches every node', async () => {
    const rc = createClient({ url: redis.url });
    await rc.connect();
    try {
      const e = new Emitter(rc);
      clear();
      e.to('r1').emit('from_emitter', { n: 1 });
      const got = await expectOnly('from_emitter', ['b1', 'n1']);
      assert.deepEqual(got.b1.args, [{ n: 1 }]);
      clear();
      e.emit('emitter_all');
      await expectOnly('emitter_all', ALL);
      e.in('r2').socketsJoin('e1');
      await sleep(200);
      clear();
      await call(clients.b1, 'bcast', { to: ['e1'], event: 'via_e1' });
      await expectOnly('via_e1', ['a2']);
    } finally {
      await rc.disconnect();
    }
  });

  test('disconnectSockets reaches a socket on another node (both ways)', async () => {
    const extra = await connect('x1', nodes.N, 'websocket');
    const gone = waitEvent(extra, 'disconnect', 3000);
    await call(clients.a1, 'disconnect_sockets', { to: [extra.id], close: true });
    const [reason] = await gone;
    assert.equal(reason, 'io server disconnect');
    const extra2 = await connect('x2', nodes.B, 'polling');
    const gone2 = waitEvent(extra2, 'disconnect', 3000);
    await call(clients.n1, 'disconnect_sockets', { to: [extra2.id] });
    assert.equal((await gone2)[0], 'io server disconnect');
    assert.ok(clients.a1.connected && clients.b1.connected && clients.n1.connected);
  });

  test('Redis killed and restarted: local delivery never stops, cluster delivery resumes', async () => {
    await redis.kill();
    await sleep(300);
    clear();
    await call(clients.a1, 'bcast', { event: 'while_down' });
    await expectOnly('while_down', ['a1', 'a2']);
    if (!IS_REF) { // Node's serverCount() waits for Redis (node-redis queues offline)
      const r = await call(clients.a1, 'fetch', {});
      assert.equal(r.err, 'timeout'); // a cluster request answers with an error at its timeout
    }
    await redis.start();
    await withTimeout((async () => {
      for (;;) {
        clear();
        await call(clients.a1, 'bcast', { event: 'after' });
        await sleep(300);
        if (['a1', 'a2', 'b1', 'n1', 'n2'].every((n) => clients[n].got.some((g) => g.event === 'after'))) return;
        await sleep(200);
      }
    })(), 15000, 'cluster delivery after the restart');
    clear();
    await call(clients.n2, 'bcast', { event: 'back' });
    await expectOnly('back', ALL);
    if (!IS_REF) for (const n of ['A', 'B']) assert.match(nodes[n].stderr(), /Redis .* lost/);
  });
});

describe('Redis adapter: Redis absent when a sioc node starts', { skip: IS_REF }, () => {
  test('the node serves its own clients, says so, and joins the cluster once Redis is there', async () => {
    const { freePort } = await import('./lib/redis.mjs');
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const args = (name) => ['--redis', url, '--name', name, '--requests-timeout', String(TIMEOUT)];
    const A = await startServer('sioc-cluster-node', args('A'));
    let B;
    let redis2;
    const local = [];
    try {
      const c1 = await connect('c1', A, 'websocket');
      const c2 = await connect('c2', A, 'polling');
      local.push(c1, c2);
      const seen = waitEvent(c2, 'alone', 3000);
      await call(c1, 'bcast', { event: 'alone' });
      await seen;
      const r = await call(c1, 'fetch', {});
      assert.equal(r.err, 'timeout');
      // serverCount() waits for Redis up to requestsTimeout, then fails
      const t0 = Date.now();
      assert.equal(await call(c1, 'server_count'), null);
      assert.ok(Date.now() - t0 >= TIMEOUT - 50, `server_count failed after ${Date.now() - t0} ms`);
      assert.match(A.stderr(), /Redis 127\.0\.0\.1:\d+ unreachable/);
      redis2 = await startRedisOn(port);
      B = await startServer('sioc-cluster-node', args('B'));
      const c3 = await connect('c3', B, 'websocket');
      local.push(c3);
      await withTimeout((async () => {
        while ((await call(c1, 'server_count')) !== 2) await sleep(100);
      })(), 10_000, 'A subscribed once Redis came');
      const got = waitEvent(c3, 'together', 3000);
      await call(c1, 'bcast', { event: 'together' });
      await got;
    } finally {
      for (const c of local) c.close();
      const stops = await Promise.allSettled([A.stop(), B?.stop()]);
      await redis2?.stop();
      const failed = stops.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  });
});

// Node's serverCount() asks PUBSUB NUMSUB through node-redis, which queues
// a command while it reconnects: called while Redis is down, it answers
// once Redis is back (not an error at once). sioc's waits the same way, up
// to requestsTimeout (5000 here; then an error, where Node would wait for
// ever: see the absent-Redis test).
describe('Redis adapter: serverCount() while Redis is down', () => {
  test('waits for Redis and answers once it is back, on the sioc node as on the Node node', async () => {
    const r = await startRedis();
    const args = (name) => ['--redis', r.url, '--name', name];
    const started = {};
    const local = [];
    try {
      started.A = await startServer('sioc-cluster-node', args('A'));
      started.N = await startServer('sioc-cluster-node', args('N'), {}, { ref: true });
      const ca = await connect('ca', started.A, 'websocket');
      const cn = await connect('cn', started.N, 'websocket');
      local.push(ca, cn);
      await withTimeout((async () => {
        while ((await call(ca, 'server_count')) !== 2 || (await call(cn, 'server_count')) !== 2) await sleep(100);
      })(), 10_000, 'both nodes subscribed');
      await r.kill();
      await sleep(300);
      const answers = { A: 'pending', N: 'pending' };
      const asked = [['A', ca], ['N', cn]].map(([n, c]) => call(c, 'server_count').then((v) => { answers[n] = v; }));
      await sleep(500);
      assert.deepEqual(answers, { A: 'pending', N: 'pending' }, 'no answer while Redis is down');
      await r.start();
      await Promise.all(asked);
      for (const n of ['A', 'N']) assert.equal(typeof answers[n], 'number', `${n} answered ${answers[n]}`);
    } finally {
      for (const c of local) c.close();
      const stops = await Promise.allSettled(Object.values(started).map((n) => n.stop()));
      await r.stop();
      const failed = stops.find((x) => x.status === 'rejected');
      if (failed) throw failed.reason;
    }
  });
});

/** redis-server on a given port (the absent-Redis test starts it late). */
async function startRedisOn(port) {
  const { spawn } = await import('node:child_process');
  const net = await import('node:net');
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no'], { stdio: 'ignore' });
  const up = () => new Promise((res) => {
    const c = net.connect(port, '127.0.0.1', () => { c.end(); res(true); }).on('error', () => res(false));
  });
  await withTimeout((async () => { while (!(await up())) await sleep(20); })(), 5000, 'redis-server');
  return { stop: async () => { const gone = new Promise((r) => proc.once('exit', r)); proc.kill('SIGKILL'); await gone; } };
}

// Connection state recovery beside the Redis adapter. Node 4.8: the explicit
// `adapter` option replaces the SessionAwareAdapter that connectionStateRecovery
// would pick, and @socket.io/redis-adapter 8.3 extends the plain Adapter
// (persistSession does nothing, restoreSession gives null): the client gets a
// pid, but no event carries an offset and socket.recovered is never true.
// sioc's Redis adapter wraps the in-memory one, which gives an offset to, and
// keeps, every event this node delivers, its own broadcasts and those from
// Redis alike: a client that comes back to the same node within
// maxDisconnectionDuration is recovered with what it missed. sioc keeps that
// on purpose (sioc.h, docs/cluster.md). Node's side is checked in every run
// (its node N); the sioc nodes' expectation is sioc's unless SIOC_REF=1.
describe('connection state recovery beside the Redis adapter', () => {
  let redis2;
  const n = {};
  const open = [];

  /** A client that reconnects on its own and logs every event's arguments. */
  async function recoverable(node) {
    const c = ioc(node.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    open.push(c);
    c.name = node.url;
    c.got = [];
    c.onAny((event, ...args) => c.got.push([event, ...args]));
    await waitEvent(c, 'connect', 5000);
    return c;
  }
  const seen = (c, event) => c.got.filter((g) => g[0] === event);

  before(async () => {
    redis2 = await startRedis();
    const args = (name) => ['--redis', redis2.url, '--name', name, '--requests-timeout', String(TIMEOUT), '--recovery', '1'];
    n.S1 = await startServer('sioc-cluster-node', args('S1'));
    n.S2 = await startServer('sioc-cluster-node', args('S2'));
    n.N = await startServer('sioc-cluster-node', args('N'), {}, { ref: true });
  });

  after(async () => {
    for (const c of open) c.close();
    const stops = await Promise.allSettled(Object.values(n).map((x) => x.stop()));
    await redis2?.stop();
    const failed = stops.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  test('offsets on local and remote broadcasts and recovery on the same node (sioc); neither on Node', async () => {
    const sioc = !IS_REF;
    const s = await recoverable(n.S1);
    const nn = await recoverable(n.N);
    const other = await recoverable(n.S2);
    for (const c of [s, nn]) assert.equal(typeof c._pid, 'string'); // both send a pid
    // wait until the three nodes hear each other
    await withTimeout((async () => {
      for (let i = 0; !(seen(s, 'warm').length && seen(nn, 'warm').length); i++) {
        await call(other, 'bcast', { event: 'warm', args: [i] });
        await sleep(100);
      }
    })(), 10_000, 'the nodes subscribed');
    s.got = [];
    nn.got = [];
    await call(s, 'bcast', { event: 'local', args: [1] });
    await call(other, 'bcast', { event: 'remote', args: [2] });
    await withTimeout((async () => {
      while (seen(s, 'remote').length + seen(nn, 'remote').length < 2) await sleep(20);
    })(), 5000, '"remote" on both nodes');
    const [[, ...local]] = seen(s, 'local');
    const [[, ...remote]] = seen(s, 'remote');
    if (sioc) {
      assert.equal(local.length, 2);
      assert.equal(local[0], 1);
      assert.equal(typeof local[1], 'string'); // the offset, also for what came through Redis:
      assert.equal(remote.length, 2);
      assert.equal(remote[0], 2);
      assert.equal(typeof remote[1], 'string');
      assert.notEqual(remote[1], local[1]);
    } else {
      assert.deepEqual([local, remote], [[1], [2]]);
    }
    assert.deepEqual(seen(nn, 'remote'), [['remote', 2]]); // Node: no offset
    // A network cut ("transport close", recoverable), a broadcast meanwhile.
    const back = [s, nn].map((c) => waitEvent(c, 'connect', 10_000));
    for (const c of [s, nn]) c.io.engine.transport.ws._socket.destroy();
    await call(other, 'bcast', { event: 'missed', args: [3] });
    await Promise.all(back);
    await sleep(500);
    assert.equal(s.recovered, sioc);
    assert.deepEqual(seen(s, 'missed').map((g) => g.slice(0, 2)), sioc ? [['missed', 3]] : []);
    assert.equal(nn.recovered, false);
    assert.deepEqual(seen(nn, 'missed'), []);
  });
});
