// Engine.IO v4 end-to-end tests against sioc-protocol-server (or, with
// SIOC_REF=1, against the Node reference tests/ref/protocol-server.mjs).
//
// The server under test exposes Engine.IO at /engine.io/ with pingInterval
// 300, pingTimeout 200, maxPayload 1e6, CORS open to any origin, and echoes
// every message back as it came (text stays text, binary stays binary).
// High-level checks use the real npm engine.io-client; protocol-level checks
// (handshake fields, error bodies, heartbeat timing, overlapping polls, upgrade
// probe) talk raw HTTP with fetch and raw WebSocket with the ws package.
// One server is shared by the file; every test is bounded by a timeout, and
// after each test the server must still be running.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { Socket } from 'engine.io-client';
import WebSocket from 'ws';
import net from 'node:net';
import { startServer } from './lib/server.mjs';
import {
  sleep, withTimeout, waitEvent, collectEvents, eioUrl, http, pollingHandshake, decodePayload, SEP,
} from './lib/util.mjs';

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const SLACK = 400; // scheduling slack for timing assertions on a busy 2-core box
const T = { timeout: 10_000 };

let server;
let base;
const cleanups = [];

before(async () => {
  server = await startServer('sioc-protocol-server');
  base = server.url;
});
after(async () => { await server.stop(); });
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
  assert.ok(server.alive(), `server died:\n${server.stderr()}`);
});

/** Opens an engine.io-client Socket and resolves once it is open. */
async function openClient(opts = {}) {
  const socket = new Socket(base, { path: '/engine.io/', ...opts });
  cleanups.push(async () => socket.close());
  await waitEvent(socket, 'open', 5000);
  return socket;
}

/**
 * Opens a raw WebSocket to the Engine.IO endpoint (query merged into the URL).
 * Unless answerPings is false (the heartbeat tests), it answers the server's
 * pings ("2" -> "3") and hides them from 'message' listeners, as a client
 * does: a test that takes longer than pingInterval on a loaded machine then
 * neither reads a ping where it expects its echo nor loses the session.
 */
function rawWs(query = {}, { answerPings = true } = {}) {
  const ws = new WebSocket(eioUrl(base, { transport: 'websocket', ...query }).replace(/^http/, 'ws'));
  cleanups.push(async () => ws.terminate());
  if (answerPings) {
    const emit = ws.emit.bind(ws);
    ws.emit = (event, ...args) => {
      if (event !== 'message' || args[1] || String(args[0]) !== '2') return emit(event, ...args);
      ws.send('3');
      return true;
    };
  }
  return ws;
}

/** Asserts two arrays are equal, reporting the first difference briefly (no giant diffs). */
function assertSameSequence(actual, expected, what = 'sequence') {
  const show = (v) => JSON.stringify(v)?.slice(0, 80);
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (!isDeepStrictEqual(actual[i], expected[i])) {
      assert.fail(`${what} differs at index ${i} (lengths ${actual.length}/${expected.length}): `
        + `got ${show(actual[i])}, expected ${show(expected[i])}`);
    }
  }
}

/** Polls with a raw GET on sid. */
const poll = (sid, ms = 3000) => http(eioUrl(base, { transport: 'polling', sid }), {}, ms);
/** Sends a raw polling payload on sid. */
const post = (sid, body, headers = {}) =>
  http(eioUrl(base, { transport: 'polling', sid }), { method: 'POST', body, headers });

/**
 * A mix of messages: ascii, unicode, and text that looks like other packets.
 * Not the empty string (Node's parser turns it into undefined) nor "\x1e" (the
 * polling payload separator, which Engine.IO v4 does not escape).
 */
function textMessages(n) {
  const special = ['héllo wörld', '日本語 🎉', 'bAQID', '4', '2probe', '{"a":1}', 'a'.repeat(5000)];
  return Array.from({ length: n }, (_, i) => (i < special.length ? special[i] : `message #${i}`));
}

