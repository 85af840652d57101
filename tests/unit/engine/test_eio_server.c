/* Unit tests for the Engine.IO v4 server core (engine/eio_server), driven
 * without sockets, the way the net layer drives it:
 *  - time is a counter (now_ms) and a private timer wheel run by advance();
 *  - the transport ops are fakes that record every call in one ordered
 *    log: WebSocket frames (text/binary), polling answers (the body) and
 *    WebSocket closes; "get" and "ws" handles are just distinct pointers;
 *  - the callbacks record connections, messages and close reasons, and can
 *    be told to re-enter the core (close or send from inside a callback).
 * What is checked follows Node's engine.io 6.6 (server.ts verify(),
 * socket.ts, transports/polling.ts): error codes, the open packet, polling
 * payloads, heartbeat timing, the upgrade sequence, close reasons. Run under
 * ASan/UBSan (and valgrind) this also checks that a session is freed once,
 * and never while a callback still uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/timer.h"
#include "engine/eio_internal.h"
#include "engine/eio_server.h"
#include "../xorshift.h"

/* ------------------------------------------------------------ harness */

/* A field of a session's polling state (0/NULL once it is on WebSocket). */
#define POLL(so, field) ((so)->poll ? (so)->poll->field : 0)

/* Fake transport handles: only their addresses matter. */
static char GET1, GET2, GET3, WS1, WS2;

static uint64_t now_ms;
static sio__timers wheel;

static uint64_t fake_now(void *arg)
{
    (void)arg;
    return now_ms;
}

/* Moves the clock forward and fires what is due, like the loop's timer. */
static void advance(uint64_t ms)
{
    now_ms += ms;
    sio__timers_run(&wheel, now_ms);
}

/* One call the core made on the transport ops. */
typedef enum { EV_WS_SEND = 'W', EV_WS_CLOSE = 'C', EV_POLL = 'A' } ev_kind;
typedef struct ev {
    ev_kind kind;
    void *h;    /* the handle it was made on */
    char *data; /* frame or body (NUL-terminated copy), NULL for closes */
    size_t len;
    int binary; /* ws_send's flag */
} ev;

#define MAXEV 256
static ev evs[MAXEV];
static size_t nev;
static size_t fake_queued_bytes; /* what ws_queued reports */
static int ws_send_rc;           /* what ws_send returns */

/* Set by the random test: sees every transport call instead of the log. */
static void (*ev_hook)(ev_kind k, void *h);

static void record(ev_kind k, void *h, const char *data, size_t len, int binary)
{
    if (ev_hook) {
        ev_hook(k, h);
        return;
    }
    assert_true(nev < MAXEV);
    ev *e = &evs[nev++];
    e->kind = k;
    e->h = h;
    e->len = len;
    e->binary = binary;
    e->data = NULL;
    if (data != NULL || k != EV_WS_CLOSE) {
        e->data = malloc(len + 1);
        assert_non_null(e->data);
        if (len)
            memcpy(e->data, data, len);
        e->data[len] = '\0';
    }
}

static int fake_ws_send(void *ws, sio__rcbuf *pkt, int binary)
{
    record(EV_WS_SEND, ws, pkt->data, pkt->len, binary);
    return ws_send_rc;
}

static size_t fake_ws_queued(void *ws)
{
    (void)ws;
    return fake_queued_bytes;
}

static void fake_ws_close(void *ws)
{
    record(EV_WS_CLOSE, ws, NULL, 0, 0);
}

static void fake_poll_answer(void *get, sio__buf *body, int compress)
{
    record(EV_POLL, get, body->data, body->len, 0);
}

static const sio__eio_transport_ops fake_ops = {
    .ws_send = fake_ws_send,
    .ws_queued = fake_ws_queued,
    .ws_close = fake_ws_close,
    .poll_answer = fake_poll_answer,
};

static const sio__env fake_env = {&wheel, fake_now, NULL, xorshift_random, NULL, NULL};

/* Events of kind k on handle h (h NULL: any handle). */
static size_t count_ev(ev_kind k, void *h)
{
    size_t n = 0;
    for (size_t i = 0; i < nev; i++)
        if (evs[i].kind == k && (h == NULL || evs[i].h == h))
            n++;
    return n;
}

/* The last event, which must be of kind k on h; returns its data. */
static const char *last_ev(ev_kind k, void *h)
{
    assert_true(nev > 0);
    assert_int_equal(evs[nev - 1].kind, k);
    assert_ptr_equal(evs[nev - 1].h, h);
    return evs[nev - 1].data;
}

/* ----------------------------------------------------------- callbacks */

#define MAXMSG 64
typedef struct recorder {
    int connections;
    sio_eio_socket *last_conn;
    char *msgs[MAXMSG];
    size_t msglen[MAXMSG];
    int msgbin[MAXMSG];
    size_t nmsg;
    int closes;
    char reason[64];
    sio_eio_socket *closed_so;
    /* Re-entrancy knobs. */
    int close_in_message;    /* sio_eio_close() from on_message */
    int send_in_message;     /* sio_eio_send("echo") from on_message first */
    int close_in_connection; /* sio_eio_close() from on_connection */
    int reenter_in_close;    /* close + send again from on_close */
    int send_in_close_rc;    /* what that send returned */
    int close_others;        /* sio_eio_close() the sessions in others */
    char others[4][32];
} recorder;

static recorder rec;

static void cb_connection(sio_eio_socket *so, void *data)
{
    assert_ptr_equal(data, &rec);
    rec.connections++;
    rec.last_conn = so;
    if (rec.close_in_connection)
        sio_eio_close(so);
}

static void cb_message(sio_eio_socket *so, const char *msg, size_t len, int binary, void *data)
{
    assert_ptr_equal(data, &rec);
    assert_true(rec.nmsg < MAXMSG);
    rec.msgs[rec.nmsg] = malloc(len + 1);
    assert_non_null(rec.msgs[rec.nmsg]);
    if (len)
        memcpy(rec.msgs[rec.nmsg], msg, len);
    rec.msgs[rec.nmsg][len] = '\0';
    rec.msglen[rec.nmsg] = len;
    rec.msgbin[rec.nmsg++] = binary;
    if (rec.send_in_message)
        assert_int_equal(sio_eio_send(so, "echo", 4, 0), 0);
    if (rec.close_in_message)
        sio_eio_close(so);
}

static void cb_close(sio_eio_socket *so, const char *reason, void *data)
{
    assert_ptr_equal(data, &rec);
    rec.closes++;
    rec.closed_so = so;
    snprintf(rec.reason, sizeof rec.reason, "%s", reason);
    /* The session is still readable here: on_close may look at it. */
    assert_non_null(sio_eio_socket_id(so));
    if (rec.reenter_in_close) {
        sio_eio_close(so);
        rec.send_in_close_rc = sio_eio_send(so, "late", 4, 0);
    }
    /* Closing other sessions from on_close (a disconnect handler that
     * disconnects others), e.g. while deinit walks the session map. */
    for (int i = 0; i < 4 && rec.close_others; i++) {
        sio_eio_socket *o = sio__eio_find(so->server, rec.others[i], strlen(rec.others[i]));
        if (o != NULL && o != so)
            sio_eio_close(o);
    }
}

static const sio_eio_callbacks callbacks = {cb_connection, cb_message, cb_close, NULL};

/* -------------------------------------------------------------- fixture */

static sio_eio_server srv;
static sio_eio_options opts;
static int server_up;

static const sio_kv hs_headers[] = {{"host", "example.test"}, {"origin", "http://a.test"}};

/* Builds the handshake details in a buffer that the test then scribbles
 * over: the session must have copied them. */
static char hs_scratch[3][64];
static sio_handshake make_hs(void)
{
    snprintf(hs_scratch[0], sizeof hs_scratch[0], "/engine.io/?EIO=4&transport=polling");
    snprintf(hs_scratch[1], sizeof hs_scratch[1], "EIO=4&transport=polling");
    snprintf(hs_scratch[2], sizeof hs_scratch[2], "127.0.0.1");
    sio_handshake hs = {hs_headers,    2, hs_scratch[0], hs_scratch[1], hs_scratch[2],
                        1764000000123, 0};
    return hs;
}

static void start_server(void)
{
    assert_int_equal(sio__eio_server_init(&srv, &opts, &callbacks, &rec, &fake_env, &fake_ops), 0);
    server_up = 1;
}

static int setup(void **state)
{
    (void)state;
    memset(&rec, 0, sizeof rec);
    memset(evs, 0, sizeof evs);
    nev = 0;
    fake_queued_bytes = 0;
    ws_send_rc = 0;
    now_ms = 1000000;
    sio__timers_init(&wheel, now_ms);
    sio_eio_options_init(&opts);
    server_up = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (server_up)
        sio__eio_server_deinit(&srv);
    server_up = 0;
    sio__timers_free(&wheel);
    for (size_t i = 0; i < nev; i++)
        free(evs[i].data);
    for (size_t i = 0; i < rec.nmsg; i++)
        free(rec.msgs[i]);
    return 0;
}

/* A request as the net layer describes it to verify(). */
static sio__eio_reqinfo req(int method, const char *transport, const char *sid, const char *eio,
                            int upgrade)
{
    sio__eio_reqinfo ri;
    memset(&ri, 0, sizeof ri);
    ri.method = method;
    ri.upgrade = upgrade;
    ri.transport = transport ? (sio__slice){transport, strlen(transport)} : (sio__slice){"", 0};
    ri.sid = sid ? (sio__slice){sid, strlen(sid)} : (sio__slice){NULL, 0};
    ri.eio = eio ? (sio__slice){eio, strlen(eio)} : (sio__slice){"", 0};
    ri.origin = (sio__slice){NULL, 0};
    return ri;
}

