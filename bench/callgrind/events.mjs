// Drives sioc-protocol-server's /socket.io/ with N incoming events from one
// socket.io-client over WebSocket, for bench/callgrind/run.sh.
//   node events.mjs URL N pingpong   N x emit("message", i), each waiting
//                                    for its "message-back": one event per read
//   node events.mjs URL N burst      N x emit("nobody", i) (no listener), then
//                                    one "message-with-ack" to wait for them all:
//                                    many events per read
// Exits 0 once done, after disconnecting.
import { io } from "socket.io-client";

const [url, nArg, mode] = process.argv.slice(2);
const n = Number(nArg);
const socket = io(url, { transports: ["websocket"], reconnection: false });
await new Promise((resolve, reject) => {
  socket.once("connect", resolve);
  socket.once("connect_error", reject);
});
if (mode === "pingpong") {
  for (let i = 0; i < n; i++) {
    const back = new Promise((resolve) => socket.once("message-back", resolve));
    socket.emit("message", i);
    await back;
  }
} else if (mode === "burst") {
  for (let i = 0; i < n; i++) socket.emit("nobody", i);
  await socket.timeout(600000).emitWithAck("message-with-ack", "done");
} else {
  throw new Error(`unknown mode ${mode}`);
}
socket.disconnect();
