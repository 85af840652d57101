/* Unit tests for Engine.IO over HTTP (engine/eio_http), without sockets.
 *
 * Requests are described as the composition root describes them (method,
 * target, query, headers, body); every op the module calls on a
 * "connection" is recorded in one ordered log (answers with their status,
 * headers and body, raw aborts, WebSocket accepts, frames and closes, the
 * session and POST bookkeeping). Connections are distinct static chars.
 * Expected answers follow Node's engine.io 6.6 (server.ts verify(),
 * handleRequest(), handleUpgrade() and abortUpgrade(); polling.ts
 * onDataRequest() and onClose()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/timer.h"
#include "engine/eio_http.h"

/* ------------------------------------------------------------ harness */

static char C1, C2, C3; /* connections */
static uint64_t now_ms;
static sio__timers wheel;

static uint64_t fake_now(void *arg)
{
    (void)arg;
    return now_ms;
}

static int64_t fake_wall(void *arg)
{
    (void)arg;
    return 1764000000123;
}

static int fake_random(void *arg, void *out, size_t len)
{
    static uint8_t next = 1;
    (void)arg;
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)out)[i] = (uint8_t)(next * 37 + i), next++;
    return 0;
}

static const sio__env env = {&wheel, fake_now, fake_wall, fake_random, NULL, NULL};

/* One op call. */
typedef struct ev {
    char kind; /* R respond, A abort, U accept_ws, W ws_send, C ws_close, P poll_answer */
    void *conn;
    int status;     /* R */
    int keep_alive; /* R */
    char head[512]; /* R: ctype + "|" + extra header lines */
    char body[512]; /* R, A, W, P */
} ev;

#define MAXEV 64
static ev evs[MAXEV];
static size_t nev;
static int accept_rc; /* what accept_ws returns */
static sio_eio_socket *session_of[3], *post_of[3];
static int allow_rc; /* what allow_request returns */

static int idx(void *conn)
{
    return conn == &C1 ? 0 : conn == &C2 ? 1 : 2;
}

