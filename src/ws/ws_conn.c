/* Server-side WebSocket connection: see ws_conn.h.
 *
 * wslay's event API is made sans-I/O by its two I/O callbacks: the recv
 * callback hands out the bytes of the current call and then reports
 * WSLAY_ERR_WOULDBLOCK (so wslay_event_recv always returns instead of
 * stalling), and the send callback appends everything to the output buffer
 * and never refuses bytes, so each wslay_event_send call leaves only whole
 * frames behind it.
 *
 * Idle memory. A wslay context costs ~8.9 KB (two 4 KB buffers), far too
 * much for 100k idle connections, so it only lives while a message is in
 * flight: it is created when input arrives and freed after the feed when the
 * connection is between messages (no fragmented message open) or done.
 * That is only sound if wslay never holds part of a frame, so a small frame
 * scanner (ws_scan, section 5.2) runs ahead of wslay: wslay gets whole
 * frames only, and an incomplete last frame waits in the connection's tail
 * buffer until it is whole (freed again once empty). The scanner checks
 * every header as wslay would (reserved bits, mask, opcodes, control frame
 * rules, minimal lengths, fragmentation order, max_message) and fails the
 * connection itself on a bad one, so nothing is buffered for a frame that
 * is refused, and the tail never holds more than one frame (<= max_message
 * + 14 bytes). A fragmented message keeps the context alive: its UTF-8
 * state and reassembled payload live there. Our own close frame is written
 * directly (not queued in wslay), so closing costs no context either; a
 * context created after it has writing shut down, as wslay's would after
 * sending a close (no pong, no close echo).
 *
 * After each wslay_event_recv the outcome is classified (ws_after_recv):
 *  - still reading: flush control frames (pongs), done;
 *  - the peer's close frame arrived: wslay queued the echo; flush it and
 *    report the peer's code through on_close;
 *  - wslay failed the connection itself (section 7.1.7): it queued a close
 *    with 1002, 1007 or 1009; flush it and report that code;
 *  - wslay_event_recv returned an error: a frame-layer violation for which
 *    wslay queues a close without a status code, or out-of-memory. We
 *    suppress wslay's output and write our own close frame with 1002 or 1011.
 *
 * Data frames are never sent through wslay: we build them directly (server
 * frames are unmasked, section 5.1) so a broadcast frame can be shared. */
#include "ws/ws_conn.h"

#include <string.h>

#include <wslay/wslay.h>

#include "core/alloc.h"
#include "core/error.h"

/* Opcodes (section 5.2). */
#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

/* Longest close reason: a control payload is at most 125 bytes (5.5). */
#define WS_MAX_REASON 123

/* wslay's default message limit, used when max_message is 0. */
#define WS_DEFAULT_MAX_MESSAGE ((1u << 31) - 1)

