// One load-generating process of the soak (tests/e2e/faults.test.mjs),
// started with child_process.fork and driven over IPC. 10,000
// socket.io-client connections receiving 10 broadcasts a second are more
// than one Node process can parse, so the soak spreads them over several of
// these; each holds its share of the chat clients and checks delivery for
// every one of them.
//
// Every client acts like the tutorial page: it connects with
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

const BATCH = 200;
const CONNECT_MS = 30_000;

let url;
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

/** A chat client from serverOffset on; checks that ids arrive consecutively. */
function connect(serverOffset) {
  const t0 = Date.now();
  const c = {
    socket: io(url, {
      forceNew: true, reconnection: false, transports: ['websocket'], auth: { serverOffset },
    }),
    from: serverOffset,
    last: serverOffset,
    leaving: false,
    up: false,
  };
  c.ready = new Promise((resolve) => {
    const timer = setTimeout(() => { stats.connectErrors++; resolve(); }, CONNECT_MS);
    c.socket.once('connect', () => {
      clearTimeout(timer);
      c.up = true;
      stats.connects++;
      stats.slowestConnectMs = Math.max(stats.slowestConnectMs, Date.now() - t0);
      resolve();
    });
    c.socket.once('connect_error', (e) => {
      clearTimeout(timer);
      stats.connectErrors++;
      if (problems.length < 10) problems.push(`connect_error: ${e.message} (${e.description?.message ?? e.description ?? ''})`);
      resolve();
    });
  });
  c.socket.on('chat message', (msg, id) => {
    stats.received++;
    if (id !== c.last + 1) problem(`client from ${c.from}: got id ${id} after ${c.last}`);
    if (id > c.last) c.last = id;
    if (id > newest) newest = id;
  });
  c.socket.on('disconnect', (reason) => {
    c.up = false;
    if (!c.leaving) {
      stats.unexpectedDisconnects++;
      if (problems.length < 10) problems.push(`client from ${c.from} at ${c.last}: disconnected (${reason})`);
    }
  });
  return c;
}

function leave(c) {
  c.leaving = true;
  c.socket.disconnect();
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
