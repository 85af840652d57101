// Starts one of the sioc programs for an e2e test and stops it cleanly.
//
// The program under test is $SIOC_BUILD_DIR/<binName>, started with
// `--port 0 ...args`; it prints "listening on http://localhost:PORT" (https://
// with TLS) on stdout
// once it accepts connections. With SIOC_REF=1 the same tests run against the
// Node reference servers in tests/ref/ instead (sioc-protocol-server ->
// tests/ref/protocol-server.mjs, sioc-chat -> tests/ref/chat.mjs), which is
// how each test is first proven against Node's real behaviour.
//
// stop() is part of the test: the program must exit 0 on SIGTERM in time and
// its stderr must hold no sanitizer report (ASan, LSan, UBSan) and no
// valgrind memcheck error.
//
// SIOC_WRAPPER (e.g. "valgrind --error-exitcode=99 --leak-check=full -q",
// see scripts/valgrind.sh) prefixes the C program's command line, split on
// spaces. Such a wrapper is much slower, so the start and stop timeouts are
// multiplied by WRAP_SLOWDOWN; tests too timing-sensitive for it check
// IS_WRAPPED and skip themselves.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { before, after, afterEach } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
export const IS_REF = process.env.SIOC_REF === '1';
const WRAPPER = (process.env.SIOC_WRAPPER ?? '').split(' ').filter((w) => w !== '');
/** True when the C program runs under a wrapper such as valgrind (20-50x slower). */
export const IS_WRAPPED = !IS_REF && WRAPPER.length > 0;
const WRAP_SLOWDOWN = IS_WRAPPED ? 10 : 1;

const START_TIMEOUT_MS = 10_000 * WRAP_SLOWDOWN;
const STOP_TIMEOUT_MS = 5_000 * WRAP_SLOWDOWN;
const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'LeakSanitizer', 'runtime error:'];
// A valgrind memcheck report line: "==PID== " then an error or a lost block.
const VALGRIND_ERROR = new RegExp('^==\\d+== (Invalid (read|write|free)|Mismatched free|'
  + 'Conditional jump|Use of uninitialised|Syscall param|Source and destination overlap|'
  + 'Argument .* of function|.* (definitely|indirectly) lost in loss record)', 'm');

/** Picks the command line for binName: the C program or its Node reference. */
function commandFor(binName, args, ref = IS_REF, prefix = []) {
  if (ref) {
    const script = path.join(REPO, 'tests/ref', `${binName.replace(/^sioc-/, '')}.mjs`);
    return { cmd: process.execPath, argv: [script, '--port', '0', ...args] };
  }
  const dir = process.env.SIOC_BUILD_DIR;
  if (!dir) throw new Error('SIOC_BUILD_DIR is not set (or set SIOC_REF=1 for the Node reference)');
  const argv = ['--port', '0', ...args];
  const bin = path.join(dir, binName);
  const wrap = [...prefix, ...(IS_WRAPPED ? WRAPPER : [])];
  if (wrap.length) return { cmd: wrap[0], argv: [...wrap.slice(1), bin, ...argv] };
  return { cmd: bin, argv };
}

/** Throws if the program's stderr holds a sanitizer or valgrind memcheck report. */
export function assertNoSanitizerReport(stderr, what = 'server') {
  for (const marker of SANITIZER_MARKERS) {
    if (stderr.includes(marker)) throw new Error(`${what} stderr has "${marker}":\n${stderr}`);
  }
  const m = VALGRIND_ERROR.exec(stderr);
  if (m) throw new Error(`${what} stderr has valgrind report "${m[0]}":\n${stderr}`);
}

/**
 * Spawns binName and resolves once it prints its "listening on" line.
 * Resolves {port, url, proc, stderr(), stop()}. opts.ref: run the Node
 * reference whatever SIOC_REF says (a Node node in a mixed cluster).
 * opts.prefix: a command the C program runs under (e.g. ['prlimit',
 * '--nofile=64']); ignored for the Node reference.
 */
export function startServer(binName, args = [], env = {}, opts = {}) {
  const { cmd, argv } = commandFor(binName, args, opts.ref ?? IS_REF, opts.prefix ?? []);
  const proc = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = null; // {code, signal} once the process is gone
  const exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); });
  });
  proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  proc.stdout.setEncoding('utf8');

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${binName} did not print "listening on" within ${START_TIMEOUT_MS} ms\n${stderr}`));
    }, START_TIMEOUT_MS);
    proc.on('error', (err) => { clearTimeout(timer); reject(err); });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${binName} exited (code ${code}, signal ${signal}) before listening\n${stderr}`));
    });
    proc.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening on (https?:\/\/localhost:(\d+))/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      proc.stdout.removeAllListeners('data');
      proc.stdout.resume(); // keep draining so the child never blocks on a full pipe
      const port = Number(m[2]);
      resolve({
        port,
        url: `http://localhost:${port}`,
        proc,
        stderr: () => stderr,
        /** True while the process runs (a test may check the server survived). */
        alive: () => exited === null,
        stop: () => stop(binName, proc, exitPromise, () => stderr, () => exited),
      });
    });
  });
}

/** SIGTERM, wait for exit (SIGKILL on timeout), then check exit code and stderr. */
async function stop(binName, proc, exitPromise, getStderr, getExited) {
  if (getExited() === null) proc.kill('SIGTERM');
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS); });
  const result = await Promise.race([exitPromise, timeout]);
  clearTimeout(timer);
  if (result === null) {
    proc.kill('SIGKILL');
    await exitPromise;
    throw new Error(`${binName} did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\n${getStderr()}`);
  }
  assertNoSanitizerReport(getStderr(), binName);
  if (result.code !== 0) {
    throw new Error(`${binName} exited with code ${result.code} signal ${result.signal}\n${getStderr()}`);
  }
}

/**
 * One server for a whole suite: start() runs before its tests and the server
 * is stopped after them; after each test the cleanups it pushed run (newest
 * first) and the server must still be alive. Returns { server, cleanups }
 * (server is set once the suite has started).
 */
export function serverPerSuite(start) {
  const suite = { server: null, cleanups: [] };
  before(async () => { suite.server = await start(); });
  after(async () => { await suite.server.stop(); });
  afterEach(async () => {
    while (suite.cleanups.length) await suite.cleanups.pop()();
    assert.ok(suite.server.alive(), `server died:\n${suite.server.stderr()}`);
  });
  return suite;
}

/**
 * Tears down a cluster test: closes every client, stops every node even if
 * one fails its checks (no orphans), stops Redis, then throws the first
 * node's failure.
 */
export async function stopCluster(clients, nodes, redis) {
  for (const c of Object.values(clients)) c.close();
  const stops = await Promise.allSettled(Object.values(nodes).map((n) => n.stop()));
  await redis?.stop();
  const failed = stops.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
