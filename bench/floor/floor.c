/* sioc-floor: the floor under the broadcast benchmark. A minimal C fan-out
 * server over WebSocket, for `make bench` to measure what this machine
 * costs per delivery with no protocol layers: the kernel's work and little
 * else.
 *
 * It speaks just enough for sioc-bench to believe it is talking to the
 * tutorial chat: it accepts the WebSocket upgrade of any request, sends a
 * canned Engine.IO open packet, answers a Socket.IO CONNECT with a canned
 * CONNECT, and for every "chat message" event it receives builds the frame
 * a Socket.IO server would send, 42["chat message",<msg>,<id>,"<id>"] (the
 * message, a row id and a recovery offset, as sioc-chat sends it), once,
 * and appends it to the output of every connection; an ack asked for is
 * answered with 43<ack>[]. No Engine.IO state, no heartbeat, no database,
 * no rooms, no limits but one: a connection with more than FLOOR_MAX_OUT
 * bytes unsent is dropped (a slow reader cannot take all memory).
 *
 * I/O: one thread, epoll (level-triggered) on Linux, non-blocking sockets.
 * Reads land in one shared buffer; only an incomplete request or frame is
 * copied into the connection. Writes are coalesced per loop iteration, as
 * a good C server does (Redis's pending writes): appending marks the
 * connection dirty, and after the iteration's events one write(2) per
 * dirty connection sends all it has; what the kernel did not take waits
 * for EPOLLOUT. Frames go through the library's frame codec
 * (src/ws/ws_frame.h) and the 101 through its handshake helper: the same
 * bytes as sioc-chat's, without its layers.
 *
 * Usage: sioc-floor [--port N] (0, the default, picks a free port); it
 * prints "listening on http://localhost:PORT" like the chat servers, and
 * exits 0 on SIGTERM or SIGINT. */
#define _GNU_SOURCE /* accept4, memmem */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "sioc.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"

/* Shared read buffer size. */
#define FLOOR_READ_BUF (256u << 10)
/* Largest upgrade request kept while it is incomplete. */
#define FLOOR_MAX_REQUEST 8192u
/* Largest frame accepted: Engine.IO's maxHttpBufferSize default (1e6). */
#define FLOOR_MAX_FRAME 1000000u
/* Unsent bytes past which a connection is dropped. */
#define FLOOR_MAX_OUT (64u << 20)
/* Events taken per epoll_wait. */
#define FLOOR_EVENTS 1024

/* Where a connection is. */
enum { F_HTTP, F_WS, F_CLOSED };

typedef struct fconn {
    int fd;          /* the socket; -1 once closed */
    uint8_t state;   /* F_HTTP, F_WS, F_CLOSED */
    uint8_t dirty;   /* on the dirty list */
    uint8_t pollout; /* EPOLLOUT is armed */
    uint8_t closing; /* close once the output is out (a close frame went) */
    uint32_t slot;   /* index in floor_s.conns */
    uint64_t sid;    /* a number for the canned ids */
    sio__buf in;     /* an incomplete request or frame, carried over */
    sio__buf out;    /* bytes not written yet */
} fconn;

/* The process's state. */
static struct {
    int ep;           /* epoll descriptor */
    int lfd;          /* listening socket */
    fconn **conns;    /* every open connection: the broadcast walks it */
    uint32_t nconns;  /* length of conns */
    uint32_t cap;     /* capacity of conns, dirty and dead: >= nconns + ndead */
    fconn **dirty;    /* connections with output to write this iteration */
    uint32_t ndirty;  /* length of dirty */
    fconn **dead;     /* closed this iteration, freed at its end */
    uint32_t ndead;   /* length of dead */
    uint64_t next_id; /* row ids of the broadcasts, and session numbers */
    sio__buf frame;   /* the broadcast frame being built (reused) */
    volatile sig_atomic_t stop;
} floor_s;

static char read_buf[FLOOR_READ_BUF];

/* Canned Engine.IO open packet: no upgrades, a heartbeat nobody runs. */
static const char EIO_OPEN[] = "0{\"sid\":\"floor\",\"upgrades\":[],\"pingInterval\":25000,"
                               "\"pingTimeout\":20000,\"maxPayload\":1000000}";

static void conn_close(fconn *c);

/* Remembers c for the end-of-iteration write. */
static void mark_dirty(fconn *c)
{
    if (c->dirty || c->state == F_CLOSED)
        return;
    c->dirty = 1;
    floor_s.dirty[floor_s.ndirty++] = c;
}

