// One load-generating process of the soak (tests/e2e/faults.test.mjs),
// started with child_process.fork and driven over IPC. 10,000
// socket.io-client connections receiving 10 broadcasts a second are more
// than one Node process can parse, so the soak spreads them over several of
// these; each holds its share of the chat clients and checks delivery for
// every one of them.
//
// Every tenth client (SOAK_SAMPLE) is the real socket.io-client; the others
// speak the same protocol on a bare WebSocket (the ws package), which costs
// a fraction of the CPU per delivery. Every client acts like the tutorial
// page: it connects with
// auth.serverOffset and must then receive every row after it, once and in
// order (the replay, then the live broadcasts), for as long as it is
// connected: ids are consecutive (one sender, no other writer). A client
// that is replaced by churn connects with the newest id this process has
// seen, as a returning page would, so replays stay short.
//
// Messages from the parent:
//   {cmd: 'start', url, count}   connect count clients (in batches), then {ev: 'ready'}
//   {cmd: 'churn', n}            replace n random clients by new ones
//   {cmd: 'report', last}        wait (up to 60 s) until every connected client
//                                has received id last, then {ev: 'report', ...}
//   {cmd: 'stop'}                disconnect everything and exit
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const BATCH = 200;
const CONNECT_MS = 30_000;

let url;
let wsUrl;
// One client in SAMPLE is a real socket.io-client (SOAK_SAMPLE, default 10).
const SAMPLE = Math.max(1, Number(process.env.SOAK_SAMPLE ?? 10));
let newest = 0; // newest id any client here received
const clients = [];
const stats = {
  connects: 0, connectErrors: 0, slowestConnectMs: 0, unexpectedDisconnects: 0, received: 0, violations: 0,
};
const problems = []; // the first few, as text

function problem(text) {
  stats.violations++;
  if (problems.length < 10) problems.push(text);
}

/** The state every client kind shares; its events are counted and checked here. */
function client(serverOffset) {
  const t0 = Date.now();
  const c = { from: serverOffset, last: serverOffset, leaving: false, up: false, settled: false };
  c.ready = new Promise((resolve) => {
    const timer = setTimeout(() => { c.failed(`no connection in ${CONNECT_MS} ms`); }, CONNECT_MS);
    c.connected = () => {
      if (c.settled) return;
      c.settled = true;
      clearTimeout(timer);
      c.up = true;
      stats.connects++;
      stats.slowestConnectMs = Math.max(stats.slowestConnectMs, Date.now() - t0);
      resolve();
    };
    c.failed = (why) => {
      if (c.settled || c.leaving) return;
      c.settled = true;
      clearTimeout(timer);
      stats.connectErrors++;
      if (problems.length < 10) problems.push(`connect_error: ${why}`);
      resolve();
    };
  });
  // ids are consecutive: one sender, no other writer
  c.message = (id) => {
    stats.received++;
    if (id !== c.last + 1) problem(`client from ${c.from}: got id ${id} after ${c.last}`);
    if (id > c.last) c.last = id;
    if (id > newest) newest = id;
  };
  c.gone = (reason) => {
    if (!c.up) return;
    c.up = false;
    if (!c.leaving) {
      stats.unexpectedDisconnects++;
      if (problems.length < 10) problems.push(`client from ${c.from} at ${c.last}: disconnected (${reason})`);
    }
  };
  return c;
}

/** The real socket.io-client. */
function ioClient(serverOffset) {
  const c = client(serverOffset);
  const socket = io(url, { forceNew: true, reconnection: false, transports: ['websocket'], auth: { serverOffset } });
  socket.once('connect', c.connected);
  socket.once('connect_error', (e) => c.failed(`${e.message} (${e.description?.message ?? e.description ?? ''})`));
  socket.on('chat message', (msg, id) => c.message(id));
  socket.on('disconnect', c.gone);
  c.close = () => socket.disconnect();
  return c;
}

/**
 * The same client on a bare WebSocket: Engine.IO v4 and Socket.IO v5 text
 * packets by hand (open, CONNECT with the auth, ping/pong, events), with
 * the id read from the end of the event instead of a JSON parse of the
 * whole packet. About a fifth of socket.io-client's CPU per delivery, which
 * is what lets a 2-core machine hold 10,000 clients' worth of deliveries.
 */
function wsClient(serverOffset) {
  const c = client(serverOffset);
  const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('42["chat message",')) {
      // ["chat message", msg, id] or, broadcast, [..., id, "recovery offset"]
      let args = text.slice(0, -1);
      if (args.endsWith('"')) args = args.slice(0, args.lastIndexOf(','));
      c.message(Number(args.slice(args.lastIndexOf(',') + 1)));
    } else if (text === '2') {
      ws.send('3');
    } else if (text.startsWith('0{')) {
      ws.send(`40${JSON.stringify({ serverOffset })}`);
    } else if (text.startsWith('40')) {
      c.connected();
    } else if (text.startsWith('44')) {
      c.failed(text);
    } else if (text === '1' || text.startsWith('41')) {
      c.gone(text === '1' ? 'transport close' : 'io server disconnect');
    }
  });
  ws.on('error', (e) => { if (c.up) c.gone(`transport error: ${e.message}`); else c.failed(`websocket error (${e.message})`); });
  ws.on('close', (code) => { if (c.up) c.gone('transport close'); else c.failed(`websocket closed (${code})`); });
  c.close = () => ws.close();
  return c;
}

/** Every SAMPLE-th client is a socket.io-client, the others bare WebSockets. */
let made = 0;
function connect(serverOffset) {
  return made++ % SAMPLE === 0 ? ioClient(serverOffset) : wsClient(serverOffset);
}

function leave(c) {
  c.leaving = true;
  c.close();
}

async function start(count) {
  for (let i = 0; i < count; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - i) }, () => connect(0));
    await Promise.all(batch.map((c) => c.ready));
    clients.push(...batch);
  }
}

function churn(n) {
  for (let i = 0; i < n; i++) {
    const k = Math.floor(Math.random() * clients.length);
    leave(clients[k]);
    clients[k] = connect(newest);
  }
}

async function report(last) {
  const end = Date.now() + 60_000;
  await Promise.all(clients.map((c) => c.ready)); // the last ones churned in
  const behind = () => clients.filter((c) => c.up && c.last < last);
  while (behind().length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  const late = behind();
  const cpu = process.cpuUsage();
  return {
    ev: 'report',
    ...stats,
    connected: clients.filter((c) => c.up).length,
    notConverged: late.length,
    lateExample: late.slice(0, 3).map((c) => `from ${c.from} at ${c.last}`),
    problems,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    rssKiB: Math.round(process.memoryUsage().rss / 1024),
  };
}

process.on('message', async (m) => {
  if (m.cmd === 'start') {
    url = m.url;
    wsUrl = `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    await start(m.count);
    process.send({ ev: 'ready', connected: clients.filter((c) => c.up).length, ...stats });
  } else if (m.cmd === 'churn') {
    churn(m.n);
  } else if (m.cmd === 'report') {
    process.send(await report(m.last));
  } else if (m.cmd === 'stop') {
    for (const c of clients) leave(c);
    process.disconnect();
    setTimeout(() => process.exit(0), 200);
  }
});
