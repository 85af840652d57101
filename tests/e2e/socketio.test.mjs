// Socket.IO v5 end-to-end tests against sioc-protocol-server (or, with
// SIOC_REF=1, against the Node reference tests/ref/protocol-server.mjs).
//
// The server under test exposes Socket.IO at /socket.io/ with Node's
// heartbeat (pingInterval 25000, pingTimeout 20000: a late pong on a loaded
// machine loses no client) and connectTimeout 1000; the heartbeat tests have
// a second one with pingInterval 300, pingTimeout 200. On connection to "/" or "/custom"
// it emits "auth" with the handshake auth object; "message" is answered with
// "message-back" and the same arguments (binary included); "message-with-ack"
// is acked with the same arguments; other namespaces are refused with
// "Invalid namespace".
//
// Every case runs over ['websocket'], ['polling'] and the default (polling,
// then upgrade) with the real npm socket.io-client. One server is shared by
// the file; every test is bounded, and the server must survive each test.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { io, Manager } from 'socket.io-client';
import { Socket as EngineSocket } from 'engine.io-client';
import WebSocket from 'ws';
import { startServer } from './lib/server.mjs';
import { sleep, withTimeout, waitEvent, collectEvents, http } from './lib/util.mjs';

const T = { timeout: 10_000 };
const TRANSPORTS = [['websocket'], ['polling'], undefined];
const label = (t) => (t ? t.join('+') : 'default (polling -> websocket)');

let server;
let base;
let hbServer = null; // the 300/200 ms heartbeat one, started by the first heartbeat test
const cleanups = [];

/** The server with a 300 ms pingInterval and 200 ms pingTimeout (SIOC_SIO_HEARTBEAT). */
async function heartbeatServer() {
  hbServer ??= await startServer('sioc-protocol-server', [], { SIOC_SIO_HEARTBEAT: '300,200' });
  return hbServer;
}

let endpointProblem = null; // why /socket.io/ failed the smoke check in before(), if it did

before(async () => {
  server = await startServer('sioc-protocol-server');
  base = server.url;
  endpointProblem = await smokeCheck();
});

/**
 * A raw Socket.IO handshake over polling (open, CONNECT to "/", reply). When it
 * fails, every test fails at once with this reason instead of each waiting for
 * its own timeout, which keeps a broken server's run short.
 */
async function smokeCheck() {
  const url = (sid) => `${base}/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ''}`;
  try {
    const open = await http(url());
    if (open.status !== 200 || open.body[0] !== '0') return `handshake: ${open.status} ${open.body.slice(0, 100)}`;
    const { sid } = JSON.parse(open.body.slice(1));
    const post = await http(url(sid), { method: 'POST', body: '40' });
    if (post.status !== 200) return `CONNECT POST: ${post.status} ${post.body.slice(0, 100)}`;
    const reply = await http(url(sid));
    if (!reply.body.startsWith('40{')) return `CONNECT reply: ${reply.status} ${reply.body.slice(0, 100)}`;
    await http(url(sid), { method: 'POST', body: '1' });
    return null;
  } catch (e) {
    return `smoke check: ${e.message}`;
  }
}
after(async () => {
  const stops = await Promise.allSettled([server.stop(), hbServer?.stop()]);
  const failed = stops.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
  assert.ok(server.alive(), `server died:\n${server.stderr()}`);
  assert.ok(hbServer?.alive() ?? true, `heartbeat server died:\n${hbServer?.stderr()}`);
});

/** Creates a socket.io-client socket (not yet awaited) on url; closed after the test. */
function client(nsp = '/', transports = undefined, opts = {}, url = base) {
  if (endpointProblem) assert.fail(`Socket.IO endpoint /socket.io/ is not working: ${endpointProblem}`);
  const socket = io(`${url}${nsp}`, {
    forceNew: true, reconnection: false, ...(transports ? { transports } : {}), ...opts,
  });
  cleanups.push(async () => socket.disconnect());
  return socket;
}

