/* Tests for the server-side WebSocket connection (src/ws/ws_conn.c).
 *
 * A wslay client context plays the peer: it produces masked client frames
 * (what a browser sends) and decodes what the server wrote, so both
 * directions are checked against an independent implementation. Frames a
 * well-behaved client cannot produce (unmasked, fragmented by hand, bad
 * length encodings) are built byte by byte with raw_frame().
 *
 * Memory: an idle connection must hold no wslay context and no buffers
 * (checked through sio__ws_conn_engine_alive/heap_bytes, and with
 * mallinfo2 where the libc allocator is in use, i.e. without ASan). */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <wslay/wslay.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/rcbuf.h"
#include "sioc.h"
#include "ws/ws_conn.h"

/* ------------------------------------------------------------ server side */

/* What the server connection reported through its callbacks. */
typedef struct server_log {
    int nmsg;         /* messages delivered */
    int binary;       /* type of the last one */
    sio__buf last;    /* payload of the last one */
    int nclose;       /* on_close calls (must stay <= 1) */
    int close_code;   /* code of on_close */
    int close_on_msg; /* if set, on_message calls sio__ws_conn_close(1000) */
} server_log;

static void srv_on_message(sio__ws_conn *c, int binary, const char *data, size_t len, void *ud)
{
    server_log *l = ud;
    l->nmsg++;
    l->binary = binary;
    l->last.len = 0;
    assert_int_equal(sio__buf_append(&l->last, data, len), 0);
    if (l->close_on_msg)
        assert_int_equal(sio__ws_conn_close(c, 1000, "done"), 0);
}

static void srv_on_close(sio__ws_conn *c, int code, void *ud)
{
    server_log *l = ud;
    l->nclose++;
    l->close_code = code;
}

static const sio__ws_callbacks srv_cb = {srv_on_message, srv_on_close};

/* ------------------------------------------------------------ client side */

/* A wslay client: frames it sends go to `wire`; it decodes server bytes
 * handed to client_read and records the messages. */
typedef struct client {
    wslay_event_context_ptr ctx;
    sio__buf wire;  /* masked client frames, to feed to the server */
    const char *in; /* server bytes being decoded */
    size_t in_len;  /* remaining */
    int nmsg;       /* messages decoded (data and control) */
    int opcode;     /* opcode of the last one */
    sio__buf msg;   /* payload of the last one */
    int close_code; /* status of the last close frame decoded */
} client;

static ssize_t cl_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    client *cl = ud;
    if (cl->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < cl->in_len ? len : cl->in_len;
    memcpy(buf, cl->in, n);
    cl->in += n;
    cl->in_len -= n;
    return (ssize_t)n;
}

static ssize_t cl_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    client *cl = ud;
    assert_int_equal(sio__buf_append(&cl->wire, data, len), 0);
    return (ssize_t)len;
}

static int cl_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    memcpy(buf, key, len < 4 ? len : 4);
    return 0;
}

static void cl_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *ud)
{
    client *cl = ud;
    cl->nmsg++;
    cl->opcode = arg->opcode;
    cl->msg.len = 0;
    assert_int_equal(sio__buf_append(&cl->msg, arg->msg, arg->msg_length), 0);
    if (arg->opcode == WSLAY_CONNECTION_CLOSE)
        cl->close_code = arg->status_code;
}

static void client_init(client *cl)
{
    memset(cl, 0, sizeof *cl);
    struct wslay_event_callbacks cb = {cl_recv, cl_send, cl_genmask, NULL, NULL, NULL, cl_on_msg};
    assert_int_equal(wslay_event_context_client_init(&cl->ctx, &cb, cl), 0);
    sio__buf_init(&cl->wire, 0);
    sio__buf_init(&cl->msg, 0);
}

static void client_free(client *cl)
{
    wslay_event_context_free(cl->ctx);
    sio__buf_free(&cl->wire);
    sio__buf_free(&cl->msg);
}

/* Queues one message (data or control) and encodes it onto cl->wire. */
static void client_send(client *cl, int opcode, const void *data, size_t len)
{
    struct wslay_event_msg m = {(uint8_t)opcode, data, len};
    assert_int_equal(wslay_event_queue_msg(cl->ctx, &m), 0);
    assert_int_equal(wslay_event_send(cl->ctx), 0);
}

/* Decodes server bytes (must be whole frames) into cl's records. */
static void client_read(client *cl, const char *data, size_t len)
{
    cl->in = data;
    cl->in_len = len;
    assert_int_equal(wslay_event_recv(cl->ctx), 0);
    assert_int_equal(cl->in_len, 0);
}

/* Decodes and clears the server's whole output buffer. */
static void client_read_output(client *cl, sio__ws_conn *c)
{
    sio__buf *out = sio__ws_conn_output(c);
    client_read(cl, out->data, out->len);
    sio__buf_consume(out, out->len);
}

/* Appends a hand-made client frame: first byte b0 (FIN/RSV/opcode), masked
 * or not, with the shortest length encoding unless force_len64. */
