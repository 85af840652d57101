// Fault tests for sioc-chat (issue 11): what the chat does when clients,
// the machine or the database misbehave. Every case starts its own chat on a
// fresh SQLite file and drives it with the real socket.io-client.
//
//   - slow readers: clients that stop reading while others broadcast are cut
//     off by the output limits (counted), the server's RSS stays bounded and
//     comes back down, and clients that keep up lose nothing;
//   - a database locked by another process: replays go on (a read
//     connection of their own), the insert waiting for the lock lands once;
//   - a socket over --max-message-rate gets error acks, a flood is
//     disconnected, both counted;
//   - a full disk (prlimit --fsize: writes past 512 KiB fail with EFBIG):
//     inserts fail unacked, the server stays up, acked rows are all there;
//   - out of descriptors (EMFILE, prlimit --nofile=64): connections past it
//     are refused, the server survives and serves again;
//   - SIGSTOP/SIGCONT of the server with clients on both transports: they
//     reconnect or carry on, and end with every acked message exactly once.
//   - kill -9 of the server, again and again, while clients on both
//     transports send with retries (both --synchronous modes): every acked
//     message is stored exactly once and every client converges.
//
// The short form runs in `make test` (a few seconds a case). `make soak`
// runs the same cases at full size on a plain build (SIOC_SOAK=1: 1,000 slow
// readers, a pause past the heartbeat, 30 kills) plus the soak proper: SOAK_CONNS
// (10,000) connections with churn and broadcasts for SOAK_SECONDS (3600),
// whose RSS and descriptor count must stay flat.
import { describe, it, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fork } from 'node:child_process';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { sleep, withTimeout } from './lib/util.mjs';
import { IS_REF, IS_WRAPPED } from './lib/server.mjs';
import { Cleanups, tempDb, startChat, dbRows, ChatClient, connectedClient, waitEvent } from './lib/chat.mjs';

const SOAK = process.env.SIOC_SOAK === '1';
// An ASan build keeps freed memory in its own allocator, so RSS coming back
// can only be checked on a plain build (make soak uses one).
const SANITIZED = !IS_REF && fs.readFileSync(`${process.env.SIOC_BUILD_DIR}/sioc-chat`).includes('AddressSanitizer');
const SKIP = IS_REF || IS_WRAPPED; // limits and counters are sioc's; too heavy for valgrind

const T_RATE = { timeout: 20_000 };

let cleanups;
beforeEach(() => { cleanups = new Cleanups(); });
afterEach(async () => { await cleanups.run(); });
// What still holds this process's event loop after the last test keeps it
// (and `make soak`) from exiting: name it, so a leftover child, socket or
// timer is found rather than waited for.
after(async () => {
  // The last cleanup's handles (a child's process handle, its pipes) take a
  // moment to close: name only what is still there 5 s later.
  const active = () => process.getActiveResourcesInfo().filter((r) => !['TTYWrap', 'PipeWrap'].includes(r));
  for (let i = 0; i < 50 && active().length; i++) await sleep(100);
  if (active().length) console.error(`faults.test.mjs: still active 5 s after the last test: ${active().join(', ')}`);
});

/** VmRSS and VmHWM of pid, in KiB. */
function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** CPU time (ms) the process pid has used so far. */
function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in USER_HZ (100)
}

/**
 * Starts measuring who is short of CPU: the server's CPU, this (client)
 * process's CPU and its event-loop delay. The returned function describes
 * them since the start.
 */
function loadMeter(pid) {
  const t0 = Date.now();
  const server0 = cpuMs(pid);
  const self0 = process.cpuUsage();
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  return () => {
    const wall = Date.now() - t0;
    const self = process.cpuUsage(self0);
    const pct = (ms) => Math.round((100 * ms) / wall);
    const text = `over ${wall} ms: server CPU ${pct(cpuMs(pid) - server0)} %, test client CPU `
      + `${pct((self.user + self.system) / 1000)} %, client event-loop delay p99 `
      + `${Math.round(delay.percentile(99) / 1e6)} ms max ${Math.round(delay.max / 1e6)} ms, `
      + `load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`;
    delay.disable();
    return text;
  };
}