/** Creates a client and resolves [socket, auth] once connected and the "auth" event came. */
async function connected(nsp, transports, opts, url = base) {
  const socket = client(nsp, transports, opts, url);
  const auth = waitEvent(socket, 'auth', 5000);
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', (err) => reject(new Error(`connect_error: ${err.message}`)));
  }), 5000, 'connect');
  return [socket, (await auth)[0]];
}

/** Waits until the default transport set has upgraded, so the test covers websocket after polling. */
async function settle(socket, transports) {
  if (transports) return;
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') await waitEvent(engine, 'upgrade', 3000);
}

/** Normalises binary values (Buffer/Uint8Array/ArrayBuffer) to {bin:[...]} for deep comparison. */
function norm(v) {
  if (v instanceof ArrayBuffer) return { bin: [...new Uint8Array(v)] };
  if (ArrayBuffer.isView(v)) return { bin: [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)] };
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

/** Asserts every binary leaf of v arrived as a Buffer/Uint8Array. */
function assertBinaryLeaves(v, expected) {
  if (ArrayBuffer.isView(expected) || expected instanceof ArrayBuffer) {
    assert.ok(v instanceof Uint8Array || v instanceof ArrayBuffer, `binary leaf arrived as ${typeof v}`);
  } else if (Array.isArray(expected)) {
    expected.forEach((e, i) => assertBinaryLeaves(v[i], e));
  } else if (expected && typeof expected === 'object') {
    for (const k of Object.keys(expected)) assertBinaryLeaves(v[k], expected[k]);
  }
}

const ARG_CASES = [
  ['no arguments', []],
  ['a string', ['hello']],
  ['numbers', [0, 1, -1, 3.25, 1e21, Number.MAX_SAFE_INTEGER]],
  ['null', [null]],
  ['booleans', [true, false]],
  ['empty string, array, object', ['', [], {}]],
  ['nested objects and arrays', [{ a: { b: [1, 2, { c: 'd', e: [null, true] }] }, f: [[[]]] }]],
  ['unicode and escapes', ['héllo 日本語 🎉', 'quote " backslash \\ newline \n tab \t', '\u0000\u001e']],
  ['many mixed arguments', ['a', 1, null, false, { x: [1, 'y'] }, ['z'], 2.5, 'last']],
  ['a large string', ['x'.repeat(100_000)]],
];

const BIN_CASES = [
  ['a Buffer', [Buffer.from([1, 2, 3, 0, 255])]],
  ['a Uint8Array', [new Uint8Array([7, 8, 9])]],
  ['an empty Buffer', [Buffer.alloc(0)]],
  ['binary nested in objects and arrays', [
    { file: Buffer.from('hello'), meta: { parts: [Buffer.from([1]), 'text', new Uint8Array([2, 3])] } },
    [Buffer.from([4]), [Buffer.from([5, 6])]],
    'plain',
  ]],
  ['several binary arguments', [Buffer.from([1]), Buffer.from([2]), Buffer.from([3])]],
  ['a large Buffer', [Buffer.alloc(200_000, 7)]],
];

