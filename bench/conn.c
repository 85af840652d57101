/* Client connections of sioc-bench: TCP, HTTP upgrade, WebSocket, Engine.IO
 * and Socket.IO, driven by one libuv loop.
 *
 * A connection walks TCP -> HTTP -> EIO_OPEN -> SIO_CONNECT -> READY (see
 * enum bench_state). Each connection binds a source address from
 * 127.0.0.1..127.0.0.N before connecting, with IP_BIND_ADDRESS_NO_PORT so
 * that the port is picked at connect time per 4-tuple: every source
 * address then brings its own ~28k ephemeral ports towards the target.
 * With a second target (a cluster's other node) even connections go to the
 * first and odd ones to the second, so the senders, which are the first
 * connections, are split between the nodes too.
 *
 * Reads go to one shared buffer; only an incomplete frame is copied into
 * the connection (sio__buf in). Writes are queued in sio__buf out and
 * flushed by the prepare handle with uv_try_write, falling back to one
 * uv_write of the remainder; while that write is in flight new output
 * waits in out, so bytes never reorder. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "core/alloc.h"
#include "sioc.h"
#include "ws/ws_frame.h"

bench_ctx bench;

/* Largest frame accepted from a server; also bounds a connection's input. */
#define BENCH_MAX_FRAME (16u << 20)
/* Size of the read buffer all connections share. */
#define BENCH_READ_BUF (256u << 10)

/* A uv_write of the bytes uv_try_write could not send right away. */
typedef struct bench_write {
    uv_write_t req; /* the libuv request; req.data is unused */
    bench_conn *c;  /* the connection writing */
    char data[];    /* the bytes, owned by this request */
} bench_write;

static char read_buf[BENCH_READ_BUF];

static void conn_close(bench_conn *c, const char *why);

uint64_t bench_now_us(void)
{
    return (uv_hrtime() - bench.t0_ns) / 1000;
}

/* Remembers the first error for the JSON report. */
static void note_error(const char *what, const char *detail)
{
    if (bench.last_error[0] == '\0')
        snprintf(bench.last_error, sizeof bench.last_error, "%s: %s", what, detail);
}

/* Accepts http://, ws:// or a bare host:port whose host is loopback. */
static int url_parse(const char *url, struct sockaddr_in *sa)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "ws://", 5) == 0)
        p += 5;
    char host[64];
    unsigned port = 0;
    if (sscanf(p, "%63[^:/]:%u", host, &port) != 2 || port == 0 || port > 65535)
        return SIO_EINVAL;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return SIO_EINVAL;
    if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127)
        return SIO_EINVAL; /* loopback only: this tool never targets others */
    return 0;
}

int bench_server_of(uint32_t index)
{
    return bench.ntargets == 2 ? (int)(index & 1) : 0;
}

/* The address connection number index connects to. */
static const struct sockaddr_in *bench_target_of(uint32_t index)
{
    return bench_server_of(index) ? &bench.target2 : &bench.target;
}

/* Marks c for the next flush. */
static void mark_dirty(bench_conn *c)
{
    if (!c->dirty && bench.ndirty < bench.nconns) {
        c->dirty = 1;
        bench.dirty[bench.ndirty++] = c;
    }
}

/* A fallback write finished: send what queued up meanwhile. */
static void write_cb(uv_write_t *req, int status)
{
    bench_write *w = (bench_write *)req;
    bench_conn *c = w->c;
    sio__free(w);
    c->writing = 0;
    if (status < 0) {
        if (status != UV_ECANCELED)
            conn_close(c, uv_strerror(status));
        return;
    }
    if (c->out.len > 0)
        mark_dirty(c);
}