static void raw_frame(sio__buf *b, unsigned b0, int masked, const void *payload, size_t len,
                      int force_len64)
{
    static const unsigned char key[4] = {0xa1, 0x02, 0xc3, 0x44};
    unsigned char h[14];
    size_t n = 0;
    h[n++] = (unsigned char)b0;
    unsigned m = masked ? 0x80u : 0;
    if (len < 126 && !force_len64) {
        h[n++] = (unsigned char)(m | len);
    } else if (len <= 0xFFFF && !force_len64) {
        h[n++] = (unsigned char)(m | 126);
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = (unsigned char)(m | 127);
        for (int i = 0; i < 8; i++)
            h[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    if (masked) {
        memcpy(h + n, key, 4);
        n += 4;
    }
    assert_int_equal(sio__buf_append(b, h, n), 0);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = ((const unsigned char *)payload)[i];
        assert_int_equal(sio__buf_append_byte(b, (char)(masked ? ch ^ key[i % 4] : ch)), 0);
    }
}

/* --------------------------------------------------------------- fixture */

/* One server connection, its log and a client, per test. */
typedef struct fx {
    sio__ws_conn *c;
    server_log log;
    client cl;
} fx;

static fx *fx_new(size_t max_message)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    sio__buf_init(&f->log.last, 0);
    f->c = sio__ws_conn_new(&srv_cb, &f->log, max_message);
    assert_non_null(f->c);
    client_init(&f->cl);
    return f;
}

static int setup(void **state)
{
    *state = fx_new(1000);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sio__ws_conn_free(f->c);
    client_free(&f->cl);
    sio__buf_free(&f->log.last);
    free(f);
    return 0;
}

/* Feeds everything the client has encoded so far; returns feed's result. */
static int feed_wire(fx *f)
{
    int rc = sio__ws_conn_feed(f->c, f->cl.wire.data, f->cl.wire.len);
    sio__buf_consume(&f->cl.wire, f->cl.wire.len);
    return rc;
}

/* ----------------------------------------------------------------- input */

static void test_text_message(void **state)
{
    fx *f = *state;
    client_send(&f->cl, WSLAY_TEXT_FRAME, "héllo", strlen("héllo"));
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 1);
    assert_int_equal(f->log.binary, 0);
    assert_int_equal(f->log.last.len, strlen("héllo"));
    assert_memory_equal(f->log.last.data, "héllo", f->log.last.len);
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    assert_false(sio__ws_conn_wants_close(f->c));
    assert_int_equal(f->log.nclose, 0);
}

static void test_binary_and_empty_messages(void **state)
{
    fx *f = *state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    client_send(&f->cl, WSLAY_BINARY_FRAME, all, sizeof all);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 1);
    assert_int_equal(f->log.binary, 1);
    assert_int_equal(f->log.last.len, 256);
    assert_memory_equal(f->log.last.data, all, 256);

    client_send(&f->cl, WSLAY_TEXT_FRAME, "", 0);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 2);
    assert_int_equal(f->log.binary, 0);
    assert_int_equal(f->log.last.len, 0);
}

static void test_several_messages_in_one_feed(void **state)
{
    fx *f = *state;
    client_send(&f->cl, WSLAY_TEXT_FRAME, "one", 3);
    client_send(&f->cl, WSLAY_TEXT_FRAME, "two", 3);
    client_send(&f->cl, WSLAY_BINARY_FRAME, "three", 5);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 3);
    assert_int_equal(f->log.binary, 1);
    assert_memory_equal(f->log.last.data, "three", 5);
}

static void test_fragmented_with_ping_between(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x01, 1, "Hel", 3, 0);   /* text, not FIN */
    raw_frame(&w, 0x89, 1, "p1", 2, 0);    /* ping in the middle */
    raw_frame(&w, 0x00, 1, "lo, ", 4, 0);  /* continuation */
    raw_frame(&w, 0x80, 1, "world", 5, 0); /* final continuation */
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.nmsg, 1);
    assert_int_equal(f->log.last.len, 12);
    assert_memory_equal(f->log.last.data, "Hello, world", 12);
    /* The ping was answered with a pong carrying its payload. */
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.nmsg, 1);
    assert_int_equal(f->cl.opcode, WSLAY_PONG);
    assert_memory_equal(f->cl.msg.data, "p1", 2);
    assert_int_equal(f->log.nclose, 0);
    sio__buf_free(&w);
}

static void test_ping_pong(void **state)
{
    fx *f = *state;
    client_send(&f->cl, WSLAY_PING, "are you there", 13);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 0);
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.nmsg, 1);
    assert_int_equal(f->cl.opcode, WSLAY_PONG);
    assert_int_equal(f->cl.msg.len, 13);
    assert_memory_equal(f->cl.msg.data, "are you there", 13);
    /* An unsolicited pong is ignored. */
    client_send(&f->cl, WSLAY_PONG, "x", 1);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    assert_int_equal(f->log.nmsg, 0);
}

static void test_peer_close(void **state)
{
    fx *f = *state;
    assert_int_equal(wslay_event_queue_close(f->cl.ctx, 1001, (const uint8_t *)"bye", 3), 0);
    assert_int_equal(wslay_event_send(f->cl.ctx), 0);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, 1001);
    assert_true(sio__ws_conn_wants_close(f->c));
    /* The echo carries the same code. */
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(f->cl.close_code, 1001);
    /* Anything after is refused and on_close is not called again. */
    assert_int_equal(sio__ws_conn_feed(f->c, "\x81\x80", 2), SIO_ECLOSED);
    assert_int_equal(sio__ws_conn_close(f->c, 1000, NULL), SIO_ECLOSED);
    assert_int_equal(sio__ws_conn_send(f->c, 0, "x", 1), SIO_ECLOSED);
    assert_int_equal(f->log.nclose, 1);
}

