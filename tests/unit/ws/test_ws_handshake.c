/* Tests for the WebSocket opening handshake (src/ws/ws_handshake.c): the
 * RFC 6455 example accept key, the exact 101 response, and each rule of
 * section 4.2.1 rejected on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/buf.h"
#include "sioc.h"
#include "ws/ws_handshake.h"

/* A slice of a C string literal (or the missing-header slice for NULL). */
static sio__slice S(const char *s)
{
    return (sio__slice){s, s ? strlen(s) : 0};
}

/* The RFC 6455 section 1.3 example nonce and its accept value (checked
 * against openssl dgst and node crypto as well). */
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Checks a request that differs from a valid one in the given fields. */
static int check(int get, int minor, const char *up, const char *conn, const char *ver,
                 const char *key)
{
    return sio__ws_check_upgrade(get, minor, S(up), S(conn), S(ver), S(key));
}

static void test_accept_key_rfc_example(void **state)
{
    char out[SIO_WS_ACCEPT_LEN + 1];
    assert_int_equal(sio__ws_accept_key(out, S(RFC_KEY)), 0);
    assert_string_equal(out, RFC_ACCEPT);
    /* Surrounding whitespace from the header is ignored. */
    assert_int_equal(sio__ws_accept_key(out, S("  " RFC_KEY "\t")), 0);
    assert_string_equal(out, RFC_ACCEPT);
    assert_int_equal(sio__ws_accept_key(out, S("")), SIO_EINVAL);
}

/* The accept key for key, computed with OpenSSL (the reference). */
static void reference_accept(char out[SIO_WS_ACCEPT_LEN + 1], const char *key, size_t len)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_true(EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key, len) &&
                EVP_DigestUpdate(ctx, guid, sizeof guid - 1) &&
                EVP_DigestFinal_ex(ctx, md, &mdlen));
    EVP_MD_CTX_free(ctx);
    assert_int_equal(mdlen, 20);
    assert_int_equal(EVP_EncodeBlock((unsigned char *)out, md, 20), SIO_WS_ACCEPT_LEN);
}

/* The built-in SHA-1 agrees with OpenSSL's for every padding case: keys of
 * 1..300 bytes put the message end on both sides of the 56-byte boundary
 * and span several 64-byte blocks. */
static void test_accept_key_matches_openssl(void **state)
{
    (void)state;
    char key[300];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (char)('A' + (i * 7) % 26);
    for (size_t len = 1; len <= sizeof key; len++) {
        char got[SIO_WS_ACCEPT_LEN + 1], want[SIO_WS_ACCEPT_LEN + 1];
        assert_int_equal(sio__ws_accept_key(got, (sio__slice){key, len}), 0);
        reference_accept(want, key, len);
        assert_string_equal(got, want);
    }
}

static void test_accept_response_exact(void **state)
{
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__buf_append_str(&b, "X"), 0);
    assert_int_equal(sio__ws_accept_response(&b, S(RFC_KEY), NULL), 0);
    assert_string_equal(sio__buf_cstr(&b), "XHTTP/1.1 101 Switching Protocols\r\n"
                                           "Upgrade: websocket\r\n"
                                           "Connection: Upgrade\r\n"
                                           "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                                           "\r\n");
    sio__buf_free(&b);

    assert_int_equal(sio__ws_accept_response(&b, S(RFC_KEY), "Set-Cookie: io=abc\r\n"), 0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 101 Switching Protocols\r\n"
                                           "Upgrade: websocket\r\n"
                                           "Connection: Upgrade\r\n"
                                           "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                                           "Set-Cookie: io=abc\r\n"
                                           "\r\n");
    sio__buf_free(&b);
}

static void test_accept_response_failure_leaves_buffer(void **state)
{
    sio__buf b;
    sio__buf_init(&b, 40);
    assert_int_equal(sio__buf_append_str(&b, "keep"), 0);
    assert_int_equal(sio__ws_accept_response(&b, S(RFC_KEY), NULL), SIO_ELIMIT);
    assert_int_equal(b.len, 4);
    assert_int_equal(sio__ws_accept_response(&b, S(""), NULL), SIO_EINVAL);
    assert_int_equal(b.len, 4);
    sio__buf_free(&b);
}

static void test_check_valid(void **state)
{
    assert_int_equal(check(1, 1, "websocket", "Upgrade", "13", RFC_KEY), 0);
    /* Case-insensitive tokens, lists, optional whitespace. */
    assert_int_equal(check(1, 1, "WebSocket", "keep-alive, Upgrade", " 13 ", RFC_KEY), 0);
    assert_int_equal(check(1, 1, "h2c ,\twebsocket", "UPGRADE,keep-alive", "13", " " RFC_KEY), 0);
    assert_int_equal(check(1, 1, "websocket", "upgrade", "13", "AAAAAAAAAAAAAAAAAAAAAA=="), 0);
    assert_int_equal(check(1, 1, "websocket", "upgrade", "13", "+/+/+/+/+/+/+/+/09azAZ=="), 0);
}

static void test_check_method_and_version(void **state)
{
    assert_int_equal(check(0, 1, "websocket", "Upgrade", "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 0, "websocket", "Upgrade", "13", RFC_KEY), SIO_EPROTO);
}

static void test_check_upgrade_and_connection(void **state)
{
    assert_int_equal(check(1, 1, NULL, "Upgrade", "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "", "Upgrade", "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websockets", "Upgrade", "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "web socket", "Upgrade", "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", NULL, "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", "keep-alive", "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", "upgraded, close", "13", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", ",", "13", RFC_KEY), SIO_EPROTO);
}

static void test_check_ws_version(void **state)
{
    assert_int_equal(check(1, 1, "websocket", "Upgrade", NULL, RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", "Upgrade", "8", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", "Upgrade", "130", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", "Upgrade", "13, 8", RFC_KEY), SIO_EPROTO);
    assert_int_equal(check(1, 1, "websocket", "Upgrade", "1 3", RFC_KEY), SIO_EPROTO);
}

static void test_check_key(void **state)
{
    const char *bad[] = {
        NULL,
        "",
        "dGhlIHNhbXBsZSBub25jZQ",     /* no padding */
        "dGhlIHNhbXBsZSBub25jZQ=",    /* one pad */
        "dGhlIHNhbXBsZSBub25jZQ===",  /* too long */
        "dGhlIHNhbXBsZSBub25jZ===",   /* 15 bytes */
        "dGhlIHNhbXBsZSBub25jZQ-=",   /* bad padding char */
        "dGhlIHNhbXBsZSBub25j-Q==",   /* URL-safe alphabet */
        "dGhlIHNhbXBsZSBub25jZQ==dG", /* trailing data */
        "dGhlIHNh bXBsZSBub25jZQ==",  /* inner space */
        "ZGhlIHNhbXBsZSBub25jZQdGhl", /* 26 chars, no padding */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(check(1, 1, "websocket", "Upgrade", "13", bad[i]), SIO_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_accept_key_matches_openssl),
        cmocka_unit_test(test_accept_response_exact),
        cmocka_unit_test(test_accept_response_failure_leaves_buffer),
        cmocka_unit_test(test_check_valid),
        cmocka_unit_test(test_check_method_and_version),
        cmocka_unit_test(test_check_upgrade_and_connection),
        cmocka_unit_test(test_check_ws_version),
        cmocka_unit_test(test_check_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
