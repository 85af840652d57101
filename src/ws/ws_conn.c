/* Server-side WebSocket connection: see ws_conn.h.
 *
 * wslay's event API is made sans-I/O by its two I/O callbacks: the recv
 * callback hands out the bytes of the current sio__ws_conn_feed call and
 * reports WSLAY_ERR_WOULDBLOCK once they are exhausted (so wslay_event_recv
 * always returns instead of stalling; partial frames stay in wslay's own
 * buffer until the next feed), and the send callback appends everything to
 * the output buffer and never refuses bytes, so each wslay_event_send call
 * leaves only whole frames behind it.
 *
 * After each wslay_event_recv the outcome is classified (ws_after_recv):
 *  - still reading: flush control frames (pongs), done;
 *  - the peer's close frame arrived: wslay queued the echo; flush it and
 *    report the peer's code through on_close;
 *  - wslay failed the connection itself (section 7.1.7): it queued a close
 *    with 1002, 1007 or 1009; flush it and report that code;
 *  - wslay_event_recv returned an error: a frame-layer violation (bad
 *    length encoding, fragmented or oversized control frame) for which wslay
 *    queues a close without a status code, or out-of-memory. We suppress
 *    wslay's output and write our own close frame with 1002 or 1011.
 *
 * Data frames are never sent through wslay: we build them directly (server
 * frames are unmasked, section 5.1) so a broadcast frame can be shared. */
#include "ws/ws_conn.h"

#include <string.h>

#include <wslay/wslay.h>

#include "core/alloc.h"
#include "core/error.h"

/* Opcodes we write ourselves (section 5.2). */
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8

/* Longest close reason: a control payload is at most 125 bytes (5.5). */
#define WS_MAX_REASON 123

struct sio_ws_conn {
    wslay_event_context_ptr ctx; /* wslay's receive state and control queue */
    sio_ws_callbacks cb;         /* the user's callbacks (copied) */
    void *data;                  /* passed back to every callback */
    sio_buf out;                 /* bytes for the peer, whole frames only */
    const char *in;              /* unread bytes of the current feed */
    size_t in_len;               /* how many of them remain */
    int out_err;                 /* why the send callback last refused bytes */
    int in_feed;                 /* inside wslay_event_recv: close only queues */
    int we_closed;               /* sio__ws_conn_close queued our close frame */
    int peer_code;               /* status of the peer's close; 0 until it came */
    int done;                    /* reading is over and on_close was called */
};

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

/* Appends a close frame carrying code (network order) and no reason. */
static int ws_close_frame_append(sio_buf *out, int code)
{
    unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    return ws_frame_append_op(out, WS_OP_CLOSE, p, sizeof p);
}

/* wslay wants input: give it what is left of this feed, then WOULDBLOCK so
 * that wslay_event_recv returns instead of waiting for more. */
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
        c->out_err = rc;
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
        if (c->cb.on_message && !c->we_closed)
            c->cb.on_message(c, arg->opcode == WSLAY_BINARY_FRAME,
                             arg->msg ? (const char *)arg->msg : "", arg->msg_length, c->data);
        break;
    case WSLAY_CONNECTION_CLOSE:
        c->peer_code = arg->status_code ? arg->status_code : SIO_WS_CLOSE_NO_STATUS;
        break;
    default: /* ping (already answered) and pong: nothing to do */
        break;
    }
}

sio_ws_conn *sio__ws_conn_new(const sio_ws_callbacks *cb, void *data, size_t max_message)
{
    sio_ws_conn *c = sio__calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    struct wslay_event_callbacks wcb = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .on_msg_recv_callback = ws_msg_cb,
    };
    if (wslay_event_context_server_init(&c->ctx, &wcb, c) != 0) {
        sio__free(c);
        return NULL;
    }
    if (max_message > 0)
        wslay_event_config_set_max_recv_msg_length(c->ctx, max_message);
    if (cb)
        c->cb = *cb;
    c->data = data;
    sio__buf_init(&c->out, 0);
    return c;
}

void sio__ws_conn_free(sio_ws_conn *c)
{
    if (c == NULL)
        return;
    wslay_event_context_free(c->ctx);
    sio__buf_free(&c->out);
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
    return c->out_err ? c->out_err : SIO_ENOMEM;
}

/* Reading is over: tell the user once, and hand back err for feed. */
static int ws_finish(sio_ws_conn *c, int code, int err)
{
    c->done = 1;
    wslay_event_shutdown_read(c->ctx);
    if (c->cb.on_close)
        c->cb.on_close(c, code, c->data);
    return err;
}

/* wslay_event_recv failed (frame-layer violation or out-of-memory): wslay
 * may have queued a close without a status code; replace it with ours
 * unless our own close is already queued or out. */
static int ws_fail(sio_ws_conn *c, int code, int err)
{
    if (c->we_closed || wslay_event_get_close_sent(c->ctx)) {
        int rc = ws_flush(c);
        return ws_finish(c, SIO_WS_CLOSE_ABNORMAL, rc < 0 ? rc : err);
    }
    wslay_event_shutdown_write(c->ctx);
    int rc = ws_close_frame_append(&c->out, code);
    return ws_finish(c, code, rc < 0 ? rc : err);
}

/* Classifies the state after wslay_event_recv (see the file comment). */
static int ws_after_recv(sio_ws_conn *c, int r)
{
    if (r == WSLAY_ERR_NOMEM)
        return ws_fail(c, SIO_WS_CLOSE_INTERNAL_ERROR, SIO_ENOMEM);
    if (r != 0)
        return ws_fail(c, SIO_WS_CLOSE_PROTOCOL_ERROR, SIO_EPROTO);
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

int sio__ws_conn_feed(sio_ws_conn *c, const char *data, size_t len)
{
    if (c->done)
        return SIO_ECLOSED;
    c->in = data;
    c->in_len = len;
    wslay_event_set_error(c->ctx, 0);
    c->in_feed = 1;
    int r = wslay_event_recv(c->ctx);
    c->in_feed = 0;
    /* Bytes after a close frame or an error are dropped (5.5.1, 7.1.7). */
    c->in = NULL;
    c->in_len = 0;
    return ws_after_recv(c, r);
}

sio_buf *sio__ws_conn_output(sio_ws_conn *c)
{
    return &c->out;
}

int sio__ws_conn_wants_close(const sio_ws_conn *c)
{
    return c->done || c->we_closed || wslay_event_get_close_sent(c->ctx) ||
           wslay_event_get_close_received(c->ctx);
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
    int r = wslay_event_queue_close(c->ctx, (uint16_t)code, (const uint8_t *)reason, rlen);
    if (r == WSLAY_ERR_NO_MORE_MSG)
        return SIO_ECLOSED;
    if (r != 0)
        return r == WSLAY_ERR_NOMEM ? SIO_ENOMEM : SIO_EINVAL;
    c->we_closed = 1;
    /* Inside a callback of feed: feed flushes once wslay_event_recv returns. */
    return c->in_feed ? 0 : ws_flush(c);
}

int sio__ws_conn_send(sio_ws_conn *c, int binary, const void *payload, size_t len)
{
    if (sio__ws_conn_wants_close(c))
        return SIO_ECLOSED;
    return sio__ws_frame_append(&c->out, binary, payload, len);
}
