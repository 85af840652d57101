/* libFuzzer target for the whole stack: HTTP -> WebSocket -> Engine.IO ->
 * Socket.IO -> application handlers, from one input, in-process.
 *
 * The seam: each client connection is a socketpair(2). The server end is
 * handed to the real HTTP server with sio__http_server_adopt (what the
 * listener does after accept), so every byte goes through net's real read
 * path (read_cb, take_input, the parser, pending input, upgrade, the ws
 * framer, coalesced writes, lingering closes); the driver writes to the
 * client end and drains it. The loop runs with UV_RUN_NOWAIT only (never
 * blocks), until a pass moves no byte. A fake transport at the net
 * boundary would have skipped exactly that code, which is where the
 * keep-alive, linger and close races live. A local stream socket makes
 * this deterministic: a chunk written before the loop runs is one read on
 * the server side (at most 64 KiB, the read buffer), the loop's clock is
 * manual (sio__loop_set_clock, moved only by the input) and random bytes
 * come from a generator reset for every input (sio__random_set_source),
 * so session ids, socket ids and every deadline repeat exactly.
 *
 * Input: records separated by the two bytes 0xC0 0xC1 (never in UTF-8
 * text, so HTTP and JSON need no escaping). A record is a command byte and
 * a payload. Command bits 0-1 pick the client connection (0-3; a closed
 * one is opened again by its next use), bits 2-4 the operation:
 *   0 raw        the payload as bytes
 *   1 pieces     payload[0] % 16 + 1 is a piece size; the rest goes in
 *                pieces of that size, the loop running after each
 *   2 ws frame   one WebSocket frame: payload[0] holds the opcode (bits
 *                0-3), "not FIN" (bit 4), "unmasked" (bit 5), RSV1 (bit 6);
 *                the rest is the payload, masked with a fixed key
 *   3 post       a polling POST of the payload to the last session id
 *   4 get        a polling GET: with the last session id if payload[0] is
 *                odd, else a handshake; the rest of the payload is
 *                appended to the query
 *   5 upgrade    a WebSocket upgrade GET: with the last session id if
 *                payload[0] is odd (polling upgrade), else a direct one
 *   6 time       the clock moves on by (payload[0] | payload[1] << 8) * 10
 *                ms (1 s without a payload); deferred middlewares and acks
 *                are settled
 *   7 other      payload[0] bit 7 set: a server-side action (bits 0-2:
 *                namespace emit with binary, room broadcast with acks,
 *                volatile broadcast, disconnect the room, fetch sockets,
 *                settle deferred work, shut the server down); clear: close
 *                the client end (bit 0: only half-close it)
 * In payloads of raw, pieces, ws frame and post, "$SID" becomes the last
 * Engine.IO session id the server sent and "$PID" the last Socket.IO
 * private id (for connection state recovery); offsets are "1", "2"...
 *
 * The application: "/" with a middleware (auth {"token":"bad"} is refused
 * with data), handlers for echo (binary re-sent), ack, a deferred ack,
 * broadcast, join/leave, a server emit with an ack timeout, disconnect,
 * a socket middleware refusing "forbidden", and rooms from the auth;
 * "/admin" whose middleware answers later (settled by time or actions);
 * dynamic "/dyn-*" namespaces removed when empty; connection state
 * recovery; a plain HTTP handler for other paths.
 *
 * Invariants, besides ASan/UBSan and libFuzzer's leak check after each
 * input: once the clients are gone and the clock has run past every
 * deadline, no session, socket, connection or queued output byte is left
 * (the gauges are back at zero); the shutdown completes; and every
 * allocation made through sio_set_allocator's hooks (sioc, libuv,
 * jansson) during the input is freed by its end. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/random.h"
#include "net/net.h"
#include "ws/ws_handshake.h"
#include "sioc.h"

/* abort() is how a fuzz target reports a broken invariant. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_stack: invariant failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NCONN 4
#define SEP0 0xC0
#define SEP1 0xC1
#define PATH "/socket.io/?EIO=4&transport="
#define MAX_DEFERRED 16

/* One client connection: the client's end of the socketpair. */
typedef struct client {
    int fd;  /* -1: not open */
    int eof; /* the server closed its end */
} client;