static void test_peer_close_without_status(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x88, 1, "", 0, 0);
    raw_frame(&w, 0x81, 1, "late", 4, 0); /* after the close: ignored */
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, 1005);
    assert_int_equal(f->log.nmsg, 0);
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_CONNECTION_CLOSE);
    sio__buf_free(&w);
}

/* Runs bytes into a fresh connection and checks the failure it causes:
 * feed's result, the on_close code and the close frame's code. */
static void expect_failure(fx *f, const sio__buf *w, int rc, int code)
{
    assert_int_equal(sio__ws_conn_feed(f->c, w->data, w->len), rc);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, code);
    assert_true(sio__ws_conn_wants_close(f->c));
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(f->cl.close_code, code);
    assert_int_equal(sio__ws_conn_feed(f->c, "", 0), SIO_ECLOSED);
    assert_int_equal(f->log.nclose, 1);
}

static void test_too_big(void **state)
{
    fx *f = *state;
    char big[1001];
    memset(big, 'a', sizeof big);
    /* Exactly the limit is fine. */
    client_send(&f->cl, WSLAY_TEXT_FRAME, big, 1000);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 1);
    /* One more byte fails with 1009 as soon as the frame starts: only the
     * 8-byte header and one payload byte are fed. */
    client_send(&f->cl, WSLAY_TEXT_FRAME, big, 1001);
    sio__buf hdr;
    sio__buf_init(&hdr, 0);
    assert_int_equal(sio__buf_append(&hdr, f->cl.wire.data, 9), 0);
    expect_failure(f, &hdr, SIO_ELIMIT, 1009);
    assert_int_equal(f->log.nmsg, 1);
    sio__buf_free(&hdr);
}

static void test_too_big_fragmented(void **state)
{
    fx *f = *state;
    char part[600];
    memset(part, 'b', sizeof part);
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x02, 1, part, sizeof part, 0);
    raw_frame(&w, 0x80, 1, part, sizeof part, 0);
    expect_failure(f, &w, SIO_ELIMIT, 1009);
    assert_int_equal(f->log.nmsg, 0);
    sio__buf_free(&w);
}

static void test_invalid_utf8(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x81, 1, "ok\xc3\x28", 4, 0);
    expect_failure(f, &w, SIO_EPROTO, 1007);
    assert_int_equal(f->log.nmsg, 0);
    sio__buf_free(&w);
}

static void test_truncated_utf8_across_fragments(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    /* A split code point across fragments is fine... */
    raw_frame(&w, 0x01, 1, "\xe2\x82", 2, 0);
    raw_frame(&w, 0x80, 1, "\xac", 1, 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.nmsg, 1);
    assert_memory_equal(f->log.last.data, "\xe2\x82\xac", 3);
    /* ...but a message ending mid code point is not. */
    w.len = 0;
    raw_frame(&w, 0x01, 1, "a", 1, 0);
    raw_frame(&w, 0x80, 1, "\xe2\x82", 2, 0);
    expect_failure(f, &w, SIO_EPROTO, 1007);
    assert_int_equal(f->log.nmsg, 1);
    sio__buf_free(&w);
}

static void test_unmasked_frame(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x81, 0, "hi", 2, 0);
    expect_failure(f, &w, SIO_EPROTO, 1002);
    assert_int_equal(f->log.nmsg, 0);
    sio__buf_free(&w);
}

static void test_protocol_errors(void **state)
{
    /* Each case on a fresh connection: {first frame b0, payload, len64}. */
    static const struct {
        unsigned b0;
        size_t len;
        int len64;
    } cases[] = {
        {0x80, 3, 0},   /* continuation with nothing to continue */
        {0x83, 3, 0},   /* reserved data opcode */
        {0x8b, 0, 0},   /* reserved control opcode */
        {0xc1, 3, 0},   /* RSV1 without an extension */
        {0x09, 1, 0},   /* fragmented ping */
        {0x89, 126, 0}, /* ping longer than 125 */
        {0x81, 3, 1},   /* non-minimal 64-bit length */
    };
    char payload[200];
    memset(payload, 'z', sizeof payload);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx *f = fx_new(1000);
        sio__buf w;
        sio__buf_init(&w, 0);
        raw_frame(&w, cases[i].b0, 1, payload, cases[i].len, cases[i].len64);
        expect_failure(f, &w, SIO_EPROTO, 1002);
        sio__buf_free(&w);
        void *st = f;
        teardown(&st);
    }
}

static void test_new_data_frame_inside_fragmented(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x01, 1, "a", 1, 0);
    raw_frame(&w, 0x81, 1, "b", 1, 0); /* must be a continuation */
    expect_failure(f, &w, SIO_EPROTO, 1002);
    assert_int_equal(f->log.nmsg, 0);
    sio__buf_free(&w);
}

static void test_bad_close_code(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x88, 1, "\x03\xed", 2, 0); /* 1005 may not be sent */
    expect_failure(f, &w, SIO_EPROTO, 1002);
    sio__buf_free(&w);
}

/* RFC 6455 5.5.1 / 7.4 (issue 11): a 1-byte close body, and codes that may
 * not be sent on the wire, are protocol errors; a reason that is not UTF-8
 * is 1007. wslay let a 1-byte body through as 1005. */
