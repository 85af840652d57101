/* A cluster adapter for the tests: N servers in one process joined by an
 * in-memory bus, built the way adapter.h says a cluster adapter is built
 * (and the way Node's ClusterAdapter works): it wraps an in-memory adapter
 * for everything local, publishes what other nodes must do, and applies
 * what they publish with SIO__BC_LOCAL through the inner adapter.
 * Messages are queued, not delivered inside the call (as over Redis), and
 * bus_pump() delivers them; requests (fetchSockets, serverSideEmit with an
 * ack, broadcast acks) are tracked by id with a timeout. It proves the
 * contract is enough for a cluster; it is not a transport. */
#ifndef SIO_TESTS_UNIT_ADAPTER_BUS_ADAPTER_H
#define SIO_TESTS_UNIT_ADAPTER_BUS_ADAPTER_H

#include "harness.h"

#define BUS_TIMEOUT 5000 /* requestsTimeout (Node's default) */

enum {
    M_BROADCAST,         /* event, args, o; req != 0: with acks */
    M_CLIENT_COUNT,      /* req, count */
    M_ACK,               /* req, args (a client's answer) */
    M_JOIN,              /* o, rooms */
    M_LEAVE,             /* o, rooms */
    M_DISCONNECT,        /* o, close */
    M_FETCH,             /* req, o */
    M_FETCH_RESPONSE,    /* req, sockets */
    M_SERVER_SIDE,       /* req (0: no ack), event, args */
    M_SERVER_SIDE_REPLY, /* req, args */
};

typedef struct bus_msg {
    sio__list node; /* in the bus queue */
    int type;       /* M_* */
    size_t from;    /* sending node */
    size_t to;      /* SIZE_MAX: every other node */
    char *nsp;      /* namespace name */
    char *event;    /* M_BROADCAST, M_SERVER_SIDE */
    sio_args *args; /* copy */
    sio__bopts o;   /* copy */
    char **rooms;   /* M_JOIN, M_LEAVE */
    size_t nrooms;
    int close;       /* M_DISCONNECT */
    uint64_t req;    /* request id */
    size_t count;    /* M_CLIENT_COUNT */
    json_t *sockets; /* M_FETCH_RESPONSE */
} bus_msg;

typedef struct bus_adapter {
    sio__adapter base;   /* must be first */
    sio__adapter *inner; /* the local part */
    size_t node;         /* this server's index */
    sio__list reqs;      /* bus_req waiting for answers */
    sio__list link;      /* in the bus's adapter list */
} bus_adapter;

/* A request waiting for other nodes. */
typedef struct bus_req {
    sio__list node;
    uint64_t id;
    int type; /* M_FETCH, M_SERVER_SIDE, M_BROADCAST */
    bus_adapter *a;
    size_t expected, got; /* answers */
    sio__timer timer;
    sio_fetch_result *r; /* fetch */
    sio__fetch_done done;
    void *data;
    sio_server_side_ack_cb cb; /* server-side emit */
    sio_args *responses;
    sio__bcast_ack *k; /* broadcast with acks */
} bus_req;

static struct {
    sio__list queue;    /* bus_msg, FIFO */
    sio__list adapters; /* bus_adapter */
    uint64_t next_req;
    size_t nodes; /* servers on the bus */
    int deaf[8];  /* node i drops what it is sent (a partition) */
} BUS;

static void bus_setup(void)
{
    sio__list_init(&BUS.queue);
    sio__list_init(&BUS.adapters);
    BUS.next_req = 1;
    memset(BUS.deaf, 0, sizeof BUS.deaf);
}