describe('handshake', () => {
  it('polling handshake returns the open packet with the configured fields', T, async () => {
    const { open, res } = await pollingHandshake(base);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; ?charset=UTF-8$/i);
    assert.match(open.sid, /^[A-Za-z0-9_-]{20,}$/, 'sid is >= 20 url-safe characters');
    const { sid, ...rest } = open;
    assert.deepEqual(rest, { upgrades: ['websocket'], pingInterval: 300, pingTimeout: 200, maxPayload: 1000000 });
  });

  it('each handshake gets a distinct sid', T, async () => {
    const sids = await Promise.all(Array.from({ length: 20 }, () => pollingHandshake(base).then((h) => h.sid)));
    assert.equal(new Set(sids).size, 20);
  });

  it('websocket handshake sends the open packet with no further upgrades', T, async () => {
    const ws = rawWs();
    const [data, isBinary] = await waitEvent(ws, 'message');
    assert.equal(isBinary, false);
    const text = String(data);
    assert.equal(text[0], '0');
    const open = JSON.parse(text.slice(1));
    assert.match(open.sid, /^[A-Za-z0-9_-]{20,}$/);
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 200);
    assert.equal(open.maxPayload, 1000000);
  });
});

describe('echo with engine.io-client', () => {
  for (const transports of [['polling'], ['websocket']]) {
    it(`${transports[0]}-only: 200 text messages echoed in order`, T, async () => {
      const c = await openClient({ transports });
      const msgs = textMessages(200);
      const got = collectEvents(c, 'message', msgs.length);
      for (const m of msgs) c.send(m);
      assertSameSequence((await got).map(([m]) => m), msgs, 'echoes');
      assert.equal(c.transport.name, transports[0]);
    });

    it(`${transports[0]}-only: binary both ways arrives as binary`, T, async () => {
      const c = await openClient({ transports });
      const u8 = new Uint8Array([0, 1, 2, 253, 254, 255]);
      const ab = new Uint8Array([9, 8, 7, 6]).buffer;
      const big = new Uint8Array(100_000).map((_, i) => i % 251);
      const got = collectEvents(c, 'message', 4);
      c.send(u8);
      c.send(ab);
      c.send('bAQID'); // text that looks like a base64 binary packet must stay text
      c.send(big);
      const [[r1], [r2], [r3], [r4]] = await got;
      for (const r of [r1, r2, r4]) assert.ok(r instanceof Uint8Array, `binary arrives as binary, got ${typeof r}`);
      assert.deepEqual([...r1], [...u8]);
      assert.deepEqual([...r2], [9, 8, 7, 6]);
      assert.equal(r3, 'bAQID');
      assert.ok(Buffer.from(r4).equals(Buffer.from(big)));
    });
  }

  it('upgrade with 100 messages in flight both ways: all echoed once, in order, ends on websocket', T, async () => {
    const c = new Socket(base, { path: '/engine.io/', transports: ['polling', 'websocket'] });
    cleanups.push(async () => c.close());
    const sent = [];
    const received = [];
    let sentBeforeUpgrade = -1;
    c.on('message', (m) => received.push(m));
    c.on('upgrade', () => { sentBeforeUpgrade = sent.length; });
    await waitEvent(c, 'open', 5000);
    assert.equal(c.transport.name, 'polling');
    // Spread the sends over ~200 ms so some go before, during and after the upgrade.
    for (let i = 0; i < 100; i++) {
      const m = i % 10 === 0 ? Buffer.from([i, 255 - i]) : `in-flight ${i}`;
      sent.push(m);
      c.send(m);
      await sleep(2);
    }
    await withTimeout((async () => { while (received.length < sent.length) await sleep(10); })(), 5000,
      'all echoes');
    await sleep(100); // a duplicate would show up here
    assert.equal(received.length, sent.length, 'no duplicates');
    assertSameSequence(received.map((m) => (typeof m === 'string' ? m : [...m])),
      sent.map((m) => (typeof m === 'string' ? m : [...m])), 'echoes');
    assert.equal(c.transport.name, 'websocket');
    assert.ok(sentBeforeUpgrade > 0 && sentBeforeUpgrade < 100,
      `upgrade happened while messages were in flight (at ${sentBeforeUpgrade})`);
  });
});

