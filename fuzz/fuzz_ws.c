/* libFuzzer driver for the server-side WebSocket connection (ws_conn.c).
 *
 * Input layout: byte 0 holds behaviour flags (bit 0: on_message answers
 * with a data frame; bit 1: on_message starts a close; bit 2: a tiny
 * output cap; bit 3: the second run feeds byte by byte), bytes 1-2 pick
 * two split points, the rest is the byte stream from the "client", fed in
 * up to three pieces so that frames get cut at arbitrary places.
 *
 * Without the output cap the stream is fed a second time to a fresh
 * connection, whole or byte by byte, draining the output after each feed:
 * the messages, the close code and the error must not depend on where the
 * stream was cut (the frame scanner and its tail buffer are invisible), and
 * the connection's own memory stays within one frame's worth.
 *
 * Besides the sanitizers, the driver checks the module's contract and
 * traps on a violation: text messages are valid UTF-8 and within the size
 * limit, on_close runs at most once, an error or close is sticky (later
 * feeds return SIO_ECLOSED), and the output is always a sequence of whole,
 * unmasked, well-formed server frames. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "sioc.h"
#include "ws/ws_conn.h"

/* Message limit for the fuzzed connection: small, to keep runs fast. */
#define FUZZ_MAX_MESSAGE 4096

/* Longest body fed byte by byte (one feed per byte is slow). */
#define FUZZ_MAX_INPUT 16384

/* Per-run state shared with the callbacks, and what the run observed. */
typedef struct fuzz_state {
    unsigned flags;    /* byte 0 of the input */
    int nclose;        /* on_close calls */
    int close_code;    /* code of on_close */
    int err;           /* first error feed returned (besides SIO_ECLOSED) */
    unsigned nmsg;     /* messages delivered */
    uint64_t msg_hash; /* FNV-1a over each message's type, length and bytes */
} fuzz_state;

/* Folds n bytes into an FNV-1a hash. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

/* 1 if s is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (k >= n - i)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void on_message(sio__ws_conn *c, int binary, const char *data, size_t len, void *ud)
{
    fuzz_state *st = ud;
    if (len > FUZZ_MAX_MESSAGE || (!binary && !utf8_ok((const unsigned char *)data, len)))
        __builtin_trap();
    st->nmsg++;
    st->msg_hash = fnv(st->msg_hash, &binary, sizeof binary);
    st->msg_hash = fnv(st->msg_hash, &len, sizeof len);
    st->msg_hash = fnv(st->msg_hash, data, len);
    if (st->flags & 1)
        sio__ws_conn_send(c, binary, data, len);
    if (st->flags & 2)
        sio__ws_conn_close(c, 1000, "bye");
}

static void on_close(sio__ws_conn *c, int code, void *ud)
{
    fuzz_state *st = ud;
    if (++st->nclose > 1 || code < 1000 || code > 4999)
        __builtin_trap();
    st->close_code = code;
}

/* Traps unless out is a sequence of whole unmasked server frames with
 * minimal length encodings and no RSV bits. */
static void check_output(const sio__buf *out)
{
    const unsigned char *p = (const unsigned char *)out->data;
    size_t i = 0;
    while (i < out->len) {
        if (out->len - i < 2 || (p[i] & 0x70) || (p[i + 1] & 0x80))
            __builtin_trap();
        unsigned op = p[i] & 0x0F;
        uint64_t len = p[i + 1] & 0x7F;
        size_t h = 2;
        if (len == 126 || len == 127) {
            size_t ext = len == 126 ? 2 : 8;
            if (out->len - i < 2 + ext)
                __builtin_trap();
            len = 0;
            for (size_t j = 0; j < ext; j++)
                len = (len << 8) | p[i + 2 + j];
            if ((ext == 2 && len < 126) || (ext == 8 && len <= 0xFFFF))
                __builtin_trap();
            h += ext;
        }
        if ((op & 0x8) && (len > 125 || !(p[i] & 0x80)))
            __builtin_trap();
        if (len > out->len - i - h)
            __builtin_trap();
        i += h + (size_t)len;
    }
}

static const sio__ws_callbacks fuzz_cb = {on_message, on_close};

/* Feeds body in the pieces cut at cuts[0..n], checking the contract after
 * each feed; records into st. drain: empty the output after each feed and
 * bound the connection's own memory. */
static void run(fuzz_state *st, const char *body, const size_t *cuts, size_t n, int drain)
{
    sio__ws_conn *c = sio__ws_conn_new(&fuzz_cb, st, FUZZ_MAX_MESSAGE);
    if (c == NULL)
        return;
    size_t base = sio__ws_conn_heap_bytes(c);
    if (st->flags & 4)
        sio__ws_conn_output(c)->limit = 64;
    for (size_t k = 0; k < n; k++) {
        int ended = st->err || st->nclose; /* sticky: later feeds are refused */
        /* feed unmasks in place: each run gets its own copy of the bytes */
        size_t plen = cuts[k + 1] - cuts[k];
        char *piece = malloc(plen ? plen : 1);
        if (piece == NULL)
            break;
        memcpy(piece, body + cuts[k], plen);
        int rc = sio__ws_conn_feed(c, piece, plen);
        free(piece);
        if (ended ? rc != SIO_ECLOSED : rc == SIO_ECLOSED)
            __builtin_trap();
        if (rc < 0 && !ended)
            st->err = rc;
        if (st->nclose && !sio__ws_conn_wants_close(c))
            __builtin_trap();
        check_output(sio__ws_conn_output(c));
        if (!drain)
            continue;
        sio__ws_conn_output(c)->len = 0;
        sio__ws_conn_output_done(c);
        /* at most one incomplete frame (the tail) and one message's
         * fragments are buffered; buffers double as they grow */
        if (sio__ws_conn_heap_bytes(c) > base + 4 * (FUZZ_MAX_MESSAGE + 15))
            __builtin_trap();
        if (st->nclose && sio__ws_conn_heap_bytes(c) != base)
            __builtin_trap();
    }
    if (st->nclose && sio__ws_conn_engine_alive(c))
        __builtin_trap();
    sio__ws_conn_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const char *body = (const char *)data + 3;
    size_t n = size - 3;
    size_t a = n * data[1] / 255, b = n * data[2] / 255;
    if (a > b) {
        size_t t = a;
        a = b;
        b = t;
    }
    size_t cuts[4] = {0, a, b, n};
    fuzz_state st = {.flags = data[0]};
    run(&st, body, cuts, 3, 0);
    if (st.flags & 4)
        return 0; /* the output cap makes failures depend on the cuts */
    fuzz_state ref = {.flags = data[0]};
    if ((st.flags & 8) && n <= FUZZ_MAX_INPUT) {
        static size_t each[FUZZ_MAX_INPUT + 1];
        for (size_t i = 0; i <= n; i++)
            each[i] = i;
        run(&ref, body, each, n, 1);
    } else {
        size_t whole[2] = {0, n};
        run(&ref, body, whole, 1, 1);
    }
    if (ref.nmsg != st.nmsg || ref.msg_hash != st.msg_hash || ref.nclose != st.nclose ||
        ref.close_code != st.close_code || ref.err != st.err)
        __builtin_trap();
    return 0;
}
