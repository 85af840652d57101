/* Unit tests for response heads (src/http/http_response.c): exact bytes,
 * field order, bodyless statuses, 101, injection refusal and rollback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "http/http_response.h"
#include "sioc.h"

static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(sio__http_status_text(200), "OK");
    assert_string_equal(sio__http_status_text(101), "Switching Protocols");
    assert_string_equal(sio__http_status_text(400), "Bad Request");
    assert_string_equal(sio__http_status_text(413), "Content Too Large");
    assert_string_equal(sio__http_status_text(414), "URI Too Long");
    assert_string_equal(sio__http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(sio__http_status_text(501), "Not Implemented");
    assert_string_equal(sio__http_status_text(505), "HTTP Version Not Supported");
    assert_string_equal(sio__http_status_text(299), "Unknown");
}

static void test_head_exact(void **state)
{
    (void)state;
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(
        sio__http_response_head(&b, 200, "X-A: 1\r\nX-B: 2\r\n", "text/plain; charset=UTF-8", 5, 1),
        0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 200 OK\r\n"
                                           "Content-Type: text/plain; charset=UTF-8\r\n"
                                           "Content-Length: 5\r\n"
                                           "Connection: keep-alive\r\n"
                                           "X-A: 1\r\nX-B: 2\r\n\r\n");
    b.len = 0;
    assert_int_equal(sio__http_response_head(&b, 404, NULL, NULL, -1, 0), 0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 404 Not Found\r\n"
                                           "Connection: close\r\n\r\n");
    b.len = 0;
    assert_int_equal(sio__http_response_head(&b, 204, "", "text/plain", 10, 1), 0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 204 No Content\r\n"
                                           "Content-Type: text/plain\r\n"
                                           "Connection: keep-alive\r\n\r\n");
    b.len = 0;
    assert_int_equal(sio__http_response_head(&b, 101, "Upgrade: websocket\r\n", NULL, -1, 0), 0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 101 Switching Protocols\r\n"
                                           "Connection: Upgrade\r\n"
                                           "Upgrade: websocket\r\n\r\n");
    b.len = 0;
    assert_int_equal(sio__http_response_head(&b, 100, NULL, NULL, -1, 1), 0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 100 Continue\r\n\r\n");
    sio__buf_free(&b);
}

static void test_head_refuses_injection(void **state)
{
    (void)state;
    static const char *const bad_extra[] = {"X-A: 1",         "X-A: 1\n",       "X-A: 1\r",
                                            "X-A: 1\r\n\r\n", "\r\nX-A: 1\r\n", "X: a\rb\r\n",
                                            "X: a\nb\r\n"};
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__buf_append_str(&b, "prefix"), 0);
    for (size_t i = 0; i < sizeof bad_extra / sizeof bad_extra[0]; i++)
        assert_int_equal(sio__http_response_head(&b, 200, bad_extra[i], NULL, 0, 1), SIO_EINVAL);
    assert_int_equal(sio__http_response_head(&b, 200, NULL, "a\r\nSet-Cookie: x", 0, 1),
                     SIO_EINVAL);
    assert_int_equal(sio__http_response_head(&b, 99, NULL, NULL, 0, 1), SIO_EINVAL);
    assert_int_equal(sio__http_response_head(&b, 600, NULL, NULL, 0, 1), SIO_EINVAL);
    assert_string_equal(sio__buf_cstr(&b), "prefix");
    sio__buf_free(&b);
}

static void test_simple(void **state)
{
    (void)state;
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(
        sio__http_response_simple(&b, 400, "application/json", "{\"code\":0}", 10, NULL, 0), 0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 400 Bad Request\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Content-Length: 10\r\n"
                                           "Connection: close\r\n\r\n"
                                           "{\"code\":0}");
    b.len = 0;
    assert_int_equal(sio__http_response_simple(&b, 200, "text/plain", "", 0, NULL, 1), 0);
    assert_string_equal(sio__buf_cstr(&b), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                           "Content-Length: 0\r\n"
                                           "Connection: keep-alive\r\n\r\n");
    sio__buf_free(&b);
}

/* A capped buffer: the write fails with SIO_ELIMIT and leaves b untouched. */
static void test_rollback_on_limit(void **state)
{
    (void)state;
    sio__buf b;
    sio__buf_init(&b, 64);
    assert_int_equal(sio__buf_append_str(&b, "keep"), 0);
    assert_int_equal(sio__http_response_simple(&b, 200, "text/plain", "0123456789", 10,
                                               "X-Long-Header: 0123456789\r\n", 1),
                     SIO_ELIMIT);
    assert_string_equal(sio__buf_cstr(&b), "keep");
    sio__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_head_exact),
        cmocka_unit_test(test_head_refuses_injection),
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_rollback_on_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
