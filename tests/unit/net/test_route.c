/* net on its own: an HTTP server with a route that is not Engine.IO.
 *
 * net moves bytes for whatever a layer above mounts (net.h's routes); this
 * test mounts its own route and drives the server over real sockets from a
 * client thread (blocking POSIX sockets, the loop runs on the main thread):
 *  - a request on the route's path reaches on_head/on_request and is
 *    answered through sio__conn_respond, with Keep-Alive: timeout=N; other
 *    paths get 404;
 *  - the route upgrades a connection (sio__conn_accept_ws): a masked
 *    client frame arrives unmasked through the route's ws callbacks, and
 *    sio__conn_ws_send frames the answer; the fragment limit is the one
 *    the route passed (1008);
 *  - a handshake with a version we do not speak is answered 400 with
 *    Sec-WebSocket-Version: 13 (RFC 6455 4.4) and never reaches the route;
 *  - a body over the limit is answered 413 while the client is still
 *    sending (the connection lingers rather than resetting it);
 *  - a request pipelined behind one the route answers later is parsed
 *    after that answer is written, not from inside the answer.
 * ASan checks the memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/net.h"

/* ------------------------------------------------------------- the route */

static struct {
    int heads, requests, messages, ws_closes, closed;
    char last_msg[64];
    int ws_code;
    int answering; /* inside the late answer of a held request */
    int reentered; /* a request was dispatched from inside that answer */
} seen;

/* A request for "/r/?hold" is answered later, from a loop timer: requests
 * pipelined behind it must not run inside that answer (found by
 * fuzz/fuzz_stack.c: a polling GET answered from an emit ran the POST
 * behind it, which closed the session the emit was using). */
static sio__conn *held_conn;
static sio_loop_timer *hold_timer;

static void answer_held(sio_loop_timer *t, void *data)
{
    (void)t, (void)data;
    seen.answering = 1;
    sio__conn_respond(held_conn, 200, "text/plain", NULL, "late", 4, 1);
    seen.answering = 0;
    held_conn = NULL;
}

static int r_head(sio__conn *c, void *data)
{
    (void)data;
    seen.heads++;
    if (!c->parser->req.upgrade_websocket)
        return 0;
    sio__conn_accept_ws(c, 1000, 4);
    return 1;
}

static void r_request(sio__conn *c, void *data)
{
    (void)data;
    seen.requests++;
    seen.reentered += seen.answering;
    const sio__slice q = c->parser->req.query;
    if (q.len == 4 && memcmp(q.base, "hold", 4) == 0) {
        held_conn = c;
        assert_int_equal(sio_loop_timer_start(hold_timer, 1, 0), 0);
        return;
    }
    sio__conn_respond(c, 200, "text/plain", NULL, "hi", 2, c->parser->req.keep_alive);
}

static void r_ws_message(sio__ws_conn *w, int binary, const char *d, size_t n, void *arg)
{
    (void)w, (void)binary;
    sio__conn *c = arg;
    seen.messages++;
    snprintf(seen.last_msg, sizeof seen.last_msg, "%.*s", (int)n, d);
    sio__rcbuf *echo = sio__rcbuf_new2("re:", 3, d, n);
    assert_non_null(echo);
    assert_int_equal(sio__conn_ws_send(c, echo, 0), 0);
    sio__rcbuf_unref(echo);
}

static void r_ws_close(sio__ws_conn *w, int code, void *arg)
{
    (void)w, (void)arg;
    seen.ws_closes++;
    seen.ws_code = code;
}

static void r_body_error(sio__conn *c)
{
    (void)c;
}
static void r_closed(sio__conn *c, int error)
{
    (void)c, (void)error;
    seen.closed++;
}
static void r_drained(sio__conn *c)
{
    (void)c;
}
static void r_server_close(void *data)
{
    (void)data;
}
static void r_server_free(void *data)
{
    (void)data;
}

static const sio__route_ops route_ops = {
    {r_ws_message, r_ws_close},
    r_head,
    r_request,
    r_body_error,
    r_closed,
    r_drained,
    r_server_close,
    r_server_free,
};

/* ------------------------------------------------------------ the client */

static int port;
static sio_loop *loop;

/* A connected blocking socket with a 5 s receive timeout. */
static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    return fd;
}

/* Reads into buf until it holds want (or the peer closes / times out). */
static size_t read_until(int fd, char *buf, size_t cap, const char *want)
{
    size_t len = 0;
    buf[0] = '\0';
    while (len + 1 < cap && strstr(buf, want) == NULL) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return len;
}

/* A masked client frame (key 1,2,3,4) into out; returns its size. */
static size_t client_frame(unsigned char *out, unsigned b0, const char *payload, size_t n)
{
    static const unsigned char key[4] = {1, 2, 3, 4};
    out[0] = (unsigned char)b0;
    out[1] = (unsigned char)(0x80 | n);
    memcpy(out + 2, key, 4);
    for (size_t i = 0; i < n; i++)
        out[6 + i] = (unsigned char)(payload[i] ^ key[i & 3]);
    return 6 + n;
}

static const char *upgrade_head =
    "GET /r/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %s\r\n\r\n";

static struct {
    char plain[1024], notfound[1024], ws[1024], ws_reply[64], version[1024], big[1024];
    char pipelined[1024];
    int ws_close_code;
} got;

