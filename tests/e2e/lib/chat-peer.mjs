// One chat client in a process of its own, for tests that load the server
// hard (the slow-readers fault test in tests/e2e/faults.test.mjs): started
// with child_process.fork and driven over IPC. A client that must keep up
// (a reader, a sender, which also receives every broadcast) shares no event
// loop with the hundreds of clients the test holds, so a pause of the test
// process (garbage collection, the paused clients' bookkeeping) cannot make
// it a slow reader; only the clients meant to be slow are.
//
// It is a ChatClient (lib/chat.mjs, the real socket.io-client) that records
// the ids it receives, in order, and every disconnect with its reason.
//
// Messages from the parent:
//   {cmd: 'connect', url, opts}     connect, then {ev: 'connected'} or {ev: 'error', message}
//   {cmd: 'send', rate, seconds, size, prefix}
//                                   emit "chat message" (size bytes, clientOffset prefix-N)
//                                   rate times a second for seconds, each with an ack
//                                   (60 s timeout), stopping at the first failure; then
//                                   {ev: 'sent', sent, acked, failed: [text]}
//   {cmd: 'wait', count, ms}        wait until count messages were received (at most ms),
//                                   then {ev: 'received', ids, disconnects, connected}
//   {cmd: 'stop'}                   disconnect and exit
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Cleanups, ChatClient } from './chat.mjs';

const cleanups = new Cleanups();
const disconnects = [];
// How far this process itself fell behind (a reason for it to be cut as a slow reader).
const delay = monitorEventLoopDelay({ resolution: 20 });
delay.enable();

/** This process's event-loop delay (p99, max) and CPU time, as text. */
function load() {
  const cpu = process.cpuUsage();
  return `loop delay p99 ${Math.round(delay.percentile(99) / 1e6)} ms max ${Math.round(delay.max / 1e6)} ms, `
    + `CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms`;
}
let client;
let t0;

async function send({ rate, seconds, size, prefix }) {
  const msg = 'm'.repeat(size);
  const acks = [];
  const failed = [];
  let acked = 0;
  const end = Date.now() + seconds * 1000;
  const start = Date.now();
  for (let n = 0; Date.now() < end && failed.length === 0; n++) {
    // a long ack timeout: on a loaded machine the server may lag, which is
    // not what the tests that use this measure
    acks.push(client.socket.timeout(60_000).emitWithAck('chat message', msg, `${prefix}-${n}`)
      .then((ack) => { if (ack === undefined) acked++; else failed.push(`ack ${JSON.stringify(ack)}`); },
        (e) => { failed.push(e.message); }));
    // open loop: the n-th message leaves at n/rate seconds, whatever the acks do
    await sleep(Math.max(0, start + ((n + 1) * 1000) / rate - Date.now()));
  }
  await Promise.all(acks);
  return { ev: 'sent', sent: acks.length, acked, failed, load: load() };
}

async function wait({ count, ms }) {
  try {
    await client.waitCount(count, ms);
  } catch {
    // reported by what was received
  }
  return {
    ev: 'received', ids: client.received.map(([, id]) => id), disconnects, connected: client.socket.connected,
    load: load(),
  };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') {
      client = new ChatClient(cleanups, m.url, { ...m.opts, record: 'ids' });
      await client.connected(30_000);
      t0 = Date.now();
      client.socket.on('disconnect', (reason) => disconnects.push(`${reason} after ${Date.now() - t0} ms`));
      process.send({ ev: 'connected' });
    } else if (m.cmd === 'send') {
      process.send(await send(m));
    } else if (m.cmd === 'wait') {
      process.send(await wait(m));
    } else if (m.cmd === 'stop') {
      delay.disable();
      await cleanups.run();
      process.disconnect();
    }
  } catch (e) {
    process.send({ ev: 'error', message: e.message });
  }
});
// The parent gone (killed, or done without a stop): leave too.
process.on('disconnect', () => { cleanups.run().finally(() => process.exit(0)); });
