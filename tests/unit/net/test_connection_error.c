/* io.engine.on("connection_error"): requests refused before a session
 * reach the program's callback with Node's code and message, over real
 * HTTP (a client thread with blocking sockets against the loop): unknown
 * transport (0), unknown sid (1), a handshake that is not a GET (2), a
 * WebSocket handshake without an Upgrade (3), EIO=3 (5); a valid
 * handshake does not call it. Each carries Node's err.context and the
 * request itself (err.req). Then the abuse limits over the same real
 * HTTP: handshake_rate (429, code 4 with the context {"message":"Too many
 * handshakes"} on polling and on a WebSocket handshake; an existing
 * session's requests are not handshakes) and max_connections_per_address
 * (a 429 answer before the client has sent anything; room again once a
 * connection closes). Last, two servers in one process keep their own
 * metrics (sio_server_metrics), and the process's totals are their sum. */
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
    char bodies[NREQ][128];
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

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The status of the answer read from fd (its body, if any, into body). */
static int read_status(int fd, char *body, size_t cap)
{
    char buf[1024];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    int status = -1;
    if (got > 12) {
        buf[got] = '\0';
        sscanf(buf, "HTTP/1.1 %d", &status);
        const char *b = strstr(buf, "\r\n\r\n");
        if (body && b)
            snprintf(body, cap, "%s", b + 4);
    }
    return status;
}

/* One request on its own connection (extra: header lines); returns the
 * HTTP status, the body into body (if not NULL). */
static int request_full(int port, const char *line, const char *extra, char *body, size_t cap)
{
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    char buf[1024];
    int n =
        snprintf(buf, sizeof buf,
                 "%s\r\nHost: x\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", line, extra);
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    int status = read_status(fd, body, cap);
    close(fd);
    return status;
}

static int request(int port, const char *line)
{
    return request_full(port, line, "", NULL, 0);
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

/* ------------------------------------------------------- abuse limits */

#define UPGRADE                                                                                    \
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"                   \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

/* handshake_rate 1 a second, bursts of 2: two handshakes, then 429s for a
 * third over polling and over WebSocket; a request of the first session
 * still works. */
static void *rate_client(void *data)
{
    ctx *c = data;
    char body[128] = "";
    const char *hs = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1";
    c->statuses[0] = request_full(c->port, hs, "", body, sizeof body);
    char sid[32] = "";
    const char *p = strstr(body, "\"sid\":\"");
    if (p)
        sscanf(p + 7, "%30[^\"]", sid);
    c->statuses[1] = request(c->port, hs);
    c->statuses[2] = request_full(c->port, hs, "", c->bodies[2], sizeof c->bodies[2]);
    c->statuses[3] = request_full(c->port, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
                                  UPGRADE, c->bodies[3], sizeof c->bodies[3]);
    char line[128];
    /* a POST (answered at once, unlike a GET held until the next ping) */
    snprintf(line, sizeof line, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1", sid);
    c->statuses[4] = request(c->port, line);
    sio_loop_post(the_loop, finish, c);
    return NULL;
}

/* Runs fn as the client of a server made with o and h (NULL: defaults). */
static void run_with(ctx *c, const sio_server_options *o, const sio_http_options *h,
                     void *(*fn)(void *))
{
    sio_http_server *http;
    assert_int_equal(sio_loop_new(&the_loop), 0);
    assert_int_equal(sio_http_server_new(&http, the_loop, h), 0);
    assert_int_equal(sio_server_new(&c->io, http, o), 0);
    assert_int_equal(sio_http_server_listen(http, "127.0.0.1", 0), 0);
    sio_server_on_connection_error(c->io, on_error, c);
    c->port = sio_http_server_port(http);
    pthread_t th;
    pthread_create(&th, NULL, fn, c);
    assert_int_equal(sio_loop_run(the_loop), 0);
    pthread_join(th, NULL);
    sio_loop_free(the_loop);
}

static void test_handshake_rate(void **state)
{
    ctx c = {0};
    sio_server_options o;
    sio_server_options_init(&o);
    o.eio.handshake_rate = 1;
    o.eio.handshake_burst = 2;
    sio_metrics before, after;
    sio_metrics_get(&before);
    run_with(&c, &o, NULL, rate_client);
    sio_metrics_get(&after);
    assert_int_equal(c.statuses[0], 200);
    assert_int_equal(c.statuses[1], 200);
    assert_int_equal(c.statuses[2], 429);
    assert_string_equal(c.bodies[2], "{\"code\":4,\"message\":\"Too many handshakes\"}");
    assert_int_equal(c.statuses[3], 429);
    assert_string_equal(c.bodies[3], "Too many handshakes");
    assert_int_equal(c.statuses[4], 200); /* not a handshake */
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.codes[i], 4);
        assert_string_equal(c.messages[i], "Forbidden");
        assert_string_equal(c.contexts[i], "{\"message\":\"Too many handshakes\"}");
    }
    assert_int_equal(after.refused_handshake_rate - before.refused_handshake_rate, 2);
    assert_int_equal(after.rejected_handshakes[4] - before.rejected_handshakes[4], 2);
}

/* max_connections_per_address 2: a third connection is answered 429 before
 * it says anything; once one of the two closes, a new one is served. */