/** Sends SIGUSR1 and resolves the counters the chat prints on stderr. */
async function stats(server) {
  const before = server.stderr().length;
  server.proc.kill('SIGUSR1');
  const line = await withTimeout((async () => {
    for (;;) {
      const m = /sioc-chat: stats: (.*)\n/.exec(server.stderr().slice(before));
      if (m) return m[1];
      await sleep(20);
    }
  })(), 10_000, 'the stats line');
  return Object.fromEntries(line.split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
}

/** The chat's gauges from GET /metrics (started with --metrics): sockets, sessions, queued output. */
async function gauges(server) {
  const text = await withTimeout(fetch(`${server.url}/metrics`).then((r) => r.text()), 10_000, 'GET /metrics');
  const value = (re) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    sockets: value(/^sioc_sockets (\d+)$/m),
    sessions: value(/^sioc_sessions\{transport="polling"\} (\d+)$/m) + value(/^sioc_sessions\{transport="websocket"\} (\d+)$/m),
    queued: value(/^sioc_write_queue_bytes (\d+)$/m),
  };
}

/**
 * Stops reading the client's WebSocket at the TCP level (the server's
 * writes pile up). At cleanup its TCP socket is destroyed: a paused socket
 * never reads the server's close, and a graceful close would wait for it
 * (up to ws's 30 s close timeout, keeping this process alive as long).
 */
function stopReading(client) {
  const ws = client.socket.io.engine.transport.ws;
  assert.ok(ws && ws._socket, 'a websocket transport');
  ws._socket.pause();
  cleanups.add(() => ws._socket.destroy());
}

/**
 * Forks a client process (lib/soak-worker.mjs or lib/chat-peer.mjs), which
 * is told to stop at cleanup and killed if it has not exited 5 s later.
 */
function child(script) {
  const w = fork(new URL(script, import.meta.url), [], { stdio: 'inherit' });
  cleanups.add(() => new Promise((resolve) => {
    if (w.exitCode !== null || w.signalCode !== null) { resolve(); return; }
    const timer = setTimeout(() => { w.kill('SIGKILL'); }, 5000);
    w.once('exit', () => { clearTimeout(timer); resolve(); });
    if (w.connected) w.send({ cmd: 'stop' });
    else w.kill('SIGKILL');
  }));
  return w;
}

/** Sends msg to a client process and resolves its answer of kind ev ({ev: 'error'} rejects). */
function ask(w, msg, ev, ms) {
  let on;
  let exit;
  return withTimeout(new Promise((resolve, reject) => {
    on = (m) => {
      if (m.ev === ev) resolve(m);
      else if (m.ev === 'error') reject(new Error(`client process: ${m.message}`));
    };
    exit = (code) => reject(new Error(`a client process exited (${code})`));
    w.on('message', on);
    w.once('exit', exit);
    w.send(msg);
  }), ms, `client process ${ev}`).finally(() => { w.off('message', on); w.off('exit', exit); });
}

