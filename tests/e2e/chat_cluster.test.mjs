// sioc-chat across processes: two sioc-chat processes on one SQLite file
// and one real redis-server (--redis), a socket.io-client on each (WebSocket
// on one, polling on the other). A message sent on one process is stored
// once and reaches the clients of both; replay (auth.serverOffset) works
// from either process, also while the other one is inserting. Not run with
// SIOC_REF=1: the Node reference chat is a single process.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { IS_REF } from './lib/server.mjs';
import { startRedis } from './lib/redis.mjs';
import { Cleanups, tempDb, startChat, dbRows, connectedClient } from './lib/chat.mjs';

const T = { timeout: 30_000 };
let cleanups;
beforeEach(() => { cleanups = new Cleanups(); });
afterEach(async () => { await cleanups.run(); });

const pairs = (rows) => rows.map((r) => [r.content, r.id]);

async function cluster() {
  const redis = await startRedis();
  cleanups.add(() => redis.stop());
  const db = tempDb(cleanups);
  const A = await startChat(cleanups, db, ['--redis', redis.url]);
  const B = await startChat(cleanups, db, ['--redis', redis.url]);
  return { redis, db, A, B };
}

async function sendOk(client, msg, clientOffset) {
  const ack = await client.send(msg, clientOffset);
  assert.equal(ack, undefined, `ack of ${JSON.stringify(msg)} was ${JSON.stringify(ack)}`);
}

describe('chat on two processes sharing one database and one Redis', { skip: IS_REF }, () => {
  it('a message sent on either process is stored once and reaches every client', T, async () => {
    const { db, A, B } = await cluster();
    const a = await connectedClient(cleanups, A.url, { transports: ['websocket'] });
    const b = await connectedClient(cleanups, B.url, { transports: ['polling'] });
    await sendOk(a, 'from A', 'a-1');
    await b.waitFor('from A');
    await sendOk(b, 'from B', 'b-1');
    await a.waitFor('from B');
    const sends = [];
    for (let i = 0; i < 20; i++) {
      sends.push(sendOk(a, `a${i}`, `a-x${i}`));
      sends.push(sendOk(b, `b${i}`, `b-x${i}`));
    }
    await Promise.all(sends);
    const rows = dbRows(db);
    assert.equal(rows.length, 42, 'each message stored once');
    const ra = await a.waitCount(42);
    const rb = await b.waitCount(42);
    const sorted = (r) => [...r].sort((x, y) => x[1] - y[1]);
    assert.deepEqual(sorted(ra), pairs(rows), 'A\'s client got every row once');
    assert.deepEqual(sorted(rb), pairs(rows), 'B\'s client got every row once');
    await sendOk(b, 'from B', 'b-1'); // a retried clientOffset: no second row
    assert.equal(dbRows(db).length, 42);
  });

  // A client's serverOffset is the last id it got, so it must get ids in
  // order: one that got 11 before 10 and reconnected in between would
  // never get 10. With Redis stalled, A's row (N) cannot reach B before
  // B's own next row (N+1): B reads N from the database and delivers it
  // first; A's message about N, once Redis goes on, is not delivered again.
  it('each process delivers rows in id order, also when another process\'s message is late', T, async () => {
    const { db, redis, A, B } = await cluster();
    const a = await connectedClient(cleanups, A.url, { transports: ['websocket'] });
    const b = await connectedClient(cleanups, B.url, { transports: ['websocket'] });
    // Both processes on Redis (a loaded machine may take a while to
    // subscribe): a row from each reaches the other's client. Rows sent
    // before a process subscribed reach its client with the next one it
    // hears of (filled from the database).
    for (const [from, to, tag] of [[a, b, 'a'], [b, a, 'b']]) {
      for (let i = 0; ; i++) {
        await sendOk(from, `warm ${tag}${i}`, `w-${tag}${i}`);
        try {
          await to.waitFor(`warm ${tag}${i}`, 500);
          break;
        } catch (e) {
          if (i === 20) throw e;
        }
      }
    }
    redis.pause();
    try {
      await sendOk(a, 'first', 'f-1');
      await sendOk(b, 'second', 's-1');
      const got = await b.waitFor('second');
      assert.deepEqual(got.slice(-2).map(([m]) => m), ['first', 'second'], 'B\'s client got the rows in id order');
    } finally {
      redis.resume();
    }
    await a.waitFor('second');
    await sendOk(a, 'third', 't-1');
    await b.waitFor('third');
    await new Promise((r) => setTimeout(r, 200));
    const rows = pairs(dbRows(db));
    assert.deepEqual(b.received, rows, 'B\'s client: every row once, in order');
    assert.deepEqual(a.received, rows, 'A\'s client: every row once, in order');
  });

  it('replay from either process, also while the other inserts', T, async () => {
    const { db, A, B } = await cluster();
    const a = await connectedClient(cleanups, A.url, { transports: ['websocket'] });
    for (let i = 0; i < 10; i++) await sendOk(a, `m${i}`, `m-${i}`);
    const ids = dbRows(db).map((r) => r.id);
    for (const [server, offset] of [[B, ids[3]], [A, ids[7]], [B, 0]]) {
      const c = await connectedClient(cleanups, server.url, { serverOffset: offset });
      const got = await c.waitCount(dbRows(db).filter((r) => r.id > offset).length);
      assert.deepEqual(got, pairs(dbRows(db).filter((r) => r.id > offset)));
    }
    // A fresh client on B replays while A keeps inserting: every row once, in order.
    const sending = (async () => {
      for (let i = 0; i < 60; i++) await sendOk(a, `live${i}`, `live-${i}`);
    })();
    const c = await connectedClient(cleanups, B.url, { serverOffset: 0 });
    await sending;
    const all = pairs(dbRows(db));
    const got = await c.waitCount(all.length, 10_000);
    assert.deepEqual(got, all);
  });
});
