// The Node reference chat server for `make bench`: the Socket.IO tutorial's
// chat (steps 7-8, "server delivery" and "client delivery") on express +
// socket.io 4.8 + better-sqlite3 12, with connectionStateRecovery on.
//
// It is what sioc-chat is measured against, so it is the tutorial's code
// with only the changes a fair comparison needs:
//  - the same command line as sioc-chat: --port (or PORT, default 3000,
//    0 = any free port) and --db (default chat.db);
//  - the same durability: WAL with synchronous=FULL, so an acked row
//    survives power loss;
//  - better-sqlite3 instead of sqlite3/sqlite (synchronous calls on the
//    event loop, one transaction and one fsync per insert);
//  - a clean exit on SIGTERM/SIGINT;
//  - --redis URL (or REDIS_URL): the tutorial's last step, several servers
//    on one database file, joined here by @socket.io/redis-adapter 8.3 on
//    two node-redis 4 clients (the adapter's documented set-up), so that
//    io.emit reaches the clients of every server. Without it, one process
//    and the in-memory adapter, as before.
import express from 'express';
import Database from 'better-sqlite3';
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';

const here = dirname(fileURLToPath(import.meta.url));

// Parses --port/--db/--redis (also --port=N forms); unknown flags are an error.
function parseArgs(argv) {
  const opts = { port: Number(process.env.PORT ?? 3000), db: 'chat.db', redis: process.env.REDIS_URL || null };
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s, 2);
    if (value === undefined && ['--port', '--db', '--redis'].includes(flag)) value = argv[++i];
    if (flag === '--port') opts.port = Number(value);
    else if (flag === '--db') opts.db = value;
    else if (flag === '--redis') opts.redis = value;
    else if (flag === '--help') {
      console.log('usage: node index.js [--port N] [--db FILE] [--redis redis://HOST:PORT]');
      process.exit(0);
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port must be an integer in 0..65535');
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

const db = new Database(opts.db);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`
  CREATE TABLE IF NOT EXISTS messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      client_offset TEXT UNIQUE,
      content TEXT
  );
`);
const insert = db.prepare('INSERT INTO messages (content, client_offset) VALUES (?, ?)');
const since = db.prepare('SELECT id, content FROM messages WHERE id > ?');

// The Redis adapter and its two connections (publish, subscribe), or null.
async function redisAdapter(url) {
  if (!url) return null;
  const { createClient } = await import('redis');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (e) => console.error('redis:', e.message));
  await Promise.all([pub.connect(), sub.connect()]);
  return { adapter: createAdapter(pub, sub), clients: [pub, sub] };
}

const redis = await redisAdapter(opts.redis);
const app = express();
const server = createServer(app);
const io = new Server(server, {
  connectionStateRecovery: {},
  ...(redis ? { adapter: redis.adapter } : {}),
});

// The chat page of apps/chat when it exists, else a minimal one.
const page = resolve(here, '../../apps/chat/public/index.html');
app.get('/', (req, res) => {
  if (existsSync(page)) res.sendFile(page);
  else res.type('html').send('<!doctype html><title>node-ref chat</title><p>node-ref chat</p>');
});

io.on('connection', (socket) => {
  socket.on('chat message', (msg, clientOffset, callback) => {
    if (typeof callback !== 'function') callback = () => {};
    let result;
    try {
      result = insert.run(msg, clientOffset);
    } catch (e) {
      // The message was already stored (a retry): acknowledge it again.
      if (e.code === 'SQLITE_CONSTRAINT_UNIQUE') callback();
      return;
    }
    io.emit('chat message', msg, result.lastInsertRowid);
    callback();
  });

  if (!socket.recovered) {
    // Recovery failed or was not asked for: send what the client missed.
    try {
      for (const row of since.iterate(socket.handshake.auth.serverOffset || 0)) {
        socket.emit('chat message', row.content, row.id);
      }
    } catch (e) {
      console.error('replay failed:', e.message);
    }
  }
});

server.listen(opts.port, () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});

// Stops accepting, disconnects every socket, closes the database, exits 0.
function shutdown() {
  io.close(() => {
    db.close();
    Promise.allSettled((redis?.clients ?? []).map((c) => c.quit())).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