describe('slow readers', { skip: SKIP }, () => {
  const SLOW = SOAK ? 1000 : 100;
  const SECONDS = SOAK ? 60 : 5;
  const SENDERS = 5;
  const RATE = SOAK ? 100 : 50;
  // 8 KB (rather than the issue's 1 KB) fills the kernel's socket buffers of
  // a paused client (some MB) in a second, so the short form stays short and
  // light enough for a busy machine; bench/ covers the 1 KB case.
  const MSG = 8192;

  it(`${SLOW} clients stop reading while ${SENDERS} broadcast 8 KB messages: cut off, counted, RSS bounded and returned`, {
    timeout: (SECONDS + 120) * 1000,
  }, async (t) => {
    const db = tempDb(cleanups);
    // A small ASan quarantine and a quick release of freed memory to the
    // system, so the RSS seen is the server's, not the sanitizer's.
    const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=4', 'allocator_release_to_os_interval_ms=200']
      .filter(Boolean).join(':');
    // --send-buffer: the paused clients' kernel send buffers, autotuned up
    // to megabytes each on loopback, took 1.5 GB of the machine's TCP
    // memory, past its pressure mark: the kernel then throttled every
    // connection, and the clients that kept up fell 4 MiB behind and were
    // cut too (docs/guide.md, "Slow readers"). 1,000 x 1 MiB (the kernel
    // doubles 512 KiB) stays under it.
    const server = await startChat(cleanups, db, ['--outbound-soft-limit', String(256 << 10),
      '--outbound-soft-timeout', '1000', '--max-outbound', String(4 << 20), '--max-output-total', String(64 << 20),
      '--send-buffer', String(512 << 10), '--synchronous', 'normal'], { ASAN_OPTIONS: asan });
    const base = memory(server.proc.pid);

    const slow = [];
    for (let i = 0; i < SLOW; i += 50) {
      slow.push(...await Promise.all(Array.from({ length: Math.min(50, SLOW - i) },
        () => connectedClient(cleanups, server.url, { transports: ['websocket'] }))));
    }
    // The clients that must keep up (a reader, and the senders, which get
    // every broadcast too) each run in a process of their own
    // (lib/chat-peer.mjs): in this one, beside 1,000 clients, the event
    // loop lagged (p99 240 ms on a loaded machine), and a client that
    // cannot keep up is rightly cut as a slow reader. Only the paused
    // clients are meant to be slow.
    const keepUp = Array.from({ length: SENDERS + 1 }, () => child('./lib/chat-peer.mjs'));
    const [fast, ...senders] = keepUp;
    await Promise.all(keepUp.map((p, i) => ask(p, {
      cmd: 'connect', url: server.url, opts: i ? { transports: ['websocket'], retries: 0 } : { transports: ['websocket'] },
    }, 'connected', 60_000)));
    for (const c of slow) stopReading(c);
    const load = loadMeter(server.proc.pid);

    // Open loop: RATE messages a second from each sender, each acked.
    const sent = await Promise.all(senders.map((p, si) => ask(p, {
      cmd: 'send', rate: RATE, seconds: SECONDS, size: MSG, prefix: `s${si}`,
    }, 'sent', (SECONDS + 90) * 1000)));
    const acked = sent.reduce((a, r) => a + r.acked, 0);
    const failed = sent.flatMap((r, si) => r.failed.map((f) => `sender ${si}: ${f}`));
    const during = memory(server.proc.pid);
    const mid = await stats(server);
    const cpu = load();
    if (failed.length) {
      const gone = await Promise.all(keepUp.map((p) => ask(p, { cmd: 'wait', count: 0, ms: 0 }, 'received', 10_000)));
      throw new Error(`${failed.slice(0, 5).join('; ')}; disconnected (0: the fast reader, then the senders): ${
        gone.map((g, i) => `${i}: [${g.disconnects.join(', ')}] ${g.load}`).join('; ')}; `
        + `stats ${JSON.stringify(mid)}; ${cpu}`);
    }

    // The soft limit's deadline (1 s) cuts the last ones; then the queues are gone.
    let st = mid;
    for (let i = 0; i < 150 && st.output_cutoffs < SLOW; i++) {
      await sleep(100);
      st = await stats(server);
    }
    await sleep(1000);
    st = await stats(server);
    const after = memory(server.proc.pid);

    // The recovery store keeps the broadcasts (up to 16 MiB) for 120 s by
    // design, as Node's does: that is not output memory coming back late.
    const kept = st.recovery_bytes >> 10;
    t.diagnostic(`acked ${acked}, cut-offs ${st.output_cutoffs} (${mid.output_cutoffs} when sending stopped), `
      + `RSS ${base.rss} KiB -> peak ${during.hwm} -> ${after.rss} after (heap in use ${st.heap_used >> 10} KiB, `
      + `free ${st.heap_free >> 10} KiB, recovery store ${kept} KiB); ${cpu}`);
    assert.ok(acked > SENDERS * RATE * SECONDS / 4, `only ${acked} messages acked`);
    // Exactly the slow readers were cut (the budget and the limits picked no one else).
    assert.equal(st.output_cutoffs, SLOW, `every slow reader was cut off (stats ${JSON.stringify(st)})`);
    assert.ok(st.output_bytes < 1 << 20, `output still queued: ${st.output_bytes}`);
    // 64 MiB budget, plus what ASan adds around it.
    const peak = during.hwm - base.rss;
    assert.ok(peak < 160 << 10, `server peak RSS grew by ${peak} KiB (${base.rss} -> peak ${during.hwm}) after ${acked} messages`);
    assert.ok(after.rss - base.rss - kept < (SANITIZED ? 128 << 10 : 16 << 10),
      `server RSS ${base.rss} -> ${during.rss} during -> ${after.rss} KiB after the slow readers were cut `
      + `(${kept} KiB of it the recovery store)`);

    // The clients that kept reading got every message, once, in order, and stayed.
    const ids = dbRows(db).map((r) => r.id);
    const got = await Promise.all(keepUp.map((p) => ask(p, { cmd: 'wait', count: ids.length, ms: 15_000 }, 'received', 30_000)));
    got.forEach((g, i) => {
      const who = i ? `sender ${i - 1}` : 'the fast reader';
      assert.deepEqual(g.disconnects, [], `${who} stayed connected`);
      assert.ok(g.connected, `${who} is connected`);
      assert.equal(g.ids.length, ids.length, `${who} missed nothing`);
      assert.deepEqual(g.ids, ids, `${who} got every row once, in order`);
    });
  });
});

