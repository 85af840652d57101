// Node references for the three examples/ programs (tests/e2e/examples.test.mjs
// with SIOC_REF=1): the same behaviour on socket.io 4.8, so the e2e checks
// are proven against Node first. tests/e2e/lib/server.mjs starts
// tests/ref/example-<name>.mjs, which imports this file with its name.
//
// Usage: node tests/ref/example-echo.mjs --port N (likewise lobby, uvloop).
// Prints "listening on http://localhost:PORT"; exits 0 on SIGTERM/SIGINT.
import http from 'node:http';
import { Server } from 'socket.io';

const setups = {
  // examples/echo.c: every event back under its name, or as the ack.
  echo(io) {
    io.on('connection', (socket) => {
      socket.onAny((event, ...args) => {
        const ack = typeof args.at(-1) === 'function' ? args.pop() : null;
        if (ack) ack(...args);
        else socket.emit(event, ...args);
      });
    });
  },
  // examples/lobby.c: a middleware, rooms, broadcasts.
  lobby(io) {
    io.use((socket, next) => {
      const { name } = socket.handshake.auth;
      if (typeof name !== 'string' || name.length === 0 || name.length > 32) {
        next(new Error('name required'));
        return;
      }
      socket.data.name = name;
      next();
    });
    io.on('connection', (socket) => {
      socket.join('lobby');
      socket.on('join', (room, ack) => {
        const ok = typeof room === 'string';
        if (ok) {
          socket.join(room);
          socket.to(room).emit('joined', socket.data.name, room);
        }
        if (typeof ack === 'function') ack(ok);
      });
      socket.on('say', (room, text, ack) => {
        if (typeof room !== 'string' || typeof text !== 'string' || !socket.rooms.has(room)) return;
        socket.to(room).emit('said', socket.data.name, room, text);
        if (typeof ack === 'function') ack(socket.rooms.size);
      });
      socket.on('disconnect', () => socket.to('lobby').emit('left', socket.data.name));
    });
  },
  // examples/uvloop.c: the program's own tick counter, read with "ticks".
  uvloop(io) {
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 100);
    io.on('connection', (socket) => {
      socket.on('ticks', (ack) => { if (typeof ack === 'function') ack(ticks); });
    });
    return () => clearInterval(timer);
  },
};

/** Runs example name on --port (0: any). */
export function run(name) {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : 3000;
  const server = http.createServer();
  const io = new Server(server);
  const cleanup = setups[name](io);
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening on http://localhost:${server.address().port}`);
  });
  const stop = () => {
    if (cleanup) cleanup();
    io.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