/* Sends c's queued output: uv_try_write, then uv_write of the rest. */
static void conn_flush(bench_conn *c)
{
    if (c->writing || c->out.len == 0 || c->state >= BENCH_CLOSING)
        return;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        conn_close(c, uv_strerror(n));
        return;
    }
    size_t rest = c->out.len - (size_t)n;
    if (rest > 0) {
        bench_write *w = sio__malloc(sizeof *w + rest);
        if (!w) {
            conn_close(c, "out of memory");
            return;
        }
        w->c = c;
        memcpy(w->data, c->out.data + n, rest);
        uv_buf_t wb = uv_buf_init(w->data, (unsigned)rest);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &wb, 1, write_cb);
        if (rc < 0) {
            sio__free(w);
            conn_close(c, uv_strerror(rc));
            return;
        }
        c->writing = 1;
    }
    c->out.len = 0;
}

/* Runs before every poll: one flush per dirty connection. */
static void flush_cb(uv_prepare_t *h)
{
    (void)h;
    /* conn_flush may close a connection but never adds to the list. */
    for (uint32_t i = 0; i < bench.ndirty; i++) {
        bench_conn *c = bench.dirty[i];
        c->dirty = 0;
        conn_flush(c);
    }
    bench.ndirty = 0;
}

/* Appends one masked client frame (FIN set) to c's output, masked with the
 * next key of c's generator (5.3), and marks c for the next flush. */
static int send_frame(bench_conn *c, unsigned opcode, const void *payload, size_t len)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 17;
    c->rng ^= c->rng << 5;
    unsigned char key[4], hdr[SIO_WS_HDR_MAX];
    memcpy(key, &c->rng, 4);
    size_t hlen = sio__ws_hdr_encode(hdr, SIO_WS_FIN | opcode, len, key);
    int rc = sio__buf_reserve(&c->out, hlen + len);
    if (rc < 0)
        return rc;
    sio__buf_append(&c->out, hdr, hlen);
    size_t at = c->out.len;
    sio__buf_append(&c->out, payload, len);
    sio__ws_mask((unsigned char *)c->out.data + at, len, key);
    mark_dirty(c);
    return 0;
}

int bench_send(bench_conn *c, const char *text, size_t len)
{
    if (c->state < BENCH_EIO_OPEN || c->state >= BENCH_CLOSING)
        return SIO_ECLOSED;
    return send_frame(c, SIO_WS_OP_TEXT, text, len);
}

/* True while bench_open's loop runs: it starts the next ones itself. */
static int in_open;

/* A connect finished (ready or failed): start the next ones. */
static void connect_done(void)
{
    bench.inflight--;
    if (!in_open)
        bench_open(bench.open_upto);
}

/* The socket is gone: release the buffers, tell the scenario. */
static void close_cb(uv_handle_t *h)
{
    bench_conn *c = h->data;
    c->state = BENCH_CLOSED;
    bench.nclosed++;
    sio__buf_free(&c->in);
    sio__buf_free(&c->out);
    if (bench.hooks.on_close)
        bench.hooks.on_close(c);
}

/* Closes c once, counting it as a failed connect or a drop. */
static void conn_close(bench_conn *c, const char *why)
{
    if (c->state >= BENCH_CLOSING)
        return;
    if (c->state < BENCH_READY) {
        bench.nfailed++;
        note_error("connect", why);
    } else if (!bench.closing_all && !c->ours) {
        bench.ndropped++;
        note_error("dropped", why);
    }
    int was_connecting = c->state < BENCH_READY && c->state != BENCH_IDLE;
    c->state = BENCH_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, close_cb);
    if (was_connecting)
        connect_done();
}

/* Socket.IO CONNECT acknowledged: the connection is usable. */
static void conn_ready(bench_conn *c)
{
    c->state = BENCH_READY;
    bench.nready++;
    bench_hist_record(&bench.handshake, bench_now_us() - c->t_start_us);
    connect_done();
    if (bench.hooks.on_ready)
        bench.hooks.on_ready(c);
}

