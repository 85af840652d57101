/* net's output budget (sio_http_options.max_output_total) picks its victims.
 *
 * Over the budget, the connections that have held more than their fair
 * share the longest are cut off, not whichever connection the next write
 * happens to go to: a reader that has only just fallen behind keeps its
 * connection, even when its queue here is longer than a slow reader's (a
 * slow reader's backlog is mostly in the kernel's buffers). The test mounts a route that
 * upgrades every connection to a WebSocket, opens five from a client thread
 * that never reads, and then, in one loop callback (so nothing is written
 * out and every queued byte stays counted), queues 8 KB messages through
 * the budget check the way the Engine.IO route does (the socket buffers
 * are made small on both sides, so nearly all of it stays queued here):
 *  - three "slow" connections get 300 KiB each (900 KiB of a 1 MiB budget);
 *  - a "lagging" one then gets 344 KiB, past its fair share (1 MiB / 5)
 *    and past what each slow one holds, while the server is over its
 *    budget.
 * The slow ones must be the ones cut (asynchronously: their close comes
 * from the loop, after the callback, as a failed connection), the lagging
 * and the idle ones must not, and every cut is counted once. A cut
 * connection is reset, so its peer reads ECONNRESET rather than an end of
 * stream (the kernel drops what it still held for it instead of keeping
 * it in an orphan socket). ASan checks the memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/net.h"

#define NCONNS 5
#define MSG (8 * 1024)
#define SLOW_MSGS 38 /* 300 KiB and a bit each */
#define LAG_MSGS 43  /* 344 KiB */

static sio_loop *loop;
static sio_http_server *server;
static size_t queued_before_lagging;
static int port;
static sio__conn *conns[NCONNS];
static int nconns, closed_failed, closed_clean, sent_slow, sent_lagging, lagging_refused;

/* ------------------------------------------------------------- the route */

static void fill(void *data);

static int r_head(sio__conn *c, void *data)
{
    (void)data;
    if (sio__conn_accept_ws(c, 1 << 20, 16) < 0)
        return 1;
    int small = 4096;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &small);
    conns[nconns++] = c;
    if (nconns == NCONNS)
        sio_loop_post(loop, fill, NULL);
    return 1;
}

static void r_request(sio__conn *c, void *data)
{
    (void)c, (void)data;
}
static void r_ws_message(sio__ws_conn *w, int binary, const char *d, size_t n, void *arg)
{
    (void)w, (void)binary, (void)d, (void)n, (void)arg;
}
static void r_ws_close(sio__ws_conn *w, int code, void *arg)
{
    (void)w, (void)code, (void)arg;
}
static void r_body_error(sio__conn *c)
{
    (void)c;
}
static void r_closed(sio__conn *c, int error)
{
    for (int i = 0; i < NCONNS; i++)
        if (conns[i] == c)
            conns[i] = NULL;
    if (error)
        closed_failed++;
    else
        closed_clean++;
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

/* Queues one message on c as the Engine.IO route does: the budget first.
 * Returns 0, or SIO_ELIMIT when c is (or was) cut off. */
static int send_checked(sio__conn *c, sio__rcbuf *msg)
{
    if (c->cut || sio__conn_over_budget(c, msg->len + SIO_WS_FRAME_HEADER_MAX))
        return sio__conn_cut(c);
    return sio__conn_ws_send(c, msg, 1);
}

static void stop_loop(sio__timer *t, void *data)
{
    (void)t, (void)data;
    sio_loop_stop(loop);
}

/* Runs once all five are open, inside one loop callback. */
static void fill(void *data)
{
    (void)data;
    static char bytes[MSG];
    memset(bytes, 'x', sizeof bytes);
    sio__rcbuf *msg = sio__rcbuf_new2(bytes, sizeof bytes, NULL, 0);
    assert_non_null(msg);
    for (int i = 0; i < 3; i++)
        for (int n = 0; n < SLOW_MSGS; n++)
            if (send_checked(conns[i], msg) == 0)
                sent_slow++;
    sio_http_stats st;
    sio_http_server_stats(server, &st);
    queued_before_lagging = st.output_bytes;
    sio__conn *lagging = conns[3];
    for (int n = 0; n < LAG_MSGS; n++) {
        if (send_checked(lagging, msg) == 0)
            sent_lagging++;
        else
            lagging_refused++;
    }
    sio__rcbuf_unref(msg);
    /* The victims close from the loop: give it a moment, then stop. */
    static sio__timer t;
    sio__timer_init(&t, stop_loop, NULL);
    sio__timer_start(sio__loop_timers(loop), &t, sio__loop_clock(loop) + 300);
}

/* ------------------------------------------------------------ the client */

static int client_fds[NCONNS];
static volatile int client_done;
static int client_resets; /* connections that ended in a reset */

/* 1 if fd ends in a reset (read after what was queued), 0 if it ends
 * cleanly or is still open after 200 ms without data. */
static int ends_in_reset(int fd)
{
    static char buf[65536];
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        ;
    return n < 0 && errno == ECONNRESET;
}

static void *client_main(void *arg)
{
    (void)arg;
    static const char head[] =
        "GET /r/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    for (int i = 0; i < NCONNS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            send(fd, head, sizeof head - 1, MSG_NOSIGNAL);
        client_fds[i] = fd; /* never read: the server's output stays queued */
    }
    while (!client_done)
        usleep(10000);
    for (int i = 0; i < NCONNS; i++) {
        client_resets += ends_in_reset(client_fds[i]);
        close(client_fds[i]);
    }
    return NULL;
}

