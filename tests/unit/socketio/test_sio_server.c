/* Unit tests for the Socket.IO server core, driven without sockets: each
 * fake client is a sio__client whose transport records what it is sent,
 * and time is a counter driving a private timer wheel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapter/adapter.h"
#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_internal.h"
#include "../xorshift.h"

/* ---- harness */

static uint64_t now_ms;
static sio__timers wheel;

static uint64_t fake_now(void *data)
{
    return now_ms;
}

/* The cores' system: the hand-driven clock and wheel, repeatable bytes. */
static const sio__env fake_env = {&wheel, fake_now, NULL, xorshift_random, NULL, NULL};

#define MAXMSG 64
typedef struct fake {
    sio__client *c;
    sio__rcbuf *msgs[MAXMSG]; /* references, in order */
    int binary[MAXMSG];
    size_t n;    /* messages recorded */
    size_t seen; /* messages already consumed by next_msg */
    int closed;  /* close requested */
    sio_handshake hs;
} fake;

static int fake_send(void *conn, sio__rcbuf *msg, int flags)
{
    int binary = flags & SIO__SEND_BINARY;
    fake *f = conn;
    assert_true(f->n < MAXMSG);
    f->msgs[f->n] = sio__rcbuf_ref(msg);
    f->binary[f->n++] = binary;
    return 0;
}

static void fake_close(void *conn)
{
    ((fake *)conn)->closed = 1;
}

static const sio__conn_ops fake_ops = {fake_send, fake_close, NULL, NULL, NULL, NULL};

static void advance(uint64_t ms)
{
    now_ms += ms;
    sio__timers_run(&wheel, now_ms);
}

static fake *fake_open(sio_server *srv)
{
    fake *f = calloc(1, sizeof *f);
    f->hs.address = "127.0.0.1";
    f->hs.url = "/socket.io/?EIO=4&transport=websocket";
    f->hs.query = "EIO=4&transport=websocket";
    f->c = sio__client_open(srv, &fake_ops, f, &f->hs);
    assert_non_null(f->c);
    return f;
}

/* The transport reports the close (what the engine does after close()). */
static void fake_gone(fake *f, const char *reason)
{
    if (f->c)
        sio__client_closed(f->c, reason);
    f->c = NULL;
}

static void fake_free(fake *f)
{
    fake_gone(f, "transport close");
    for (size_t i = 0; i < f->n; i++)
        sio__rcbuf_unref(f->msgs[i]);
    free(f);
}

static void recv_text(fake *f, const char *s)
{
    sio__client_message(f->c, s, strlen(s), 0);
}

static void recv_bin(fake *f, const char *s, size_t len)
{
    sio__client_message(f->c, s, len, 1);
}

/* The next unseen message sent to f, as a C string (NULL if none). */
static const char *next_msg(fake *f)
{
    if (f->seen >= f->n)
        return NULL;
    return f->msgs[f->seen++]->data;
}

static void expect_msg(fake *f, const char *expect)
{
    const char *m = next_msg(f);
    if (m == NULL || strcmp(m, expect) != 0)
        fail_msg("expected %s, got %s", expect, m ? m : "(nothing)");
}

static void expect_prefix(fake *f, const char *prefix)
{
    const char *m = next_msg(f);
    if (m == NULL || strncmp(m, prefix, strlen(prefix)) != 0)
        fail_msg("expected %s..., got %s", prefix, m ? m : "(nothing)");
}

static void expect_none(fake *f)
{
    const char *m = next_msg(f);
    if (m != NULL)
        fail_msg("expected nothing, got %s", m);
}

/* Connects f to nsp and returns the sid from the CONNECT reply. */
static void connect_to(fake *f, const char *packet, char *sid, size_t cap)
{
    recv_text(f, packet);
    const char *m = next_msg(f);
    assert_non_null(m);
    const char *p = strstr(m, "\"sid\":\"");
    assert_non_null(p);
    p += 7;
    size_t n = strcspn(p, "\"");
    assert_true(n < cap);
    memcpy(sid, p, n);
    sid[n] = 0;
}

/* ---- application used by the tests (the protocol server's behaviour) */

typedef struct app {
    int connections;
    sio_socket *last;       /* last connected socket */
    char reason[64];        /* last disconnect reason */
    char disconnecting[64]; /* last disconnecting reason */
    int ack_err;            /* last server-side ack result */
    int ack_calls;
    char ack_arg[64];
} app;

static app A;

static void on_message(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    sio_emit(s, "message-back", args);
}

static void on_message_ack(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    if (ack)
        sio_ack_send(ack, args);
}

static void on_disconnect(sio_socket *s, const char *reason, void *data)
{
    snprintf(A.reason, sizeof A.reason, "%s", reason);
}

static void on_disconnecting(sio_socket *s, const char *reason, void *data)
{
    snprintf(A.disconnecting, sizeof A.disconnecting, "%s", reason);
    assert_true(sio_socket_in_room(s, sio_socket_id(s))); /* still in its rooms */
}

static void on_connection(sio_socket *s, void *data)
{
    A.connections++;
    A.last = s;
    sio_args *a = sio_args_new();
    sio_args_push(a, json_incref(sio_socket_auth(s)));
    sio_emit(s, "auth", a);
    sio_args_free(a);
    sio_socket_on(s, "message", on_message, NULL);
    sio_socket_on(s, "message-with-ack", on_message_ack, NULL);
    sio_socket_on_disconnect(s, on_disconnect, NULL);
    sio_socket_on_disconnecting(s, on_disconnecting, NULL);
}

static sio_server *server(int recovery)
{
    sio_server_options o;
    sio_server_options_init(&o);
    o.connection_state_recovery.enabled = recovery;
    sio_server *srv;
    assert_int_equal(sio__server_new_core(&srv, &o, &fake_env), 0);
    sio_namespace_on_connection(sio_server_of(srv, "/"), on_connection, NULL);
    memset(&A, 0, sizeof A);
    return srv;
}

static int setup(void **state)
{
    now_ms = 1000;
    sio__timers_init(&wheel, now_ms);
    return 0;
}

static int teardown(void **state)
{
    sio__timers_free(&wheel);
    return 0;
}

