// Client for test_allocator.c: reads the server's port on stdin, connects
// with the real socket.io-client (polling, then upgraded to WebSocket),
// emits text and binary with acks on both transports, then asks the server
// to shut down ("done") and exits 0. Any failure exits 1.
import { io } from 'socket.io-client';

const port = await new Promise((resolve) => {
  process.stdin.setEncoding('utf8').once('data', (d) => resolve(parseInt(d, 10)));
});
const fail = (e) => { console.error('alloc_client:', e); process.exit(1); };
setTimeout(() => fail('timed out'), 20000).unref();

const socket = io(`http://127.0.0.1:${port}`, { reconnection: false, auth: { who: 'alloc' } });
socket.on('connect_error', fail);
await new Promise((resolve) => socket.once('connect', resolve));
const ack = (...args) => new Promise((resolve) => socket.emit(...args, (...r) => resolve(r)));
const polled = await ack('echo', 'over polling', { n: 1 });
if (polled[0] !== 'over polling' || polled[1].n !== 1) fail(`bad ack ${JSON.stringify(polled)}`);
if (socket.io.engine.transport.name !== 'websocket') {
  await new Promise((resolve) => socket.io.engine.once('upgrade', resolve));
}
const big = 'x'.repeat(70000);
const ws = await ack('echo', big, Buffer.from([1, 2, 3]), { nested: [1, 2] });
if (ws[0] !== big || ws[1].length !== 3) fail('bad ack over websocket');
socket.emit('done');
socket.on('disconnect', () => process.exit(0));
