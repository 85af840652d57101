// Client for test_allocator.c: reads the server's port on stdin; emits a
// large event with an ack over raw polling (its answer gzipped); then
// connects with the real socket.io-client (polling, upgraded to WebSocket)
// and emits text and binary with acks; then asks the server to shut down
// ("done") and exits 0. Any failure exits 1.
import { io } from 'socket.io-client';

const port = await new Promise((resolve) => {
  process.stdin.setEncoding('utf8').once('data', (d) => resolve(parseInt(d, 10)));
});
const fail = (e) => { console.error('alloc_client:', e); process.exit(1); };
setTimeout(() => fail('timed out'), 20000).unref();

const connected = (s) => new Promise((resolve) => {
  s.on('connect_error', fail);
  s.once('connect', resolve);
});

// Raw polling with fetch (which sends Accept-Encoding: gzip, deflate and
// decodes the answer), over the compression threshold (1024 bytes), so the
// server compresses; socket.io-client's Node polling cannot decode that.
const base = `http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`;
const open = await (await fetch(base)).text();
const sid = JSON.parse(open.slice(1)).sid;
const url = `${base}&sid=${sid}`;
const post = (body) => fetch(url, { method: 'POST', body }).then((r) => r.text());
await post('40');
if (!(await (await fetch(url)).text()).startsWith('40')) fail('no CONNECT');
const text = 'over polling '.repeat(200);
await post(`421${JSON.stringify(['echo', text, { n: 1 }])}`);
const res = await fetch(url);
if (res.headers.get('content-encoding') !== 'gzip') fail('the answer is not compressed');
const body = await res.text();
if (body !== `431${JSON.stringify([text, { n: 1 }])}`) fail(`bad ack ${body.slice(0, 80)}`);
await post('41');

// Polling, upgraded to WebSocket.
const socket = io(`http://127.0.0.1:${port}`, { reconnection: false, auth: { who: 'alloc' } });
await connected(socket);
const ack = (...args) => new Promise((resolve) => socket.emit(...args, (...r) => resolve(r)));
if (socket.io.engine.transport.name !== 'websocket') {
  await new Promise((resolve) => socket.io.engine.once('upgrade', resolve));
}
const big = 'x'.repeat(70000);
const ws = await ack('echo', big, Buffer.from([1, 2, 3]), { nested: [1, 2] });
if (ws[0] !== big || ws[1].length !== 3) fail('bad ack over websocket');
socket.emit('done');
socket.on('disconnect', () => process.exit(0));