/* ---- tests */

static void test_connect_and_auth(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0{\"token\":\"abc\"}", sid, sizeof sid);
    assert_int_equal(strlen(sid), 20);
    assert_int_equal(A.connections, 1);
    expect_msg(f, "42[\"auth\",{\"token\":\"abc\"}]");
    assert_string_equal(sio_socket_id(A.last), sid);
    assert_string_equal(sio_socket_handshake(A.last)->address, "127.0.0.1");
    assert_int_equal(sio_namespace_sockets_count(sio_server_of(srv, "/")), 1);
    /* no auth -> {} */
    fake *g = fake_open(srv);
    connect_to(g, "0", sid, sizeof sid);
    expect_msg(g, "42[\"auth\",{}]");
    fake_free(f);
    fake_free(g);
    assert_string_equal(A.reason, "transport close");
    assert_int_equal(sio_namespace_sockets_count(sio_server_of(srv, "/")), 0);
    sio_server_free(srv);
}

static void test_invalid_namespace(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    recv_text(f, "0/nope,");
    expect_msg(f, "44/nope,{\"message\":\"Invalid namespace\"}");
    assert_false(f->closed);
    /* a second CONNECT to the same namespace while connected: invalid state */
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    next_msg(f);
    recv_text(f, "0");
    assert_true(f->closed);
    assert_string_equal(A.reason, "forced server close");
    fake_free(f);
    sio_server_free(srv);
}

static void test_events_and_acks(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    next_msg(f);
    recv_text(f, "2[\"message\",1,\"two\",{\"three\":[4.5,null,true]}]");
    expect_msg(f, "42[\"message-back\",1,\"two\",{\"three\":[4.5,null,true]}]");
    recv_text(f, "27[\"message-with-ack\",\"x\",[]]");
    expect_msg(f, "437[\"x\",[]]");
    recv_text(f, "28[\"unknown\"]"); /* no handler: no ack */
    expect_none(f);
    recv_text(f, "2[\"message\"]");
    expect_msg(f, "42[\"message-back\"]");
    fake_free(f);
    sio_server_free(srv);
}

static void test_binary_echo_shares_buffers(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    next_msg(f);
    recv_text(f, "52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"n\":{\"_placeholder\":true,"
                 "\"num\":1}}]");
    expect_none(f);
    recv_bin(f, "\x01\x02\x03", 3);
    expect_none(f);
    recv_bin(f, "", 0);
    expect_msg(f, "452-[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"n\":{\"_placeholder\""
                  ":true,\"num\":1}}]");
    assert_int_equal(f->binary[f->seen], 1);
    assert_int_equal(f->msgs[f->seen]->len, 3);
    assert_memory_equal(f->msgs[f->seen]->data, "\x01\x02\x03", 3);
    assert_int_equal(f->msgs[f->seen + 1]->len, 0);
    f->seen += 2;
    /* binary ack */
    recv_text(f, "51-9[\"message-with-ack\",{\"_placeholder\":true,\"num\":0}]");
    recv_bin(f, "z", 1);
    expect_msg(f, "461-9[{\"_placeholder\":true,\"num\":0}]");
    assert_memory_equal(next_msg(f), "z", 1);
    fake_free(f);
    sio_server_free(srv);
}

static void ack_cb(sio_socket *s, int err, const sio_args *args, void *data)
{
    A.ack_calls++;
    A.ack_err = err;
    A.ack_arg[0] = 0;
    if (args && sio_args_count(args) > 0 && json_is_string(sio_args_get(args, 0)))
        snprintf(A.ack_arg, sizeof A.ack_arg, "%s", json_string_value(sio_args_get(args, 0)));
}

static void test_server_acks(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    next_msg(f);
    sio_args *a = sio_args_json(json_pack("[i]", 1));
    assert_int_equal(sio_emit_with_ack(A.last, "ping", a, 1000, ack_cb, NULL), 0);
    expect_msg(f, "420[\"ping\",1]");
    recv_text(f, "30[\"pong\"]");
    assert_int_equal(A.ack_calls, 1);
    assert_int_equal(A.ack_err, 0);
    assert_string_equal(A.ack_arg, "pong");
    recv_text(f, "30[\"again\"]"); /* answered already: ignored */
    assert_int_equal(A.ack_calls, 1);

    assert_int_equal(sio_emit_with_ack(A.last, "ping", a, 1000, ack_cb, NULL), 0);
    expect_msg(f, "421[\"ping\",1]");
    advance(999);
    assert_int_equal(A.ack_calls, 1);
    advance(1);
    assert_int_equal(A.ack_calls, 2);
    assert_int_equal(A.ack_err, SIO_ETIMEDOUT);

    /* pending at disconnect: SIO_ECLOSED */
    assert_int_equal(sio_emit_with_ack(A.last, "ping", a, 0, ack_cb, NULL), 0);
    assert_int_equal(sio_emit(A.last, "disconnect", a), SIO_EINVAL);
    fake_gone(f, "ping timeout");
    assert_int_equal(A.ack_calls, 3);
    assert_int_equal(A.ack_err, SIO_ECLOSED);
    assert_string_equal(A.reason, "ping timeout");
    sio_args_free(a);
    fake_free(f);
    sio_server_free(srv);
}

static void test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "2[\"connect\"]",   "9",     "2[]", "51-[\"message\",{\"_placeholder\":true,\"num\":3}]",
        "50-[\"message\"]", "1/,{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sio_server *srv = server(0);
        fake *f = fake_open(srv);
        char sid[32];
        connect_to(f, "0", sid, sizeof sid);
        recv_text(f, bad[i]);
        if (!f->closed)
            fail_msg("not closed by %s", bad[i]);
        assert_string_equal(A.reason, "parse error");
        fake_free(f);
        sio_server_free(srv);
    }
}

static void test_binary_before_connect_and_deadline(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    recv_text(f, "51-[\"message\",{\"_placeholder\":true,\"num\":0}]");
    assert_true(f->closed);
    fake_free(f);

    f = fake_open(srv);
    recv_bin(f, "x", 1);
    assert_true(f->closed);
    fake_free(f);

    f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    recv_text(f, "52-[\"message\",{\"_placeholder\":true,\"num\":0}]");
    recv_bin(f, "x", 1);
    assert_false(f->closed);
    advance(10000);
    assert_true(f->closed);
    assert_string_equal(A.reason, "parse error");
    fake_free(f);
    sio_server_free(srv);
}