/* Everything one input runs on (fresh for every input). */
typedef struct stack {
    sio_loop *loop;
    sio_http_server *http;
    sio_server *io;
    sio_namespace *root, *admin;
    int shut;      /* sio_server_shutdown was called */
    int shut_done; /* ...and has completed */
    uint64_t now;  /* the manual clock */
    client c[NCONN];
    char sid[64]; /* last Engine.IO session id seen in the output */
    char pid[64]; /* last Socket.IO pid seen in the output */
    size_t moved; /* bytes the clients read (progress of a pump) */
    sio_middleware_next *mw[MAX_DEFERRED];
    size_t nmw;
    sio_ack *acks[MAX_DEFERRED];
    size_t nacks;
    uv_timer_t alive; /* what the listener is in a real server: it keeps the loop
                       * running (and its timers firing) with no connection open */
} stack;

static stack st;

/* FUZZ_STACK_TRACE=1: what each client sends and receives goes to stderr
 * (to see what a corpus file does). */
static int trace;

static void trace_bytes(const char *dir, int id, const char *p, size_t n)
{
    if (!trace)
        return;
    fprintf(stderr, "%s%d [%zu] ", dir, id, n);
    for (size_t i = 0; i < n && i < 600; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 32 && ch < 127)
            fputc(ch, stderr);
        else if (ch == '\n')
            fputs("\\n", stderr);
        else
            fprintf(stderr, "\\x%02x", ch);
    }
    fputs(n > 600 ? "...\n" : "\n", stderr);
}

/* ------------------------------------------------ determinism, memory */

static uint64_t rng_state;

static int fake_random(void *out, size_t len)
{
    unsigned char *p = out;
    for (size_t i = 0; i < len; i++) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        p[i] = (unsigned char)rng_state;
    }
    return 0;
}

/* Live allocations through the hooks (sioc, libuv, jansson). Each block
 * carries its size in a header so that realloc and free can count. */
static long live_blocks;

typedef union hdr {
    size_t size;
    max_align_t align;
} hdr;

static void *count_malloc(size_t n)
{
    hdr *h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    live_blocks++;
    return h + 1;
}
static void *count_calloc(size_t k, size_t n)
{
    if (n && k > (SIZE_MAX - sizeof(hdr)) / n)
        return NULL;
    void *p = count_malloc(k * n);
    if (p)
        memset(p, 0, k * n);
    return p;
}
static void *count_realloc(void *p, size_t n)
{
    if (p == NULL)
        return count_malloc(n);
    hdr *h = realloc((hdr *)p - 1, sizeof(hdr) + n);
    return h ? h + 1 : NULL;
}
static void count_free(void *p)
{
    if (p == NULL)
        return;
    live_blocks--;
    free((hdr *)p - 1);
}

/* ---------------------------------------------------------- the app */

static json_t *arg(const sio_args *a, size_t i)
{
    return sio_args_get(a, i);
}

static void on_echo(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    sio_emit(s, "echo", args);
}

static void on_ack(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    if (ack)
        sio_ack_send(ack, args);
}

/* Answered at the next time step or settle action (or never, if the list
 * is full: the ack is simply not answered). */
static void on_ack_later(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    if (ack && st.nacks < MAX_DEFERRED) {
        sio_ack_retain(ack);
        st.acks[st.nacks++] = ack;
    }
}

static void on_bcast(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    const char *room = json_string_value(arg(args, 0));
    sio_broadcast *b = sio_socket_broadcast(s);
    if (room)
        b = sio_broadcast_to(b, room);
    sio_broadcast_emit(b, "bcast", args);
}

static void on_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    const char *room = json_string_value(arg(args, 0));
    if (room)
        sio_socket_join(s, room);
}

static void on_leave(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    const char *room = json_string_value(arg(args, 0));
    if (room)
        sio_socket_leave(s, room);
}

static void asked_back(sio_socket *s, int err, const sio_args *args, void *data)
{
    if (err == 0 && args && sio_socket_connected(s))
        sio_emit(s, "answered", args);
}

/* The server asks the client, with an ack timeout of 500 ms. */
static void on_ask(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    sio_emit_with_ack(s, "question", args, 500, asked_back, NULL);
}

static void on_bye(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    sio_socket_disconnect(s, json_is_true(arg(args, 0)));
}

/* A server-made binary argument, nested and top-level. */
static void on_bin(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    sio_args *a = sio_args_new();
    if (a == NULL)
        return;
    json_t *node = sio_args_binary_node(a, "\x00\x01\x02", 3);
    if (node)
        sio_args_push(a, json_pack("{s:o}", "nested", node));
    sio_args_push_binary(a, "\xff", 1);
    if (ack)
        sio_ack_send(ack, a);
    else
        sio_emit(s, "bin", a);
    sio_args_free(a);
}