describe('raw polling', () => {
  it('POSTed packets (text, binary, batched) are echoed on the next polls', T, async () => {
    const { sid } = await pollingHandshake(base);
    const r = await post(sid, ['4hello', 'bAQID', '4wörld 🎉'].join(SEP), { 'Content-Type': 'text/plain;charset=UTF-8' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    const packets = [];
    while (packets.length < 3) {
      const g = await poll(sid);
      assert.equal(g.status, 200);
      assert.match(g.headers.get('content-type'), /^text\/plain/);
      packets.push(...decodePayload(g.body).filter((p) => p !== '2' && p !== '6'));
    }
    assert.deepEqual(packets, ['4hello', 'bAQID', '4wörld 🎉']);
  });

  it('a close packet from the client ends the session', T, async () => {
    const { sid } = await pollingHandshake(base);
    assert.equal((await post(sid, '1')).status, 200);
    const g = await poll(sid);
    assert.equal(g.status, 400);
    assert.deepEqual(JSON.parse(g.body), { code: 1, message: 'Session ID unknown' });
  });

  it('a close packet while a GET is pending answers that GET with a noop; the next GET gets 400', T, async () => {
    const { sid } = await pollingHandshake(base);
    const pending = poll(sid);
    await sleep(50); // let the GET become the pending poll
    assert.equal((await post(sid, '1')).status, 200);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.deepEqual(decodePayload(r.body), ['6']);
    const next = await poll(sid);
    assert.equal(next.status, 400);
    assert.deepEqual(JSON.parse(next.body), { code: 1, message: 'Session ID unknown' });
  });

  it('a POST whose Content-Length is over maxPayload is answered 413 even while its body keeps coming', T, async () => {
    const { sid } = await pollingHandshake(base);
    const sock = net.connect(server.port, 'localhost');
    cleanups.push(async () => sock.destroy());
    let got = '';
    let error = null;
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('error', (e) => { error = e; });
    await waitEvent(sock, 'connect');
    const total = 8e6;
    sock.write(`POST /engine.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: localhost\r\n`
      + `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${total}\r\n\r\n4`);
    const chunk = Buffer.alloc(65536, 'x');
    // Keep sending, as a client does that does not read its answer early.
    for (let sent = 1; sent < total && !error && !sock.destroyed; sent += chunk.length) {
      if (!sock.write(chunk)) await Promise.race([waitEvent(sock, 'drain', 2000).catch(() => {}), sleep(200)]);
      if (got.includes('\r\n\r\n')) break;
    }
    await withTimeout((async () => { while (!got.includes('\r\n\r\n') && !error) await sleep(10); })(), 3000, 'the 413 answer');
    assert.match(got, /^HTTP\/1\.1 413 /, `got ${JSON.stringify(got.slice(0, 80))}, error ${error?.code}`);
  });

  it('a second concurrent GET on the same sid gets 400 and closes the session (first GET gets a close packet)', T, async () => {
    const { sid } = await pollingHandshake(base);
    const first = poll(sid);
    await sleep(50); // let the first GET become the pending poll
    const second = await poll(sid);
    assert.equal(second.status, 400);
    const r1 = await first;
    assert.equal(r1.status, 200);
    assert.deepEqual(decodePayload(r1.body), ['1']);
    const third = await poll(sid);
    assert.equal(third.status, 400);
    assert.deepEqual(JSON.parse(third.body), { code: 1, message: 'Session ID unknown' });
  });

  it('a POST larger than maxPayload gets 413; exactly maxPayload is accepted', T, async () => {
    const { sid } = await pollingHandshake(base);
    const ok = await post(sid, `4${'x'.repeat(1e6 - 1)}`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'ok');
    const tooBig = await post(sid, `4${'y'.repeat(1e6)}`);
    assert.equal(tooBig.status, 413);
    // The server must still serve new sessions afterwards.
    await pollingHandshake(base);
  });

  it('engine.io-client sending a message over maxPayload on polling closes with "transport error"', T, async () => {
    const c = await openClient({ transports: ['polling'] });
    c.send('z'.repeat(1e6 + 10));
    const [reason, details] = await waitEvent(c, 'close');
    assert.equal(reason, 'transport error');
    assert.equal(details?.context?.status, 413);
  });
});

describe('raw protocol errors', () => {
  it('polling: an undecodable packet closes the session (pending poll gets the close packet)', T, async () => {
    const { sid } = await pollingHandshake(base);
    const pending = poll(sid);
    await sleep(30);
    assert.equal((await post(sid, '4ok\x1ex')).status, 200);
    const g = await pending;
    assert.deepEqual(decodePayload(g.body), ['4ok'], 'packets before the bad one are still handled');
    const next = await poll(sid);
    if (decodePayload(next.body).at(-1) !== '1') {
      assert.equal(next.status, 400);
      assert.deepEqual(JSON.parse(next.body), { code: 1, message: 'Session ID unknown' });
    }
  });

  for (const [name, body] of [['an unknown packet type', '7'], ['an empty payload', ''], ['a ping from the client', '2']]) {
    it(`polling: ${name} closes the session`, T, async () => {
      const { sid } = await pollingHandshake(base);
      const pending = poll(sid);
      await sleep(30);
      assert.equal((await post(sid, body)).status, 200);
      assert.deepEqual(decodePayload((await pending).body), ['1']);
      assert.equal((await poll(sid)).status, 400);
    });
  }

  it('polling: a binary (application/octet-stream) POST is refused with 400 and ends the session', T, async () => {
    const { sid } = await pollingHandshake(base);
    const r = await post(sid, Buffer.from('4abc'), { 'Content-Type': 'application/octet-stream' });
    assert.equal(r.status, 400);
    const g = await poll(sid);
    assert.equal(g.status, 400);
    assert.deepEqual(JSON.parse(g.body), { code: 1, message: 'Session ID unknown' });
  });

  it('polling: a second POST while one is still being received gets 400 and ends the session', T, async () => {
    const { sid } = await pollingHandshake(base);
    const sock = net.connect(server.port, 'localhost');
    cleanups.push(async () => sock.destroy());
    sock.on('error', () => {});
    await waitEvent(sock, 'connect');
    sock.write(`POST /engine.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: localhost\r\n`
      + 'Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 10\r\n\r\n4ab');
    await sleep(50); // the first POST's body is now incomplete on the server
    const second = await post(sid, '4cd');
    assert.equal(second.status, 400);
    const g = await poll(sid);
    assert.equal(g.status, 400);
    assert.deepEqual(JSON.parse(g.body), { code: 1, message: 'Session ID unknown' });
  });

  for (const [name, frame] of [['an undecodable packet', 'x'], ['an empty frame', ''], ['a ping from the client', '2']]) {
    it(`websocket: ${name} closes the connection with a close frame`, T, async () => {
      const ws = rawWs();
      await waitEvent(ws, 'message');
      ws.send(frame);
      const [code] = await waitEvent(ws, 'close', 2000);
      // 1006 would mean the TCP connection was dropped without the closing handshake.
      assert.ok(code === 1000 || code === 1005, `close code ${code}`);
    });
  }
});

describe('raw websocket', () => {
  it('a message of exactly maxPayload bytes is echoed (text and binary)', T, async () => {
    const ws = rawWs();
    await waitEvent(ws, 'message');
    const text = waitEvent(ws, 'message');
    ws.send(`4${'q'.repeat(999_999)}`);
    const [t, tBin] = await text;
    assert.equal(tBin, false);
    assert.equal(t.length, 1e6);
    const bin = waitEvent(ws, 'message');
    ws.send(Buffer.alloc(1e6, 7));
    const [b, bBin] = await bin;
    assert.equal(bBin, true);
    assert.ok(b.equals(Buffer.alloc(1e6, 7)));
  });

  it('echoes text and binary frames', T, async () => {
    const ws = rawWs();
    await waitEvent(ws, 'message'); // open packet
    const got = collectEvents(ws, 'message', 3);
    ws.send('4hello');
    ws.send(Buffer.from([1, 2, 3]));
    ws.send('4日本');
    const [[a, aBin], [b, bBin], [c, cBin]] = await got;
    assert.deepEqual([String(a), aBin], ['4hello', false]);
    assert.equal(bBin, true);
    assert.deepEqual([...b], [1, 2, 3]);
    assert.deepEqual([String(c), cBin], ['4日本', false]);
  });

  it('a message over maxPayload closes the websocket', T, async () => {
    const ws = rawWs();
    await waitEvent(ws, 'message');
    ws.send(`4${'x'.repeat(1e6 + 10)}`);
    const [code] = await waitEvent(ws, 'close', 3000);
    assert.ok(code >= 1000, `close code ${code}`);
  });

  it('upgrade from polling: probe, noop for the pending poll, upgrade, then the old transport is refused', T, async () => {
    const { sid } = await pollingHandshake(base);
    const pending = poll(sid);
    await sleep(30);
    const ws = rawWs({ sid });
    await waitEvent(ws, 'open');
    const probe = waitEvent(ws, 'message');
    ws.send('2probe');
    const [pong] = await probe;
    assert.equal(String(pong), '3probe');
    const r = await pending; // the server must release the pending poll with a noop
    assert.equal(r.status, 200);
    assert.deepEqual(decodePayload(r.body), ['6']);
    ws.send('5');
    const echo = waitEvent(ws, 'message');
    ws.send('4after upgrade');
    assert.equal(String((await echo)[0]), '4after upgrade');
    const g = await poll(sid);
    assert.equal(g.status, 400);
    assert.deepEqual(JSON.parse(g.body), { code: 3, message: 'Bad request' });
    const p = await post(sid, '4late');
    assert.equal(p.status, 400);
    assert.deepEqual(JSON.parse(p.body), { code: 3, message: 'Bad request' });
  });

  it('a websocket with an unknown sid is refused with HTTP 400', T, async () => {
    const ws = rawWs({ sid: 'AAAAAAAAAAAAAAAAAAAAAAAA' });
    ws.on('error', () => {});
    const [, res] = await waitEvent(ws, 'unexpected-response');
    assert.equal(res.statusCode, 400);
    res.resume();
  });
});

describe('heartbeat', () => {
  for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
    it(`${transports.join('+')}: a client open for > 3 ping intervals stays open`, T, async () => {
      const c = await openClient({ transports });
      let pings = 0;
      c.on('ping', () => { pings++; });
      let closed = null;
      c.on('close', (reason) => { closed = reason; });
      await sleep(4 * PING_INTERVAL);
      assert.equal(closed, null);
      assert.equal(c.readyState, 'open');
      assert.ok(pings >= 3, `got ${pings} pings`);
      const echo = waitEvent(c, 'message');
      c.send('still alive');
      assert.deepEqual(await echo, ['still alive']);
    });

    it(`${transports.join('+')}: engine.io-client that stops answering pings is closed by the server`, T, async () => {
      const c = await openClient({ transports });
      const t0 = Date.now();
      const send = c._sendPacket.bind(c);
      c._sendPacket = (type, ...rest) => { if (type !== 'pong') send(type, ...rest); };
      const [reason] = await waitEvent(c, 'close', 3000);
      const elapsed = Date.now() - t0;
      // The client's own timer would fire at pingInterval + pingTimeout after the
      // ping (800 ms): seeing "transport close" proves the server closed first.
      assert.equal(reason, 'transport close');
      assert.ok(elapsed <= PING_INTERVAL + PING_TIMEOUT + SLACK, `closed after ${elapsed} ms`);
    });
  }

  it('raw polling: a session that is never polled is gone after pingInterval + pingTimeout', T, async () => {
    const { sid } = await pollingHandshake(base);
    await sleep(PING_INTERVAL + PING_TIMEOUT + SLACK);
    const g = await poll(sid);
    assert.equal(g.status, 400);
    assert.deepEqual(JSON.parse(g.body), { code: 1, message: 'Session ID unknown' });
  });

  it('raw polling: ping arrives after pingInterval; no pong -> close packet after pingTimeout', T, async () => {
    const { sid } = await pollingHandshake(base);
    const t0 = Date.now();
    const g1 = await poll(sid);
    const tPing = Date.now() - t0;
    assert.deepEqual(decodePayload(g1.body), ['2']);
    assert.ok(tPing >= PING_INTERVAL - 50 && tPing <= PING_INTERVAL + SLACK, `ping after ${tPing} ms`);
    const g2 = await poll(sid);
    const tClose = Date.now() - t0;
    assert.equal(g2.status, 200);
    assert.deepEqual(decodePayload(g2.body), ['1']);
    assert.ok(tClose - tPing >= PING_TIMEOUT - 50 && tClose - tPing <= PING_TIMEOUT + SLACK,
      `close ${tClose - tPing} ms after ping`);
    const g3 = await poll(sid);
    assert.equal(g3.status, 400);
  });

  it('raw polling: answering pings keeps the session open', T, async () => {
    const { sid } = await pollingHandshake(base);
    for (let i = 0; i < 3; i++) {
      const g = await poll(sid);
      assert.deepEqual(decodePayload(g.body), ['2']);
      assert.equal((await post(sid, '3')).status, 200);
    }
    const echoed = poll(sid);
    await post(sid, '4still here');
    assert.deepEqual(decodePayload((await echoed).body), ['4still here']);
  });

  it('raw websocket: a connection that ignores pings is closed after pingInterval + pingTimeout', T, async () => {
    const t0 = Date.now();
    const ws = rawWs({}, { answerPings: false });
    const msgs = [];
    ws.on('message', (d) => msgs.push(String(d)));
    const [code] = await waitEvent(ws, 'close', 3000);
    const elapsed = Date.now() - t0;
    assert.equal(msgs[0][0], '0');
    assert.deepEqual(msgs.slice(1), ['2']);
    assert.ok(elapsed >= PING_INTERVAL + PING_TIMEOUT - 50 && elapsed <= PING_INTERVAL + PING_TIMEOUT + SLACK,
      `closed after ${elapsed} ms`);
    assert.ok(code === 1000 || code === 1005, `close code ${code}`);
  });

  it('raw websocket: answering pings keeps it open', T, async () => {
    const ws = rawWs({}, { answerPings: false });
    let pings = 0;
    ws.on('message', (d) => { if (String(d) === '2') { pings++; ws.send('3'); } });
    let closed = false;
    ws.on('close', () => { closed = true; });
    await sleep(4 * PING_INTERVAL);
    assert.equal(closed, false);
    assert.ok(pings >= 3, `got ${pings} pings`);
  });
});

describe('errors over raw HTTP', () => {
  const cases = [
    ['unknown transport', 'GET', { transport: 'foo' }, 0, 'Transport unknown'],
    ['missing transport', 'GET', {}, 0, 'Transport unknown'],
    ['unknown sid', 'GET', { transport: 'polling', sid: 'AAAAAAAAAAAAAAAAAAAAAAAA' }, 1, 'Session ID unknown'],
    ['unknown sid on POST', 'POST', { transport: 'polling', sid: 'nope' }, 1, 'Session ID unknown'],
    ['POST handshake', 'POST', { transport: 'polling' }, 2, 'Bad handshake method'],
    ['PUT handshake', 'PUT', { transport: 'polling' }, 2, 'Bad handshake method'],
    ['websocket handshake without Upgrade', 'GET', { transport: 'websocket' }, 3, 'Bad request'],
    ['EIO=3', 'GET', { EIO: '3', transport: 'polling' }, 5, 'Unsupported protocol version'],
    ['EIO=5', 'GET', { EIO: '5', transport: 'polling' }, 5, 'Unsupported protocol version'],
  ];
  for (const [name, method, query, code, message] of cases) {
    it(`${name} -> 400 {"code":${code}}`, T, async () => {
      const r = await http(eioUrl(base, query), { method, body: method === 'GET' ? undefined : '4x' });
      assert.equal(r.status, 400);
      assert.match(r.headers.get('content-type'), /^application\/json/);
      assert.deepEqual(JSON.parse(r.body), { code, message });
      assert.equal(r.body, JSON.stringify({ code, message }), 'exact body');
    });
  }

  it('no EIO parameter at all -> 400 code 5', T, async () => {
    const r = await http(`${base}/engine.io/?transport=polling`);
    assert.equal(r.status, 400);
    assert.equal(r.body, '{"code":5,"message":"Unsupported protocol version"}');
  });

  it('websocket transport in the query of a polling session without upgrade -> 400 code 3', T, async () => {
    const { sid } = await pollingHandshake(base);
    const r = await http(eioUrl(base, { transport: 'websocket', sid }));
    assert.equal(r.status, 400);
    assert.equal(r.body, '{"code":3,"message":"Bad request"}');
  });

  it('an unknown path -> 404', T, async () => {
    const r = await http(`${base}/definitely/not/here`);
    assert.equal(r.status, 404);
    const r2 = await http(`${base}/`);
    assert.equal(r2.status, 404);
  });

  it('a websocket upgrade on an unknown path is refused', T, async () => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/nope/`);
    cleanups.push(async () => ws.terminate());
    let opened = false;
    ws.on('open', () => { opened = true; });
    ws.on('unexpected-response', (req, res) => { res.resume(); ws.terminate(); });
    await withTimeout(new Promise((resolve) => { ws.on('error', resolve); ws.on('close', resolve); }), 5000,
      'refusal');
    assert.equal(opened, false);
  });
});

describe('CORS', () => {
  const origin = 'http://example.com:8080';

  it('OPTIONS preflight echoes the Origin with credentials', T, async () => {
    const r = await http(eioUrl(base, { transport: 'polling' }), {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), origin);
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.match(r.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /content-type/i);
  });

  it('handshake, poll and POST responses echo the Origin with credentials', T, async () => {
    const headers = { Origin: origin };
    const { sid, res } = await pollingHandshake(base, headers);
    const p = await http(eioUrl(base, { transport: 'polling', sid }), { method: 'POST', body: '4x', headers });
    const g = await http(eioUrl(base, { transport: 'polling', sid }), { headers });
    for (const r of [res, p, g]) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('access-control-allow-origin'), origin);
      assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    }
    assert.deepEqual(decodePayload(g.body), ['4x']);
  });

  it('error responses carry CORS headers too', T, async () => {
    const r = await http(eioUrl(base, { transport: 'foo' }), { headers: { Origin: origin } });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('access-control-allow-origin'), origin);
  });
});
