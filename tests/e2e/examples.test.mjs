// The three programs of examples/, each started and driven with the real
// socket.io-client over polling and WebSocket: what the README promises
// they do. With SIOC_REF=1 the same checks run against their Node twins
// (tests/ref/example-*.mjs).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer } from './lib/server.mjs';
import { waitEvent, withTimeout } from './lib/util.mjs';

const T = { timeout: 20_000 };
const TRANSPORTS = [['polling'], ['websocket']];

/** Connects and waits for "connect" (rejects on connect_error). */
function connect(url, opts = {}) {
  const socket = io(url, { reconnection: false, forceNew: true, ...opts });
  return withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => { socket.close(); reject(err); });
  }), 5000, 'connect');
}

const ack = (socket, ...args) => withTimeout(
  new Promise((resolve) => socket.emit(...args, (...r) => resolve(r))), 5000, `ack of ${args[0]}`);

describe('examples/echo', () => {
  let server;
  before(async () => { server = await startServer('example-echo'); });
  after(async () => { await server.stop(); });

  for (const transports of TRANSPORTS) {
    it(`echoes events and acks over ${transports[0]}`, T, async () => {
      const socket = await connect(server.url, { transports });
      try {
        const back = waitEvent(socket, 'hello');
        socket.emit('hello', 'world', { n: 1 }, Buffer.from([1, 2, 3]));
        const [text, obj, bin] = await back;
        assert.equal(text, 'world');
        assert.deepEqual(obj, { n: 1 });
        assert.deepEqual([...bin], [1, 2, 3]);
        assert.deepEqual(await ack(socket, 'sum', 1, 2), [1, 2]);
      } finally {
        socket.close();
      }
    });
  }
});

describe('examples/lobby', () => {
  let server;
  before(async () => { server = await startServer('example-lobby'); });
  after(async () => { await server.stop(); });

  it('refuses a client without a name', T, async () => {
    await assert.rejects(connect(server.url), { message: 'name required' });
  });

  for (const transports of TRANSPORTS) {
    it(`rooms and broadcasts over ${transports[0]}`, T, async () => {
      const ada = await connect(server.url, { transports, auth: { name: 'ada' } });
      const bob = await connect(server.url, { transports, auth: { name: 'bob' } });
      try {
        assert.deepEqual(await ack(ada, 'join', 'c'), [true]);
        const joined = waitEvent(ada, 'joined');
        assert.deepEqual(await ack(bob, 'join', 'c'), [true]);
        assert.deepEqual(await joined, ['bob', 'c']);
        const said = waitEvent(bob, 'said');
        // ada is in her own room, "lobby" and "c"
        assert.deepEqual(await ack(ada, 'say', 'c', 'hi'), [3]);
        assert.deepEqual(await said, ['ada', 'c', 'hi']);
        const left = waitEvent(ada, 'left');
        bob.close();
        assert.deepEqual(await left, ['bob']);
      } finally {
        ada.close();
        bob.close();
      }
    });
  }
});

describe('examples/uvloop', () => {
  let server;
  before(async () => { server = await startServer('example-uvloop'); });
  after(async () => { await server.stop(); });

  for (const transports of TRANSPORTS) {
    it(`reads the program's own counter over ${transports[0]}`, T, async () => {
      const socket = await connect(server.url, { transports });
      try {
        const [first] = await ack(socket, 'ticks');
        await new Promise((r) => setTimeout(r, 350));
        const [second] = await ack(socket, 'ticks');
        assert.ok(Number.isInteger(first) && second >= first + 2, `ticks ${first} then ${second}`);
      } finally {
        socket.close();
      }
    });
  }
});
