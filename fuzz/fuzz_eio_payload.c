/* libFuzzer driver for the Engine.IO polling payload decoder.
 *
 * Input: first byte picks max_packets (0-15, 0 = no limit), the rest is a
 * POST body. Oracles beyond "no crash, no leak, no UB":
 *  - every delivered packet is well formed (type 0-6, binary only for
 *    messages, text data inside the body);
 *  - the decoder is strict, so decoding is injective: re-encoding the
 *    delivered packets reproduces the body byte for byte on success, and
 *    reproduces the body's prefix up to the failing packet on error;
 *  - the count returned matches the packets delivered. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/eio_packet.h"
#include "sioc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* State shared with the callback. */
typedef struct ctx {
    const char *body; /* input body, to check borrowed slices */
    size_t len;       /* its length */
    sio__buf re;      /* packets re-encoded so far */
    int n;            /* packets delivered */
} ctx;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int on_packet(const sio__eio_packet *p, void *data)
{
    ctx *c = data;
    CHECK((unsigned)p->type <= SIO_EIO_NOOP);
    CHECK(p->data.base != NULL);
    if (p->binary)
        CHECK(p->type == SIO_EIO_MESSAGE);
    else
        CHECK(p->data.base >= c->body && p->data.base + p->data.len <= c->body + c->len);
    CHECK(sio__eio_encode_payload_elem(&c->re, c->n == 0, p->type, p->binary, p->data.base,
                                       p->data.len) == 0);
    c->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned max = data[0] & 15;
    ctx c = {(const char *)data + 1, size - 1, {0}, 0};
    sio__buf_init(&c.re, 0);
    int rc = sio__eio_decode_payload(c.body, c.len, max, on_packet, &c);
    if (rc >= 0) {
        CHECK(rc == c.n && rc > 0);
        CHECK(max == 0 || (unsigned)rc <= max);
        CHECK(c.re.len == c.len && memcmp(c.re.data, c.body, c.len) == 0);
    } else {
        CHECK(rc == SIO_EPROTO || rc == SIO_ELIMIT);
        if (rc == SIO_ELIMIT)
            CHECK((unsigned)c.n == max);
        /* The packets delivered before the error are the body's prefix. */
        CHECK(c.re.len <= c.len && (c.re.len == 0 || memcmp(c.re.data, c.body, c.re.len) == 0));
        if (c.n > 0)
            CHECK(c.re.len < c.len && c.body[c.re.len] == '\x1e');
    }
    sio__buf_free(&c.re);
    return 0;
}
