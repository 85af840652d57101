// A real redis-server for a test: started on a free port with no
// persistence (--save '' --appendonly no), killable and restartable on the
// same port (to test what a Redis outage does to a cluster).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { sleep, withTimeout } from './util.mjs';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().on('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

/**
 * Starts redis-server; resolves {port, url, stop(), kill(), start(), pause(),
 * resume()}. The port comes from freePort(), so another process may take it
 * before redis-server binds it: a redis-server that exits while starting (its
 * bind failed) is retried on a fresh port, rather than the test talking to
 * whatever took the port.
 */
export async function startRedis() {
  let port;
  let proc = null;
  const start = async () => {
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no'], { stdio: 'ignore' });
    proc = p;
    let exited = false;
    p.once('exit', () => { exited = true; });
    await withTimeout((async () => {
      while (!exited && !(await canConnect(port))) await sleep(20);
    })(), 10_000, `redis-server on port ${port}`);
    if (exited) throw new Error(`redis-server exited while starting on port ${port}`);
  };
  const kill = async () => {
    if (!proc) return;
    const p = proc;
    proc = null;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  // SIGSTOP/SIGCONT: Redis holds what it was sent (a slow Redis)
  const pause = () => proc?.kill('SIGSTOP');
  const resume = () => proc?.kill('SIGCONT');
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (e) {
      await kill();
      if (attempt === 5) throw e;
    }
  }
  return { port, url: `redis://127.0.0.1:${port}`, start, kill, stop: async () => { resume(); await kill(); }, pause, resume };
}