/* The answers to a broadcast with acks go to the whole namespace. */
static void acked_all(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    sio_namespace_emit(nsp, err == 0 ? "acked" : "not-acked", responses);
}

/* The sender's namespace asks everyone (itself included) for an ack. */
static void on_bcack(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    sio_broadcast *b = sio_broadcast_timeout(sio_broadcast_new(sio_socket_namespace(s)), 300);
    sio_broadcast_emit_with_ack(b, "all-ask", args, acked_all, NULL);
}

static void refuse_forbidden(sio_socket *s, const char *event, sio_args *args, sio_ack *ack,
                             sio_middleware_next *next, void *data)
{
    if (strcmp(event, "forbidden") == 0)
        sio_next_error(next, "forbidden", json_string("no"));
    else
        sio_next(next);
}

static void on_leaving(sio_socket *s, const char *reason, void *data)
{
    sio_args *a = sio_args_new();
    if (a && sio_args_push(a, json_string(reason)) == 0)
        sio_broadcast_emit(sio_broadcast_to(sio_socket_broadcast(s), "all"), "left", a);
    sio_args_free(a);
}

static void on_connection(sio_socket *s, void *data)
{
    sio_socket_join(s, "all");
    const char *room = json_string_value(json_object_get(sio_socket_auth(s), "room"));
    if (room)
        sio_socket_join(s, room);
    static const struct {
        const char *ev;
        sio_event_cb cb;
    } h[] = {{"echo", on_echo}, {"ack", on_ack},     {"later", on_ack_later}, {"bcast", on_bcast},
             {"join", on_join}, {"leave", on_leave}, {"ask", on_ask},         {"bye", on_bye},
             {"bin", on_bin},   {"bcack", on_bcack}};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        sio_socket_on(s, h[i].ev, h[i].cb, NULL);
    sio_socket_use(s, refuse_forbidden, NULL);
    sio_socket_on_disconnecting(s, on_leaving, NULL);
    if (!sio_socket_recovered(s))
        sio_emit(s, "welcome", NULL);
}

static void check_token(sio_socket *s, sio_middleware_next *next, void *data)
{
    const char *tok = json_string_value(json_object_get(sio_socket_auth(s), "token"));
    if (tok && strcmp(tok, "bad") == 0)
        sio_next_error(next, "refused", json_pack("{s:i}", "code", 7));
    else
        sio_next(next);
}

/* "/admin" answers later: the middleware step ends at the next time step
 * or settle action. */
static void defer_admin(sio_socket *s, sio_middleware_next *next, void *data)
{
    if (st.nmw == MAX_DEFERRED) {
        sio_next_error(next, "busy", NULL);
        return;
    }
    st.mw[st.nmw++] = next;
}

static int match_dyn(const char *name, const json_t *auth, void *data)
{
    return strncmp(name, "/dyn-", 5) == 0;
}

static void setup_dyn(sio_namespace *nsp, void *data)
{
    sio_namespace_use(nsp, check_token, NULL);
    sio_namespace_on_connection(nsp, on_connection, NULL);
}

/* Other paths: a plain answer. */
static void on_http(sio_req *r, void *data)
{
    size_t n;
    sio_req_body(r, &n);
    sio_req_respond(r, 200, "Content-Type: text/plain\r\n", "hello", 5);
}

/* Settles deferred middlewares (alternately accepted and refused) and
 * deferred acks. */
static void settle(void)
{
    for (size_t i = 0; i < st.nmw; i++) {
        if (i % 2)
            sio_next_error(st.mw[i], "later", NULL);
        else
            sio_next(st.mw[i]);
    }
    st.nmw = 0;
    for (size_t i = 0; i < st.nacks; i++) {
        sio_args *a = sio_args_json(json_pack("[s]", "late"));
        sio_ack_send(st.acks[i], a);
        sio_ack_release(st.acks[i]);
        sio_args_free(a);
    }
    st.nacks = 0;
}

static void stay_alive(uv_timer_t *t) {}

