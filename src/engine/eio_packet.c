/* Engine.IO v4 codec: see eio_packet.h. The payload decoder walks the body
 * once with memchr, so it is linear in the body size; it never allocates
 * unless a binary packet needs base64 scratch space, and that space never
 * exceeds 3/4 of the largest binary packet. */
#include "engine/eio_packet.h"

#include <string.h>

#include "core/base64.h"
#include "sioc.h"

int sio__eio_decode_text(const char *s, size_t len, sio__eio_packet *out)
{
    if (len == 0 || s[0] < '0' || s[0] > '0' + SIO_EIO_NOOP)
        return SIO_EPROTO;
    out->type = (sio__eio_type)(s[0] - '0');
    out->binary = 0;
    out->data = (sio__slice){s + 1, len - 1};
    return 0;
}

/* Decodes one payload element (text, or "b" + base64 into scratch). */
static int decode_elem(const char *s, size_t len, sio__buf *scratch, sio__eio_packet *out)
{
    if (len == 0 || s[0] != 'b')
        return sio__eio_decode_text(s, len, out);
    scratch->len = 0;
    int rc = sio__base64_decode(scratch, s + 1, len - 1);
    if (rc < 0)
        return rc;
    out->type = SIO_EIO_MESSAGE;
    out->binary = 1;
    /* An empty buffer may have no storage yet: hand out "" rather than NULL. */
    out->data = (sio__slice){scratch->data ? scratch->data : "", scratch->len};
    return 0;
}

int sio__eio_decode_payload(const char *body, size_t len, unsigned max_packets,
                            sio__eio_packet_cb cb, void *data)
{
    if (len == 0)
        return SIO_EPROTO; /* an empty body is one empty packet */
    sio__buf scratch;
    sio__buf_init(&scratch, 0);
    const char *p = body, *end = body + len;
    int count = 0, rc = 0;
    for (;;) {
        const char *sep = memchr(p, SIO_EIO_RECORD_SEPARATOR, (size_t)(end - p));
        const char *stop = sep ? sep : end;
        sio__eio_packet pkt;
        if (max_packets && (unsigned)count >= max_packets) {
            rc = SIO_ELIMIT;
            break;
        }
        if ((rc = decode_elem(p, (size_t)(stop - p), &scratch, &pkt)) < 0)
            break;
        count++;
        if ((rc = cb(&pkt, data)) != 0)
            break;
        if (sep == NULL)
            break;
        p = sep + 1;
    }
    sio__buf_free(&scratch);
    return rc != 0 ? rc : count;
}

int sio__eio_encode_text(sio__buf *out, sio__eio_type type, const void *data, size_t len)
{
    if ((unsigned)type > SIO_EIO_NOOP)
        return SIO_EINVAL;
    if (len == SIZE_MAX)
        return SIO_ENOMEM;
    int rc = sio__buf_reserve(out, 1 + len);
    if (rc < 0)
        return rc;
    /* Cannot fail now: the room is reserved. */
    sio__buf_append_byte(out, (char)('0' + type));
    sio__buf_append(out, data, len);
    return 0;
}

int sio__eio_encode_payload_elem(sio__buf *out, int first, sio__eio_type type, int binary,
                                 const void *data, size_t len)
{
    if ((unsigned)type > SIO_EIO_NOOP || (binary && type != SIO_EIO_MESSAGE))
        return SIO_EINVAL;
    size_t body = binary ? sio__base64_encoded_len(len) : len;
    if (body >= SIZE_MAX - 2)
        return SIO_ENOMEM;
    int rc = sio__buf_reserve(out, (first ? 0 : 1) + 1 + body);
    if (rc < 0)
        return rc;
    /* Cannot fail now: the room is reserved. */
    if (!first)
        sio__buf_append_byte(out, SIO_EIO_RECORD_SEPARATOR);
    if (!binary)
        return sio__eio_encode_text(out, type, data, len);
    sio__buf_append_byte(out, 'b');
    return sio__base64_encode(out, data, len);
}