static void client_requests(void)
{
    int fd = dial();
    assert_true(fd >= 0);
    const char *req =
        "GET /r/ HTTP/1.1\r\nHost: x\r\n\r\nGET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, req, strlen(req), 0);
    read_until(fd, got.plain, sizeof got.plain, "Not Found");
    close(fd);
}

static void client_pipelined_behind_held(void)
{
    int fd = dial();
    const char *req = "GET /r/?hold HTTP/1.1\r\nHost: x\r\n\r\nGET /r/ HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, req, strlen(req), 0);
    read_until(fd, got.pipelined, sizeof got.pipelined, "\r\n\r\nhi");
    close(fd);
}

static void client_websocket(void)
{
    int fd = dial();
    char head[512];
    int n = snprintf(head, sizeof head, upgrade_head, "13");
    send(fd, head, (size_t)n, 0);
    read_until(fd, got.ws, sizeof got.ws, "\r\n\r\n");
    unsigned char f[64];
    size_t k = client_frame(f, 0x81, "abc", 3);
    send(fd, f, k, 0);
    unsigned char r[64];
    ssize_t m = recv(fd, r, sizeof r, 0);
    if (m >= 2 && (size_t)m >= 2u + r[1])
        snprintf(got.ws_reply, sizeof got.ws_reply, "%.*s", r[1], (char *)r + 2);
    /* A message of five fragments: the route allowed four (1008). */
    size_t off = client_frame(f, 0x01, "a", 1);
    for (int i = 0; i < 4; i++)
        off += client_frame(f + off, 0x00, "b", 1);
    send(fd, f, off, 0);
    m = recv(fd, r, sizeof r, 0);
    if (m >= 4 && (r[0] & 0x0f) == 8)
        got.ws_close_code = r[2] << 8 | r[3];
    close(fd);
}

static void client_bad_version(void)
{
    int fd = dial();
    char head[512];
    int n = snprintf(head, sizeof head, upgrade_head, "8");
    send(fd, head, (size_t)n, 0);
    read_until(fd, got.version, sizeof got.version, "header");
    close(fd);
}

static void client_big_body(void)
{
    int fd = dial();
    const char *head = "POST /r/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n";
    send(fd, head, strlen(head), 0);
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 20; i++) /* keeps sending, as a client that reads late */
        if (send(fd, chunk, sizeof chunk, MSG_NOSIGNAL) < 0)
            break;
    read_until(fd, got.big, sizeof got.big, "\r\n\r\n");
    close(fd);
}

static void stop_loop(void *data)
{
    (void)data;
    sio_loop_stop(loop);
}

static void *client_main(void *arg)
{
    (void)arg;
    client_requests();
    client_pipelined_behind_held();
    client_websocket();
    client_bad_version();
    client_big_body();
    sio_loop_post(loop, stop_loop, NULL);
    return NULL;
}

/* ----------------------------------------------------------------- test */

static void server_closed(void *data)
{
    *(int *)data = 1;
}

static void test_route_moves_bytes(void **state)
{
    (void)state;
    assert_int_equal(sio_loop_new(&loop), 0);
    sio_http_options o;
    sio_http_options_init(&o);
    o.max_body = 1000;
    sio_http_server *s;
    assert_int_equal(sio_http_server_new(&s, loop, &o), 0);
    assert_int_equal(sio__http_route_add(s, "/r/", &route_ops, NULL), 0);
    assert_int_equal(sio__http_route_add(s, "/r/", &route_ops, NULL), SIO_EEXIST);
    assert_int_equal(sio_http_server_listen(s, "127.0.0.1", 0), 0);
    port = sio_http_server_port(s);
    assert_int_equal(sio_loop_timer_new(&hold_timer, loop, answer_held, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, NULL), 0);
    sio_loop_run(loop);
    pthread_join(th, NULL);
    sio_loop_timer_free(hold_timer);
    int done = 0;
    sio_http_server_close(s, server_closed, &done);
    while (!done)
        sio_loop_run(loop);
    sio_loop_free(loop);

    /* plain requests: the route answers, keep-alive announced; 404 elsewhere */
    assert_non_null(strstr(got.plain, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(got.plain, "Keep-Alive: timeout=5\r\n"));
    assert_non_null(strstr(got.plain, "\r\n\r\nhi"));
    assert_non_null(strstr(got.plain, "HTTP/1.1 404 Not Found\r\n"));
    /* WebSocket through the route */
    assert_non_null(strstr(got.ws, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_string_equal(seen.last_msg, "abc");
    assert_string_equal(got.ws_reply, "re:abc");
    assert_int_equal(got.ws_close_code, 1008);
    assert_int_equal(seen.ws_code, 1008);
    /* the version refused by net itself */
    assert_non_null(strstr(got.version, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(got.version, "Sec-WebSocket-Version: 13\r\n"));
    /* the body over the limit: answered although the client kept sending */
    assert_non_null(strstr(got.big, "HTTP/1.1 413 "));
    /* the request behind a held one: answered in order, after it, and not
     * from inside its answer */
    const char *late = strstr(got.pipelined, "\r\n\r\nlate");
    assert_non_null(late);
    assert_non_null(strstr(late, "\r\n\r\nhi"));
    assert_int_equal(seen.reentered, 0);
    assert_int_equal(seen.messages, 1);
    assert_int_equal(seen.requests, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_moves_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