static int stack_start(void)
{
    CHECK(sio_loop_new(&st.loop) == 0);
    st.now = 1000;
    sio__loop_set_clock(st.loop, st.now);
    uv_timer_init(st.loop->uv, &st.alive);
    CHECK(uv_timer_start(&st.alive, stay_alive, UINT32_MAX, 0) == 0);
    sio_http_options ho;
    sio_http_options_init(&ho);
    CHECK(sio_http_server_new(&st.http, st.loop, &ho) == 0);
    sio_http_server_on_request(st.http, on_http, NULL);
    sio_server_options o;
    sio_server_options_init(&o);
    o.eio.ping_interval = 2000;
    o.eio.ping_timeout = 1000;
    o.eio.upgrade_timeout = 3000;
    o.eio.max_http_buffer_size = 100000;
    o.eio.cors.any_origin = 1;
    o.eio.cors.credentials = 1;
    o.connect_timeout = 3000;
    o.attachment_timeout = 2000;
    o.cleanup_empty_child_namespaces = 1;
    o.connection_state_recovery.enabled = 1;
    o.connection_state_recovery.max_disconnection_duration = 5000;
    CHECK(sio_server_new(&st.io, st.http, &o) == 0);
    st.root = sio_server_of(st.io, "/");
    st.admin = sio_server_of(st.io, "/admin");
    CHECK(st.root && st.admin);
    sio_namespace_use(st.root, check_token, NULL);
    sio_namespace_on_connection(st.root, on_connection, NULL);
    sio_namespace_use(st.admin, defer_admin, NULL);
    sio_namespace_on_connection(st.admin, on_connection, NULL);
    CHECK(sio_server_of_dynamic(st.io, match_dyn, setup_dyn, NULL) == 0);
    return 0;
}

/* ------------------------------------------------------ the clients */

/* Notes the ids in what the server sent: an Engine.IO handshake
 * (0{"sid":...) and a Socket.IO CONNECT answer (..."pid":...). */
static void scan_ids(const char *p, size_t n)
{
    static const char ks[] = "{\"sid\":\"", kp[] = "\"pid\":\"";
    for (size_t i = 0; i + sizeof ks < n; i++) {
        const char *key = NULL;
        char *out = NULL;
        if (memcmp(p + i, ks, sizeof ks - 1) == 0 && i > 0 && p[i - 1] == '0' &&
            (i < 2 || p[i - 2] != '4')) {
            key = ks, out = st.sid;
        } else if (memcmp(p + i, kp, sizeof kp - 1) == 0) {
            key = kp, out = st.pid;
        }
        if (key == NULL)
            continue;
        size_t b = i + strlen(key), e = b;
        while (e < n && p[e] != '"' && e - b < 63)
            e++;
        if (e < n && p[e] == '"') {
            memcpy(out, p + b, e - b);
            out[e - b] = '\0';
        }
    }
}

/* Reads what the server wrote to every client. */
static void drain_clients(void)
{
    static char buf[65536];
    for (int i = 0; i < NCONN; i++) {
        client *c = &st.c[i];
        while (c->fd >= 0 && !c->eof) {
            ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                st.moved += (size_t)n;
                trace_bytes("<", i, buf, (size_t)n);
                scan_ids(buf, (size_t)n);
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                c->eof = 1;
            break;
        }
    }
}

/* Runs the loop until a pass moves nothing (never blocking). */
static void pump(void)
{
    for (int i = 0; i < 64; i++) {
        size_t before = st.moved;
        sio_metrics m0, m1;
        sio_metrics_get(&m0);
        uv_run(st.loop->uv, UV_RUN_NOWAIT);
        drain_clients();
        sio_metrics_get(&m1);
        if (st.moved == before && m0.bytes_in == m1.bytes_in && m0.bytes_out == m1.bytes_out &&
            i >= 2)
            return;
    }
}

static client *conn(int id)
{
    client *c = &st.c[id];
    if (c->fd >= 0)
        return c;
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    if (st.shut || sio__http_server_adopt(st.http, sv[1]) < 0)
        close(sv[1]); /* a server that is gone: the client sees EOF */
    c->fd = sv[0];
    c->eof = 0;
    return c;
}

static void client_close(int id, int half)
{
    client *c = &st.c[id];
    if (c->fd < 0)
        return;
    if (half) {
        shutdown(c->fd, SHUT_WR);
        return;
    }
    close(c->fd);
    c->fd = -1;
}

/* Writes n bytes to connection id, then runs the loop. */
static void send_bytes(int id, const char *p, size_t n)
{
    client *c = conn(id);
    size_t off = 0;
    for (int tries = 0; off < n && tries < 8; tries++) {
        ssize_t k = send(c->fd, p + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0)
            trace_bytes(">", id, p + off, (size_t)k), off += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EINTR)
            break;
        pump(); /* the server reads, making room */
    }
    pump();
}

