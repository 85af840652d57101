/* The four sioc-bench scenarios; each prints one JSON line on stdout.
 *
 * All of them drive the tutorial chat's one event, 'chat message'
 * (msg, clientOffset, ack), which the server stores and broadcasts to every
 * socket as 'chat message' (msg, id[, recovery offset]). The bench puts
 * what it needs to measure in msg itself: "<tag>:<sender>:<seq>:<t_us>",
 * with tag b (broadcast), c (chat) or r (replay) and t_us the send time on
 * this process's monotonic clock, so a receiver computes latency without
 * any lookup. clientOffsets are "<run id>-<sender>-<seq>", unique across
 * runs against the same database.
 *
 * Timed scenarios have three phases: warmup (sending, not measured), the
 * measured window [t_start, t_end), and a bounded drain. Latency and loss
 * are counted by send time (messages sent inside the window), throughput
 * and server CPU by receipt time (work done inside the window).
 *
 * Against a cluster (--url2: two nodes on one Redis) the connections
 * alternate between the nodes (bench_server_of), a receipt is "cross-node"
 * when its sender is on the other node, and the CPU of both nodes and of
 * redis-server (--pid2, --redis-pid) is read at the window's edges. With
 * --one-way the senders are all on the first node, so everything the
 * second node does in the window is receiving from Redis. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "core/alloc.h"

/* Which messages a parse_msg caller saw. */
typedef struct bench_msg {
    char tag;        /* b, c or r */
    uint64_t sender; /* sending connection's index */
    uint64_t seq;    /* per-sender sequence number */
    uint64_t t_us;   /* send time */
    uint64_t id;     /* the server's row id (0 if absent) */
} bench_msg;

/* State of the running timed scenario (broadcast or chat). */
typedef struct timed_state {
    const bench_opts *o;              /* options */
    uint64_t run_id;                  /* makes clientOffsets unique per run */
    uint64_t t_send;                  /* sending began */
    uint64_t t_start, t_end;          /* measured window */
    int sending;                      /* senders may send */
    int measured;                     /* t_end passed: cpu1 taken */
    int started;                      /* t_start passed: cpu0 taken */
    long long cpu0, cpu1;             /* both servers' CPU at t_start / t_end (-1 unknown) */
    long long node_t0[2], node_t1[2]; /* each server's CPU at t_start / t_end */
    long long redis0, redis1;         /* redis-server's CPU at t_start / t_end */
    long long self0, self1;           /* bench CPU at t_start / t_end */
    uint64_t sent;                    /* messages sent in total */
    uint64_t sent_window;             /* messages sent inside the window */
    uint64_t recv_window;             /* receipts inside the window */
    uint64_t cross_window;            /* of those, receipts from the other node */
    uint64_t delivered_window;        /* receipts of messages sent in the window */
    uint64_t acked_window;            /* acks for messages sent in the window */
    uint32_t receivers;               /* ready connections when the window closed */
    long rss_kb;                      /* server VmRSS when the window closed */
    bench_hist lat;                   /* send -> receipt (broadcast) or ack (chat) */
    bench_hist lat_cross;             /* send -> receipt on the other node */
} timed_state;

static timed_state ts;

