/* Differential fuzzing of our WebSocket framer (ws/ws_conn.c) against
 * wslay's event API, the reference it replaced.
 *
 * The input is a byte stream from a "client". Both parsers get all of it
 * (ours in place, in two pieces cut where byte 0 says; wslay through its
 * recv callback), with the same message limit. They must agree on:
 *  - the messages delivered, in order (type and bytes);
 *  - the control frames answered before the close (pongs and payloads);
 *  - how reading ended: still open, the peer's close (its code), or a
 *    failure (the close code sent).
 * Pongs are compared while reading goes on: once a close is due, wslay
 * sends it ahead of the pongs it queued in the same read (so they never
 * go), we send those pongs first; RFC 6455 allows both. The other tolerated
 * difference is where RFC 6455 asks for more than wslay
 * checks, in the peer's close frame (5.5.1, 7.4): a 1-byte body or a code
 * that may not be sent (we answer 1002) and a reason that is not UTF-8
 * (1007): when wslay took the peer's close and we failed with 1002 or
 * 1007, the messages must still agree. And wslay checks UTF-8 within an
 * incomplete frame, we once it is whole: wslay failing 1007 while our
 * frame is still partial is agreement too. The fragment limit (ours alone) is
 * lifted for the comparison. Any other difference traps. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "core/buf.h"
#include "sioc.h"
#include "ws/ws_conn.h"

#define DIFF_MAX_MESSAGE 4096

/* What one parser did, as comparable text: "T<len>:<bytes>" per message,
 * "P<len>:<bytes>" per pong, then the ending. */
typedef struct trace {
    sio__buf log;   /* messages */
    sio__buf pongs; /* pongs answered */
    int ended;      /* 0 open, 1 peer close, 2 failure */
    int code;       /* peer's code (1005 none) or the code we sent */
    int partial;    /* ours: an incomplete frame is waiting in the tail */
} trace;

static void trace_add(trace *t, char kind, const void *p, size_t n)
{
    char head[32];
    int k = snprintf(head, sizeof head, "%c%zu:", kind, n);
    sio__buf *b = kind == 'P' ? &t->pongs : &t->log;
    sio__buf_append(b, head, (size_t)k);
    sio__buf_append(b, p, n);
}

/* 1 if two logs hold the same bytes. */
static int same(const sio__buf *x, const sio__buf *y)
{
    return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}

/* ------------------------------------------------------------------ ours */

static void our_msg(sio__ws_conn *c, int binary, const char *d, size_t n, void *arg)
{
    trace_add(arg, binary ? 'B' : 'T', d, n);
}

static void our_close(sio__ws_conn *c, int code, void *arg)
{
    trace *t = arg;
    t->code = code;
}

static const sio__ws_callbacks our_cb = {our_msg, our_close};

/* The pongs in an output buffer, up to a close frame (whose code it sets). */
static void scan_output(trace *t, const sio__buf *out, int *close_code)
{
    const unsigned char *p = (const unsigned char *)out->data;
    size_t i = 0, n = out->len;
    while (i + 2 <= n) {
        size_t len = p[i + 1] & 0x7f, h = 2;
        if (len == 126)
            len = (size_t)p[i + 2] << 8 | p[i + 3], h = 4;
        else if (len == 127)
            __builtin_trap(); /* no control frame is that long */
        unsigned op = p[i] & 0x0f;
        if (op == 0xA)
            trace_add(t, 'P', p + i + h, len);
        if (op == 0x8) {
            *close_code = len >= 2 ? (p[i + h] << 8 | p[i + h + 1]) : 1005;
            return;
        }
        i += h + len;
    }
}

static void run_ours(trace *t, const uint8_t *data, size_t size, size_t cut)
{
    sio__ws_conn c;
    sio__ws_conn_init(&c, &our_cb, t, DIFF_MAX_MESSAGE);
    sio__ws_conn_set_max_fragments(&c, UINT32_MAX);
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        __builtin_trap();
    memcpy(copy, data, size);
    int rc = sio__ws_conn_feed(&c, copy, cut);
    if (rc == 0 && !sio__ws_conn_wants_close(&c))
        rc = sio__ws_conn_feed(&c, copy + cut, size - cut);
    free(copy);
    t->partial = c.tail.len > 0;
    int sent = 0;
    scan_output(t, sio__ws_conn_output(&c), &sent);
    if (t->code != 0)
        t->ended = rc == 0 ? 1 : 2;
    if (t->ended == 1 && rc != 0)
        __builtin_trap();
    sio__ws_conn_fini(&c);
}

/* ----------------------------------------------------------------- wslay */

typedef struct wslay_run {
    trace *t;
    const uint8_t *in;
    size_t in_len;
    sio__buf out;
    int peer_code;
} wslay_run;

static ssize_t w_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    wslay_run *r = user;
    if (r->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < r->in_len ? len : r->in_len;
    memcpy(buf, r->in, n);
    r->in += n;
    r->in_len -= n;
    return (ssize_t)n;
}

