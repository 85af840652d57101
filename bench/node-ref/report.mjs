// Turns the raw JSON lines of bench/run.sh into the side-by-side table and
// the data files bench/plot.gp draws.
//
// Each raw line is one sioc-bench result whose "label" is
// "<server>/<point>/<rep>" (server: sioc, node or floor, the floor server of
// bench/floor that runs the broadcast rows only; point: which scenario
// setting, e.g. connect-10k or bc-r40000). Per (point, server) the median
// over repetitions is taken, so one slow run does not move the figures.
//
// A cluster point's server is a pair of that server on one Redis.
//
//   node report.mjs table  RAW OUTDIR   -> OUTDIR/table.{md,txt}, *.dat; prints the table
//   node report.mjs median RAW POINT SERVER FIELD   -> prints one median (or nothing)
//   node report.mjs keep   RAW "SCENARIO..."   -> drops RAW's lines of those
//                                               scenarios (they are re-measured)
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

// Reads the raw file into [{server, point, rep, r}] (bad lines skipped).
function load(raw) {
  const out = [];
  for (const line of readFileSync(raw, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      const [server, point, rep] = String(r.label).split('/');
      out.push({ server, point, rep: Number(rep), r });
    } catch {
      // a truncated line from an interrupted run: ignore it
    }
  }
  return out;
}

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Median of f(result) over the runs of one point and server.
function med(rows, point, server, f) {
  const xs = rows.filter((x) => x.point === point && x.server === server).map((x) => f(x.r));
  return median(xs.filter((x) => x !== undefined && x !== null && x >= 0));
}

const kb2mb = (kb) => (kb >= 0 ? kb / 1024 : undefined);

// The run.sh scenario a point belongs to (connect-1k -> connect, ...).
function scenarioOf(point) {
  const p = String(point);
  if (p.startsWith('connect-')) return 'connect';
  if (p.startsWith('bc-')) return 'broadcast';
  if (p.startsWith('cluster-')) return 'cluster';
  return p;
}
// The fixed-rate cluster point's name: cluster-r<rate> (20000 in a normal run).
const clusterRate = (rows) => rows.map((x) => x.point).find((p) => /^cluster-r\d+$/.test(p));

