/* Base64: see base64.h. Table-driven; one group encoder serves both
 * alphabets (padded standard, unpadded URL-safe); the decoder validates the
 * whole input before it appends anything, so a rejected input never leaves
 * partial output behind. */
#include "core/base64.h"

#include <stdint.h>

#include "sioc.h"

static const char enc_table[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_table[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes len bytes to o with table, 4 characters per 3 bytes; a short last
 * group gets '=' padding when pad is set, else only its 2 or 3 characters.
 * Returns the characters written. */
static size_t encode_groups(char *o, const char *table, const unsigned char *p, size_t len, int pad)
{
    char *start = o;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t v = (uint32_t)p[i] << 16;
        if (left > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        *o++ = table[v >> 18];
        *o++ = table[(v >> 12) & 63];
        if (left > 1 || pad)
            *o++ = left > 1 ? table[(v >> 6) & 63] : '=';
        if (left > 2 || pad)
            *o++ = left > 2 ? table[v & 63] : '=';
    }
    return (size_t)(o - start);
}

/* 6-bit value of an alphabet character, or -1 (padding included). */
static int dec_char(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t sio__base64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4)
        return SIZE_MAX;
    return groups * 4;
}

int sio__base64_encode(sio__buf *out, const void *data, size_t len)
{
    size_t n = sio__base64_encoded_len(len);
    if (n == SIZE_MAX)
        return SIO_ENOMEM;
    int rc = sio__buf_reserve(out, n);
    if (rc < 0)
        return rc;
    out->len += encode_groups(out->data + out->len, enc_table, data, len, 1);
    return 0;
}

size_t sio__base64url_encode(char *out, const void *data, size_t len)
{
    size_t n = encode_groups(out, url_table, data, len, 0);
    out[n] = '\0';
    return n;
}

char sio__base64url_digit(unsigned v)
{
    return url_table[v & 63];
}

/* Number of '=' at the end of a non-empty, 4-aligned input (0..2), or -1
 * if the padding is malformed ("===" or more). */
static int pad_count(const char *in, size_t len)
{
    int pad = 0;
    while (pad < 3 && in[len - 1 - (size_t)pad] == '=')
        pad++;
    return pad > 2 ? -1 : pad;
}

/* Checks every character and the zero trailing bits; 0 or SIO_EPROTO. */
static int validate(const char *in, size_t len, int pad)
{
    for (size_t i = 0; i < len - (size_t)pad; i++)
        if (dec_char((unsigned char)in[i]) < 0)
            return SIO_EPROTO;
    int last = dec_char((unsigned char)in[len - (size_t)pad - 1]);
    /* One '=' leaves 2 unused bits, two leave 4: they must be zero. */
    if ((pad == 1 && (last & 0x3)) || (pad == 2 && (last & 0xf)))
        return SIO_EPROTO;
    return 0;
}

int sio__base64_decode(sio__buf *out, const char *in, size_t len)
{
    if (len == 0)
        return 0;
    if (len % 4 != 0)
        return SIO_EPROTO;
    int pad = pad_count(in, len);
    if (pad < 0 || validate(in, len, pad) < 0)
        return SIO_EPROTO;
    size_t n = len / 4 * 3 - (size_t)pad;
    int rc = sio__buf_reserve(out, n);
    if (rc < 0)
        return rc;
    unsigned char *o = (unsigned char *)out->data + out->len;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = dec_char((unsigned char)in[i + j]);
            v = v << 6 | (uint32_t)(d < 0 ? 0 : d);
        }
        *o++ = (unsigned char)(v >> 16);
        if (i + 4 < len || pad < 2)
            *o++ = (unsigned char)(v >> 8);
        if (i + 4 < len || pad < 1)
            *o++ = (unsigned char)v;
    }
    out->len += n;
    return 0;
}
