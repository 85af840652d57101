/* Unit tests for engine/eio_packet: the examples of the Engine.IO v4 spec,
 * strictness of the payload decoder (empty packets, separators, types,
 * base64), limits and early stops, encoders, and random round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "engine/eio_packet.h"
#include "sioc.h"

/* ------------------------------------------------------------ collector */

#define MAXP 64

typedef struct got {
    int n;
    sio__eio_type type[MAXP];
    int binary[MAXP];
    char data[MAXP][256];
    size_t len[MAXP];
    int stop_at; /* return stop_rc when packet number stop_at arrives (-1: never) */
    int stop_rc;
} got;

static int collect(const sio__eio_packet *p, void *data)
{
    got *g = data;
    assert_true(g->n < MAXP);
    assert_non_null(p->data.base);
    assert_true(p->data.len < sizeof g->data[0]);
    g->type[g->n] = p->type;
    g->binary[g->n] = p->binary;
    memcpy(g->data[g->n], p->data.base, p->data.len);
    g->len[g->n] = p->data.len;
    return g->n++ == g->stop_at ? g->stop_rc : 0;
}

static int decode(const char *body, size_t len, unsigned max, got *g)
{
    memset(g, 0, sizeof *g);
    g->stop_at = -1;
    return sio__eio_decode_payload(body, len, max, collect, g);
}

#define DECODE(lit, max, g) decode(lit, sizeof(lit) - 1, max, g)

static void assert_pkt(const got *g, int i, sio__eio_type type, int binary, const char *data,
                       size_t len)
{
    assert_int_equal(g->type[i], type);
    assert_int_equal(g->binary[i], binary);
    assert_int_equal(g->len[i], len);
    assert_memory_equal(g->data[i], data, len);
}

/* ---------------------------------------------------------- text packets */

