// sioc-chat --metrics: GET /metrics in the Prometheus text format, with
// numbers that move as a real socket.io-client connects (polling, then
// WebSocket), sends a chat message (stored, broadcast, acked) and leaves;
// without --metrics, /metrics is a 404. sioc only (the Node chat has no
// /metrics): skipped under SIOC_REF=1.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { IS_REF } from './lib/server.mjs';
import { Cleanups, tempDb, startChat } from './lib/chat.mjs';
import { withTimeout, sleep } from './lib/util.mjs';

const T = { timeout: 30_000, skip: IS_REF && 'sioc-chat --metrics has no Node twin' };

/** The samples of a Prometheus text body: {"name{labels}": value}. */
function parse(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

async function scrape(url) {
  const r = await fetch(`${url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  assert.match(text, /# TYPE sioc_handshakes_total counter/);
  return parse(text);
}

describe('sioc-chat --metrics', () => {
  const cleanups = new Cleanups();
  after(() => cleanups.run());

  it('/metrics moves as a client connects, emits and leaves', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups), ['--metrics']);
    const before = await scrape(server.url);
    assert.equal(before.sioc_sockets, 0);

    const socket = io(server.url, { reconnection: false, forceNew: true });
    cleanups.add(() => socket.close());
    await withTimeout(new Promise((r) => socket.once('connect', r)), 5000, 'connect');
    if (socket.io.engine.transport.name !== 'websocket') {
      await withTimeout(new Promise((r) => socket.io.engine.once('upgrade', r)), 5000, 'upgrade');
    }
    const echoed = new Promise((r) => socket.once('chat message', r));
    await withTimeout(new Promise((r) => socket.emit('chat message', 'hello', 'off-1', r)), 5000, 'ack');
    await withTimeout(echoed, 5000, 'broadcast');

    const during = await scrape(server.url);
    assert.equal(during['sioc_handshakes_total{transport="polling"}'],
      before['sioc_handshakes_total{transport="polling"}'] + 1);
    assert.equal(during.sioc_upgrades_total, before.sioc_upgrades_total + 1);
    assert.equal(during['sioc_sessions{transport="websocket"}'], 1);
    assert.equal(during['sioc_sessions{transport="polling"}'], 0);
    assert.equal(during.sioc_sockets, 1);
    assert.equal(during['sioc_namespace_sockets{namespace="/"}'], 1);
    assert.equal(during.sioc_connects_total, before.sioc_connects_total + 1);
    assert.ok(during['sioc_packets_total{direction="in"}'] >= before['sioc_packets_total{direction="in"}'] + 2);
    assert.ok(during['sioc_packets_total{direction="out"}'] >= before['sioc_packets_total{direction="out"}'] + 3);
    assert.ok(during.sioc_broadcasts_total >= before.sioc_broadcasts_total + 1);
    assert.ok(during['sioc_bytes_total{direction="in"}'] > before['sioc_bytes_total{direction="in"}']);
    assert.ok(during['sioc_bytes_total{direction="out"}'] > before['sioc_bytes_total{direction="out"}']);

    const bad = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling`);
    assert.equal(bad.status, 400);
    socket.close();
    let afterLeave;
    for (let i = 0; i < 50; i++) {
      afterLeave = await scrape(server.url);
      if (afterLeave.sioc_sockets === 0 && afterLeave['sioc_sessions{transport="websocket"}'] === 0) break;
      await sleep(50);
    }
    assert.equal(afterLeave.sioc_sockets, 0);
    assert.equal(afterLeave.sioc_disconnects_total, before.sioc_disconnects_total + 1);
    assert.equal(afterLeave['sioc_sessions{transport="websocket"}'], 0);
    assert.equal(afterLeave['sioc_rejected_handshakes_total{code="5"}'],
      before['sioc_rejected_handshakes_total{code="5"}'] + 1);
    await server.stop();
  });

  it('no /metrics without --metrics', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups));
    assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
    await server.stop();
  });
});
