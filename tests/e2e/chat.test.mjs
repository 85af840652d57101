// sioc-chat end-to-end tests (issue 4, "Tests"), with the real npm
// socket.io-client against the C program (or, with SIOC_REF=1, against the
// Node reference tests/ref/chat.mjs).
//
// Every case gets its own server on a fresh temp SQLite file, so cases never
// see each other's rows; the socket cases run over websocket, over polling,
// and with the default (polling, then upgrade). What is checked:
//   - delivery: broadcast to every client with the row id, ids increasing,
//     the table holding exactly what was broadcast;
//   - server delivery by offset: a client with auth.serverOffset = N gets
//     exactly the rows > N, in order, before anything live, also after a
//     restart (and a client that stays open across the restart reconnects
//     by itself and gets only what it missed);
//   - client delivery: one clientOffset sent twice is one row, two acks and
//     one broadcast; an acked row survives kill -9 (group commit included);
//   - validation: non-strings and strings over 64 KiB are refused in the ack,
//     nothing is stored or broadcast, the sender stays connected;
//   - connection state recovery: a briefly closed engine comes back with
//     socket.recovered and the messages broadcast while it was away;
//   - HTTP: the page, the client bundle (type, ETag/304, gzip), and path
//     traversal attempts that must never return a file.
// Stopping each server is part of each test: SIGTERM must exit 0 in time
// with no sanitizer report.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { sleep, withTimeout } from './lib/util.mjs';
import { IS_REF, assertNoSanitizerReport } from './lib/server.mjs';
import {
  Cleanups, tempDb, startChat, dbRows, dbInsert, ChatClient, connectedClient, rawGet, waitEvent,
} from './lib/chat.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const T = { timeout: 20_000 };
// undefined: the default, polling then upgrade to websocket (what the page does)
const TRANSPORTS = [['websocket'], ['polling'], undefined];
const MAX_MESSAGE = 64 * 1024;

let cleanups;
beforeEach(() => { cleanups = new Cleanups(); });
afterEach(async () => { await cleanups.run(); });

/** The [content, id] pairs of the table, as clients receive them. */
const pairs = (rows) => rows.map((r) => [r.content, r.id]);

/** Asserts the ids of [msg, id] pairs are positive integers, strictly increasing. */
function assertIncreasingIds(received) {
  received.forEach(([, id], i) => {
    assert.ok(Number.isInteger(id) && id > 0, `id ${JSON.stringify(id)} is not a positive integer`);
    if (i > 0) assert.ok(id > received[i - 1][1], `ids not increasing: ${JSON.stringify(received)}`);
  });
}

/** Sends msg from client and asserts the plain success ack (no {error}). */
async function sendOk(client, msg, clientOffset) {
  const ack = await client.send(msg, clientOffset);
  assert.equal(ack, undefined, `ack of ${JSON.stringify(msg)} was ${JSON.stringify(ack)}`);
}