describe('database locked by another process', { skip: IS_REF }, () => {
  it('replay is not held up by a writer waiting for the lock; the waiting message is stored once the lock goes', {
    timeout: 30_000,
  }, async () => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db);
    const a = await connectedClient(cleanups, server.url, { transports: ['websocket'] });
    for (let i = 0; i < 50; i++) await a.send(`row ${i}`, `a-${i}`);

    // Another process's write transaction (as the sqlite3 shell would hold it).
    const other = new Database(db);
    cleanups.add(() => { if (other.open) other.close(); });
    other.exec('BEGIN IMMEDIATE');
    const start = Date.now();
    const blocked = a.send('while locked', 'a-locked'); // the writer waits (busy_timeout 5 s)
    await sleep(200);
    const b = await connectedClient(cleanups, server.url, { transports: ['websocket'], serverOffset: 0 });
    const replayed = await b.waitCount(50, 2000);
    const took = Date.now() - start;
    assert.deepEqual(replayed.slice(0, 50).map(([m]) => m), Array.from({ length: 50 }, (_, i) => `row ${i}`));
    assert.ok(took < 2500, `replay took ${took} ms behind the held lock`);

    await sleep(1000);
    other.exec('COMMIT');
    other.close();
    assert.equal(await blocked, undefined, 'acked once the lock was released');
    await b.waitFor('while locked');
    assert.equal(dbRows(db).filter((r) => r.content === 'while locked').length, 1);
  });
});