static char **strv_copy(char *const *v, size_t n)
{
    char **c = n ? calloc(n, sizeof *c) : NULL;
    for (size_t i = 0; i < n; i++)
        c[i] = strdup(v[i]);
    return c;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static sio_args *args_copy(const sio_args *a)
{
    sio_args *c = sio_args_new();
    for (size_t i = 0; a && i < sio_args_count(a); i++)
        sio__args_push_arg(c, a, i);
    return c;
}

/* Queues a message from a to the other nodes (or one). */
static bus_msg *publish(bus_adapter *a, int type, size_t to)
{
    bus_msg *m = calloc(1, sizeof *m);
    m->type = type;
    m->from = a->node;
    m->to = to;
    m->nsp = strdup(a->base.nsp->name);
    sio__list_insert_tail(&BUS.queue, &m->node);
    return m;
}

static void copy_opts(bus_msg *m, const sio__bopts *o)
{
    m->o = *o;
    m->o.rooms = strv_copy(o->rooms, o->nrooms);
    m->o.except = strv_copy(o->except, o->nexcept);
    m->o.flags |= SIO__BC_LOCAL; /* what the receiver applies is local there */
}

static void msg_free(bus_msg *m)
{
    free(m->nsp);
    free(m->event);
    sio_args_free(m->args);
    strv_free(m->o.rooms, m->o.nrooms);
    strv_free(m->o.except, m->o.nexcept);
    strv_free(m->rooms, m->nrooms);
    json_decref(m->sockets);
    free(m);
}

/* ---- requests */

static void req_finish(bus_req *q, int err)
{
    sio__list_remove(&q->node);
    sio__timer_stop(&q->timer);
    if (q->type == M_FETCH) {
        if (err)
            sio_fetch_result_free(q->r);
        q->done(err, err ? NULL : q->r, q->data);
    } else if (q->type == M_SERVER_SIDE) {
        q->cb(q->a->base.nsp, err, q->responses, q->data);
        sio_args_free(q->responses);
    } else {
        sio__bcast_ack_unref(q->k);
    }
    free(q);
}

static void req_timeout(sio__timer *t, void *data)
{
    bus_req *q = data;
    req_finish(q, q->type == M_BROADCAST ? 0 : SIO_ETIMEDOUT);
}

static bus_req *req_new(bus_adapter *a, int type, size_t expected, uint32_t timeout)
{
    bus_req *q = calloc(1, sizeof *q);
    q->id = BUS.next_req++;
    q->type = type;
    q->a = a;
    q->expected = expected;
    sio__timer_init(&q->timer, req_timeout, q);
    sio__timer_start(&wheel, &q->timer, now_ms + (timeout ? timeout : BUS_TIMEOUT));
    sio__list_insert_tail(&a->reqs, &q->node);
    return q;
}

static bus_req *req_find(bus_adapter *a, uint64_t id)
{
    for (sio__list *it = a->reqs.next; it != &a->reqs; it = it->next)
        if (SIO_CONTAINER_OF(it, bus_req, node)->id == id)
            return SIO_CONTAINER_OF(it, bus_req, node);
    return NULL;
}

/* ---- the ops: local ones go to the inner adapter */

#define INNER(a) (((bus_adapter *)(a))->inner)

static int b_add(sio__adapter *a, sio_socket *s, const char *room)
{
    return INNER(a)->ops->add(INNER(a), s, room);
}
static void b_del(sio__adapter *a, sio_socket *s, const char *room)
{
    INNER(a)->ops->del(INNER(a), s, room);
}
static void b_del_all(sio__adapter *a, sio_socket *s)
{
    INNER(a)->ops->del_all(INNER(a), s);
}
static int b_has(const sio__adapter *a, const sio_socket *s, const char *room)
{
    return INNER(a)->ops->has(INNER(a), s, room);
}
static size_t b_socket_rooms(const sio__adapter *a, const sio_socket *s, const char **out,
                             size_t max)
{
    return INNER(a)->ops->socket_rooms(INNER(a), s, out, max);
}
static size_t b_room_size(const sio__adapter *a, const char *room)
{
    return INNER(a)->ops->room_size(INNER(a), room);
}
static size_t b_rooms(const sio__adapter *a, const char **out, size_t max)
{
    return INNER(a)->ops->rooms(INNER(a), out, max);
}
static int b_local_sockets(sio__adapter *a, const sio__bopts *o, sio_socket ***out, size_t *n)
{
    return INNER(a)->ops->local_sockets(INNER(a), o, out, n);
}
static int b_persist(sio__adapter *a, sio_socket *s)
{
    return INNER(a)->ops->persist_session(INNER(a), s);
}
static int b_restore(sio__adapter *a, const char *pid, const char *off, sio__session **out)
{
    return INNER(a)->ops->restore_session(INNER(a), pid, off, out);
}
static void b_stats(const sio__adapter *a, sio_recovery_stats *out)
{
    INNER(a)->ops->stats(INNER(a), out);
}

/* ---- cluster ops: local part, then publish */

static int b_broadcast(sio__adapter *a, const char *event, const sio_args *args,
                       const sio__bopts *o)
{
    if (!(o->flags & SIO__BC_LOCAL)) {
        bus_msg *m = publish((bus_adapter *)a, M_BROADCAST, SIZE_MAX);
        m->event = strdup(event);
        m->args = args_copy(args);
        copy_opts(m, o);
    }
    return INNER(a)->ops->broadcast(INNER(a), event, args, o);
}

static int b_broadcast_with_ack(sio__adapter *a, const char *event, const sio_args *args,
                                const sio__bopts *o, sio__bcast_ack *k)
{
    bus_adapter *b = (bus_adapter *)a;
    if (!(o->flags & SIO__BC_LOCAL)) {
        bus_req *q = req_new(b, M_BROADCAST, 0, o->timeout);
        q->k = k;
        sio__bcast_ack_ref(k);
        bus_msg *m = publish(b, M_BROADCAST, SIZE_MAX);
        m->event = strdup(event);
        m->args = args_copy(args);
        m->req = q->id;
        copy_opts(m, o);
    }
    return INNER(a)->ops->broadcast_with_ack(INNER(a), event, args, o, k);
}

static void publish_rooms(bus_adapter *b, int type, const sio__bopts *o, char *const *rooms,
                          size_t n)
{
    if (o->flags & SIO__BC_LOCAL)
        return;
    bus_msg *m = publish(b, type, SIZE_MAX);
    copy_opts(m, o);
    m->rooms = strv_copy(rooms, n);
    m->nrooms = n;
}

static int b_add_sockets(sio__adapter *a, const sio__bopts *o, char *const *rooms, size_t n)
{
    publish_rooms((bus_adapter *)a, M_JOIN, o, rooms, n);
    return INNER(a)->ops->add_sockets(INNER(a), o, rooms, n);
}

static int b_del_sockets(sio__adapter *a, const sio__bopts *o, char *const *rooms, size_t n)
{
    publish_rooms((bus_adapter *)a, M_LEAVE, o, rooms, n);
    return INNER(a)->ops->del_sockets(INNER(a), o, rooms, n);
}

static int b_disconnect_sockets(sio__adapter *a, const sio__bopts *o, int close)
{
    if (!(o->flags & SIO__BC_LOCAL)) {
        bus_msg *m = publish((bus_adapter *)a, M_DISCONNECT, SIZE_MAX);
        copy_opts(m, o);
        m->close = close;
    }
    return INNER(a)->ops->disconnect_sockets(INNER(a), o, close);
}

/* The local part of fetch_sockets lands in the request's result. */
static void local_fetched(int err, sio_fetch_result *r, void *data)
{
    *(sio_fetch_result **)data = r;
}

static int b_fetch_sockets(sio__adapter *a, const sio__bopts *o, sio__fetch_done done, void *data)
{
    bus_adapter *b = (bus_adapter *)a;
    sio_fetch_result *r = NULL;
    int rc = INNER(a)->ops->fetch_sockets(INNER(a), o, local_fetched, &r);
    if (rc < 0)
        return rc;
    if ((o->flags & SIO__BC_LOCAL) || BUS.nodes <= 1) {
        done(0, r, data);
        return 0;
    }
    bus_req *q = req_new(b, M_FETCH, BUS.nodes - 1, 0);
    q->r = r;
    q->done = done;
    q->data = data;
    bus_msg *m = publish(b, M_FETCH, SIZE_MAX);
    m->req = q->id;
    copy_opts(m, o);
    return 0;
}

static int b_server_side_emit(sio__adapter *a, const char *event, const sio_args *args,
                              uint32_t timeout_ms, sio_server_side_ack_cb cb, void *data)
{
    bus_adapter *b = (bus_adapter *)a;
    bus_msg *m = publish(b, M_SERVER_SIDE, SIZE_MAX);
    m->event = strdup(event);
    m->args = args_copy(args);
    if (cb == NULL)
        return 0;
    bus_req *q = req_new(b, M_SERVER_SIDE, BUS.nodes - 1, timeout_ms);
    q->cb = cb;
    q->data = data;
    q->responses = sio_args_new();
    m->req = q->id;
    if (q->expected == 0)
        req_finish(q, 0); /* Node: ack(null, []) at once */
    return 0;
}

static int b_server_count(sio__adapter *a, sio__count_done done, void *data)
{
    done(0, BUS.nodes, data);
    return 0;
}

static void b_free(sio__adapter *a)
{
    bus_adapter *b = (bus_adapter *)a;
    while (!sio__list_empty(&b->reqs))
        req_finish(SIO_CONTAINER_OF(b->reqs.next, bus_req, node), SIO_ECLOSED);
    sio__list_remove(&b->link);
    b->inner->ops->free(b->inner);
    sio__adapter_fini(&b->base);
    free(b);
}

static const sio__adapter_ops bus_ops = {
    .add = b_add,
    .del = b_del,
    .del_all = b_del_all,
    .has = b_has,
    .socket_rooms = b_socket_rooms,
    .room_size = b_room_size,
    .rooms = b_rooms,
    .local_sockets = b_local_sockets,
    .broadcast = b_broadcast,
    .broadcast_with_ack = b_broadcast_with_ack,
    .add_sockets = b_add_sockets,
    .del_sockets = b_del_sockets,
    .disconnect_sockets = b_disconnect_sockets,
    .fetch_sockets = b_fetch_sockets,
    .server_side_emit = b_server_side_emit,
    .server_count = b_server_count,
    .persist_session = b_persist,
    .restore_session = b_restore,
    .stats = b_stats,
    .free = b_free,
};

/* The factory; data is the node index (cast). */
static sio_adapter *bus_adapter_new(sio_namespace *nsp, void *data)
{
    bus_adapter *b = calloc(1, sizeof *b);
    if (b == NULL || (b->inner = sio_mem_adapter_new(nsp, NULL)) == NULL) {
        free(b);
        return NULL;
    }
    sio__adapter_init(&b->base, &bus_ops, nsp);
    b->node = (size_t)(uintptr_t)data;
    sio__list_init(&b->reqs);
    sio__list_insert_tail(&BUS.adapters, &b->link);
    return &b->base;
}

/* ---- delivery: what a node does with a message from another */

/* A remote broadcast-with-ack's collector on the receiving node: counts
 * and answers go back to the requester over the bus. */
typedef struct reply_ack {
    sio__bcast_ack k; /* must be first */
    bus_adapter *b;
    size_t to;
    uint64_t req;
} reply_ack;

static void reply_count(sio__bcast_ack *k, size_t n)
{
    reply_ack *r = (reply_ack *)k;
    bus_msg *m = publish(r->b, M_CLIENT_COUNT, r->to);
    m->req = r->req;
    m->count = n;
}

static void reply_response(sio__bcast_ack *k, const sio_args *args)
{
    reply_ack *r = (reply_ack *)k;
    bus_msg *m = publish(r->b, M_ACK, r->to);
    m->req = r->req;
    m->args = args_copy(args);
}

static void reply_free(sio__bcast_ack *k)
{
    free(k);
}

static void on_broadcast(bus_adapter *b, bus_msg *m)
{
    if (m->req == 0) {
        b->inner->ops->broadcast(b->inner, m->event, m->args, &m->o);
        return;
    }
    reply_ack *r = calloc(1, sizeof *r);
    r->k = (sio__bcast_ack){
        .refs = 1, .count = reply_count, .response = reply_response, .free = reply_free};
    r->b = b;
    r->to = m->from;
    r->req = m->req;
    b->inner->ops->broadcast_with_ack(b->inner, m->event, m->args, &m->o, &r->k);
    sio__bcast_ack_unref(&r->k);
}

static void on_fetch_request(bus_adapter *b, bus_msg *m)
{
    sio_socket **v;
    size_t n;
    json_t *arr = json_array();
    if (b->inner->ops->local_sockets(b->inner, &m->o, &v, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, sio__socket_describe(v[i]));
        sio_sockets_release(v, n);
    }
    bus_msg *r = publish(b, M_FETCH_RESPONSE, m->from);
    r->req = m->req;
    r->sockets = arr;
}

/* serverSideEmit's receiving side: the answer goes back over the bus. */
typedef struct ss_ctx {
    bus_adapter *b;
    size_t to;
    uint64_t req;
} ss_ctx;

static void ss_reply(void *ctx, const sio_args *args)
{
    ss_ctx *c = ctx;
    bus_msg *m = publish(c->b, M_SERVER_SIDE_REPLY, c->to);
    m->req = c->req;
    m->args = args_copy(args);
}

static void on_server_side(bus_adapter *b, bus_msg *m)
{
    sio_server_ack *ack = NULL;
    if (m->req != 0) {
        ss_ctx *c = calloc(1, sizeof *c);
        *c = (ss_ctx){b, m->from, m->req};
        ack = sio__server_ack_new(ss_reply, free, c);
    }
    sio__namespace_server_side_dispatch(b->base.nsp, m->event, m->args, ack);
    sio_server_ack_release(ack);
}

/* An answer to one of b's requests. */
static void on_answer(bus_adapter *b, bus_msg *m)
{
    bus_req *q = req_find(b, m->req);
    if (q == NULL)
        return; /* timed out already */
    if (m->type == M_CLIENT_COUNT) {
        q->k->count(q->k, m->count);
    } else if (m->type == M_ACK) {
        q->k->response(q->k, m->args);
    } else if (m->type == M_FETCH_RESPONSE) {
        size_t i;
        json_t *d;
        json_array_foreach(m->sockets, i, d) sio__fetch_result_add_remote(q->r, d);
        if (++q->got == q->expected)
            req_finish(q, 0);
    } else if (m->type == M_SERVER_SIDE_REPLY) {
        sio__args_push_arg(q->responses, m->args, 0);
        if (++q->got == q->expected)
            req_finish(q, 0);
    }
}

static void deliver(bus_adapter *b, bus_msg *m)
{
    switch (m->type) {
    case M_BROADCAST:
        on_broadcast(b, m);
        break;
    case M_JOIN:
        b->inner->ops->add_sockets(b->inner, &m->o, m->rooms, m->nrooms);
        break;
    case M_LEAVE:
        b->inner->ops->del_sockets(b->inner, &m->o, m->rooms, m->nrooms);
        break;
    case M_DISCONNECT:
        b->inner->ops->disconnect_sockets(b->inner, &m->o, m->close);
        break;
    case M_FETCH:
        on_fetch_request(b, m);
        break;
    case M_SERVER_SIDE:
        on_server_side(b, m);
        break;
    default:
        on_answer(b, m);
        break;
    }
}

/* Delivers every queued message (and those they cause). */
static void bus_pump(void)
{
    while (!sio__list_empty(&BUS.queue)) {
        bus_msg *m = SIO_CONTAINER_OF(BUS.queue.next, bus_msg, node);
        sio__list_remove(&m->node);
        for (sio__list *it = BUS.adapters.next; it != &BUS.adapters;) {
            bus_adapter *b = SIO_CONTAINER_OF(it, bus_adapter, link);
            it = it->next; /* delivery may not free adapters, but be safe */
            if (b->node != m->from && !BUS.deaf[b->node] &&
                (m->to == SIZE_MAX || m->to == b->node) && strcmp(b->base.nsp->name, m->nsp) == 0)
                deliver(b, m);
        }
        msg_free(m);
    }
}

static void bus_teardown(void)
{
    while (!sio__list_empty(&BUS.queue)) {
        bus_msg *m = SIO_CONTAINER_OF(BUS.queue.next, bus_msg, node);
        sio__list_remove(&m->node);
        msg_free(m);
    }
}

static void bus_deafen(size_t node, int deaf)
{
    BUS.deaf[node] = deaf;
}

static void *bus_node(size_t i)
{
    BUS.nodes = i + 1;
    return (void *)(uintptr_t)i;
}

#endif
