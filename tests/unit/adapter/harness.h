/* Test harness shared by the adapter tests: fake Engine.IO transports that
 * record what they are sent, a hand-driven clock and timer wheel, and a
 * "cluster" of N servers (one per node) built with one adapter factory,
 * with clients spread over the nodes. Header-only (static functions): each
 * tests/unit/<layer>/test_*.c is its own program. */
#ifndef SIO_TESTS_UNIT_ADAPTER_HARNESS_H
#define SIO_TESTS_UNIT_ADAPTER_HARNESS_H

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

static uint64_t now_ms;
static sio__timers wheel;

static uint64_t fake_now(void *data)
{
    (void)data;
    return now_ms;
}

/* The cores' system: the hand-driven clock and wheel, repeatable bytes. */
static const sio__env fake_env = {&wheel, fake_now, NULL, xorshift_random, NULL, NULL};

#define MAXMSG 64
typedef struct fake {
    sio__client *c;
    sio__rcbuf *msgs[MAXMSG]; /* references, in order */
    size_t n;                 /* messages recorded */
    size_t seen;              /* consumed by next_msg */
    sio_handshake hs;
    sio_kv headers[2];
    char sid[32]; /* from the CONNECT reply */
} fake;

static int fake_send(void *conn, sio__rcbuf *msg, int binary)
{
    fake *f = conn;
    (void)binary;
    assert_true(f->n < MAXMSG);
    f->msgs[f->n++] = sio__rcbuf_ref(msg);
    return 0;
}

static void fake_close(void *conn)
{
    (void)conn;
}

static const sio__conn_ops fake_ops = {fake_send, fake_close, NULL, NULL, NULL, NULL};

static fake *fake_open(sio_server *srv)
{
    fake *f = calloc(1, sizeof *f);
    f->headers[0] = (sio_kv){"host", "localhost"};
    f->headers[1] = (sio_kv){"origin", "http://example.com"};
    f->hs.headers = f->headers;
    f->hs.nheaders = 2;
    f->hs.address = "127.0.0.1";
    f->hs.url = "/socket.io/?EIO=4&transport=websocket&x=a%20b";
    f->hs.query = "EIO=4&transport=websocket&x=a%20b";
    f->hs.time_ms = 1764700000000;
    f->c = sio__client_open(srv, &fake_ops, f, &f->hs);
    assert_non_null(f->c);
    return f;
}

static void fake_free(fake *f)
{
    if (f->c)
        sio__client_closed(f->c, "transport close");
    for (size_t i = 0; i < f->n; i++)
        sio__rcbuf_unref(f->msgs[i]);
    free(f);
}

static void recv_text(fake *f, const char *s)
{
    sio__client_message(f->c, s, strlen(s), 0);
}

static const char *next_msg(fake *f)
{
    return f->seen < f->n ? f->msgs[f->seen++]->data : NULL;
}

static void expect_msg(fake *f, const char *expect)
{
    const char *m = next_msg(f);
    if (m == NULL || strcmp(m, expect) != 0)
        fail_msg("expected %s, got %s", expect, m ? m : "(nothing)");
}

static void expect_none(fake *f)
{
    const char *m = next_msg(f);
    if (m != NULL)
        fail_msg("expected nothing, got %s", m);
}

/* ---- adapters under test */

/* One adapter implementation, as the tests see it. */
typedef struct adapter_kind {
    const char *name;
    size_t nodes;               /* servers in the cluster */
    int server_side;            /* serverSideEmit supported */
    sio_adapter_factory make;   /* NULL: the default (in-memory) */
    void *(*data)(size_t node); /* adapter_data of node i (NULL: none) */
    void (*setup)(void);        /* before the servers start */
    void (*pump)(void);         /* delivers messages between nodes */
    void (*teardown)(void);     /* after the servers are freed */
    /* Optional: node stops (deaf 1) or resumes (0) receiving from the
     * others, to test requestsTimeout. */
    void (*deafen)(size_t node, int deaf);
    /* Optional: node's command link to the bus goes down (0) or comes back
     * (1), to test what waits for it. */
    void (*link)(size_t node, int up);
} adapter_kind;

#define MAXNODES 4
#define MAXCLIENTS 8

/* The cluster of one test: servers, namespace "/t" on each, clients. */
typedef struct cluster {
    const adapter_kind *kind;
    sio_server *srv[MAXNODES];
    sio_namespace *nsp[MAXNODES];
    fake *f[MAXCLIENTS];
    sio_socket *s[MAXCLIENTS]; /* the server-side socket of client i */
    size_t nclients;
} cluster;

static void pump(const cluster *c)
{
    if (c->kind->pump)
        c->kind->pump();
}

/* Runs timers up to now+ms, delivering bus messages on the way. */
static void advance(const cluster *c, uint64_t ms)
{
    pump(c);
    now_ms += ms;
    sio__timers_run(&wheel, now_ms);
    pump(c);
}

static cluster *C; /* the running test's cluster (for connection callbacks) */

static void grab(sio_socket *s, void *data)
{
    (void)data;
    C->s[C->nclients] = s;
}

static void cluster_start(cluster *c, const adapter_kind *k)
{
    memset(c, 0, sizeof *c);
    c->kind = k;
    C = c;
    now_ms = 1000;
    sio__timers_init(&wheel, now_ms);
    if (k->setup)
        k->setup();
    for (size_t i = 0; i < k->nodes; i++) {
        sio_server_options o;
        sio_server_options_init(&o);
        o.adapter = k->make;
        o.adapter_data = k->data ? k->data(i) : NULL;
        assert_int_equal(sio__server_new_core(&c->srv[i], &o, &fake_env), 0);
        c->nsp[i] = sio_server_of(c->srv[i], "/t");
        assert_non_null(c->nsp[i]);
        sio_namespace_on_connection(c->nsp[i], grab, NULL);
    }
}

/* Connects a new client to node i % nodes; returns its index. */
static size_t cluster_connect(cluster *c)
{
    size_t i = c->nclients;
    assert_true(i < MAXCLIENTS);
    fake *f = c->f[i] = fake_open(c->srv[i % c->kind->nodes]);
    recv_text(f, "0/t,");
    const char *m = next_msg(f);
    assert_non_null(m);
    const char *p = strstr(m, "\"sid\":\"");
    assert_non_null(p);
    p += 7;
    size_t n = strcspn(p, "\"");
    memcpy(f->sid, p, n);
    f->sid[n] = 0;
    assert_non_null(c->s[i]);
    c->nclients++;
    pump(c);
    return i;
}

static void cluster_stop(cluster *c)
{
    for (size_t i = 0; i < c->nclients; i++)
        fake_free(c->f[i]);
    pump(c);
    for (size_t i = 0; i < c->kind->nodes; i++)
        sio_server_free(c->srv[i]);
    if (c->kind->teardown)
        c->kind->teardown();
    sio__timers_free(&wheel);
    C = NULL;
}

#endif
