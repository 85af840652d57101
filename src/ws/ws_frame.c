/* WebSocket frame codec: see ws_frame.h.
 *
 * A header is 2 bytes, then 0, 2 or 8 bytes of extended length (the 7-bit
 * length is 126 or 127), then the 4-byte mask key when MASK is set, all in
 * network byte order (RFC 6455 section 5.2). */
#include "ws/ws_frame.h"

#include <string.h>

/* Bytes of extended length a 7-bit length announces. */
static size_t ext_bytes(unsigned l7)
{
    return l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
}

int sio__ws_hdr_parse(const unsigned char *p, size_t n, sio__ws_hdr *h)
{
    h->size = 2;
    if (n < 2)
        return SIO_WS_HDR_NEED;
    h->b0 = p[0];
    h->b1 = p[1];
    unsigned l7 = p[1] & 0x7Fu;
    size_t ext = ext_bytes(l7);
    h->size = 2 + ext + ((p[1] & 0x80u) ? 4 : 0);
    h->len = l7;
    if (n < 2 + ext)
        return SIO_WS_HDR_BASE;
    if (ext > 0) {
        h->len = 0;
        for (size_t i = 0; i < ext; i++)
            h->len = (h->len << 8) | p[2 + i];
    }
    return n >= h->size ? SIO_WS_HDR_WHOLE : SIO_WS_HDR_LEN;
}

size_t sio__ws_hdr_encode(unsigned char *out, unsigned b0, uint64_t len, const unsigned char *key)
{
    unsigned mask = key ? 0x80u : 0;
    size_t n;
    out[0] = (unsigned char)b0;
    if (len < 126) {
        out[1] = (unsigned char)(mask | len);
        n = 2;
    } else if (len <= 0xFFFF) {
        out[1] = (unsigned char)(mask | 126);
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        n = 4;
    } else {
        out[1] = (unsigned char)(mask | 127);
        for (int i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    if (key) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    return n;
}

/* Eight bytes at a time where it can: masking is on every client frame's
 * path, and a broadcast's sender is a client too. */
void sio__ws_mask(unsigned char *p, size_t n, const unsigned char key[4])
{
    size_t i = 0;
    if (n >= 8) {
        uint64_t k8;
        unsigned char kk[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
        memcpy(&k8, kk, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            v ^= k8;
            memcpy(p + i, &v, 8);
        }
    }
    for (; i < n; i++)
        p[i] ^= key[i & 3];
}