for (const transports of TRANSPORTS) {
  const name = transports ? transports.join('+') : 'polling+upgrade';

  describe(`chat over ${name}`, () => {
    it('two clients exchange messages and both receive them with increasing ids', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports });
      const b = await connectedClient(cleanups, server.url, { transports });

      await sendOk(a, 'hello from a', 'a-1');
      await b.waitFor('hello from a');
      await sendOk(b, 'héllo from b 🌍 "quotes" \\ \n', 'b-1');
      await sendOk(a, 'third', 'a-2');
      const ra = await a.waitCount(3);
      const rb = await b.waitCount(3);

      assert.deepEqual(ra.map(([m]) => m), ['hello from a', 'héllo from b 🌍 "quotes" \\ \n', 'third']);
      assert.deepEqual(rb, ra, 'both clients got the same messages with the same ids');
      assertIncreasingIds(ra);
      const rows = dbRows(db);
      assert.deepEqual(pairs(rows), ra, 'the table holds exactly what was broadcast');
      assert.deepEqual(rows.map((r) => r.clientOffset), ['a-1', 'b-1', 'a-2']);
    });

    it('a fresh client with serverOffset = N receives exactly the rows > N, in order', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports });
      for (let i = 0; i < 6; i++) await sendOk(a, `m${i}`, `a-${i}`);
      const ids = dbRows(db).map((r) => r.id);

      for (const offset of [0, ids[1], ids[4], ids[5]]) {
        const expected = pairs(dbRows(db).filter((r) => r.id > offset));
        const c = await connectedClient(cleanups, server.url, { transports, serverOffset: offset });
        // A live message after connecting marks the end of the replay: the
        // missed rows must all come before it, each once.
        const marker = `marker after ${offset}`;
        await sendOk(a, marker, `marker-${offset}`);
        const got = await c.waitFor(marker);
        const markerId = dbRows(db).at(-1).id;
        assert.deepEqual(got, [...expected, [marker, markerId]], `client with serverOffset ${offset}`);
        c.socket.disconnect();
      }
    });

    it('a long replay (5000 rows) with live messages meanwhile: all rows once each, in id order', T, async () => {
      const db = tempDb(cleanups);
      const first = await startChat(cleanups, db); // creates the table
      await first.stop();
      dbInsert(db, Array.from({ length: 5000 }, (_, i) => `old ${i} ${'.'.repeat(i % 50)}`));
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports, serverOffset: 4999, retries: 0 });
      await a.waitCount(1);
      // c's replay is under way while a talks
      const c = new ChatClient(cleanups, server.url, { transports, serverOffset: 0 });
      const live = Array.from({ length: 20 }, (_, i) => a.send(`live ${i}`, `live-${i}`));
      assert.deepEqual(await Promise.all(live), live.map(() => undefined));
      const got = await c.until((r) => r.length >= 5020, 10_000, '5020 messages');
      const rows = pairs(dbRows(db));
      assert.equal(rows.length, 5020);
      assert.equal(got.length, 5020, 'nothing doubled');
      assert.deepEqual(got, rows, 'every row once, in id order');
    });

    it('content round-trips exactly, live and replayed (NUL, surrogate pairs, JSON specials)', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports });
      const texts = ['a\u0000b', '', ' ', '😀 𝄞 中文 é', '"\\/\b\f\n\r\t', '\u2028\u2029', '{"x":1}', '</script>',
        '\u001e\u001f record separators', '42', 'null', `${'z'.repeat(1000)}\u0000end`];
      for (const [i, t] of texts.entries()) await sendOk(a, t, `t-${i}`);
      const live = await a.waitCount(texts.length);
      assert.deepEqual(live.map(([m]) => m), texts, 'live broadcast');
      assert.deepEqual(dbRows(db).map((r) => r.content), texts, 'stored');
      const c = await connectedClient(cleanups, server.url, { transports, serverOffset: 0 });
      const replayed = await c.waitCount(texts.length);
      assert.deepEqual(replayed, live, 'replayed from the database');
    });

    it('odd auth.serverOffset values neither crash the server nor break ordering', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports });
      for (let i = 0; i < 4; i++) await sendOk(a, `m${i}`, `a-${i}`);
      for (const [i, offset] of ['abc', -5, 2.5, { n: 1 }, [3], null, '', 1e300, '2'].entries()) {
        const rows = pairs(dbRows(db));
        const c = await connectedClient(cleanups, server.url, { transports, serverOffset: offset });
        const marker = `marker ${i}`;
        await sendOk(a, marker, `marker-${i}`);
        const got = await c.waitFor(marker);
        const replayed = got.slice(0, -1);
        // whatever the server makes of it, it replays the newest rows, in order
        assert.deepEqual(replayed, rows.slice(rows.length - replayed.length),
          `serverOffset ${JSON.stringify(offset)}: replay is not a suffix of the table`);
        if (offset === '2') assert.deepEqual(replayed, rows.filter(([, id]) => id > 2), 'a numeric string');
        c.socket.disconnect();
      }
      assert.ok(server.alive());
    });

    // A serverOffset beyond every row (a client of an older database, or
    // sioc-bench's "no replay" offset) asks for no rows, but the client
    // must still get every message broadcast once it is connected, as with
    // Node, also while its (empty) replay is still being read. One pool
    // thread and a write lock held here make that window last: the sender's
    // insert waits for the lock on the only thread, so c's replay job
    // queues behind it, and c is connected when the row is broadcast.
    it('a client whose serverOffset is beyond every row gets the messages broadcast during its replay', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db, [], { UV_THREADPOOL_SIZE: '1' });
      const a = await connectedClient(cleanups, server.url, { transports });
      await sendOk(a, 'first', 'a-0');
      const lock = new Database(db);
      cleanups.add(() => { if (lock.open) lock.close(); });
      lock.exec('BEGIN IMMEDIATE');
      const acked = a.send('while c replays', 'a-1');
      await sleep(300); // the insert reaches the server (Node's waits on the lock, its loop too)
      const c = new ChatClient(cleanups, server.url, { transports, serverOffset: 1e9 });
      // Node's loop is blocked in its insert: c connects once the lock is gone.
      const connectedFirst = await c.connected(1500).then(() => true, () => false);
      lock.exec('COMMIT');
      lock.close();
      assert.equal(await acked, undefined);
      await c.connected();
      await sendOk(a, 'after', 'a-2');
      const got = await c.waitFor('after');
      const expected = (connectedFirst ? ['while c replays', 'after'] : ['after']);
      assert.deepEqual(got.map(([m]) => m), expected,
        `c ${connectedFirst ? 'was' : 'was not'} connected before the broadcast`);
      if (!IS_REF) assert.ok(connectedFirst, 'sioc-chat answers the CONNECT while the insert waits');
    });

    it('twenty clients talking at once all see the same messages in the same order', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const clients = await Promise.all(Array.from({ length: 20 },
        () => connectedClient(cleanups, server.url, { transports, retries: 0 })));
      const acks = await Promise.all(clients.flatMap((c, i) => Array.from({ length: 5 },
        (_, j) => c.send(`c${i} m${j}`, `c${i}-${j}`))));
      assert.deepEqual(acks, acks.map(() => undefined));
      const rows = pairs(dbRows(db));
      assert.equal(rows.length, 100);
      assertIncreasingIds(rows);
      for (const [i, c] of clients.entries()) {
        assert.deepEqual(await c.waitCount(100), rows, `client ${i}`);
      }
    });

    it('after a restart, missed rows reach both a fresh client and one that stayed open', T, async () => {
      const db = tempDb(cleanups);
      const first = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, first.url, { transports });
      // b behaves like the page: it reconnects by itself, with its latest offset.
      const b = await connectedClient(cleanups, first.url, {
        transports, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300,
      });
      for (let i = 0; i < 3; i++) await sendOk(a, `before ${i}`, `a-${i}`);
      await b.waitCount(3);

      const disconnected = waitEvent(b.socket, 'disconnect', 5000);
      await first.stop();
      const [reason] = await disconnected;
      const missedIds = dbInsert(db, ['missed 1', 'missed 2']);
      const reconnected = waitEvent(b.socket, 'connect', 8000).catch((e) => {
        throw new Error(`${e.message}: a client disconnected by the shutdown (reason "${reason}") `
          + 'did not reconnect by itself to the restarted server');
      });
      const second = await startChat(cleanups, db, ['--port', String(first.port)]);
      await reconnected;
      assert.equal(b.socket.recovered, false, 'a restarted server cannot recover the session');
      const got = await b.waitFor('missed 2');
      assert.deepEqual(got.slice(3), [['missed 1', missedIds[0]], ['missed 2', missedIds[1]]],
        'the reconnected client gets exactly the rows it missed');

      const c = await connectedClient(cleanups, second.url, { transports, serverOffset: 0 });
      await sendOk(c, 'after restart', 'c-1');
      const all = await c.waitFor('after restart');
      assert.deepEqual(all, pairs(dbRows(db)), 'a fresh client gets every row, then live ones');
      assertIncreasingIds(all);
      const bAll = await b.waitFor('after restart');
      assert.deepEqual(bAll, all, 'nothing lost or doubled for the client that stayed open');
    });

    it('one clientOffset sent twice gives one row, two acks and one broadcast', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports });
      const b = await connectedClient(cleanups, server.url, { transports });

      await sendOk(a, 'only once', 'same-offset');
      await sendOk(a, 'only once', 'same-offset');
      // a retry may also come over another connection (a reconnect)
      await sendOk(b, 'only once', 'same-offset');
      await sendOk(a, 'next', 'other-offset');
      const rb = await b.waitFor('next');
      const ra = await a.waitFor('next');

      const rows = dbRows(db);
      assert.deepEqual(rows.map((r) => [r.content, r.clientOffset]),
        [['only once', 'same-offset'], ['next', 'other-offset']]);
      assert.deepEqual(ra, pairs(rows), 'the sender saw one broadcast per row');
      assert.deepEqual(rb, pairs(rows), 'the other client saw one broadcast per row');
    });

    it('messages acked just before kill -9 are in the database after the restart', T, async () => {
      const db = tempDb(cleanups);
      const first = await startChat(cleanups, db);
      // retries: 0 lets the emits go out together (group commit) instead of one at a time
      const a = await connectedClient(cleanups, first.url, { transports, retries: 0 });
      const sent = Array.from({ length: 20 }, (_, i) => `burst ${i}`);
      const acks = await Promise.all(sent.map((m, i) => a.send(m, `burst-${i}`)));
      assert.deepEqual(acks, sent.map(() => undefined), 'every burst message acked');
      await sendOk(a, 'the last one', 'last');
      await first.kill9();

      const second = await startChat(cleanups, db);
      const c = await connectedClient(cleanups, second.url, { transports, serverOffset: 0 });
      const got = await c.waitFor('the last one');
      assert.deepEqual(got.map(([m]) => m).sort(), [...sent, 'the last one'].sort(),
        'every acked message was replayed after kill -9');
      assertIncreasingIds(got);
      assert.deepEqual(pairs(dbRows(db)), got);
    });

    it('invalid messages are refused in the ack, not stored, and the sender stays connected', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports });
      const b = await connectedClient(cleanups, server.url, { transports });

      const invalid = [42, { text: 'hi' }, ['hi'], null, true, Buffer.from('binary'), 'x'.repeat(MAX_MESSAGE + 1),
        'é'.repeat(MAX_MESSAGE / 2 + 1) /* 64 KiB + 2 bytes in UTF-8, 32 Ki + 1 characters */];
      for (const [i, msg] of invalid.entries()) {
        const ack = await a.send(msg, `bad-${i}`);
        assert.ok(ack && typeof ack === 'object' && typeof ack.error === 'string' && ack.error.length > 0,
          `invalid message #${i} (${typeof msg}, ${JSON.stringify(msg)?.length} chars) got ack ${JSON.stringify(ack)?.slice(0, 100)}`);
        assert.ok(a.socket.connected, `sender disconnected after invalid message #${i}`);
      }
      // without an ack callback (and without the retry queue, which would add
      // one) the server must not fall over either
      const c = await connectedClient(cleanups, server.url, { transports, retries: 0 });
      c.socket.emit('chat message', 7);
      c.socket.emit('chat message');
      c.socket.emit('chat message', 'x'.repeat(MAX_MESSAGE + 1), 'no-ack');
      assert.deepEqual(dbRows(db), [], 'nothing stored');

      const longest = 'y'.repeat(MAX_MESSAGE);
      await sendOk(a, longest, 'longest');
      await sendOk(a, 'still here', 'still-here');
      const rb = await b.waitFor('still here');
      assert.deepEqual(rb.map(([m]) => m), [longest, 'still here'], 'only the valid messages were broadcast');
      assert.deepEqual(pairs(dbRows(db)), rb);
      assert.ok(a.socket.connected && c.socket.connected && server.alive());
    });

    it('SIGTERM with clients mid-burst: they are disconnected, exit 0, every acked row kept', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      const a = await connectedClient(cleanups, server.url, { transports, retries: 0 });
      const b = await connectedClient(cleanups, server.url, { transports });
      const acked = [];
      let firstAck;
      const oneAcked = new Promise((resolve) => { firstAck = resolve; });
      const sends = Array.from({ length: 40 }, (_, i) => a.send(`burst ${i}`, `burst-${i}`)
        .then((ack) => { if (ack === undefined) acked.push(`burst ${i}`); firstAck(); }, () => {}));
      await withTimeout(oneAcked, 5000, 'the first ack of the burst'); // the burst is under way
      // 10 s: the stop itself may take up to 5 s on a loaded machine, and these
      // waits start before it.
      const gone = [waitEvent(a.socket, 'disconnect', 10_000), waitEvent(b.socket, 'disconnect', 10_000)];
      await server.stop(); // exit 0 in time, no sanitizer report
      const reasons = (await Promise.all(gone)).map(([r]) => r);
      for (const r of reasons) {
        assert.ok(['transport close', 'io server disconnect', 'transport error'].includes(r), `reason ${r}`);
      }
      await Promise.all(sends);
      const stored = new Set(dbRows(db).map((r) => r.content));
      for (const m of acked) assert.ok(stored.has(m), `acked "${m}" is not in the database`);
    });

    it('a briefly closed engine is recovered and gets the messages sent meanwhile', T, async () => {
      const db = tempDb(cleanups);
      const server = await startChat(cleanups, db);
      // a fixed 1 s reconnection delay leaves time to send while a is away
      const a = await connectedClient(cleanups, server.url, {
        transports, reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 1000,
        randomizationFactor: 0,
      });
      const b = await connectedClient(cleanups, server.url, { transports });
      await sendOk(b, 'before', 'b-0');
      await a.waitFor('before');

      const disconnected = waitEvent(a.socket, 'disconnect', 3000);
      a.socket.io.engine.close();
      await disconnected;
      const reconnected = waitEvent(a.socket, 'connect', 5000);
      await sendOk(b, 'while away 1', 'b-1');
      await sendOk(b, 'while away 2', 'b-2');
      assert.equal(a.socket.connected, false, 'sent while a was away');
      await reconnected;
      assert.equal(a.socket.recovered, true, 'the session was recovered');
      await sendOk(b, 'after', 'b-3');
      const ra = await a.waitFor('after');
      const rb = await b.waitFor('after');
      assert.deepEqual(ra, rb, 'the recovered client missed nothing and got nothing twice');
      assert.deepEqual(ra.map(([m]) => m), ['before', 'while away 1', 'while away 2', 'after']);
    });
  });
}