describe('server stopped and continued (SIGSTOP/SIGCONT)', { skip: IS_REF }, () => {
  const PAUSE_MS = SOAK ? 60_000 : 2000; // soak: past the 45 s heartbeat, so clients reconnect

  it(`clients on both transports, ${PAUSE_MS} ms stopped mid-burst: every acked message once, everyone converges`, {
    timeout: PAUSE_MS + 60_000,
  }, async () => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db);
    const opts = { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 500, ackTimeout: 2000, retries: 100 };
    const clients = await Promise.all([['websocket'], ['polling'], undefined].map(
      (transports) => connectedClient(cleanups, server.url, { ...opts, transports })));
    const sends = [];
    for (let i = 0; i < 30; i++) {
      // the client's own retries (ackTimeout, retries) carry a message across the pause
      clients.forEach((c, ci) => sends.push(c.socket.emitWithAck('chat message', `m${ci}-${i}`, `o${ci}-${i}`)));
      if (i === 10) server.proc.kill('SIGSTOP');
      await sleep(20);
    }
    await sleep(PAUSE_MS);
    server.proc.kill('SIGCONT');
    const acks = await Promise.all(sends.map((p) => p.catch((e) => e)));
    assert.deepEqual(acks.filter((x) => x !== undefined), [], 'every message acked');
    const rows = dbRows(db);
    assert.equal(rows.length, 90, 'each message stored exactly once');
    for (const c of clients) {
      const got = await c.waitCount(90, 10_000);
      assert.deepEqual(got.map(([, id]) => id), rows.map((r) => r.id), 'no loss, no duplicate, same order');
    }
  });
});

describe('kill -9 during acked load', { skip: IS_REF }, () => {
  const KILLS = SOAK ? 15 : 2; // per synchronous mode: 30 in all in make soak
  for (const sync of ['full', 'normal']) {
    it(`--synchronous ${sync}: ${KILLS} kill -9 while clients on both transports send with retries: `
      + 'every acked message stored exactly once, every client converges', { timeout: KILLS * 20_000 + 60_000 }, async (t) => {
      const db = tempDb(cleanups);
      let server = await startChat(cleanups, db, ['--synchronous', sync]);
      const port = new URL(server.url).port;
      // The client's own retries carry a message across a restart; its
      // reconnection asks for what it missed from its last id.
      const opts = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500, ackTimeout: 2000, retries: 1000 };
      const clients = await Promise.all([['websocket'], ['polling'], undefined].map(
        (transports) => connectedClient(cleanups, server.url, { ...opts, transports })));
      const sends = [];
      let sending = true;
      const pump = (async () => {
        for (let i = 0; sending; i++) {
          clients.forEach((c, ci) => sends.push(c.socket.emitWithAck('chat message', `m${ci}-${i}`, `o${ci}-${i}`)));
          await sleep(20);
        }
      })();
      for (let k = 0; k < KILLS; k++) {
        await sleep(300 + Math.floor(Math.random() * 500)); // mid-burst, at a different point each time
        await server.kill9();
        server = await startChat(cleanups, db, ['--synchronous', sync, '--port', port]);
      }
      await sleep(300);
      sending = false;
      await pump;
      const acks = await Promise.all(sends.map((p) => p.catch((e) => e)));
      assert.deepEqual(acks.filter((x) => x !== undefined), [], 'every message acked');
      const rows = dbRows(db);
      t.diagnostic(`${sends.length} messages sent and acked across ${KILLS} kills, ${rows.length} rows`);
      assert.equal(rows.length, sends.length, 'each message stored exactly once');
      assert.equal(new Set(rows.map((r) => r.clientOffset)).size, rows.length, 'no client offset twice');
      for (const c of clients) {
        const got = await c.waitCount(rows.length, 20_000);
        assert.deepEqual(got.map(([, id]) => id), rows.map((r) => r.id), 'no loss, no duplicate, same order');
      }
    });
  }
});