static void test_connect_timeout(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    advance(44999);
    assert_false(f->closed);
    advance(1);
    assert_true(f->closed);
    fake_free(f);
    /* connected in time: kept */
    f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    advance(50000);
    assert_false(f->closed);
    fake_free(f);
    sio_server_free(srv);
}

static void test_disconnect_reasons(void **state)
{
    sio_server *srv = server(0);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    next_msg(f);
    recv_text(f, "1");
    assert_string_equal(A.reason, "client namespace disconnect");
    assert_string_equal(A.disconnecting, "client namespace disconnect");
    assert_false(f->closed);

    connect_to(f, "0", sid, sizeof sid);
    next_msg(f);
    sio_socket_disconnect(A.last, 0);
    expect_msg(f, "41");
    assert_string_equal(A.reason, "server namespace disconnect");
    assert_false(f->closed);

    connect_to(f, "0", sid, sizeof sid);
    next_msg(f);
    sio_socket_disconnect(A.last, 1);
    expect_msg(f, "41");
    assert_true(f->closed);
    assert_string_equal(A.reason, "server namespace disconnect");
    fake_free(f);

    f = fake_open(srv);
    connect_to(f, "0", sid, sizeof sid);
    sio_server_close(srv);
    assert_true(f->closed);
    assert_string_equal(A.reason, "server shutting down");
    fake_free(f);
    sio_server_free(srv);
}

/* ---- rooms and broadcast */

static sio_socket *S[4];

static void grab(sio_socket *s, void *data)
{
    S[(intptr_t)data] = s;
}

static void test_rooms_broadcast(void **state)
{
    sio_server *srv = server(0);
    sio_namespace *nsp = sio_server_of(srv, "/r");
    fake *f[4];
    char sid[32];
    for (intptr_t i = 0; i < 4; i++) {
        sio_namespace_on_connection(nsp, grab, (void *)i);
        f[i] = fake_open(srv);
        connect_to(f[i], "0/r,", sid, sizeof sid);
    }
    sio_socket_join(S[0], "a");
    sio_socket_join(S[1], "a");
    sio_socket_join(S[1], "b");
    sio_socket_join(S[2], "b");
    assert_true(sio_socket_in_room(S[1], "b"));
    const char *rooms[4];
    assert_int_equal(sio_socket_rooms(S[1], rooms, 4), 3);

    /* union, each once: 0,1,2 */
    sio_args *a = sio_args_json(json_pack("[s]", "x"));
    assert_int_equal(
        sio_broadcast_emit(sio_broadcast_to(sio_broadcast_to(sio_broadcast_new(nsp), "a"), "b"),
                           "e", a),
        0);
    for (int i = 0; i < 3; i++)
        expect_msg(f[i], "42/r,[\"e\",\"x\"]");
    expect_none(f[3]);
    expect_none(f[1]);
    /* encoded once: every recipient holds the same buffer */
    assert_ptr_equal(f[0]->msgs[f[0]->n - 1], f[1]->msgs[f[1]->n - 1]);
    assert_ptr_equal(f[1]->msgs[f[1]->n - 1], f[2]->msgs[f[2]->n - 1]);

    /* except */
    sio_broadcast_emit(sio_broadcast_except(sio_broadcast_to(sio_broadcast_new(nsp), "a"), "b"),
                       "e2", NULL);
    expect_msg(f[0], "42/r,[\"e2\"]");
    expect_none(f[1]);
    /* from a socket: everyone but the sender */
    sio_broadcast_emit(sio_socket_broadcast(S[0]), "e3", NULL);
    expect_none(f[0]);
    for (int i = 1; i < 4; i++)
        expect_msg(f[i], "42/r,[\"e3\"]");
    /* namespace-wide */
    sio_namespace_emit(nsp, "all", NULL);
    for (int i = 0; i < 4; i++)
        expect_msg(f[i], "42/r,[\"all\"]");
    /* the main namespace has nobody: nothing sent */
    sio_namespace_emit(sio_server_of(srv, "/"), "none", NULL);
    expect_none(f[0]);

    /* socketsJoin / fetchSockets / socketsLeave / disconnectSockets */
    assert_int_equal(sio_broadcast_sockets_join(sio_broadcast_to(sio_broadcast_new(nsp), "b"), "c"),
                     0);
    sio_socket **v;
    size_t n;
    assert_int_equal(
        sio_broadcast_fetch_sockets(sio_broadcast_to(sio_broadcast_new(nsp), "c"), &v, &n), 0);
    assert_int_equal(n, 2);
    sio_sockets_release(v, n);
    sio_broadcast_sockets_leave(sio_broadcast_new(nsp), "c");
    assert_false(sio_socket_in_room(S[1], "c"));
    sio_broadcast_disconnect_sockets(sio_broadcast_to(sio_broadcast_new(nsp), "a"), 0);
    assert_int_equal(sio_namespace_sockets_count(nsp), 2);
    expect_msg(f[0], "41/r,");
    /* leaving the last member frees the room: broadcast to it reaches nobody */
    sio_socket_leave(S[2], "b");
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), "b"), "e4", NULL);
    expect_none(f[2]);
    sio_args_free(a);
    for (int i = 0; i < 4; i++)
        fake_free(f[i]);
    sio_server_free(srv);
}

/* The room named by a socket's id is implicit (no stored room) but behaves
 * like Node's: others may join it, its owner may leave and rejoin it. */