/* Writes a header for an unmasked FIN frame; returns its size (5.2). */
static size_t ws_header(unsigned char *h, unsigned opcode, uint64_t len)
{
    h[0] = (unsigned char)(0x80u | opcode);
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

size_t sio__ws_frame_header(char hdr[SIO_WS_FRAME_HEADER_MAX], int binary, size_t len)
{
    return ws_header((unsigned char *)hdr, binary ? WS_OP_BINARY : WS_OP_TEXT, len);
}

/* Appends a whole frame, all or nothing (one reserve covers both parts). */
static int ws_frame_append_op(sio_buf *out, unsigned opcode, const void *payload, size_t len)
{
    unsigned char hdr[SIO_WS_FRAME_HEADER_MAX];
    size_t hlen = ws_header(hdr, opcode, len);
    if (len > SIZE_MAX - hlen)
        return SIO_ENOMEM;
    int rc = sio__buf_reserve(out, hlen + len);
    if (rc < 0)
        return rc;
    sio__buf_append(out, hdr, hlen);
    sio__buf_append(out, payload, len);
    return 0;
}

int sio__ws_frame_append(sio_buf *out, int binary, const void *payload, size_t len)
{
    return ws_frame_append_op(out, binary ? WS_OP_BINARY : WS_OP_TEXT, payload, len);
}

sio_rcbuf *sio__ws_frame_new(int binary, const void *payload, size_t len)
{
    char hdr[SIO_WS_FRAME_HEADER_MAX];
    size_t hlen = sio__ws_frame_header(hdr, binary, len);
    return sio__rcbuf_new2(hdr, hlen, payload, len);
}

/* Appends a close frame: code (network order, 0 for none) and reason. */
static int ws_close_frame_append(sio_buf *out, int code, const char *reason, size_t rlen)
{
    unsigned char p[2 + WS_MAX_REASON];
    size_t n = 0;
    if (code != 0) {
        p[0] = (unsigned char)(code >> 8);
        p[1] = (unsigned char)code;
        if (rlen > 0)
            memcpy(p + 2, reason, rlen);
        n = 2 + rlen;
    }
    return ws_frame_append_op(out, WS_OP_CLOSE, p, n);
}

/* ------------------------------------------------------ frame scanner */

/* A client frame header as the scanner sees it (section 5.2). */
typedef struct ws_hdr {
    unsigned b0;  /* FIN, RSV1-3, opcode */
    unsigned b1;  /* MASK and the 7-bit length */
    uint64_t len; /* payload length */
    size_t size;  /* header bytes, mask key included */
} ws_hdr;

/* Size of the header starting at p given its first n bytes: 2 until the
 * second byte is known, then 2 + extended length + mask key. */
static size_t ws_header_size(const unsigned char *p, size_t n)
{
    if (n < 2)
        return 2;
    unsigned l7 = p[1] & 0x7Fu;
    return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((p[1] & 0x80u) ? 4 : 0);
}

/* 1 if the header breaks a framing rule wslay checks as soon as it has
 * the bytes: a control frame must be short and unfragmented (5.5), which
 * the first two bytes tell; a length must use the shortest encoding (5.2),
 * which the extended length tells (have_len). */
static int ws_framing_error(const ws_hdr *h, int have_len)
{
    unsigned l7 = h->b1 & 0x7Fu;
    if ((h->b0 & 0x08u) && (l7 > 125 || !(h->b0 & 0x80u)))
        return 1;
    return have_len &&
           ((l7 == 126 && h->len < 126) || (l7 == 127 && (h->len <= 0xFFFF || h->len >> 63)));
}

/* Decodes the header at p from its first n bytes: 1 when all of it is
 * there, or when the part that is there already breaks a framing rule (so
 * the frame is refused as early as wslay would); else 0. */
static int ws_parse(const unsigned char *p, size_t n, ws_hdr *h)
{
    h->size = ws_header_size(p, n);
    if (n < 2)
        return 0;
    h->b0 = p[0];
    h->b1 = p[1];
    unsigned l7 = p[1] & 0x7Fu;
    size_t ext = l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
    h->len = l7;
    if (n >= 2 + ext && ext > 0) {
        h->len = 0;
        for (size_t i = 0; i < ext; i++)
            h->len = (h->len << 8) | p[2 + i];
    }
    return n >= h->size || ws_framing_error(h, n >= 2 + ext);
}

/* 1 if opcode may come next: a continuation only inside a fragmented
 * message, a new text/binary only outside one, control frames anywhere. */
static int ws_opcode_ok(const sio_ws_conn *c, unsigned op)
{
    switch (op) {
    case WS_OP_CONT:
        return c->frag_open;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        return !c->frag_open;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        return 1;
    default: /* reserved opcodes (5.2) */
        return 0;
    }
}

/* The close code a header fails the connection with, or 0 if it is fine:
 * the checks wslay makes, in its order, so the outcome is the same. */
static int ws_check(const sio_ws_conn *c, const ws_hdr *h)
{
    unsigned op = h->b0 & 0x0Fu;
    int control = (op & 0x8u) != 0;
    if (ws_framing_error(h, 1))
        return SIO_WS_CLOSE_PROTOCOL_ERROR;
    if ((h->b0 & 0x70u) || !(h->b1 & 0x80u) || !ws_opcode_ok(c, op))
        return SIO_WS_CLOSE_PROTOCOL_ERROR; /* no extension; clients mask (5.3) */
    uint64_t so_far = control ? 0 : c->frag_len;
    if (h->len > c->max_message - so_far)
        return SIO_WS_CLOSE_TOO_BIG;
    return 0;
}

/* A whole, valid frame goes to wslay: track the fragmented message. */
static void ws_account(sio_ws_conn *c, const ws_hdr *h)
{
    if (h->b0 & 0x08u)
        return; /* control frames may interleave; they change nothing */
    c->frag_open = !(h->b0 & 0x80u);
    c->frag_len = c->frag_open ? c->frag_len + (uint32_t)h->len : 0; /* <= max_message */
}

/* Length of the run of whole, valid frames at the start of p (accounted as
 * they go). *code gets the close code of a bad header right after them
 * (0 if the rest is merely an incomplete frame). */
static size_t ws_scan(sio_ws_conn *c, const char *p, size_t n, int *code)
{
    size_t off = 0;
    ws_hdr h;
    *code = 0;
    while (ws_parse((const unsigned char *)p + off, n - off, &h)) {
        *code = ws_check(c, &h);
        if (*code != 0 || h.len > n - off - h.size)
            break;
        ws_account(c, &h);
        off += h.size + (size_t)h.len;
    }
    return off;
}

/* ------------------------------------------------------------- wslay */

/* wslay wants input: give it what is left, then WOULDBLOCK so that
 * wslay_event_recv returns instead of waiting for more. */
static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    sio_ws_conn *c = user;
    if (c->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (ssize_t)n;
}

/* wslay has frame bytes for the peer: take them all, or fail hard (a
 * partial acceptance would leave a half frame that data frames could
 * interleave with). */
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    sio_ws_conn *c = user;
    int rc = sio__buf_append(&c->out, data, len);
    if (rc < 0) {
        c->out_limit = rc == SIO_ELIMIT;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

/* A complete message or control frame arrived (wslay already answered
 * pings and queued the close echo). */
static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    sio_ws_conn *c = user;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        /* Messages racing our close are dropped: the application is done. */
        if (c->cb && c->cb->on_message && !c->we_closed)
            c->cb->on_message(c, arg->opcode == WSLAY_BINARY_FRAME,
                             arg->msg ? (const char *)arg->msg : "", arg->msg_length, c->data);
        break;
    case WSLAY_CONNECTION_CLOSE:
        c->peer_code = arg->status_code ? arg->status_code : (uint16_t)SIO_WS_CLOSE_NO_STATUS;
        break;
    default: /* ping (already answered) and pong: nothing to do */
        break;
    }
}