/* Appends one unmasked server frame to c's output. */
static int send_frame(fconn *c, unsigned opcode, const void *p, size_t n)
{
    unsigned char hdr[SIO_WS_FRAME_HEADER_MAX];
    size_t h = sio__ws_hdr_encode(hdr, SIO_WS_FIN | opcode, n, NULL);
    if (sio__buf_reserve(&c->out, h + n) < 0)
        return -1;
    sio__buf_append(&c->out, hdr, h);
    sio__buf_append(&c->out, p, n);
    mark_dirty(c);
    return 0;
}

/* Appends the same bytes to every WebSocket connection: the fan-out. */
static void broadcast(const char *p, size_t n)
{
    for (uint32_t i = 0; i < floor_s.nconns; i++) {
        fconn *c = floor_s.conns[i];
        if (c->state != F_WS)
            continue;
        if (c->out.len + n > FLOOR_MAX_OUT || sio__buf_append(&c->out, p, n) < 0) {
            conn_close(c); /* swaps the last one into slot i */
            i--;
            continue;
        }
        mark_dirty(c);
    }
}

/* Length of the JSON string at p (quotes included), 0 if it is not one. */
static size_t json_string_len(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return 0;
    for (const char *q = p + 1; q < end; q++) {
        if (*q == '\\')
            q++;
        else if (*q == '"')
            return (size_t)(q + 1 - p);
    }
    return 0;
}

/* A Socket.IO EVENT (after "42"): a chat message is broadcast, an ack id
 * answered. Anything else is ignored. */
static void on_event(fconn *c, const char *p, const char *end)
{
    static const char ev[] = "[\"chat message\",";
    const char *ack = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    size_t acklen = (size_t)(p - ack);
    if ((size_t)(end - p) < sizeof ev || memcmp(p, ev, sizeof ev - 1) != 0)
        return;
    p += sizeof ev - 1;
    size_t mlen = json_string_len(p, end);
    if (mlen == 0)
        return;
    uint64_t id = ++floor_s.next_id;
    sio__buf *f = &floor_s.frame;
    char payload[64];
    f->len = 0;
    /* Room for the header in front: the payload's size is known last. */
    if (sio__buf_reserve(f, SIO_WS_FRAME_HEADER_MAX + sizeof ev + mlen + 64) < 0)
        return;
    f->len = SIO_WS_FRAME_HEADER_MAX;
    sio__buf_append(f, "42", 2);
    sio__buf_append(f, ev, sizeof ev - 1);
    sio__buf_append(f, p, mlen);
    int k = snprintf(payload, sizeof payload, ",%llu,\"%llu\"]", (unsigned long long)id,
                     (unsigned long long)id);
    sio__buf_append(f, payload, (size_t)k);
    size_t plen = f->len - SIO_WS_FRAME_HEADER_MAX;
    unsigned char hdr[SIO_WS_FRAME_HEADER_MAX];
    size_t h = sio__ws_hdr_encode(hdr, SIO_WS_FIN | SIO_WS_OP_TEXT, plen, NULL);
    char *start = f->data + SIO_WS_FRAME_HEADER_MAX - h;
    memcpy(start, hdr, h);
    broadcast(start, h + plen);
    if (acklen > 0 && c->state == F_WS) {
        k = snprintf(payload, sizeof payload, "43%.*s[]", (int)acklen, ack);
        send_frame(c, SIO_WS_OP_TEXT, payload, (size_t)k);
    }
}

/* One Engine.IO packet (a text message). */
static void on_text(fconn *c, const char *p, size_t n)
{
    if (n >= 2 && p[0] == '4' && p[1] == '0') { /* Socket.IO CONNECT */
        char ok[64];
        int k = snprintf(ok, sizeof ok, "40{\"sid\":\"f%llu\"}", (unsigned long long)c->sid);
        send_frame(c, SIO_WS_OP_TEXT, ok, (size_t)k);
    } else if (n >= 2 && p[0] == '4' && p[1] == '2') {
        on_event(c, p + 2, p + n);
    } else if (n >= 1 && p[0] == '1') { /* Engine.IO close */
        conn_close(c);
    }
}