static void test_decode_text(void **state)
{
    (void)state;
    sio__eio_packet p;
    assert_int_equal(sio__eio_decode_text("4hello", 6, &p), 0);
    assert_int_equal(p.type, SIO_EIO_MESSAGE);
    assert_false(p.binary);
    assert_int_equal(p.data.len, 5);
    assert_memory_equal(p.data.base, "hello", 5);
    assert_int_equal(sio__eio_decode_text("2probe", 6, &p), 0);
    assert_int_equal(p.type, SIO_EIO_PING);
    assert_true(sio__slice_eq(p.data, "probe"));
    assert_int_equal(sio__eio_decode_text("4", 1, &p), 0); /* empty message */
    assert_int_equal(p.type, SIO_EIO_MESSAGE);
    assert_int_equal(p.data.len, 0);
    static const char *const ok[] = {"0{\"sid\":\"x\"}", "1", "2", "3probe", "5", "6"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(sio__eio_decode_text(ok[i], strlen(ok[i]), &p), 0);
        assert_int_equal(p.type, (sio__eio_type)(ok[i][0] - '0'));
        assert_ptr_equal(p.data.base, ok[i] + 1); /* borrowed */
    }
    static const char *const bad[] = {"7", "9", "/", "a", "b", "bAA==", " 4", "\x1e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sio__eio_decode_text(bad[i], strlen(bad[i]), &p), SIO_EPROTO);
    assert_int_equal(sio__eio_decode_text("", 0, &p), SIO_EPROTO);
    assert_int_equal(sio__eio_decode_text("4a\0b", 4, &p), 0); /* bytes, not C strings */
    assert_int_equal(p.data.len, 3);
}

/* --------------------------------------------------------------- payload */

static void test_payload_spec_example(void **state)
{
    (void)state;
    got g;
    /* The spec's polling example: "hello", a ping, and binary 01 02 03 04. */
    assert_int_equal(DECODE("4hello\x1e"
                            "2\x1e"
                            "bAQIDBA==",
                            0, &g),
                     3);
    assert_int_equal(g.n, 3);
    assert_pkt(&g, 0, SIO_EIO_MESSAGE, 0, "hello", 5);
    assert_pkt(&g, 1, SIO_EIO_PING, 0, "", 0);
    assert_pkt(&g, 2, SIO_EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
    /* A single packet with no separator at all. */
    assert_int_equal(DECODE("4hello", 0, &g), 1);
    assert_pkt(&g, 0, SIO_EIO_MESSAGE, 0, "hello", 5);
    /* "6" noop and "1" close in one body. */
    assert_int_equal(DECODE("6\x1e"
                            "1",
                            0, &g),
                     2);
    assert_pkt(&g, 0, SIO_EIO_NOOP, 0, "", 0);
    assert_pkt(&g, 1, SIO_EIO_CLOSE, 0, "", 0);
}

static void test_payload_empty_and_binary_edges(void **state)
{
    (void)state;
    got g;
    assert_int_equal(DECODE("4", 0, &g), 1); /* empty message */
    assert_pkt(&g, 0, SIO_EIO_MESSAGE, 0, "", 0);
    assert_int_equal(DECODE("b", 0, &g), 1); /* empty binary message */
    assert_pkt(&g, 0, SIO_EIO_MESSAGE, 1, "", 0);
    assert_int_equal(DECODE("b\x1e"
                            "4\x1e"
                            "b",
                            0, &g),
                     3);
    assert_pkt(&g, 0, SIO_EIO_MESSAGE, 1, "", 0);
    assert_pkt(&g, 1, SIO_EIO_MESSAGE, 0, "", 0);
    assert_pkt(&g, 2, SIO_EIO_MESSAGE, 1, "", 0);
    /* Binary after binary: the scratch buffer is reused correctly. */
    assert_int_equal(DECODE("bAQIDBA==\x1e"
                            "bBQ==",
                            0, &g),
                     2);
    assert_pkt(&g, 0, SIO_EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4);
    assert_pkt(&g, 1, SIO_EIO_MESSAGE, 1, "\x05", 1);
    /* Text may hold any bytes except the separator, NUL included. */
    assert_int_equal(decode("4a\0b\x1e"
                            "4\xff",
                            7, 0, &g),
                     2);
    assert_pkt(&g, 0, SIO_EIO_MESSAGE, 0, "a\0b", 3);
    assert_pkt(&g, 1, SIO_EIO_MESSAGE, 0, "\xff", 1);
}

static void test_payload_rejects(void **state)
{
    (void)state;
    got g;
    static const struct {
        const char *body;
        int delivered; /* packets handed out before the error */
    } bad[] = {
        {"", 0},     /* empty body */
        {"\x1e", 0}, /* only a separator */
        {"\x1e"
         "4a",
         0},           /* separator at the start */
        {"4a\x1e", 1}, /* separator at the end */
        {"4a\x1e\x1e"
         "4b",
         1},      /* doubled separator */
        {"7", 0}, /* unknown type */
        {"4a\x1e"
         "x",
         1},            /* unknown type after a good one */
        {"bAQ", 0},     /* base64 length */
        {"bAQ=", 0},    /* short padding */
        {"bAR==", 0},   /* bad length with padding */
        {"bAR=", 0},    /* non-zero trailing bits */
        {"b AQ==", 0},  /* whitespace */
        {"bAQ==\n", 0}, /* trailing newline */
        {"bA-_A", 0},   /* base64url alphabet */
        {"4ok\x1e"
         "b====",
         1},      /* only padding */
        {"B", 0}, /* upper-case b is not binary */
    };
    assert_int_equal(decode(NULL, 0, 0, &g), SIO_EPROTO);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(decode(bad[i].body, strlen(bad[i].body), 0, &g), SIO_EPROTO);
        assert_int_equal(g.n, bad[i].delivered);
    }
}

static void test_payload_limit_and_stop(void **state)
{
    (void)state;
    got g;
    assert_int_equal(DECODE("4a\x1e"
                            "4b\x1e"
                            "4c",
                            2, &g),
                     SIO_ELIMIT);
    assert_int_equal(g.n, 2);
    assert_int_equal(DECODE("4a\x1e"
                            "4b\x1e"
                            "4c",
                            3, &g),
                     3);
    assert_int_equal(DECODE("4a\x1e"
                            "4b\x1e"
                            "4c",
                            1, &g),
                     SIO_ELIMIT);
    assert_int_equal(g.n, 1);
    assert_int_equal(DECODE("4a", 1, &g), 1);
    /* The callback's non-zero value stops decoding and is returned as is. */
    memset(&g, 0, sizeof g);
    g.stop_at = 1;
    g.stop_rc = 42;
    assert_int_equal(sio__eio_decode_payload("4a\x1e"
                                             "4b\x1e"
                                             "4c",
                                             8, 0, collect, &g),
                     42);
    assert_int_equal(g.n, 2);
    memset(&g, 0, sizeof g);
    g.stop_at = 0;
    g.stop_rc = SIO_ECLOSED;
    assert_int_equal(sio__eio_decode_payload("1\x1e"
                                             "4b",
                                             4, 0, collect, &g),
                     SIO_ECLOSED);
    assert_int_equal(g.n, 1);
}

/* Out of memory for the base64 scratch space is reported, not a crash;
 * text packets before it were delivered, and text needs no memory. */
static void test_payload_oom(void **state)
{
    (void)state;
    got g;
    sio__alloc_fail_after(1);
    assert_int_equal(DECODE("4a\x1e"
                            "bAQIDBA==",
                            0, &g),
                     SIO_ENOMEM);
    sio__alloc_fail_after(0);
    assert_int_equal(g.n, 1);
    sio__alloc_fail_after(1);
    assert_int_equal(DECODE("4a\x1e"
                            "4b",
                            0, &g),
                     2);
    sio__alloc_fail_after(0);
}

/* -------------------------------------------------------------- encoders */

static void test_encode(void **state)
{
    (void)state;
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__eio_encode_text(&b, SIO_EIO_MESSAGE, "hello", 5), 0);
    assert_string_equal(sio__buf_cstr(&b), "4hello");
    b.len = 0;
    assert_int_equal(sio__eio_encode_text(&b, SIO_EIO_PONG, "probe", 5), 0);
    assert_int_equal(sio__eio_encode_text(&b, SIO_EIO_MESSAGE, NULL, 0), 0);
    assert_int_equal(sio__eio_encode_text(&b, SIO_EIO_NOOP, "", 0), 0);
    assert_string_equal(sio__buf_cstr(&b), "3probe46");
    assert_int_equal(sio__eio_encode_text(&b, (sio__eio_type)7, "x", 1), SIO_EINVAL);
    assert_int_equal(sio__eio_encode_text(&b, (sio__eio_type)-1, "x", 1), SIO_EINVAL);
    assert_int_equal(b.len, 8);
    b.len = 0;
    /* The spec's payload, built element by element. */
    assert_int_equal(sio__eio_encode_payload_elem(&b, 1, SIO_EIO_MESSAGE, 0, "hello", 5), 0);
    assert_int_equal(sio__eio_encode_payload_elem(&b, 0, SIO_EIO_PING, 0, NULL, 0), 0);
    assert_int_equal(sio__eio_encode_payload_elem(&b, 0, SIO_EIO_MESSAGE, 1, "\1\2\3\4", 4), 0);
    assert_string_equal(sio__buf_cstr(&b), "4hello\x1e"
                                           "2\x1e"
                                           "bAQIDBA==");
    b.len = 0;
    assert_int_equal(sio__eio_encode_payload_elem(&b, 1, SIO_EIO_MESSAGE, 1, NULL, 0), 0);
    assert_string_equal(sio__buf_cstr(&b), "b");
    assert_int_equal(sio__eio_encode_payload_elem(&b, 0, SIO_EIO_PING, 1, "x", 1), SIO_EINVAL);
    assert_int_equal(sio__eio_encode_payload_elem(&b, 0, (sio__eio_type)9, 0, "x", 1), SIO_EINVAL);
    assert_int_equal(b.len, 1);
    sio__buf_free(&b);
}

