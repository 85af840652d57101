// The abuse limits (include/sioc.h; docs/guide.md "Abuse limits"), each
// driven with the real socket.io-client over WebSocket and over polling,
// and each refusal read back from /metrics (sioc_limit_refusals_total):
//   - max_connections_per_address: past it a connection is answered 429
//     before it says anything; room again once connections close;
//   - handshake_rate (a token bucket per address): a new session past it is
//     answered 429 (polling: {"code":4,"message":"Too many handshakes"});
//     requests of open sessions are not handshakes; the bucket refills;
//   - max_dynamic_namespaces: a CONNECT that would make one more child gets
//     "Invalid namespace"; room again once a child is cleaned up;
//   - max_rooms_per_socket and max_rooms: a join past them fails with an
//     error the application sees (here: in the join's ack);
//   - sioc-chat: its per-address options and --max-message-rate in /metrics.
// Node's socket.io has none of these limits (no option, no counter), so
// there is nothing to compare with: the suite is skipped with SIOC_REF=1.
// Every client connects to 127.0.0.1 so that all count for one address.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io, Manager } from 'socket.io-client';
import { IS_REF, IS_WRAPPED, startServer } from './lib/server.mjs';
import { Cleanups, tempDb, startChat, connectedClient, rawGet } from './lib/chat.mjs';
import { sleep, withTimeout } from './lib/util.mjs';

const SKIP = IS_REF && 'Node has no such limits';
// A token bucket of one a second cannot be timed under valgrind (20-50x slower).
const SKIP_TIMED = SKIP || (IS_WRAPPED && 'a bucket of one token a second, timed');
const T = { timeout: 30_000 };
const TRANSPORTS = [['websocket'], ['polling']];

let cleanups;
beforeEach(() => { cleanups = new Cleanups(); });
afterEach(async () => { await cleanups.run(); });

/** The protocol server with --metrics and args; url is on 127.0.0.1. */
async function protocolServer(args, env = {}) {
  const server = await startServer('sioc-protocol-server', ['--metrics', ...args], env);
  cleanups.add(() => server.stop());
  return { ...server, url: `http://127.0.0.1:${server.port}` };
}

/** The samples of GET /metrics: {"name{labels}": value} (own connection, closed after). */
async function scrape(server) {
  const r = await rawGet(server.port, '/metrics', { host: '127.0.0.1' });
  assert.equal(r.status, 200, String(r.body));
  const out = {};
  for (const line of String(r.body).split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

const refusals = (m, limit) => m[`sioc_limit_refusals_total{limit="${limit}"}`];

/**
 * A client (no reconnection) that resolves 'connect' or the connect_error;
 * body: the refused polling request's response text, read at once (the
 * client aborts the request right after, which empties it).
 */
function attempt(url, opts) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  cleanups.add(() => socket.close());
  return withTimeout(new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket, error: null }));
    socket.once('connect_error', (error) => resolve({ socket, error, body: error.context?.responseText }));
  }), 5000, 'connect or connect_error');
}

/** The HTTP status in a connect_error (polling: description; WebSocket: ws's message). */
function statusOf(error) {
  if (typeof error.description === 'number') return error.description;
  const m = /Unexpected server response: (\d+)/.exec(error.description?.message ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * count raw TCP connections from 127.0.0.1, open (accepted) on return. A
 * connection the client has just seen answered may not be closed on the
 * server yet (it still counts): wait a little before, and fail clearly if
 * one of these was refused all the same.
 */
async function holdConnections(port, count) {
  await sleep(200);
  let refused = 0;
  const socks = await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s)).on('error', reject);
    s.on('data', () => { refused++; });
  })));
  cleanups.add(() => socks.forEach((s) => s.destroy()));
  await sleep(100); // accepted by the server
  assert.equal(refused, 0, 'a held connection was answered (refused)');
  return socks;
}