/* Parses the decimal number at *p (advancing it); 0 if there is none. */
static uint64_t parse_u64(const char **p, const char *end)
{
    uint64_t v = 0;
    while (*p < end && **p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

/* One Socket.IO packet (the Engine.IO message payload after '4'). */
static void on_sio(bench_conn *c, const char *p, const char *end)
{
    if (p >= end)
        return;
    char type = *p++;
    switch (type) {
    case '0': /* CONNECT answered with {"sid":...} */
        if (c->state == BENCH_SIO_CONNECT)
            conn_ready(c);
        break;
    case '1': /* DISCONNECT from the server */
        conn_close(c, "server disconnect");
        break;
    case '2': /* EVENT: skip an ack id the server may ask for */
        parse_u64(&p, end);
        if (bench.hooks.on_event && c->state == BENCH_READY)
            bench.hooks.on_event(c, p, (size_t)(end - p));
        break;
    case '3': { /* ACK to one of our events */
        uint64_t id = parse_u64(&p, end);
        if (bench.hooks.on_ack && c->state == BENCH_READY)
            bench.hooks.on_ack(c, id, p, (size_t)(end - p));
        break;
    }
    case '4': { /* CONNECT_ERROR: keep the server's message for the report */
        char msg[96];
        snprintf(msg, sizeof msg, "%.*s", (int)(end - p), p);
        conn_close(c, msg);
        break;
    }
    default:
        break;
    }
}

/* One Engine.IO packet (a WebSocket text message). */
static void on_eio(bench_conn *c, const char *p, size_t len)
{
    if (len == 0)
        return;
    switch (p[0]) {
    case '0': /* open: connect to the main namespace with our auth */
        if (c->state == BENCH_EIO_OPEN) {
            char pkt[300];
            int n = snprintf(pkt, sizeof pkt, "40%s", bench.auth);
            c->state = BENCH_SIO_CONNECT;
            bench_send(c, pkt, (size_t)n);
        }
        break;
    case '1':
        conn_close(c, "engine close");
        break;
    case '2': /* ping: answer pong with the same probe data */
        if (len <= 64) {
            char pong[64];
            memcpy(pong, p, len);
            pong[0] = '3';
            bench_send(c, pong, len);
        }
        break;
    case '4':
        on_sio(c, p + 1, p + len);
        break;
    default: /* noop, upgrade packets: nothing to do over WebSocket */
        break;
    }
}

/* One WebSocket frame; SIO_EPROTO for what the bench does not handle. */
static int on_frame(bench_conn *c, int fin, unsigned opcode, uint8_t *payload, size_t len)
{
    if (!fin || opcode == SIO_WS_OP_CONT)
        return SIO_EPROTO; /* servers send Engine.IO packets unfragmented */
    switch (opcode) {
    case SIO_WS_OP_TEXT:
        on_eio(c, (const char *)payload, len);
        return 0;
    case SIO_WS_OP_CLOSE:
        conn_close(c, "websocket close");
        return 0;
    case SIO_WS_OP_PING:
        return send_frame(c, SIO_WS_OP_PONG, payload, len);
    default: /* pong, binary: Engine.IO over text only here */
        return 0;
    }
}

/* Takes one frame from p[0..len): the bytes it took (> 0), 0 when more are
 * needed, or SIO_EPROTO (reserved bits: no extension was negotiated; a
 * frame over BENCH_MAX_FRAME). A masked frame (servers must not mask) is
 * unmasked in place: it costs nothing to accept. */
static int64_t take_frame(bench_conn *c, uint8_t *p, size_t len)
{
    sio__ws_hdr h;
    int got = sio__ws_hdr_parse(p, len, &h);
    if (got >= SIO_WS_HDR_BASE && SIO_WS_HDR_RSV(&h))
        return SIO_EPROTO;
    if (got >= SIO_WS_HDR_LEN && h.len > BENCH_MAX_FRAME)
        return SIO_EPROTO;
    if (got < SIO_WS_HDR_WHOLE || len - h.size < h.len)
        return 0;
    uint8_t *payload = p + h.size;
    if (SIO_WS_HDR_MASKED(&h))
        sio__ws_mask(payload, (size_t)h.len, payload - 4);
    int rc = on_frame(c, SIO_WS_HDR_FIN(&h), SIO_WS_HDR_OPCODE(&h), payload, (size_t)h.len);
    return rc < 0 ? rc : (int64_t)(h.size + h.len);
}

/* The 101 response to the upgrade; returns bytes taken, 0 for more. */
static int64_t on_http(bench_conn *c, const uint8_t *p, size_t len)
{
    const char *s = (const char *)p;
    const char *end = memmem(s, len, "\r\n\r\n", 4);
    if (!end)
        return len > 8192 ? SIO_EPROTO : 0;
    if (len < 12 || memcmp(s, "HTTP/1.1 101", 12) != 0)
        return SIO_EPROTO;
    c->state = BENCH_EIO_OPEN;
    return (int64_t)(end + 4 - s);
}

/* Feeds bytes to c; returns bytes consumed or a negative error. */
static int64_t conn_feed(bench_conn *c, uint8_t *p, size_t len)
{
    size_t off = 0;
    while (off < len && c->state < BENCH_CLOSING) {
        int64_t r;
        if (c->state == BENCH_HTTP) {
            r = on_http(c, p + off, len - off);
        } else {
            r = take_frame(c, p + off, len - off);
        }
        if (r <= 0)
            return r < 0 ? r : (int64_t)off;
        off += (size_t)r;
    }
    return (int64_t)off;
}

/* Every read lands in the one shared buffer. */
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

/* Parses from the shared buffer, or from c->in when a frame was split. */
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bench_conn *c = s->data;
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "closed by server" : uv_strerror((int)nread));
        return;
    }
    uint8_t *data = (uint8_t *)buf->base;
    size_t len = (size_t)nread;
    if (c->in.len > 0) {
        if (sio__buf_append(&c->in, data, len) < 0) {
            conn_close(c, "input over limit");
            return;
        }
        data = (uint8_t *)c->in.data;
        len = c->in.len;
    }
    int64_t used = conn_feed(c, data, len);
    if (used < 0) {
        conn_close(c, "protocol error");
        return;
    }
    if (data == (uint8_t *)c->in.data) {
        sio__buf_consume(&c->in, (size_t)used);
        if (c->in.len == 0)
            sio__buf_free(&c->in);
    } else if ((size_t)used < len && c->state < BENCH_CLOSING) {
        if (sio__buf_append(&c->in, data + used, len - (size_t)used) < 0)
            conn_close(c, "input over limit");
    }
}