describe('soak: connections with churn and broadcasts', { skip: !SOAK || SKIP }, () => {
  const CONNS = Number(process.env.SOAK_CONNS ?? 10_000);
  const SECONDS = Number(process.env.SOAK_SECONDS ?? 3600);
  const CHURN = Math.max(1, Math.round(CONNS / 100)); // replaced every second
  const SAMPLE_MS = Math.min(30_000, (SECONDS * 1000) / 10);
  // One Node process cannot parse 100,000 deliveries a second (10,000
  // clients x 10 broadcasts): the lead's first run timed out on an ack
  // after 27 s with the test process, not the server, short of CPU
  // (socket.io-client costs about ten times the server's CPU per
  // delivery). The clients are spread over worker processes of at most
  // 2,000 each (lib/soak-worker.mjs), which check delivery and report over
  // IPC; one in ten is socket.io-client, the others the same protocol on a
  // bare WebSocket, which is cheaper to parse.
  const PER_WORKER = 2000;
  const WORKERS = Math.ceil(CONNS / PER_WORKER);

  it(`${CONNS} connections (${WORKERS} client processes), ${CHURN}/s replaced, 10 broadcasts/s for ${SECONDS} s: `
    + 'RSS and descriptors stay flat, every client gets every message of its lifetime', {
    timeout: (SECONDS + 600) * 1000,
  }, async (t) => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db, ['--synchronous', 'normal', '--metrics']);
    const fds = () => fs.readdirSync(`/proc/${server.proc.pid}/fd`).length;
    const workers = Array.from({ length: WORKERS }, () => child('./lib/soak-worker.mjs'));
    // One worker at a time: the server accepts them in batches of 200 anyway.
    const ready = [];
    for (const [i, w] of workers.entries()) {
      const count = Math.min(PER_WORKER, CONNS - i * PER_WORKER);
      ready.push(await ask(w, { cmd: 'start', url: server.url, count }, 'ready', 300_000));
    }
    const connected = ready.reduce((a, r) => a + r.connected, 0);
    assert.equal(connected, CONNS, `every client connected: ${JSON.stringify(ready)}`);

    // retries 0: the ten messages of a second go out together (a client
    // with retries sends one at a time, each after the previous ack, which
    // on a loaded machine takes seconds); a lost ack still fails the test.
    const sender = await connectedClient(cleanups, server.url,
      { transports: ['websocket'], retries: 0, ackTimeout: 8000 });
    const load = loadMeter(server.proc.pid);
    const samples = [];
    const end = Date.now() + SECONDS * 1000;
    let n = 0;
    let slowestAcks = 0;
    let nextSample = Date.now() + SAMPLE_MS;
    while (Date.now() < end) {
      const tick = Date.now();
      workers.forEach((w, i) => w.send({ cmd: 'churn', n: Math.round(CHURN / WORKERS) + (i < CHURN % WORKERS ? 1 : 0) }));
      const t1 = Date.now();
      await Promise.all(Array.from({ length: 10 }, () => sender.send(`soak ${n}`, `soak-${n++}`))).catch((e) => {
        throw new Error(`${e.message} after ${Math.round((Date.now() - end) / 1000) + SECONDS} s; ${load()}`);
      });
      slowestAcks = Math.max(slowestAcks, Date.now() - t1);
      if (Date.now() >= nextSample) {
        const st = await stats(server);
        samples.push({
          at: Math.round((Date.now() - end) / 1000) + SECONDS, ...memory(server.proc.pid), fds: fds(),
          heapUsed: st.heap_used >> 10, heapFree: st.heap_free >> 10, ...await gauges(server),
          recoverySessions: st.recovery_sessions, recoveryKiB: st.recovery_bytes >> 10,
        });
        nextSample += SAMPLE_MS;
      }
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
    const cpu = load();
    const rows = dbRows(db);
    const last = rows.at(-1).id;
    const reports = await Promise.all(workers.map((w) => ask(w, { cmd: 'report', last }, 'report', 120_000)));
    const sum = (k) => reports.reduce((a, r) => a + r[k], 0);
    t.diagnostic('samples (s, RSS KiB, heap in use KiB, heap free KiB, fds, sockets, sessions, queued bytes, '
      + `recovery store sessions, KiB): ${samples.map((x) => [x.at, x.rss, x.heapUsed, x.heapFree, x.fds, x.sockets,
        x.sessions, x.queued, x.recoverySessions, x.recoveryKiB].join(':')).join(' ')}`);
    t.diagnostic(`${n} messages sent and acked (10 acks took at most ${slowestAcks} ms), ${sum('connects')} connections in all (slowest ${Math.max(...reports.map((r) => r.slowestConnectMs))} ms), ${sum('received')} deliveries; `
      + `${cpu}; client processes' CPU ${reports.map((r) => r.cpuMs).join(' ')} ms, RSS `
      + `${reports.map((r) => r.rssKiB).join(' ')} KiB`);

    const said = server.stderr().trim().split('\n').slice(-20).join(' | ');
    if (said) t.diagnostic(`the server said: ${said}`);

    // Every acked message stored once, in order.
    assert.equal(rows.length, n, 'one row per acked message');
    assert.deepEqual(rows.map((r) => r.clientOffset), Array.from({ length: n }, (_, i) => `soak-${i}`));
    // Delivery: every client got every message of its lifetime, once and in
    // order, none was dropped by the server, and those connected at the end
    // have everything.
    const problems = reports.flatMap((r) => r.problems);
    assert.equal(sum('violations'), 0, `deliveries out of order, lost or doubled: ${problems.join('; ')}`);
    assert.equal(sum('unexpectedDisconnects'), 0, `clients disconnected by the server: ${problems.join('; ')}`);
    assert.equal(sum('connectErrors'), 0, `clients that could not connect: ${problems.join('; ')}`);
    assert.equal(sum('notConverged'), 0,
      `clients still behind id ${last}: ${reports.flatMap((r) => r.lateExample).join(', ')}`);
    assert.equal(sum('connected'), CONNS, 'every client connected at the end');

    assert.ok(samples.length >= 3, 'enough samples');
    // Flatness. The chat's state grows by design for its first 120 s: the
    // recovery store (connectionStateRecovery's maxDisconnectionDuration,
    // 120 s) keeps every disconnected session (CHURN a second) and every
    // broadcast that long, then drops them as fast as new ones come. The
    // reference is therefore the first sample after 130 s when at least
    // three follow it (the hour: from 150 s on), else the second sample
    // (a short run). Every later sample's RSS and heap in use must stay
    // within 10 % + 4 MiB of the reference, plus what the recovery store
    // grew by since (its packet bytes, and 1 KiB per kept session: twice
    // the ~0.45 KiB measured). Over the hour, ~360,000 connections come
    // and go at 10,000 with 1 % churn: a leak of more than ~20 bytes per
    // connection (~7 MiB) fails it. Descriptors stay within 2 % of the
    // connections plus a few.
    const settled = samples.findIndex((x) => x.at >= 130);
    const ref = settled >= 0 && samples.length - settled > 3 ? settled : 1;
    const first = samples[ref];
    for (const x of samples.slice(ref + 1)) {
      const grown = (x.recoverySessions - first.recoverySessions) + (x.recoveryKiB - first.recoveryKiB);
      assert.ok(x.rss < first.rss * 1.1 + 4096 + Math.max(0, grown),
        `RSS grew (reference: the sample at ${first.at} s): ${JSON.stringify(samples)}`);
      assert.ok(x.heapUsed < first.heapUsed * 1.1 + 4096 + Math.max(0, grown),
        `heap in use grew (reference: the sample at ${first.at} s): ${JSON.stringify(samples)}`);
      assert.ok(Math.abs(x.fds - first.fds) < CONNS * 0.02 + 16, `descriptors drifted: ${JSON.stringify(samples)}`);
    }
  });
});