static void test_own_id_room(void **state)
{
    sio_server *srv = server(0);
    sio_namespace *nsp = sio_server_of(srv, "/r");
    fake *f[3];
    char sid[32];
    for (intptr_t i = 0; i < 3; i++) {
        sio_namespace_on_connection(nsp, grab, (void *)i);
        f[i] = fake_open(srv);
        connect_to(f[i], "0/r,", sid, sizeof sid);
    }
    const char *id0 = sio_socket_id(S[0]);
    const char *rooms[4];
    assert_true(sio_socket_in_room(S[0], id0));
    assert_int_equal(sio_socket_rooms(S[0], rooms, 4), 1);
    assert_string_equal(rooms[0], id0);
    assert_int_equal(sio_socket_rooms(S[0], rooms, 0), 1);
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), id0), "a", NULL);
    expect_msg(f[0], "42/r,[\"a\"]");
    expect_none(f[1]);
    /* another socket joins S[0]'s id: both are in that room */
    assert_int_equal(sio_socket_join(S[1], id0), 0);
    assert_true(sio_socket_in_room(S[1], id0));
    assert_int_equal(sio_socket_rooms(S[1], rooms, 4), 2);
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), id0), "b", NULL);
    expect_msg(f[0], "42/r,[\"b\"]");
    expect_msg(f[1], "42/r,[\"b\"]");
    expect_none(f[2]);
    sio_broadcast_emit(sio_broadcast_except(sio_broadcast_new(nsp), id0), "c", NULL);
    expect_none(f[0]);
    expect_none(f[1]);
    expect_msg(f[2], "42/r,[\"c\"]");
    /* its owner leaves it: only the explicit member is left */
    sio_socket_leave(S[0], id0);
    assert_false(sio_socket_in_room(S[0], id0));
    assert_int_equal(sio_socket_rooms(S[0], rooms, 4), 0);
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), id0), "d", NULL);
    expect_none(f[0]);
    expect_msg(f[1], "42/r,[\"d\"]");
    sio_socket **v;
    size_t n;
    assert_int_equal(
        sio_broadcast_fetch_sockets(sio_broadcast_to(sio_broadcast_new(nsp), id0), &v, &n), 0);
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], S[1]);
    sio_sockets_release(v, n);
    /* and rejoins it */
    sio_socket_join(S[0], id0);
    sio_socket_leave(S[1], id0);
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), id0), "e", NULL);
    expect_msg(f[0], "42/r,[\"e\"]");
    expect_none(f[1]);
    /* a disconnected socket's id reaches nobody */
    char id2[32];
    snprintf(id2, sizeof id2, "%s", sio_socket_id(S[2]));
    sio_socket_disconnect(S[2], 0);
    expect_msg(f[2], "41/r,");
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), id2), "f", NULL);
    expect_none(f[2]);
    for (int i = 0; i < 3; i++)
        fake_free(f[i]);
    sio_server_free(srv);
}

/* Socket ids and private ids come from the environment's random bytes
 * (the composition root gives the kernel's): counting bytes make known ids,
 * and no bytes refuse the socket (the transport is closed, nothing sent). */
static unsigned char next_byte;
static int failing;
static int counting_random(void *arg, void *out, size_t len)
{
    if (failing)
        return SIO_EIO;
    for (size_t i = 0; i < len; i++)
        ((unsigned char *)out)[i] = next_byte++;
    return 0;
}

static void test_ids_from_env(void **state)
{
    sio__env env = fake_env;
    env.random = counting_random;
    sio_server_options o;
    sio_server_options_init(&o);
    o.connection_state_recovery.enabled = 1;
    sio_server *srv;
    assert_int_equal(sio__server_new_core(&srv, &o, &env), 0);
    next_byte = 0;
    failing = 0;
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    assert_string_equal(sid, "ABCDEFGHIJKLMNOPQRST"); /* bytes 0..19 */
    sio_socket *s = sio_namespace_socket(sio_server_of(srv, "/"), sid);
    assert_non_null(s);
    assert_string_equal(s->pid, "UVWXYZabcdefghijklmn"); /* bytes 20..39 */
    failing = 1;
    fake *g = fake_open(srv);
    recv_text(g, "0");
    assert_true(g->closed);
    expect_none(g);
    fake_free(f);
    fake_free(g);
    sio_server_free(srv);
}

/* The namespace's socket table grows and shrinks: every connected socket
 * is found by id and reached by a namespace-wide emit, gone ones are not. */
static void test_socket_table(void **state)
{
    enum { N = 40 };
    sio_server *srv = server(0);
    sio_namespace *nsp = sio_server_of(srv, "/t");
    fake *f[N];
    char sid[N][32];
    for (int i = 0; i < N; i++) {
        f[i] = fake_open(srv);
        connect_to(f[i], "0/t,", sid[i], sizeof sid[i]);
    }
    assert_int_equal(sio_namespace_sockets_count(nsp), N);
    for (int i = 0; i < N; i++)
        assert_string_equal(sio_socket_id(sio_namespace_socket(nsp, sid[i])), sid[i]);
    assert_null(sio_namespace_socket(nsp, "nope"));
    for (int i = 0; i < N - 3; i++) {
        sio_socket_disconnect(sio_namespace_socket(nsp, sid[i]), 0);
        expect_msg(f[i], "41/t,");
    }
    assert_int_equal(sio_namespace_sockets_count(nsp), 3);
    assert_true(nsp->sockets.nbuckets < N);
    sio_namespace_emit(nsp, "left", NULL);
    for (int i = 0; i < N; i++) {
        assert_true((sio_namespace_socket(nsp, sid[i]) != NULL) == (i >= N - 3));
        if (i >= N - 3)
            expect_msg(f[i], "42/t,[\"left\"]");
        else
            expect_none(f[i]);
    }
    for (int i = 0; i < N; i++)
        fake_free(f[i]);
    sio_server_free(srv);
}

/* Handlers live back to back in one buffer: one that registers more
 * handlers while an event is dispatched (moving the buffer) is safe, and
 * the new ones run from the next event on, like Node's. */
static int x_calls, any_calls;

static void on_x(sio_socket *s, const sio_args *a, sio_ack *ack, void *d)
{
    x_calls++;
}

static void on_any_count(sio_socket *s, const char *ev, const sio_args *a, sio_ack *ack, void *d)
{
    any_calls++;
}

static void on_grow(sio_socket *s, const sio_args *a, sio_ack *ack, void *d)
{
    for (int i = 0; i < 20; i++)
        assert_int_equal(
            sio_socket_on(s, i % 2 ? "x" : "a-rather-long-event-name-to-grow", on_x, NULL), 0);
}