/* A full buffer rejects the whole element and keeps what it had. */
static void test_encode_limits(void **state)
{
    (void)state;
    sio__buf b;
    sio__buf_init(&b, 10);
    assert_int_equal(sio__eio_encode_payload_elem(&b, 1, SIO_EIO_MESSAGE, 0, "hello", 5), 0);
    /* "\x1e" + "4" + "hello" = 7 more: over by 2. */
    assert_int_equal(sio__eio_encode_payload_elem(&b, 0, SIO_EIO_MESSAGE, 0, "hello", 5),
                     SIO_ELIMIT);
    assert_int_equal(b.len, 6);
    /* "\x1e" + "b" + "AQID" = 6 more: over by 2. */
    assert_int_equal(sio__eio_encode_payload_elem(&b, 0, SIO_EIO_MESSAGE, 1, "\1\2\3", 3),
                     SIO_ELIMIT);
    assert_int_equal(b.len, 6);
    assert_int_equal(sio__eio_encode_text(&b, SIO_EIO_MESSAGE, "abc", 3), 0); /* exactly 10 */
    assert_int_equal(sio__eio_encode_text(&b, SIO_EIO_MESSAGE, NULL, 0), SIO_ELIMIT);
    assert_string_equal(sio__buf_cstr(&b), "4hello4abc");
    sio__buf_free(&b);
}

/* Random packet lists survive encode -> decode unchanged. */
static void test_roundtrip_random(void **state)
{
    (void)state;
    uint64_t s = 2024;
    for (int iter = 0; iter < 500; iter++) {
        got want, g;
        sio__buf b;
        sio__buf_init(&b, 0);
        memset(&want, 0, sizeof want);
        want.n = 1 + iter % 20;
        for (int i = 0; i < want.n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            want.binary[i] = (s >> 60) & 1;
            want.type[i] = want.binary[i] ? SIO_EIO_MESSAGE : (sio__eio_type)((s >> 40) % 7);
            want.len[i] = (size_t)(s >> 20) % 40;
            for (size_t j = 0; j < want.len[i]; j++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                char c = (char)(s >> 56);
                /* Text cannot carry the separator; binary can carry anything. */
                want.data[i][j] = (!want.binary[i] && c == '\x1e') ? 'x' : c;
            }
            assert_int_equal(sio__eio_encode_payload_elem(&b, i == 0, want.type[i], want.binary[i],
                                                          want.data[i], want.len[i]),
                             0);
        }
        assert_int_equal(decode(b.data, b.len, 0, &g), want.n);
        for (int i = 0; i < want.n; i++)
            assert_pkt(&g, i, want.type[i], want.binary[i], want.data[i], want.len[i]);
        sio__buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_text),
        cmocka_unit_test(test_payload_spec_example),
        cmocka_unit_test(test_payload_empty_and_binary_edges),
        cmocka_unit_test(test_payload_rejects),
        cmocka_unit_test(test_payload_limit_and_stop),
        cmocka_unit_test(test_payload_oom),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_roundtrip_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