/* A polling session as the net layer opens one: verify, handshake, the
 * first GET (answered with the open packet), then on_connection. */
static sio_eio_socket *open_polling(void *get)
{
    sio__eio_reqinfo ri = req('G', "polling", NULL, "4", 0);
    sio_eio_socket *so = NULL;
    assert_int_equal(sio__eio_verify(&srv, &ri, &so), SIO_EIO_ERR_NONE);
    assert_null(so);
    sio_handshake hs = make_hs();
    assert_int_equal(sio__eio_handshake(&srv, SIO_TRANSPORT_POLLING, &hs, &so), 0);
    size_t before = count_ev(EV_POLL, get);
    assert_int_equal(sio__eio_poll_get(so, get), 0);
    assert_int_equal(count_ev(EV_POLL, get), before + 1);
    assert_int_equal(last_ev(EV_POLL, get)[0], '0');
    sio__eio_opened(so);
    return so;
}

/* A WebSocket-only session as server/eio_attach opens one: handshake, attach (the
 * queued open packet goes out on the socket), then on_connection. */
static sio_eio_socket *open_ws(void *ws)
{
    sio__eio_reqinfo ri = req('G', "websocket", NULL, "4", 1);
    sio_eio_socket *so = NULL;
    assert_int_equal(sio__eio_verify(&srv, &ri, &so), SIO_EIO_ERR_NONE);
    sio_handshake hs = make_hs();
    assert_int_equal(sio__eio_handshake(&srv, SIO_TRANSPORT_WEBSOCKET, &hs, &so), 0);
    sio__eio_ws_attach(so, ws);
    /* attach() writes the queued open packet and drops the polling state. */
    assert_null(so->poll);
    assert_int_equal(last_ev(EV_WS_SEND, ws)[0], '0');
    sio__eio_opened(so);
    return so;
}

/* Polling session upgraded to ws (probe, 3probe, 5). */
static sio_eio_socket *open_upgraded(void *get, void *ws)
{
    sio_eio_socket *so = open_polling(get);
    assert_int_equal(sio__eio_ws_probe(so, ws), 0);
    sio__eio_ws_message(so, ws, "2probe", 6, 0);
    sio__eio_ws_message(so, ws, "5", 1, 0);
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_WEBSOCKET);
    return so;
}

static void post(sio_eio_socket *so, const char *body, int expect_rc)
{
    assert_int_equal(sio__eio_poll_post(so, body, strlen(body)), expect_rc);
}

/* ------------------------------------------------------------- verify */

static int deny_all(const sio_req *r, void *data)
{
    (void)r;
    (*(int *)data)++;
    return 1;
}

static int allow_all(const sio_req *r, void *data)
{
    (void)r;
    (*(int *)data)++;
    return 0;
}

static int verify_code(sio__eio_reqinfo ri)
{
    sio_eio_socket *so = (sio_eio_socket *)&GET3; /* must be reset to NULL */
    int code = sio__eio_verify(&srv, &ri, &so);
    if (code != SIO_EIO_ERR_NONE)
        assert_null(so);
    return code;
}

static void test_verify_transport_unknown(void **state)
{
    (void)state;
    start_server();
    assert_int_equal(verify_code(req('G', "flashsocket", NULL, "4", 0)),
                     SIO_EIO_ERR_TRANSPORT_UNKNOWN);
    assert_int_equal(verify_code(req('G', NULL, NULL, "4", 0)), SIO_EIO_ERR_TRANSPORT_UNKNOWN);
    assert_int_equal(verify_code(req('G', "Polling", NULL, "4", 0)), SIO_EIO_ERR_TRANSPORT_UNKNOWN);
    assert_int_equal(verify_code(req('G', "pollingx", NULL, "4", 0)),
                     SIO_EIO_ERR_TRANSPORT_UNKNOWN);
    /* Known, but not enabled on this server. */
    sio__eio_server_deinit(&srv);
    opts.transports = SIO_TRANSPORT_POLLING;
    start_server();
    assert_int_equal(verify_code(req('G', "websocket", NULL, "4", 1)),
                     SIO_EIO_ERR_TRANSPORT_UNKNOWN);
    assert_int_equal(verify_code(req('G', "polling", NULL, "4", 0)), SIO_EIO_ERR_NONE);
    assert_string_equal(sio__eio_error_message(SIO_EIO_ERR_TRANSPORT_UNKNOWN), "Transport unknown");
}

static void test_verify_unknown_sid(void **state)
{
    (void)state;
    start_server();
    assert_int_equal(verify_code(req('G', "polling", "AAAAAAAAAAAAAAAAAAAAAAAA", "4", 0)),
                     SIO_EIO_ERR_UNKNOWN_SID);
    assert_int_equal(verify_code(req('P', "polling", "nope", "4", 0)), SIO_EIO_ERR_UNKNOWN_SID);
    assert_int_equal(verify_code(req('G', "websocket", "nope", "4", 1)), SIO_EIO_ERR_UNKNOWN_SID);
    /* A live session is found ... */
    sio_eio_socket *so = open_polling(&GET1);
    char sid[32];
    snprintf(sid, sizeof sid, "%s", sio_eio_socket_id(so));
    sio__eio_reqinfo ri = req('P', "polling", sid, "4", 0);
    sio_eio_socket *found = NULL;
    assert_int_equal(sio__eio_verify(&srv, &ri, &found), SIO_EIO_ERR_NONE);
    assert_ptr_equal(found, so);
    /* ... a prefix of its id is not ... */
    sid[23] = '\0';
    assert_int_equal(verify_code(req('G', "polling", sid, "4", 0)), SIO_EIO_ERR_UNKNOWN_SID);
    /* ... and once it is closed its id is unknown. */
    snprintf(sid, sizeof sid, "%s", sio_eio_socket_id(so));
    post(so, "1", 0);
    assert_int_equal(rec.closes, 1);
    assert_int_equal(verify_code(req('G', "polling", sid, "4", 0)), SIO_EIO_ERR_UNKNOWN_SID);
    assert_string_equal(sio__eio_error_message(SIO_EIO_ERR_UNKNOWN_SID), "Session ID unknown");
}

static void test_verify_bad_handshake_method(void **state)
{
    (void)state;
    start_server();
    assert_int_equal(verify_code(req('P', "polling", NULL, "4", 0)),
                     SIO_EIO_ERR_BAD_HANDSHAKE_METHOD);
    assert_int_equal(verify_code(req('O', "polling", NULL, "4", 0)),
                     SIO_EIO_ERR_BAD_HANDSHAKE_METHOD);
    assert_int_equal(verify_code(req(0, "polling", NULL, "4", 0)),
                     SIO_EIO_ERR_BAD_HANDSHAKE_METHOD);
    assert_string_equal(sio__eio_error_message(SIO_EIO_ERR_BAD_HANDSHAKE_METHOD),
                        "Bad handshake method");
}

static void test_verify_bad_request(void **state)
{
    (void)state;
    start_server();
    /* websocket handshake without an Upgrade. */
    assert_int_equal(verify_code(req('G', "websocket", NULL, "4", 0)), SIO_EIO_ERR_BAD_REQUEST);
    /* A polling session asked for on another transport without upgrade. */
    sio_eio_socket *so = open_polling(&GET1);
    const char *sid = sio_eio_socket_id(so);
    assert_int_equal(verify_code(req('G', "websocket", sid, "4", 0)), SIO_EIO_ERR_BAD_REQUEST);
    /* Upgrading to polling makes no sense. */
    assert_int_equal(verify_code(req('G', "polling", sid, "4", 1)), SIO_EIO_ERR_BAD_REQUEST);
    /* Origin with characters invalid in a header value (Node's
     * checkInvalidHeaderChar): control characters and DEL. */
    static const char *const bad[] = {"http://a\r\n.test", "http://a\x01", "http://a\x7f", "\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sio__eio_reqinfo ri = req('G', "polling", NULL, "4", 0);
        ri.origin = (sio__slice){bad[i], strlen(bad[i])};
        assert_int_equal(verify_code(ri), SIO_EIO_ERR_BAD_REQUEST);
        ri.sid = (sio__slice){sid, strlen(sid)};
        assert_int_equal(verify_code(ri), SIO_EIO_ERR_BAD_REQUEST);
    }
    sio__eio_reqinfo ri = req('G', "polling", NULL, "4", 0);
    ri.origin = (sio__slice){"a\0b", 3};
    assert_int_equal(verify_code(ri), SIO_EIO_ERR_BAD_REQUEST);
    /* Tab and bytes >= 0x80 are allowed. */
    static const char okorigin[] = "http://\xc3\xa9t\xc3\xa9.test\t";
    ri.origin = (sio__slice){okorigin, strlen(okorigin)};
    assert_int_equal(verify_code(ri), SIO_EIO_ERR_NONE);
    assert_string_equal(sio__eio_error_message(SIO_EIO_ERR_BAD_REQUEST), "Bad request");
    assert_string_equal(sio__eio_error_message(99), "Bad request");
}

