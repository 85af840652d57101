/* Unit tests for the Socket.IO packet codec (src/socketio/sio_packet.c):
 * the protocol README's examples, socket.io-parser's rejections, and the
 * extra bounds (depth, ack id, attachments, deadline, bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_packet.h"

static sio__packet_limits lim;

static int decode(const char *s, sio__packet **p)
{
    return sio__packet_decode(s, strlen(s), &lim, p);
}

static void expect_bad(const char *s)
{
    sio__packet *p = NULL;
    int rc = decode(s, &p);
    if (rc != SIO_EPROTO)
        fail_msg("expected parse error for %s, got %d", s, rc);
    assert_null(p);
}

static void test_connect(void **state)
{
    sio__packet *p;
    assert_int_equal(decode("0", &p), 0);
    assert_int_equal(p->type, SIO_PKT_CONNECT);
    assert_string_equal(p->nsp, "/");
    assert_null(p->data);
    assert_int_equal(p->id, -1);
    sio__packet_free(p);

    assert_int_equal(decode("0/admin,{\"token\":\"123\"}", &p), 0);
    assert_string_equal(p->nsp, "/admin");
    assert_string_equal(json_string_value(json_object_get(p->data, "token")), "123");
    sio__packet_free(p);

    expect_bad("0[]");
    expect_bad("0\"str\"");
    expect_bad("0/admin,\"x\"");
    expect_bad("0/admin,1[]");
}

static void test_event_and_ack(void **state)
{
    sio__packet *p;
    assert_int_equal(decode("2/admin,12[\"foo\",1,{\"a\":null}]", &p), 0);
    assert_int_equal(p->type, SIO_PKT_EVENT);
    assert_string_equal(p->nsp, "/admin");
    assert_int_equal(p->id, 12);
    assert_int_equal(json_array_size(p->data), 3);
    sio__packet_free(p);

    assert_int_equal(decode("2[42]", &p), 0); /* numeric event names are allowed */
    sio__packet_free(p);

    assert_int_equal(decode("3/admin,13[\"bar\"]", &p), 0);
    assert_int_equal(p->type, SIO_PKT_ACK);
    assert_int_equal(p->id, 13);
    sio__packet_free(p);

    assert_int_equal(decode("1/admin,", &p), 0);
    assert_int_equal(p->type, SIO_PKT_DISCONNECT);
    sio__packet_free(p);

    expect_bad("");
    expect_bad("7[\"a\"]");
    expect_bad("x");
    expect_bad("2");
    expect_bad("2[]");
    expect_bad("2{}");
    expect_bad("2[null]");
    expect_bad("2[\"connect\"]");
    expect_bad("2[\"disconnecting\"]");
    expect_bad("2[\"removeListener\",1]");
    expect_bad("2[\"a\"");
    expect_bad("3{}");
    expect_bad("1[]");
    expect_bad("2[\"a\"]garbage");
}

static void test_ack_id_overflow(void **state)
{
    sio__packet *p;
    assert_int_equal(decode("29007199254740991[\"a\"]", &p), 0);
    assert_int_equal(p->id, SIO_ACK_ID_MAX);
    sio__packet_free(p);
    expect_bad("29007199254740992[\"a\"]");
    expect_bad("2999999999999999999999999[\"a\"]");
}

static void test_depth(void **state)
{
    char deep[200];
    size_t n = 0;
    deep[n++] = '2';
    deep[n++] = '[';
    deep[n++] = '"';
    deep[n++] = 'e';
    deep[n++] = '"';
    deep[n++] = ',';
    for (int k = 0; k < 40; k++)
        deep[n++] = '[';
    for (int k = 0; k < 40; k++)
        deep[n++] = ']';
    deep[n++] = ']';
    deep[n] = 0;
    expect_bad(deep);
    sio__packet *p;
    /* brackets inside strings do not count */
    assert_int_equal(decode("2[\"e\",\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]", &p), 0);
    sio__packet_free(p);
}

static void test_big_numbers_as_reals(void **state)
{
    sio__packet *p;
    assert_int_equal(decode("2[\"e\",100000000000000000000]", &p), 0);
    assert_true(json_is_real(json_array_get(p->data, 1)));
    assert_true(json_real_value(json_array_get(p->data, 1)) == 1e20);
    sio__packet_free(p);
}

