/* Unit tests for core/base64: RFC 4648 vectors, strict rejection of every
 * non-canonical form, random round trips, buffer limits, and the unpadded
 * base64url that ids use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/base64.h"
#include "sioc.h"

static const char *const vec[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        sio__buf b;
        sio__buf_init(&b, 0);
        size_t n = strlen(vec[i][0]);
        assert_int_equal(sio__base64_encoded_len(n), strlen(vec[i][1]));
        assert_int_equal(sio__base64_encode(&b, vec[i][0], n), 0);
        assert_string_equal(sio__buf_cstr(&b), vec[i][1]);
        sio__buf_free(&b);
        assert_int_equal(sio__base64_decode(&b, vec[i][1], strlen(vec[i][1])), 0);
        assert_int_equal(b.len, n);
        assert_memory_equal(sio__buf_cstr(&b), vec[i][0], n);
        sio__buf_free(&b);
    }
    /* Both extra alphabet characters and high bytes. */
    sio__buf b;
    sio__buf_init(&b, 0);
    const unsigned char raw[] = {0xfb, 0xff, 0xbf, 0x00};
    assert_int_equal(sio__base64_encode(&b, raw, 4), 0);
    assert_string_equal(sio__buf_cstr(&b), "+/+/AA==");
    sio__buf_free(&b);
    assert_int_equal(sio__base64_encoded_len(SIZE_MAX), SIZE_MAX);
}

static void test_strict_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg",                   /* missing padding */
        "Zg=",                  /* short padding */
        "Zm9",                  /* length not a multiple of 4 */
        "Zh==",                 /* non-zero trailing bits (4 unused) */
        "Zm9=",                 /* non-zero trailing bits (2 unused) */
        "Zm8=Zm8=",             /* padding in the middle */
        "====",                 /* only padding */
        "A===",                 /* three padding characters */
        "Zg==\n",               /* whitespace */
        " Zg==",                /* whitespace */
        "Zm 9",                 /* whitespace inside */
        "Zm9v\r\n",             /* line break */
        "Zm-_",                 /* base64url alphabet */
        "Z=g=",                 /* padding then data */
        "=Zg=",     "Zm9v====", /* a whole group of padding */
        "Zg==Zg==",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sio__buf b;
        sio__buf_init(&b, 0);
        sio__buf_append_str(&b, "keep");
        assert_int_equal(sio__base64_decode(&b, bad[i], strlen(bad[i])), SIO_EPROTO);
        assert_int_equal(b.len, 4); /* nothing appended on error */
        sio__buf_free(&b);
    }
    /* A NUL byte is not in the alphabet either. */
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__base64_decode(&b, "Zm\0v", 4), SIO_EPROTO);
    /* The canonical neighbours of the rejected ones are accepted. */
    assert_int_equal(sio__base64_decode(&b, "Zg==", 4), 0);
    assert_int_equal(sio__base64_decode(&b, "Zm8=", 4), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "ffo", 3);
    sio__buf_free(&b);
}

static void test_roundtrip_random(void **state)
{
    (void)state;
    uint64_t s = 99;
    unsigned char raw[300];
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = (size_t)iter % sizeof raw;
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            raw[i] = (unsigned char)(s >> 56);
        }
        sio__buf e, d;
        sio__buf_init(&e, 0);
        sio__buf_init(&d, 0);
        assert_int_equal(sio__base64_encode(&e, raw, n), 0);
        assert_int_equal(e.len, sio__base64_encoded_len(n));
        assert_int_equal(sio__base64_decode(&d, e.data, e.len), 0);
        assert_int_equal(d.len, n);
        if (n)
            assert_memory_equal(d.data, raw, n);
        sio__buf_free(&e);
        sio__buf_free(&d);
    }
}

/* The buffer's hard limit is honoured by both directions. */
static void test_limits(void **state)
{
    (void)state;
    sio__buf b;
    sio__buf_init(&b, 7);
    assert_int_equal(sio__base64_encode(&b, "foobar", 6), SIO_ELIMIT);
    assert_int_equal(b.len, 0);
    assert_int_equal(sio__base64_encode(&b, "foo", 3), 0);
    assert_int_equal(sio__base64_decode(&b, "Zm9vYg==", 8), SIO_ELIMIT); /* 4 + 4 > 7 */
    assert_int_equal(sio__base64_decode(&b, "Zm9v", 4), 0);              /* 4 + 3 = 7 */
    assert_int_equal(sio__base64_decode(&b, "Zg==", 4), SIO_ELIMIT);
    assert_int_equal(b.len, 7);
    sio__buf_free(&b);
}

/* base64url: RFC 4648 section 5's alphabet, no padding, NUL-terminated in
 * the caller's array; for random data it is the standard encoding with
 * '+' -> '-', '/' -> '_' and the '=' dropped. */
static void test_base64url(void **state)
{
    (void)state;
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[SIO_BASE64URL_LEN(300) + 1];
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        size_t n = strlen(vec[i][0]);
        assert_int_equal(SIO_BASE64URL_LEN(n), strlen(url[i]));
        memset(out, '#', sizeof out);
        assert_int_equal(sio__base64url_encode(out, vec[i][0], n), strlen(url[i]));
        assert_string_equal(out, url[i]);
    }
    const unsigned char raw4[] = {0xfb, 0xff, 0xbf, 0x00};
    sio__base64url_encode(out, raw4, 4);
    assert_string_equal(out, "-_-_AA");
    assert_int_equal(sio__base64url_digit(62), '-');
    assert_int_equal(sio__base64url_digit(0x100 | 63), '_');
    assert_int_equal(sio__base64url_digit(0), 'A');
    uint64_t s = 7;
    unsigned char raw[300];
    for (size_t n = 0; n < sizeof raw; n++) {
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            raw[i] = (unsigned char)(s >> 56);
        }
        sio__buf std;
        sio__buf_init(&std, 0);
        assert_int_equal(sio__base64_encode(&std, raw, n), 0);
        size_t len = sio__base64url_encode(out, raw, n);
        assert_int_equal(len, SIO_BASE64URL_LEN(n));
        for (size_t i = 0; i < std.len; i++) {
            char c = std.data[i] == '+' ? '-' : std.data[i] == '/' ? '_' : std.data[i];
            if (c == '=')
                assert_true(i >= len);
            else
                assert_int_equal(out[i], c);
        }
        assert_int_equal(out[len], '\0');
        sio__buf_free(&std);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_vectors),      cmocka_unit_test(test_strict_rejects),
        cmocka_unit_test(test_roundtrip_random), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_base64url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
