/* Server-side WebSocket connection: see ws_conn.h.
 *
 * The one WebSocket framer of the library, for both directions (RFC 6455
 * section 5). Header layout and masking are the frame codec's
 * (ws_frame.c, which sioc-bench and sioc-floor use too); the rules are
 * here. Input is parsed in place: a whole frame in the caller's
 * buffer is checked, unmasked where it lies and, when it is a whole
 * message, handed to on_message from there, so a read allocates nothing.
 * Memory is only taken for what cannot be handled yet: an incomplete last
 * frame waits in the tail buffer (at most one frame, <= max_message + 14
 * bytes, checked from its header before anything is kept), and the
 * fragments of an open message gather in msg (bounded by max_message in
 * bytes and max_fragments in frames while it is built). Both are freed as
 * soon as they are empty, so an idle connection holds only its struct.
 *
 * Checks, in the order a header allows them (a frame is refused as soon as
 * the bytes that break a rule are in): control frames short and
 * unfragmented, shortest length encoding, no RSV bits (no extension is
 * negotiated), client frames masked, opcodes in order (continuations only
 * inside a message), message size and fragment count; then per payload:
 * text is valid UTF-8 (checked incrementally, so a bad fragment fails at
 * once), a close frame has no body or a sendable code with a UTF-8 reason.
 * Failures close with 1002, 1007, 1008 or 1009 (7.4.1) and end reading.
 * wslay (the reference this framer is fuzzed against, fuzz/fuzz_ws_diff.c)
 * takes the same decisions, except where RFC 6455 asks for more than
 * wslay does: a 1-byte close body and an unsendable close code are 1002,
 * a close reason that is not UTF-8 is 1007, and the fragment limit.
 *
 * Output: control frames (pong, the close echo, our close) are appended to
 * the output buffer; data frames are built by the frame builders, so a
 * broadcast frame is shared (server frames are unmasked, 5.1). */
#include "ws/ws_conn.h"

#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"

/* Longest close reason: a control payload is at most 125 bytes (5.5). */
#define WS_MAX_REASON 123

/* wslay's default message limit, used when max_message is 0. */
#define WS_DEFAULT_MAX_MESSAGE ((1u << 31) - 1)

/* Writes a header for an unmasked FIN frame; returns its size (5.2). */
static size_t ws_header(unsigned char *h, unsigned opcode, uint64_t len)
{
    return sio__ws_hdr_encode(h, SIO_WS_FIN | opcode, len, NULL);
}

size_t sio__ws_frame_header(char hdr[SIO_WS_FRAME_HEADER_MAX], int binary, size_t len)
{
    return ws_header((unsigned char *)hdr, binary ? SIO_WS_OP_BINARY : SIO_WS_OP_TEXT, len);
}

/* Appends a whole frame, all or nothing (one reserve covers both parts). */
static int ws_frame_append_op(sio__buf *out, unsigned opcode, const void *payload, size_t len)
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

int sio__ws_frame_append(sio__buf *out, int binary, const void *payload, size_t len)
{
    return ws_frame_append_op(out, binary ? SIO_WS_OP_BINARY : SIO_WS_OP_TEXT, payload, len);
}

sio__rcbuf *sio__ws_frame_new(int binary, const void *payload, size_t len)
{
    char hdr[SIO_WS_FRAME_HEADER_MAX];
    size_t hlen = sio__ws_frame_header(hdr, binary, len);
    return sio__rcbuf_new2(hdr, hlen, payload, len);
}

/* Appends a close frame: code (network order, 0 for none) and reason. */
static int ws_close_frame_append(sio__buf *out, int code, const char *reason, size_t rlen)
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
    return ws_frame_append_op(out, SIO_WS_OP_CLOSE, p, n);
}

/* ------------------------------------------------------------ headers */

/* 1 if the header breaks a framing rule: a control frame must be short
 * and unfragmented (5.5), which the first two bytes tell; a length must
 * use the shortest encoding and fit in 63 bits (5.2), which the extended
 * length tells (have_len). */