/* TCP is up: queue the WebSocket upgrade request and start reading. */
static void on_connect(uv_connect_t *req, int status)
{
    bench_conn *c = req->data;
    sio__free(req);
    if (c->state != BENCH_TCP)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->state = BENCH_HTTP;
    int port = ntohs(bench_target_of(c->index)->sin_port);
    int rc = sio__buf_appendf(&c->out,
                              "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                              "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n",
                              port);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc < 0) {
        conn_close(c, "cannot start");
        return;
    }
    mark_dirty(c);
}

/* Creates the socket bound to its source address, then connects. */
static int conn_start_tcp(bench_conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + c->index % (uint32_t)bench.nsources);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
        int err = uv_translate_sys_error(errno);
        close(fd);
        return err;
    }
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    uv_connect_t *req = sio__malloc(sizeof *req);
    if (!req)
        return UV_ENOMEM;
    req->data = c;
    rc = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)bench_target_of(c->index),
                        on_connect);
    if (rc < 0)
        sio__free(req);
    return rc;
}

/* Starts connection number i. */
static void conn_start(uint32_t i)
{
    bench_conn *c = sio__calloc(1, sizeof *c);
    if (!c) {
        bench.nfailed++;
        note_error("connect", "out of memory");
        return;
    }
    bench.conns[i] = c;
    c->index = i;
    c->rng = 0x9e3779b9u ^ (i * 2654435761u);
    sio__buf_init(&c->in, BENCH_MAX_FRAME + SIO_WS_HDR_MAX);
    sio__buf_init(&c->out, 0);
    c->t_start_us = bench_now_us();
    uv_tcp_init(bench.loop, &c->tcp);
    c->tcp.data = c;
    c->state = BENCH_TCP;
    bench.inflight++;
    int rc = conn_start_tcp(c);
    if (rc < 0)
        conn_close(c, uv_strerror(rc));
}