static void test_close_body_rules(void **state)
{
    static const struct {
        const char *body;
        size_t len;
        int code;
    } cases[] = {
        {"\x03", 1, 1002},
        {"\x03\xee", 2, 1002} /* 1006 */,
        {"\x03\xe7", 2, 1002} /* 999 */,
        {"\x07\xd0", 2, 1002} /* 2000 */,
        {"\x03\xf7", 2, 1002} /* 1015 */,
        {"\x03\xe8\xc3\x28", 4, 1007},
        {"\x03\xe8\xed\xa0\x80", 5, 1007} /* a surrogate */,
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx *f = fx_new(1000);
        sio__buf w;
        sio__buf_init(&w, 0);
        raw_frame(&w, 0x88, 1, cases[i].body, cases[i].len, 0);
        expect_failure(f, &w, SIO_EPROTO, cases[i].code);
        sio__buf_free(&w);
        void *st = f;
        teardown(&st);
    }
}

/* A valid close: code and UTF-8 reason reported, the code echoed. */
static void test_close_with_reason_echoed(void **state)
{
    fx *f = *state;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x88, 1, "\x0f\xa0h\xc3\xa9", 5, 0); /* 4000 "hé" */
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.close_code, 4000);
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(f->cl.close_code, 4000);
    sio__buf_free(&w);
}

/* Issue 11: a message of 200,000 empty continuation frames grew the
 * server by ~92 MB (wslay keeps a chunk per frame). A message is bounded
 * in frames while it is built: the frame past max_fragments closes 1008,
 * and nothing grows on the way. */
static void test_fragment_count_bounded(void **state)
{
    fx *f = *state;
    size_t base = sio__ws_conn_heap_bytes(f->c);
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x01, 1, "", 0, 0);
    for (int i = 1; i < SIO_WS_DEFAULT_MAX_FRAGMENTS; i++)
        raw_frame(&w, 0x00, 1, "", 0, 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.nclose, 0);
    assert_true(sio__ws_conn_heap_bytes(f->c) <= base + 64);
    w.len = 0;
    raw_frame(&w, 0x00, 1, "", 0, 0); /* frame 1025 */
    expect_failure(f, &w, SIO_ELIMIT, 1008);
    assert_int_equal(f->log.nmsg, 0);
    /* The limit is an option; the last fragment may complete the message. */
    fx *g = fx_new(1000);
    sio__ws_conn_set_max_fragments(g->c, 3);
    w.len = 0;
    raw_frame(&w, 0x01, 1, "a", 1, 0);
    raw_frame(&w, 0x00, 1, "b", 1, 0);
    raw_frame(&w, 0x80, 1, "c", 1, 0);
    assert_int_equal(sio__ws_conn_feed(g->c, w.data, w.len), 0);
    assert_int_equal(g->log.nmsg, 1);
    assert_memory_equal(g->log.last.data, "abc", 3);
    sio__buf_free(&w);
    void *st = g;
    teardown(&st);
}

static void test_byte_by_byte(void **state)
{
    fx *f = *state;
    char mid[300];
    for (size_t i = 0; i < sizeof mid; i++)
        mid[i] = (char)('a' + i % 26);
    client_send(&f->cl, WSLAY_TEXT_FRAME, "first", 5);
    client_send(&f->cl, WSLAY_PING, "pp", 2);
    client_send(&f->cl, WSLAY_BINARY_FRAME, mid, sizeof mid); /* 16-bit length */
    sio__buf w = f->cl.wire;
    sio__buf_init(&f->cl.wire, 0);
    int seen_first_at = -1;
    for (size_t i = 0; i < w.len; i++) {
        assert_int_equal(sio__ws_conn_feed(f->c, w.data + i, 1), 0);
        if (f->log.nmsg == 1 && seen_first_at < 0)
            seen_first_at = (int)i;
    }
    /* The first message came out on its last byte (2 + 4 + 5 = 11). */
    assert_int_equal(seen_first_at, 10);
    assert_int_equal(f->log.nmsg, 2);
    assert_int_equal(f->log.binary, 1);
    assert_int_equal(f->log.last.len, sizeof mid);
    assert_memory_equal(f->log.last.data, mid, sizeof mid);
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_PONG);
    assert_memory_equal(f->cl.msg.data, "pp", 2);
    sio__buf_free(&w);
}

/* ---------------------------------------------------------------- closing */

static void test_server_close_then_peer_echo(void **state)
{
    fx *f = *state;
    assert_int_equal(sio__ws_conn_close(f->c, 4000, "going"), 0);
    assert_true(sio__ws_conn_wants_close(f->c));
    assert_int_equal(sio__ws_conn_close(f->c, 1000, NULL), SIO_ECLOSED);
    assert_int_equal(sio__ws_conn_send(f->c, 0, "x", 1), SIO_ECLOSED);
    /* The client decodes the close and echoes it (wslay does that). */
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(f->cl.close_code, 4000);
    assert_memory_equal(f->cl.msg.data + 2, "going", 5);
    assert_int_equal(wslay_event_send(f->cl.ctx), 0);
    assert_true(f->cl.wire.len > 0);
    assert_int_equal(f->log.nclose, 0);
    /* A message racing the close is dropped; the echo completes it. */
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x81, 1, "late", 4, 0);
    assert_int_equal(sio__buf_append(&w, f->cl.wire.data, f->cl.wire.len), 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.nmsg, 0);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, 4000);
    /* No second close frame goes out. */
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    sio__buf_free(&w);
}