// The table: [point, metric, value from a result, which direction is better].
const TABLE = [
  ['connect-1k', 'idle server RSS before connecting (MB)', (r) => kb2mb(r.rss_before_kb), 'lower'],
  ['connect-1k', 'RSS per connection, 1k idle (KiB)', (r) => r.kb_per_conn, 'lower'],
  ['connect-1k', 'connects/s', (r) => r.connect_rate, 'higher'],
  ['connect-1k', 'handshake p99 (ms)', (r) => r.handshake_p99_ms, 'lower'],
  ['connect-10k', 'RSS per connection, 10k idle (KiB)', (r) => r.kb_per_conn, 'lower'],
  ['connect-10k', 'server RSS with 10k idle (MB)', (r) => kb2mb(r.rss_after_kb), 'lower'],
  ['connect-10k', 'connects/s', (r) => r.connect_rate, 'higher'],
  ['connect-10k', 'handshake p99 (ms)', (r) => r.handshake_p99_ms, 'lower'],
  ['connect-100k', 'RSS per connection, 100k idle (KiB)', (r) => r.kb_per_conn, 'lower'],
  ['connect-100k', 'server RSS with 100k idle (MB)', (r) => kb2mb(r.rss_after_kb), 'lower'],
  ['connect-100k', 'connections held', (r) => r.connected, 'higher'],
  ['bc-sat', 'deliveries/s at saturation (100 senders)', (r) => r.deliveries_per_s, 'higher'],
  ['bc-sat', 'server CPU per delivery (us)', (r) => r.server_cpu_us_per_delivery, 'lower'],
  ['bc-sat', 'p99 latency at saturation (ms)', (r) => r.p99_ms, 'lower'],
  ['bc-sat10', 'deliveries/s, closed loop with 10 senders', (r) => r.deliveries_per_s, 'higher'],
  ['bc-sat10', 'p99 latency, closed loop with 10 senders (ms)', (r) => r.p99_ms, 'lower'],
  ['bc-r40000', 'server CPU per delivery at 40k/s (us)', (r) => r.server_cpu_us_per_delivery, 'lower'],
  ['bc-r40000', 'p50 latency at 40k/s (ms)', (r) => r.p50_ms, 'lower'],
  ['bc-r40000', 'p99 latency at 40k/s (ms)', (r) => r.p99_ms, 'lower'],
  ['bc-r40000', 'p999 latency at 40k/s (ms)', (r) => r.p999_ms, 'lower'],
  ['bc-r40000', 'loss at 40k/s (%)', (r) => r.loss * 100, 'lower'],
  ['bc-r40000', 'server RSS at the end of the 40k/s run (MB)', (r) => kb2mb(r.server_rss_kb), 'lower'],
  ['bc-nodesat', "p99 latency at Node's saturation rate (ms)", (r) => r.p99_ms, 'lower'],
  ['bc-nodesat', "deliveries/s at Node's saturation rate", (r) => r.deliveries_per_s, 'higher'],
  ['chat', 'acked messages/s (closed loop)', (r) => r.acked_per_s, 'higher'],
  ['chat', 'ack p50 (ms)', (r) => r.ack_p50_ms, 'lower'],
  ['chat', 'ack p99 (ms)', (r) => r.ack_p99_ms, 'lower'],
  ['chat', 'deliveries/s', (r) => r.deliveries_per_s, 'higher'],
  ['chat', 'server CPU per acked message (us)', (r) => r.server_cpu_us_per_msg, 'lower'],
  ['replay', 'time until all clients caught up (s)', (r) => r.seconds, 'lower'],
  ['replay', 'server peak RSS (MB)', (r) => kb2mb(r.peak_rss_kb), 'lower'],
  ['replay', 'clients that got every row', (r) => r.complete, 'higher'],
  // Two nodes on one Redis (see bench/README.md): a pair of sioc-chat against
  // a pair of the Node chat with @socket.io/redis-adapter.
  ['cluster-sat', 'deliveries/s at saturation (senders on both nodes)', (r) => r.deliveries_per_s, 'higher'],
  ['cluster-sat', 'of which cross-node deliveries/s', (r) => r.cross_deliveries_per_s, 'higher'],
  ['cluster-sat', 'server CPU per delivery, both nodes (us)', (r) => r.server_cpu_us_per_delivery, 'lower'],
  ['cluster-sat', 'Redis CPU per message at saturation (us)', (r) => r.redis_cpu_us_per_msg, 'lower'],
  ['cluster-sat', 'Redis CPU at saturation (% of a core)', (r) => r.redis_cpu_pct, 'info'],
  ['cluster-sat', 'p99 latency at saturation (ms)', (r) => r.p99_ms, 'lower'],
  ['cluster-sat', 'loss at saturation (% not delivered 5 s after the window)', (r) => r.loss * 100, 'lower'],
  ['cluster-r*', 'deliveries/s at RATE/s offered', (r) => r.deliveries_per_s, 'higher'],
  ['cluster-r*', 'p50 latency at RATE/s, all receipts (ms)', (r) => r.p50_ms, 'lower'],
  ['cluster-r*', 'p99 latency at RATE/s, all receipts (ms)', (r) => r.p99_ms, 'lower'],
  ['cluster-r*', 'p50 latency at RATE/s, cross-node receipts (ms)', (r) => r.cross_p50_ms, 'lower'],
  ['cluster-r*', 'p99 latency at RATE/s, cross-node receipts (ms)', (r) => r.cross_p99_ms, 'lower'],
  ['cluster-r*', 'loss at RATE/s (%)', (r) => r.loss * 100, 'lower'],
  ['cluster-r*', 'publishing node CPU per message (us)', (r) => r.node_cpu_us_per_msg?.[0], 'lower'],
  ['cluster-r*', 'cost per cross-node message (us)', (r) => r.cross_msg_cost_us, 'lower'],
];

// Formats a figure with about 3 significant digits.
function fmt(x) {
  if (x === undefined) return '-';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

// "How many times better sioc is": sioc/node for rates, node/sioc for costs.
function ratio(s, n, better) {
  if (s === undefined || n === undefined || better === 'info') return '-';
  const [num, den] = better === 'higher' ? [s, n] : [n, s];
  if (den === 0) return num === 0 ? '1.0x' : 'inf';
  return `${(num / den).toFixed(num / den >= 10 ? 0 : 1)}x`;
}

// sioc's figure over the floor's, as it is (no "better" direction): the
// distance to the floor server, '-' where the floor has no figure.
function plain(s, f) {
  if (s === undefined || f === undefined || f === 0) return '-';
  return `${(s / f).toFixed(2)}x`;
}

// Fixed-width text table for the terminal.
function textTable(head, body) {
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i < 2 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...body.map(line)].join('\n');
}

function machine() {
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `Linux ${os.release()}, Node ${process.version}`;
}