describe('chat input', () => {
  const MAX_OFFSET = 1024;

  it('a clientOffset over 1 KiB is refused in the ack and not stored; 1 KiB is accepted', T, async () => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db);
    const a = await connectedClient(cleanups, server.url, { transports: ['websocket'] });
    for (const off of ['o'.repeat(MAX_OFFSET + 1), 'é'.repeat(MAX_OFFSET / 2 + 1), 'x'.repeat(512 * 1024)]) {
      const ack = await a.send('too long an offset', off);
      assert.ok(ack && typeof ack.error === 'string', `offset of ${off.length} chars got ack ${JSON.stringify(ack)}`);
    }
    const longest = 'k'.repeat(MAX_OFFSET);
    await sendOk(a, 'longest offset', longest);
    await sendOk(a, 'longest offset', longest); // a retry: still one row
    assert.deepEqual(dbRows(db).map((r) => [r.content, r.clientOffset]), [['longest offset', longest]]);
    assert.ok(a.socket.connected && server.alive());
  });

  it('two clientOffsets that differ only after a NUL are two messages; each retried is one row', T, async () => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db);
    const a = await connectedClient(cleanups, server.url, { transports: ['websocket'] });
    await sendOk(a, 'first', 'off\u0000one');
    await sendOk(a, 'second', 'off\u0000two');
    await sendOk(a, 'third', 'off');
    await sendOk(a, 'first', 'off\u0000one'); // a retry of the first
    const got = await a.waitFor('third');
    assert.deepEqual(got.map(([m]) => m), ['first', 'second', 'third'], 'every distinct offset was broadcast once');
    assert.deepEqual(dbRows(db).map((r) => [r.content, r.clientOffset]),
      [['first', 'off\u0000one'], ['second', 'off\u0000two'], ['third', 'off']], 'offsets stored byte for byte');
  });
});