/* Reads a decimal number at *p; 0 if none. */
static uint64_t read_u64(const char **p, const char *end)
{
    uint64_t v = 0;
    while (*p < end && **p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

/* Parses ["chat message","t:s:q:u",id...]; 1 if it is one of ours. */
static int parse_msg(const char *json, size_t len, bench_msg *m)
{
    static const char pre[] = "[\"chat message\",\"";
    const char *p = json, *end = json + len;
    if (len < sizeof pre + 8 || memcmp(p, pre, sizeof pre - 1) != 0)
        return 0;
    p += sizeof pre - 1;
    m->tag = *p++;
    uint64_t *f[3] = {&m->sender, &m->seq, &m->t_us};
    for (int i = 0; i < 3; i++) {
        if (p >= end || *p++ != ':')
            return 0;
        *f[i] = read_u64(&p, end);
    }
    if (p + 1 >= end || p[0] != '"' || p[1] != ',')
        return 0;
    p += 2;
    m->id = read_u64(&p, end);
    return 1;
}

/* Sends one 'chat message' from c; ack_id 0 asks for no ack. */
static int send_msg(bench_conn *c, char tag, uint64_t seq, uint64_t ack_id)
{
    char pkt[192];
    uint64_t now = bench_now_us();
    char ack[24] = "";
    if (ack_id)
        snprintf(ack, sizeof ack, "%" PRIu64, ack_id);
    int n = snprintf(pkt, sizeof pkt,
                     "2%s[\"chat message\",\"%c:%u:%" PRIu64 ":%" PRIu64 "\",\"%" PRIx64
                     "-%c%u-%" PRIu64 "\"]",
                     ack, tag, c->index, seq, now, ts.run_id, tag, c->index, seq);
    /* The "4" of an Engine.IO message goes in front of the packet. */
    char eio[200];
    eio[0] = '4';
    memcpy(eio + 1, pkt, (size_t)n);
    if (bench_send(c, eio, (size_t)n + 1) < 0)
        return -1;
    ts.sent++;
    if (now >= ts.t_start && now < ts.t_end && ts.sending)
        ts.sent_window++;
    return 0;
}

/* bench_run condition: every connection is ready or failed. */
static int all_connected(void *arg)
{
    (void)arg;
    return bench.nready + bench.nfailed >= bench.open_upto;
}

/* Appends the fields every scenario reports. */
static void json_common(sio__buf *j, const char *name, const bench_opts *o)
{
    sio__buf_appendf(j,
                     "{\"scenario\":\"%s\",\"label\":\"%s\",\"n\":%u,"
                     "\"connected\":%u,\"failed\":%u,\"dropped\":%u,\"error\":\"",
                     name, o->label, o->n, bench.nready, bench.nfailed, bench.ndropped);
    for (const char *p = bench.last_error; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            sio__buf_append_byte(j, *p);
    sio__buf_append_str(j, "\"");
}

/* Prints the JSON line and frees it. */
static void json_emit(sio__buf *j)
{
    sio__buf_append_str(j, "}\n");
    fputs(sio__buf_cstr(j), stdout);
    fflush(stdout);
    sio__buf_free(j);
}

/* Milliseconds from a quantile of h. */
static double q_ms(const bench_hist *h, double q)
{
    return bench_hist_quantile(h, q) / 1000.0;
}

void bench_opts_init(bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->url = "http://127.0.0.1:3000";
    o->n = 1000;
    o->senders = 1;
    o->duration = 5;
    o->warmup = 1;
    o->idle = 2;
    o->rows = 1000;
    o->fill = 1;
    o->sources = 8;
    o->concurrency = 256;
    o->window = 64;
    o->timeout = 60;
    o->label = "";
}

/* Connects o->n sockets; 0 if at least one is ready. */
static int connect_all(const bench_opts *o, uint32_t n)
{
    bench_open(n);
    bench_run(all_connected, NULL, (uint64_t)(o->timeout * 1000));
    if (bench.nready == 0) {
        fprintf(stderr, "sioc-bench: no connection succeeded (%s)\n", bench.last_error);
        return -1;
    }
    return 0;
}

int bench_connect(const bench_opts *o)
{
    int rc = bench_init(o->url, o->url2, o->n, o->sources, o->concurrency);
    if (rc < 0)
        return rc;
    long rss0 = o->pid ? bench_proc_status_kb(o->pid, "VmRSS") : -1;
    long long cpu0 = o->pid ? bench_proc_cpu_us(o->pid) : -1;
    uint64_t t0 = bench_now_us();
    bench_open(o->n);
    bench_run(all_connected, NULL, (uint64_t)(o->timeout * 1000));
    double secs = (double)(bench_now_us() - t0) / 1e6;
    bench_run(NULL, NULL, (uint64_t)(o->idle * 1000)); /* idle: let it settle */
    long rss1 = o->pid ? bench_proc_status_kb(o->pid, "VmRSS") : -1;
    long long cpu1 = o->pid ? bench_proc_cpu_us(o->pid) : -1;
    sio__buf j;
    sio__buf_init(&j, 0);
    json_common(&j, "connect", o);
    sio__buf_appendf(&j,
                     ",\"seconds\":%.3f,\"connect_rate\":%.1f,"
                     "\"handshake_p50_ms\":%.3f,\"handshake_p99_ms\":%.3f,"
                     "\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"kb_per_conn\":%.3f,"
                     "\"server_cpu_ms\":%.1f",
                     secs, secs > 0 ? bench.nready / secs : 0.0, q_ms(&bench.handshake, 0.5),
                     q_ms(&bench.handshake, 0.99), rss0, rss1,
                     bench.nready && rss0 >= 0 ? (double)(rss1 - rss0) / bench.nready : -1.0,
                     cpu0 >= 0 ? (double)(cpu1 - cpu0) / 1000.0 : -1.0);
    bench_close_all();
    json_emit(&j);
    return bench.nready == o->n ? 0 : 1;
}

/* ------------------------------------------------------------ timed phase */

/* CPU of a process in us, -1 when there is none or it cannot be read. */
static long long cpu_of(int pid)
{
    return pid ? bench_proc_cpu_us(pid) : -1;
}

/* Reads the servers' and Redis's CPU; *sum is both servers' (-1 when a
 * named one cannot be read). */
static void read_cpus(long long node[2], long long *redis, long long *sum)
{
    node[0] = cpu_of(ts.o->pid);
    node[1] = cpu_of(ts.o->pid2);
    *redis = ts.o->redis_pid ? bench_proc_runtime_us(ts.o->redis_pid) : -1;
    *sum = node[0] < 0 || (ts.o->pid2 && node[1] < 0) ? -1 : node[0] + (node[1] > 0 ? node[1] : 0);
}

/* Moves the phase on at the window's edges; called from the tick timer. */
static void timed_phases(uint64_t now)
{
    if (now >= ts.t_start && !ts.started) {
        ts.started = 1;
        read_cpus(ts.node_t0, &ts.redis0, &ts.cpu0);
        ts.self0 = bench_self_cpu_us();
    }
    if (now >= ts.t_end && !ts.measured) {
        ts.measured = 1;
        ts.sending = 0;
        read_cpus(ts.node_t1, &ts.redis1, &ts.cpu1);
        ts.self1 = bench_self_cpu_us();
        ts.receivers = bench.nready - bench.ndropped;
        ts.rss_kb = ts.o->pid ? bench_proc_status_kb(ts.o->pid, "VmRSS") : -1;
    }
}

/* Counts one receipt on c of a message of ours; 1 if it came from a
 * sender on the other node. */
static int timed_receipt(const bench_conn *c, const bench_msg *m, uint64_t now)
{
    int cross = m->sender < bench.nconns &&
                bench_server_of(c->index) != bench_server_of((uint32_t)m->sender);
    if (now >= ts.t_start && now < ts.t_end) {
        ts.recv_window++;
        ts.cross_window += (uint64_t)cross;
    }
    if (m->t_us >= ts.t_start && m->t_us < ts.t_end)
        ts.delivered_window++;
    return cross;
}

/* Sets up the window and run id; connections must be ready. */
static void timed_begin(const bench_opts *o)
{
    memset(&ts, 0, sizeof ts);
    ts.o = o;
    ts.run_id = ((uint64_t)getpid() << 32) ^ uv_hrtime();
    ts.t_send = bench_now_us();
    ts.t_start = ts.t_send + (uint64_t)(o->warmup * 1e6);
    ts.t_end = ts.t_start + (uint64_t)(o->duration * 1e6);
    ts.sending = 1;
}

/* CPU between two readings per item, in microseconds; -1 if unknown. */
static double per(long long before, long long after, double count)
{
    if (before < 0 || after < 0 || count <= 0)
        return -1;
    return (double)(after - before) / count;
}

/* Server CPU (both nodes of a cluster) per receipt in the window, in us. */
static double cpu_per(uint64_t count)
{
    return per(ts.cpu0, ts.cpu1, (double)count);
}

/* Bench CPU over the window, in percent of one core. */
static double self_pct(void)
{
    return (double)(ts.self1 - ts.self0) / (ts.o->duration * 1e6) * 100.0;
}

/* -------------------------------------------------------------- broadcast */

/* Per-sender closed-loop state: the message in flight, receipts of it. */
typedef struct bc_sender {
    uint64_t seq;     /* in-flight message (0 before the first) */
    uint64_t got;     /* receipts of it so far */
    uint64_t sent_at; /* when it was sent, to give up on lost ones */
} bc_sender;

static bc_sender *bc; /* by connection index; only senders' entries move */
static uv_timer_t bc_timer;

/* The connection of sender number k: the first connections (split between
 * the nodes of a cluster), or with --one-way every other one from 0 (all on
 * the first node). */
static uint32_t sender_conn(const bench_opts *o, uint32_t k)
{
    return o->one_way && o->url2 ? 2 * k : k;
}

/* Sends the next closed-loop message of the sender on connection i. */
static void bc_next(uint32_t i)
{
    bench_conn *c = bench.conns[i];
    if (!ts.sending || !c || c->state != BENCH_READY)
        return;
    bc[i].seq++;
    bc[i].got = 0;
    bc[i].sent_at = bench_now_us();
    send_msg(c, 'b', bc[i].seq, 0);
}

/* A receipt: latency, counts, and the closed loop's next send. */
static void bc_event(bench_conn *c, const char *json, size_t len)
{
    bench_msg m;
    if (!ts.sending && !ts.measured)
        return; /* not started yet */
    if (!parse_msg(json, len, &m) || m.tag != 'b')
        return;
    uint64_t now = bench_now_us();
    int cross = timed_receipt(c, &m, now);
    if (m.t_us >= ts.t_start && m.t_us < ts.t_end) {
        bench_hist_record(&ts.lat, now - m.t_us);
        if (cross)
            bench_hist_record(&ts.lat_cross, now - m.t_us);
    }
    if (ts.o->rate == 0 && m.sender < bench.nconns && bc[m.sender].seq == m.seq &&
        ++bc[m.sender].got >= bench.nready - bench.ndropped)
        bc_next((uint32_t)m.sender);
}

/* Open loop: sends what is due at the offered rate, round-robin. */
static void bc_open_loop(uint64_t now)
{
    double msg_rate = ts.o->rate / (double)(bench.nready ? bench.nready : 1);
    uint64_t due = (uint64_t)((double)(now - ts.t_send) * msg_rate / 1e6);
    for (int k = 0; ts.sent < due && k < 10000; k++) {
        uint32_t i = sender_conn(ts.o, (uint32_t)(ts.sent % ts.o->senders));
        if (!bench.conns[i] || bench.conns[i]->state != BENCH_READY ||
            send_msg(bench.conns[i], 'b', ts.sent + 1, 0) < 0)
            ts.sent++; /* a dead sender's share is skipped, not retried */
    }
}

/* Every millisecond: open-loop sends, lost-message timeouts, phases. */
static void bc_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = bench_now_us();
    if (ts.sending && ts.o->rate > 0)
        bc_open_loop(now);
    if (ts.sending && ts.o->rate == 0)
        for (uint32_t k = 0; k < ts.o->senders; k++)
            if (now - bc[sender_conn(ts.o, k)].sent_at > 2000000) /* lost: move on */
                bc_next(sender_conn(ts.o, k));
    timed_phases(now);
}

/* bench_run condition: the measured window has closed. */
static int timed_window_over(void *arg)
{
    (void)arg;
    return ts.measured;
}

/* bench_run condition: every receiver got every message of the window. */
static int bc_drained(void *arg)
{
    (void)arg;
    return ts.delivered_window >= ts.sent_window * ts.receivers;
}

/* The cluster figures of the broadcast JSON line (--url2). CPU per
 * message divides by the messages sent in the window: with two nodes each
 * of them crossed to the other node once. */
static void bc_report_cluster(sio__buf *j, const bench_opts *o)
{
    double msgs = (double)ts.sent_window;
    double recv = per(ts.node_t0[1], ts.node_t1[1], msgs), redis = per(ts.redis0, ts.redis1, msgs);
    sio__buf_appendf(j,
                     ",\"one_way\":%d,\"cross_deliveries_per_s\":%.1f,"
                     "\"cross_p50_ms\":%.3f,\"cross_p99_ms\":%.3f,"
                     "\"node_cpu_us_per_msg\":[%.3f,%.3f],\"redis_cpu_us_per_msg\":%.3f,"
                     "\"redis_cpu_pct\":%.1f,\"cross_msg_cost_us\":%.3f",
                     o->one_way, ts.cross_window / o->duration, q_ms(&ts.lat_cross, 0.5),
                     q_ms(&ts.lat_cross, 0.99), per(ts.node_t0[0], ts.node_t1[0], msgs), recv,
                     redis,
                     redis >= 0 ? (double)(ts.redis1 - ts.redis0) / (o->duration * 1e4) : -1.0,
                     o->one_way && recv >= 0 && redis >= 0 ? recv + redis : -1.0);
}

/* Prints the broadcast JSON line. */
static void bc_report(const bench_opts *o)
{
    double expected = (double)ts.sent_window * ts.receivers;
    sio__buf j;
    sio__buf_init(&j, 0);
    json_common(&j, "broadcast", o);
    sio__buf_appendf(&j,
                     ",\"senders\":%u,\"offered_rate\":%.0f,\"duration\":%.2f,"
                     "\"msgs_per_s\":%.1f,\"deliveries_per_s\":%.1f,"
                     "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
                     "\"loss\":%.6f,\"server_cpu_us_per_delivery\":%.3f,\"bench_cpu_pct\":%.1f,"
                     "\"server_rss_kb\":%ld",
                     o->senders, o->rate, o->duration, ts.sent_window / o->duration,
                     ts.recv_window / o->duration, q_ms(&ts.lat, 0.5), q_ms(&ts.lat, 0.99),
                     q_ms(&ts.lat, 0.999), ts.lat.max / 1000.0,
                     expected > 0 ? 1.0 - (double)ts.delivered_window / expected : 0.0,
                     cpu_per(ts.recv_window), self_pct(), ts.rss_kb);
    if (o->url2)
        bc_report_cluster(&j, o);
    json_emit(&j);
}

int bench_broadcast(const bench_opts *o)
{
    int rc = bench_init(o->url, o->url2, o->n, o->sources, o->concurrency);
    if (rc < 0)
        return rc;
    if (sender_conn(o, o->senders - 1) >= o->n) {
        fprintf(stderr, "sioc-bench: more senders than connections%s\n",
                o->one_way && o->url2 ? " on the first node" : "");
        return SIO_EINVAL;
    }
    bench.hooks.on_event = bc_event;
    bc = sio__calloc(o->n, sizeof *bc);
    if (!bc || connect_all(o, o->n) < 0)
        return 1;
    timed_begin(o);
    uv_timer_init(bench.loop, &bc_timer);
    uv_timer_start(&bc_timer, bc_tick, 1, 1);
    if (o->rate == 0)
        for (uint32_t k = 0; k < o->senders; k++)
            bc_next(sender_conn(o, k));
    bench_run(timed_window_over, NULL, (uint64_t)((o->warmup + o->duration) * 1000) + 1000);
    bench_run(bc_drained, NULL, 5000);
    uv_timer_stop(&bc_timer);
    uv_close((uv_handle_t *)&bc_timer, NULL);
    bc_report(o);
    int failed = bench.nfailed || bench.ndropped;
    bench_close_all();
    sio__free(bc);
    return failed;
}

/* ------------------------------------------------------------------- chat */

static uv_timer_t chat_timer;

/* Sends sender c's next message with an ack id equal to its sequence. */
static void chat_next(bench_conn *c)
{
    if (!ts.sending || c->state != BENCH_READY)
        return;
    c->user++;
    c->user2 = bench_now_us();
    send_msg(c, 'c', c->user, c->user);
}

/* A sender's ack: its latency, then the sender's next message. */
static void chat_ack(bench_conn *c, uint64_t id, const char *json, size_t len)
{
    (void)json;
    (void)len;
    if (c->index >= ts.o->senders || id != c->user)
        return;
    uint64_t sent_at = c->user2;
    if (sent_at >= ts.t_start && sent_at < ts.t_end) {
        ts.acked_window++;
        bench_hist_record(&ts.lat, bench_now_us() - sent_at);
    }
    chat_next(c);
}

/* A receipt of a chat message on any connection. */
static void chat_event(bench_conn *c, const char *json, size_t len)
{
    bench_msg m;
    if ((ts.sending || ts.measured) && parse_msg(json, len, &m) && m.tag == 'c')
        timed_receipt(c, &m, bench_now_us());
}

/* Every millisecond: moves the phases on. */
static void chat_tick(uv_timer_t *t)
{
    (void)t;
    timed_phases(bench_now_us());
}

/* bench_run condition: every message sent in the window was acked. */
static int chat_drained(void *arg)
{
    (void)arg;
    return ts.acked_window >= ts.sent_window;
}

/* Prints the chat JSON line. */
static void chat_report(const bench_opts *o)
{
    sio__buf j;
    sio__buf_init(&j, 0);
    json_common(&j, "chat", o);
    sio__buf_appendf(&j,
                     ",\"senders\":%u,\"duration\":%.2f,\"acked_per_s\":%.1f,"
                     "\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"ack_p999_ms\":%.3f,"
                     "\"deliveries_per_s\":%.1f,\"unacked\":%" PRIu64 ","
                     "\"server_cpu_us_per_msg\":%.3f,\"bench_cpu_pct\":%.1f,\"server_rss_kb\":%ld",
                     o->senders, o->duration, ts.acked_window / o->duration, q_ms(&ts.lat, 0.5),
                     q_ms(&ts.lat, 0.99), q_ms(&ts.lat, 0.999), ts.recv_window / o->duration,
                     ts.sent_window - ts.acked_window, cpu_per(ts.acked_window), self_pct(),
                     ts.rss_kb);
    json_emit(&j);
}

int bench_chat(const bench_opts *o)
{
    bench_opts eff = *o;
    if (eff.n < eff.senders)
        eff.n = eff.senders; /* senders are the first connections */
    int rc = bench_init(eff.url, eff.url2, eff.n, eff.sources, eff.concurrency);
    if (rc < 0)
        return rc;
    bench.hooks.on_event = chat_event;
    bench.hooks.on_ack = chat_ack;
    if (connect_all(&eff, eff.n) < 0)
        return 1;
    timed_begin(&eff);
    uv_timer_init(bench.loop, &chat_timer);
    uv_timer_start(&chat_timer, chat_tick, 1, 1);
    for (uint32_t i = 0; i < eff.senders && i < eff.n; i++)
        if (bench.conns[i])
            chat_next(bench.conns[i]);
    bench_run(timed_window_over, NULL, (uint64_t)((eff.warmup + eff.duration) * 1000) + 1000);
    bench_run(chat_drained, NULL, 10000);
    uv_timer_stop(&chat_timer);
    uv_close((uv_handle_t *)&chat_timer, NULL);
    chat_report(&eff);
    int failed = bench.nfailed || bench.ndropped || ts.acked_window < ts.sent_window;
    bench_close_all();
    return failed;
}

/* ----------------------------------------------------------------- replay */

/* State of the replay scenario. */
typedef struct replay_state {
    const bench_opts *o; /* options */
    uint64_t filled;     /* filler messages acked */
    uint64_t fill_sent;  /* filler messages sent */
    uint64_t min_id;     /* smallest row id the filler saw broadcast */
    uint64_t seen;       /* filler broadcasts seen */
    uint64_t base;       /* serverOffset the replayers present */
    uint64_t t0;         /* replayers started connecting */
    uint64_t t_last;     /* the last replayer caught up */
    uint32_t complete;   /* replayers that got every row */
    uint64_t received;   /* rows received by all replayers */
    bench_hist done_at;  /* per-replayer catch-up time */
} replay_state;

static replay_state rp;

/* Keeps the filler's window of unacked messages full. */
static void fill_more(bench_conn *c)
{
    while (rp.fill_sent < rp.o->rows && rp.fill_sent - rp.filled < rp.o->window) {
        rp.fill_sent++;
        if (send_msg(c, 'r', rp.fill_sent, rp.fill_sent) < 0)
            return;
    }
}

/* The filler's ack: one more row stored; keep the window full. */
static void replay_ack(bench_conn *c, uint64_t id, const char *json, size_t len)
{
    (void)id;
    (void)json;
    (void)len;
    if (c->index != 0)
        return;
    rp.filled++;
    fill_more(c);
}

/* A row: the filler learns ids, a replayer counts towards caught-up. */
static void replay_event(bench_conn *c, const char *json, size_t len)
{
    bench_msg m;
    if (!parse_msg(json, len, &m) || m.id == 0)
        return;
    if (c->index == 0) { /* the filler's own broadcasts tell the row ids */
        if (m.tag == 'r' && (rp.min_id == 0 || m.id < rp.min_id))
            rp.min_id = m.id;
        rp.seen++;
        return;
    }
    if (m.id <= rp.base)
        return;
    rp.received++;
    if (++c->user == rp.o->rows) {
        rp.complete++;
        rp.t_last = bench_now_us();
        bench_hist_record(&rp.done_at, rp.t_last - rp.t0);
    }
}

/* bench_run condition: the filler's rows are stored and their ids known. */
static int fill_done(void *arg)
{
    (void)arg;
    return rp.filled >= rp.o->rows && rp.seen >= rp.o->rows;
}

/* bench_run condition: every replayer caught up or failed. */
static int replay_done(void *arg)
{
    (void)arg;
    return rp.complete + bench.nfailed + bench.ndropped >= rp.o->n;
}

/* Stores o->rows messages through connection 0 and sets rp.base. */
static int replay_fill(const bench_opts *o)
{
    if (connect_all(o, 1) < 0)
        return -1;
    timed_begin(o);
    fill_more(bench.conns[0]);
    if (!bench_run(fill_done, NULL, (uint64_t)(o->timeout * 1000))) {
        fprintf(stderr, "sioc-bench: filling timed out (%" PRIu64 " of %u acked)\n", rp.filled,
                o->rows);
        return -1;
    }
    rp.base = rp.min_id - 1;
    bench_conn_close(bench.conns[0]);
    return 0;
}

/* Prints the replay JSON line. */
static void replay_report(const bench_opts *o, long rss0, long hwm)
{
    sio__buf j;
    sio__buf_init(&j, 0);
    json_common(&j, "replay", o);
    sio__buf_appendf(&j,
                     ",\"rows\":%u,\"server_offset\":%" PRIu64 ",\"complete\":%u,"
                     "\"rows_received\":%" PRIu64 ",\"seconds\":%.3f,"
                     "\"client_p50_ms\":%.1f,\"client_p99_ms\":%.1f,"
                     "\"rss_before_kb\":%ld,\"peak_rss_kb\":%ld",
                     o->rows, rp.base, rp.complete, rp.received,
                     rp.t_last > rp.t0 ? (double)(rp.t_last - rp.t0) / 1e6 : -1.0,
                     q_ms(&rp.done_at, 0.5), q_ms(&rp.done_at, 0.99), rss0, hwm);
    json_emit(&j);
}

int bench_replay(const bench_opts *o)
{
    /* Connection 0 fills; 1..n replay, all at once unless capped. */
    int rc = bench_init(o->url, o->url2, o->n + 1, o->sources, o->n + 1);
    if (rc < 0)
        return rc;
    memset(&rp, 0, sizeof rp);
    rp.o = o;
    bench.hooks.on_event = replay_event;
    bench.hooks.on_ack = replay_ack;
    rp.base = o->offset;
    if (o->fill && o->rows > 0 && replay_fill(o) < 0)
        return 1;
    long rss0 = o->pid ? bench_proc_status_kb(o->pid, "VmRSS") : -1;
    snprintf(bench.auth, sizeof bench.auth, "{\"serverOffset\":%" PRIu64 "}", rp.base);
    uint32_t filler = bench.nready;
    rp.t0 = bench_now_us();
    bench.next_start = 1;
    bench_open(o->n + 1);
    bench_run(replay_done, NULL, (uint64_t)(o->timeout * 1000));
    long hwm = o->pid ? bench_proc_status_kb(o->pid, "VmHWM") : -1;
    bench.nready -= filler; /* the filler is not a replayer */
    replay_report(o, rss0, hwm);
    bench_close_all();
    return rp.complete == o->n ? 0 : 1;
}