static ev *push(char kind, void *conn, const void *body, size_t len)
{
    assert_true(nev < MAXEV);
    ev *e = &evs[nev++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->conn = conn;
    assert_true(len < sizeof e->body);
    memcpy(e->body, body, len);
    return e;
}

static int o_ws_send(void *ws, sio__rcbuf *pkt, int binary)
{
    (void)binary;
    push('W', ws, pkt->data, pkt->len);
    return 0;
}
static size_t o_ws_queued(void *ws)
{
    (void)ws;
    return 0;
}
static void o_ws_close(void *ws)
{
    session_of[idx(ws)] = NULL;
    push('C', ws, "", 0);
}
static void o_poll_answer(void *get, sio__buf *body, int compress)
{
    (void)compress;
    session_of[idx(get)] = NULL;
    push('P', get, body->data ? body->data : "", body->len);
}
static void o_respond(void *conn, int status, const char *ctype, const char *headers,
                      const void *body, size_t len, int keep_alive)
{
    ev *e = push('R', conn, body, len);
    e->status = status;
    e->keep_alive = keep_alive;
    snprintf(e->head, sizeof e->head, "%s|%s", ctype ? ctype : "", headers ? headers : "");
}
static void o_abort(void *conn, const void *bytes, size_t len)
{
    push('A', conn, bytes, len);
}
static int o_accept_ws(void *conn)
{
    push('U', conn, "", 0);
    return accept_rc;
}
static void o_set_session(void *conn, sio_eio_socket *so)
{
    session_of[idx(conn)] = so;
}
static void o_set_post(void *conn, sio_eio_socket *so)
{
    post_of[idx(conn)] = so;
}
static sio_req *o_req_new(void *conn)
{
    return (sio_req *)conn;
}
static void o_req_free(sio_req *r)
{
    (void)r;
}
static void o_peer_address(void *conn, char *out, size_t cap)
{
    (void)conn;
    snprintf(out, cap, "192.0.2.7");
}

static const sio__eio_transport_ops ops = {
    o_ws_send,   o_ws_queued,   o_ws_close, o_poll_answer, o_respond,  o_abort,
    o_accept_ws, o_set_session, o_set_post, o_req_new,     o_req_free, o_peer_address,
};

/* What the callbacks saw. */
static struct {
    int connections, closes;
    char reason[64];
    char msg[128];
    sio_eio_socket *last;
} rec;

static void cb_connection(sio_eio_socket *so, void *data)
{
    (void)data;
    rec.connections++;
    rec.last = so;
}
static void cb_message(sio_eio_socket *so, const char *msg, size_t len, int binary, void *data)
{
    (void)so, (void)binary, (void)data;
    snprintf(rec.msg, sizeof rec.msg, "%.*s", (int)len, msg);
}
static void cb_close(sio_eio_socket *so, const char *reason, void *data)
{
    (void)so, (void)data;
    rec.closes++;
    snprintf(rec.reason, sizeof rec.reason, "%s", reason);
}
static const sio_eio_callbacks callbacks = {cb_connection, cb_message, cb_close, NULL};

static int allow(const sio_req *r, void *data)
{
    (void)r, (void)data;
    return allow_rc;
}

static sio_eio_server srv;
static sio_eio_options opts;

static int setup(void **state)
{
    (void)state;
    memset(&rec, 0, sizeof rec);
    memset(session_of, 0, sizeof session_of);
    memset(post_of, 0, sizeof post_of);
    nev = 0;
    accept_rc = 0;
    allow_rc = 0;
    now_ms = 1000;
    sio__timers_init(&wheel, now_ms);
    sio_eio_options_init(&opts);
    return 0;
}

static void start(void)
{
    assert_int_equal(sio__eio_server_init(&srv, &opts, &callbacks, NULL, &env, &ops), 0);
}

static int teardown(void **state)
{
    (void)state;
    sio__eio_server_deinit(&srv);
    sio__timers_free(&wheel);
    return 0;
}

/* A request; query is the part after '?'; hdrs "name", "value" pairs. */
static sio__slice_kv hdr_store[8];
static char target_store[256];
static sio__eio_http_req mk(int method, const char *query, const char *body, int nh, ...)
{
    va_list ap;
    va_start(ap, nh);
    for (int i = 0; i < nh; i++) {
        const char *n = va_arg(ap, const char *), *v = va_arg(ap, const char *);
        hdr_store[i] = (sio__slice_kv){{n, strlen(n)}, {v, strlen(v)}};
    }
    va_end(ap);
    snprintf(target_store, sizeof target_store, "/engine.io/?%s", query);
    sio__eio_http_req r = {
        .method = method,
        .keep_alive = 1,
        .target = {target_store, strlen(target_store)},
        .query = {target_store + 12, strlen(query)},
        .headers = hdr_store,
        .nheaders = (unsigned)nh,
        .body = {body, body ? strlen(body) : 0},
    };
    return r;
}

/* Sends a whole request (head, then body) on conn. */
static void request(void *conn, sio__eio_http_req r)
{
    sio__eio_http_req head = r;
    head.body = (sio__slice){NULL, 0};
    if (sio__eio_http_head(&srv, conn, &head))
        return;
    r.post = post_of[idx(conn)]; /* as the glue's view does */
    sio__eio_http_request(&srv, conn, &r);
}

/* A polling handshake on C1: returns the session (its id in sid). */
static sio_eio_socket *handshake(char sid[SIO_EIO_ID_SIZE])
{
    int before = rec.connections;
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=4&transport=polling", NULL, 0));
    assert_int_equal(rec.connections, before + 1);
    snprintf(sid, SIO_EIO_ID_SIZE, "%s", rec.last->id);
    nev = 0;
    return rec.last;
}

static char qbuf[256];
static const char *q_sid(const char *transport, const char *sid)
{
    snprintf(qbuf, sizeof qbuf, "EIO=4&transport=%s&sid=%s", transport, sid);
    return qbuf;
}

/* -------------------------------------------------------------- tests */

static void test_handshake_answers_open_packet(void **state)
{
    (void)state;
    start();
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=4&transport=polling", NULL, 1, "User-Agent", "t"));
    assert_int_equal(nev, 1);
    assert_int_equal(evs[0].kind, 'P');
    assert_ptr_equal(evs[0].conn, &C1);
    assert_true(strncmp(evs[0].body, "0{\"sid\":\"", 9) == 0);
    assert_non_null(strstr(evs[0].body, "\"upgrades\":[\"websocket\"]"));
    assert_null(session_of[0]); /* answered: the connection carries nothing */
    assert_int_equal(rec.connections, 1);
    /* The handshake record: lower-cased names, address and time from outside. */
    const sio_handshake *hs = sio_eio_socket_handshake(rec.last);
    assert_string_equal(hs->headers[0].name, "user-agent");
    assert_string_equal(hs->address, "192.0.2.7");
    assert_int_equal(hs->time_ms, 1764000000123);
    assert_string_equal(hs->url, "/engine.io/?EIO=4&transport=polling");
}

static void test_errors_are_node_json(void **state)
{
    (void)state;
    start();
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=4&transport=carrier-pigeon", NULL, 0));
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=4&transport=polling&sid=nope", NULL, 0));
    request(&C1, mk(SIO_EIO_HTTP_POST, "EIO=4&transport=polling", "x", 0));
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=3&transport=polling", NULL, 0));
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=4&transport=%zz", NULL, 0));
    assert_int_equal(nev, 5);
    const char *want[] = {
        "{\"code\":0,\"message\":\"Transport unknown\"}",
        "{\"code\":1,\"message\":\"Session ID unknown\"}",
        "{\"code\":2,\"message\":\"Bad handshake method\"}",
        "{\"code\":5,\"message\":\"Unsupported protocol version\"}",
        "{\"code\":3,\"message\":\"Bad request\"}",
    };
    for (int i = 0; i < 5; i++) {
        assert_int_equal(evs[i].kind, 'R');
        assert_int_equal(evs[i].status, 400);
        assert_int_equal(evs[i].keep_alive, 1);
        assert_string_equal(evs[i].body, want[i]);
        assert_string_equal(evs[i].head, "application/json|");
    }
}

static void test_allow_request_forbidden(void **state)
{
    (void)state;
    opts.allow_request = allow;
    allow_rc = 1;
    start();
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=4&transport=polling", NULL, 0));
    assert_int_equal(evs[0].status, 403);
    assert_string_equal(evs[0].body, "{\"code\":4,\"message\":\"Forbidden\"}");
    assert_int_equal(rec.connections, 0);
}

static void test_cors_and_preflight(void **state)
{
    (void)state;
    opts.cors.any_origin = 1;
    start();
    request(&C1, mk(SIO_EIO_HTTP_OPTIONS, "EIO=4&transport=polling", NULL, 2, "Origin",
                    "http://a.test", "Access-Control-Request-Headers", "x-token"));
    assert_int_equal(evs[0].kind, 'R');
    assert_int_equal(evs[0].status, 204);
    assert_non_null(strstr(evs[0].head, "Access-Control-Allow-Origin: http://a.test\r\n"));
    assert_non_null(strstr(evs[0].head, "Access-Control-Allow-Headers: x-token\r\n"));
    /* Errors carry the CORS lines too (a browser could not read them else). */
    request(&C1, mk(SIO_EIO_HTTP_GET, "EIO=4&transport=nope", NULL, 1, "Origin", "http://a.test"));
    assert_int_equal(evs[1].status, 400);
    assert_non_null(strstr(evs[1].head, "Access-Control-Allow-Origin: http://a.test\r\n"));
}

static void test_upgrade_refused_is_raw_400(void **state)
{
    (void)state;
    start();
    sio__eio_http_req r = mk(SIO_EIO_HTTP_GET, "EIO=4&transport=websocket&sid=nope", NULL, 0);
    r.upgrade = 1;
    assert_int_equal(sio__eio_http_head(&srv, &C1, &r), 1);
    assert_int_equal(nev, 1);
    assert_int_equal(evs[0].kind, 'A');
    assert_string_equal(evs[0].body, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                                     "Content-type: text/html\r\nContent-Length: 18\r\n\r\n"
                                     "Session ID unknown");
}

static void test_upgrade_new_session_over_websocket(void **state)
{
    (void)state;
    start();
    sio__eio_http_req r = mk(SIO_EIO_HTTP_GET, "EIO=4&transport=websocket", NULL, 0);
    r.upgrade = 1;
    assert_int_equal(sio__eio_http_head(&srv, &C1, &r), 1);
    assert_int_equal(evs[0].kind, 'U');
    assert_int_equal(evs[1].kind, 'W');
    assert_true(strncmp(evs[1].body, "0{\"sid\":\"", 9) == 0);
    assert_non_null(strstr(evs[1].body, "\"upgrades\":[]"));
    assert_ptr_equal(session_of[0], rec.last);
    assert_int_equal(rec.connections, 1);
    /* The connection goes: the session closes with "transport close". */
    sio__eio_http_closed(&srv, &C1, session_of[0], NULL, 1, 0);
    assert_null(session_of[0]);
    assert_string_equal(rec.reason, "transport close");
}

static void test_upgrade_bad_websocket_handshake_stops(void **state)
{
    (void)state;
    start();
    accept_rc = SIO_EPROTO; /* the net layer refused it and answered */
    sio__eio_http_req r = mk(SIO_EIO_HTTP_GET, "EIO=4&transport=websocket", NULL, 0);
    r.upgrade = 1;
    assert_int_equal(sio__eio_http_head(&srv, &C1, &r), 1);
    assert_int_equal(nev, 1);
    assert_int_equal(rec.connections, 0);
}

static void test_post_delivers_and_answers_ok(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    handshake(sid);
    sio__eio_http_req r = mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), "4hello", 0);
    sio__eio_http_req head = r;
    head.body = (sio__slice){NULL, 0};
    assert_int_equal(sio__eio_http_head(&srv, &C2, &head), 0);
    assert_non_null(post_of[1]); /* the body is awaited for this session */
    sio__eio_http_request(&srv, &C2, &r);
    assert_null(post_of[1]);
    assert_string_equal(rec.msg, "hello");
    assert_int_equal(evs[0].status, 200);
    assert_string_equal(evs[0].body, "ok");
    assert_string_equal(evs[0].head, "text/html|");
}