static void test_verify_forbidden(void **state)
{
    (void)state;
    int calls = 0;
    opts.allow_request = deny_all;
    opts.allow_request_data = &calls;
    start_server();
    assert_int_equal(verify_code(req('G', "polling", NULL, "4", 0)), SIO_EIO_ERR_FORBIDDEN);
    assert_int_equal(verify_code(req('G', "websocket", NULL, "4", 1)), SIO_EIO_ERR_FORBIDDEN);
    assert_int_equal(calls, 2);
    /* Node calls allowRequest only for handshakes: a bad method never gets
     * that far. */
    assert_int_equal(verify_code(req('P', "polling", NULL, "4", 0)),
                     SIO_EIO_ERR_BAD_HANDSHAKE_METHOD);
    assert_int_equal(calls, 2);
    /* Node asks allowRequest before it looks at the protocol version. */
    assert_int_equal(verify_code(req('G', "polling", NULL, "3", 0)), SIO_EIO_ERR_FORBIDDEN);
    assert_int_equal(calls, 3);
    assert_string_equal(sio__eio_error_message(SIO_EIO_ERR_FORBIDDEN), "Forbidden");

    sio__eio_server_deinit(&srv);
    calls = 0;
    opts.allow_request = allow_all;
    start_server();
    assert_int_equal(verify_code(req('G', "polling", NULL, "4", 0)), SIO_EIO_ERR_NONE);
    assert_int_equal(calls, 1);
    assert_int_equal(verify_code(req('G', "polling", NULL, "3", 0)),
                     SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    /* Requests for an existing session are not handshakes: no allowRequest. */
    sio_eio_socket *so = open_polling(&GET1);
    calls = 0;
    assert_int_equal(verify_code(req('P', "polling", sio_eio_socket_id(so), "4", 0)),
                     SIO_EIO_ERR_NONE);
    assert_int_equal(calls, 0);
}

static void test_verify_unsupported_protocol(void **state)
{
    (void)state;
    start_server();
    assert_int_equal(verify_code(req('G', "polling", NULL, NULL, 0)),
                     SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(verify_code(req('G', "polling", NULL, "3", 0)),
                     SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(verify_code(req('G', "websocket", NULL, "3", 1)),
                     SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(verify_code(req('G', "polling", NULL, "44", 0)),
                     SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(verify_code(req('G', "polling", NULL, "4", 0)), SIO_EIO_ERR_NONE);
    assert_int_equal(verify_code(req('G', "websocket", NULL, "4", 1)), SIO_EIO_ERR_NONE);
    assert_string_equal(sio__eio_error_message(SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION),
                        "Unsupported protocol version");
}

/* ------------------------------------------------------------ handshake */

static void expect_open_packet(const char *got, const char *sid, const char *upgrades,
                               unsigned interval, unsigned timeout, size_t max)
{
    char want[256];
    snprintf(want, sizeof want,
             "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,\"pingTimeout\":%u,"
             "\"maxPayload\":%zu}",
             sid, upgrades, interval, timeout, max);
    assert_string_equal(got, want);
}

static void check_sid(const char *sid)
{
    assert_int_equal(strlen(sid), 24);
    for (const char *p = sid; *p; p++)
        assert_true((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
}

static void test_handshake_polling_open_packet(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *a = open_polling(&GET1);
    const char *sid = sio_eio_socket_id(a);
    check_sid(sid);
    expect_open_packet(last_ev(EV_POLL, &GET1), sid, "\"websocket\"", 25000, 20000, 1000000);
    assert_int_equal(sio_eio_socket_transport(a), SIO_TRANSPORT_POLLING);
    assert_int_equal(rec.connections, 1);
    assert_ptr_equal(rec.last_conn, a);
    /* Sessions have distinct ids. */
    sio_eio_socket *b = open_polling(&GET2);
    check_sid(sio_eio_socket_id(b));
    assert_string_not_equal(sio_eio_socket_id(a), sio_eio_socket_id(b));
    assert_int_equal(sio_eio_server_clients(&srv), 2);
    assert_int_equal(rec.connections, 2);
    assert_int_equal(count_ev(EV_WS_SEND, NULL), 0);
}

static void test_handshake_copies_request(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    memset(hs_scratch, 'x', sizeof hs_scratch);
    const sio_handshake *hs = sio_eio_socket_handshake(so);
    assert_string_equal(hs->url, "/engine.io/?EIO=4&transport=polling");
    assert_string_equal(hs->query, "EIO=4&transport=polling");
    assert_string_equal(hs->address, "127.0.0.1");
    assert_int_equal(hs->nheaders, 2);
    assert_string_equal(hs->headers[1].name, "origin");
    assert_string_equal(hs->headers[1].value, "http://a.test");
    assert_ptr_not_equal(hs->headers, hs_headers);
    assert_true(hs->time_ms == 1764000000123);          /* the net layer's wall clock, copied */
    assert_ptr_equal(sio_eio_socket_handshake(so), hs); /* built once */
    /* A query that is not the url's tail, a name stored in full beside a
     * common one (kept as a code byte), TLS. */
    char url[] = "/engine.io/", query[] = "a=b", addr[] = "::1";
    char xname[] = "x-custom", xval[] = "v1", hval[] = "h";
    const sio_kv kvs[] = {{xname, xval}, {"host", hval}};
    sio_handshake in = {kvs, 2, url, query, addr, 5, 1};
    sio_eio_socket *so2 = NULL;
    assert_int_equal(sio__eio_handshake(&srv, SIO_TRANSPORT_POLLING, &in, &so2), 0);
    memset(url, 'x', sizeof url - 1);
    memset(query, 'x', sizeof query - 1);
    memset(addr, 'x', sizeof addr - 1);
    memset(xname, 'x', sizeof xname - 1);
    memset(xval, 'x', sizeof xval - 1);
    memset(hval, 'x', sizeof hval - 1);
    const sio_handshake *h2 = sio_eio_socket_handshake(so2);
    assert_string_equal(h2->url, "/engine.io/");
    assert_string_equal(h2->query, "a=b");
    assert_string_equal(h2->address, "::1");
    assert_int_equal(h2->nheaders, 2);
    assert_string_equal(h2->headers[0].name, "x-custom");
    assert_string_equal(h2->headers[0].value, "v1");
    assert_string_equal(h2->headers[1].name, "host");
    assert_string_equal(h2->headers[1].value, "h");
    assert_true(h2->time_ms == 5 && h2->secure == 1);
    sio__eio_close(so2, "forced close");
    int user;
    sio_eio_socket_set_data(so, &user);
    assert_ptr_equal(sio_eio_socket_get_data(so), &user);
}

static void test_handshake_options_in_open_packet(void **state)
{
    (void)state;
    opts.ping_interval = 300;
    opts.ping_timeout = 200;
    opts.max_http_buffer_size = 12345;
    opts.allow_upgrades = 0;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    expect_open_packet(last_ev(EV_POLL, &GET1), sio_eio_socket_id(so), "", 300, 200, 12345);

    /* Polling only: nothing to upgrade to. */
    sio__eio_server_deinit(&srv);
    sio_eio_options_init(&opts);
    opts.transports = SIO_TRANSPORT_POLLING;
    start_server();
    so = open_polling(&GET2);
    expect_open_packet(last_ev(EV_POLL, &GET2), sio_eio_socket_id(so), "", 25000, 20000, 1000000);
}

static void test_handshake_websocket(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_ws(&WS1);
    check_sid(sio_eio_socket_id(so));
    expect_open_packet(last_ev(EV_WS_SEND, &WS1), sio_eio_socket_id(so), "", 25000, 20000, 1000000);
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_WEBSOCKET);
    assert_int_equal(rec.connections, 1);
    /* Messages go straight to the socket, text with the type digit. */
    assert_int_equal(sio_eio_send(so, "hi", 2, 0), 0);
    assert_string_equal(last_ev(EV_WS_SEND, &WS1), "4hi");
    assert_int_equal(evs[nev - 1].binary, 0);
    assert_int_equal(sio_eio_send(so, "\x00\xff", 2, 1), 0);
    assert_int_equal(evs[nev - 1].binary, 1);
    assert_int_equal(evs[nev - 1].len, 2);
    assert_memory_equal(evs[nev - 1].data, "\x00\xff", 2);
    /* ... and messages arrive from it. */
    sio__eio_ws_message(so, &WS1, "4yo", 3, 0);
    sio__eio_ws_message(so, &WS1, "\x01\x02", 2, 1);
    assert_int_equal(rec.nmsg, 2);
    assert_string_equal(rec.msgs[0], "yo");
    assert_int_equal(rec.msgbin[0], 0);
    assert_int_equal(rec.msglen[1], 2);
    assert_memory_equal(rec.msgs[1], "\x01\x02", 2);
    assert_int_equal(rec.msgbin[1], 1);
    assert_int_equal(count_ev(EV_POLL, NULL), 0);
}

/* -------------------------------------------------------------- polling */

static void test_poll_held_get_answered_on_send(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    size_t before = nev;
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_int_equal(nev, before); /* held: nothing to say yet */
    assert_int_equal(sio_eio_send(so, "hello", 5, 0), 0);
    assert_string_equal(last_ev(EV_POLL, &GET2), "4hello");
    assert_int_equal(nev, before + 1);
    /* The GET is gone: the next message waits for another one. */
    assert_int_equal(sio_eio_send(so, "again", 5, 0), 0);
    assert_int_equal(nev, before + 1);
    assert_int_equal(sio__eio_poll_get(so, &GET3), 0);
    assert_string_equal(last_ev(EV_POLL, &GET3), "4again");
}

static void test_poll_payload_joined(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio_eio_send(so, "a", 1, 0), 0);
    assert_int_equal(sio_eio_send(so, "\x01\x02\x03", 3, 1), 0);
    assert_int_equal(sio_eio_send(so, "", 0, 0), 0);
    assert_int_equal(sio_eio_send(so, "", 0, 1), 0);
    assert_int_equal(sio_eio_send(so, "h\xc3\xa9", 3, 0), 0);
    assert_int_equal(sio_eio_send(so, "\xff\xfe", 2, 1), 0);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_string_equal(last_ev(EV_POLL, &GET2), "4a\x1e"
                                                 "bAQID\x1e"
                                                 "4\x1e"
                                                 "b\x1e"
                                                 "4h\xc3\xa9\x1e"
                                                 "b//4=");
    /* The queue is empty again. */
    assert_int_equal(sio__eio_poll_get(so, &GET3), 0);
    assert_int_equal(count_ev(EV_POLL, &GET3), 0);
}

static void test_poll_many_queued(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    char expect[2000] = "";
    size_t off = 0;
    for (int i = 0; i < 100; i++) {
        char m[8];
        int n = snprintf(m, sizeof m, "m%d", i);
        assert_int_equal(sio_eio_send(so, m, (size_t)n, 0), 0);
        off += (size_t)snprintf(expect + off, sizeof expect - off, "%s4%s", i ? "\x1e" : "", m);
    }
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_string_equal(last_ev(EV_POLL, &GET2), expect);
}

static void test_poll_second_get_is_an_error(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_int_equal(sio__eio_poll_get(so, &GET3), SIO_EBUSY);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport error");
    /* The held GET got the close packet; the overlapping one is the net
     * layer's to answer (400), the core never touches it. */
    assert_int_equal(count_ev(EV_POLL, &GET2), 1);
    assert_string_equal(last_ev(EV_POLL, &GET2), "1");
    assert_int_equal(count_ev(EV_POLL, &GET3), 0);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_poll_aborted_get(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    sio__eio_poll_aborted(so, &GET3); /* not the held one: ignored */
    assert_int_equal(rec.closes, 0);
    size_t before = nev;
    sio__eio_poll_aborted(so, &GET2);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport error");
    assert_int_equal(nev, before); /* the aborted GET is not answered */
}

static void test_post_messages_in_order(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    post(so,
         "4first\x1e"
         "bAQID\x1e"
         "4\x1e"
         "6\x1e"
         "4last",
         0);
    assert_int_equal(rec.nmsg, 4);
    assert_string_equal(rec.msgs[0], "first");
    assert_int_equal(rec.msgbin[0], 0);
    assert_int_equal(rec.msglen[1], 3);
    assert_memory_equal(rec.msgs[1], "\x01\x02\x03", 3);
    assert_int_equal(rec.msgbin[1], 1);
    assert_int_equal(rec.msglen[2], 0);
    assert_string_equal(rec.msgs[3], "last");
    assert_int_equal(rec.closes, 0);
    /* Each POST is on its own. */
    post(so, "4again", 0);
    assert_int_equal(rec.nmsg, 5);
    assert_string_equal(rec.msgs[4], "again");
}

static void test_post_close_packet(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    post(so,
         "4a\x1e"
         "1\x1e"
         "4never",
         0);
    assert_int_equal(rec.nmsg, 1);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport close");
    /* The held GET does not hang (Node answers it with a noop). */
    assert_int_equal(count_ev(EV_POLL, &GET2), 1);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_post_parse_error(void **state)
{
    (void)state;
    static const char *const bad[] = {"4a\x1e"
                                      "9x",
                                      "",
                                      "x",
                                      "4a\x1e",
                                      "\x1e"
                                      "4a",
                                      "4a\x1e\x1e"
                                      "4b",
                                      "b!!!",
                                      "4ok\x1e"
                                      "bQQ"};
    static const size_t delivered[] = {1, 0, 0, 1, 0, 1, 0, 1};
    start_server();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&rec, 0, sizeof rec);
        sio_eio_socket *so = open_polling(&GET1);
        size_t before = rec.nmsg;
        post(so, bad[i], SIO_EPROTO);
        assert_int_equal(rec.closes, 1);
        assert_string_equal(rec.reason, "parse error");
        assert_int_equal(rec.nmsg - before, delivered[i]);
        for (size_t k = 0; k < rec.nmsg; k++)
            free(rec.msgs[k]);
        rec.nmsg = 0;
    }
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_post_too_many_packets(void **state)
{
    (void)state;
    opts.max_packets_per_post = 3;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    post(so,
         "4a\x1e"
         "4b\x1e"
         "4c",
         0);
    assert_int_equal(rec.nmsg, 3);
    assert_int_equal(rec.closes, 0);
    post(so,
         "4d\x1e"
         "4e\x1e"
         "4f\x1e"
         "4g",
         SIO_ELIMIT);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "parse error");
    assert_true(rec.nmsg <= 6);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_post_invalid_packet_types(void **state)
{
    (void)state;
    start_server();
    /* A ping from a v4 client is "invalid heartbeat direction". */
    sio_eio_socket *so = open_polling(&GET1);
    post(so, "2", 0);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport error");
}

/* ------------------------------------------------------------ heartbeat */

static void test_heartbeat_polling(void **state)
{
    (void)state;
    opts.ping_interval = 1000;
    opts.ping_timeout = 500;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    advance(999);
    assert_int_equal(count_ev(EV_POLL, &GET2), 0);
    advance(1);
    assert_string_equal(last_ev(EV_POLL, &GET2), "2");
    /* Pong in time: the next ping comes a full interval after it. */
    advance(400);
    post(so, "3", 0);
    advance(999);
    assert_int_equal(rec.closes, 0);
    assert_int_equal(sio__eio_poll_get(so, &GET3), 0);
    assert_int_equal(count_ev(EV_POLL, &GET3), 0);
    advance(1);
    assert_string_equal(last_ev(EV_POLL, &GET3), "2");
    /* An unsolicited pong changes nothing. */
    post(so, "3", 0);
    post(so, "3", 0);
    /* No pong this time: closed exactly pingTimeout after the ping. */
    advance(1000);
    assert_int_equal(count_ev(EV_POLL, NULL), 3);
    assert_int_equal(rec.closes, 0);
    advance(499);
    assert_int_equal(rec.closes, 0);
    advance(1);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "ping timeout");
    advance(100000);
    assert_int_equal(rec.closes, 1);
    assert_int_equal(sio__timers_count(&wheel), 0);
}

static void test_heartbeat_ping_timeout_once(void **state)
{
    (void)state;
    opts.ping_interval = 1000;
    opts.ping_timeout = 500;
    start_server();
    open_polling(&GET1);
    /* Pings queue up while nobody polls; one timeout closes the session. */
    advance(1000);
    advance(499);
    assert_int_equal(rec.closes, 0);
    advance(1);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "ping timeout");
    advance(60000);
    assert_int_equal(rec.closes, 1);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_heartbeat_websocket(void **state)
{
    (void)state;
    opts.ping_interval = 1000;
    opts.ping_timeout = 500;
    start_server();
    sio_eio_socket *so = open_ws(&WS1);
    advance(1000);
    assert_string_equal(last_ev(EV_WS_SEND, &WS1), "2");
    advance(100);
    sio__eio_ws_message(so, &WS1, "3", 1, 0);
    advance(999);
    assert_int_equal(count_ev(EV_WS_SEND, &WS1), 2);
    advance(1);
    assert_int_equal(count_ev(EV_WS_SEND, &WS1), 3);
    advance(500);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "ping timeout");
    /* The net layer is told to drop the socket. */
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
}

/* -------------------------------------------------------------- upgrade */

static void test_upgrade_full_sequence(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    /* The upgrade request is verified against the session. */
    sio__eio_reqinfo ri = req('G', "websocket", sio_eio_socket_id(so), "4", 1);
    sio_eio_socket *found = NULL;
    assert_int_equal(sio__eio_verify(&srv, &ri, &found), SIO_EIO_ERR_NONE);
    assert_ptr_equal(found, so);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    size_t before = nev;
    sio__eio_ws_message(so, &WS1, "2probe", 6, 0);
    /* "3probe" on the probe, the held GET released with a noop. */
    assert_int_equal(nev, before + 2);
    assert_int_equal(evs[before].kind, EV_WS_SEND);
    assert_ptr_equal(evs[before].h, &WS1);
    assert_string_equal(evs[before].data, "3probe");
    assert_int_equal(evs[before + 1].kind, EV_POLL);
    assert_ptr_equal(evs[before + 1].h, &GET2);
    assert_string_equal(evs[before + 1].data, "6");
    /* Still polling: messages wait in the queue, in order. */
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_POLLING);
    assert_int_equal(sio_eio_send(so, "x", 1, 0), 0);
    assert_int_equal(sio_eio_send(so, "\x07", 1, 1), 0);
    assert_int_equal(sio_eio_send(so, "y", 1, 0), 0);
    assert_int_equal(nev, before + 2);
    before = nev;
    sio__eio_ws_message(so, &WS1, "5", 1, 0);
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_WEBSOCKET);
    assert_int_equal(nev, before + 3);
    assert_string_equal(evs[before].data, "4x");
    assert_int_equal(evs[before].binary, 0);
    assert_string_equal(evs[before + 1].data, "\x07");
    assert_int_equal(evs[before + 1].binary, 1);
    assert_string_equal(evs[before + 2].data, "4y");
    for (size_t i = before; i < nev; i++) {
        assert_int_equal(evs[i].kind, EV_WS_SEND);
        assert_ptr_equal(evs[i].h, &WS1);
    }
    /* Afterwards: everything on the socket, nothing on polling. */
    size_t polls = count_ev(EV_POLL, NULL);
    assert_int_equal(sio_eio_send(so, "z", 1, 0), 0);
    assert_string_equal(last_ev(EV_WS_SEND, &WS1), "4z");
    advance(opts.ping_interval);
    assert_string_equal(last_ev(EV_WS_SEND, &WS1), "2");
    sio__eio_ws_message(so, &WS1, "3", 1, 0);
    sio__eio_ws_message(so, &WS1, "4up", 3, 0);
    assert_string_equal(rec.msgs[rec.nmsg - 1], "up");
    assert_int_equal(count_ev(EV_POLL, NULL), polls);
    /* Polling requests for the session are now refused by verify(), and a
     * second upgrade is refused by the core. */
    ri = req('G', "polling", sio_eio_socket_id(so), "4", 0);
    assert_int_equal(verify_code(ri), SIO_EIO_ERR_BAD_REQUEST);
    assert_int_equal(sio__eio_ws_probe(so, &WS2), SIO_EBUSY);
    /* The upgrade timer is gone: nothing is closed later. */
    advance(opts.upgrade_timeout);
    sio__eio_ws_message(so, &WS1, "3", 1, 0);
    assert_int_equal(count_ev(EV_WS_CLOSE, NULL), 0);
    assert_int_equal(rec.closes, 0);
    /* Closing the socket now closes the session. */
    sio__eio_ws_closed(so, &WS1, 0);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport close");
}

static void test_upgrade_get_during_probe_released(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    sio__eio_ws_message(so, &WS1, "2probe", 6, 0);
    assert_string_equal(last_ev(EV_WS_SEND, &WS1), "3probe");
    /* No GET was held; one arriving now is answered at once with a noop
     * so that the client can pause polling. */
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_string_equal(last_ev(EV_POLL, &GET2), "6");
    sio__eio_ws_message(so, &WS1, "5", 1, 0);
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_WEBSOCKET);
    assert_int_equal(count_ev(EV_POLL, &GET2), 1);
}

static void test_upgrade_with_held_get_at_switch(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    sio__eio_ws_message(so, &WS1, "2probe", 6, 0);
    assert_int_equal(sio_eio_send(so, "q", 1, 0), 0);
    /* A GET arriving with something queued takes it over polling. */
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_string_equal(last_ev(EV_POLL, &GET2), "4q");
    sio__eio_ws_message(so, &WS1, "5", 1, 0);
    assert_int_equal(count_ev(EV_WS_SEND, &WS1), 1); /* only 3probe */
    assert_int_equal(sio_eio_send(so, "r", 1, 0), 0);
    assert_string_equal(last_ev(EV_WS_SEND, &WS1), "4r");
}

static void test_upgrade_timeout_closes_probe_only(void **state)
{
    (void)state;
    opts.upgrade_timeout = 300;
    opts.ping_interval = 100000;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    assert_int_equal(sio__eio_ws_probe(so, &WS2), SIO_EBUSY);
    sio__eio_ws_message(so, &WS1, "2probe", 6, 0);
    advance(299);
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 0);
    advance(1);
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    assert_int_equal(rec.closes, 0);
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_POLLING);
    /* A late "5" on the dropped probe does nothing. */
    sio__eio_ws_message(so, &WS1, "5", 1, 0);
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_POLLING);
    /* Polling carries on as before: no more noops, real answers. */
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_int_equal(count_ev(EV_POLL, &GET2), 0);
    assert_int_equal(sio_eio_send(so, "still", 5, 0), 0);
    assert_string_equal(last_ev(EV_POLL, &GET2), "4still");
    post(so, "4in", 0);
    assert_string_equal(rec.msgs[0], "in");
    /* The net layer's late close report for the probe is ignored. */
    sio__eio_ws_closed(so, &WS1, 1);
    assert_int_equal(rec.closes, 0);
    /* A new upgrade can be tried. */
    assert_int_equal(sio__eio_ws_probe(so, &WS2), 0);
    sio__eio_ws_message(so, &WS2, "2probe", 6, 0);
    sio__eio_ws_message(so, &WS2, "5", 1, 0);
    assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_WEBSOCKET);
    advance(1000);
    assert_int_equal(count_ev(EV_WS_CLOSE, NULL), 1);
}