static void test_close_arguments(void **state)
{
    fx *f = *state;
    char longr[125];
    memset(longr, 'r', 124);
    longr[124] = '\0';
    assert_int_equal(sio__ws_conn_close(f->c, 1000, longr), SIO_EINVAL);
    assert_int_equal(sio__ws_conn_close(f->c, 1005, NULL), SIO_EINVAL);
    assert_int_equal(sio__ws_conn_close(f->c, 999, NULL), SIO_EINVAL);
    assert_int_equal(sio__ws_conn_close(f->c, 0, "reason needs a code"), SIO_EINVAL);
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    longr[123] = '\0';
    assert_int_equal(sio__ws_conn_close(f->c, 1000, longr), 0);
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.close_code, 1000);
    assert_int_equal(f->cl.msg.len, 125);
}

static void test_close_from_on_message(void **state)
{
    fx *f = *state;
    f->log.close_on_msg = 1;
    client_send(&f->cl, WSLAY_TEXT_FRAME, "a", 1);
    client_send(&f->cl, WSLAY_TEXT_FRAME, "b", 1);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 1);
    assert_memory_equal(f->log.last.data, "a", 1);
    assert_true(sio__ws_conn_wants_close(f->c));
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(f->cl.close_code, 1000);
}

static void test_protocol_error_after_our_close(void **state)
{
    fx *f = *state;
    assert_int_equal(sio__ws_conn_close(f->c, 1001, NULL), 0);
    sio__ws_conn_output(f->c)->len = 0;
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x81, 0, "x", 1, 0); /* unmasked */
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), SIO_EPROTO);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, 1006);
    /* Our close already went out: nothing more is written. */
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    sio__buf_free(&w);
}

/* ---------------------------------------------------------------- output */

static void test_frame_builders_decode(void **state)
{
    fx *f = *state;
    static const size_t lens[] = {0, 125, 126, 65535, 65536};
    static const size_t hlens[] = {2, 2, 4, 4, 10};
    char *payload = malloc(65536);
    assert_non_null(payload);
    for (size_t i = 0; i < 65536; i++)
        payload[i] = (char)('a' + i % 26); /* ASCII: text frames get UTF-8 checked */
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t len = lens[k];
        int binary = (int)(k % 2);
        /* 1. appended to a buffer */
        sio__buf b;
        sio__buf_init(&b, 0);
        assert_int_equal(sio__ws_frame_append(&b, binary, payload, len), 0);
        assert_int_equal(b.len, hlens[k] + len);
        client_read(&f->cl, b.data, b.len);
        assert_int_equal(f->cl.opcode, binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME);
        assert_int_equal(f->cl.msg.len, len);
        if (len)
            assert_memory_equal(f->cl.msg.data, payload, len);
        /* 2. shared frame: same bytes */
        sio__rcbuf *r = sio__ws_frame_new(binary, payload, len);
        assert_non_null(r);
        assert_int_equal(r->len, b.len);
        assert_memory_equal(r->data, b.data, b.len);
        /* 3. header only */
        char hdr[SIO_WS_FRAME_HEADER_MAX];
        assert_int_equal(sio__ws_frame_header(hdr, binary, len), hlens[k]);
        assert_memory_equal(hdr, b.data, hlens[k]);
        sio__rcbuf_unref(r);
        sio__buf_free(&b);
    }
    assert_int_equal(f->cl.nmsg, 5);
    free(payload);
}

static void test_conn_send_and_control_order(void **state)
{
    fx *f = *state;
    assert_int_equal(sio__ws_conn_send(f->c, 0, "data1", 5), 0);
    client_send(&f->cl, WSLAY_PING, "p", 1);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(sio__ws_conn_send(f->c, 1, "data2", 5), 0);
    /* One stream of whole frames: text, pong, binary. */
    sio__buf *out = sio__ws_conn_output(f->c);
    f->cl.in = out->data;
    f->cl.in_len = out->len;
    assert_int_equal(wslay_event_recv(f->cl.ctx), 0);
    assert_int_equal(f->cl.nmsg, 3);
    assert_int_equal(f->cl.opcode, WSLAY_BINARY_FRAME);
    assert_memory_equal(f->cl.msg.data, "data2", 5);
}

static void test_frame_append_limit_all_or_nothing(void **state)
{
    sio__buf b;
    sio__buf_init(&b, 10);
    assert_int_equal(sio__ws_frame_append(&b, 0, "12345678", 8), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(sio__ws_frame_append(&b, 0, "", 0), SIO_ELIMIT);
    assert_int_equal(b.len, 10);
    sio__buf_free(&b);
}

static void test_output_limit_fails_feed(void **state)
{
    fx *f = *state;
    sio__ws_conn_output(f->c)->limit = 4;
    client_send(&f->cl, WSLAY_PING, "too long for four", 17);
    assert_int_equal(feed_wire(f), SIO_ELIMIT);
    /* The pong's 2-byte header fitted but its payload did not: no half
     * frame may stay behind. */
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    assert_int_equal(f->log.nclose, 1);
    assert_true(sio__ws_conn_wants_close(f->c));
    assert_int_equal(sio__ws_conn_feed(f->c, "", 0), SIO_ECLOSED);
}

static void test_new_out_of_memory(void **state)
{
    sio__alloc_fail_after(1);
    assert_null(sio__ws_conn_new(&srv_cb, NULL, 0));
    sio__alloc_fail_after(0);
    sio__ws_conn *c = sio__ws_conn_new(NULL, NULL, 0);
    assert_non_null(c);
    /* No callbacks: messages and closes are simply not reported. */
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x81, 1, "x", 1, 0);
    raw_frame(&w, 0x88, 1, "\x03\xe8", 2, 0);
    assert_int_equal(sio__ws_conn_feed(c, w.data, w.len), 0);
    assert_true(sio__ws_conn_wants_close(c));
    sio__buf_free(&w);
    sio__ws_conn_free(c);
    sio__ws_conn_free(NULL);
}