static void test_post_binary_or_overlapping_closes_session(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    handshake(sid);
    sio__eio_http_req r = mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), NULL, 0);
    assert_int_equal(sio__eio_http_head(&srv, &C2, &r), 0);
    assert_int_equal(sio__eio_http_head(&srv, &C3, &r), 1); /* overlaps */
    assert_int_equal(evs[0].status, 400);
    assert_int_equal(evs[0].keep_alive, 0);
    assert_string_equal(rec.reason, "transport error");
    assert_null(post_of[1]); /* the freed session let go of C2 */

    handshake(sid);
    r = mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), NULL, 1, "Content-Type",
           "application/octet-stream");
    assert_int_equal(sio__eio_http_head(&srv, &C2, &r), 1);
    assert_int_equal(evs[0].status, 400);
    assert_int_equal(rec.closes, 2);
}

/* A POST refused by verify (transport=polling to a WebSocket session: 400
 * "Bad request") lets go of its connection: the session must not keep a
 * pointer to a connection that may close without telling it (found by
 * fuzz/fuzz_stack.c: a use after free when the session closed later). */
static void test_refused_post_releases_connection(void **state)
{
    (void)state;
    start();
    sio__eio_http_req u = mk(SIO_EIO_HTTP_GET, "EIO=4&transport=websocket", NULL, 0);
    u.upgrade = 1;
    assert_int_equal(sio__eio_http_head(&srv, &C1, &u), 1);
    sio_eio_socket *so = rec.last;
    char sid[SIO_EIO_ID_SIZE];
    snprintf(sid, sizeof sid, "%s", so->id);
    nev = 0;
    request(&C2, mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), "4x", 0));
    assert_int_equal(evs[0].status, 400);
    assert_string_equal(evs[0].body, "{\"code\":3,\"message\":\"Bad request\"}");
    assert_null(so->post);
    assert_null(post_of[1]);
    assert_int_equal(rec.closes, 0);
    /* a later valid-looking POST is not taken for an overlapping one */
    request(&C3, mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), "4y", 0));
    assert_int_equal(rec.closes, 0);
    assert_null(so->post);
}