static void test_upgrade_aborted_by_bad_probe_message(void **state)
{
    (void)state;
    static const char *const bad[] = {"5", "4hello", "2ping", "", "3probe"};
    opts.upgrade_timeout = 300;
    start_server();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sio_eio_socket *so = open_polling(&GET1);
        assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
        size_t closes = count_ev(EV_WS_CLOSE, &WS1);
        sio__eio_ws_message(so, &WS1, bad[i], strlen(bad[i]), 0);
        assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), closes + 1);
        assert_int_equal(sio_eio_socket_transport(so), SIO_TRANSPORT_POLLING);
        assert_int_equal(rec.closes, (int)i); /* the session lives on */
        /* Nothing is left armed for the dead probe. */
        assert_false(sio__timer_active(&so->poll->upgrade_timer));
        advance(1000);
        assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), closes + 1);
        /* And a new probe may start. */
        assert_int_equal(sio__eio_ws_probe(so, &WS2), 0);
        sio__eio_ws_closed(so, &WS2, 0);
        assert_false(sio__timer_active(&so->poll->upgrade_timer));
        sio__eio_close(so, "forced close");
    }
    /* A binary frame on the probe aborts too. */
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    size_t closes = count_ev(EV_WS_CLOSE, &WS1);
    sio__eio_ws_message(so, &WS1, "2probe", 6, 1);
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), closes + 1);
    assert_int_equal(rec.closes, 5); /* only the explicit closes above */
}

