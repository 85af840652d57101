// Node's `parser` option with socket.io-msgpack-parser: the real
// socket.io-client with that parser, over WebSocket and polling, against
// sioc-protocol-server's /msgpack.io/ server (the "/" of socketio.c: "auth"
// on connection, "message" -> "message-back", "message-with-ack" acked);
// with SIOC_REF=1 against the same server in tests/ref/protocol-server.mjs.
// Values of every msgpack kind travel both ways, binary inline; bad input
// (text frames, undecodable or hostile msgpack, invalid packets) closes the
// connection and leaves the server running.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import msgpackParser from 'socket.io-msgpack-parser';
import { startServer, serverPerSuite } from './lib/server.mjs';
import { withTimeout, waitEvent } from './lib/util.mjs';

const T = { timeout: 15_000 };
const TRANSPORTS = [['websocket'], ['polling']];

const suite = serverPerSuite(() => startServer('sioc-protocol-server'));
const { cleanups } = suite;

function client(nsp, transports, opts = {}) {
  const socket = io(`${suite.server.url}${nsp}`, {
    path: '/msgpack.io/', parser: msgpackParser, forceNew: true, reconnection: false, transports, ...opts,
  });
  cleanups.push(async () => socket.disconnect());
  return socket;
}

const VALUES = [
  0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, -32768, -32769, 2 ** 31, -(2 ** 31) - 1,
  2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1.5, -0.25, 3.141592653589793,
  '', 'a', 'héllo ☃ 😀', 'x'.repeat(40), 'y'.repeat(300), 'z'.repeat(70000),
  null, true, false, [], {}, [1, [2, [3, { deep: ['x'] }]]], { a: 1, b: { c: [null, 'd'] }, '': 0 },
  Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  Array.from({ length: 20 }, (_, i) => i),
];

for (const transports of TRANSPORTS) {
  describe(`msgpack parser over ${transports[0]}`, () => {
    it('connects with auth and gets it back', T, async () => {
      const s = client('/', transports, { auth: { token: 'abc', n: 1.5, list: [1, 'x', null] } });
      const [auth] = await waitEvent(s, 'auth', 5000);
      assert.deepEqual(auth, { token: 'abc', n: 1.5, list: [1, 'x', null] });
      assert.ok(s.connected);
    });

    it('every kind of value, binary included, round-trips through an echo and an ack', T, async () => {
      const s = client('/', transports);
      await waitEvent(s, 'auth', 5000);
      const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
      const big = Buffer.alloc(70000, 7);
      const back = waitEvent(s, 'message-back', 5000);
      s.emit('message', ...VALUES, bin, { nested: [bin, { b: big }] });
      const got = await back;
      assert.deepEqual(got.slice(0, VALUES.length), VALUES);
      assert.ok(Buffer.from(got[VALUES.length]).equals(bin));
      const nested = got[VALUES.length + 1];
      assert.ok(Buffer.from(nested.nested[0]).equals(bin));
      assert.ok(Buffer.from(nested.nested[1].b).equals(big));
      const acked = await withTimeout(new Promise((resolve) => {
        s.emit('message-with-ack', 1, 'two', { three: [3] }, bin, (...args) => resolve(args));
      }), 5000, 'ack');
      assert.deepEqual(acked.slice(0, 3), [1, 'two', { three: [3] }]);
      assert.ok(Buffer.from(acked[3]).equals(bin));
    });

    it('an unknown namespace gets connect_error "Invalid namespace"', T, async () => {
      const s = client('/nope', transports);
      const [err] = await waitEvent(s, 'connect_error', 5000);
      assert.equal(err.message, 'Invalid namespace');
    });
  });
}

describe('msgpack parser: bad input closes the connection', () => {
  /** A raw WebSocket session on /msgpack.io/: resolves once open. */
  async function rawSession() {
    const ws = new WebSocket(`ws://localhost:${suite.server.port}/msgpack.io/?EIO=4&transport=websocket`);
    cleanups.push(async () => ws.terminate());
    const closed = new Promise((resolve) => ws.on('close', () => resolve(true)));
    const messages = [];
    ws.on('message', (data, isBinary) => messages.push({ data, isBinary }));
    await withTimeout(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }), 3000, 'open');
    return { ws, closed, messages };
  }
  const encode = (packet) => new msgpackParser.Encoder().encode(packet)[0];
  const binaryMsg = (buf) => Buffer.concat([buf]);

  it('a valid CONNECT is answered in msgpack', T, async () => {
    const { ws, messages } = await rawSession();
    ws.send(binaryMsg(encode({ type: 0, nsp: '/', data: { a: 1 } })));
    for (let i = 0; i < 50 && messages.filter((m) => m.isBinary).length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    const first = messages.find((m) => m.isBinary);
    assert.ok(first, `no binary reply: ${JSON.stringify(messages.map((m) => m.data.toString()))}`);
    const decoded = await new Promise((resolve) => {
      const d = new msgpackParser.Decoder();
      d.on('decoded', resolve);
      d.add(first.data);
    });
    assert.equal(decoded.type, 0);
    assert.equal(decoded.nsp, '/');
    assert.equal(typeof decoded.data.sid, 'string');
  });

  const BAD = {
    'a text frame': '40',
    'an unused byte (0xc1)': Buffer.from([0xc1]),
    'a truncated map': Buffer.from([0x84, 0xa4, 0x74]),
    'a huge announced array': Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
    'a huge announced map': Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]),
    'a huge announced string': Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]),
    'not a map': encode([1, 2]),
    'an unknown packet type': encode({ type: 7, nsp: '/' }),
    'BINARY_EVENT (not in this parser)': encode({ type: 5, nsp: '/', data: ['x'] }),
    'a namespace that is not a string': encode({ type: 0, nsp: 1 }),
    'CONNECT data that is not an object': encode({ type: 0, nsp: '/', data: 'x' }),
    'a DISCONNECT with data': encode({ type: 1, nsp: '/', data: {} }),
    'an EVENT before CONNECT': encode({ type: 2, nsp: '/', data: ['x'] }),
    'a fractional ack id': encode({ type: 0, nsp: '/', id: 1.5 }),
  };
  for (const [what, payload] of Object.entries(BAD)) {
    it(`${what}`, T, async () => {
      const { ws, closed } = await rawSession();
      ws.send(typeof payload === 'string' ? `4${payload}` : binaryMsg(payload));
      assert.equal(await withTimeout(closed, 3000, 'close'), true);
    });
  }
});