describe('chat message rate per socket', { skip: IS_REF }, () => {
  it('over --max-message-rate: refused in the ack, counted; a sustained flood is disconnected', T_RATE, async () => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db, ['--max-message-rate', '20']);
    const a = await connectedClient(cleanups, server.url, { transports: ['websocket'], retries: 0 });
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => a.send(`burst ${i}`, `b-${i}`)));
    const ok = acks.filter((x) => x === undefined).length;
    assert.ok(ok >= 20 && ok <= 22, `${ok} of 30 accepted at once (a bucket of 20)`);
    for (const x of acks.filter((y) => y !== undefined)) assert.equal(x.error, 'rate limit exceeded');
    await sleep(1100);
    assert.equal(await a.send('after a second', 'later'), undefined, 'the bucket refills');
    assert.equal(dbRows(db).length, ok + 1, 'refused messages are not stored');

    // A flood: far more than the rate, sent without waiting.
    const gone = waitEvent(a.socket, 'disconnect', 5000);
    for (let i = 0; i < 200; i++) a.socket.emit('chat message', `flood ${i}`, `f-${i}`);
    const [reason] = await gone;
    assert.equal(reason, 'io server disconnect');
    const st = await stats(server);
    assert.ok(st.rate_refused >= 20 + 8, JSON.stringify(st));
    assert.equal(st.flood_disconnects, 1);
    const b = await connectedClient(cleanups, server.url, { transports: ['websocket'] });
    assert.equal(await b.send('others are fine', 'b-ok'), undefined);
  });
});

