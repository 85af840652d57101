/* Unit tests for httpCompression's pieces (src/http/compress.c):
 * Accept-Encoding negotiation as Node's `accepts` does it, and gzip /
 * deflate output that zlib decodes back to the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/buf.h"
#include "http/compress.h"
#include "sioc.h"

static const char *pick(const char *h)
{
    return sio__http_pick_encoding(h, h ? strlen(h) : 0);
}

static void expect_pick(const char *h, const char *want)
{
    const char *got = pick(h);
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
        fail_msg("pick(%s) = %s, want %s", h ? h : "NULL", got ? got : "NULL",
                 want ? want : "NULL");
}

static void test_negotiation(void **state)
{
    (void)state;
    expect_pick(NULL, NULL);
    expect_pick("", NULL);
    expect_pick("identity", NULL);
    expect_pick("gzip", "gzip");
    expect_pick("gzip, deflate, br", "gzip");
    expect_pick("deflate, gzip", "deflate");          /* client order on a tie */
    expect_pick("deflate;q=0.5, gzip;q=0.8", "gzip"); /* highest q */
    expect_pick("GZIP;Q=0.1", "gzip");
    expect_pick("gzip;q=0, deflate", "deflate"); /* q=0 refuses */
    expect_pick("gzip;q=0", NULL);
    expect_pick("*", "gzip"); /* server order */
    expect_pick("br;q=1, *;q=0.5", "gzip");
    expect_pick("*;q=0", NULL);
    expect_pick("gzip;q=0, *", "deflate");
    expect_pick(" ,, gzip ;q=1.0 ,", "gzip");
}

static void roundtrip(const char *coding, int window_bits)
{
    char in[5000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)('a' + i % 7);
    sio__buf z;
    sio__buf_init(&z, 0);
    assert_int_equal(sio__http_compress(coding, in, sizeof in, &z), 0);
    assert_true(z.len > 0 && z.len < sizeof in / 4);
    char back[sizeof in + 16];
    z_stream s;
    memset(&s, 0, sizeof s);
    assert_int_equal(inflateInit2(&s, window_bits), Z_OK);
    s.next_in = (Bytef *)z.data;
    s.avail_in = (uInt)z.len;
    s.next_out = (Bytef *)back;
    s.avail_out = sizeof back;
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, sizeof in);
    assert_memory_equal(back, in, sizeof in);
    inflateEnd(&s);
    sio__buf_free(&z);
}

static void test_compress(void **state)
{
    (void)state;
    roundtrip("gzip", 31);    /* gzip wrapper only */
    roundtrip("deflate", 15); /* zlib wrapper only */
    sio__buf z;
    sio__buf_init(&z, 0);
    assert_int_equal(sio__http_compress("br", "x", 1, &z), SIO_EINVAL);
    assert_int_equal(sio__http_compress("gzip", "", 0, &z), 0);
    assert_true(z.len > 0);
    sio__buf_free(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation),
        cmocka_unit_test(test_compress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
