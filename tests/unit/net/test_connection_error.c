/* io.engine.on("connection_error"): requests refused before a session
 * reach the program's callback with Node's code and message, over real
 * HTTP (a client thread with blocking sockets against the loop): unknown
 * transport (0), unknown sid (1), a handshake that is not a GET (2), a
 * WebSocket handshake without an Upgrade (3), EIO=3 (5); a valid
 * handshake does not call it. Each carries Node's err.context and the
 * request itself (err.req). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

#include "sioc.h"

#define NREQ 6

static const char *const requests[NREQ] = {
    "GET /socket.io/?EIO=4&transport=carrier-pigeon HTTP/1.1",
    "GET /socket.io/?EIO=4&transport=polling&sid=nope HTTP/1.1",
    "PUT /socket.io/?EIO=4&transport=polling HTTP/1.1",
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
    "GET /socket.io/?EIO=3&transport=polling HTTP/1.1",
    "GET /socket.io/?EIO=4&transport=polling HTTP/1.1", /* accepted */
};
static const int want_codes[NREQ - 1] = {0, 1, 2, 3, 5};
static const char *const want_messages[NREQ - 1] = {"Transport unknown", "Session ID unknown",
                                                    "Bad handshake method", "Bad request",
                                                    "Unsupported protocol version"};
/* engine.io 6.6's context objects for the same requests. */
static const char *const want_contexts[NREQ - 1] = {
    "{\"transport\":\"carrier-pigeon\"}", "{\"sid\":\"nope\"}", "{\"method\":\"PUT\"}",
    "{\"name\":\"TRANSPORT_HANDSHAKE_ERROR\"}", "{\"protocol\":3}"};
static const char *const want_methods[NREQ - 1] = {"GET", "GET", "PUT", "GET", "GET"};

typedef struct ctx {
    sio_server *io;
    int port;
    int codes[16], n;
    char messages[16][48];
    char contexts[16][64];
    char methods[16][8];
    char queries[16][48];
    int statuses[NREQ];
} ctx;

static void on_error(const sio_connection_error *err, void *data)
{
    ctx *c = data;
    if (c->n < 16) {
        c->codes[c->n] = err->code;
        snprintf(c->messages[c->n], sizeof c->messages[0], "%s", err->message);
        snprintf(c->contexts[c->n], sizeof c->contexts[0], "%s",
                 err->context ? err->context : "(null)");
        snprintf(c->methods[c->n], sizeof c->methods[0], "%s", sio_req_method(err->req));
        snprintf(c->queries[c->n], sizeof c->queries[0], "%s", sio_req_query(err->req));
        c->n++;
    }
}

/* One request on its own connection; returns the HTTP status. */
static int request(int port, const char *line)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "%s\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", line);
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    int status = -1;
    if (got > 12)
        sscanf(buf, "HTTP/1.1 %d", &status);
    return status;
}

static void finish(void *data)
{
    ctx *c = data;
    sio_server_shutdown(c->io, NULL, NULL);
}

static sio_loop *the_loop;

static void *client(void *data)
{
    ctx *c = data;
    for (int i = 0; i < NREQ; i++)
        c->statuses[i] = request(c->port, requests[i]);
    sio_loop_post(the_loop, finish, c);
    return NULL;
}

static void test_codes(void **state)
{
    ctx c = {0};
    sio_http_server *http;
    sio_server_options o;
    sio_server_options_init(&o);
    assert_int_equal(sio_loop_new(&the_loop), 0);
    assert_int_equal(sio_http_server_new(&http, the_loop, NULL), 0);
    assert_int_equal(sio_server_new(&c.io, http, &o), 0);
    assert_int_equal(sio_http_server_listen(http, "127.0.0.1", 0), 0);
    sio_server_on_connection_error(c.io, on_error, &c);
    c.port = sio_http_server_port(http);
    pthread_t th;
    pthread_create(&th, NULL, client, &c);
    assert_int_equal(sio_loop_run(the_loop), 0);
    pthread_join(th, NULL);
    sio_loop_free(the_loop);
    assert_int_equal(c.n, NREQ - 1);
    for (int i = 0; i < NREQ - 1; i++) {
        assert_int_equal(c.codes[i], want_codes[i]);
        assert_string_equal(c.messages[i], want_messages[i]);
        assert_string_equal(c.contexts[i], want_contexts[i]);
        assert_string_equal(c.methods[i], want_methods[i]);
        assert_non_null(strstr(requests[i], c.queries[i]));
        assert_true(strlen(c.queries[i]) > 4);
        assert_int_equal(c.statuses[i], 400);
    }
    assert_int_equal(c.statuses[NREQ - 1], 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