/** A raw connection from 127.0.0.1 that gets the 429 before sending anything; its text. */
async function refusedRaw(port) {
  const raw = net.connect(port, '127.0.0.1');
  cleanups.add(() => raw.destroy());
  let text = '';
  raw.setEncoding('utf8').on('data', (d) => { text += d; });
  await withTimeout(new Promise((r) => raw.once('end', r)), 3000, 'the 429 and the close');
  assert.match(text, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
  return text;
}

describe('max_connections_per_address', { skip: SKIP }, () => {
  it('past it: 429 at once, over both transports and raw; room again once connections close; counted', T, async () => {
    const server = await protocolServer(['--max-connections-per-address', '4']);
    const before = await scrape(server);
    const held = await holdConnections(server.port, 4);

    for (const transports of TRANSPORTS) {
      const { error, body } = await attempt(server.url, { transports });
      assert.ok(error, `${transports}: refused`);
      assert.equal(error.message, transports[0] === 'polling' ? 'xhr poll error' : 'websocket error');
      assert.equal(statusOf(error), 429, `${transports}`);
      // The answer comes before the request is sent: the client may have
      // dropped the body by then (the raw check below reads it).
      if (transports[0] === 'polling' && body) assert.equal(body, 'Too many connections from this address');
    }
    // A raw connection is answered before it sends a byte.
    const text = await refusedRaw(server.port);
    assert.match(text, /\r\nConnection: close\r\n/i);
    assert.ok(text.endsWith('\r\n\r\nToo many connections from this address'), text);

    held.forEach((s) => s.destroy());
    await sleep(200);
    // Polling then the upgrade: at most 3 connections at once, under the limit.
    const { socket, error } = await attempt(server.url, {});
    assert.equal(error, null);
    if (socket.io.engine.transport.name !== 'websocket') {
      await withTimeout(new Promise((r) => socket.io.engine.once('upgrade', r)), 5000, 'upgrade');
    }
    assert.deepEqual(await withTimeout(socket.emitWithAck('message-with-ack', 'hi'), 3000, 'ack'), 'hi');
    socket.close();
    await sleep(100);
    const after = await scrape(server);
    assert.equal(refusals(after, 'max_connections_per_address') - refusals(before, 'max_connections_per_address'), 3);
  });
});

describe('handshake_rate', { skip: SKIP_TIMED }, () => {
  it('past the bucket: 429 over both transports, open sessions unaffected, refilled later; counted', T, async () => {
    // 1 a second, 3 at once: the first three handshakes pass.
    const server = await protocolServer(['--handshake-rate', '1', '--handshake-burst', '3']);
    const before = await scrape(server);
    const first = await attempt(server.url, { transports: ['polling'] });
    assert.equal(first.error, null);
    // All at once, so that no token comes back meanwhile (one a second).
    const raws = await Promise.all(Array.from({ length: 3 },
      () => rawGet(server.port, '/socket.io/?EIO=4&transport=polling', { host: '127.0.0.1' })));
    const raw = raws.find((r) => r.status !== 200);
    assert.deepEqual(raws.map((r) => r.status).sort(), [200, 200, 429]);
    assert.equal(raw.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(raw.body), { code: 4, message: 'Too many handshakes' });
    const refused = await Promise.all(TRANSPORTS.map((transports) => attempt(server.url, { transports })));
    for (const [i, transports] of TRANSPORTS.entries()) {
      const { error, body } = refused[i];
      assert.ok(error, `${transports}: refused`);
      assert.equal(statusOf(error), 429, `${transports}`);
      if (transports[0] === 'polling') assert.deepEqual(JSON.parse(body), { code: 4, message: 'Too many handshakes' });
    }
    // The open session's requests (polls, posts) are not handshakes.
    assert.equal(await withTimeout(first.socket.emitWithAck('message-with-ack', 'still'), 3000, 'ack'), 'still');
    await sleep(1100); // a token again
    for (const transports of [['websocket']]) {
      const { error } = await attempt(server.url, { transports });
      assert.equal(error, null, `${transports} after the refill`);
    }
    const after = await scrape(server);
    assert.equal(refusals(after, 'handshake_rate') - refusals(before, 'handshake_rate'), 3);
    const code4 = 'sioc_rejected_handshakes_total{code="4"}';
    assert.equal(after[code4] - before[code4], 3, 'connection_error fired with code 4');
  });
});

describe('max_dynamic_namespaces', { skip: SKIP }, () => {
  for (const transports of TRANSPORTS) {
    it(`${transports}: past it a CONNECT gets "Invalid namespace"; room again once a child is cleaned up`, T, async () => {
      const server = await protocolServer(['--max-dynamic-namespaces', '2']);
      const manager = new Manager(server.url, { transports, reconnection: false, forceNew: true });
      cleanups.add(() => manager.engine?.close());
      const join = (name) => {
        const s = manager.socket(name);
        return withTimeout(new Promise((resolve) => {
          s.once('welcome', (n) => resolve({ s, welcome: n }));
          s.once('connect_error', (e) => resolve({ s, error: e.message }));
        }), 5000, `${name}`);
      };
      assert.equal((await join('/game-1')).welcome, '/game-1');
      const g2 = await join('/game-2');
      assert.equal(g2.welcome, '/game-2');
      const g3 = await join('/game-3');
      assert.equal(g3.error, 'Invalid namespace');
      g2.s.disconnect(); // the server cleans /game-2 up (cleanupEmptyChildNamespaces)
      await sleep(100);
      assert.equal((await join('/game-4')).welcome, '/game-4');
      const m = await scrape(server);
      assert.equal(refusals(m, 'max_dynamic_namespaces'), 1);
    });
  }
});

describe('max_rooms_per_socket and max_rooms', { skip: SKIP }, () => {
  for (const transports of TRANSPORTS) {
    it(`${transports}: a join past them fails with an error the app sees; nothing else changes`, T, async () => {
      const server = await protocolServer(['--max-rooms-per-socket', '3', '--max-rooms', '4'],
        { SIOC_SIO_EXTRA: '1' });
      const client = async () => {
        const { socket, error } = await attempt(`${server.url}/test`, { transports });
        assert.equal(error, null);
        const call = (ev, room) => withTimeout(socket.emitWithAck(ev, room), 3000, `${ev} ${room}`);
        return { join: (room) => call('join', room), leave: (room) => call('leave', room) };
      };
      const a = await client();
      for (const r of ['r1', 'r2', 'r3']) assert.equal(await a.join(r), undefined);
      assert.deepEqual(await a.join('r4'), { error: 'limit exceeded' }, 'a 4th room for one socket');
      assert.equal(await a.join('r1'), undefined, 'a room it is in already is no join');
      const b = await client();
      assert.equal(await b.join('r1'), undefined, 'an existing room');
      assert.equal(await b.join('r4'), undefined, 'a 4th room in the namespace');
      assert.deepEqual(await b.join('r5'), { error: 'limit exceeded' }, 'a 5th room in the namespace');
      await b.leave('r4'); // its last member: the room goes
      assert.equal(await b.join('r5'), undefined, 'room again');
      const m = await scrape(server);
      assert.equal(refusals(m, 'max_rooms_per_socket'), 1);
      assert.equal(refusals(m, 'max_rooms'), 1);
    });
  }
});

describe('sioc-chat', { skip: SKIP_TIMED }, () => {
  it('--max-connections-per-address, --handshake-rate and --max-message-rate are counted in /metrics', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups), ['--metrics', '--max-message-rate', '5',
      '--handshake-rate', '1', '--handshake-burst', '2', '--max-connections-per-address', '3']);
    const url = `http://127.0.0.1:${server.port}`;
    const a = await connectedClient(cleanups, url, { transports: ['websocket'] });
    // 8 at once: a bucket of 5, then refusals (5 in a row would be a flood)
    const acks = await Promise.all(Array.from({ length: 8 }, (_, i) => a.send(`m${i}`, `o${i}`)));
    const refused = acks.filter((x) => x !== undefined).length;
    assert.ok(refused >= 2 && refused <= 3, `${refused} of 8 refused at 5 a second`);
    const held = await holdConnections(server.port, 2); // with a's: 3
    await refusedRaw(server.port);
    const { error } = await attempt(url, { transports: ['polling'] });
    assert.equal(statusOf(error), 429);
    held.forEach((s) => s.destroy());
    await sleep(100);
    assert.equal((await rawGet(server.port, '/socket.io/?EIO=4&transport=polling', { host: '127.0.0.1' })).status, 200);
    assert.equal((await rawGet(server.port, '/socket.io/?EIO=4&transport=polling', { host: '127.0.0.1' })).status, 429);
    const m = await scrape({ port: server.port });
    assert.equal(m.sioc_chat_max_message_rate, 5);
    assert.equal(m.sioc_chat_rate_refused_total, refused);
    assert.equal(m.sioc_chat_flood_disconnects_total, 0);
    assert.equal(refusals(m, 'handshake_rate'), 1);
    assert.equal(refusals(m, 'max_connections_per_address'), 2);
  });
});
