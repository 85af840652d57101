/* WebSocket client framing for sioc-bench (RFC 6455 section 5.2), sans-I/O.
 *
 * The bench writes its own framing rather than driving wslay's event API so
 * that a frame costs one buffer append and no callback: client frames are
 * always single, FIN-set frames, masked as section 5.3 requires; server
 * frames are parsed in place from the read buffer. */
#include <string.h>

#include "bench.h"
#include "sioc.h"

/* Reads a big-endian integer of n bytes. */
static uint64_t be_read(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int64_t bench_ws_parse(uint8_t *p, size_t len, size_t max, bench_ws_frame *f)
{
    if (len < 2)
        return 0;
    if (p[0] & 0x70)
        return SIO_EPROTO; /* RSV bits: no extension was negotiated */
    size_t hdr = 2;
    uint64_t plen = p[1] & 0x7f;
    int masked = (p[1] & 0x80) != 0;
    if (plen == 126 || plen == 127) {
        int ext = plen == 126 ? 2 : 8;
        if (len < hdr + (size_t)ext)
            return 0;
        plen = be_read(p + 2, ext);
        hdr += (size_t)ext;
    }
    if (plen > max)
        return SIO_EPROTO;
    size_t key_at = hdr;
    if (masked)
        hdr += 4;
    if (len < hdr + plen)
        return 0;
    f->fin = (p[0] & 0x80) != 0;
    f->opcode = p[0] & 0x0f;
    f->payload = p + hdr;
    f->len = (size_t)plen;
    if (masked) /* servers must not mask, but unmasking costs nothing */
        for (size_t i = 0; i < f->len; i++)
            f->payload[i] ^= p[key_at + (i & 3)];
    return (int64_t)(hdr + plen);
}

int bench_ws_encode(sio__buf *out, int opcode, const void *payload, size_t len, uint32_t key)
{
    int rc = sio__buf_reserve(out, 14 + len);
    if (rc < 0)
        return rc;
    uint8_t *p = (uint8_t *)out->data + out->len;
    size_t h = 0;
    p[h++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        p[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        p[h++] = 0x80 | 126;
        p[h++] = (uint8_t)(len >> 8);
        p[h++] = (uint8_t)len;
    } else {
        p[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            p[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t k[4] = {(uint8_t)(key >> 24), (uint8_t)(key >> 16), (uint8_t)(key >> 8), (uint8_t)key};
    memcpy(p + h, k, 4);
    h += 4;
    const uint8_t *src = payload;
    for (size_t i = 0; i < len; i++)
        p[h + i] = src[i] ^ k[i & 3];
    out->len += h + len;
    return 0;
}