for (const transports of TRANSPORTS) {
  describe(`socket.io over ${label(transports)}`, () => {
    it('connects, gets a socket id, and receives its handshake auth back', T, async () => {
      const auth = { token: 'abc', nested: { n: 1, list: ['x', null] } };
      const [socket, got] = await connected('/', transports, { auth });
      assert.deepEqual(got, auth);
      assert.equal(typeof socket.id, 'string');
      assert.ok(socket.id.length > 0);
      assert.equal(socket.connected, true);
      await settle(socket, transports);
      assert.equal(socket.io.engine.transport.name, transports ? transports[0] : 'websocket');
    });

    it('with no auth option, "auth" is an empty object', T, async () => {
      const [, got] = await connected('/', transports);
      assert.deepEqual(got, {});
    });

    it('connects to /custom, which also emits "auth"', T, async () => {
      const [socket, got] = await connected('/custom', transports, { auth: { room: 'custom' } });
      assert.deepEqual(got, { room: 'custom' });
      assert.equal(socket.nsp, '/custom');
    });

    it('an unknown namespace is refused with connect_error "Invalid namespace"', T, async () => {
      const socket = client('/does-not-exist', transports);
      const [err] = await waitEvent(socket, 'connect_error', 5000);
      assert.equal(err.message, 'Invalid namespace');
      assert.equal(socket.connected, false);
    });

    it('"/" and "/custom" multiplexed on one connection; a refused namespace leaves the others up', T, async () => {
      if (endpointProblem) assert.fail(`Socket.IO endpoint /socket.io/ is not working: ${endpointProblem}`);
      const manager = new Manager(base, { reconnection: false, ...(transports ? { transports } : {}) });
      const a = manager.socket('/', { auth: { who: 'a' } });
      const b = manager.socket('/custom', { auth: { who: 'b' } });
      const bad = manager.socket('/nope');
      cleanups.push(async () => { a.disconnect(); b.disconnect(); bad.disconnect(); });
      const authA = waitEvent(a, 'auth', 5000);
      const authB = waitEvent(b, 'auth', 5000);
      const badErr = waitEvent(bad, 'connect_error', 5000);
      a.connect(); b.connect(); bad.connect();
      assert.deepEqual((await authA)[0], { who: 'a' });
      assert.deepEqual((await authB)[0], { who: 'b' });
      assert.equal((await badErr)[0].message, 'Invalid namespace');
      assert.notEqual(a.id, b.id);
      const backA = waitEvent(a, 'message-back');
      const backB = waitEvent(b, 'message-back');
      a.emit('message', 'to a');
      b.emit('message', 'to b');
      assert.deepEqual(await backA, ['to a']);
      assert.deepEqual(await backB, ['to b']);
    });

    for (const [name, args] of ARG_CASES) {
      it(`"message" -> "message-back" with ${name}`, T, async () => {
        const [socket] = await connected('/', transports);
        await settle(socket, transports);
        const back = waitEvent(socket, 'message-back');
        socket.emit('message', ...args);
        assert.deepEqual(await back, args);
      });
    }

    for (const [name, args] of BIN_CASES) {
      it(`binary both ways: ${name}`, T, async () => {
        const [socket] = await connected('/', transports);
        await settle(socket, transports);
        const back = waitEvent(socket, 'message-back');
        socket.emit('message', ...args);
        const got = await back;
        assertBinaryLeaves(got, args);
        assert.deepEqual(norm(got), norm(args));
      });
    }

    it('100 messages come back in order', T, async () => {
      const [socket] = await connected('/', transports);
      const got = collectEvents(socket, 'message-back', 100);
      for (let i = 0; i < 100; i++) socket.emit('message', i, `n${i}`);
      assert.deepEqual(await got, Array.from({ length: 100 }, (_, i) => [i, `n${i}`]));
    });

    it('acks from the server carry the same arguments (callback and emitWithAck)', T, async () => {
      const [socket] = await connected('/', transports);
      const args = ['a', 1, null, { b: [true, Buffer.from([9, 8])] }];
      const acked = await withTimeout(new Promise((resolve) => {
        socket.emit('message-with-ack', ...args, (...res) => resolve(res));
      }), 3000, 'ack');
      assert.deepEqual(norm(acked), norm(args));
      assert.equal(await socket.emitWithAck('message-with-ack', 'first', 'second'), 'first');
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => socket.emitWithAck('message-with-ack', i)));
      assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => i));
      assert.deepEqual(await socket.timeout(1000).emitWithAck('message-with-ack', { ok: 1 }), { ok: 1 });
    });

    it('an ack with a timeout on an event the server never acks rejects', T, async () => {
      const [socket] = await connected('/', transports);
      const t0 = Date.now();
      await assert.rejects(socket.timeout(200).emitWithAck('nobody-acks-this', 1), /operation has timed out/);
      assert.ok(Date.now() - t0 >= 190);
      assert.equal(socket.connected, true, 'the connection survives an unanswered ack');
    });

    it('disconnect() then connect() works again, with a new id and a fresh "auth"', T, async () => {
      const [socket] = await connected('/', transports, { auth: { round: 1 } });
      const firstId = socket.id;
      const reason = waitEvent(socket, 'disconnect');
      socket.disconnect();
      assert.equal((await reason)[0], 'io client disconnect');
      assert.equal(socket.connected, false);
      socket.auth = { round: 2 };
      const auth = waitEvent(socket, 'auth', 5000);
      socket.connect();
      await waitEvent(socket, 'connect', 5000);
      assert.deepEqual((await auth)[0], { round: 2 });
      assert.notEqual(socket.id, firstId);
      const back = waitEvent(socket, 'message-back');
      socket.emit('message', 'again');
      assert.deepEqual(await back, ['again']);
    });

    it('stays connected for > 3 ping intervals', T, async () => {
      const [socket] = await connected('/', transports, {}, (await heartbeatServer()).url);
      let disconnected = null;
      socket.on('disconnect', (r) => { disconnected = r; });
      let pings = 0;
      socket.io.engine.on('ping', () => { pings++; });
      await sleep(1200);
      assert.equal(disconnected, null);
      assert.ok(pings >= 3, `got ${pings} pings`);
      const back = waitEvent(socket, 'message-back');
      socket.emit('message', 'still here');
      assert.deepEqual(await back, ['still here']);
    });

    // Each of these makes Node's decoder throw (or puts the client in an invalid
    // state), and the server then closes the whole connection. ("3" alone, an ACK
    // with no payload and no id, is accepted and ignored by Node, so not listed.)
    const MALFORMED = [
      ['truncated JSON', ['2["message"']],
      ['unknown packet type', ['9']],
      ['empty event array', ['2[]']],
      ['event payload not an array', ['2"not an array"']],
      ['event payload an object', ['2{"a":1}']],
      ['reserved event name', ['2["disconnect"]']],
      ['ACK with bad JSON', ['3[']],
      ['CONNECT_ERROR sent by a client', ['4']],
      ['event to a namespace never joined', ['2/nope,["message"]']],
      ['text packet while awaiting a binary attachment', ['51-["message",{"_placeholder":true,"num":0}]', '2["message"]']],
    ];
    for (const [name, packets] of MALFORMED) {
      it(`malformed packet (${name}) makes the server close the connection`, T, async () => {
        const [socket] = await connected('/', transports);
        await settle(socket, transports);
        const reason = waitEvent(socket, 'disconnect', 3000);
        for (const p of packets) socket.io.engine.send(p);
        assert.equal((await reason)[0], 'transport close');
      });
    }

    it('a client that never sends the CONNECT packet is closed after connectTimeout', T, async () => {
      if (endpointProblem) assert.fail(`Socket.IO endpoint /socket.io/ is not working: ${endpointProblem}`);
      const engine = new EngineSocket(base, { path: '/socket.io/', ...(transports ? { transports } : {}) });
      cleanups.push(async () => engine.close());
      await waitEvent(engine, 'open', 5000);
      const t0 = Date.now();
      const [reason] = await waitEvent(engine, 'close', 3000);
      const elapsed = Date.now() - t0;
      assert.equal(reason, 'transport close');
      assert.ok(elapsed >= 800 && elapsed <= 1600, `closed after ${elapsed} ms`);
    });
  });
}