static void test_upgrade_probe_closed_by_peer(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    sio__eio_ws_message(so, &WS1, "2probe", 6, 0);
    sio__eio_ws_closed(so, &WS1, 1);
    assert_int_equal(rec.closes, 0);
    assert_false(sio__timer_active(&so->poll->upgrade_timer));
    /* The net layer already dropped it: the core does not close it again. */
    assert_int_equal(count_ev(EV_WS_CLOSE, NULL), 0);
    /* Polling goes on, with real answers rather than noops. */
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_int_equal(count_ev(EV_POLL, &GET2), 0);
    assert_int_equal(sio_eio_send(so, "k", 1, 0), 0);
    assert_string_equal(last_ev(EV_POLL, &GET2), "4k");
}

static void test_upgrade_session_closed_during_probe(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    post(so, "1", 0);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport close");
    /* Both the probe and the held GET are let go of, once. */
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    assert_int_equal(count_ev(EV_POLL, &GET2), 1);
    advance(opts.upgrade_timeout * 2);
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    assert_int_equal(sio__timers_count(&wheel), 0);
}

static void test_upgraded_session_is_a_websocket_session(void **state)
{
    (void)state;
    opts.ping_interval = 1000;
    opts.ping_timeout = 500;
    start_server();
    sio_eio_socket *so = open_upgraded(&GET1, &WS1);
    /* No pong over the socket: ping timeout, and the socket is dropped. */
    advance(1000);
    assert_string_equal(last_ev(EV_WS_SEND, &WS1), "2");
    advance(500);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "ping timeout");
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    /* The polling GET that opened the session was answered once only. */
    assert_int_equal(count_ev(EV_POLL, &GET1), 1);
    so = open_upgraded(&GET2, &WS2);
    sio_eio_close(so);
    assert_int_equal(rec.closes, 2);
    assert_string_equal(rec.reason, "forced close");
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS2), 1);
}

/* ------------------------------------------------------- outbound limit */

/* Going over the limit cuts the session off asynchronously: the send is
 * refused, later sends too, and the close runs from the timer (never
 * inside the send, which may be part of a broadcast). */
static void test_outbound_limit_polling(void **state)
{
    (void)state;
    opts.max_outbound_bytes = 100;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    char big[60];
    memset(big, 'x', sizeof big);
    assert_int_equal(sio_eio_send(so, big, sizeof big, 0), 0);
    assert_int_equal(rec.closes, 0);
    assert_int_equal(sio_eio_send(so, big, sizeof big, 0), SIO_ELIMIT);
    assert_int_equal(rec.closes, 0);
    assert_int_equal(sio_eio_send(so, "x", 1, 0), SIO_ELIMIT);
    advance(0);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport error");
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_outbound_limit_drained_by_get(void **state)
{
    (void)state;
    opts.max_outbound_bytes = 100;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    char big[60];
    memset(big, 'x', sizeof big);
    /* What a GET took no longer counts. */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sio_eio_send(so, big, sizeof big, 0), 0);
        assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    }
    assert_int_equal(rec.closes, 0);
    assert_int_equal(count_ev(EV_POLL, &GET2), 10);
}

/* The net layer applies a WebSocket's limits and answers SIO_ELIMIT: the
 * core cuts the session off from its timer, with "transport error". */
static void test_outbound_limit_websocket(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_ws(&WS1);
    assert_int_equal(sio_eio_send(so, "123456789", 9, 0), 0);
    ws_send_rc = SIO_ELIMIT;
    assert_int_equal(sio_eio_send(so, "1234567890", 10, 0), SIO_ELIMIT);
    ws_send_rc = 0;
    assert_int_equal(sio_eio_send(so, "x", 1, 0), SIO_ELIMIT); /* refused until closed */
    assert_int_equal(rec.closes, 0);
    advance(0);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport error");
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
}

static void test_outbound_limit_on_ping(void **state)
{
    (void)state;
    opts.ping_interval = 1000;
    start_server();
    open_ws(&WS1);
    /* The heartbeat's own ping trips the limit: the session is cut off
     * from its timer right after. */
    ws_send_rc = SIO_ELIMIT;
    advance(1000);
    advance(0);
    ws_send_rc = 0;
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport error");
    assert_int_equal(sio__timers_count(&wheel), 0);
}