/* Appends to a growing byte string (abort on OOM: a fuzzer has memory). */
typedef struct str {
    char *p;
    size_t n, cap;
} str;

static void put(str *s, const void *p, size_t n)
{
    if (n == 0)
        return; /* s->p may still be NULL */
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2 + 64;
        s->p = realloc(s->p, s->cap);
        CHECK(s->p != NULL);
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
}
static void puts_(str *s, const char *z)
{
    put(s, z, strlen(z));
}

/* Copies p with the placeholders replaced. */
static void put_subst(str *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (n - i >= 4 && memcmp(p + i, "$SID", 4) == 0) {
            puts_(s, st.sid);
            i += 4;
        } else if (n - i >= 4 && memcmp(p + i, "$PID", 4) == 0) {
            puts_(s, st.pid);
            i += 4;
        } else {
            put(s, p + i++, 1);
        }
    }
}

static void put_ws_frame(str *s, uint8_t flags, const uint8_t *p, size_t n)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    str body = {0};
    put_subst(&body, p, n);
    uint8_t h[14];
    size_t hl = 2;
    int masked = !(flags & 0x20);
    h[0] = (uint8_t)((flags & 0x10 ? 0 : 0x80) | (flags & 0x40 ? 0x40 : 0) | (flags & 0x0f));
    if (body.n < 126) {
        h[1] = (uint8_t)body.n;
    } else if (body.n < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(body.n >> 8);
        h[3] = (uint8_t)body.n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)body.n >> (56 - 8 * i));
        hl = 10;
    }
    if (masked) {
        h[1] |= 0x80;
        memcpy(h + hl, key, 4);
        hl += 4;
        for (size_t i = 0; i < body.n; i++)
            body.p[i] ^= key[i % 4];
    }
    put(s, h, hl);
    if (body.n)
        put(s, body.p, body.n);
    free(body.p);
}

static void put_request_line(str *s, const char *method, const char *transport, int with_sid)
{
    puts_(s, method);
    puts_(s, " " PATH);
    puts_(s, transport);
    if (with_sid) {
        puts_(s, "&sid=");
        puts_(s, st.sid);
    }
}

/* ---------------------------------------------------- server actions */

static void fetched(sio_namespace *nsp, int err, sio_fetch_result *r, void *data)
{
    if (r)
        sio_fetch_result_free(r);
}

static void shutdown_done(void *data)
{
    st.shut_done = 1;
}