static void grow_setup(sio_socket *s, void *data)
{
    sio_socket_on(s, "grow", on_grow, NULL);
    sio_socket_on_any(s, on_any_count, NULL);
    sio_socket_on(s, "grow", on_grow, NULL);
}

static void test_handlers_added_while_dispatching(void **state)
{
    sio_server *srv = server(0);
    sio_namespace_on_connection(sio_server_of(srv, "/"), grow_setup, NULL);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    x_calls = any_calls = 0;
    recv_text(f, "2[\"grow\"]");
    assert_int_equal(any_calls, 1);
    recv_text(f, "2[\"x\"]");
    assert_int_equal(x_calls, 20); /* 10 from each of the two grow handlers */
    assert_int_equal(any_calls, 2);
    fake_free(f);
    sio_server_free(srv);
}

/* ---- drain: only sockets with drain handlers hear it; one added during a
 * drain (on another socket of the same client) waits for the next one, as
 * a listener added during an emit does in Node */

static sio_socket *drain_sock[2];
static int drain_calls[2];

static void on_drain_b(sio_socket *s, void *data)
{
    drain_calls[1]++;
}
static void on_drain_a(sio_socket *s, void *data)
{
    if (drain_calls[0]++ == 0)
        assert_int_equal(sio_socket_on_drain(drain_sock[1], on_drain_b, NULL), 0);
}
static void drain_setup(sio_socket *s, void *data)
{
    drain_sock[strcmp(sio_namespace_name(sio_socket_namespace(s)), "/") != 0] = s;
}

static void test_drain_handlers(void **state)
{
    sio_server *srv = server(0);
    sio_namespace_on_connection(sio_server_of(srv, "/"), drain_setup, NULL);
    sio_namespace_on_connection(sio_server_of(srv, "/b"), drain_setup, NULL);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    connect_to(f, "0/b,", sid, sizeof sid);
    assert_non_null(drain_sock[0]);
    assert_non_null(drain_sock[1]);
    memset(drain_calls, 0, sizeof drain_calls);
    sio__client_drained(f->c); /* nobody listens */
    assert_int_equal(drain_calls[0] + drain_calls[1], 0);
    assert_int_equal(sio_socket_on_drain(drain_sock[0], on_drain_a, NULL), 0);
    sio__client_drained(f->c); /* a's handler adds b's */
    assert_int_equal(drain_calls[0], 1);
    assert_int_equal(drain_calls[1], 0);
    sio__client_drained(f->c);
    assert_int_equal(drain_calls[0], 2);
    assert_int_equal(drain_calls[1], 1);
    fake_free(f);
    sio_server_free(srv);
}

/* ---- the EventEmitter API: once, off, prependAny, offAny, onAnyOutgoing,
 * reserved names through on(), socket middlewares (socket.use) */

static char trace[256];

static void tr(const char *what)
{
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof trace - n, "%s%s", n ? "," : "", what);
}

static void h_a(sio_socket *s, const sio_args *a, sio_ack *ack, void *d)
{
    tr(d ? d : "a");
}
static void h_any(sio_socket *s, const char *ev, const sio_args *a, sio_ack *ack, void *d)
{
    char b[64];
    snprintf(b, sizeof b, "%s:%s", (const char *)d, ev);
    tr(b);
}
static void h_out(sio_socket *s, const char *ev, const sio_args *a, void *d)
{
    char b[64];
    snprintf(b, sizeof b, "%s>%s", (const char *)d, ev);
    tr(b);
}
/* Removes h_a("b") while "e" is dispatched: it still runs this time. */
static void h_off_b(sio_socket *s, const sio_args *a, sio_ack *ack, void *d)
{
    tr(sio_socket_off(s, "e", h_a, "b") == 1 ? "off1" : "off0");
}
static void h_reason(sio_socket *s, const sio_args *a, sio_ack *ack, void *d)
{
    char b[64];
    snprintf(b, sizeof b, "%s=%s", (const char *)d, json_string_value(sio_args_get(a, 0)));
    tr(b);
}

static void emitter_setup(sio_socket *s, void *data)
{
    A.last = s;
    assert_int_equal(sio_socket_on(s, "e", h_a, "a"), 0);
    assert_int_equal(sio_socket_once(s, "e", h_a, "once"), 0);
    assert_int_equal(sio_socket_on(s, "e", h_off_b, NULL), 0);
    assert_int_equal(sio_socket_on(s, "e", h_a, "b"), 0);
    assert_int_equal(sio_socket_on_any(s, h_any, "any1"), 0);
    assert_int_equal(sio_socket_prepend_any(s, h_any, "any0"), 0);
    assert_int_equal(sio_socket_on_any_outgoing(s, h_out, "out1"), 0);
    assert_int_equal(sio_socket_prepend_any_outgoing(s, h_out, "out0"), 0);
    assert_int_equal(sio_socket_on(s, "disconnecting", h_reason, "ing"), 0);
    assert_int_equal(sio_socket_on(s, "disconnect", h_reason, "dis"), 0);
    assert_int_equal(sio_socket_on(s, "connect", h_a, NULL), SIO_EINVAL);
    assert_int_equal(sio_socket_on(s, "newListener", h_a, NULL), SIO_EINVAL);
}

