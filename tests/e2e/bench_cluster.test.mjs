// The cluster benchmark at tiny size: bench/run.sh with SCENARIOS=cluster
// starts a real redis-server and two chat processes on it (--redis, one
// database) per server kind, drives them with sioc-bench --url2, and writes
// the table. The figures in its raw JSON lines must agree with the load:
// every client connected, half of them on each node, nothing lost, about
// half the deliveries cross-node, the fixed rate carried, CPU read for both
// nodes and for Redis, and the cluster rows in the table.
//
// Skipped when sioc-bench or redis-server is missing; the Node pair when
// its npm packages are missing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertNoSanitizerReport } from './lib/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const BUILD = process.env.SIOC_BUILD_DIR ?? path.join(REPO, 'build');
const require = createRequire(import.meta.url);

function has(cmd) {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, cmd)));
}
function nodePairDeps() {
  try {
    for (const m of ['socket.io', 'better-sqlite3', 'express', 'redis', '@socket.io/redis-adapter']) require.resolve(m);
    return true;
  } catch {
    return false;
  }
}

const skip = !existsSync(path.join(BUILD, 'sioc-bench')) ? 'sioc-bench missing'
  : !existsSync(path.join(BUILD, 'sioc-chat')) ? 'sioc-chat missing'
    : !has('redis-server') ? 'redis-server missing' : false;
const servers = ['sioc', ...(nodePairDeps() ? ['node'] : [])];

// Every file under dir (the servers' and Redis's logs).
function filesUnder(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

// Runs bench/run.sh; resolves {code, stdout, stderr}.
function runBench(env) {
  return new Promise((resolve) => {
    execFile('bash', [path.join(REPO, 'bench/run.sh')], { cwd: REPO, env: { ...process.env, ...env }, timeout: 240_000 },
      (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }));
  });
}

describe('make bench: the cluster scenario', { skip, timeout: 300_000 }, () => {
  it('runs a sioc pair and a Node pair on Redis and reports every figure', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'bench-cluster-'));
    const N = 20;
    const RATE = 400;
    try {
      const r = await runBench({
        QUICK: '1', SCENARIOS: 'cluster', SERVERS: servers.join(' '), BUILD_DIR: BUILD, BENCH_OUT: out,
        TMPDIR: out, BENCH_KEEP_LOGS: '1', BENCH_TIMEOUT: '60', BENCH_DURATION: '1', BENCH_WARMUP: '0.3',
        BENCH_CL_N: String(N), BENCH_CL_SAT_SENDERS: '4', BENCH_CL_SENDERS: '2', BENCH_CL_RATE: String(RATE),
      });
      assert.equal(r.code, 0, r.stderr);
      assertNoSanitizerReport(r.stderr, 'sioc-bench');
      for (const log of filesUnder(out).filter((f) => f.endsWith('server.log'))) {
        assertNoSanitizerReport(readFileSync(log, 'utf8'), log);
      }
      const raw = readFileSync(path.join(out, 'raw.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      for (const server of servers) {
        for (const point of ['cluster-sat', `cluster-r${RATE}`]) {
          const j = raw.find((x) => x.label === `${server}/${point}/1`);
          const what = `${server} ${point}: ${JSON.stringify(j)}`;
          assert.ok(j, `${server} ${point} has a result:\n${r.stderr}`);
          assert.equal(j.connected, N, what);
          assert.equal(j.failed + j.dropped, 0, what);
          assert.equal(j.loss, 0, what);
          assert.ok(j.deliveries_per_s > 0, what);
          // Half the clients are on the other node than any one sender.
          const share = j.cross_deliveries_per_s / j.deliveries_per_s;
          assert.ok(share > 0.4 && share < 0.6, what);
          assert.ok(j.cross_p99_ms >= j.cross_p50_ms && j.cross_p50_ms > 0, what);
          assert.ok(j.server_cpu_us_per_delivery > 0, what);
          assert.ok(j.node_cpu_us_per_msg.every((x) => x >= 0), what);
          assert.ok(j.redis_cpu_us_per_msg > 0, what);
          if (point === 'cluster-sat') {
            assert.equal(j.one_way, 0, what);
            assert.equal(j.cross_msg_cost_us, -1, what);
          } else {
            assert.equal(j.one_way, 1, what);
            assert.ok(Math.abs(j.deliveries_per_s - RATE) < RATE * 0.2, what);
            assert.ok(j.cross_msg_cost_us >= j.redis_cpu_us_per_msg, what);
          }
        }
      }
      const table = readFileSync(path.join(out, 'table.md'), 'utf8');
      assert.match(table, /\| cluster-sat \| deliveries\/s at saturation/);
      assert.match(table, new RegExp(`\\| cluster-r${RATE} \\| cost per cross-node message \\(us\\) \\|`));
      assert.match(r.stdout, /cluster-sat/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