static int ws_framing_error(const sio__ws_hdr *h, int have_len)
{
    unsigned l7 = h->b1 & 0x7Fu;
    if ((h->b0 & 0x08u) && (l7 > 125 || !(h->b0 & 0x80u)))
        return 1;
    return have_len &&
           ((l7 == 126 && h->len < 126) || (l7 == 127 && (h->len <= 0xFFFF || h->len >> 63)));
}

/* Decodes the header at p from its first n bytes: 1 when all of it is
 * there, or when the part that is there already breaks a framing rule (so
 * the frame is refused before anything of it is buffered); else 0. */
static int ws_parse(const unsigned char *p, size_t n, sio__ws_hdr *h)
{
    int got = sio__ws_hdr_parse(p, n, h);
    return got == SIO_WS_HDR_WHOLE ||
           (got >= SIO_WS_HDR_BASE && ws_framing_error(h, got >= SIO_WS_HDR_LEN));
}

/* 1 if opcode may come next: a continuation only inside a fragmented
 * message, a new text/binary only outside one, control frames anywhere. */
static int ws_opcode_ok(const sio__ws_conn *c, unsigned op)
{
    switch (op) {
    case SIO_WS_OP_CONT:
        return c->frag_open;
    case SIO_WS_OP_TEXT:
    case SIO_WS_OP_BINARY:
        return !c->frag_open;
    case SIO_WS_OP_CLOSE:
    case SIO_WS_OP_PING:
    case SIO_WS_OP_PONG:
        return 1;
    default: /* reserved opcodes (5.2) */
        return 0;
    }
}

/* The close code a header fails the connection with, or 0 if it is fine.
 * A message is bounded while it is built, in bytes (max_message: 1009)
 * and in frames (max_fragments: 1008), so that neither many small frames
 * nor one big one make it cost more than the limit says. */
static int ws_check(const sio__ws_conn *c, const sio__ws_hdr *h)
{
    unsigned op = h->b0 & 0x0Fu;
    if (ws_framing_error(h, 1))
        return SIO_WS_CLOSE_PROTOCOL_ERROR;
    if ((h->b0 & 0x70u) || !(h->b1 & 0x80u) || !ws_opcode_ok(c, op))
        return SIO_WS_CLOSE_PROTOCOL_ERROR; /* no extension; clients mask (5.3) */
    if (op & 0x8u)
        return 0;
    if (h->len > c->max_message - (op == SIO_WS_OP_CONT ? c->msg.len : 0))
        return SIO_WS_CLOSE_TOO_BIG;
    if (!(h->b0 & 0x80u) || op == SIO_WS_OP_CONT)
        if ((op == SIO_WS_OP_CONT ? c->nfrags : 0) + 1 > c->max_fragments)
            return SIO_WS_CLOSE_POLICY;
    return 0;
}

/* ----------------------------------------------------------- payloads */

/* Feeds n bytes to the incremental UTF-8 validator (RFC 3629: no
 * overlongs, no surrogates, nothing past U+10FFFF): 0, or -1 at the first
 * byte that can no longer be part of valid UTF-8 (so a bad fragment fails
 * at once, as section 8.1 allows). */
static int ws_utf8(sio__ws_conn *c, const unsigned char *p, size_t n)
{
    unsigned need = c->u8_need, lo = c->u8_lo, hi = c->u8_hi;
    for (size_t i = 0; i < n; i++) {
        unsigned b = p[i];
        if (need == 0) {
            if (b < 0x80)
                continue;
            lo = 0x80, hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF)
                need = 1;
            else if (b >= 0xE0 && b <= 0xEF)
                need = 2, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
            else if (b >= 0xF0 && b <= 0xF4)
                need = 3, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
            else
                return -1;
            continue;
        }
        if (b < lo || b > hi)
            return -1;
        need--;
        lo = 0x80, hi = 0xBF;
    }
    c->u8_need = (uint8_t)need, c->u8_lo = (uint8_t)lo, c->u8_hi = (uint8_t)hi;
    return 0;
}