static void test_event_emitter_api(void **state)
{
    sio_server *srv = server(0);
    sio_namespace_on_connection(sio_server_of(srv, "/"), emitter_setup, NULL);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    trace[0] = 0;
    recv_text(f, "2[\"e\"]");
    assert_string_equal(trace, "any0:e,any1:e,a,once,off1,b");
    trace[0] = 0;
    recv_text(f, "2[\"e\"]");
    assert_string_equal(trace, "any0:e,any1:e,a,off0");
    /* off(event, NULL) removes them all; offAny(fn) the first match */
    assert_int_equal(sio_socket_off(A.last, "e", NULL, NULL), 2);
    assert_int_equal(sio_socket_off(A.last, "e", h_a, "a"), 0);
    assert_int_equal(sio_socket_off_any(A.last, h_any, "any0"), 1);
    trace[0] = 0;
    recv_text(f, "2[\"e\"]");
    assert_string_equal(trace, "any1:e");
    /* outgoing listeners see emits and broadcasts, not acks */
    trace[0] = 0;
    assert_int_equal(sio_emit(A.last, "hi", NULL), 0);
    expect_msg(f, "42[\"hi\"]");
    assert_int_equal(sio_namespace_emit(sio_server_of(srv, "/"), "all", NULL), 0);
    expect_msg(f, "42[\"all\"]");
    assert_string_equal(trace, "out0>hi,out1>hi,out0>all,out1>all");
    assert_int_equal(sio_socket_off_any_outgoing(A.last, NULL, NULL), 2);
    trace[0] = 0;
    sio_emit(A.last, "hi", NULL);
    assert_string_equal(trace, "");
    /* disconnect/disconnecting through on() */
    trace[0] = 0;
    sio_socket_disconnect(A.last, 0);
    assert_string_equal(trace, "ing=server namespace disconnect,dis=server namespace disconnect");
    fake_free(f);
    sio_server_free(srv);
}

static sio_middleware_next *held_pkt;

/* socket.use: "deny" fails, "hold" waits, "rename" edits the arguments. */
static void pkt_mw(sio_socket *s, const char *event, sio_args *args, sio_ack *ack,
                   sio_middleware_next *next, void *data)
{
    tr(event);
    if (strcmp(event, "deny") == 0)
        sio_next_error(next, "denied", json_pack("{s:i}", "code", 7));
    else if (strcmp(event, "hold") == 0)
        held_pkt = next;
    else {
        if (strcmp(event, "rename") == 0)
            sio_args_push(args, json_string("added"));
        sio_next(next);
    }
}

static void pkt_mw2(sio_socket *s, const char *event, sio_args *args, sio_ack *ack,
                    sio_middleware_next *next, void *data)
{
    tr("mw2");
    sio_next(next);
}

static void h_error(sio_socket *s, const sio_args *a, sio_ack *ack, void *d)
{
    char *j = json_dumps(sio_args_get(a, 0), JSON_COMPACT | JSON_SORT_KEYS);
    tr(j);
    free(j);
}

static void h_count_args(sio_socket *s, const sio_args *a, sio_ack *ack, void *d)
{
    char b[32];
    snprintf(b, sizeof b, "n=%zu", sio_args_count(a));
    tr(b);
    if (ack)
        sio_ack_send(ack, a);
}

static void use_setup(sio_socket *s, void *data)
{
    A.last = s;
    sio_socket_use(s, pkt_mw, NULL);
    sio_socket_use(s, pkt_mw2, NULL);
    sio_socket_on(s, "error", h_error, NULL);
    sio_socket_on(s, "rename", h_count_args, NULL);
    sio_socket_on(s, "hold", h_count_args, NULL);
    sio_socket_on(s, "deny", h_count_args, NULL);
}

static void test_socket_middleware(void **state)
{
    sio_server *srv = server(0);
    sio_namespace_on_connection(sio_server_of(srv, "/"), use_setup, NULL);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    trace[0] = 0;
    recv_text(f, "2[\"rename\",1]");
    assert_string_equal(trace, "rename,mw2,n=2");
    trace[0] = 0;
    recv_text(f, "21[\"deny\"]");
    assert_string_equal(trace, "deny,{\"data\":{\"code\":7},\"message\":\"denied\"}");
    expect_none(f); /* the ack is never answered */
    trace[0] = 0;
    recv_text(f, "22[\"hold\",5]");
    assert_string_equal(trace, "hold");
    sio_next(held_pkt);
    assert_string_equal(trace, "hold,mw2,n=1");
    expect_msg(f, "432[5]");
    /* a step ended after the disconnect: the next middleware still runs
     * (Node's run() does not check), the listener does not; all is freed */
    recv_text(f, "23[\"hold\"]");
    sio_socket_disconnect(A.last, 0);
    trace[0] = 0;
    sio_next(held_pkt);
    assert_string_equal(trace, "mw2");
    fake_free(f);
    sio_server_free(srv);
}

/* ---- middleware */

static sio_middleware_next *held;

static void mw_reject(sio_socket *s, sio_middleware_next *next, void *data)
{
    /* The uncached copy and the cached view carry the same payload. */
    json_t *copy = sio_socket_auth_copy(s);
    json_t *auth = sio_socket_auth(s);
    assert_true(json_equal(copy, auth));
    assert_ptr_not_equal(copy, auth);
    assert_ptr_equal(sio_socket_auth(s), auth);
    json_decref(copy);
    if (json_object_get(auth, "ok")) {
        sio_next(next);
        return;
    }
    json_t *d = json_pack("{s:s}", "content", "Please retry later");
    sio_next_error(next, "not authorized", d); /* stolen */
}

static void mw_hold(sio_socket *s, sio_middleware_next *next, void *data)
{
    held = next;
}

static void test_middleware(void **state)
{
    sio_server *srv = server(0);
    sio_namespace *nsp = sio_server_of(srv, "/");
    sio_namespace_use(nsp, mw_reject, NULL);
    fake *f = fake_open(srv);
    recv_text(f, "0");
    expect_msg(f,
               "44{\"message\":\"not authorized\",\"data\":{\"content\":\"Please retry later\"}}");
    assert_int_equal(A.connections, 0);
    assert_false(f->closed);
    char sid[32];
    connect_to(f, "0{\"ok\":1}", sid, sizeof sid);
    assert_int_equal(A.connections, 1);
    fake_free(f);

    /* asynchronous: finish later */
    sio_namespace_use(nsp, mw_hold, NULL);
    f = fake_open(srv);
    recv_text(f, "0{\"ok\":1}");
    expect_none(f);
    assert_non_null(held);
    advance(10);
    sio_next(held);
    expect_prefix(f, "40{\"sid\":");
    assert_int_equal(A.connections, 2);
    fake_free(f);

    /* the client leaves while the middleware runs: next just frees */
    f = fake_open(srv);
    recv_text(f, "0{\"ok\":1}");
    fake_gone(f, "transport close");
    sio_next(held);
    assert_int_equal(A.connections, 2);
    fake_free(f);
    sio_server_free(srv);
}

/* ---- dynamic namespaces */

