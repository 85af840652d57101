/* WebSocket opening handshake: see ws_handshake.h.
 *
 * The checks are written against RFC 6455 section 4.2.1 (what the server
 * must verify) and 4.2.2 (how the accept key is derived). Header values come
 * straight from the HTTP parser, so every comparison tolerates optional
 * whitespace (RFC 7230 "OWS") and never reads past the slice. SHA-1 comes
 * from OpenSSL's EVP interface; base64 of the 20-byte digest is always
 * exactly 28 characters, so the output size is fixed. */
#include "ws/ws_handshake.h"

#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "core/error.h"

/* The fixed GUID of RFC 6455 section 1.3, appended to the client's key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Drops leading and trailing spaces/tabs (HTTP optional whitespace). */
static sio__slice ws_trim(sio__slice s)
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
static int ws_list_has_token(sio__slice s, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;
    while (i <= s.len && s.base != NULL) {
        size_t start = i;
        while (i < s.len && s.base[i] != ',')
            i++;
        sio__slice item = ws_trim((sio__slice){s.base + start, i - start});
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
static int ws_key_ok(sio__slice key)
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

int sio__ws_check_upgrade(int is_get, int version_minor, sio__slice upgrade_hdr,
                          sio__slice connection_hdr, sio__slice version_hdr, sio__slice key_hdr)
{
    if (!is_get || version_minor < 1)
        return SIO_EPROTO;
    if (!ws_list_has_token(upgrade_hdr, "websocket"))
        return SIO_EPROTO;
    if (!ws_list_has_token(connection_hdr, "upgrade"))
        return SIO_EPROTO;
    sio__slice v = ws_trim(version_hdr);
    if (v.len != 2 || memcmp(v.base, "13", 2) != 0)
        return SIO_EPROTO;
    if (!ws_key_ok(key_hdr))
        return SIO_EPROTO;
    return 0;
}

int sio__ws_accept_key(char out[SIO_WS_ACCEPT_LEN + 1], sio__slice key)
{
    key = ws_trim(key);
    if (key.len == 0)
        return SIO_EINVAL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return SIO_ENOMEM;
    int ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key.base, key.len) &&
             EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) &&
             EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok || mdlen != 20)
        return SIO_ENOMEM;
    /* 20 bytes -> 28 characters plus the NUL EVP_EncodeBlock writes. */
    int n = EVP_EncodeBlock((unsigned char *)out, md, 20);
    return n == SIO_WS_ACCEPT_LEN ? 0 : SIO_ENOMEM;
}

int sio__ws_accept_response(sio__buf *out, sio__slice key, const char *extra_headers)
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

void sio__ws_handshake_warmup(void)
{
    char out[SIO_WS_ACCEPT_LEN + 1];
    sio__ws_accept_key(out, SIO_SLICE("dGhlIHNhbXBsZSBub25jZQ=="));
}