static void test_binary_header(void **state)
{
    sio__packet *p;
    assert_int_equal(decode("52-/admin,7[\"e\",{\"_placeholder\":true,\"num\":0},"
                            "{\"x\":[{\"_placeholder\":true,\"num\":1}]}]",
                            &p),
                     0);
    assert_int_equal(p->type, SIO_PKT_BINARY_EVENT);
    assert_int_equal(p->nattach, 2);
    assert_int_equal(p->id, 7);
    assert_string_equal(p->nsp, "/admin");
    sio__packet_free(p);

    expect_bad("50-[\"e\"]");                                       /* zero */
    expect_bad("511-[\"e\"]");                                      /* > max 10 */
    expect_bad("5-[\"e\"]");                                        /* no count */
    expect_bad("51[\"e\"]");                                        /* no dash */
    expect_bad("51-[\"e\",{\"_placeholder\":true,\"num\":1}]");     /* out of range */
    expect_bad("51-[\"e\",{\"_placeholder\":true,\"num\":-1}]");    /* negative */
    expect_bad("51-[\"e\",{\"_placeholder\":true,\"num\":0.5}]");   /* not integer */
    expect_bad("51-[\"e\",{\"_placeholder\":true,\"num\":\"0\"}]"); /* string */
    expect_bad("51-[\"e\",{\"_placeholder\":true}]");               /* missing */
}

static void test_decoder_reassembly(void **state)
{
    sio__decoder d;
    sio__decoder_init(&d, &lim);
    sio__packet *p;
    const char *h = "62-3[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]";
    assert_int_equal(sio__decoder_add(&d, h, strlen(h), 0, 1000, &p), 0);
    assert_non_null(d.pending);
    assert_int_equal(sio__decoder_deadline(&d), 1000 + lim.attachment_timeout);
    assert_int_equal(sio__decoder_add(&d, "\x01\x02", 2, 1, 1001, &p), 0);
    assert_null(p);
    assert_int_equal(sio__decoder_add(&d, "\x03", 1, 1, 1002, &p), 1);
    assert_non_null(p);
    assert_int_equal(p->type, SIO_PKT_BINARY_ACK);
    assert_int_equal(p->nrecv, 2);
    assert_int_equal(p->att[0]->len, 2);
    assert_memory_equal(p->att[1]->data, "\x03", 1);
    assert_int_equal(sio__decoder_deadline(&d), UINT64_MAX);
    sio__packet_free(p);

    /* binary without header, text during reassembly */
    assert_int_equal(sio__decoder_add(&d, "\x01", 1, 1, 0, &p), SIO_EPROTO);
    assert_int_equal(sio__decoder_add(&d, h, strlen(h), 0, 0, &p), 0);
    assert_int_equal(sio__decoder_add(&d, "2[\"a\"]", 6, 0, 0, &p), SIO_EPROTO);
    assert_null(d.pending);

    /* plain packets pass straight through */
    assert_int_equal(sio__decoder_add(&d, "2[\"a\"]", 6, 0, 0, &p), 1);
    sio__packet_free(p);

    /* partial packets are freed by reset (ASan checks the leak) */
    assert_int_equal(sio__decoder_add(&d, h, strlen(h), 0, 0, &p), 0);
    assert_int_equal(sio__decoder_add(&d, "ab", 2, 1, 0, &p), 0);
    sio__decoder_reset(&d);
    assert_null(d.pending);
}

static void test_decoder_byte_cap(void **state)
{
    sio__packet_limits small = lim;
    small.max_binary_bytes = 5;
    sio__decoder d;
    sio__decoder_init(&d, &small);
    sio__packet *p;
    const char *h =
        "52-[\"e\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
    assert_int_equal(sio__decoder_add(&d, h, strlen(h), 0, 0, &p), 0);
    assert_int_equal(sio__decoder_add(&d, "abc", 3, 1, 0, &p), 0);
    assert_int_equal(sio__decoder_add(&d, "def", 3, 1, 0, &p), SIO_ELIMIT);
    assert_null(d.pending);
}