static void server_action(uint8_t what)
{
    if (st.shut)
        return;
    sio_args *a = sio_args_json(json_pack("[s]", "x"));
    switch (what & 7) {
    case 0: /* io.emit with a binary argument */
        sio_args_push_binary(a, "\x01\x02", 2);
        sio_namespace_emit(st.root, "news", a);
        break;
    case 1: /* io.to("all").timeout(300).emit(.., cb) */
        sio_broadcast_emit_with_ack(
            sio_broadcast_timeout(sio_broadcast_to(sio_broadcast_new(st.root), "all"), 300), "poll",
            a, acked_all, NULL);
        break;
    case 2:
        sio_broadcast_emit(sio_broadcast_volatile(sio_broadcast_new(st.root)), "tick", a);
        break;
    case 3:
        sio_broadcast_disconnect_sockets(sio_broadcast_to(sio_broadcast_new(st.root), "kick"), 0);
        break;
    case 4: {
        sio_socket **v;
        size_t n;
        if (sio_broadcast_fetch_sockets(sio_broadcast_new(st.root), &v, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                sio_socket_join(v[i], "fetched");
            sio_sockets_release(v, n);
        }
        sio_broadcast_fetch_sockets_async(sio_broadcast_new(st.admin), fetched, NULL);
        break;
    }
    case 5:
        sio_broadcast_sockets_join(sio_broadcast_to(sio_broadcast_new(st.root), "all"), "kick");
        break;
    case 6:
        settle();
        break;
    default:
        settle();
        st.shut = 1;
        sio_server_shutdown(st.io, shutdown_done, NULL);
        break;
    }
    sio_args_free(a);
    pump();
}

static void advance(uint64_t ms)
{
    if (trace)
        fprintf(stderr, "-- time +%llu ms\n", (unsigned long long)ms);
    settle();
    st.now += ms;
    sio__loop_set_clock(st.loop, st.now);
    pump();
}

/* --------------------------------------------------------- a record */

static void run_record(const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    int id = p[0] & 3, op = (p[0] >> 2) & 7;
    const uint8_t *pl = p + 1;
    size_t pn = n - 1;
    uint8_t b0 = pn ? pl[0] : 0;
    str s = {0};
    char num[32];
    switch (op) {
    case 0:
        put_subst(&s, pl, pn);
        break;
    case 1: {
        if (pn == 0)
            break;
        size_t piece = (size_t)(b0 % 16) + 1;
        put_subst(&s, pl + 1, pn - 1);
        for (size_t off = 0; off < s.n; off += piece)
            send_bytes(id, s.p + off, s.n - off < piece ? s.n - off : piece);
        s.n = 0;
        break;
    }
    case 2:
        put_ws_frame(&s, b0, pl + (pn > 0), pn ? pn - 1 : 0);
        break;
    case 3: {
        str body = {0};
        put_subst(&body, pl, pn);
        put_request_line(&s, "POST", "polling", 1);
        snprintf(num, sizeof num, "%zu", body.n);
        puts_(&s, " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                  "Content-Length: ");
        puts_(&s, num);
        puts_(&s, "\r\n\r\n");
        if (body.n)
            put(&s, body.p, body.n);
        free(body.p);
        break;
    }
    case 4:
        put_request_line(&s, "GET", "polling", b0 & 1);
        if (pn > 1)
            put(&s, pl + 1, pn - 1);
        puts_(&s, " HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
        break;
    case 5:
        put_request_line(&s, "GET", "websocket", b0 & 1);
        puts_(&s, " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n");
        break;
    case 6:
        advance(pn >= 2 ? (uint64_t)(pl[0] | pl[1] << 8) * 10 : 1000);
        break;
    default:
        if (b0 & 0x80)
            server_action(b0);
        else
            client_close(id, b0 & 1);
        pump();
        break;
    }
    if (s.n)
        send_bytes(id, s.p, s.n);
    free(s.p);
}

/* --------------------------------------------------------- teardown */

static int64_t gauge_sum(void)
{
    sio_metrics m;
    sio_metrics_get(&m);
    if (trace)
        fprintf(stderr, "-- gauges: %llu polling, %llu websocket, %llu sockets, %llu queued\n",
                (unsigned long long)m.sessions_polling, (unsigned long long)m.sessions_websocket,
                (unsigned long long)m.sockets, (unsigned long long)m.write_queue_bytes);
    return (int64_t)(m.sessions_polling + m.sessions_websocket + m.sockets + m.write_queue_bytes);
}

/* Clients gone and every deadline past: nothing may be left. */
static void teardown(void)
{
    settle();
    for (int i = 0; i < NCONN; i++)
        client_close(i, 0);
    pump();
    /* Past pingInterval + pingTimeout, the upgrade, connect and recovery
     * timeouts and the HTTP deadlines (all under 60 s here). */
    for (int i = 0; i < 8; i++)
        advance(10000);
    if (!st.shut) {
        sio_http_stats hs;
        sio_http_server_stats(st.http, &hs);
        CHECK(st.http->nconns == 0);
        CHECK(hs.output_bytes == 0);
        CHECK(gauge_sum() == 0);
        st.shut = 1;
        sio_server_shutdown(st.io, shutdown_done, NULL);
    }
    for (int i = 0; i < 100 && !st.shut_done; i++)
        pump();
    CHECK(st.shut_done);
    CHECK(gauge_sum() == 0);
    uv_close((uv_handle_t *)&st.alive, NULL);
    sio_loop_free(st.loop);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const sio_allocator a = {count_malloc, count_calloc, count_realloc, count_free};
    CHECK(sio_set_allocator(&a) == 0);
    /* as every sioc program does (docs/guide.md): a write to a client that
     * left is an error to handle, not a signal */
    signal(SIGPIPE, SIG_IGN);
    sio__random_set_source(fake_random);
    /* OpenSSL's one-time state (the handshake's SHA-1) is not the input's. */
    sio__ws_handshake_warmup();
    const char *t = getenv("FUZZ_STACK_TRACE");
    trace = t != NULL && strcmp(t, "1") == 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = live_blocks;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < NCONN; i++)
        st.c[i].fd = -1;
    rng_state = 0x9e3779b97f4a7c15ull;
    stack_start();
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || (i + 1 < size && data[i] == SEP0 && data[i + 1] == SEP1)) {
            run_record(data + start, i - start);
            start = i + 2;
            i++;
        }
    }
    teardown();
    CHECK(live_blocks == live);
    return 0;
}