/* An embedded connection (init/fini on the caller's memory) behaves like an
 * allocated one: a ping is answered, a message reported, and fini frees the
 * output and tail it holds (ASan reports a leak otherwise). */
static void test_embedded_init_fini(void **state)
{
    (void)state;
    server_log log;
    memset(&log, 0, sizeof log);
    sio__buf_init(&log.last, 0);
    sio__ws_conn c;
    sio__ws_conn_init(&c, &srv_cb, &log, 0);
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x89, 1, "hi", 2, 0);
    raw_frame(&w, 0x81, 1, "abc", 3, 0);
    raw_frame(&w, 0x81, 1, "par", 3, 0); /* incomplete: stays in the tail */
    assert_int_equal(sio__ws_conn_feed(&c, w.data, w.len - 1), 0);
    const sio__buf *out = sio__ws_conn_output(&c);
    assert_int_equal(out->len, 4);
    assert_memory_equal(out->data, "\x8a\x02hi", 4);
    assert_int_equal(log.nmsg, 1);
    assert_int_equal(log.last.len, 3);
    assert_memory_equal(log.last.data, "abc", 3);
    assert_true(sio__ws_conn_heap_bytes(&c) > sizeof c);
    sio__buf_free(&w);
    sio__buf_free(&log.last);
    sio__ws_conn_fini(&c);
}

static void test_large_message_in_chunks(void **state)
{
    fx *f = fx_new(100000);
    size_t n = 70000; /* 64-bit length encoding */
    unsigned char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 31);
    client_send(&f->cl, WSLAY_BINARY_FRAME, big, n);
    size_t total = f->cl.wire.len;
    assert_int_equal(total, n + 14);
    for (size_t off = 0; off < total; off += 997) {
        size_t k = total - off < 997 ? total - off : 997;
        assert_int_equal(sio__ws_conn_feed(f->c, f->cl.wire.data + off, k), 0);
    }
    assert_int_equal(f->log.nmsg, 1);
    assert_int_equal(f->log.last.len, n);
    assert_memory_equal(f->log.last.data, big, n);
    free(big);
    void *st = f;
    teardown(&st);
}

static void test_output_out_of_memory(void **state)
{
    fx *f = *state;
    client_send(&f->cl, WSLAY_PING, "p", 1);
    sio__alloc_fail_after(1); /* the output buffer's first growth */
    assert_int_equal(feed_wire(f), SIO_ENOMEM);
    sio__alloc_fail_after(0);
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, 1011);
    sio__alloc_fail_after(1);
    assert_null(sio__ws_frame_new(0, "x", 1));
    sio__alloc_fail_after(0);
}

/* ---------------------------------------------------------------- memory */

/* Empties the output like the net layer does, then lets it go. */
static void drain(sio__ws_conn *c)
{
    sio__ws_conn_output(c)->len = 0;
    sio__ws_conn_output_done(c);
}

/* 1 if c holds nothing but its struct: no wslay context, no buffers. */
static int is_idle(const sio__ws_conn *c, size_t base)
{
    return !sio__ws_conn_engine_alive(c) && sio__ws_conn_heap_bytes(c) == base;
}

static void test_idle_after_text_ping_fragmented(void **state)
{
    fx *f = *state;
    size_t base = sio__ws_conn_heap_bytes(f->c);
    assert_true(base < 256);
    assert_true(is_idle(f->c, base));
    /* a text message */
    client_send(&f->cl, WSLAY_TEXT_FRAME, "hello", 5);
    assert_int_equal(feed_wire(f), 0);
    assert_int_equal(f->log.nmsg, 1);
    assert_true(is_idle(f->c, base));
    /* a ping: the pong is in the output until drained */
    client_send(&f->cl, WSLAY_PING, "p", 1);
    assert_int_equal(feed_wire(f), 0);
    assert_false(sio__ws_conn_engine_alive(f->c));
    assert_true(sio__ws_conn_heap_bytes(f->c) > base);
    sio__ws_conn_output_done(f->c); /* not empty yet: kept */
    assert_int_equal(sio__ws_conn_output(f->c)->len, 3);
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.opcode, WSLAY_PONG);
    sio__ws_conn_output_done(f->c);
    assert_true(is_idle(f->c, base));
    /* a fragmented message over three feeds: wslay lives while it is open */
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x01, 1, "ab", 2, 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_true(sio__ws_conn_engine_alive(f->c));
    w.len = 0;
    raw_frame(&w, 0x00, 1, "cd", 2, 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_true(sio__ws_conn_engine_alive(f->c));
    w.len = 0;
    raw_frame(&w, 0x80, 1, "ef", 2, 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.nmsg, 2);
    assert_memory_equal(f->log.last.data, "abcdef", 6);
    assert_true(is_idle(f->c, base));
    sio__buf_free(&w);
}

