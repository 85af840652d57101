/* HTTP response compression: see compress.h.
 *
 * The body is compressed in one deflate() call over a buffer sized by
 * deflateBound(), so there is no streaming state to keep between loop
 * iterations; a polling payload is at most a few MiB (the session's
 * outbound limit), compressed at zlib's default level like Node's
 * zlib.createGzip(). */
#include "http/compress.h"

#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/error.h"

/* Parses the q parameter of one Accept-Encoding element ("gzip;q=0.5"):
 * 1000 for 1, 0 for 0, the first three decimals in between. */
static int parse_q(const char *p, const char *end)
{
    while (p < end && (p = memchr(p, ';', (size_t)(end - p))) != NULL) {
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
            continue;
        p += 2;
        int q = 0, scale = 1000, seen = 0;
        if (p < end && (*p == '0' || *p == '1')) {
            q = (*p - '0') * 1000;
            p++;
            seen = 1;
        }
        if (p < end && *p == '.')
            for (p++; p < end && *p >= '0' && *p <= '9' && scale > 1; p++)
                q += (*p - '0') * (scale /= 10);
        return seen ? (q > 1000 ? 1000 : q) : 0;
    }
    return 1000;
}

const char *sio__http_pick_encoding(const char *h, size_t len)
{
    static const char *const codings[] = {"gzip", "deflate"};
    int q[2] = {-1, -1}, order[2] = {0, 0}, star = -1, star_order = 0, idx = 0;
    const char *end = h ? h + len : NULL;
    for (const char *p = h; p != NULL && p < end; idx++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        size_t n = 0;
        while (p + n < e && p[n] != ';' && p[n] != ' ' && p[n] != '\t')
            n++;
        int qv = parse_q(p + n, e);
        for (int k = 0; k < 2; k++)
            if (n == strlen(codings[k]) && strncasecmp(p, codings[k], n) == 0 && q[k] < 0) {
                q[k] = qv;
                order[k] = idx;
            }
        if (n == 1 && *p == '*' && star < 0) {
            star = qv;
            star_order = idx;
        }
        p = comma ? comma + 1 : NULL;
    }
    for (int k = 0; k < 2; k++)
        if (q[k] < 0 && star >= 0) {
            q[k] = star;
            order[k] = star_order;
        }
    int best = -1;
    for (int k = 0; k < 2; k++)
        if (q[k] > 0 && (best < 0 || q[k] > q[best] || (q[k] == q[best] && order[k] < order[best])))
            best = k;
    return best < 0 ? NULL : codings[best];
}

/* zlib's state goes through the library's allocator (sio_set_allocator). */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    return sio__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf ptr)
{
    sio__free(ptr);
}

int sio__http_compress(const char *coding, const void *in, size_t len, sio__buf *out)
{
    int gzip = strcmp(coding, "gzip") == 0;
    if (!gzip && strcmp(coding, "deflate") != 0)
        return SIO_EINVAL;
    if (len > UINT32_MAX)
        return SIO_EINVAL; /* one deflate() call: avail_in is 32 bits */
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc;
    z.zfree = z_free;
    /* windowBits 15, +16 for the gzip wrapper; memLevel 8: zlib's defaults */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 31 : 15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return SIO_ENOMEM;
    out->len = 0;
    uLong bound = deflateBound(&z, (uLong)len) + (gzip ? 18 : 0);
    int rc = sio__buf_reserve(out, bound);
    if (rc == 0) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)out->data;
        z.avail_out = (uInt)bound;
        rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : SIO_EIO;
        out->len = rc == 0 ? (size_t)z.total_out : 0;
    }
    deflateEnd(&z);
    return rc;
}
