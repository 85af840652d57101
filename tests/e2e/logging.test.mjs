// DEBUG=sioc:* logging (sioc only: Node's debug names are socket.io:* and
// engine:*, so these checks skip under SIOC_REF=1): with DEBUG the library
// writes debug-format lines to stderr for each layer as a real client
// connects, upgrades, is refused and leaves; without DEBUG, nothing; a
// DEBUG naming one category gives that category only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { IS_REF, startServer } from './lib/server.mjs';
import { withTimeout } from './lib/util.mjs';

const T = { timeout: 20_000, skip: IS_REF && 'sioc log lines (Node logs under its own names)' };
const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z sioc:(http|engine|socket|adapter|loop) /;

/** One client session: connect, upgrade, emit with ack, disconnect; plus a refused request. */
async function exercise(server) {
  const socket = io(server.url, { reconnection: false, forceNew: true });
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), 5000, 'connect');
  if (socket.io.engine.transport.name !== 'websocket') {
    await withTimeout(new Promise((r) => socket.io.engine.once('upgrade', r)), 5000, 'upgrade');
  }
  await withTimeout(new Promise((r) => socket.emit('x', 1, r)), 5000, 'ack');
  socket.close();
  const r = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling`);
  assert.equal(r.status, 400);
  await new Promise((r2) => setTimeout(r2, 200));
}

describe('DEBUG logging', () => {
  it('DEBUG=sioc:* logs every layer to stderr in the debug format', T, async () => {
    const server = await startServer('example-echo', [], { DEBUG: 'sioc:*' });
    await exercise(server);
    await server.stop();
    const lines = server.stderr().split('\n').filter((l) => l !== '');
    assert.ok(lines.length > 0, 'no log lines');
    for (const l of lines) assert.match(l, LINE);
    const text = lines.join('\n');
    assert.match(text, /sioc:http listening on 127\.0\.0\.1 port \d+/);
    assert.match(text, /sioc:engine handshake sid=\S+ transport=polling/);
    assert.match(text, /sioc:engine upgrade sid=\S+ to websocket/);
    assert.match(text, /sioc:socket connect nsp=\/ id=\S+/);
    assert.match(text, /sioc:socket disconnect nsp=\/ id=\S+ reason="client namespace disconnect"/);
    assert.match(text, /sioc:engine close sid=\S+ reason="/);
    assert.match(text, /sioc:engine connection_error code=5 "Unsupported protocol version"/);
  });

  it('nothing on stderr without DEBUG', T, async () => {
    const server = await startServer('example-echo', [], { DEBUG: '' });
    await exercise(server);
    await server.stop();
    assert.equal(server.stderr(), '');
  });

  it('DEBUG=sioc:engine logs that category only', T, async () => {
    const server = await startServer('example-echo', [], { DEBUG: 'sioc:engine' });
    await exercise(server);
    await server.stop();
    const lines = server.stderr().split('\n').filter((l) => l !== '');
    assert.ok(lines.length > 0);
    for (const l of lines) assert.match(l, / sioc:engine /);
  });
});
