/* Tests for the WebSocket frame codec (src/ws/ws_frame.c): RFC 6455's own
 * example frames (section 5.7) byte for byte, every length encoding in both
 * roles, what a partial header tells at each byte, and masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ws/ws_frame.h"

/* Section 5.7: "Hello" unmasked, and masked with key 37 fa 21 3d. */
static void test_rfc_examples(void **state)
{
    static const unsigned char plain[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const unsigned char masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                           0x7f, 0x9f, 0x4d, 0x51, 0x58};
    static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    unsigned char out[SIO_WS_HDR_MAX + 5];
    size_t h = sio__ws_hdr_encode(out, SIO_WS_FIN | SIO_WS_OP_TEXT, 5, NULL);
    memcpy(out + h, "Hello", 5);
    assert_int_equal(h + 5, sizeof plain);
    assert_memory_equal(out, plain, sizeof plain);

    h = sio__ws_hdr_encode(out, SIO_WS_FIN | SIO_WS_OP_TEXT, 5, key);
    memcpy(out + h, "Hello", 5);
    sio__ws_mask(out + h, 5, key);
    assert_int_equal(h + 5, sizeof masked);
    assert_memory_equal(out, masked, sizeof masked);

    sio__ws_hdr hd;
    assert_int_equal(sio__ws_hdr_parse(masked, sizeof masked, &hd), SIO_WS_HDR_WHOLE);
    assert_int_equal(hd.size, 6);
    assert_int_equal(hd.len, 5);
    assert_true(SIO_WS_HDR_FIN(&hd) && SIO_WS_HDR_MASKED(&hd));
    assert_int_equal(SIO_WS_HDR_OPCODE(&hd), SIO_WS_OP_TEXT);
    assert_int_equal(SIO_WS_HDR_RSV(&hd), 0);
    unsigned char p[5];
    memcpy(p, masked + hd.size, 5);
    sio__ws_mask(p, 5, masked + hd.size - 4);
    assert_memory_equal(p, "Hello", 5);
}

/* Every length encoding, both roles: the shortest form, and parse gives
 * back what encode wrote. */
static void test_roundtrip_lengths(void **state)
{
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 0xFFFF, 0x10000, 1ull << 40};
    static const size_t sizes[] = {2, 2, 2, 4, 4, 4, 10, 10};
    static const unsigned char key[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int masked = 0; masked < 2; masked++) {
            unsigned char out[SIO_WS_HDR_MAX];
            unsigned b0 = SIO_WS_OP_BINARY | (i & 1 ? SIO_WS_FIN : 0);
            size_t n = sio__ws_hdr_encode(out, b0, lens[i], masked ? key : NULL);
            assert_int_equal(n, sizes[i] + (masked ? 4 : 0));
            sio__ws_hdr h;
            assert_int_equal(sio__ws_hdr_parse(out, n, &h), SIO_WS_HDR_WHOLE);
            assert_int_equal(h.size, n);
            assert_true(h.len == lens[i]);
            assert_int_equal(h.b0, b0);
            assert_int_equal(SIO_WS_HDR_MASKED(&h), masked);
            if (masked)
                assert_memory_equal(out + n - 4, key, 4);
        }
    }
}

/* A header cut at each byte: what is known grows in order, and the size
 * is right as soon as the second byte is in. */
static void test_partial_header(void **state)
{
    static const unsigned char key[4] = {9, 8, 7, 6};
    unsigned char out[SIO_WS_HDR_MAX];
    size_t n = sio__ws_hdr_encode(out, SIO_WS_FIN | SIO_WS_OP_TEXT, 70000, key);
    assert_int_equal(n, 14);
    for (size_t k = 0; k <= n; k++) {
        sio__ws_hdr h;
        int got = sio__ws_hdr_parse(out, k, &h);
        int want = k < 2    ? SIO_WS_HDR_NEED
                   : k < 10 ? SIO_WS_HDR_BASE
                   : k < 14 ? SIO_WS_HDR_LEN
                            : SIO_WS_HDR_WHOLE;
        assert_int_equal(got, want);
        assert_int_equal(h.size, k < 2 ? 2 : 14);
        if (got >= SIO_WS_HDR_LEN)
            assert_int_equal(h.len, 70000);
    }
    /* A wasteful extended length is reported as it is, not judged. */
    static const unsigned char waste[] = {0x81, 126, 0, 5};
    sio__ws_hdr h;
    assert_int_equal(sio__ws_hdr_parse(waste, sizeof waste, &h), SIO_WS_HDR_WHOLE);
    assert_int_equal(h.len, 5);
}

/* Masking any length at any alignment is the byte-wise XOR, and undoes
 * itself. */
static void test_mask(void **state)
{
    static const unsigned char key[4] = {0xA5, 0x5A, 0x0F, 0xF0};
    unsigned char buf[64 + 3], want[64 + 3];
    for (size_t off = 0; off < 3; off++) {
        for (size_t n = 0; n <= 64; n++) {
            for (size_t i = 0; i < n; i++)
                buf[off + i] = (unsigned char)(i * 7 + off);
            for (size_t i = 0; i < n; i++)
                want[i] = buf[off + i] ^ key[i & 3];
            sio__ws_mask(buf + off, n, key);
            assert_memory_equal(buf + off, want, n);
            sio__ws_mask(buf + off, n, key);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(buf[off + i], (unsigned char)(i * 7 + off));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_roundtrip_lengths),
        cmocka_unit_test(test_partial_header),
        cmocka_unit_test(test_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