/* Creates wslay's context if there is none (input arrived). */
static int ws_ctx_open(sio_ws_conn *c)
{
    if (c->ctx)
        return 0;
    struct wslay_event_callbacks wcb = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .on_msg_recv_callback = ws_msg_cb,
    };
    if (wslay_event_context_server_init(&c->ctx, &wcb, c) != 0) {
        c->ctx = NULL; /* wslay may leave a freed pointer behind */
        return SIO_ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(c->ctx, c->max_message);
    /* Our close is out: like wslay after sending one, write nothing more. */
    if (c->we_closed)
        wslay_event_shutdown_write(c->ctx);
    return 0;
}

/* Frees wslay's context when it holds nothing worth keeping: between
 * messages (it was only ever given whole frames) or once reading is over.
 * Also gives back the memory of empty buffers and of a tail that will
 * never be read. */
static void ws_trim(sio_ws_conn *c)
{
    if (c->ctx && (c->done || !c->frag_open)) {
        wslay_event_context_free(c->ctx);
        c->ctx = NULL;
    }
    if (c->out.len == 0)
        sio__buf_free(&c->out);
    if (c->tail.len == 0 || c->done) /* once done, input is discarded */
        sio__buf_free(&c->tail);
}

void sio__ws_conn_init(sio_ws_conn *c, const sio_ws_callbacks *cb, void *data,
                       size_t max_message)
{
    memset(c, 0, sizeof *c);
    c->cb = cb;
    c->data = data;
    if (max_message == 0)
        max_message = WS_DEFAULT_MAX_MESSAGE;
    c->max_message = max_message < UINT32_MAX ? (uint32_t)max_message : UINT32_MAX;
    sio__buf_init(&c->out, 0);
    sio__buf_init(&c->tail, 0);
}

