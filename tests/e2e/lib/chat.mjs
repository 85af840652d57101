// Helpers for the sioc-chat e2e tests (tests/e2e/chat.test.mjs and
// browser.test.mjs): a fresh SQLite file per test, starting/restarting/killing
// the chat server on it, reading the table directly, a socket.io-client that
// behaves like the tutorial page (auth.serverOffset follows the messages it
// receives), and raw HTTP requests whose paths are sent exactly as written
// (fetch() would normalise "/../" away before it left the process).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import Database from 'better-sqlite3';
import { io } from 'socket.io-client';
import { startServer, assertNoSanitizerReport } from './server.mjs';
import { withTimeout, waitEvent } from './util.mjs';

/**
 * Runs cleanups in reverse order of registration; a test's afterEach calls
 * run(). The first cleanup error is rethrown after all of them ran, so a
 * server that fails to exit cleanly fails the test that started it.
 */
export class Cleanups {
  constructor() { this.fns = []; }

  /** Registers fn (sync or async) to run at the end of the test. */
  add(fn) { this.fns.push(fn); }

  /** Runs and forgets every registered cleanup. */
  async run() {
    let first = null;
    while (this.fns.length) {
      try { await this.fns.pop()(); } catch (e) { first ??= e; }
    }
    if (first) throw first;
  }
}

/** Creates an empty temp directory (removed at cleanup) and returns a DB path inside it. */
export function tempDb(cleanups) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-chat-e2e-'));
  cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'chat.db');
}

/**
 * Starts sioc-chat on dbFile (extra args appended, e.g. ['--port', P] to
 * restart on the same port; env added to the environment). stop() at cleanup unless the test stopped or
 * killed it itself; stop() asserts exit code 0 and no sanitizer report.
 */
export async function startChat(cleanups, dbFile, args = [], env = {}, prefix = []) {
  const server = await startServer('sioc-chat', ['--db', dbFile, ...args], env, { prefix });
  let done = false;
  const stop = server.stop;
  server.stop = async () => { done = true; await stop(); };
  server.kill9 = async () => { done = true; await kill9(server); };
  cleanups.add(async () => { if (!done) await server.stop(); });
  return server;
}

/** SIGKILLs the server, waits until it is gone, and checks its stderr for sanitizer reports. */
async function kill9(server) {
  const gone = new Promise((resolve) => {
    if (!server.alive()) resolve();
    else server.proc.once('exit', resolve);
  });
  server.proc.kill('SIGKILL');
  await withTimeout(gone, 5000, 'the killed server to exit');
  assertNoSanitizerReport(server.stderr(), 'sioc-chat (before kill -9)');
}

/** Every row of the messages table, in id order, read straight from the file. */
export function dbRows(dbFile) {
  const db = new Database(dbFile, { fileMustExist: true });
  try {
    return db.prepare('SELECT id, client_offset AS clientOffset, content FROM messages ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** Inserts rows directly (while the server is stopped); returns their ids. */
export function dbInsert(dbFile, contents) {
  const db = new Database(dbFile, { fileMustExist: true });
  try {
    const stmt = db.prepare('INSERT INTO messages (content, client_offset) VALUES (?, ?)');
    return contents.map((c, i) => Number(stmt.run(c, `direct-${Date.now()}-${i}`).lastInsertRowid));
  } finally {
    db.close();
  }
}

/**
 * A socket.io-client socket that acts like the tutorial page: every
 * "chat message" (msg, id) is recorded in `received` and moves
 * socket.auth.serverOffset to id, so a reconnection asks only for what it
 * missed. record: 'all' keeps [msg, id], 'ids' [undefined, id] (a client
 * that takes thousands of 8 KB messages would otherwise hold them all, and
 * the garbage collector's pauses make it a slow reader), 'none' nothing.
 * The other opts go to io() (transports, reconnection, ackTimeout, ...).
 */
export class ChatClient {
  constructor(cleanups, url, { serverOffset = 0, record = 'all', ...opts } = {}) {
    this.socket = io(url, {
      forceNew: true, reconnection: false, auth: { serverOffset }, ackTimeout: 5000, retries: 3, ...opts,
    });
    this.received = [];
    this.waiters = new Set();
    this.socket.on('chat message', (msg, id) => {
      if (record !== 'none') this.received.push([record === 'ids' ? undefined : msg, id]);
      this.socket.auth.serverOffset = id;
      for (const w of this.waiters) w();
    });
    cleanups.add(() => this.socket.disconnect());
  }

  /** Resolves once connected (rejects on connect_error or timeout). */
  connected(ms = 5000) {
    if (this.socket.connected) return Promise.resolve();
    return withTimeout(new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message}`)));
    }), ms, 'connect');
  }

  /** Sends "chat message" (msg, clientOffset) and resolves the first ack argument. */
  send(msg, clientOffset) {
    return withTimeout(this.socket.emitWithAck('chat message', msg, clientOffset), 8000,
      `ack of ${JSON.stringify(String(msg).slice(0, 40))}`);
  }

  /** Resolves once `received` holds at least n messages; returns a copy of it. */
  waitCount(n, ms = 5000) {
    return this.until((r) => r.length >= n, ms, `${n} messages`);
  }

  /** Resolves once a message with text msg was received; returns a copy of `received`. */
  waitFor(msg, ms = 5000) {
    return this.until((r) => r.some(([m]) => m === msg), ms, `message ${JSON.stringify(msg)}`);
  }

  /** Resolves once pred(received) holds; the timeout error shows what came. */
  until(pred, ms, what) {
    if (pred(this.received)) return Promise.resolve([...this.received]);
    let check;
    const p = new Promise((resolve) => {
      check = () => { if (pred(this.received)) resolve([...this.received]); };
      this.waiters.add(check);
    });
    return withTimeout(p, ms, what).catch((e) => {
      e.message += ` (received ${JSON.stringify(this.received).slice(0, 400)})`;
      throw e;
    }).finally(() => this.waiters.delete(check));
  }
}

/** Creates a ChatClient and waits until it is connected. */
export async function connectedClient(cleanups, url, opts) {
  const c = new ChatClient(cleanups, url, opts);
  await c.connected();
  return c;
}

/**
 * One HTTP/1.1 GET with the path sent byte for byte; resolves
 * {status, headers, body (Buffer)} without decompressing anything.
 */
export function rawGet(port, rawPath, headers = {}, ms = 3000) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: 'localhost', port, path: rawPath, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  }), ms, `GET ${rawPath}`);
}

export { waitEvent };