describe('chat replay racing its own write', { skip: IS_REF }, () => {
  // The store's reader runs on another thread than the loop, so it can see
  // a row as soon as it is committed, before the write job's completion
  // (which broadcasts it) has run. The chat's test hook holds that
  // completion back for a second after each COMMIT, so a client that
  // connects meanwhile is replayed the row first, and then the broadcast
  // comes. (The soak saw this race on its own: clients got a row twice.)
  it('a client replayed a row that is not broadcast yet gets it once', T, async () => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db, [], { SIOC_CHAT_TEST_COMMIT_DELAY_MS: '1000' });
    const a = await connectedClient(cleanups, server.url, { transports: ['websocket'] });
    await sendOk(a, 'first', 'o-1');
    const [first] = dbRows(db);
    const acked = a.send('second', 'o-2'); // committed at once, broadcast a second later
    await sleep(200);
    const b = await connectedClient(cleanups, server.url, { transports: ['websocket'], serverOffset: first.id });
    await b.waitFor('second', 3000); // from the replay, before the broadcast
    assert.equal(await acked, undefined);
    await sendOk(a, 'third', 'o-3');
    await b.waitFor('third', 3000);
    await sleep(200);
    assert.deepEqual(b.received, pairs(dbRows(db).slice(1)), 'the replayed row once, then the live one');
  });
});