void sio__ws_conn_fini(sio_ws_conn *c)
{
    wslay_event_context_free(c->ctx);
    c->ctx = NULL;
    sio__buf_free(&c->out);
    sio__buf_free(&c->tail);
}

sio_ws_conn *sio__ws_conn_new(const sio_ws_callbacks *cb, void *data, size_t max_message)
{
    sio_ws_conn *c = sio__malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    sio__ws_conn_init(c, cb, data, max_message);
    return c;
}

void sio__ws_conn_free(sio_ws_conn *c)
{
    if (c == NULL)
        return;
    sio__ws_conn_fini(c);
    sio__free(c);
}

/* Moves wslay's queued control frames into the output buffer. wslay hands
 * a frame over in several pieces (header, payload), so when the buffer
 * refuses one, everything this flush added is dropped again: the output
 * must only ever hold whole frames, and the connection is failing anyway. */
static int ws_flush(sio_ws_conn *c)
{
    size_t mark = c->out.len;
    if (wslay_event_send(c->ctx) == 0)
        return 0;
    c->out.len = mark;
    return c->out_limit ? SIO_ELIMIT : SIO_ENOMEM;
}

/* Reading is over: tell the user once, and hand back err for feed. */
static int ws_finish(sio_ws_conn *c, int code, int err)
{
    c->done = 1;
    if (c->ctx)
        wslay_event_shutdown_read(c->ctx);
    if (c->cb && c->cb->on_close)
        c->cb->on_close(c, code, c->data);
    return err;
}

/* Fails the connection with our own close frame carrying code, unless our
 * close already went out (then nothing more is written: 1006). wslay's
 * output, if any, is suppressed. */
static int ws_reject(sio_ws_conn *c, int code, int err)
{
    if (c->ctx)
        wslay_event_shutdown_write(c->ctx);
    if (c->we_closed)
        return ws_finish(c, SIO_WS_CLOSE_ABNORMAL, err);
    int rc = ws_close_frame_append(&c->out, code, NULL, 0);
    return ws_finish(c, code, rc < 0 ? rc : err);
}

/* Classifies the state after wslay_event_recv (see the file comment). */
static int ws_after_recv(sio_ws_conn *c, int r)
{
    if (r == WSLAY_ERR_NOMEM)
        return ws_reject(c, SIO_WS_CLOSE_INTERNAL_ERROR, SIO_ENOMEM);
    if (r != 0)
        return ws_reject(c, SIO_WS_CLOSE_PROTOCOL_ERROR, SIO_EPROTO);
    int rc = ws_flush(c);
    if (wslay_event_get_read_enabled(c->ctx))
        return rc < 0 ? ws_finish(c, SIO_WS_CLOSE_INTERNAL_ERROR, rc) : 0;
    if (c->peer_code != 0)
        return ws_finish(c, c->peer_code, rc);
    /* wslay failed the connection and sent its close, unless ours had
     * already gone out (then its close was refused). */
    int code = SIO_WS_CLOSE_ABNORMAL;
    if (!c->we_closed && rc == 0 && wslay_event_get_close_sent(c->ctx))
        code = wslay_event_get_status_code_sent(c->ctx);
    int err = code == SIO_WS_CLOSE_TOO_BIG ? SIO_ELIMIT : SIO_EPROTO;
    return ws_finish(c, code, rc < 0 ? rc : err);
}

/* Runs whole frames through wslay (creating its context if needed). */
static int ws_recv(sio_ws_conn *c, const char *data, size_t len)
{
    if (ws_ctx_open(c) < 0)
        return ws_reject(c, SIO_WS_CLOSE_INTERNAL_ERROR, SIO_ENOMEM);
    c->in = data;
    c->in_len = len;
    wslay_event_set_error(c->ctx, 0);
    int r = wslay_event_recv(c->ctx);
    /* Bytes after a close frame or an error are dropped (5.5.1, 7.1.7). */
    c->in = NULL;
    c->in_len = 0;
    return ws_after_recv(c, r);
}

/* Moves up to want - tail.len bytes of the input into the tail. */
static int ws_tail_take(sio_ws_conn *c, const char **data, size_t *len, size_t want)
{
    size_t n = want - c->tail.len;
    if (n > *len)
        n = *len;
    int rc = sio__buf_append(&c->tail, *data, n);
    if (rc < 0)
        return ws_reject(c, SIO_WS_CLOSE_INTERNAL_ERROR, rc);
    *data += n;
    *len -= n;
    return 0;
}