void bench_open(uint32_t upto)
{
    if (upto > bench.nconns)
        upto = bench.nconns;
    bench.open_upto = upto;
    in_open = 1; /* a synchronous failure must not recurse into us */
    while (bench.next_start < upto && bench.inflight < bench.concurrency)
        conn_start(bench.next_start++);
    in_open = 0;
}

void bench_conn_close(bench_conn *c)
{
    c->ours = 1;
    conn_close(c, "closed by bench");
}

int bench_init(const char *url, const char *url2, uint32_t n, int nsources, uint32_t concurrency)
{
    memset(&bench, 0, sizeof bench);
    if (!url || url_parse(url, &bench.target) < 0 || n == 0)
        return SIO_EINVAL;
    bench.ntargets = 1;
    if (url2) {
        if (url_parse(url2, &bench.target2) < 0)
            return SIO_EINVAL;
        bench.ntargets = 2;
    }
    bench.loop = uv_default_loop();
    bench.nsources = nsources > 0 && nsources <= 254 ? nsources : 1;
    bench.concurrency = concurrency > 0 ? concurrency : 1;
    bench.nconns = n;
    bench.conns = sio__calloc(n, sizeof *bench.conns);
    bench.dirty = sio__calloc(n, sizeof *bench.dirty);
    if (!bench.conns || !bench.dirty)
        return SIO_ENOMEM;
    /* Past any row: connecting must not trigger the chat's history replay. */
    strcpy(bench.auth, "{\"serverOffset\":9007199254740991}");
    bench.t0_ns = uv_hrtime();
    uv_prepare_init(bench.loop, &bench.flusher);
    uv_prepare_start(&bench.flusher, flush_cb);
    return 0;
}

/* State of one bench_run call, reached from its timer. */
typedef struct run_state {
    int (*done)(void *arg); /* the stop condition */
    void *arg;              /* its argument */
    uint64_t deadline_us;   /* when to give up */
    int finished;           /* done() returned true */
} run_state;

/* bench_run's timer: stops the loop when done or past the deadline. */
static void run_tick(uv_timer_t *t)
{
    run_state *rs = t->data;
    if (rs->done && rs->done(rs->arg)) {
        rs->finished = 1;
        uv_stop(bench.loop);
    } else if (bench_now_us() >= rs->deadline_us) {
        uv_stop(bench.loop);
    }
}

int bench_run(int (*done)(void *arg), void *arg, uint64_t timeout_ms)
{
    run_state rs = {done, arg, bench_now_us() + timeout_ms * 1000, 0};
    if (done && done(arg))
        return 1;
    uv_timer_t t;
    uv_timer_init(bench.loop, &t);
    t.data = &rs;
    uv_timer_start(&t, run_tick, 2, 2);
    uv_run(bench.loop, UV_RUN_DEFAULT);
    uv_timer_stop(&t);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(bench.loop, UV_RUN_NOWAIT); /* lets the timer's close finish */
    return rs.finished;
}

/* bench_run condition: every started connection has closed. */
static int all_closed(void *arg)
{
    (void)arg;
    uint32_t started = 0;
    for (uint32_t i = 0; i < bench.next_start; i++)
        started += bench.conns[i] != NULL;
    return bench.nclosed >= started;
}

void bench_close_all(void)
{
    bench.closing_all = 1;
    bench.open_upto = 0;
    for (uint32_t i = 0; i < bench.next_start; i++) {
        bench_conn *c = bench.conns[i];
        if (c && c->state < BENCH_CLOSING)
            conn_close(c, "bench done");
    }
    bench_run(all_closed, NULL, 5000);
    bench.closing_all = 0;
}

long bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}