describe('socket.io raw polling: how a server-side close reaches the client', () => {
  const url = (sid, on = base) => `${on}/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ''}`;

  /** Opens an Engine.IO session on a server, joins "/" and drains the CONNECT reply; resolves the sid. */
  async function joined(on = base) {
    if (endpointProblem) assert.fail(`Socket.IO endpoint /socket.io/ is not working: ${endpointProblem}`);
    const open = await http(url(undefined, on));
    const { sid } = JSON.parse(open.body.slice(1));
    assert.equal((await http(url(sid, on), { method: 'POST', body: '40' })).status, 200);
    const reply = await http(url(sid, on));
    assert.match(reply.body, /^40\{"sid":/);
    return sid;
  }

  it('malformed packet while a poll is pending: the pending poll gets the close packet', T, async () => {
    const sid = await joined();
    const pending = http(url(sid));
    await sleep(30);
    const p = await http(url(sid), { method: 'POST', body: '42"not an array"' });
    assert.equal(p.status, 200);
    const g = await pending;
    assert.equal(g.status, 200);
    assert.deepEqual(g.body.split('\x1e'), ['1']);
  });

  it('malformed packet with no poll pending: the next poll still gets the close packet (not "Session ID unknown")', T, async () => {
    // Node keeps the closing session until it can deliver the close packet
    // (answering "6\x1e1"); a server that forgets the sid at once makes
    // engine.io-client report "transport error" instead of "transport close".
    const sid = await joined();
    const p = await http(url(sid), { method: 'POST', body: '42"not an array"' });
    assert.equal(p.status, 200);
    await sleep(50);
    const g = await http(url(sid));
    assert.equal(g.status, 200, `next poll: ${g.status} ${g.body}`);
    const packets = g.body.split('\x1e');
    assert.equal(packets.at(-1), '1', `close packet last in ${JSON.stringify(g.body)}`);
    assert.ok(packets.slice(0, -1).every((x) => x === '6'), `only noops before it: ${JSON.stringify(g.body)}`);
    const after = await http(url(sid));
    assert.equal(after.status, 400);
    assert.deepEqual(JSON.parse(after.body), { code: 1, message: 'Session ID unknown' });
  });

  it('an event and a DISCONNECT in one POST: the event\'s handler never runs (Node dispatches a tick later, the socket is gone)', T, async () => {
    const hb = (await heartbeatServer()).url; // the ping ends the poll
    const sid = await joined(hb);
    const p = await http(url(sid, hb), { method: 'POST', body: '42["message","z"]\x1e41' });
    assert.equal(p.status, 200);
    const g = await http(url(sid, hb)); // the next ping (300 ms), nothing before it
    assert.equal(g.status, 200);
    assert.deepEqual(g.body.split('\x1e'), ['2']);
  });
});

describe('socket.io raw websocket: packets in, packets out', () => {
  // [name, frames sent after the Engine.IO open packet, frames expected back
  // (sids replaced by "S", pings and a final close packet "1" left out), whether
  // the server must close the connection]. Expectations are Node's replies.
  const B = (...bytes) => Buffer.from(bytes);
  const AUTH = ['40{"sid":"S"}', '42["auth",{}]'];
  const CASES = [
    ['CONNECT', ['40'], AUTH, false],
    ['CONNECT with auth', ['40{"a":[1,{"b":null}]}'], ['40{"sid":"S"}', '42["auth",{"a":[1,{"b":null}]}]'], false],
    ['CONNECT with a string auth', ['40"str"'], [], true],
    ['CONNECT with an array auth', ['40[1]'], [], true],
    ['CONNECT twice to the same namespace', ['40', '40'], AUTH, true],
    ['CONNECT /custom', ['40/custom,{"x":1}'], ['40/custom,{"sid":"S"}', '42/custom,["auth",{"x":1}]'], false],
    ['CONNECT /custom without a comma', ['40/custom'], ['40/custom,{"sid":"S"}', '42/custom,["auth",{}]'], false],
    ['CONNECT to an unknown namespace', ['40/nope,'], ['44/nope,{"message":"Invalid namespace"}'], false],
    ['refused namespace, then "/"', ['40/nope,', '40'], ['44/nope,{"message":"Invalid namespace"}', ...AUTH], false],
    ['EVENT before CONNECT', ['42["message",1]'], [], true],
    ['EVENT', ['40', '42["message",1,"a",null]'], [...AUTH, '42["message-back",1,"a",null]'], false],
    ['EVENT asking for an ack', ['40', '421["message-with-ack",1,"a"]'], [...AUTH, '431[1,"a"]'], false],
    ['EVENT with a large ack id', ['40', '4212345678["message-with-ack",1]'], [...AUTH, '4312345678[1]'], false],
    ['"message" with an ack id (never acked)', ['40', '427["message",1]'], [...AUTH, '42["message-back",1]'], false],
    ['EVENT with a number as name (ignored)', ['40', '42[1,2]', '42["message",0]'], [...AUTH, '42["message-back",0]'], false],
    ['BINARY_EVENT', ['40', '451-["message",{"_placeholder":true,"num":0}]', B(1, 2, 3)],
      [...AUTH, '451-["message-back",{"_placeholder":true,"num":0}]', '<1,2,3>'], false],
    // Attachments numbered in document order, as every encoder does, so the
    // echo is byte-identical whether or not the server renumbers them.
    ['BINARY_EVENT with two attachments, nested', ['40',
      '452-["message",{"a":[{"_placeholder":true,"num":0}],"b":{"_placeholder":true,"num":1}}]', B(1), B(2)],
    [...AUTH, '452-["message-back",{"a":[{"_placeholder":true,"num":0}],"b":{"_placeholder":true,"num":1}}]', '<1>', '<2>'],
    false],
    ['BINARY_EVENT asking for an ack', ['40', '451-9["message-with-ack",{"_placeholder":true,"num":0}]', B(4)],
      [...AUTH, '461-9[{"_placeholder":true,"num":0}]', '<4>'], false],
    ['BINARY_EVENT with a placeholder out of range', ['40', '451-["message",{"_placeholder":true,"num":5}]', B(1)], AUTH, true],
    ['a binary frame with no BINARY_EVENT pending', ['40', B(1, 2)], AUTH, true],
    ['bad attachment count', ['40', '45a-["message"]'], AUTH, true],
    ['DISCONNECT, then CONNECT again', ['40', '41', '40', '42["message",2]'], [...AUTH, ...AUTH, '42["message-back",2]'], false],
    ['DISCONNECT, then an EVENT to the left namespace', ['40', '41', '42["message",1]'], AUTH, true],
    ['DISCONNECT /custom keeps "/"', ['40', '40/custom,', '41/custom,', '42["message","still"]'],
      [...AUTH, '40/custom,{"sid":"S"}', '42/custom,["auth",{}]', '42["message-back","still"]'], false],
    ['EVENT to /custom', ['40/custom,', '42/custom,["message","c"]'],
      ['40/custom,{"sid":"S"}', '42/custom,["auth",{}]', '42/custom,["message-back","c"]'], false],
    ['EVENT with ack to /custom', ['40/custom,', '42/custom,5["message-with-ack","z"]'],
      ['40/custom,{"sid":"S"}', '42/custom,["auth",{}]', '43/custom,5["z"]'], false],
    ['ACK with an unknown id (ignored)', ['40', '399[1]', '42["message",3]'], [...AUTH, '42["message-back",3]'], false],
    ['ACK without an id (ignored)', ['40', '3[1]', '42["message",3]'], [...AUTH, '42["message-back",3]'], false],
  ];

  /** Renders a received frame: text with sids masked, binary as <bytes>. */
  const render = (d, isBinary) => (isBinary ? `<${[...d]}>` : String(d).replace(/"sid":"[^"]+"/g, '"sid":"S"'));

  for (const [name, frames, expected, closes] of CASES) {
    it(`${name} -> ${closes ? 'connection closed' : 'stays open'}`, T, async () => {
      if (endpointProblem) assert.fail(`Socket.IO endpoint /socket.io/ is not working: ${endpointProblem}`);
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
      cleanups.push(async () => ws.terminate());
      const got = [];
      let closed = null;
      ws.on('message', (d, isBinary) => got.push(render(d, isBinary)));
      ws.on('close', (code) => { closed = code; });
      await waitEvent(ws, 'open');
      for (const f of frames) { ws.send(f); await sleep(5); }
      // Wait for the close (or for every expected reply), then a little more
      // so that an extra reply or an unwanted close would be seen.
      const count = () => got.filter((x) => x !== '2').length - 1;
      const done = () => closed !== null || (!closes && count() >= expected.length);
      const t0 = Date.now();
      while (!done() && Date.now() - t0 < 2000) await sleep(10);
      await sleep(100);
      const replies = got.slice(1).filter((x) => x !== '2'); // drop the open packet and pings
      if (closes && replies.at(-1) === '1') replies.pop();
      assert.match(got[0] ?? '', /^0\{/, 'Engine.IO open packet first');
      assert.deepEqual(replies, expected);
      if (closes) {
        assert.notEqual(closed, null, 'the server closed the connection');
      } else {
        assert.equal(closed, null, `the connection stays open (closed with ${closed})`);
      }
    });
  }
});