/* ----------------------------------------------------------------- test */

static void server_closed(void *data)
{
    *(int *)data = 1;
}

static void test_budget_cuts_the_longest_behind(void **state)
{
    (void)state;
    assert_int_equal(sio_loop_new(&loop), 0);
    sio_http_options o;
    sio_http_options_init(&o);
    o.max_output_total = 1u << 20;
    sio_http_server *s;
    assert_int_equal(sio_http_server_new(&s, loop, &o), 0);
    server = s;
    assert_int_equal(sio__http_route_add(s, "/r/", &route_ops, NULL), 0);
    assert_int_equal(sio_http_server_listen(s, "127.0.0.1", 0), 0);
    port = sio_http_server_port(s);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, NULL), 0);
    sio_loop_run(loop);
    assert_int_equal(nconns, NCONNS);
    sio_http_stats st;
    sio_http_server_stats(s, &st);

    /* Everything the slow ones got before the budget was reached, and the
     * lagging one all of its messages. */
    /* The scene: the slow ones hold most of the budget (the kernel took
     * little of it), the lagging one is then over its fair share. */
    assert_true(queued_before_lagging > 800 * 1024);
    assert_int_equal(sent_slow, 3 * SLOW_MSGS);
    assert_int_equal(sent_lagging, LAG_MSGS);
    assert_int_equal(lagging_refused, 0);
    /* At least one slow reader went (enough to bring the total back under
     * the budget), each counted once and closed as failed; the lagging and
     * the idle connections are still open. */
    assert_true(st.output_cutoffs >= 1 && st.output_cutoffs <= 3);
    assert_int_equal(closed_failed, (int)st.output_cutoffs);
    assert_int_equal(closed_clean, 0);
    assert_non_null(conns[3]);
    assert_non_null(conns[4]);
    assert_false(conns[3]->cut);
    assert_true(st.output_bytes <= o.max_output_total);

    client_done = 1;
    pthread_join(th, NULL);
    assert_int_equal(client_resets, (int)st.output_cutoffs);
    int done = 0;
    sio_http_server_close(s, server_closed, &done);
    while (!done)
        sio_loop_run(loop);
    sio_loop_free(loop);
}

int main(void)
{
    /* As every program on sioc must (docs/guide.md): the server's writes
     * to the connections the client closed must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_cuts_the_longest_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