static void test_post_connection_lost_closes_session(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    handshake(sid);
    sio__eio_http_req r = mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), NULL, 0);
    assert_int_equal(sio__eio_http_head(&srv, &C2, &r), 0);
    sio__eio_http_closed(&srv, &C2, NULL, post_of[1], 0, 1);
    assert_string_equal(rec.reason, "transport error");
    assert_null(post_of[1]);
}

static void test_post_body_limit_keeps_session(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    sio_eio_socket *so = handshake(sid);
    sio__eio_http_req r = mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), NULL, 0);
    assert_int_equal(sio__eio_http_head(&srv, &C2, &r), 0);
    sio__eio_http_post_abort(&srv, &C2, post_of[1]);
    assert_null(post_of[1]);
    assert_null(so->post);
    assert_int_equal(rec.closes, 0);
}

static void test_get_held_then_second_get_is_400(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    handshake(sid);
    request(&C2, mk(SIO_EIO_HTTP_GET, q_sid("polling", sid), NULL, 0));
    assert_int_equal(nev, 0);
    assert_non_null(session_of[1]); /* held */
    request(&C3, mk(SIO_EIO_HTTP_GET, q_sid("polling", sid), NULL, 0));
    /* Node: the overlapping GET gets 400, the session closes and its held
     * GET is answered with a close packet. */
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport error");
    int saw400 = 0, saw_close = 0;
    for (size_t i = 0; i < nev; i++) {
        saw400 |= evs[i].kind == 'R' && evs[i].conn == &C3 && evs[i].status == 400;
        saw_close |= evs[i].kind == 'P' && evs[i].conn == &C2 && strcmp(evs[i].body, "1") == 0;
    }
    assert_true(saw400);
    assert_true(saw_close);
}

