/* Unit tests for the msgpack parser (src/socketio/sio_msgpack.c): packets
 * as socket.io-msgpack-parser writes them, the value mapping (notepack's
 * undefined, Date, integer keys, binary), the checks of the npm parser's
 * checkPacket, the bounds (depth, announced counts, binary bytes) and the
 * encoder's smallest forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "socketio/sio_msgpack.h"

static sio__packet_limits lim;

static int decode(const char *bytes, size_t len, sio__packet **p)
{
    sio__packet_limits_init(&lim);
    lim.max_binary_bytes = 100;
    return sio__msgpack_decode(bytes, len, &lim, p);
}

#define DECODE(lit, p) decode(lit, sizeof(lit) - 1, p)

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void test_event_with_binary(void **state)
{
    (void)state;
    /* {type:2, nsp:"/", data:["ev", bin(2), {u: undefined}], id:7, options:{compress:true}} */
    static const char m[] = "\x85\xa4type\x02\xa3nsp\xa1/\xa4"
                            "data\x93\xa2"
                            "ev\xc4\x02\x01\x02"
                            "\x81\xa1u\xd4\x00\x00\xa2id\x07\xa7options\x81\xa8"
                            "compress\xc3";
    sio__packet *p = NULL;
    assert_int_equal(DECODE(m, &p), 0);
    assert_int_equal(p->type, SIO_PKT_EVENT);
    assert_string_equal(p->nsp, "/");
    assert_int_equal(p->id, 7);
    assert_int_equal(p->nrecv, 1);
    assert_int_equal(p->att[0]->len, 2);
    char *d = dump(p->data);
    assert_string_equal(d, "[\"ev\",{\"_placeholder\":true,\"num\":0},{\"u\":null}]");
    free(d);
    /* encoded back: the bytes inline again, keys type/data/nsp/id */
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__msgpack_encode(&b, p->type, p->nsp, p->id, p->data, p->att, p->nrecv), 0);
    static const char want[] = "\x84\xa4type\x02\xa4"
                               "data\x93\xa2"
                               "ev\xc4\x02\x01\x02\x81\xa1u\xc0"
                               "\xa3nsp\xa1/\xa2id\x07";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    sio__buf_free(&b);
    sio__packet_free(p);
}

static void test_values(void **state)
{
    (void)state;
    /* data: [Date(1e12), {1: "int key"}, uint64 max, -1 (int8), 1.5 (float32)] */
    static const char m[] = "\x83\xa4type\x03\xa3nsp\xa2/x\xa4"
                            "data\x95"
                            "\xd7\x00\x00\x00\x00\xe8\xd4\xa5\x10\x00"
                            "\x81\x01\xa7int key"
                            "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"
                            "\xd0\xff"
                            "\xca\x3f\xc0\x00\x00";
    sio__packet *p = NULL;
    assert_int_equal(DECODE(m, &p), 0);
    assert_int_equal(p->type, SIO_PKT_ACK);
    assert_string_equal(p->nsp, "/x");
    assert_int_equal(p->id, -1);
    char *d = dump(p->data);
    assert_string_equal(
        d, "[\"2001-09-09T01:46:40.000Z\",{\"1\":\"int key\"},1.8446744073709552e19,-1,1.5]");
    free(d);
    sio__packet_free(p);
}

/* The msgpack timestamp extension (type -1), what notepack.io 3 (the Redis
 * adapter's encoder) writes for a Date: 32, 64 and 96-bit forms. */