static ssize_t w_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                      void *user)
{
    wslay_run *r = user;
    sio__buf_append(&r->out, data, len);
    return (ssize_t)len;
}

static void w_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                  void *user)
{
    wslay_run *r = user;
    if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME)
        trace_add(r->t, a->opcode == WSLAY_BINARY_FRAME ? 'B' : 'T', a->msg, a->msg_length);
    if (a->opcode == WSLAY_CONNECTION_CLOSE)
        r->peer_code = a->status_code ? a->status_code : 1005;
}

static void run_wslay(trace *t, const uint8_t *data, size_t size)
{
    wslay_run r = {.t = t, .in = data, .in_len = size};
    sio__buf_init(&r.out, 0);
    struct wslay_event_callbacks cb = {
        .recv_callback = w_recv, .send_callback = w_send, .on_msg_recv_callback = w_msg};
    wslay_event_context_ptr ctx;
    if (wslay_event_context_server_init(&ctx, &cb, &r) != 0)
        __builtin_trap();
    wslay_event_config_set_max_recv_msg_length(ctx, DIFF_MAX_MESSAGE);
    int rv = wslay_event_recv(ctx);
    wslay_event_send(ctx);
    int sent = 0;
    scan_output(t, &r.out, &sent);
    if (rv != 0) { /* a frame-layer violation: our wrapper answered 1002 */
        t->ended = 2;
        t->code = 1002;
    } else if (!wslay_event_get_read_enabled(ctx)) {
        t->ended = r.peer_code ? 1 : 2;
        t->code = r.peer_code ? r.peer_code : wslay_event_get_status_code_sent(ctx);
    }
    wslay_event_context_free(ctx);
    sio__buf_free(&r.out);
}

/* Length of the run of whole frames at the start of p: the streams are cut
 * there, so that neither parser is judged on a frame it has not seen
 * whole (wslay checks some header bits and UTF-8 as bytes come in, we once
 * the frame is whole; both are allowed; fuzz_ws covers the cuts). */
static size_t whole_frames(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (;;) {
        if (n - i < 2)
            return i;
        unsigned l7 = p[i + 1] & 0x7f;
        size_t ext = l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
        size_t h = 2 + ext + ((p[i + 1] & 0x80) ? 4 : 0);
        if (n - i < h)
            return i;
        uint64_t len = l7;
        if (ext) {
            len = 0;
            for (size_t k = 0; k < ext; k++)
                len = len << 8 | p[i + 2 + k];
        }
        if (len > n - i - h)
            return i;
        i += h + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = whole_frames(data + 1, size - 1);
    size_t cut = n * data[0] / 255;
    trace a = {0}, b = {0};
    sio__buf_init(&a.log, 0);
    sio__buf_init(&b.log, 0);
    sio__buf_init(&a.pongs, 0);
    sio__buf_init(&b.pongs, 0);
    run_ours(&a, data + 1, n, cut);
    run_wslay(&b, data + 1, n);
    if (getenv("DIFF_DEBUG"))
        fprintf(stderr,
                "ours: ended %d code %d log %.*s pongs %zu\nwslay: ended %d code %d log %.*s pongs "
                "%zu\n",
                a.ended, a.code, (int)a.log.len, a.log.data ? a.log.data : "", a.pongs.len, b.ended,
                b.code, (int)b.log.len, b.log.data ? b.log.data : "", b.pongs.len);
    /* wslay checks UTF-8 as a frame's bytes come in; we check a whole
     * frame: with the rest of the frame still to come, we have not failed
     * yet. The messages before it must agree. */
    int utf8_early = a.ended == 0 && a.partial && b.ended == 2 && b.code == 1007;
    int rfc_stricter = a.ended == 2 && b.ended == 1 && (a.code == 1002 || a.code == 1007);
    /* A close frame with both a bad code and a bad reason: we judge the
     * code first (1002, as Node's ws), wslay the reason (1007). */
    rfc_stricter |= a.ended == 2 && b.ended == 2 && a.code == 1002 && b.code == 1007;
    /* 1012-1014 were registered after wslay's list (IANA): we take them,
     * as Node's ws does; wslay fails them with 1002. */
    rfc_stricter |=
        a.ended == 1 && a.code >= 1012 && a.code <= 1014 && b.ended == 2 && b.code == 1002;
    if (rfc_stricter || utf8_early) {
        /* up to the close: the same messages and pongs */
        if (a.log.len > b.log.len || (a.log.len && memcmp(a.log.data, b.log.data, a.log.len) != 0))
            __builtin_trap();
    } else if (a.ended != b.ended || a.code != b.code || !same(&a.log, &b.log) ||
               (a.ended == 0 && !same(&a.pongs, &b.pongs))) {
        __builtin_trap();
    }
    sio__buf_free(&a.log);
    sio__buf_free(&b.log);
    sio__buf_free(&a.pongs);
    sio__buf_free(&b.pongs);
    return 0;
}