static void check_encode(int ack, const char *nsp, int64_t id, const char *event,
                         const char *args_json, unsigned nattach, const char *offset,
                         const char *expect)
{
    sio__buf b;
    sio__buf_init(&b, 0);
    json_t *args = args_json ? json_loads(args_json, 0, NULL) : NULL;
    assert_int_equal(sio__packet_encode_args(&b, ack, nsp, id, event, args, nattach, offset), 0);
    assert_string_equal(sio__buf_cstr(&b), expect);
    json_decref(args);
    sio__buf_free(&b);
}

static void test_encode(void **state)
{
    check_encode(0, "/", -1, "hello", "[1,\"two\",{\"three\":[true,null]}]", 0, NULL,
                 "42[\"hello\",1,\"two\",{\"three\":[true,null]}]");
    check_encode(0, "/admin", 5, "e", NULL, 0, NULL, "42/admin,5[\"e\"]");
    check_encode(1, "/", 3, NULL, "[]", 0, NULL, "433[]");
    check_encode(1, "/x", 3, NULL, "[{\"_placeholder\":true,\"num\":0}]", 1, NULL,
                 "461-/x,3[{\"_placeholder\":true,\"num\":0}]");
    check_encode(0, "/", -1, "e", "[1]", 0, "off7", "42[\"e\",1,\"off7\"]");
    check_encode(0, "/", -1, "e", NULL, 0, "o", "42[\"e\",\"o\"]");
    check_encode(0, "/", -1, "a/\"b\n", "[\"\\u00e9\"]", 0, NULL,
                 "42[\"a/\\\"b\\n\",\"\xc3\xa9\"]");

    sio__buf b;
    sio__buf_init(&b, 0);
    json_t *d = json_pack("{s:s}", "sid", "abc");
    assert_int_equal(sio__packet_encode_json(&b, SIO_PKT_CONNECT, "/", d), 0);
    assert_string_equal(sio__buf_cstr(&b), "40{\"sid\":\"abc\"}");
    json_decref(d);
    sio__buf_free(&b);
    assert_int_equal(sio__packet_encode_json(&b, SIO_PKT_DISCONNECT, "/chat", NULL), 0);
    assert_string_equal(sio__buf_cstr(&b), "41/chat,");
    sio__buf_free(&b);
}

static void test_roundtrip(void **state)
{
    sio__buf b;
    sio__buf_init(&b, 0);
    json_t *args =
        json_loads("[1.5,-3,\"x\",[],{\"k\":{\"_placeholder\":true,\"num\":0}}]", 0, NULL);
    assert_int_equal(sio__packet_encode_args(&b, 0, "/n", 9, "ev", args, 1, NULL), 0);
    sio__packet *p;
    assert_int_equal(sio__packet_decode(b.data + 1, b.len - 1, &lim, &p), 0);
    assert_int_equal(p->type, SIO_PKT_BINARY_EVENT);
    assert_int_equal(p->nattach, 1);
    assert_int_equal(p->id, 9);
    assert_string_equal(json_string_value(json_array_get(p->data, 0)), "ev");
    assert_int_equal(sio__placeholder_num(json_object_get(json_array_get(p->data, 5), "k")), 0);
    sio__packet_free(p);
    json_decref(args);
    sio__buf_free(&b);
}

static void test_oom(void **state)
{
    /* every allocation failure is reported, never a crash or a leak */
    const char *s = "51-/n,4[\"e\",{\"_placeholder\":true,\"num\":0}]";
    for (unsigned n = 1; n < 40; n++) {
        sio__packet *p = NULL;
        sio__alloc_fail_after(n);
        int rc = decode(s, &p);
        sio__alloc_fail_after(0);
        assert_true(rc == 0 || rc == SIO_ENOMEM);
        sio__packet_free(p);
    }
}

int main(void)
{
    sio__packet_limits_init(&lim);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_event_and_ack),
        cmocka_unit_test(test_ack_id_overflow),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_big_numbers_as_reals),
        cmocka_unit_test(test_binary_header),
        cmocka_unit_test(test_decoder_reassembly),
        cmocka_unit_test(test_decoder_byte_cap),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