static void *addr_client(void *data)
{
    ctx *c = data;
    int a = connect_to(c->port), b = connect_to(c->port);
    int third = connect_to(c->port);
    c->statuses[0] = read_status(third, c->bodies[0], sizeof c->bodies[0]);
    close(third);
    close(a);
    usleep(100 * 1000); /* the server sees the close */
    c->statuses[1] = request(c->port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1");
    close(b);
    sio_loop_post(the_loop, finish, c);
    return NULL;
}

static void test_connections_per_address(void **state)
{
    ctx c = {0};
    sio_server_options o;
    sio_server_options_init(&o);
    sio_http_options h;
    sio_http_options_init(&h);
    h.max_connections_per_address = 2;
    sio_metrics before, after;
    sio_metrics_get(&before);
    run_with(&c, &o, &h, addr_client);
    sio_metrics_get(&after);
    assert_int_equal(c.statuses[0], 429);
    assert_string_equal(c.bodies[0], "Too many connections from this address");
    assert_int_equal(c.statuses[1], 200);
    assert_int_equal(after.refused_connections_per_address - before.refused_connections_per_address,
                     1);
}

/* ------------------------------------------------- metrics per server */

/* Two servers on one loop, each with its own HTTP server: A gets two
 * polling handshakes and a request with an unknown transport, B one
 * handshake and a Socket.IO CONNECT on it. Each one's metrics show its own
 * traffic only (read on the loop before the shutdown frees them). */
typedef struct two {
    sio_server *a, *b;
    int port_a, port_b;
    int statuses[5];
    sio_metrics ma, mb;
} two;

static void two_finish(void *data)
{
    two *t = data;
    sio_server_metrics(t->a, &t->ma);
    sio_server_metrics(t->b, &t->mb);
    sio_server_shutdown(t->a, NULL, NULL);
    sio_server_shutdown(t->b, NULL, NULL);
}

static void *two_client(void *data)
{
    two *t = data;
    const char *hs = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1";
    t->statuses[0] = request(t->port_a, hs);
    t->statuses[1] = request(t->port_a, hs);
    t->statuses[2] = request(t->port_a, "GET /socket.io/?EIO=4&transport=pigeon HTTP/1.1");
    char body[128] = "", sid[32] = "", line[128];
    t->statuses[3] = request_full(t->port_b, hs, "", body, sizeof body);
    const char *p = strstr(body, "\"sid\":\"");
    if (p)
        sscanf(p + 7, "%30[^\"]", sid);
    snprintf(line, sizeof line, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1", sid);
    int fd = connect_to(t->port_b);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "%s\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n40", line);
    if (fd >= 0 && write(fd, req, (size_t)n) == n)
        t->statuses[4] = read_status(fd, NULL, 0);
    if (fd >= 0)
        close(fd);
    sio_loop_post(the_loop, two_finish, t);
    return NULL;
}

static void test_metrics_per_server(void **state)
{
    two t = {0};
    sio_http_server *ha, *hb;
    sio_server_options o;
    sio_server_options_init(&o);
    sio_metrics before, after;
    sio_metrics_get(&before);
    assert_int_equal(sio_loop_new(&the_loop), 0);
    assert_int_equal(sio_http_server_new(&ha, the_loop, NULL), 0);
    assert_int_equal(sio_http_server_new(&hb, the_loop, NULL), 0);
    assert_int_equal(sio_server_new(&t.a, ha, &o), 0);
    assert_int_equal(sio_server_new(&t.b, hb, &o), 0);
    assert_int_equal(sio_http_server_listen(ha, "127.0.0.1", 0), 0);
    assert_int_equal(sio_http_server_listen(hb, "127.0.0.1", 0), 0);
    t.port_a = sio_http_server_port(ha);
    t.port_b = sio_http_server_port(hb);
    pthread_t th;
    pthread_create(&th, NULL, two_client, &t);
    assert_int_equal(sio_loop_run(the_loop), 0);
    pthread_join(th, NULL);
    sio_loop_free(the_loop);
    sio_metrics_get(&after);
    int want[5] = {200, 200, 400, 200, 200};
    for (int i = 0; i < 5; i++)
        assert_int_equal(t.statuses[i], want[i]);
    assert_int_equal(t.ma.handshakes_polling, 2);
    assert_int_equal(t.ma.sessions_polling, 2);
    assert_int_equal(t.ma.rejected_handshakes[0], 1);
    assert_int_equal(t.ma.connects, 0);
    assert_int_equal(t.ma.sockets, 0);
    assert_int_equal(t.mb.handshakes_polling, 1);
    assert_int_equal(t.mb.sessions_polling, 1);
    assert_int_equal(t.mb.rejected_handshakes[0], 0);
    assert_int_equal(t.mb.connects, 1);
    assert_int_equal(t.mb.sockets, 1);
    assert_int_equal(t.mb.packets_in, 1);
    assert_int_equal(t.mb.packets_out, 1); /* the CONNECT reply */
    assert_true(t.ma.bytes_in > 0 && t.mb.bytes_in > 0 && t.ma.bytes_out > 0);
    /* three requests carry more bytes than two */
    assert_true(t.ma.bytes_in > t.mb.bytes_in);
    /* the process's totals moved by the sum of the two */
    assert_int_equal(after.handshakes_polling - before.handshakes_polling, 3);
    assert_int_equal(after.connects - before.connects, 1);
    assert_int_equal(after.rejected_handshakes[0] - before.rejected_handshakes[0], 1);
    assert_true(after.bytes_in - before.bytes_in >= t.ma.bytes_in + t.mb.bytes_in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_handshake_rate),
        cmocka_unit_test(test_connections_per_address),
        cmocka_unit_test(test_metrics_per_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