static void test_output_freed_at_next_feed(void **state)
{
    fx *f = *state;
    size_t base = sio__ws_conn_heap_bytes(f->c);
    client_send(&f->cl, WSLAY_PING, "p", 1);
    assert_int_equal(feed_wire(f), 0);
    sio__ws_conn_output(f->c)->len = 0; /* drained without output_done */
    client_send(&f->cl, WSLAY_TEXT_FRAME, "x", 1);
    assert_int_equal(feed_wire(f), 0);
    assert_true(is_idle(f->c, base));
}

static void test_split_frames_every_offset(void **state)
{
    /* A ping, a 16-bit-length text frame and a 64-bit-length binary frame,
     * cut in two at every offset: same messages, same pong, idle after. */
    size_t n = 70000;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'q', n);
    client cl;
    client_init(&cl);
    client_send(&cl, WSLAY_PING, "pp", 2);
    client_send(&cl, WSLAY_TEXT_FRAME, big, 300);
    client_send(&cl, WSLAY_BINARY_FRAME, big, n);
    for (size_t cut = 0; cut <= cl.wire.len; cut += cut < 400 ? 1 : 4093) {
        fx *f = fx_new(100000);
        size_t base = sio__ws_conn_heap_bytes(f->c);
        char *wire = malloc(cl.wire.len); /* feed unmasks in place */
        assert_non_null(wire);
        memcpy(wire, cl.wire.data, cl.wire.len);
        assert_int_equal(sio__ws_conn_feed(f->c, wire, cut), 0);
        assert_int_equal(sio__ws_conn_feed(f->c, wire + cut, cl.wire.len - cut), 0);
        free(wire);
        assert_int_equal(f->log.nmsg, 2);
        assert_int_equal(f->log.binary, 1);
        assert_int_equal(f->log.last.len, n);
        client_read_output(&f->cl, f->c);
        assert_int_equal(f->cl.nmsg, 1);
        assert_int_equal(f->cl.opcode, WSLAY_PONG);
        sio__ws_conn_output_done(f->c);
        assert_true(is_idle(f->c, base));
        void *st = f;
        teardown(&st);
    }
    client_free(&cl);
    free(big);
}

static void test_partial_frame_waits_in_tail(void **state)
{
    fx *f = *state;
    size_t base = sio__ws_conn_heap_bytes(f->c);
    client_send(&f->cl, WSLAY_TEXT_FRAME, "first", 5);
    client_send(&f->cl, WSLAY_TEXT_FRAME, "second", 6);
    /* the first frame and 3 bytes of the second: no wslay, 3 bytes kept */
    assert_int_equal(sio__ws_conn_feed(f->c, f->cl.wire.data, 11 + 3), 0);
    assert_int_equal(f->log.nmsg, 1);
    assert_false(sio__ws_conn_engine_alive(f->c));
    assert_true(sio__ws_conn_heap_bytes(f->c) > base);
    assert_int_equal(sio__ws_conn_feed(f->c, f->cl.wire.data + 14, f->cl.wire.len - 14), 0);
    assert_int_equal(f->log.nmsg, 2);
    assert_memory_equal(f->log.last.data, "second", 6);
    assert_true(is_idle(f->c, base));
}

static void test_bad_header_fails_before_payload(void **state)
{
    /* A header alone is enough to refuse a frame: nothing is buffered. */
    static const struct {
        const char *hdr;
        size_t len;
        int rc;
        int code;
    } cases[] = {
        {"\x81\xfe\x03\xe9\x01\x02\x03\x04", 8, SIO_ELIMIT, 1009}, /* 1001 > 1000 */
        {"\x81\xff\x00\x00\x00\x01\x00\x00\x00\x00"
         "abcd",
         14, SIO_ELIMIT, 1009},
        {"\x82\x7e\x03\xe9", 4, SIO_EPROTO, 1002}, /* unmasked */
        {"\x81\xff\x80\x00\x00\x00\x00\x00\x00\x00"
         "abcd",
         14, SIO_EPROTO, 1002},                    /* 2^63 */
        {"\x89\xfe", 2, SIO_EPROTO, 1002},         /* long ping: 2 bytes tell */
        {"\x81\xfe\x00\x7d", 4, SIO_EPROTO, 1002}, /* non-minimal, before the key */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx *f = fx_new(1000);
        size_t base = sio__ws_conn_heap_bytes(f->c);
        sio__buf w;
        sio__buf_init(&w, 0);
        assert_int_equal(sio__buf_append(&w, cases[i].hdr, cases[i].len), 0);
        expect_failure(f, &w, cases[i].rc, cases[i].code);
        sio__ws_conn_output_done(f->c);
        assert_true(is_idle(f->c, base));
        sio__buf_free(&w);
        void *st = f;
        teardown(&st);
    }
}

static void test_too_big_across_fragments_header_only(void **state)
{
    fx *f = *state;
    char part[600];
    memset(part, 'b', sizeof part);
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x02, 1, part, sizeof part, 0);
    raw_frame(&w, 0x80, 1, part, sizeof part, 0);
    /* the first fragment and the second one's header: 600 + 600 > 1000 */
    w.len = 8 + 600 + 8;
    expect_failure(f, &w, SIO_ELIMIT, 1009);
    assert_int_equal(f->log.nmsg, 0);
    assert_false(sio__ws_conn_engine_alive(f->c));
    sio__buf_free(&w);
}

