// Node reference for sioc-chat (issue 4): the behaviour the chat e2e tests
// expect, built on socket.io 4.8 and better-sqlite3, so that every chat test
// can first be proven against Node (SIOC_REF=1) before it is pointed at the
// C program. tests/e2e/lib/server.mjs starts it for binName "sioc-chat".
//
// Unlike bench/node-ref/index.js (the tutorial's code kept as-is for a fair
// benchmark) it implements the whole spec of issue 4:
//   - "chat message" (msg, clientOffset, ack): a msg that is not a string or
//     is longer than --max-message bytes (default 64 KiB) is acked with
//     {error} and not stored; a clientOffset that is neither a string nor
//     absent/null, or longer than --max-offset bytes (default 1024), likewise. A new row is broadcast as (msg, id), then acked;
//     a duplicate clientOffset is acked again without a row or a broadcast.
//   - WAL with synchronous=FULL: an acked row survives kill -9.
//   - connectionStateRecovery on; a socket that was not recovered gets every
//     row with id > auth.serverOffset, in order.
//   - "/" serves apps/chat/public/index.html as text/html; socket.io serves
//     its client bundle (ETag, 304, gzip); anything else is 404.
//
// Usage: node tests/ref/chat.mjs [--port N] [--db FILE] [--max-message N] [--admin USER:PASSWORD]
// Prints "listening on http://localhost:PORT"; exits 0 on SIGTERM/SIGINT.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Server } from 'socket.io';
import { instrument } from '@socket.io/admin-ui';
import bcrypt from 'bcryptjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// SIOC_CHAT_PUBLIC_DIR overrides the page's folder, as for sioc-chat.
const PUBLIC_DIR = process.env.SIOC_CHAT_PUBLIC_DIR ?? path.resolve(HERE, '../../apps/chat/public');
const PAGE = readFileSync(path.join(PUBLIC_DIR, 'index.html'));

/** Parses --port/--db/--max-message (the last occurrence wins, like getopt). */
function parseArgs(argv) {
  const opts = { port: Number(process.env.PORT ?? 3000), db: 'chat.db', maxMessage: 65536, maxOffset: 1024 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--port') opts.port = Number(value);
    else if (flag === '--db') opts.db = value;
    else if (flag === '--max-message') opts.maxMessage = Number(value);
    else if (flag === '--max-offset') opts.maxOffset = Number(value);
    else if (flag === '--admin') opts.admin = value;
    else if (flag === '--host' || flag === '--synchronous') continue;
    else throw new Error(`unknown option ${flag}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const db = new Database(opts.db);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, client_offset TEXT UNIQUE, content TEXT)`);
const insert = db.prepare('INSERT INTO messages (content, client_offset) VALUES (?, ?)');
const since = db.prepare('SELECT id, content FROM messages WHERE id > ? ORDER BY id');

const httpServer = http.createServer((req, res) => {
  if (req.url === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not Found');
});
const io = new Server(httpServer, { connectionStateRecovery: {} });
if (opts.admin) {
  // --admin USER:PASSWORD (a plain password is hashed here, as sioc-chat does)
  const [username, ...rest] = opts.admin.split(':');
  const pw = rest.join(':');
  const hashed = /^\$2[aby]\$\d\d\$/.test(pw) && pw.length === 60;
  instrument(io, { auth: { type: 'basic', username, password: hashed ? pw : bcrypt.hashSync(pw, 10) }, mode: process.env.NODE_ENV ?? 'development' });
}

/** The reason msg/clientOffset are refused, or null when they are valid. */
function invalid(msg, clientOffset) {
  if (typeof msg !== 'string') return 'message must be a string';
  if (Buffer.byteLength(msg) > opts.maxMessage) return 'message too long';
  if (clientOffset != null && typeof clientOffset !== 'string') return 'clientOffset must be a string';
  if (typeof clientOffset === 'string' && Buffer.byteLength(clientOffset) > opts.maxOffset) return 'clientOffset too long';
  return null;
}

/** The handshake's auth.serverOffset as a non-negative integer (0 when absent or bad). */
function serverOffset(socket) {
  const v = Number(socket.handshake.auth?.serverOffset);
  return Number.isInteger(v) && v > 0 ? v : 0;
}

io.on('connection', (socket) => {
  socket.on('chat message', (msg, clientOffset, ack) => {
    if (typeof ack !== 'function') ack = () => {};
    const error = invalid(msg, clientOffset);
    if (error) { ack({ error }); return; }
    let result;
    try {
      result = insert.run(msg, clientOffset ?? null);
    } catch (e) {
      if (e.code === 'SQLITE_CONSTRAINT_UNIQUE') ack();
      else console.error('error: message not stored:', e.message);
      return;
    }
    io.emit('chat message', msg, Number(result.lastInsertRowid));
    ack();
  });
  if (!socket.recovered) {
    for (const row of since.iterate(serverOffset(socket))) socket.emit('chat message', row.content, row.id);
  }
});

httpServer.listen(opts.port, () => {
  console.log(`listening on http://localhost:${httpServer.address().port}`);
});

/** Disconnects everyone ("server shutting down"), closes the database, exits 0. */
function shutdown() {
  io.close(() => { db.close(); process.exit(0); });
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