/* One whole client frame, payload unmasked. */
static void on_frame(fconn *c, const sio__ws_hdr *h, unsigned char *p)
{
    switch (SIO_WS_HDR_OPCODE(h)) {
    case SIO_WS_OP_TEXT:
        on_text(c, (const char *)p, (size_t)h->len);
        break;
    case SIO_WS_OP_PING:
        send_frame(c, SIO_WS_OP_PONG, p, (size_t)h->len);
        break;
    case SIO_WS_OP_CLOSE: /* echo it, then close once it is out */
        send_frame(c, SIO_WS_OP_CLOSE, p, h->len >= 2 ? 2 : 0);
        c->closing = 1;
        break;
    default: /* pong, binary, fragments: nothing the bench sends */
        break;
    }
}

/* Takes the whole frames at p; returns the bytes taken, or -1 to close
 * (unmasked, reserved bits, over FLOOR_MAX_FRAME). */
static long take_frames(fconn *c, unsigned char *p, size_t n)
{
    size_t off = 0;
    while (off < n && c->state == F_WS && !c->closing) {
        sio__ws_hdr h;
        int got = sio__ws_hdr_parse(p + off, n - off, &h);
        if (got >= SIO_WS_HDR_BASE && (SIO_WS_HDR_RSV(&h) || !SIO_WS_HDR_MASKED(&h)))
            return -1;
        if (got >= SIO_WS_HDR_LEN && h.len > FLOOR_MAX_FRAME)
            return -1;
        if (got < SIO_WS_HDR_WHOLE || n - off - h.size < h.len)
            break;
        unsigned char *payload = p + off + h.size;
        sio__ws_mask(payload, (size_t)h.len, payload - 4);
        on_frame(c, &h, payload);
        off += h.size + (size_t)h.len;
    }
    return (long)off;
}

/* The upgrade request: 101 plus the Engine.IO open packet, or 400. Returns
 * the bytes taken, 0 for more, -1 to close. */
static long take_request(fconn *c, const char *p, size_t n)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL)
        return n > FLOOR_MAX_REQUEST ? -1 : 0;
    const char *k = memmem(p, (size_t)(end - p), "\r\nSec-WebSocket-Key:", 20);
    if (k == NULL)
        k = memmem(p, (size_t)(end - p), "\r\nsec-websocket-key:", 20);
    if (k == NULL) {
        static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        sio__buf_append(&c->out, bad, sizeof bad - 1);
        c->closing = 1;
        mark_dirty(c);
        return end + 4 - p;
    }
    k += 20;
    const char *eol = memmem(k, (size_t)(end + 2 - k), "\r\n", 2);
    sio__slice key = {k, (size_t)(eol - k)};
    if (sio__ws_accept_response(&c->out, key, NULL) < 0)
        return -1;
    c->state = F_WS;
    if (send_frame(c, SIO_WS_OP_TEXT, EIO_OPEN, sizeof EIO_OPEN - 1) < 0)
        return -1;
    return end + 4 - p;
}

/* Feeds received bytes (from the shared buffer, or c->in with them
 * appended); returns the bytes taken or -1 to close. */
static long feed(fconn *c, char *p, size_t n)
{
    long off = 0;
    if (c->state == F_HTTP) {
        off = take_request(c, p, n);
        if (off <= 0)
            return off;
    }
    if (c->state != F_WS)
        return off;
    long more = take_frames(c, (unsigned char *)p + off, n - (size_t)off);
    return more < 0 ? -1 : off + more;
}

/* Readable: one read into the shared buffer (level-triggered epoll brings
 * us back for more). */
static void on_readable(fconn *c)
{
    ssize_t r = read(c->fd, read_buf, sizeof read_buf);
    if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    char *p = read_buf;
    size_t n = (size_t)r;
    if (c->in.len > 0) {
        if (sio__buf_append(&c->in, p, n) < 0) {
            conn_close(c);
            return;
        }
        p = c->in.data;
        n = c->in.len;
    }
    long used = feed(c, p, n);
    if (used < 0) {
        conn_close(c);
        return;
    }
    if (c->state == F_CLOSED)
        return;
    if (p == c->in.data) {
        sio__buf_consume(&c->in, (size_t)used);
        if (c->in.len == 0)
            sio__buf_free(&c->in);
    } else if ((size_t)used < n && sio__buf_append(&c->in, p + used, n - (size_t)used) < 0) {
        conn_close(c);
    }
}