static int match_dyn(const char *name, const json_t *auth, void *data)
{
    return strncmp(name, "/dyn-", 5) == 0;
}

static void setup_dyn(sio_namespace *nsp, void *data)
{
    sio_namespace_on_connection(nsp, on_connection, NULL);
}

static void test_dynamic_namespace(void **state)
{
    sio_server *srv = server(0);
    sio_server_of_dynamic(srv, match_dyn, setup_dyn, NULL);
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0/dyn-1,", sid, sizeof sid);
    expect_msg(f, "42/dyn-1,[\"auth\",{}]");
    recv_text(f, "0/other,");
    expect_msg(f, "44/other,{\"message\":\"Invalid namespace\"}");
    fake_free(f);
    sio_server_free(srv);
}

/* cleanupEmptyChildNamespaces: a child namespace goes with its last socket
 * (connected and left, refused by a middleware, or held by a reference),
 * so 5,000 short-lived "/dyn-N" namespaces leave no allocation behind. */
static long live_blocks;
static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    live_blocks += p != NULL;
    return p;
}
static void *count_calloc(size_t n, size_t m)
{
    void *p = calloc(n, m);
    live_blocks += p != NULL;
    return p;
}
static void *count_realloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    live_blocks += old == NULL && p != NULL;
    return p;
}
static void count_free(void *p)
{
    live_blocks -= p != NULL;
    free(p);
}

static void mw_refuse_odd(sio_socket *s, sio_middleware_next *next, void *data)
{
    if (json_object_get(sio_socket_auth(s), "odd"))
        sio_next_error(next, "no", NULL);
    else
        sio_next(next);
}

static void setup_dyn_mw(sio_namespace *nsp, void *data)
{
    sio_namespace_on_connection(nsp, on_connection, NULL);
    sio_namespace_use(nsp, mw_refuse_odd, NULL);
}

static void test_cleanup_child_namespaces(void **state)
{
    static const sio_allocator counting = {count_malloc, count_calloc, count_realloc, count_free};
    assert_int_equal(sio_set_allocator(&counting), 0);
    sio_server_options o;
    sio_server_options_init(&o);
    o.cleanup_empty_child_namespaces = 1;
    sio_server *srv;
    assert_int_equal(sio__server_new_core(&srv, &o, &fake_env), 0);
    sio_server_of_dynamic(srv, match_dyn, setup_dyn_mw, NULL);
    fake *f = fake_open(srv);
    long base = -1;
    char pkt[64], sid[32];
    for (int i = 0; i < 5000; i++) {
        if (i % 3 == 2) { /* refused by the middleware */
            snprintf(pkt, sizeof pkt, "0/dyn-%d,{\"odd\":1}", i);
            recv_text(f, pkt);
            next_msg(f);
        } else {
            snprintf(pkt, sizeof pkt, "0/dyn-%d,", i);
            connect_to(f, pkt, sid, sizeof sid);
            next_msg(f); /* auth */
            sio_socket *s = A.last;
            if (i % 3 == 1)
                sio_socket_ref(s); /* the namespace outlives its last socket */
            snprintf(pkt, sizeof pkt, "1/dyn-%d", i);
            recv_text(f, pkt);
            assert_int_equal(sio_server_namespaces_count(srv), 1);
            if (i % 3 == 1) {
                assert_string_equal(sio_namespace_name(sio_socket_namespace(s)), pkt + 1);
                sio_socket_unref(s);
            }
        }
        assert_int_equal(sio_server_namespaces_count(srv), 1);
        /* the fake's recorded messages are the test's, not the server's */
        for (size_t k = 0; k < f->n; k++)
            sio__rcbuf_unref(f->msgs[k]);
        f->n = f->seen = 0;
        if (i == 10)
            base = live_blocks;
    }
    assert_int_equal(live_blocks, base);
    fake_free(f);
    sio_server_free(srv);
    sio_set_allocator(NULL);
}

/* A broadcast with acks outlives its namespace's cleanup and the server
 * (found by fuzz/fuzz_stack.c): the callback still gets a valid namespace
 * (a cleaned-up child is kept until then), and a server freed first runs
 * the callback with SIO_ECLOSED instead of leaking it on the wheel, where
 * it would later fire with freed memory. */
static int bc_calls, bc_err;
static char bc_nsp[32];

static void bc_cb(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    bc_calls++;
    bc_err = err;
    snprintf(bc_nsp, sizeof bc_nsp, "%s", sio_namespace_name(nsp));
    sio_namespace_emit(nsp, "done", responses); /* uses the namespace */
}

static void test_broadcast_ack_outlives_namespace(void **state)
{
    sio_server_options o;
    sio_server_options_init(&o);
    o.cleanup_empty_child_namespaces = 1;
    sio_server *srv;
    assert_int_equal(sio__server_new_core(&srv, &o, &fake_env), 0);
    sio_server_of_dynamic(srv, match_dyn, setup_dyn, NULL);
    bc_calls = 0;
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0/dyn-1,", sid, sizeof sid);
    next_msg(f); /* auth */
    sio_namespace *nsp = sio_socket_namespace(A.last);
    sio_broadcast *b = sio_broadcast_timeout(sio_broadcast_new(nsp), 300);
    assert_int_equal(sio_broadcast_emit_with_ack(b, "q", NULL, bc_cb, NULL), 0);
    expect_msg(f, "42/dyn-1,0[\"q\"]");
    recv_text(f, "1/dyn-1,"); /* the last socket leaves: the namespace is cleaned up */
    assert_int_equal(sio_server_namespaces_count(srv), 1);
    advance(300);
    assert_int_equal(bc_calls, 1);
    assert_int_equal(bc_err, SIO_ETIMEDOUT);
    assert_string_equal(bc_nsp, "/dyn-1");
    fake_free(f);
    sio_server_free(srv);
}