describe('out of descriptors (EMFILE)', { skip: SKIP }, () => {
  it('connections past the descriptor limit are refused; the server survives and serves again', {
    timeout: 30_000,
  }, async () => {
    const db = tempDb(cleanups);
    const server = await startChat(cleanups, db, [], {}, ['prlimit', '--nofile=64']);
    const clients = Array.from({ length: 100 }, () => new ChatClient(cleanups, server.url, { transports: ['websocket'] }));
    const results = await Promise.all(clients.map((c) => c.connected(5000).then(() => 'up', () => 'refused')));
    const up = results.filter((r) => r === 'up').length;
    assert.ok(up > 10 && up < 64, `${up} of 100 connected under a limit of 64 descriptors`);
    assert.ok(server.alive(), 'the server survived EMFILE');
    for (const c of clients) c.socket.disconnect();
    await sleep(500);
    const again = await connectedClient(cleanups, server.url, { transports: ['websocket'] });
    assert.equal(await again.send('after EMFILE', 'e-1'), undefined);
    assert.deepEqual(dbRows(db).map((r) => r.content), ['after EMFILE']);
  });
});

describe('disk full (file size limit)', { skip: SKIP }, () => {
  it('past the limit inserts fail without an ack, the server stays up, every acked message is stored once', {
    timeout: 30_000,
  }, async () => {
    const db = tempDb(cleanups);
    // RLIMIT_FSIZE: a write past 512 KiB fails with EFBIG, as on a full disk
    // (and would raise SIGXFSZ, whose default action kills the process).
    const server = await startChat(cleanups, db, ['--synchronous', 'normal'], {}, ['prlimit', '--fsize=524288']);
    const a = await connectedClient(cleanups, server.url, { transports: ['websocket'], retries: 0, ackTimeout: 3000 });
    const acked = [];
    let failed = 0;
    for (let i = 0; i < 200 && failed < 3; i++) {
      const msg = `${i} ${'d'.repeat(8000)}`;
      try {
        if (await a.socket.timeout(3000).emitWithAck('chat message', msg, `d-${i}`) === undefined) acked.push(msg);
      } catch {
        failed++; // no ack: not stored, the client would retry
      }
    }
    assert.ok(failed >= 1, `the size limit was reached (${acked.length} acked)`);
    assert.ok(acked.length > 10, `${acked.length} acked before the limit`);
    assert.ok(server.alive(), `the server survived the full disk:\n${server.stderr()}`);
    assert.match(server.stderr(), /message not stored/);
    await server.stop();
    const rows = dbRows(db);
    const stored = new Set(rows.map((r) => r.content));
    assert.equal(stored.size, rows.length, 'no row twice');
    for (const m of acked) assert.ok(stored.has(m), 'every acked message is stored');
  });
});