/* Completes the frame waiting in the tail with the first bytes of the
 * input (header first, to learn the frame's size, then its payload) and
 * runs it through wslay once whole. Advances *data and *len. */
static int ws_feed_tail(sio_ws_conn *c, const char **data, size_t *len)
{
    ws_hdr h;
    while (!ws_parse((const unsigned char *)c->tail.data, c->tail.len, &h)) {
        if (*len == 0)
            return 0;
        int rc = ws_tail_take(c, data, len, h.size);
        if (rc < 0)
            return rc;
    }
    int code = ws_check(c, &h);
    if (code != 0)
        return ws_reject(c, code, code == SIO_WS_CLOSE_TOO_BIG ? SIO_ELIMIT : SIO_EPROTO);
    int rc = ws_tail_take(c, data, len, h.size + (size_t)h.len);
    if (rc < 0 || c->tail.len < h.size + h.len)
        return rc;
    ws_account(c, &h);
    rc = ws_recv(c, c->tail.data, c->tail.len);
    sio__buf_free(&c->tail);
    return rc;
}

/* Runs the whole frames at the start of data through wslay straight from
 * the caller's bytes, and keeps an incomplete last frame in the tail. */
static int ws_feed_direct(sio_ws_conn *c, const char *data, size_t len)
{
    int code;
    size_t n = ws_scan(c, data, len, &code);
    if (n > 0) {
        int rc = ws_recv(c, data, n);
        if (rc < 0 || c->done)
            return rc;
    }
    if (code != 0)
        return ws_reject(c, code, code == SIO_WS_CLOSE_TOO_BIG ? SIO_ELIMIT : SIO_EPROTO);
    int rc = sio__buf_append(&c->tail, data + n, len - n);
    return rc < 0 ? ws_reject(c, SIO_WS_CLOSE_INTERNAL_ERROR, rc) : 0;
}

int sio__ws_conn_feed(sio_ws_conn *c, const char *data, size_t len)
{
    if (c->done)
        return SIO_ECLOSED;
    int rc = 0;
    if (c->tail.len > 0)
        rc = ws_feed_tail(c, &data, &len);
    if (rc == 0 && !c->done && len > 0)
        rc = ws_feed_direct(c, data, len);
    ws_trim(c);
    return rc;
}

sio_buf *sio__ws_conn_output(sio_ws_conn *c)
{
    return &c->out;
}

void sio__ws_conn_output_done(sio_ws_conn *c)
{
    if (c->out.len == 0)
        sio__buf_free(&c->out);
}

int sio__ws_conn_wants_close(const sio_ws_conn *c)
{
    return c->done || c->we_closed;
}

/* Codes an endpoint may put in a close frame (7.4.1, 7.4.2): 1004-1006
 * and 1015 are reserved for reporting, never sent. */
static int ws_code_sendable(int code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

int sio__ws_conn_close(sio_ws_conn *c, int code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > WS_MAX_REASON || (code == 0 && rlen > 0) || (code != 0 && !ws_code_sendable(code)))
        return SIO_EINVAL;
    if (c->done || c->we_closed)
        return SIO_ECLOSED;
    c->we_closed = 1;
    int rc = 0;
    if (c->ctx) {
        /* Pongs wslay queued earlier in this feed go first; none after. */
        rc = ws_flush(c);
        wslay_event_shutdown_write(c->ctx);
    }
    return rc < 0 ? rc : ws_close_frame_append(&c->out, code, reason, rlen);
}

int sio__ws_conn_send(sio_ws_conn *c, int binary, const void *payload, size_t len)
{
    if (sio__ws_conn_wants_close(c))
        return SIO_ECLOSED;
    return sio__ws_frame_append(&c->out, binary, payload, len);
}

size_t sio__ws_conn_heap_bytes(const sio_ws_conn *c)
{
    return sizeof *c + c->out.cap + c->tail.cap;
}

int sio__ws_conn_engine_alive(const sio_ws_conn *c)
{
    return c->ctx != NULL;
}