/* 1 if the whole of p is valid UTF-8 (a close reason). */
static int ws_utf8_whole(const unsigned char *p, size_t n)
{
    sio__ws_conn t;
    t.u8_need = 0;
    return ws_utf8(&t, p, n) == 0 && t.u8_need == 0;
}

/* ------------------------------------------------------------ closing */

/* Reading is over: tell the user once, and hand back err for feed. */
static int ws_finish(sio__ws_conn *c, int code, int err)
{
    c->done = 1;
    c->frag_open = 0;
    sio__buf_free(&c->msg);
    if (c->cb && c->cb->on_close)
        c->cb->on_close(c, code, c->data);
    return err;
}

/* Fails the connection with our close frame carrying code (7.1.7), unless
 * our close already went out (then nothing more is written: 1006). */
static int ws_reject(sio__ws_conn *c, int code)
{
    int err = code == SIO_WS_CLOSE_TOO_BIG          ? SIO_ELIMIT
              : code == SIO_WS_CLOSE_INTERNAL_ERROR ? SIO_ENOMEM
              : code == SIO_WS_CLOSE_POLICY         ? SIO_ELIMIT
                                                    : SIO_EPROTO;
    if (c->we_closed)
        return ws_finish(c, SIO_WS_CLOSE_ABNORMAL, err);
    int rc = ws_close_frame_append(&c->out, code, NULL, 0);
    return ws_finish(c, code, rc < 0 ? rc : err);
}

/* Codes an endpoint may put in a close frame (7.4.1, 7.4.2): 1004-1006
 * and 1015 are reserved for reporting, never sent. */