/* -------------------------------------------------------- close paths */

static void test_close_reasons_websocket(void **state)
{
    (void)state;
    start_server();
    struct {
        const char *msg; /* NULL: peer closes the socket */
        int binary, error;
        const char *reason;
    } cases[] = {
        {NULL, 0, 0, "transport close"}, {NULL, 0, 1, "transport error"},
        {"x", 0, 0, "parse error"},      {"", 0, 0, "parse error"},
        {"2", 0, 0, "transport error"}, /* ping from a v4 client */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rec.closes = 0;
        sio_eio_socket *so = open_ws(&WS1);
        size_t wsc = count_ev(EV_WS_CLOSE, &WS1);
        if (cases[i].msg)
            sio__eio_ws_message(so, &WS1, cases[i].msg, strlen(cases[i].msg), cases[i].binary);
        else
            sio__eio_ws_closed(so, &WS1, cases[i].error);
        assert_int_equal(rec.closes, 1);
        assert_string_equal(rec.reason, cases[i].reason);
        /* The core lets go of the socket it still held; one the peer
         * closed is the net layer's already. */
        assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), wsc + (cases[i].msg ? 1 : 0));
    }
    assert_int_equal(sio_eio_server_clients(&srv), 0);
    assert_int_equal(sio__timers_count(&wheel), 0);
    /* Node ignores a close packet and open/upgrade/noop packets over
     * WebSocket (only the polling transport acts on "1"). */
    sio_eio_socket *so = open_ws(&WS1);
    rec.closes = 0;
    sio__eio_ws_message(so, &WS1, "1", 1, 0);
    sio__eio_ws_message(so, &WS1, "6", 1, 0);
    sio__eio_ws_message(so, &WS1, "5", 1, 0);
    sio__eio_ws_message(so, &WS1, "0", 1, 0);
    assert_int_equal(rec.closes, 0);
    sio__eio_ws_message(so, &WS1, "4still", 6, 0);
    assert_string_equal(rec.msgs[rec.nmsg - 1], "still");
}

static void test_close_websocket_forced(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_ws(&WS1);
    assert_int_equal(sio_eio_send(so, "bye", 3, 0), 0);
    sio_eio_close(so);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    assert_int_equal(evs[nev - 1].kind, EV_WS_CLOSE);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

/* Node's socket.close() on polling: what is queued (and then a close
 * packet) goes out with the next GET before the session closes. */
static void test_close_polling_flushes_first(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio_eio_send(so, "last words", 10, 0), 0);
    sio_eio_close(so);
    sio_eio_close(so); /* idempotent */
    assert_int_equal(sio_eio_send(so, "too late", 8, 0), SIO_ECLOSED);
    if (rec.closes == 0) {
        /* Deferred until the client polls. */
        assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
        assert_string_equal(last_ev(EV_POLL, &GET2), "4last words\x1e"
                                                     "1");
    }
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
    assert_int_equal(sio_eio_server_clients(&srv), 0);
    assert_int_equal(sio__timers_count(&wheel), 0);
}

static void test_close_polling_with_held_get(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    sio_eio_close(so);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
    assert_int_equal(count_ev(EV_POLL, &GET2), 1);
    assert_string_equal(last_ev(EV_POLL, &GET2), "1");
}

static void test_close_polling_client_never_polls(void **state)
{
    (void)state;
    opts.ping_interval = 1000;
    opts.ping_timeout = 500;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    sio_eio_close(so);
    /* A client that never comes back still gets its session closed, after
     * Node's 30 s polling closeTimeout (not the heartbeat's 1.5 s). */
    advance(29999);
    assert_int_equal(rec.closes, 0);
    advance(1);
    assert_int_equal(rec.closes, 1);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
    assert_int_equal(sio__timers_count(&wheel), 0);
}

/* ---------------------------------------------------------- re-entrancy */

static void test_close_inside_on_message_websocket(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_ws(&WS1);
    rec.send_in_message = 1;
    rec.close_in_message = 1;
    sio__eio_ws_message(so, &WS1, "4bye", 4, 0);
    assert_int_equal(rec.nmsg, 1);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
    assert_ptr_equal(rec.closed_so, so);
    /* The echo went out before the socket was closed. */
    assert_string_equal(evs[nev - 2].data, "4echo");
    assert_int_equal(evs[nev - 1].kind, EV_WS_CLOSE);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_close_inside_on_message_polling(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    rec.close_in_message = 1;
    post(so,
         "4a\x1e"
         "4b\x1e"
         "4c",
         0);
    /* Nothing after the close is delivered. */
    assert_int_equal(rec.nmsg, 1);
    assert_string_equal(rec.msgs[0], "a");
    if (rec.closes == 0) {
        post(so, "4d", 0); /* closing: ignored */
        assert_int_equal(rec.nmsg, 1);
        assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
        assert_string_equal(last_ev(EV_POLL, &GET2), "1");
    }
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
}

static void test_close_inside_on_message_polling_held_get(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    rec.send_in_message = 1;
    rec.close_in_message = 1;
    post(so,
         "4a\x1e"
         "4b",
         0);
    assert_int_equal(rec.nmsg, 1);
    /* The echo took the held GET at once (as in Node, where the send makes
     * the transport unwritable); the close packet waits for the next GET. */
    assert_int_equal(count_ev(EV_POLL, &GET2), 1);
    assert_string_equal(last_ev(EV_POLL, &GET2), "4echo");
    if (rec.closes == 0) {
        assert_int_equal(sio__eio_poll_get(so, &GET3), 0);
        assert_string_equal(last_ev(EV_POLL, &GET3), "1");
    }
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
    assert_int_equal(sio__timers_count(&wheel), 0);
}

static void test_reenter_from_on_close(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_ws(&WS1);
    rec.reenter_in_close = 1;
    sio__eio_ws_closed(so, &WS1, 0);
    assert_int_equal(rec.closes, 1);
    assert_int_equal(rec.send_in_close_rc, SIO_ECLOSED);

    so = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so, &GET2), 0);
    rec.closes = 0;
    post(so,
         "4x\x1e"
         "1",
         0);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "transport close");
    assert_int_equal(rec.send_in_close_rc, SIO_ECLOSED);
}

static void test_close_inside_on_connection(void **state)
{
    (void)state;
    start_server();
    rec.close_in_connection = 1;
    sio_eio_socket *so = open_ws(&WS1);
    (void)so;
    assert_int_equal(rec.connections, 1);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_close_while_upgrading_inside_on_message(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so = open_polling(&GET1);
    assert_int_equal(sio__eio_ws_probe(so, &WS1), 0);
    sio__eio_ws_message(so, &WS1, "2probe", 6, 0);
    rec.close_in_message = 1;
    post(so, "4a", 0);
    assert_int_equal(rec.nmsg, 1);
    /* Node completes the upgrade, flushes on the new transport (here the
     * close packet, when the close was deferred) and closes it. */
    sio__eio_ws_message(so, &WS1, "5", 1, 0);
    assert_int_equal(rec.closes, 1);
    assert_string_equal(rec.reason, "forced close");
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    assert_int_equal(sio__timers_count(&wheel), 0);
}

/* ------------------------------------------------------------- server */

static void test_deinit_forced_close_all(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *a = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(a, &GET2), 0);
    open_polling(&GET3);
    open_ws(&WS1);
    sio_eio_socket *d = open_polling(&GET1);
    assert_int_equal(sio__eio_ws_probe(d, &WS2), 0);
    assert_int_equal(sio_eio_server_clients(&srv), 4);
    rec.reenter_in_close = 1;
    sio__eio_server_deinit(&srv);
    server_up = 0;
    assert_int_equal(rec.closes, 4);
    assert_string_equal(rec.reason, "forced close");
    /* The held GET got a close packet (sessions close in table order). */
    const char *answer = NULL;
    for (size_t i = 0; i < nev; i++)
        if (evs[i].kind == EV_POLL && evs[i].h == &GET2)
            answer = evs[i].data;
    assert_non_null(answer);
    assert_string_equal(answer, "1");
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS2), 1);
    assert_int_equal(sio__timers_count(&wheel), 0);
}

static void test_deinit_while_on_close_closes_others(void **state)
{
    (void)state;
    start_server();
    sio_eio_socket *so[4];
    so[0] = open_ws(&WS1);
    so[1] = open_polling(&GET1);
    assert_int_equal(sio__eio_poll_get(so[1], &GET2), 0);
    so[2] = open_ws(&WS2);
    so[3] = open_polling(&GET3);
    sio_eio_close(so[3]); /* closing, waiting for a GET */
    for (int i = 0; i < 4; i++)
        snprintf(rec.others[i], sizeof rec.others[i], "%s", sio_eio_socket_id(so[i]));
    rec.close_others = 1;
    sio__eio_server_deinit(&srv);
    server_up = 0;
    /* Each closed once, whichever closed it. */
    assert_int_equal(rec.closes, 4);
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS1), 1);
    assert_int_equal(count_ev(EV_WS_CLOSE, &WS2), 1);
    assert_int_equal(count_ev(EV_POLL, &GET2), 1);
    assert_int_equal(sio__timers_count(&wheel), 0);
}

