/* Unit tests for percent-decoding, query lookup and the static-path check
 * (src/http/query.c): the Engine.IO query shapes, '+' handling, strict
 * escapes, first-match semantics and hostile paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/query.h"
#include "sioc.h"

/* Looks key up in q and checks the result code and, if found, the value. */
static void expect_get(const char *q, const char *key, int want_rc, const char *want)
{
    sio__buf out;
    sio__buf_init(&out, 0);
    int rc = sio__query_get((sio__slice){q, strlen(q)}, key, &out);
    if (rc != want_rc)
        fail_msg("query_get(%s, %s) = %d, want %d", q, key, rc, want_rc);
    if (rc == 1) {
        assert_int_equal(out.len, strlen(want));
        assert_memory_equal(out.data, want, out.len);
    } else {
        assert_int_equal(out.len, 0);
    }
    sio__buf_free(&out);
}

static void test_engine_io_query(void **state)
{
    (void)state;
    const char *q = "EIO=4&transport=polling&t=OtDiZ1x&sid=ab%2Dc_d";
    expect_get(q, "EIO", 1, "4");
    expect_get(q, "transport", 1, "polling");
    expect_get(q, "t", 1, "OtDiZ1x");
    expect_get(q, "sid", 1, "ab-c_d");
    expect_get(q, "b64", 0, NULL);
    expect_get(q, "eio", 0, NULL);
    expect_get(q, "EI", 0, NULL);
    expect_get(q, "EIO=", 0, NULL);
    expect_get("", "EIO", 0, NULL);
}

static void test_query_shapes(void **state)
{
    (void)state;
    expect_get("a=1&a=2", "a", 1, "1");
    expect_get("&&a=1&", "a", 1, "1");
    expect_get("flag&x=1", "flag", 1, "");
    expect_get("x=&y=2", "x", 1, "");
    expect_get("x==1", "x", 1, "=1");
    expect_get("q=a+b%20c%2B", "q", 1, "a b c+");
    expect_get("my+key=v", "my key", 1, "v");
    expect_get("my%20key=v", "my key", 1, "v");
    expect_get("n=%25%2b", "n", 1, "%+");
    expect_get("u=%C3%a9", "u", 1, "\xc3\xa9");
}

static void test_query_bad_escapes(void **state)
{
    (void)state;
    expect_get("q=%", "q", SIO_EPROTO, NULL);
    expect_get("q=%2", "q", SIO_EPROTO, NULL);
    expect_get("q=%zz", "q", SIO_EPROTO, NULL);
    expect_get("q=%2g&x=1", "q", SIO_EPROTO, NULL);
    /* a bad key before the one wanted is an error too */
    expect_get("b%x=1&q=2", "q", SIO_EPROTO, NULL);
    /* but a bad value of another key is not looked at */
    expect_get("b=%x&q=2", "q", 1, "2");
    /* nor is anything after the match */
    expect_get("q=2&b%x=1", "q", 1, "2");
}

static void test_query_nul_in_value(void **state)
{
    (void)state;
    sio__buf out;
    sio__buf_init(&out, 0);
    assert_int_equal(sio__query_get(SIO_SLICE("n=a%00b"), "n", &out), 1);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "a\0b", 3);
    sio__buf_free(&out);
}

static void test_url_decode(void **state)
{
    (void)state;
    sio__buf out;
    sio__buf_init(&out, 0);
    assert_int_equal(sio__buf_append_str(&out, "stale"), 0);
    assert_int_equal(sio__url_decode(SIO_SLICE("/a%20b+c/%2e%2E/%41"), &out), 0);
    assert_string_equal(sio__buf_cstr(&out), "/a b+c/../A");
    assert_int_equal(sio__url_decode(SIO_SLICE(""), &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(sio__url_decode(SIO_SLICE("/x%"), &out), SIO_EPROTO);
    assert_int_equal(out.len, 0);
    assert_int_equal(sio__url_decode(SIO_SLICE("/x%4"), &out), SIO_EPROTO);
    assert_int_equal(sio__url_decode(SIO_SLICE("%-1"), &out), SIO_EPROTO);
    sio__buf_free(&out);
    /* a capped output buffer reports the cap */
    sio__buf_init(&out, 4);
    assert_int_equal(sio__url_decode(SIO_SLICE("/abcdefgh"), &out), SIO_ELIMIT);
    assert_int_equal(sio__url_decode(SIO_SLICE("/ab"), &out), 0);
    sio__buf_free(&out);
}

static void test_path_is_safe(void **state)
{
    (void)state;
    static const char *const safe[] = {"/",    "/index.html",    "/a/b.c/d", "/..a",
                                       "/a..", "/.well-known/x", "/a//b",    "/a/b/"};
    static const char *const unsafe[] = {"",          "a",     "/..",   "/../etc/passwd",
                                         "/a/../b",   "/a/..", "/.",    "/a/./b",
                                         "/a\\..\\b", "/a\\b", "/a\nb", "/\x7f"};
    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (!sio__path_is_safe((sio__slice){safe[i], strlen(safe[i])}))
            fail_msg("%s should be safe", safe[i]);
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++)
        if (sio__path_is_safe((sio__slice){unsafe[i], strlen(unsafe[i])}))
            fail_msg("%s should be unsafe", unsafe[i]);
    assert_false(sio__path_is_safe((sio__slice){"/a\0b", 4}));
}

/* Node's handshake.query: decoded values, repeated names as arrays, bad
 * pairs left out; the accessor copies the first value, truncating. */
static void test_handshake_query(void **state)
{
    (void)state;
    sio_handshake hs = {0};
    hs.query = "EIO=4&name=A%20%26+B&tag=x&tag=y&tag=z&bad=%zz&flag&=e";
    json_t *q = sio_handshake_query_json(&hs);
    char *dump = json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(dump, "{\"\":\"e\",\"EIO\":\"4\",\"flag\":\"\",\"name\":\"A & B\","
                              "\"tag\":[\"x\",\"y\",\"z\"]}");
    free(dump);
    json_decref(q);
    char out[8];
    assert_int_equal(sio_handshake_query_get(&hs, "name", out, sizeof out), 5);
    assert_string_equal(out, "A & B");
    assert_int_equal(sio_handshake_query_get(&hs, "tag", out, sizeof out), 1);
    assert_string_equal(out, "x");
    assert_int_equal(sio_handshake_query_get(&hs, "nope", out, sizeof out), SIO_ENOTFOUND);
    hs.query = "long=0123456789";
    assert_int_equal(sio_handshake_query_get(&hs, "long", out, sizeof out), 10);
    assert_string_equal(out, "0123456");
    assert_int_equal(sio_handshake_query_get(NULL, "x", out, sizeof out), SIO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_io_query),   cmocka_unit_test(test_query_shapes),
        cmocka_unit_test(test_query_bad_escapes), cmocka_unit_test(test_query_nul_in_value),
        cmocka_unit_test(test_url_decode),        cmocka_unit_test(test_path_is_safe),
        cmocka_unit_test(test_handshake_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