static void test_close_without_engine(void **state)
{
    fx *f = *state;
    size_t base = sio__ws_conn_heap_bytes(f->c);
    assert_int_equal(sio__ws_conn_close(f->c, 1001, "bye"), 0);
    assert_false(sio__ws_conn_engine_alive(f->c));
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.close_code, 1001);
    sio__ws_conn_output_done(f->c);
    /* a ping after our close is not answered; the echo ends reading */
    sio__buf w;
    sio__buf_init(&w, 0);
    raw_frame(&w, 0x89, 1, "p", 1, 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    assert_true(is_idle(f->c, base));
    w.len = 0;
    raw_frame(&w, 0x88, 1, "\x03\xe9", 2, 0);
    assert_int_equal(sio__ws_conn_feed(f->c, w.data, w.len), 0);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, 1001);
    assert_int_equal(sio__ws_conn_output(f->c)->len, 0);
    assert_true(is_idle(f->c, base));
    sio__buf_free(&w);
}

static void test_close_from_on_message_after_ping(void **state)
{
    fx *f = *state;
    f->log.close_on_msg = 1;
    client_send(&f->cl, WSLAY_PING, "1", 1);
    client_send(&f->cl, WSLAY_TEXT_FRAME, "a", 1);
    client_send(&f->cl, WSLAY_PING, "2", 1);
    assert_int_equal(feed_wire(f), 0);
    /* the first pong, then our close, and nothing after it */
    sio__buf *out = sio__ws_conn_output(f->c);
    assert_int_equal(out->len, 3 + 8);
    assert_memory_equal(out->data,
                        "\x8a\x01"
                        "1"
                        "\x88\x06\x03\xe8"
                        "done",
                        11);
}

static void test_tail_out_of_memory(void **state)
{
    fx *f = *state;
    sio__alloc_fail_after(1); /* the tail's first growth */
    assert_int_equal(sio__ws_conn_feed(f->c, "\x81\x85", 2), SIO_ENOMEM);
    sio__alloc_fail_after(0);
    assert_int_equal(f->log.nclose, 1);
    assert_int_equal(f->log.close_code, 1011);
    client_read_output(&f->cl, f->c);
    assert_int_equal(f->cl.close_code, 1011);
    assert_int_equal(sio__ws_conn_feed(f->c, "x", 1), SIO_ECLOSED);
}

#if defined(__SANITIZE_ADDRESS__)
#define WS_LIBC_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WS_LIBC_MALLOC 0
#endif
#endif
#ifndef WS_LIBC_MALLOC
#define WS_LIBC_MALLOC 1
#endif

static void test_idle_bytes_mallinfo(void **state)
{
    /* 200 connections that each got a message and a ping, measured by the
     * libc allocator (which wslay uses too). Under ASan malloc is not
     * libc's: skipped. */
    if (!WS_LIBC_MALLOC)
        skip();
    enum { N = 200 };
    sio__ws_conn *cs[N];
    client cl;
    client_init(&cl);
    client_send(&cl, WSLAY_TEXT_FRAME, "42[\"chat\",\"hi\"]", 16);
    client_send(&cl, WSLAY_PING, "", 0);
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < N; i++) {
        cs[i] = sio__ws_conn_new(NULL, NULL, 1000);
        assert_non_null(cs[i]);
        assert_int_equal(sio__ws_conn_feed(cs[i], cl.wire.data, cl.wire.len), 0);
        drain(cs[i]);
    }
    size_t after = mallinfo2().uordblks;
    print_message("idle WebSocket: %zu bytes each (struct %zu)\n", (after - before) / N,
                  sio__ws_conn_heap_bytes(cs[0]));
    assert_true(after - before <= (size_t)N * 256);
    for (int i = 0; i < N; i++)
        sio__ws_conn_free(cs[i]);
    client_free(&cl);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_text_message),
        T(test_binary_and_empty_messages),
        T(test_several_messages_in_one_feed),
        T(test_fragmented_with_ping_between),
        T(test_ping_pong),
        T(test_peer_close),
        T(test_peer_close_without_status),
        T(test_too_big),
        T(test_too_big_fragmented),
        T(test_invalid_utf8),
        T(test_truncated_utf8_across_fragments),
        T(test_unmasked_frame),
        cmocka_unit_test(test_protocol_errors),
        T(test_new_data_frame_inside_fragmented),
        T(test_bad_close_code),
        T(test_byte_by_byte),
        T(test_server_close_then_peer_echo),
        T(test_close_arguments),
        T(test_close_from_on_message),
        T(test_protocol_error_after_our_close),
        T(test_frame_builders_decode),
        T(test_conn_send_and_control_order),
        cmocka_unit_test(test_frame_append_limit_all_or_nothing),
        T(test_output_limit_fails_feed),
        cmocka_unit_test(test_new_out_of_memory),
        cmocka_unit_test(test_embedded_init_fini),
        cmocka_unit_test(test_large_message_in_chunks),
        T(test_output_out_of_memory),
        T(test_idle_after_text_ping_fragmented),
        T(test_output_freed_at_next_feed),
        cmocka_unit_test(test_split_frames_every_offset),
        T(test_partial_frame_waits_in_tail),
        cmocka_unit_test(test_bad_header_fails_before_payload),
        T(test_too_big_across_fragments_header_only),
        T(test_close_body_rules),
        T(test_close_with_reason_echoed),
        T(test_fragment_count_bounded),
        T(test_close_without_engine),
        T(test_close_from_on_message_after_ping),
        T(test_tail_out_of_memory),
        cmocka_unit_test(test_idle_bytes_mallinfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