static void test_server_init_rejects_bad_options(void **state)
{
    (void)state;
    sio_eio_server s;
    opts.path = "engine.io";
    assert_int_equal(sio__eio_server_init(&s, &opts, &callbacks, &rec, &fake_env, &fake_ops),
                     SIO_EINVAL);
    sio_eio_options_init(&opts);
    opts.transports = 0;
    assert_int_equal(sio__eio_server_init(&s, &opts, &callbacks, &rec, &fake_env, &fake_ops),
                     SIO_EINVAL);
    sio_eio_options_init(&opts);
    opts.ping_interval = 0;
    assert_int_equal(sio__eio_server_init(&s, &opts, &callbacks, &rec, &fake_env, &fake_ops),
                     SIO_EINVAL);
    /* The path is normalised to one trailing slash. */
    sio_eio_options_init(&opts);
    opts.path = "/x.io///";
    assert_int_equal(sio__eio_server_init(&s, &opts, &callbacks, &rec, &fake_env, &fake_ops), 0);
    assert_string_equal(s.path_slash, "/x.io/");
    sio__eio_server_deinit(&s);
}

/* The session table grows and shrinks with the sessions: every live id is
 * found, closed ones are not, and deinit closes whatever is left. */
static void test_session_table(void **state)
{
    (void)state;
    start_server();
    enum { N = 300 };
    static char ids[N][SIO_EIO_ID_SIZE];
    sio_eio_socket *so[N];
    for (int i = 0; i < N; i++) {
        sio_handshake hs = make_hs();
        assert_int_equal(sio__eio_handshake(&srv, SIO_TRANSPORT_POLLING, &hs, &so[i]), 0);
        memcpy(ids[i], so[i]->id, sizeof ids[i]);
    }
    assert_int_equal(sio_eio_server_clients(&srv), N);
    assert_true(srv.sessions.nbuckets >= N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(sio__eio_find(&srv, ids[i], strlen(ids[i])), so[i]);
    assert_null(sio__eio_find(&srv, ids[0], strlen(ids[0]) - 1));
    assert_null(sio__eio_find(&srv, "nope", 4));
    for (int i = 0; i < N - 10; i++)
        sio__eio_close(so[i], "forced close");
    assert_int_equal(sio_eio_server_clients(&srv), 10);
    assert_true(srv.sessions.nbuckets < N); /* shrunk */
    for (int i = 0; i < N; i++)
        assert_ptr_equal(sio__eio_find(&srv, ids[i], strlen(ids[i])), i < N - 10 ? NULL : so[i]);
    sio__eio_server_deinit(&srv);
    server_up = 0;
    assert_int_equal(rec.closes, N);
    assert_int_equal(sio_eio_server_clients(&srv), 0);
}

static void test_deinit_refuses_new_sessions_meanwhile(void **state)
{
    (void)state;
    start_server();
    srv.closing = 1;
    assert_int_equal(verify_code(req('G', "polling", NULL, "4", 0)), SIO_EIO_ERR_BAD_REQUEST);
    srv.closing = 0;
}

/* ------------------------------------------------- random interleavings */

/* A long random sequence of everything the net layer and the user can do,
 * in any order, on a few sessions at once. The net layer's side of the
 * contract is modelled with a state per transport handle, and every call
 * the core makes is checked against it: a GET is answered at most once and
 * only while held, nothing is sent on or closed twice a WebSocket the core
 * let go of, a closed session has let go of all its handles, on_close runs
 * exactly once per session and no callback runs after it. ASan/UBSan catch
 * the rest (use after free, double free). */

#define RH 60000 /* handles */
#define RS 4     /* session slots */
enum { H_FREE, H_GET, H_WS, H_DONE };
static char rhandles[RH];
static unsigned char rstate[RH];
static signed char rowner[RH];
static size_t rnext;

typedef struct rslot {
    char id[32];
    int used;
    int closing;     /* sio_eio_close() was called */
    int outstanding; /* handles the core holds for it */
    void *ws, *probe;
} rslot;
static rslot rslots[RS];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static int r_close_in_message;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static size_t hidx(void *h)
{
    size_t i = (size_t)((char *)h - rhandles);
    assert_true(i < RH);
    return i;
}

static void *new_handle(int state, int slot)
{
    assert_true(rnext < RH);
    size_t i = rnext++;
    rstate[i] = (unsigned char)state;
    rowner[i] = (signed char)slot;
    if (state == H_GET || state == H_WS)
        rslots[slot].outstanding++;
    return &rhandles[i];
}

/* The net layer saw the handle go (answered, closed, or reported). */
static void handle_done(void *h)
{
    size_t i = hidx(h);
    rslot *sl = &rslots[rowner[i]];
    assert_true(rstate[i] == H_GET || rstate[i] == H_WS);
    rstate[i] = H_DONE;
    sl->outstanding--;
    if (sl->ws == h)
        sl->ws = NULL;
    if (sl->probe == h)
        sl->probe = NULL;
}

static void rnd_hook(ev_kind k, void *h)
{
    size_t i = hidx(h);
    switch (k) {
    case EV_WS_SEND:
        assert_int_equal(rstate[i], H_WS);
        break;
    case EV_WS_CLOSE:
        assert_int_equal(rstate[i], H_WS);
        handle_done(h);
        break;
    case EV_POLL:
        assert_int_equal(rstate[i], H_GET);
        handle_done(h);
        break;
    }
}

static rslot *slot_of(sio_eio_socket *so)
{
    for (int i = 0; i < RS; i++)
        if (rslots[i].used && strcmp(rslots[i].id, so->id) == 0)
            return &rslots[i];
    fail_msg("callback for a session that is not open: %s", so->id);
    return NULL;
}

static void rnd_connection(sio_eio_socket *so, void *data)
{
    slot_of(so);
}

static void rnd_message(sio_eio_socket *so, const char *m, size_t len, int bin, void *data)
{
    rslot *sl = slot_of(so);
    assert_false(sl->closing); /* nothing is delivered once closing */
    if (rnd(4) == 0)
        sio_eio_send(so, m, len, bin);
    if (r_close_in_message && rnd(8) == 0) {
        sl->closing = 1;
        sio_eio_close(so);
    }
}

static void rnd_close(sio_eio_socket *so, const char *reason, void *data)
{
    rslot *sl = slot_of(so);
    /* Everything the core held for it was let go of before on_close. */
    if (sl->outstanding) {
        fprintf(stderr, "DEBUG reason=%s out=%d ws=%p probe=%p get=%p sws=%p sprobe=%p\n", reason,
                sl->outstanding, so->ws, POLL(so, probe), POLL(so, get), sl->ws, sl->probe);
        for (size_t k = 0; k < rnext; k++)
            if (rowner[k] == sl - rslots && (rstate[k] == H_GET || rstate[k] == H_WS))
                fprintf(stderr, " h%zu state %d\n", k, rstate[k]);
    }
    assert_int_equal(sl->outstanding, 0);
    sl->used = 0;
    rec.closes++;
    assert_int_equal(sio_eio_send(so, "x", 1, 0), SIO_ECLOSED);
}

static const sio_eio_callbacks rnd_callbacks = {rnd_connection, rnd_message, rnd_close, NULL};

static sio_eio_socket *rlive(int i)
{
    return rslots[i].used ? sio__eio_find(&srv, rslots[i].id, strlen(rslots[i].id)) : NULL;
}

static void rnd_open(int i)
{
    int ws = rnd(3) == 0;
    sio_handshake hs = make_hs();
    sio_eio_socket *so;
    assert_int_equal(
        sio__eio_handshake(&srv, ws ? SIO_TRANSPORT_WEBSOCKET : SIO_TRANSPORT_POLLING, &hs, &so),
        0);
    rslot *sl = &rslots[i];
    memset(sl, 0, sizeof *sl);
    snprintf(sl->id, sizeof sl->id, "%s", so->id);
    sl->used = 1;
    if (ws) {
        /* As server/eio_attach: attach, write the queued open packet, announce. */
        sl->ws = new_handle(H_WS, i);
        sio__eio_ws_attach(so, sl->ws);
        assert_null(so->poll);
    } else {
        sio__eio_poll_get(so, new_handle(H_GET, i));
    }
    sio__eio_opened(so);
}

static const char *const rnd_bodies[] = {"4a",
                                         "4a\x1e"
                                         "4b",
                                         "3",
                                         "bAQID",
                                         "6",
                                         "1",
                                         "2",
                                         "x",
                                         "",
                                         "4\x1e"
                                         "3\x1e"
                                         "4c",
                                         "5",
                                         "0"};
static const char *const rnd_frames[] = {"2probe", "5", "3", "4m", "1", "2", "x", "", "6"};

/* A polling request (GET or POST) for slot i, through verify() first. */
static void rnd_poll(sio_eio_socket *so, int i)
{
    sio__eio_reqinfo ri = req(rnd(2) ? 'G' : 'P', "polling", rslots[i].id, "4", 0);
    sio_eio_socket *found;
    if (sio__eio_verify(&srv, &ri, &found) != SIO_EIO_ERR_NONE)
        return;
    assert_ptr_equal(found, so);
    if (ri.method == 'P') {
        const char *b = rnd_bodies[rnd(sizeof rnd_bodies / sizeof *rnd_bodies)];
        sio__eio_poll_post(so, b, strlen(b));
        return;
    }
    if (POLL(so, get)) {
        /* Overlap: the core must refuse it (the net layer answers 400)
         * and close the session; this handle is never the core's. */
        assert_int_equal(sio__eio_poll_get(so, new_handle(H_FREE, i)), SIO_EBUSY);
        assert_null(rlive(i));
        return;
    }
    assert_int_equal(sio__eio_poll_get(so, new_handle(H_GET, i)), 0);
}

/* An upgrade request, or a frame / close on the probe or the active ws. */
static void rnd_ws(sio_eio_socket *so, int i)
{
    rslot *sl = &rslots[i];
    void *w = rnd(2) ? sl->probe : sl->ws;
    if (w == NULL) {
        sio__eio_reqinfo ri = req('G', "websocket", sl->id, "4", 1);
        sio_eio_socket *found;
        if (sio__eio_verify(&srv, &ri, &found) != SIO_EIO_ERR_NONE)
            return;
        void *p = new_handle(H_WS, i);
        if (sio__eio_ws_probe(so, p) == 0)
            sl->probe = p;
        else
            handle_done(p);
        return;
    }
    if (rnd(8) == 0) {
        handle_done(w);
        sio__eio_ws_closed(so, w, (int)rnd(2));
        return;
    }
    const char *f = rnd_frames[rnd(sizeof rnd_frames / sizeof *rnd_frames)];
    int was_probe = w == sl->probe;
    if (was_probe && rnd(4) != 0) /* mostly the right sequence */
        f = POLL(so, probed) ? "5" : "2probe";
    sio__eio_ws_message(so, w, f, strlen(f), rnd(10) == 0);
    /* A "5" on the probe makes it the active transport. */
    if (was_probe && sio__eio_find(&srv, sl->id, strlen(sl->id)) && so->ws == w) {
        sl->ws = w;
        sl->probe = NULL;
    }
}

static void rnd_step(void)
{
    int i = (int)rnd(RS);
    sio_eio_socket *so = rlive(i);
    if (so == NULL) {
        assert_false(rslots[i].used);
        if (rnd(4) == 0)
            rnd_open(i);
        return;
    }
    char buf[64];
    switch (rnd(10)) {
    case 0:
    case 1:
        memset(buf, 'z', sizeof buf);
        sio_eio_send(so, buf, rnd(sizeof buf), (int)rnd(2));
        break;
    case 2:
    case 3:
        rnd_poll(so, i);
        break;
    case 4:
    case 5:
        rnd_ws(so, i);
        break;
    case 6:
        advance(rnd(4) == 0 ? rnd(30000) : rnd(50));
        break;
    case 7:
        if (rnd(6) == 0) {
            rslots[i].closing = 1;
            sio_eio_close(so);
        }
        break;
    case 8:
        fake_queued_bytes = rnd(5) == 0 ? opts.max_outbound_bytes : 0;
        break;
    default:
        /* The held GET's connection goes away (if there is one). */
        if (POLL(so, get) && rnd(3) == 0) {
            void *g = POLL(so, get);
            handle_done(g);
            sio__eio_poll_aborted(so, g);
        }
        break;
    }
}

static void test_random_interleavings(void **state)
{
    (void)state;
    opts.ping_interval = 2000;
    opts.ping_timeout = 1000;
    opts.upgrade_timeout = 500;
    opts.max_outbound_bytes = 400;
    const char *ns = getenv("RSEEDS");
    int nrounds = ns ? atoi(ns) : 8; /* RSEEDS=1000 for a longer hunt */
    for (int round = 0; round < nrounds; round++) {
        rng = 0x9e3779b97f4a7c15ULL + (uint64_t)round * 7919;
        memset(rslots, 0, sizeof rslots);
        memset(rstate, 0, sizeof rstate);
        rnext = 0;
        r_close_in_message = round & 1;
        ev_hook = rnd_hook;
        assert_int_equal(
            sio__eio_server_init(&srv, &opts, &rnd_callbacks, &rec, &fake_env, &fake_ops), 0);
        for (int step = 0; step < 12000 && rnext < RH - 10; step++)
            rnd_step();
        sio__eio_server_deinit(&srv);
        for (int i = 0; i < RS; i++) {
            assert_false(rslots[i].used);
            assert_int_equal(rslots[i].outstanding, 0);
        }
        assert_int_equal(sio__timers_count(&wheel), 0);
        assert_true(rec.closes > 20); /* the sequence did something */
        rec.closes = 0;
        ev_hook = NULL;
    }
}

/* ---------------------------------------------------------------- OOM */

/* The session with this id, if it is still open (it may have been closed,
 * and freed, by a failure handled inside the core). */
static sio_eio_socket *live(const char *id)
{
    return id[0] ? sio__eio_find(&srv, id, strlen(id)) : NULL;
}

static void clear_events(void)
{
    for (size_t i = 0; i < nev; i++)
        free(evs[i].data);
    nev = 0;
    for (size_t i = 0; i < rec.nmsg; i++)
        free(rec.msgs[i]);
    memset(&rec, 0, sizeof rec);
}

/* One polling session through messages both ways, an upgrade and a ping;
 * every step tolerates an allocation failure. */
static void oom_polling_scenario(void)
{
    char id[32] = "";
    sio_eio_socket *so = NULL;
    sio_handshake hs = make_hs();
    if (sio__eio_handshake(&srv, SIO_TRANSPORT_POLLING, &hs, &so) < 0)
        return;
    snprintf(id, sizeof id, "%s", so->id);
    sio__eio_poll_get(so, &GET1);
    sio__eio_opened(so);
    if (live(id))
        sio_eio_send(so, "a", 1, 0);
    if (live(id))
        sio_eio_send(so, "\x01\x02", 2, 1);
    if (live(id) && POLL(so, get) == NULL)
        sio__eio_poll_get(so, &GET2);
    static const char body[] = "4x\x1e"
                               "bAQID\x1e"
                               "3";
    if (live(id))
        sio__eio_poll_post(so, body, sizeof body - 1);
    if (live(id) && sio__eio_ws_probe(so, &WS1) == 0) {
        sio__eio_ws_message(so, &WS1, "2probe", 6, 0);
        if (live(id))
            sio_eio_send(so, "during", 6, 0);
        if (live(id))
            sio__eio_ws_message(so, &WS1, "5", 1, 0);
    }
    advance(opts.ping_interval);
    if (live(id))
        sio_eio_send(so, "after", 5, 0);
}

/* Out of memory at each allocation in turn: no crash, no leak (ASan,
 * valgrind), every session closed exactly once by deinit at the latest. */
static void test_oom(void **state)
{
    (void)state;
    for (unsigned long n = 1; n < 200; n++) {
        clear_events();
        sio__alloc_fail_after(n);
        if (sio__eio_server_init(&srv, &opts, &callbacks, &rec, &fake_env, &fake_ops) < 0) {
            sio__alloc_fail_after(0);
            continue;
        }
        oom_polling_scenario();
        sio_eio_socket *so = NULL;
        sio_handshake hs = make_hs();
        if (sio__eio_handshake(&srv, SIO_TRANSPORT_WEBSOCKET, &hs, &so) == 0) {
            sio__eio_ws_attach(so, &WS2);
            sio__eio_opened(so);
        }
        size_t open = sio_eio_server_clients(&srv);
        int closes = rec.closes;
        sio__eio_server_deinit(&srv);
        sio__alloc_fail_after(0);
        assert_int_equal(rec.closes, closes + (int)open);
        assert_int_equal(sio__timers_count(&wheel), 0);
        /* Every GET handed to the core was answered at most once. */
        assert_true(count_ev(EV_POLL, &GET1) <= 1);
        assert_true(count_ev(EV_POLL, &GET2) <= 1);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_verify_transport_unknown),
        T(test_verify_unknown_sid),
        T(test_verify_bad_handshake_method),
        T(test_verify_bad_request),
        T(test_verify_forbidden),
        T(test_verify_unsupported_protocol),
        T(test_handshake_polling_open_packet),
        T(test_handshake_copies_request),
        T(test_handshake_options_in_open_packet),
        T(test_handshake_websocket),
        T(test_poll_held_get_answered_on_send),
        T(test_poll_payload_joined),
        T(test_poll_many_queued),
        T(test_poll_second_get_is_an_error),
        T(test_poll_aborted_get),
        T(test_post_messages_in_order),
        T(test_post_close_packet),
        T(test_post_parse_error),
        T(test_post_too_many_packets),
        T(test_post_invalid_packet_types),
        T(test_heartbeat_polling),
        T(test_heartbeat_ping_timeout_once),
        T(test_heartbeat_websocket),
        T(test_upgrade_full_sequence),
        T(test_upgrade_get_during_probe_released),
        T(test_upgrade_with_held_get_at_switch),
        T(test_upgrade_timeout_closes_probe_only),
        T(test_upgrade_aborted_by_bad_probe_message),
        T(test_upgrade_probe_closed_by_peer),
        T(test_upgrade_session_closed_during_probe),
        T(test_upgraded_session_is_a_websocket_session),
        T(test_outbound_limit_polling),
        T(test_outbound_limit_drained_by_get),
        T(test_outbound_limit_websocket),
        T(test_outbound_limit_on_ping),
        T(test_close_reasons_websocket),
        T(test_close_websocket_forced),
        T(test_close_polling_flushes_first),
        T(test_close_polling_with_held_get),
        T(test_close_polling_client_never_polls),
        T(test_close_inside_on_message_websocket),
        T(test_close_inside_on_message_polling),
        T(test_close_inside_on_message_polling_held_get),
        T(test_reenter_from_on_close),
        T(test_close_inside_on_connection),
        T(test_close_while_upgrading_inside_on_message),
        T(test_deinit_forced_close_all),
        T(test_deinit_while_on_close_closes_others),
        T(test_server_init_rejects_bad_options),
        T(test_session_table),
        T(test_deinit_refuses_new_sessions_meanwhile),
        T(test_oom),
        T(test_random_interleavings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
