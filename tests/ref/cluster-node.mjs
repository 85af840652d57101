// Node twin of sioc-cluster-node (apps/cluster-node/main.c): socket.io 4.8
// on @socket.io/redis-adapter 8.3 (node-redis 4 clients), answering the same
// hook events, so tests/e2e/cluster.test.mjs can put Node and sioc nodes on
// one Redis and drive each alike. See the C file for the hooks.
//
// Usage: node tests/ref/cluster-node.mjs --port N --redis redis://H:P [--name NAME]
//        [--requests-timeout MS] [--admin USER:BCRYPT_HASH] [--recovery 1]
import http from 'node:http';
import { Server } from 'socket.io';
import { instrument } from '@socket.io/admin-ui';
import { createClient } from 'redis';
import { createAdapter } from '@socket.io/redis-adapter';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const port = Number(arg('--port', '3000'));
const url = arg('--redis', process.env.REDIS_URL);
const name = arg('--name', 'node');
const requestsTimeout = Number(arg('--requests-timeout', '5000'));

const pub = createClient({ url });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on('error', () => {});
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = http.createServer();
const io = new Server(httpServer, {
  cors: { origin: true },
  adapter: createAdapter(pub, sub, { requestsTimeout }),
  ...(arg('--recovery') === '1' ? { connectionStateRecovery: {} } : {}),
});

function selector(o = {}) {
  let b = io;
  for (const r of o.to ?? []) b = b.to(r);
  for (const r of o.except ?? []) b = b.except(r);
  if (o.local) b = b.local;
  return b;
}
const errOf = (err) => (err ? 'timeout' : null);

for (const event of ['sse_ping', 'sse_noanswer']) {
  io.on(event, (...args) => {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    io.local.emit('sse_seen', { node: name, event, args });
    if (cb && event === 'sse_ping') cb({ node: name, args });
  });
}

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => { socket.join(room); ack(); });
  socket.on('set_data', (obj, ack) => { Object.assign(socket.data, obj); ack(); });
  socket.on('bcast', (o, ack) => { selector(o).emit(o.event, ...(o.args ?? [])); ack(); });
  socket.on('bcast_ack', (o, ack) => {
    selector(o).timeout(o.timeout).emit(o.event, ...(o.args ?? []), (err, responses) => {
      ack({ err: errOf(err), responses });
    });
  });
  socket.on('fetch', async (o, ack) => {
    try {
      const sockets = await selector(o).fetchSockets();
      ack({ err: null, sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data })) });
    } catch (e) {
      ack({ err: 'timeout', sockets: [] });
    }
  });
  socket.on('sockets_join', (o, ack) => { selector(o).socketsJoin(o.rooms); ack(); });
  socket.on('sockets_leave', (o, ack) => { selector(o).socketsLeave(o.rooms); ack(); });
  socket.on('disconnect_sockets', (o, ack) => { ack(); selector(o).disconnectSockets(o.close); });
  socket.on('sse', (o, ack) => { io.serverSideEmit(o.event, ...(o.args ?? [])); ack(); });
  socket.on('sse_ack', (o, ack) => {
    io.serverSideEmit(o.event, ...(o.args ?? []), (err, responses) => {
      ack({ err: errOf(err), responses });
    });
  });
  socket.on('server_count', async (ack) => ack(await io.of('/').adapter.serverCount()));
  socket.on('all_rooms', async (ack) => {
    try {
      ack({ err: null, rooms: [...(await io.of('/').adapter.allRooms())].sort() });
    } catch (e) {
      ack({ err: 'timeout', rooms: [] });
    }
  });
});

const admin = arg('--admin');
if (admin) {
  const i = admin.indexOf(':');
  instrument(io, {
    auth: { type: 'basic', username: admin.slice(0, i), password: admin.slice(i + 1) },
    serverId: name, mode: 'development',
  });
}

httpServer.listen(port, () => {
  console.log(`listening on http://localhost:${httpServer.address().port}`);
});
const stop = () => {
  io.close();
  Promise.allSettled([pub.disconnect(), sub.disconnect()]).then(() => process.exit(0));
};
// instrument()'s admin connection handler awaits fetchSockets() on every
// namespace: when a node does not answer, that rejection is unhandled and
// Node would exit; logged instead, as a deployment's handler would.
process.on('unhandledRejection', (err) => console.error(`unhandled rejection: ${err?.message ?? err}`));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