// Writes <OUT>/<kind>-<server>.dat for the plot.
function writeDat(rows, out) {
  for (const server of ['sioc', 'node']) {
    const rates = [...new Set(rows.filter((x) => x.server === server && /^bc-r\d+$/.test(x.point))
      .map((x) => Number(x.point.slice(4))))].sort((a, b) => a - b);
    const lat = ['# offered_deliveries_per_s p50_ms p99_ms achieved_per_s'];
    for (const rate of rates) {
      const p = `bc-r${rate}`;
      const vals = [med(rows, p, server, (r) => r.p50_ms), med(rows, p, server, (r) => r.p99_ms),
        med(rows, p, server, (r) => r.deliveries_per_s)];
      if (vals.every((v) => v !== undefined)) lat.push(`${rate} ${vals.join(' ')}`);
    }
    writeFileSync(join(out, `latency-${server}.dat`), lat.join('\n') + '\n');
    const mem = ['# connections server_rss_mb'];
    const idle = med(rows, 'connect-1k', server, (r) => kb2mb(r.rss_before_kb));
    if (idle !== undefined) mem.push(`0 ${idle}`);
    for (const [p, n] of [['connect-1k', 1000], ['connect-10k', 10000], ['connect-100k', 100000]]) {
      const v = med(rows, p, server, (r) => kb2mb(r.rss_after_kb));
      if (v !== undefined) mem.push(`${n} ${v}`);
    }
    writeFileSync(join(out, `memory-${server}.dat`), mem.join('\n') + '\n');
  }
}

function table(raw, out) {
  const rows = load(raw);
  const head = ['scenario', 'metric', 'sioc', 'node', 'ratio', 'floor', 'sioc/floor'];
  const body = [];
  const clRate = clusterRate(rows);
  for (let [point, metric, f, better] of TABLE) {
    if (point === 'cluster-r*') {
      if (!clRate) continue;
      point = clRate;
      metric = metric.replace('RATE', Number(clRate.slice(9)).toLocaleString('en-US'));
    }
    const s = med(rows, point, 'sioc', f);
    const n = med(rows, point, 'node', f);
    const fl = med(rows, point, 'floor', f);
    if (s === undefined && n === undefined) continue;
    body.push([point, metric, fmt(s), fmt(n), ratio(s, n, better), fmt(fl), plain(s, fl)]);
  }
  const reps = Math.max(0, ...rows.map((x) => x.rep));
  const rev = process.env.SIOC_REV ? `, sioc ${process.env.SIOC_REV}` : '';
  const kept = process.env.BENCH_KEPT
    ? ` Only ${[...new Set(rows.map((x) => scenarioOf(x.point)))].filter((sc) => !process.env.BENCH_KEPT.split(' ').includes(sc)).join(', ')} ` +
      `was measured on this date; the ${process.env.BENCH_KEPT.split(' ').join(', ')} rows are kept from the previous run's raw.jsonl.`
    : '';
  const note = `Machine: ${machine()}${rev}. ${new Date().toISOString().slice(0, 10)}, ` +
    `median of ${reps} run(s) per row.${kept} ratio > 1x means sioc is better ` +
    '(sioc/node for rates, node/sioc for costs and latencies). floor: sioc-floor, a minimal ' +
    'epoll fan-out server with no protocol layers and no database (bench/floor), on the ' +
    'broadcast rows; sioc/floor is the plain quotient of the two figures (targets: CPU per ' +
    'delivery at 40k/s <= 1.25x, deliveries/s with 10 senders >= 0.7x).';
  const txt = textTable(head, body) + '\n\n' + note + '\n';
  const md = [`| ${head.join(' | ')} |`, '|---|---|---:|---:|---:|---:|---:|',
    ...body.map((r) => `| ${r.join(' | ')} |`), '', note, ''].join('\n');
  writeFileSync(join(out, 'table.txt'), txt);
  writeFileSync(join(out, 'table.md'), md);
  writeDat(rows, out);
  process.stdout.write(txt);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'table' && args.length === 2) {
  table(args[0], args[1]);
} else if (cmd === 'keep' && args.length === 2) {
  const drop = new Set(args[1].split(/\s+/).filter(Boolean));
  const lines = readFileSync(args[0], 'utf8').split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      return !drop.has(scenarioOf(String(JSON.parse(line).label).split('/')[1]));
    } catch {
      return false;
    }
  });
  writeFileSync(args[0], lines.map((l) => l + '\n').join(''));
} else if (cmd === 'median' && args.length === 4) {
  const [raw, point, server, field] = args;
  const v = med(load(raw), point, server, (r) => r[field]);
  if (v !== undefined) console.log(Math.round(v));
} else {
  console.error('usage: report.mjs table RAW OUTDIR | median RAW POINT SERVER FIELD | keep RAW SCENARIOS');
  process.exit(2);
}