describe('chat command line', { skip: IS_REF }, () => {
  const BIN = path.join(process.env.SIOC_BUILD_DIR ?? '', 'sioc-chat');

  /** Runs sioc-chat to completion; resolves {code, stderr}. */
  function run(args, env = {}) {
    return withTimeout(new Promise((resolve, reject) => {
      const p = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
      p.on('error', reject);
      p.on('exit', (code) => resolve({ code, stderr }));
    }), 10_000, `sioc-chat ${args.join(' ')}`);
  }

  const BAD = [
    [['--port', 'abc'], /--port: 'abc' is not a whole decimal number/],
    [['--port', '70000'], /--port: '70000' is out of range/],
    [['--port', '-1'], /--port: '-1'/],
    [['--max-message', '10abc'], /--max-message: '10abc' is not a whole decimal number/],
    [['--max-message', '0'], /--max-message: '0' is out of range/],
    [['--max-offset', ''], /--max-offset: ''/],
    [['--db', ''], /--db: '' is empty/],
    [['--synchronous', 'sometimes'], /--synchronous: 'sometimes' is neither full nor normal/],
    [['--bogus'], /unrecognized option '--bogus'/],
    [['stray'], /unexpected argument 'stray'/],
  ];
  for (const [args, why] of BAD) {
    it(`${JSON.stringify(args)} is refused, naming the option and what is wrong, usage once`, T, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-chat-cli-'));
      cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
      const { code, stderr } = await run([...args, ...(args[0] === '--db' ? [] : ['--db', path.join(dir, 'x.db')])]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, why);
      assert.equal(stderr.split('usage:').length - 1, 1, `usage printed once:\n${stderr}`);
      assert.deepEqual(fs.readdirSync(dir), [], 'no database file created');
      assertNoSanitizerReport(stderr);
    });
  }

  for (const [name, file] of [['SIOC_CLIENT_DIST_DIR', 'socket.io.js'], ['SIOC_CHAT_PUBLIC_DIR', 'index.html']]) {
    it(`a missing ${file} (${name}) is named, and no database file is created`, T, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-chat-cli-'));
      cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
      const { code, stderr } = await run(['--port', '0', '--db', path.join(dir, 'x.db')], { [name]: path.join(dir, 'none') });
      assert.equal(code, 1, stderr);
      assert.ok(stderr.includes(`${path.join(dir, 'none')}/${file}`), stderr);
      assert.deepEqual(fs.readdirSync(dir), [], 'no database file created');
      assertNoSanitizerReport(stderr);
    });
  }

  it('a bad PORT in the environment is named', T, async () => {
    const { code, stderr } = await run(['--db', '/nonexistent/x.db'], { PORT: '3x' });
    assert.equal(code, 2);
    assert.match(stderr, /PORT .*'3x' is not a whole decimal number/);
  });

  it('address already in use names the address and leaves no database files behind', T, async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.add(() => new Promise((resolve) => blocker.close(resolve)));
    const { port } = blocker.address();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-chat-cli-'));
    cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { code, stderr } = await run(['--host', '127.0.0.1', '--port', String(port), '--db', path.join(dir, 'chat.db')]);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${port}: address already in use`));
    assert.doesNotMatch(stderr, /usage:/);
    assert.deepEqual(fs.readdirSync(dir), [], 'no database file created');
    assertNoSanitizerReport(stderr);
  });
});

describe('chat over HTTP', () => {
  it('serves the page at / as text/html', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups));
    const res = await rawGet(server.port, '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/html/);
    assert.equal(res.body.toString(), fs.readFileSync(path.join(REPO, 'apps/chat/public/index.html'), 'utf8'));
  });

  it('serves the client bundle with a JS type, ETag, 304 and gzip', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups));
    const dist = path.join(REPO, 'node_modules/socket.io-client/dist');
    const js = fs.readFileSync(path.join(dist, 'socket.io.js'));

    const plain = await rawGet(server.port, '/socket.io/socket.io.js');
    assert.equal(plain.status, 200);
    assert.match(plain.headers['content-type'] ?? '', /^(application|text)\/javascript/);
    assert.equal(plain.headers['content-encoding'], undefined, 'not compressed unless asked');
    assert.ok(plain.body.equals(js), 'the body is socket.io-client/dist/socket.io.js');
    const etag = plain.headers.etag;
    assert.ok(etag && /^(W\/)?".+"$/.test(etag), `quoted ETag, got ${etag}`);

    const cached = await rawGet(server.port, '/socket.io/socket.io.js', { 'If-None-Match': etag });
    assert.equal(cached.status, 304);
    assert.equal(cached.body.length, 0);

    const gz = await rawGet(server.port, '/socket.io/socket.io.js', { 'Accept-Encoding': 'gzip' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(gz.body.length < js.length, 'the gzip body is smaller');
    assert.ok(zlib.gunzipSync(gz.body).equals(js), 'the gzip body inflates to the bundle');

    const min = await rawGet(server.port, '/socket.io/socket.io.min.js');
    assert.equal(min.status, 200);
    assert.match(min.headers['content-type'] ?? '', /javascript/);
    assert.ok(min.body.equals(fs.readFileSync(path.join(dist, 'socket.io.min.js'))));
    const map = await rawGet(server.port, '/socket.io/socket.io.js.map');
    assert.equal(map.status, 200);
    assert.match(map.headers['content-type'] ?? '', /json/);
    assert.equal(JSON.parse(map.body.toString()).version, 3, 'a source map');
  });

  it('never serves a file outside the public folder', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups));
    const page = fs.readFileSync(path.join(REPO, 'apps/chat/public/index.html'));
    const attempts = [
      '/../', '/..', '/../../../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/socket.io/../../etc/passwd', '/socket.io/../../../../../../etc/passwd',
      '/socket.io/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/socket.io/socket.io.js/../../../../etc/passwd',
      '/socket.io/..%5c..%5c..%5cetc%5cpasswd', '//etc/passwd', '/etc/passwd', '/index.html/../../main.c',
      '/../apps/chat/main.c', '/%2e%2e/main.c', '/public/index.html', '/%00', '/index.html%00.js',
      '/socket.io/../../../../proc/self/environ',
    ];
    for (const p of attempts) {
      const res = await rawGet(server.port, p);
      assert.ok(res.status === 404 || res.status === 400, `${p}: status ${res.status}, expected 404 or 400`);
      const body = res.body.toString('latin1');
      assert.ok(!body.includes('root:') && !body.includes('PATH=') && !body.includes('#include'),
        `${p}: the body holds file contents: ${body.slice(0, 200)}`);
      assert.ok(!res.body.equals(page), `${p}: served the page`);
    }
    assert.ok(server.alive(), 'the server survived the attempts');
    assert.equal((await rawGet(server.port, '/')).status, 200, 'and still serves the page');
  });
});

describe('chat client', () => {
  it('a ChatClient that fails to connect reports it', T, async () => {
    // guards the helper: a refused connection must reject, not hang
    const c = new ChatClient(cleanups, 'http://localhost:1', { transports: ['websocket'] });
    await assert.rejects(c.connected(3000), /connect_error|timed out/);
  });
});