/* Arms or disarms EPOLLOUT. */
static void want_out(fconn *c, int on)
{
    if (c->pollout == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(floor_s.ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->pollout = (uint8_t)on;
}

/* Writes all c has in one write(2); the rest waits for EPOLLOUT. */
static void flush(fconn *c)
{
    if (c->state == F_CLOSED || c->out.len == 0)
        return;
    ssize_t w = write(c->fd, c->out.data, c->out.len);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(c);
        return;
    }
    if (w > 0)
        sio__buf_consume(&c->out, (size_t)w);
    if (c->out.len == 0 && c->closing) {
        conn_close(c);
        return;
    }
    want_out(c, c->out.len > 0);
}

static void conn_close(fconn *c)
{
    if (c->state == F_CLOSED)
        return;
    fconn *last = floor_s.conns[--floor_s.nconns]; /* swap-remove */
    floor_s.conns[c->slot] = last;
    last->slot = c->slot;
    c->state = F_CLOSED;
    close(c->fd);
    c->fd = -1;
    floor_s.dead[floor_s.ndead++] = c; /* events of this iteration may name it */
}

/* Frees what closed this iteration. */
static void reap(void)
{
    for (uint32_t i = 0; i < floor_s.ndead; i++) {
        sio__buf_free(&floor_s.dead[i]->in);
        sio__buf_free(&floor_s.dead[i]->out);
        sio__free(floor_s.dead[i]);
    }
    floor_s.ndead = 0;
}

/* Grows the tables so that one more connection fits in each. */
static int tables_fit(void)
{
    if (floor_s.nconns + floor_s.ndead < floor_s.cap)
        return 0;
    uint32_t cap = floor_s.cap ? floor_s.cap * 2 : 1024;
    fconn ***tabs[3] = {&floor_s.conns, &floor_s.dirty, &floor_s.dead};
    for (int i = 0; i < 3; i++) {
        fconn **t = sio__realloc(*tabs[i], cap * sizeof *t);
        if (t == NULL)
            return -1; /* the ones grown already are merely big */
        *tabs[i] = t;
    }
    floor_s.cap = cap;
    return 0;
}

/* Accepts every pending connection. */
static void on_accept(void)
{
    for (;;) {
        int fd = accept4(floor_s.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        fconn *c = tables_fit() == 0 ? sio__calloc(1, sizeof *c) : NULL;
        if (c == NULL) {
            close(fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->sid = ++floor_s.next_id;
        sio__buf_init(&c->in, FLOOR_MAX_FRAME + SIO_WS_HDR_MAX);
        sio__buf_init(&c->out, 0);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(floor_s.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            sio__free(c);
            continue;
        }
        c->slot = floor_s.nconns;
        floor_s.conns[floor_s.nconns++] = c;
    }
}

/* The listening socket on 0.0.0.0:port; prints the port. */
static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("sioc-floor: listen");
        return -1;
    }
    printf("listening on http://localhost:%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    return fd;
}

static void on_signal(int sig)
{
    (void)sig;
    floor_s.stop = 1;
}

/* The loop: events, then one write per dirty connection, then frees. */
static void run(void)
{
    static struct epoll_event evs[FLOOR_EVENTS];
    while (!floor_s.stop) {
        int n = epoll_wait(floor_s.ep, evs, FLOOR_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            fconn *c = evs[i].data.ptr;
            if (c == NULL) {
                on_accept();
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
            if ((evs[i].events & EPOLLOUT) && c->state != F_CLOSED)
                mark_dirty(c);
        }
        for (uint32_t i = 0; i < floor_s.ndirty; i++) {
            floor_s.dirty[i]->dirty = 0;
            flush(floor_s.dirty[i]);
        }
        floor_s.ndirty = 0;
        reap();
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: sioc-floor [--port N]\n");
            return 2;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: epoll_wait returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sio__ws_handshake_warmup();
    sio__buf_init(&floor_s.frame, 0);
    floor_s.ep = epoll_create1(EPOLL_CLOEXEC);
    floor_s.lfd = listen_on(port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (floor_s.ep < 0 || floor_s.lfd < 0 ||
        epoll_ctl(floor_s.ep, EPOLL_CTL_ADD, floor_s.lfd, &ev) < 0 || tables_fit() < 0)
        return 1;
    run();
    while (floor_s.nconns > 0)
        conn_close(floor_s.conns[floor_s.nconns - 1]);
    reap();
    sio__buf_free(&floor_s.frame);
    sio__free(floor_s.conns);
    sio__free(floor_s.dirty);
    sio__free(floor_s.dead);
    close(floor_s.lfd);
    close(floor_s.ep);
    return 0;
}