static void test_broadcast_ack_server_freed_first(void **state)
{
    sio_server *srv = server(0);
    bc_calls = 0;
    fake *f = fake_open(srv);
    char sid[32];
    connect_to(f, "0", sid, sizeof sid);
    next_msg(f); /* auth */
    sio_broadcast *b = sio_broadcast_timeout(sio_broadcast_new(sio_server_of(srv, "/")), 300);
    assert_int_equal(sio_broadcast_emit_with_ack(b, "q", NULL, bc_cb, NULL), 0);
    fake_free(f);
    assert_int_equal(bc_calls, 0);
    sio_server_free(srv);
    assert_int_equal(bc_calls, 1);
    assert_int_equal(bc_err, SIO_ECLOSED);
    assert_int_equal(wheel.count, 0); /* nothing left to fire later */
    advance(1000);
    assert_int_equal(bc_calls, 1);
}

/* ---- connection state recovery */

static void test_recovery(void **state)
{
    sio_server *srv = server(1);
    sio_namespace *nsp = sio_server_of(srv, "/");
    fake *f = fake_open(srv);
    recv_text(f, "0");
    const char *m = next_msg(f);
    json_t *j = json_loads(m + 2, 0, NULL);
    char sid[32], pid[32];
    snprintf(sid, sizeof sid, "%s", json_string_value(json_object_get(j, "sid")));
    snprintf(pid, sizeof pid, "%s", json_string_value(json_object_get(j, "pid")));
    json_decref(j);
    assert_int_equal(strlen(pid), 20);
    expect_msg(f, "42[\"auth\",{},\"1\"]"); /* offsets on every event */
    sio_socket_join(A.last, "room1");
    json_object_set_new(sio_socket_data_json(A.last), "user", json_string("bob"));
    fake_gone(f, "transport close");
    sio_recovery_stats st;
    sio_namespace_recovery_stats(nsp, &st);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.packets, 1);

    /* emitted while away: to its room, to another room, volatile */
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), "room1"), "missed", NULL);
    sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(nsp), "other"), "not-mine", NULL);
    sio_broadcast_emit(sio_broadcast_volatile(sio_broadcast_new(nsp)), "volatile", NULL);
    sio_namespace_emit(nsp, "all", NULL);

    fake *g = fake_open(srv);
    char connect[128];
    snprintf(connect, sizeof connect, "0{\"pid\":\"%s\",\"offset\":\"1\"}", pid);
    recv_text(g, connect);
    expect_msg(g, "42[\"missed\",\"2\"]");
    expect_msg(g, "42[\"all\",\"4\"]");
    char reply[128];
    snprintf(reply, sizeof reply, "40{\"sid\":\"%s\",\"pid\":\"%s\"}", sid, pid);
    expect_msg(g, reply);
    assert_true(sio_socket_recovered(A.last));
    assert_true(sio_socket_in_room(A.last, "room1"));
    assert_string_equal(json_string_value(json_object_get(sio_socket_data_json(A.last), "user")),
                        "bob");
    sio_namespace_recovery_stats(nsp, &st);
    assert_int_equal(st.sessions, 0);

    /* an unknown offset, and an expired session, are not recovered */
    fake_gone(g, "ping timeout");
    fake *h = fake_open(srv);
    snprintf(connect, sizeof connect, "0{\"pid\":\"%s\",\"offset\":\"999\"}", pid);
    recv_text(h, connect);
    assert_false(sio_socket_recovered(A.last));
    fake_free(h);
    advance(120001);
    sio_namespace_recovery_stats(nsp, &st);
    assert_int_equal(st.packets, 0);
    h = fake_open(srv);
    snprintf(connect, sizeof connect, "0{\"pid\":\"%s\",\"offset\":\"4\"}", pid);
    recv_text(h, connect);
    assert_false(sio_socket_recovered(A.last));
    assert_string_not_equal(sio_socket_id(A.last), sid);
    fake_free(h);
    fake_free(f);
    fake_free(g);
    sio_server_free(srv);
}

static void test_recovery_caps(void **state)
{
    sio_server_options o;
    sio_server_options_init(&o);
    o.connection_state_recovery.enabled = 1;
    o.connection_state_recovery.max_packets = 3;
    sio_server *srv;
    assert_int_equal(sio__server_new_core(&srv, &o, &fake_env), 0);
    sio_namespace *nsp = sio_server_of(srv, "/");
    for (int i = 0; i < 10; i++)
        sio_namespace_emit(nsp, "e", NULL);
    sio_recovery_stats st;
    sio_namespace_recovery_stats(nsp, &st);
    assert_int_equal(st.packets, 3);
    assert_int_equal(st.bytes, 3 * strlen("42[\"e\",\"10\"]") - 2);
    sio_server_free(srv);
}

/* Out of memory anywhere on the connect/event/broadcast/recovery paths:
 * no crash, no leak (ASan), the session is closed or the call fails. */
static void test_oom(void **state)
{
    for (unsigned n = 1; n < 400; n++) {
        sio__alloc_fail_after(n);
        sio_server_options o;
        sio_server_options_init(&o);
        o.connection_state_recovery.enabled = 1;
        sio_server *srv;
        if (sio__server_new_core(&srv, &o, &fake_env) < 0)
            continue;
        sio_namespace *nsp = sio_server_of(srv, "/");
        if (nsp)
            sio_namespace_on_connection(nsp, on_connection, NULL);
        fake *f = calloc(1, sizeof *f);
        f->c = sio__client_open(srv, &fake_ops, f, &f->hs);
        if (f->c) {
            recv_text(f, "0{\"a\":1}");
            if (A.last && sio_socket_connected(A.last))
                sio_socket_join(A.last, "r");
            recv_text(f, "2[\"message\",1]");
            recv_text(f, "21[\"message-with-ack\",{\"x\":[1,2]}]");
            recv_text(f, "51-[\"message\",{\"_placeholder\":true,\"num\":0}]");
            recv_bin(f, "ab", 2);
            sio_broadcast_emit(sio_broadcast_to(sio_broadcast_new(sio_server_of(srv, "/")), "r"),
                               "e", NULL);
        }
        fake_free(f);
        sio_server_free(srv);
        sio__alloc_fail_after(0);
        memset(&A, 0, sizeof A);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_and_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_and_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_echo_shares_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_before_connect_and_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_id_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handlers_added_while_dispatching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_handlers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_emitter_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_middleware, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middleware, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dynamic_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_child_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_ack_outlives_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_ack_server_freed_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