static void test_timestamps(void **state)
{
    (void)state;
    static const char m[] = "\x83\xa4type\x03\xa3nsp\xa1/\xa4"
                            "data\x93\xd6\xff\x3b\x9a\xca\x00\xd7\xff\x77\x35\x94\x00\x3b\x9a\xca"
                            "\x00\xc7\x0c\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff";
    sio__packet *p = NULL;
    assert_int_equal(DECODE(m, &p), 0);
    char *d = dump(p->data);
    assert_string_equal(d, "[\"2001-09-09T01:46:40.000Z\",\"2001-09-09T01:46:40.500Z\","
                           "\"1969-12-31T23:59:59.000Z\"]");
    free(d);
    sio__packet_free(p);
    /* nanoseconds past a second are not a timestamp */
    static const char bad[] = "\x83\xa4type\x03\xa3nsp\xa1/\xa4"
                              "data\x91\xd7\xff\xff\xff\xff\xfc\x00\x00\x00\x00";
    assert_int_equal(DECODE(bad, &p), SIO_EPROTO);
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *m;
        size_t len;
    } bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
        B("\xdd\xff\xff\xff\xff"), /* 2^32 elements announced */
        B("\xdf\xff\xff\xff\xff"), /* 2^32 pairs announced */
        B("\xdb\xff\xff\xff\xff"
          "a"),                            /* 4 GiB string announced */
        B("\xc1"),                         /* never used */
        B("\x92\x01\x02"),                 /* not a map */
        B("\x82\xa4type\x07\xa3nsp\xa1/"), /* type 7 */
        B("\x82\xa4type\x05\xa3nsp\xa1/"), /* BINARY_EVENT */
        B("\x82\xa4type\x00\xa3nsp\x01"),  /* nsp not a string */
        B("\x83\xa4type\x00\xa3nsp\xa1/\xa4"
          "data\xa1x"), /* CONNECT data a string */
        B("\x83\xa4type\x01\xa3nsp\xa1/\xa4"
          "data\x80"), /* DISCONNECT with data */
        B("\x83\xa4type\x02\xa3nsp\xa1/\xa4"
          "data\x90"), /* EVENT without a name */
        B("\x83\xa4type\x02\xa3nsp\xa1/\xa4"
          "data\x91\xaa"
          "disconnect"), /* reserved name */
        B("\x83\xa4type\x00\xa3nsp\xa1/\xa2id\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"), /* id 1.5 */
        B("\x83\xa4type\x00\xa3nsp\xa1/\xa2id\xff"),                                 /* id -1 */
        B("\x83\xa4type\x03\xa3nsp\xa1/\xa4"
          "data\x91\xd5\x05\x00\x00"), /* ext type 5 */
        B("\x83\xa4type\x03\xa3nsp\xa1/\xa4"
          "data\x91\xc4\x65"),                 /* bin past the end */
        B("\x82\xa4type\x00\xa3nsp\xa1/\x00"), /* a trailing byte */
        B("\x82\xa4type\x00\xa3nsp\xa2/\x00"), /* NUL in nsp */
        B("\x83\xa4type\x03\xa3nsp\xa1/\xa4"
          "data\x91\x81\xa2k\x00\x01"), /* NUL in a key */
#undef B
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sio__packet *p = (sio__packet *)1;
        if (decode(bad[i].m, bad[i].len, &p) != SIO_EPROTO)
            fail_msg("case %zu accepted", i);
        assert_null(p);
    }
    /* binary values over max_binary_bytes (100) */
    static const char head[] = "\x83\xa4type\x03\xa3nsp\xa1/\xa4"
                               "data\x91\xc4\x65";
    char big[200] = {0};
    memcpy(big, head, sizeof head - 1);
    sio__packet *p = NULL;
    assert_int_equal(decode(big, sizeof head - 1 + 101, &p), SIO_EPROTO);
    big[sizeof head - 2] = 100; /* exactly the limit */
    assert_int_equal(decode(big, sizeof head - 1 + 100, &p), 0);
    sio__packet_free(p);
}

static void test_depth(void **state)
{
    (void)state;
    static const char head[] = "\x83\xa4type\x03\xa3nsp\xa1/\xa4"
                               "data";
    char m[128];
    size_t n = sizeof head - 1;
    memcpy(m, head, n);
    for (int i = 0; i < 32; i++) /* data + 31 arrays inside it: 32 levels */
        m[n++] = (char)0x91;
    m[n - 1] = (char)0x90;
    sio__packet *p = NULL;
    assert_int_equal(decode(m, n, &p), 0);
    sio__packet_free(p);
    m[n - 1] = (char)0x91;
    m[n++] = (char)0x90; /* 33 levels */
    assert_int_equal(decode(m, n, &p), SIO_EPROTO);
}

static void test_encode_smallest(void **state)
{
    (void)state;
    json_t *data = json_pack("[i,i,I,f,f,s]", 5, -33, (json_int_t)70000, 2.0, 0.5, "");
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__msgpack_encode(&b, SIO_PKT_BINARY_EVENT, "/n", -1, data, NULL, 0), 0);
    static const char want[] = "\x83\xa4type\x02\xa4"
                               "data\x96\x05\xd0\xdf\xce\x00\x01\x11\x70"
                               "\x02\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00\xa0\xa3nsp\xa2/n";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    sio__buf_free(&b);
    json_decref(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_with_binary),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_encode_smallest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