static void test_held_get_lost_closes_session(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    handshake(sid);
    request(&C2, mk(SIO_EIO_HTTP_GET, q_sid("polling", sid), NULL, 0));
    sio__eio_http_closed(&srv, &C2, session_of[1], NULL, 0, 1);
    assert_string_equal(rec.reason, "transport error");
}

/* Node's polling onClose(): a client's close packet releases the pending
 * GET with a noop; the session is gone for the next GET. */
static void test_post_close_releases_get_with_noop(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    handshake(sid);
    request(&C2, mk(SIO_EIO_HTTP_GET, q_sid("polling", sid), NULL, 0));
    request(&C3, mk(SIO_EIO_HTTP_POST, q_sid("polling", sid), "1", 0));
    assert_string_equal(rec.reason, "transport close");
    assert_int_equal(nev, 2);
    assert_int_equal(evs[0].kind, 'P');
    assert_ptr_equal(evs[0].conn, &C2);
    assert_string_equal(evs[0].body, "6");
    assert_int_equal(evs[1].status, 200);
    request(&C2, mk(SIO_EIO_HTTP_GET, q_sid("polling", sid), NULL, 0));
    assert_int_equal(evs[2].status, 400);
    assert_string_equal(evs[2].body, "{\"code\":1,\"message\":\"Session ID unknown\"}");
}

static void test_probe_upgrade_of_polling_session(void **state)
{
    (void)state;
    start();
    char sid[SIO_EIO_ID_SIZE];
    sio_eio_socket *so = handshake(sid);
    sio__eio_http_req r = mk(SIO_EIO_HTTP_GET, q_sid("websocket", sid), NULL, 0);
    r.upgrade = 1;
    assert_int_equal(sio__eio_http_head(&srv, &C2, &r), 1);
    assert_int_equal(evs[0].kind, 'U');
    assert_ptr_equal(session_of[1], so);
    sio__eio_ws_message(so, &C2, "2probe", 6, 0);
    assert_string_equal(evs[1].body, "3probe");
    /* A second probe while one is in progress is closed. */
    assert_int_equal(sio__eio_http_head(&srv, &C3, &r), 1);
    assert_int_equal(evs[2].kind, 'U');
    assert_int_equal(evs[3].kind, 'C');
    assert_ptr_equal(evs[3].conn, &C3);
}

static void test_error_helpers(void **state)
{
    (void)state;
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__eio_http_error_body(SIO_EIO_ERR_FORBIDDEN, &b), 0);
    assert_string_equal(sio__buf_cstr(&b), "{\"code\":4,\"message\":\"Forbidden\"}");
    sio__buf_free(&b);
    assert_int_equal(sio__eio_http_error_status(SIO_EIO_ERR_FORBIDDEN), 403);
    assert_int_equal(sio__eio_http_error_status(SIO_EIO_ERR_UNKNOWN_SID), 400);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static int setup_only(void **state)
{
    return setup(state);
}
static int teardown_only(void **state)
{
    (void)state;
    sio__timers_free(&wheel);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_handshake_answers_open_packet),
        T(test_errors_are_node_json),
        T(test_allow_request_forbidden),
        T(test_cors_and_preflight),
        T(test_upgrade_refused_is_raw_400),
        T(test_upgrade_new_session_over_websocket),
        T(test_refused_post_releases_connection),
        T(test_upgrade_bad_websocket_handshake_stops),
        T(test_post_delivers_and_answers_ok),
        T(test_post_binary_or_overlapping_closes_session),
        T(test_post_connection_lost_closes_session),
        T(test_post_body_limit_keeps_session),
        T(test_get_held_then_second_get_is_400),
        T(test_held_get_lost_closes_session),
        T(test_post_close_releases_get_with_noop),
        T(test_probe_upgrade_of_polling_session),
        cmocka_unit_test_setup_teardown(test_error_helpers, setup_only, teardown_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
