/* Logging: DEBUG parsing as Node's `debug` does it (names, wildcards,
 * exclusions, separators), the callback receiving level, category and
 * message, level filtering, truncation of long lines, no evaluation of
 * the arguments when a category is off, and stderr lines stamped by the
 * clock the program installed (core reads none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

static void test_parse_debug(void **state)
{
    assert_int_equal(sio_log_parse_debug(NULL), 0);
    assert_int_equal(sio_log_parse_debug(""), 0);
    assert_int_equal(sio_log_parse_debug("sioc:*"), SIO_LOG_ALL);
    assert_int_equal(sio_log_parse_debug("*"), SIO_LOG_ALL);
    assert_int_equal(sio_log_parse_debug("socket.io:*"), 0); /* Node's, not ours */
    assert_int_equal(sio_log_parse_debug("sioc:engine"), SIO_LOG_ENGINE);
    assert_int_equal(sio_log_parse_debug("sioc:engine,sioc:socket"),
                     SIO_LOG_ENGINE | SIO_LOG_SOCKET);
    assert_int_equal(sio_log_parse_debug("express:* sioc:http , sioc:adapter"),
                     SIO_LOG_HTTP | SIO_LOG_ADAPTER);
    assert_int_equal(sio_log_parse_debug("sioc:*,-sioc:http"), SIO_LOG_ALL & ~SIO_LOG_HTTP);
    assert_int_equal(sio_log_parse_debug("-sioc:http,sioc:*"), SIO_LOG_ALL & ~SIO_LOG_HTTP);
    assert_int_equal(sio_log_parse_debug("sioc:eng*"), SIO_LOG_ENGINE);
    assert_int_equal(sio_log_parse_debug("sioc:enginex"), 0);
}

static int got_level;
static char got_cat[32], got_msg[SIO_LOG_LINE_MAX + 8];
static int calls, evaluated;

static void capture(int level, const char *category, const char *message, void *data)
{
    calls++;
    got_level = level;
    strncpy(got_cat, category, sizeof got_cat - 1);
    strncpy(got_msg, message, sizeof got_msg - 1);
    assert_ptr_equal(data, &calls);
}

static int side_effect(void)
{
    return ++evaluated;
}

static void test_callback_levels_and_cost(void **state)
{
    sio_log_set(SIO_LOG_ENGINE | SIO_LOG_SOCKET, SIO_LOG_INFO, capture, &calls);
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_INFO, "handshake sid=%s n=%d", "abc", 3);
    assert_int_equal(calls, 1);
    assert_int_equal(got_level, SIO_LOG_INFO);
    assert_string_equal(got_cat, "sioc:engine");
    assert_string_equal(got_msg, "handshake sid=abc n=3");
    /* above max_level, or a category that is off: nothing, not even the
     * arguments are evaluated */
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_DEBUG, "%d", side_effect());
    SIO_LOG(SIO_LOG_HTTP, SIO_LOG_ERROR, "%d", side_effect());
    assert_int_equal(calls, 1);
    assert_int_equal(evaluated, 0);
    /* a long line is truncated, not overflowed */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_ERROR, "%s", big);
    assert_int_equal(calls, 2);
    assert_int_equal(strlen(got_msg), SIO_LOG_LINE_MAX - 1);
    assert_string_equal(got_cat, "sioc:socket");
    /* off */
    sio_log_set(0, SIO_LOG_DEBUG, capture, &calls);
    SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_ERROR, "%d", side_effect());
    assert_int_equal(calls, 2);
    assert_int_equal(evaluated, 0);
    /* once configured by the program, DEBUG is not read */
    sio__log_init_from_env();
    assert_int_equal(sio__log_categories, 0);
}

/* 2026-01-01T00:00:00.123Z */
static int64_t fake_wall(void)
{
    return 1767225600123LL;
}

/* Without a callback, lines go to stderr in debug's format, stamped by the
 * installed clock, or with time 0 when there is none. */
static void test_stderr_stamp(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0 && dup2(fileno(tmp), 2) == 2);
    sio_log_set(SIO_LOG_ENGINE, SIO_LOG_DEBUG, NULL, NULL);
    sio__log_set_clock(fake_wall);
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_INFO, "hello %d", 7);
    sio__log_set_clock(NULL);
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_INFO, "no clock");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[256];
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    assert_string_equal(buf, "2026-01-01T00:00:00.123Z sioc:engine hello 7\n"
                             "1970-01-01T00:00:00.000Z sioc:engine no clock\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_debug),
        cmocka_unit_test(test_callback_levels_and_cost),
        cmocka_unit_test(test_stderr_stamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