static int ws_code_sendable(int code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

/* The peer's close frame (5.5.1): no body (1005), or a sendable code and
 * a UTF-8 reason; a 1-byte body, a reserved code (1002) or a reason that
 * is not UTF-8 (1007) fail the connection instead. The code is echoed. */
static int ws_on_close_frame(sio__ws_conn *c, const unsigned char *p, size_t n)
{
    if (n == 1)
        return ws_reject(c, SIO_WS_CLOSE_PROTOCOL_ERROR);
    int code = n == 0 ? SIO_WS_CLOSE_NO_STATUS : (p[0] << 8) | p[1];
    if (n >= 2 && !ws_code_sendable(code))
        return ws_reject(c, SIO_WS_CLOSE_PROTOCOL_ERROR);
    if (n > 2 && !ws_utf8_whole(p + 2, n - 2))
        return ws_reject(c, SIO_WS_CLOSE_INVALID_DATA);
    c->peer_code = (uint16_t)code;
    int rc = 0;
    if (!c->we_closed) {
        c->we_closed = 1;
        rc = ws_close_frame_append(&c->out, n == 0 ? 0 : code, NULL, 0);
    }
    return ws_finish(c, code, rc);
}

/* -------------------------------------------------------------- frames */

/* A message is whole: hand it over (unless our close went out first: the
 * application is done with this connection). */
static void ws_deliver(sio__ws_conn *c, int binary, const unsigned char *p, size_t n)
{
    if (c->cb && c->cb->on_message && !c->we_closed)
        c->cb->on_message(c, binary, n ? (const char *)p : "", n, c->data);
}

/* A data frame's payload (unmasked). Unfragmented messages are delivered
 * straight from the caller's bytes; fragments gather in msg. */
static int ws_on_data(sio__ws_conn *c, const sio__ws_hdr *h, const unsigned char *p)
{
    unsigned op = h->b0 & 0x0Fu;
    int fin = (h->b0 & 0x80u) != 0;
    int binary = op == SIO_WS_OP_CONT ? c->frag_binary : op == SIO_WS_OP_BINARY;
    if (op != SIO_WS_OP_CONT)
        c->u8_need = 0; /* a new message */
    if (!binary && ws_utf8(c, p, (size_t)h->len) < 0)
        return ws_reject(c, SIO_WS_CLOSE_INVALID_DATA);
    if (!binary && fin && c->u8_need != 0)
        return ws_reject(c, SIO_WS_CLOSE_INVALID_DATA); /* ends inside a character */
    if (op != SIO_WS_OP_CONT && fin) {
        ws_deliver(c, binary, p, (size_t)h->len);
        return 0;
    }
    if (op != SIO_WS_OP_CONT) {
        c->frag_open = 1;
        c->frag_binary = (unsigned)binary;
        c->nfrags = 0;
    }
    c->nfrags++;
    if (sio__buf_append(&c->msg, p, (size_t)h->len) < 0)
        return ws_reject(c, SIO_WS_CLOSE_INTERNAL_ERROR);
    SIO_ASSERT(c->msg.len <= c->max_message && c->nfrags <= c->max_fragments); /* ws_check */
    if (!fin)
        return 0;
    c->frag_open = 0;
    ws_deliver(c, binary, (const unsigned char *)c->msg.data, c->msg.len);
    sio__buf_free(&c->msg);
    return 0;
}

/* One whole, checked frame: header h, masked payload at p (unmasked here,
 * in place). */
static int ws_on_frame(sio__ws_conn *c, const sio__ws_hdr *h, unsigned char *p)
{
    sio__ws_mask(p, (size_t)h->len, p - 4); /* the key ends the header */
    switch (h->b0 & 0x0Fu) {
    case SIO_WS_OP_CLOSE:
        return ws_on_close_frame(c, p, (size_t)h->len);
    case SIO_WS_OP_PING: { /* 5.5.3: answered with the same payload, until we close */
        if (c->we_closed)
            return 0;
        /* The output refused a frame: it will not take a close either. */
        int rc = ws_frame_append_op(&c->out, SIO_WS_OP_PONG, p, (size_t)h->len);
        return rc < 0 ? ws_finish(c, SIO_WS_CLOSE_INTERNAL_ERROR, rc) : 0;
    }
    case SIO_WS_OP_PONG:
        return 0;
    default:
        return ws_on_data(c, h, p);
    }
}

/* ----------------------------------------------------------------- input */

/* Moves up to want - tail.len bytes of the input into the tail. */
static int ws_tail_take(sio__ws_conn *c, char **data, size_t *len, size_t want)
{
    size_t n = want - c->tail.len;
    if (n > *len)
        n = *len;
    if (sio__buf_append(&c->tail, *data, n) < 0)
        return ws_reject(c, SIO_WS_CLOSE_INTERNAL_ERROR);
    *data += n;
    *len -= n;
    return 0;
}

/* Completes the frame waiting in the tail with the first bytes of the
 * input (header first, to learn and check the frame's size, then its
 * payload) and handles it once whole. Advances *data and *len. */
static int ws_feed_tail(sio__ws_conn *c, char **data, size_t *len)
{
    sio__ws_hdr h;
    while (!ws_parse((const unsigned char *)c->tail.data, c->tail.len, &h)) {
        if (*len == 0)
            return 0;
        int rc = ws_tail_take(c, data, len, h.size);
        if (rc < 0)
            return rc;
    }
    int code = ws_check(c, &h);
    if (code != 0)
        return ws_reject(c, code);
    int rc = ws_tail_take(c, data, len, h.size + (size_t)h.len);
    SIO_ASSERT(c->tail.len <= h.size + h.len); /* the tail never holds more than one frame */
    if (rc < 0 || c->tail.len < h.size + h.len)
        return rc;
    rc = ws_on_frame(c, &h, (unsigned char *)c->tail.data + h.size);
    sio__buf_free(&c->tail);
    return rc;
}

/* Handles the whole frames at the start of data in place, and keeps an
 * incomplete last frame in the tail (after checking what of its header
 * is there). */
static int ws_feed_direct(sio__ws_conn *c, char *data, size_t len)
{
    size_t off = 0;
    sio__ws_hdr h;
    while (!c->done && off < len) {
        int whole_hdr = ws_parse((const unsigned char *)data + off, len - off, &h);
        if (whole_hdr) {
            int code = ws_check(c, &h);
            if (code != 0)
                return ws_reject(c, code);
        }
        if (!whole_hdr || h.len > len - off - h.size)
            break;
        int rc = ws_on_frame(c, &h, (unsigned char *)data + off + h.size);
        if (rc < 0)
            return rc;
        off += h.size + (size_t)h.len;
    }
    if (c->done || off == len)
        return 0;
    return sio__buf_append(&c->tail, data + off, len - off) < 0
               ? ws_reject(c, SIO_WS_CLOSE_INTERNAL_ERROR)
               : 0;
}

void sio__ws_conn_init(sio__ws_conn *c, const sio__ws_callbacks *cb, void *data, size_t max_message)
{
    memset(c, 0, sizeof *c);
    c->cb = cb;
    c->data = data;
    if (max_message == 0)
        max_message = WS_DEFAULT_MAX_MESSAGE;
    c->max_message = max_message < UINT32_MAX ? (uint32_t)max_message : UINT32_MAX;
    c->max_fragments = SIO_WS_DEFAULT_MAX_FRAGMENTS;
    sio__buf_init(&c->out, 0);
    sio__buf_init(&c->tail, 0);
    sio__buf_init(&c->msg, 0);
}

void sio__ws_conn_set_max_fragments(sio__ws_conn *c, uint32_t n)
{
    c->max_fragments = n ? n : 1;
}

void sio__ws_conn_fini(sio__ws_conn *c)
{
    sio__buf_free(&c->out);
    sio__buf_free(&c->tail);
    sio__buf_free(&c->msg);
}

sio__ws_conn *sio__ws_conn_new(const sio__ws_callbacks *cb, void *data, size_t max_message)
{
    sio__ws_conn *c = sio__malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    sio__ws_conn_init(c, cb, data, max_message);
    return c;
}

void sio__ws_conn_free(sio__ws_conn *c)
{
    if (c == NULL)
        return;
    sio__ws_conn_fini(c);
    sio__free(c);
}

int sio__ws_conn_feed(sio__ws_conn *c, char *data, size_t len)
{
    if (c->done)
        return SIO_ECLOSED;
    int rc = 0;
    if (c->tail.len > 0)
        rc = ws_feed_tail(c, &data, &len);
    if (rc == 0 && !c->done && len > 0)
        rc = ws_feed_direct(c, data, len);
    if (c->out.len == 0)
        sio__buf_free(&c->out);
    if (c->tail.len == 0 || c->done) /* once done, input is discarded */
        sio__buf_free(&c->tail);
    return rc;
}

sio__buf *sio__ws_conn_output(sio__ws_conn *c)
{
    return &c->out;
}

void sio__ws_conn_output_done(sio__ws_conn *c)
{
    if (c->out.len == 0)
        sio__buf_free(&c->out);
}

int sio__ws_conn_wants_close(const sio__ws_conn *c)
{
    return c->done || c->we_closed;
}

int sio__ws_conn_close(sio__ws_conn *c, int code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > WS_MAX_REASON || (code == 0 && rlen > 0) || (code != 0 && !ws_code_sendable(code)))
        return SIO_EINVAL;
    if (c->done || c->we_closed)
        return SIO_ECLOSED;
    c->we_closed = 1;
    return ws_close_frame_append(&c->out, code, reason, rlen);
}

int sio__ws_conn_send(sio__ws_conn *c, int binary, const void *payload, size_t len)
{
    if (sio__ws_conn_wants_close(c))
        return SIO_ECLOSED;
    return sio__ws_frame_append(&c->out, binary, payload, len);
}

size_t sio__ws_conn_heap_bytes(const sio__ws_conn *c)
{
    return sizeof *c + c->out.cap + c->tail.cap + c->msg.cap;
}

int sio__ws_conn_engine_alive(const sio__ws_conn *c)
{
    return c->frag_open;
}
