/* WebSocket opening handshake: see ws_handshake.h.
 *
 * The checks are written against RFC 6455 section 4.2.1 (what the server
 * must verify) and 4.2.2 (how the accept key is derived). Header values come
 * straight from the HTTP parser, so every comparison tolerates optional
 * whitespace (RFC 7230 "OWS") and never reads past the slice. SHA-1 is
 * computed here (FIPS 180-4 section 6.1), not with OpenSSL's EVP interface:
 * the first EVP digest fetch initialises OpenSSL's providers, which pages
 * in ~2 MB of libcrypto for one 20-byte hash. base64 of the digest is
 * always exactly 28 characters, so the output size is fixed. */
#include "ws/ws_handshake.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

/* The fixed GUID of RFC 6455 section 1.3, appended to the client's key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* A SHA-1 computation in progress (FIPS 180-4 section 6.1). */
typedef struct ws_sha1 {
    uint32_t h[5];          /* the hash value H(i) */
    uint64_t total;         /* message bytes so far */
    unsigned char blk[64];  /* the block being filled */
    size_t used;            /* bytes of blk filled */
} ws_sha1;

static uint32_t ws_rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

/* Processes one 64-byte block (section 6.1.2, steps 1-4). */
static void ws_sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 80; t++)
        w[t] = ws_rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t tmp = ws_rol(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = ws_rol(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* Initial hash value (section 5.3.1). */
static void ws_sha1_init(ws_sha1 *s)
{
    static const uint32_t h0[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u,
                                   0xC3D2E1F0u};
    memcpy(s->h, h0, sizeof h0);
    s->total = 0;
    s->used = 0;
}

static void ws_sha1_update(ws_sha1 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->total += len;
    while (len > 0) {
        size_t n = sizeof s->blk - s->used < len ? sizeof s->blk - s->used : len;
        memcpy(s->blk + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;
        if (s->used == sizeof s->blk) {
            ws_sha1_block(s->h, s->blk);
            s->used = 0;
        }
    }
}

/* Pads (section 5.1.1: 0x80, zeros, 64-bit bit length) and writes the
 * 20-byte digest, big-endian. */
static void ws_sha1_final(ws_sha1 *s, unsigned char md[20])
{
    uint64_t bits = s->total * 8;
    unsigned char pad[72] = {0x80};
    size_t npad = (s->used < 56 ? 56 : 120) - s->used;
    for (int i = 0; i < 8; i++)
        pad[npad + i] = (unsigned char)(bits >> (56 - 8 * i));
    ws_sha1_update(s, pad, npad + 8);
    for (int i = 0; i < 20; i++)
        md[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* base64 (RFC 4648 section 4) of a 20-byte digest: 28 characters and a NUL. */
static void ws_base64_20(char out[SIO_WS_ACCEPT_LEN + 1], const unsigned char md[20])
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (int i = 0; i < 20; i += 3) {
        uint32_t v = (uint32_t)md[i] << 16 | (i + 1 < 20 ? (uint32_t)md[i + 1] << 8 : 0) |
                     (i + 2 < 20 ? md[i + 2] : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < 20 ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < 20 ? abc[v & 63] : '=';
    }
    out[o] = '\0';
}

/* Drops leading and trailing spaces/tabs (HTTP optional whitespace). */
static sio_slice ws_trim(sio_slice s)
{
    while (s.len > 0 && (s.base[0] == ' ' || s.base[0] == '\t')) {
        s.base++;
        s.len--;
    }
    while (s.len > 0 && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* 1 if the comma-separated list s contains token (case-insensitive), as
 * Upgrade and Connection allow several values ("keep-alive, Upgrade"). */
static int ws_list_has_token(sio_slice s, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;
    while (i <= s.len && s.base != NULL) {
        size_t start = i;
        while (i < s.len && s.base[i] != ',')
            i++;
        sio_slice item = ws_trim((sio_slice){s.base + start, i - start});
        if (item.len == tlen && strncasecmp(item.base, token, tlen) == 0)
            return 1;
        i++; /* skip the comma (or step past the end) */
    }
    return 0;
}

/* 1 for a character of the standard base64 alphabet (not padding). */
static int ws_is_b64(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/* A 16-byte nonce in base64 is 22 alphabet characters then "==". */
static int ws_key_ok(sio_slice key)
{
    key = ws_trim(key);
    if (key.len != 24 || key.base[22] != '=' || key.base[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        if (!ws_is_b64(key.base[i]))
            return 0;
    }
    return 1;
}

int sio__ws_check_upgrade(int is_get, int version_minor, sio_slice upgrade_hdr,
                          sio_slice connection_hdr, sio_slice version_hdr, sio_slice key_hdr)
{
    if (!is_get || version_minor < 1)
        return SIO_EPROTO;
    if (!ws_list_has_token(upgrade_hdr, "websocket"))
        return SIO_EPROTO;
    if (!ws_list_has_token(connection_hdr, "upgrade"))
        return SIO_EPROTO;
    sio_slice v = ws_trim(version_hdr);
    if (v.len != 2 || memcmp(v.base, "13", 2) != 0)
        return SIO_EPROTO;
    if (!ws_key_ok(key_hdr))
        return SIO_EPROTO;
    return 0;
}

int sio__ws_accept_key(char out[SIO_WS_ACCEPT_LEN + 1], sio_slice key)
{
    key = ws_trim(key);
    if (key.len == 0)
        return SIO_EINVAL;
    ws_sha1 sha;
    unsigned char md[20];
    ws_sha1_init(&sha);
    ws_sha1_update(&sha, key.base, key.len);
    ws_sha1_update(&sha, ws_guid, sizeof ws_guid - 1);
    ws_sha1_final(&sha, md);
    ws_base64_20(out, md);
    return 0;
}

int sio__ws_accept_response(sio_buf *out, sio_slice key, const char *extra_headers)
{
    char accept[SIO_WS_ACCEPT_LEN + 1];
    int rc = sio__ws_accept_key(accept, key);
    if (rc < 0)
        return rc;
    size_t saved = out->len;
    rc = sio__buf_appendf(out,
                          "HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n"
                          "%s\r\n",
                          accept, extra_headers ? extra_headers : "");
    if (rc < 0)
        out->len = saved; /* appendf reserves first, but stay explicit */
    return rc;
}
