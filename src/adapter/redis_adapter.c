/* The Redis adapter: local part through an inner in-memory adapter, the
 * cluster part through redis_proto's messages. See redis_adapter.h.
 *
 * Requests this node made wait in a list per namespace adapter, found by
 * request id when a response arrives; each has a timer at requestsTimeout
 * (or the broadcast's ack timeout). A request whose server count (PUBSUB
 * NUMSUB) is still being asked for cannot be freed before that answer
 * comes (the answer names it): it is marked finished instead and freed on
 * the answer, which the connection always gives (SIO_ECLOSED at worst).
 *
 * A server count asked while the command link is down waits for it, as
 * Node's does (node-redis queues a command while it reconnects, so
 * serverCount() and each request's count answer once Redis is back); the
 * wait ends at requestsTimeout at the latest (SIO_ETIMEDOUT), where Node
 * would wait for ever, so an outage holds no memory past that. */
#include "adapter/redis_adapter.h"

#include <stdio.h>
#include <string.h>

#include "adapter/redis_proto.h"
#include "core/alloc.h"
#include "core/error.h"

struct sio__rcluster {
    sio__rio io; /* the connection */
    void *io_data;
    char *key;          /* channel prefix */
    uint32_t timeout;   /* requestsTimeout */
    int specific;       /* publishOnSpecificResponseChannel */
    sio__list adapters; /* radapter.link */
    uint64_t malformed; /* dropped messages */
};

typedef struct radapter {
    sio__adapter base;   /* must be first */
    sio__adapter *inner; /* the in-memory adapter: the local part */
    sio__rcluster *c;
    sio__list link; /* in c->adapters */
    char uid[SIO__REDIS_UID_LEN + 1];
    sio__rchan ch;
    sio__list reqs;        /* rreq.link: requests awaiting answers */
    sio__list waits;       /* cwait.link: NUMSUBs waiting for the command link */
    sio__list remote_acks; /* racks.link: acks we answer for others */
} radapter;

/* A PUBSUB NUMSUB waiting for the command link to come back. */
typedef struct cwait {
    sio__list link; /* in a->waits */
    void (*done)(void *d, int err, long long n);
    void *d;
    sio__timer timer; /* requestsTimeout */
} cwait;

/* One request of ours. */
typedef struct rreq {
    sio__list link; /* in a->reqs (unlinked once finished) */
    radapter *a;    /* NULL once the adapter is gone */
    char id[SIO__REDIS_UID_LEN + 1];
    int type;           /* SIO__RT_* */
    long expected;      /* answers wanted; -1 until NUMSUB answered */
    long got;           /* answers received (Node's msgCount) */
    int numsub_pending; /* NUMSUB asked, not answered */
    int finished;       /* completed; freed when numsub_pending clears */
    sio__timer timer;
    uint32_t timeout; /* ms */
    json_t *msg;      /* request to publish once counted (owned) */
    /* REMOTE_FETCH */
    sio_fetch_result *fr;
    sio__fetch_done fdone;
    void *fdata;
    /* SERVER_SIDE_EMIT */
    sio_args *responses;
    sio_server_side_ack_cb scb;
    void *sdata;
    /* BROADCAST (acks) */
    sio__bcast_ack *k;
    /* ALL_ROOMS: the names so far as a set (keys, in arrival order) */
    json_t *rooms;
    sio__rooms_done rdone;
    void *rdata;
} rreq;

/* An ack collector for another node's BROADCAST request. */
typedef struct rack {
    sio__bcast_ack k; /* must be first */
    sio__list link;   /* in a->remote_acks */
    radapter *a;      /* NULL once the adapter is gone */
    char id[64];      /* their request id */
    char uid[64];     /* their uid (specific response channel) */
} rack;

static void say(sio__rcluster *c, const char *fmt, const char *x, const char *y)
{
    char line[512];
    snprintf(line, sizeof line, fmt, x, y);
    if (c->io.log)
        c->io.log(c->io_data, line);
}

/* uid2(6): [A-Za-z0-9_-], from the server's random bytes (all 'A' in the
 * unlikely case none came: ids stay well-formed, only less unique). */
static void new_id(const sio_server *srv, char out[SIO__REDIS_UID_LEN + 1])
{
    if (sio__random_id(srv, out, SIO__REDIS_UID_LEN) < 0)
        memset(out, 'A', SIO__REDIS_UID_LEN);
    out[SIO__REDIS_UID_LEN] = '\0';
}

static radapter *ra(sio__adapter *a)
{
    return (radapter *)a;
}
static const radapter *cra(const sio__adapter *a)
{
    return (const radapter *)a;
}

/* ---- publishing */

static void publish(radapter *a, const char *channel, const sio__buf *b)
{
    a->c->io.publish(a->c->io_data, channel, b->data, b->len);
}

static int publish_json(radapter *a, const char *channel, json_t *obj)
{
    if (obj == NULL)
        return SIO_ENOMEM;
    sio__buf b;
    sio__buf_init(&b, 0);
    int rc = sio__renc_json(&b, obj);
    if (rc == 0)
        publish(a, channel, &b);
    sio__buf_free(&b);
    json_decref(obj);
    return rc;
}

/* A response to the node that asked (its channel if we are told to). */
static void respond_json(radapter *a, const char *uid, json_t *obj)
{
    sio__buf ch;
    sio__buf_init(&ch, 0);
    if (sio__rchan_response_to(&a->ch, a->c->specific, uid, &ch) == 0)
        publish_json(a, sio__buf_cstr(&ch), obj);
    else
        json_decref(obj);
    sio__buf_free(&ch);
}

/* ---- local ops: the inner adapter's */

static int r_add(sio__adapter *a, sio_socket *s, const char *room)
{
    return ra(a)->inner->ops->add(ra(a)->inner, s, room);
}
static void r_del(sio__adapter *a, sio_socket *s, const char *room)
{
    ra(a)->inner->ops->del(ra(a)->inner, s, room);
}
static void r_del_all(sio__adapter *a, sio_socket *s)
{
    ra(a)->inner->ops->del_all(ra(a)->inner, s);
}
static int r_has(const sio__adapter *a, const sio_socket *s, const char *room)
{
    return cra(a)->inner->ops->has(cra(a)->inner, s, room);
}
static size_t r_socket_rooms(const sio__adapter *a, const sio_socket *s, const char **out,
                             size_t max)
{
    return cra(a)->inner->ops->socket_rooms(cra(a)->inner, s, out, max);
}
static size_t r_room_size(const sio__adapter *a, const char *room)
{
    return cra(a)->inner->ops->room_size(cra(a)->inner, room);
}
static size_t r_rooms(const sio__adapter *a, const char **out, size_t max)
{
    return cra(a)->inner->ops->rooms(cra(a)->inner, out, max);
}
static int r_local_sockets(sio__adapter *a, const sio__bopts *o, sio_socket ***out, size_t *n)
{
    return ra(a)->inner->ops->local_sockets(ra(a)->inner, o, out, n);
}
static int r_persist(sio__adapter *a, sio_socket *s)
{
    return ra(a)->inner->ops->persist_session(ra(a)->inner, s);
}
static int r_restore(sio__adapter *a, const char *pid, const char *offset, sio__session **out)
{
    return ra(a)->inner->ops->restore_session(ra(a)->inner, pid, offset, out);
}
static void r_stats(const sio__adapter *a, sio_recovery_stats *out)
{
    cra(a)->inner->ops->stats(cra(a)->inner, out);
}

/* ---- requests of ours */

static void req_free(rreq *q)
{
    sio__timer_stop(&q->timer);
    json_decref(q->msg);
    if (q->fr)
        sio_fetch_result_free(q->fr);
    sio_args_free(q->responses);
    sio__bcast_ack_unref(q->k);
    json_decref(q->rooms);
    sio__free(q);
}

/* Unlinks q; frees it unless a NUMSUB answer is still to come. */
static void req_finish(rreq *q)
{
    if (!q->finished) {
        q->finished = 1;
        sio__list_remove(&q->link);
        sio__timer_stop(&q->timer);
    }
    if (!q->numsub_pending)
        req_free(q);
}

/* Completes an ALL_ROOMS request: the set's names, or err and none. */
static void rooms_complete(rreq *q, int err)
{
    size_t n = err ? 0 : json_object_size(q->rooms), i = 0;
    const char **v = sio__calloc(n ? n : 1, sizeof *v);
    const char *key;
    json_t *val;
    if (v == NULL)
        err = SIO_ENOMEM;
    json_object_foreach(err ? NULL : q->rooms, key, val) v[i++] = key;
    json_t *keep = json_incref(q->rooms); /* the names outlive req_finish */
    sio__rooms_done done = q->rdone;
    void *d = q->rdata;
    req_finish(q);
    done(err, err ? NULL : v, err ? 0 : n, d);
    sio__free(v);
    json_decref(keep);
}

/* Completes q with err (0: every answer in). */
static void req_complete(rreq *q, int err)
{
    if (q->finished)
        return;
    sio_namespace *nsp = q->a ? q->a->base.nsp : NULL;
    switch (q->type) {
    case SIO__RT_REMOTE_FETCH: {
        sio_fetch_result *fr = err ? NULL : q->fr;
        if (err == 0)
            q->fr = NULL;
        sio__fetch_done done = q->fdone;
        void *d = q->fdata;
        req_finish(q);
        done(err, fr, d);
        return;
    }
    case SIO__RT_SERVER_SIDE_EMIT: {
        sio_args *resp = q->responses;
        q->responses = NULL;
        sio_server_side_ack_cb cb = q->scb;
        void *d = q->sdata;
        req_finish(q);
        cb(nsp, err, resp, d);
        sio_args_free(resp);
        return;
    }
    case SIO__RT_ALL_ROOMS:
        rooms_complete(q, err);
        return;
    default: /* BROADCAST: the operator has its own timeout */
        req_finish(q);
    }
}

static void req_timer(sio__timer *t, void *data)
{
    rreq *q = data;
    req_complete(q, SIO_ETIMEDOUT);
}

static rreq *req_new(radapter *a, int type, uint32_t timeout)
{
    rreq *q = sio__calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->a = a;
    q->type = type;
    q->expected = -1;
    q->got = 1; /* Node counts itself */
    q->timeout = timeout;
    new_id(a->base.nsp->srv, q->id);
    sio__timer_init(&q->timer, req_timer, q);
    sio__list_insert_tail(&a->reqs, &q->link);
    sio_server *srv = a->base.nsp->srv;
    sio__timer_start(srv->env.timers, &q->timer, sio__now(srv) + timeout);
    return q;
}

static rreq *req_find(radapter *a, const char *id)
{
    for (sio__list *n = a->reqs.next; id && n != &a->reqs; n = n->next) {
        rreq *q = SIO_CONTAINER_OF(n, rreq, link);
        if (strcmp(q->id, id) == 0)
            return q;
    }
    return NULL;
}

static void cwait_fire(sio__timer *t, void *data)
{
    cwait *w = data;
    sio__list_remove(&w->link);
    w->done(w->d, SIO_ETIMEDOUT, 0);
    sio__free(w);
}

/* PUBSUB NUMSUB of a's request channel: done(d, err, n) exactly once
 * unless this returns < 0; while the link is down, once it is back (or
 * SIO_ETIMEDOUT at requestsTimeout). */
static int count_servers(radapter *a, void (*done)(void *d, int err, long long n), void *d)
{
    int rc = a->c->io.numsub(a->c->io_data, a->ch.request, done, d);
    if (rc != SIO_ECLOSED)
        return rc;
    cwait *w = sio__calloc(1, sizeof *w);
    if (w == NULL)
        return SIO_ENOMEM;
    w->done = done;
    w->d = d;
    sio__timer_init(&w->timer, cwait_fire, w);
    sio_server *srv = a->base.nsp->srv;
    sio__timer_start(srv->env.timers, &w->timer, sio__now(srv) + a->c->timeout);
    sio__list_insert_tail(&a->waits, &w->link);
    return 0;
}

/* Ends a's waiting counts: asked now (up) or failed with err. */
static void waits_end(radapter *a, int up, int err)
{
    sio__list todo;
    sio__list_init(&todo);
    while (!sio__list_empty(&a->waits)) { /* a callback may park new ones */
        sio__list *it = a->waits.next;
        sio__list_remove(it);
        sio__list_insert_tail(&todo, it);
    }
    while (!sio__list_empty(&todo)) {
        cwait *w = SIO_CONTAINER_OF(todo.next, cwait, link);
        sio__list_remove(&w->link);
        sio__timer_stop(&w->timer);
        int rc = up ? a->c->io.numsub(a->c->io_data, a->ch.request, w->done, w->d) : err;
        if (rc < 0)
            w->done(w->d, rc, 0);
        sio__free(w);
    }
}

void sio__rcluster_link_up(sio__rcluster *c)
{
    for (sio__list *it = c->adapters.next; it != &c->adapters; it = it->next)
        waits_end(SIO_CONTAINER_OF(it, radapter, link), 1, 0);
}

/* The server count came: publish the request or complete at once. */
static void req_counted(void *d, int err, long long n)
{
    rreq *q = d;
    q->numsub_pending = 0;
    if (q->finished) { /* timed out or the adapter went meanwhile */
        req_free(q);
        return;
    }
    if (err < 0)
        return; /* Redis is away: the timer answers with an error */
    /* Node: fetch waits for numSub answers counting itself, serverSideEmit
     * for numSub - 1 (the others only). */
    q->expected = q->type == SIO__RT_SERVER_SIDE_EMIT ? (long)n - 1 : (long)n;
    if (q->got >= q->expected) {
        req_complete(q, 0);
        return;
    }
    json_t *msg = q->msg;
    q->msg = NULL;
    publish_json(q->a, q->a->ch.request, msg);
}

/* Asks the server count for q (its request goes out when it comes). */
static int req_count(rreq *q)
{
    radapter *a = q->a;
    q->numsub_pending = 1;
    if (count_servers(a, req_counted, q) < 0)
        q->numsub_pending = 0; /* no memory: the timer answers */
    return 0;
}

/* ---- cluster ops */

static int r_broadcast(sio__adapter *base, const char *event, const sio_args *args,
                       const sio__bopts *o)
{
    radapter *a = ra(base);
    int rc = a->inner->ops->broadcast(a->inner, event, args, o);
    if (rc < 0 || (o->flags & SIO__BC_LOCAL))
        return rc;
    sio__buf msg, ch;
    sio__buf_init(&msg, 0);
    sio__buf_init(&ch, 0);
    rc = sio__renc_broadcast(&msg, a->uid, base->nsp->name, event, args, o);
    if (rc == 0)
        rc = sio__rchan_broadcast(&a->ch, o->rooms, o->nrooms, &ch);
    if (rc == 0)
        publish(a, sio__buf_cstr(&ch), &msg);
    sio__buf_free(&msg);
    sio__buf_free(&ch);
    return 0; /* delivered here; what Redis does not get is counted there */
}

static int r_broadcast_with_ack(sio__adapter *base, const char *event, const sio_args *args,
                                const sio__bopts *o, sio__bcast_ack *k)
{
    radapter *a = ra(base);
    if (o->flags & SIO__BC_LOCAL)
        return a->inner->ops->broadcast_with_ack(a->inner, event, args, o, k);
    rreq *q = req_new(a, SIO__RT_BROADCAST, o->timeout ? o->timeout : 1);
    if (q == NULL)
        return SIO_ENOMEM;
    sio__bcast_ack_ref(k);
    q->k = k;
    int rc = a->inner->ops->broadcast_with_ack(a->inner, event, args, o, k);
    if (rc < 0) {
        req_finish(q);
        return rc;
    }
    sio__buf msg;
    sio__buf_init(&msg, 0);
    if (sio__renc_broadcast_request(&msg, a->uid, q->id, base->nsp->name, event, args, o) == 0)
        publish(a, a->ch.request, &msg);
    sio__buf_free(&msg);
    return 0;
}

/* REMOTE_JOIN / REMOTE_LEAVE / REMOTE_DISCONNECT with selectors. */
static int publish_sockets_op(radapter *a, int type, const sio__bopts *o, char *const *rooms,
                              size_t n, int close)
{
    json_t *j = sio__rjson_request(a->uid, NULL, type);
    if (j == NULL || json_object_set_new(j, "opts", sio__rjson_selector(o)) < 0)
        goto fail;
    if (type == SIO__RT_REMOTE_DISCONNECT) {
        if (json_object_set_new(j, "close", json_boolean(close)) < 0)
            goto fail;
    } else if (json_object_set_new(j, "rooms", sio__rjson_strings(rooms, n)) < 0) {
        goto fail;
    }
    return publish_json(a, a->ch.request, j);
fail:
    json_decref(j);
    return SIO_ENOMEM;
}

static int r_add_sockets(sio__adapter *base, const sio__bopts *o, char *const *rooms, size_t n)
{
    radapter *a = ra(base);
    int rc = a->inner->ops->add_sockets(a->inner, o, rooms, n);
    /* a socket here over a rooms limit does not stop the other nodes' */
    if ((rc == 0 || rc == SIO_ELIMIT) && !(o->flags & SIO__BC_LOCAL))
        publish_sockets_op(a, SIO__RT_REMOTE_JOIN, o, rooms, n, 0);
    return rc;
}

static int r_del_sockets(sio__adapter *base, const sio__bopts *o, char *const *rooms, size_t n)
{
    radapter *a = ra(base);
    int rc = a->inner->ops->del_sockets(a->inner, o, rooms, n);
    if (rc == 0 && !(o->flags & SIO__BC_LOCAL))
        publish_sockets_op(a, SIO__RT_REMOTE_LEAVE, o, rooms, n, 0);
    return rc;
}

static int r_disconnect_sockets(sio__adapter *base, const sio__bopts *o, int close)
{
    radapter *a = ra(base);
    /* published first: the local part may free sockets the selector names */
    if (!(o->flags & SIO__BC_LOCAL))
        publish_sockets_op(a, SIO__RT_REMOTE_DISCONNECT, o, NULL, 0, close);
    return a->inner->ops->disconnect_sockets(a->inner, o, close);
}

/* The local sockets matching o: into fr, or as Node's descriptors into
 * descs. */
static int add_local_sockets(radapter *a, const sio__bopts *o, sio_fetch_result *fr, json_t *descs)
{
    sio_socket **v;
    size_t n;
    int rc = a->inner->ops->local_sockets(a->inner, o, &v, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (fr)
            rc = sio__fetch_result_add_local(fr, v[i]);
        else
            rc = json_array_append_new(descs, sio__socket_describe(v[i])) < 0 ? SIO_ENOMEM : 0;
    }
    sio_sockets_release(v, n);
    return rc;
}

static int r_fetch_sockets(sio__adapter *base, const sio__bopts *o, sio__fetch_done done,
                           void *data)
{
    radapter *a = ra(base);
    sio_fetch_result *fr = sio__fetch_result_new(base->nsp);
    if (fr == NULL || add_local_sockets(a, o, fr, NULL) < 0) {
        if (fr)
            sio_fetch_result_free(fr);
        return SIO_ENOMEM;
    }
    if (o->flags & SIO__BC_LOCAL) {
        done(0, fr, data);
        return 0;
    }
    rreq *q = req_new(a, SIO__RT_REMOTE_FETCH, a->c->timeout);
    json_t *j = q ? sio__rjson_request(a->uid, q->id, SIO__RT_REMOTE_FETCH) : NULL;
    if (j == NULL || json_object_set_new(j, "opts", sio__rjson_selector(o)) < 0) {
        json_decref(j);
        sio_fetch_result_free(fr);
        if (q)
            req_finish(q);
        return SIO_ENOMEM;
    }
    q->msg = j;
    q->fr = fr;
    q->fdone = done;
    q->fdata = data;
    return req_count(q);
}

/* [event, ...args] as plain JSON (a Buffer as Node's JSON form; args
 * NULL: none). */
static json_t *event_json(const char *event, const sio_args *args)
{
    json_t *data = args ? sio__rjson_value(args->arr, args->att, args->natt) : json_array();
    if (data == NULL || json_array_insert_new(data, 0, json_string(event)) < 0) {
        json_decref(data);
        return NULL;
    }
    return data;
}

static int r_server_side_emit(sio__adapter *base, const char *event, const sio_args *args,
                              uint32_t timeout_ms, sio_server_side_ack_cb cb, void *data)
{
    radapter *a = ra(base);
    json_t *payload = event_json(event, args);
    if (payload == NULL)
        return SIO_ENOMEM;
    if (cb == NULL) {
        json_t *j = sio__rjson_request(a->uid, NULL, SIO__RT_SERVER_SIDE_EMIT);
        if (j == NULL || json_object_set_new(j, "data", payload) < 0) {
            json_decref(j);
            return SIO_ENOMEM;
        }
        return publish_json(a, a->ch.request, j);
    }
    rreq *q = req_new(a, SIO__RT_SERVER_SIDE_EMIT, timeout_ms ? timeout_ms : a->c->timeout);
    json_t *j = q ? sio__rjson_request(a->uid, q->id, SIO__RT_SERVER_SIDE_EMIT) : NULL;
    if (q)
        q->responses = sio_args_new();
    if (j == NULL || q->responses == NULL || json_object_set_new(j, "data", payload) < 0) {
        json_decref(j);
        if (q)
            req_finish(q);
        return SIO_ENOMEM;
    }
    q->got = 0;
    q->msg = j;
    q->scb = cb;
    q->sdata = data;
    return req_count(q);
}

typedef struct count_req {
    sio__count_done done;
    void *data;
} count_req;

static void counted(void *d, int err, long long n)
{
    count_req *q = d;
    q->done(err, err < 0 ? 0 : (size_t)(n > 0 ? n : 0), q->data);
    sio__free(q);
}

static int r_server_count(sio__adapter *base, sio__count_done done, void *data)
{
    radapter *a = ra(base);
    count_req *q = sio__malloc(sizeof *q);
    if (q == NULL)
        return SIO_ENOMEM;
    q->done = done;
    q->data = data;
    int rc = count_servers(a, counted, q);
    if (rc < 0)
        sio__free(q);
    return rc;
}

/* allRooms(): this node's rooms, then each other node's ALL_ROOMS answer;
 * with one node, at once (Node: numSub <= 1). */
static int r_all_rooms(sio__adapter *base, sio__rooms_done done, void *data)
{
    radapter *a = ra(base);
    const char **v = NULL;
    size_t n = 0;
    rreq *q = req_new(a, SIO__RT_ALL_ROOMS, a->c->timeout);
    json_t *j = q ? sio__rjson_request(a->uid, q->id, SIO__RT_ALL_ROOMS) : NULL;
    int rc = j ? sio__adapter_local_rooms(a->inner, &v, &n) : SIO_ENOMEM;
    if (q && rc == 0 && (q->rooms = json_object()) == NULL)
        rc = SIO_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (json_object_set_nocheck(q->rooms, v[i], json_null()) < 0)
            rc = SIO_ENOMEM;
    sio__free(v);
    if (rc < 0) {
        json_decref(j);
        if (q)
            req_finish(q);
        return rc;
    }
    q->msg = j;
    q->rdone = done;
    q->rdata = data;
    return req_count(q);
}

/* ---- acks we collect for another node's BROADCAST */

static void rack_count(sio__bcast_ack *k, size_t n)
{
    rack *r = (rack *)k;
    if (r->a == NULL)
        return;
    json_t *j = sio__rjson_response(SIO__RT_BROADCAST_CLIENT_COUNT, r->id);
    if (j && json_object_set_new(j, "clientCount", json_integer((json_int_t)n)) == 0)
        respond_json(r->a, r->uid, j);
    else
        json_decref(j);
}

static void rack_response(sio__bcast_ack *k, const sio_args *args)
{
    rack *r = (rack *)k;
    if (r->a == NULL)
        return;
    sio__buf msg, ch;
    sio__buf_init(&msg, 0);
    sio__buf_init(&ch, 0);
    if (sio__renc_broadcast_ack(&msg, r->id, args) == 0 &&
        sio__rchan_response_to(&r->a->ch, r->a->c->specific, r->uid, &ch) == 0)
        publish(r->a, sio__buf_cstr(&ch), &msg);
    sio__buf_free(&msg);
    sio__buf_free(&ch);
}

static void rack_free(sio__bcast_ack *k)
{
    rack *r = (rack *)k;
    if (r->a)
        sio__list_remove(&r->link);
    sio__free(r);
}

/* ---- requests from other nodes */

static void log_drop(radapter *a, const char *what, sio__slice channel)
{
    char ch[160];
    snprintf(ch, sizeof ch, "%.*s", (int)(channel.len < 120 ? channel.len : 120), channel.base);
    a->c->malformed++;
    say(a->c, "sioc: Redis adapter: dropped a malformed %s on %s", what, ch);
}

/* Node: a request with opts applies to the matching sockets; with sid to
 * that one socket, and is answered. */
static void on_sockets_op(radapter *a, const sio__rmsg *m)
{
    sio__bopts o;
    if (sio__rmsg_bopts(m, "opts", &o) == 0) {
        o.flags |= SIO__BC_LOCAL;
        char **rooms = NULL;
        size_t n = 0;
        if (m->type == SIO__RT_REMOTE_DISCONNECT)
            a->inner->ops->disconnect_sockets(a->inner, &o,
                                              json_is_true(json_object_get(m->obj, "close")));
        else if (sio__rmsg_strings(m, "rooms", &rooms, &n) == 0 && m->type == SIO__RT_REMOTE_JOIN)
            a->inner->ops->add_sockets(a->inner, &o, rooms, n);
        else if (rooms)
            a->inner->ops->del_sockets(a->inner, &o, rooms, n);
        sio__rstrv_free(rooms, n);
        sio__rbopts_fini(&o);
        return;
    }
    const char *sid = json_string_value(json_object_get(m->obj, "sid"));
    const char *room = json_string_value(json_object_get(m->obj, "room"));
    sio_socket *s = sid ? sio_namespace_socket(a->base.nsp, sid) : NULL;
    if (s == NULL)
        return;
    if (m->type == SIO__RT_REMOTE_DISCONNECT)
        sio_socket_disconnect(s, json_is_true(json_object_get(m->obj, "close")));
    else if (room && m->type == SIO__RT_REMOTE_JOIN)
        sio_socket_join(s, room);
    else if (room)
        sio_socket_leave(s, room);
    if (m->request_id)
        respond_json(a, m->uid, sio__rjson_response(-1, m->request_id));
}

/* SOCKETS (ids), ALL_ROOMS, REMOTE_FETCH (descriptors). */
static void on_query(radapter *a, const sio__rmsg *m)
{
    if (m->request_id == NULL || req_find(a, m->request_id))
        return; /* our own */
    json_t *j = sio__rjson_response(-1, m->request_id);
    if (j == NULL)
        return;
    json_t *list = json_array();
    if (m->type == SIO__RT_ALL_ROOMS) {
        const char **v = NULL;
        size_t n = 0;
        sio__adapter_local_rooms(a->inner, &v, &n);
        for (size_t i = 0; list && i < n; i++)
            json_array_append_new(list, json_string(v[i]));
        sio__free(v);
        json_object_set_new(j, "rooms", list);
    } else {
        sio__bopts o;
        int rc = m->type == SIO__RT_SOCKETS ? 0 : sio__rmsg_bopts(m, "opts", &o);
        if (m->type == SIO__RT_SOCKETS) {
            memset(&o, 0, sizeof o);
            rc = sio__rmsg_strings(m, "rooms", &o.rooms, &o.nrooms);
        }
        if (rc == 0 && list)
            add_local_sockets(a, &o, NULL, list);
        if (rc == 0)
            sio__rbopts_fini(&o);
        if (m->type == SIO__RT_SOCKETS) /* ids only */
            for (size_t i = 0; list && i < json_array_size(list); i++)
                json_array_set(list, i, json_object_get(json_array_get(list, i), "id"));
        json_object_set_new(j, "sockets", list);
    }
    respond_json(a, m->uid, j);
}

/* The answer to another node's serverSideEmit: its shared response
 * channel, always (Node 8.3 does not use publishResponse there). */
typedef struct sse_ctx {
    radapter *a;
    char id[64];
} sse_ctx;

static void sse_reply(void *ctx, const sio_args *args)
{
    sse_ctx *x = ctx;
    const json_t *first = args ? json_array_get(args->arr, 0) : NULL;
    json_t *j = sio__rjson_response(SIO__RT_SERVER_SIDE_EMIT, x->id);
    json_t *v = first ? sio__rjson_value(first, args->att, args->natt) : json_null();
    if (j && v && json_object_set_new(j, "data", v) == 0)
        publish_json(x->a, x->a->ch.response, j);
    else {
        json_decref(j);
        json_decref(v);
    }
}

static void sse_free(void *ctx)
{
    sio__free(ctx);
}

static void on_server_side_emit(radapter *a, const sio__rmsg *m)
{
    if (strcmp(m->uid, a->uid) == 0)
        return;
    sio_args *args;
    if (sio__rmsg_args(m, "data", 1, &args) < 0 || !json_is_string(json_array_get(args->arr, 0))) {
        sio_args_free(args);
        return;
    }
    char *event = sio__strdup(json_string_value(json_array_get(args->arr, 0)));
    json_array_remove(args->arr, 0);
    sio_server_ack *ack = NULL;
    sse_ctx *x = m->request_id ? sio__calloc(1, sizeof *x) : NULL;
    if (x) {
        x->a = a;
        snprintf(x->id, sizeof x->id, "%s", m->request_id);
        ack = sio__server_ack_new(sse_reply, sse_free, x);
        if (ack == NULL)
            sio__free(x);
    }
    if (event)
        sio__namespace_server_side_dispatch(a->base.nsp, event, args, ack);
    sio_server_ack_release(ack); /* ours; a handler that answers later retained it */
    sio__free(event);
    sio_args_free(args);
}

static void on_broadcast_request(radapter *a, const sio__rmsg *m)
{
    if (m->request_id == NULL || req_find(a, m->request_id))
        return; /* ours */
    const char *nsp, *event;
    sio_args *args;
    sio__bopts o;
    if (sio__rmsg_event(m, "packet", &nsp, &event, &args) < 0)
        return;
    rack *r = sio__calloc(1, sizeof *r);
    if (r == NULL || sio__rmsg_bopts(m, "opts", &o) < 0) {
        sio__free(r);
        sio_args_free(args);
        return;
    }
    o.flags |= SIO__BC_LOCAL;
    r->k.refs = 1;
    r->k.count = rack_count;
    r->k.response = rack_response;
    r->k.free = rack_free;
    r->a = a;
    snprintf(r->id, sizeof r->id, "%s", m->request_id);
    snprintf(r->uid, sizeof r->uid, "%s", m->uid);
    sio__list_insert_tail(&a->remote_acks, &r->link);
    a->inner->ops->broadcast_with_ack(a->inner, event, args, &o, &r->k);
    sio__bcast_ack_unref(&r->k);
    sio__rbopts_fini(&o);
    sio_args_free(args);
}

static void on_request(radapter *a, const sio__rmsg *m)
{
    switch (m->type) {
    case SIO__RT_SOCKETS:
    case SIO__RT_ALL_ROOMS:
    case SIO__RT_REMOTE_FETCH:
        on_query(a, m);
        break;
    case SIO__RT_REMOTE_JOIN:
    case SIO__RT_REMOTE_LEAVE:
    case SIO__RT_REMOTE_DISCONNECT:
        if (strcmp(m->uid, a->uid) != 0) /* ours ran locally already */
            on_sockets_op(a, m);
        break;
    case SIO__RT_SERVER_SIDE_EMIT:
        on_server_side_emit(a, m);
        break;
    case SIO__RT_BROADCAST:
        on_broadcast_request(a, m);
        break;
    default:
        break; /* responses have no business here */
    }
}

/* ---- responses to our requests */

static void on_fetch_response(rreq *q, const sio__rmsg *m)
{
    q->got++;
    const json_t *socks = json_object_get(m->obj, "sockets");
    if (!json_is_array(socks))
        return;
    for (size_t i = 0; i < json_array_size(socks); i++)
        sio__fetch_result_add_remote(q->fr, json_array_get(socks, i));
    if (q->expected >= 0 && q->got >= q->expected)
        req_complete(q, 0);
}

static void on_sse_response(rreq *q, const sio__rmsg *m)
{
    json_t *v = json_object_get(m->obj, "data");
    sio_args_push(q->responses, v ? json_incref(v) : json_null());
    q->got++;
    if (q->expected >= 0 && q->got >= q->expected)
        req_complete(q, 0);
}

/* Node counts every answer, and adds its rooms if it has a list. */
static void on_rooms_response(rreq *q, const sio__rmsg *m)
{
    q->got++;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(m->obj, "rooms"), i, r)
    {
        if (json_is_string(r))
            json_object_set_nocheck(q->rooms, json_string_value(r), json_null());
    }
    if (q->expected >= 0 && q->got >= q->expected)
        req_complete(q, 0);
}

static void on_ack_response(rreq *q, const sio__rmsg *m)
{
    if (m->type == SIO__RT_BROADCAST_CLIENT_COUNT) {
        const json_t *n = json_object_get(m->obj, "clientCount");
        if (json_is_integer(n) && json_integer_value(n) >= 0)
            q->k->count(q->k, (size_t)json_integer_value(n));
    } else if (m->type == SIO__RT_BROADCAST_ACK) {
        sio_args *args;
        if (sio__rmsg_args(m, "packet", 0, &args) == 0) {
            q->k->response(q->k, args);
            sio_args_free(args);
        }
    }
}

static void on_response(radapter *a, const sio__rmsg *m)
{
    rreq *q = req_find(a, m->request_id);
    if (q == NULL)
        return;
    switch (q->type) {
    case SIO__RT_REMOTE_FETCH:
        on_fetch_response(q, m);
        break;
    case SIO__RT_SERVER_SIDE_EMIT:
        on_sse_response(q, m);
        break;
    case SIO__RT_ALL_ROOMS:
        on_rooms_response(q, m);
        break;
    case SIO__RT_BROADCAST:
        on_ack_response(q, m);
        break;
    default:
        break;
    }
}

/* ---- messages */

static void on_broadcast_message(radapter *a, sio__slice channel, sio__slice payload)
{
    sio__slice room;
    if (sio__rchan_room(&a->ch, channel, &room) < 0)
        return;
    if (room.len) { /* Node: ignore rooms we do not have */
        char *r = sio__strndup(room.base, room.len);
        size_t n = r ? a->inner->ops->room_size(a->inner, r) : 0;
        sio__free(r);
        if (n == 0)
            return;
    }
    sio__rmsg m;
    if (sio__rmsg_decode_broadcast(payload.base, payload.len, &m) < 0) {
        log_drop(a, "broadcast", channel);
        return;
    }
    const char *nsp, *event;
    sio_args *args = NULL;
    sio__bopts o;
    int rc = strcmp(m.uid, a->uid) == 0 ? 1 : sio__rmsg_event(&m, "packet", &nsp, &event, &args);
    if (rc == 0 && strcmp(nsp, a->base.nsp->name) == 0 && sio__rmsg_bopts(&m, "opts", &o) == 0) {
        o.flags |= SIO__BC_LOCAL;
        a->inner->ops->broadcast(a->inner, event, args, &o);
        sio__rbopts_fini(&o);
    } else if (rc < 0) {
        log_drop(a, "broadcast", channel);
    }
    sio_args_free(args);
    sio__rmsg_free(&m);
}

static void on_message(radapter *a, sio__slice channel, sio__slice payload)
{
    if (sio__slice_eq(channel, a->ch.request) || sio__slice_eq(channel, a->ch.response) ||
        sio__slice_eq(channel, a->ch.specific)) {
        int req = sio__slice_eq(channel, a->ch.request);
        sio__rmsg m;
        if (sio__rmsg_decode_request(payload.base, payload.len, &m) < 0) {
            log_drop(a, req ? "request" : "response", channel);
            return;
        }
        if (req)
            on_request(a, &m);
        else
            on_response(a, &m);
        sio__rmsg_free(&m);
        return;
    }
    on_broadcast_message(a, channel, payload);
}

void sio__rcluster_message(sio__rcluster *c, sio__slice channel, sio__slice payload)
{
    for (sio__list *n = c->adapters.next; n != &c->adapters; n = n->next) {
        radapter *a = SIO_CONTAINER_OF(n, radapter, link);
        size_t blen = strlen(a->ch.bcast), rlen = strlen(a->ch.request),
               plen = strlen(a->ch.response);
        int mine = (channel.len >= blen && memcmp(channel.base, a->ch.bcast, blen) == 0) ||
                   (channel.len == rlen && memcmp(channel.base, a->ch.request, rlen) == 0) ||
                   (channel.len >= plen && memcmp(channel.base, a->ch.response, plen) == 0);
        if (mine) {
            on_message(a, channel, payload);
            return;
        }
    }
}

/* ---- lifetime */

static void r_free(sio__adapter *base)
{
    radapter *a = ra(base);
    sio__rcluster *c = a->c;
    c->io.unsubscribe(c->io_data, a->ch.request, 0);
    c->io.unsubscribe(c->io_data, a->ch.response, 0);
    c->io.unsubscribe(c->io_data, a->ch.specific, 0);
    sio__buf pat;
    sio__buf_init(&pat, 0);
    if (sio__buf_appendf(&pat, "%s*", a->ch.bcast) == 0)
        c->io.unsubscribe(c->io_data, sio__buf_cstr(&pat), 1);
    sio__buf_free(&pat);
    while (!sio__list_empty(&a->reqs)) {
        rreq *q = SIO_CONTAINER_OF(a->reqs.next, rreq, link);
        int kept = q->numsub_pending; /* then req_complete does not free it */
        req_complete(q, SIO_ECLOSED);
        if (kept)
            q->a = NULL;
    }
    waits_end(a, 0, SIO_ECLOSED); /* after the requests: their counts free them */
    while (!sio__list_empty(&a->remote_acks)) {
        rack *r = SIO_CONTAINER_OF(a->remote_acks.next, rack, link);
        sio__list_remove(&r->link);
        r->a = NULL;
    }
    sio__list_remove(&a->link);
    a->inner->ops->free(a->inner);
    sio__rchan_fini(&a->ch);
    sio__adapter_fini(&a->base);
    sio__free(a);
}

static const sio__adapter_ops redis_ops = {
    .add = r_add,
    .del = r_del,
    .del_all = r_del_all,
    .has = r_has,
    .socket_rooms = r_socket_rooms,
    .room_size = r_room_size,
    .rooms = r_rooms,
    .local_sockets = r_local_sockets,
    .broadcast = r_broadcast,
    .broadcast_with_ack = r_broadcast_with_ack,
    .add_sockets = r_add_sockets,
    .del_sockets = r_del_sockets,
    .disconnect_sockets = r_disconnect_sockets,
    .fetch_sockets = r_fetch_sockets,
    .server_side_emit = r_server_side_emit,
    .server_count = r_server_count,
    .all_rooms = r_all_rooms,
    .persist_session = r_persist,
    .restore_session = r_restore,
    .stats = r_stats,
    .free = r_free,
};

static int subscribe_all(radapter *a)
{
    sio__rcluster *c = a->c;
    sio__buf pat;
    sio__buf_init(&pat, 0);
    int rc = sio__buf_appendf(&pat, "%s*", a->ch.bcast);
    if (rc == 0)
        rc = c->io.subscribe(c->io_data, sio__buf_cstr(&pat), 1);
    if (rc == 0)
        rc = c->io.subscribe(c->io_data, a->ch.request, 0);
    if (rc == 0)
        rc = c->io.subscribe(c->io_data, a->ch.response, 0);
    if (rc == 0)
        rc = c->io.subscribe(c->io_data, a->ch.specific, 0);
    sio__buf_free(&pat);
    return rc;
}

sio_adapter *sio__rcluster_factory(sio_namespace *nsp, void *cluster)
{
    sio__rcluster *c = cluster;
    radapter *a = sio__calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    sio__adapter_init(&a->base, &redis_ops, nsp);
    a->c = c;
    sio__list_init(&a->reqs);
    sio__list_init(&a->waits);
    sio__list_init(&a->remote_acks);
    sio__list_insert_tail(&c->adapters, &a->link);
    new_id(nsp->srv, a->uid);
    a->inner = sio_mem_adapter_new(nsp, NULL);
    if (a->inner == NULL || sio__rchan_init(&a->ch, c->key, nsp->name, a->uid) < 0 ||
        subscribe_all(a) < 0) {
        if (a->inner)
            a->inner->ops->free(a->inner);
        sio__rchan_fini(&a->ch);
        sio__list_remove(&a->link);
        sio__adapter_fini(&a->base);
        sio__free(a);
        return NULL;
    }
    return &a->base;
}

sio__rcluster *sio__rcluster_new(const sio_redis_options *opts, const sio__rio *io, void *io_data)
{
    sio__rcluster *c = sio__calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->io = *io;
    c->io_data = io_data;
    c->key = sio__strdup(opts->key ? opts->key : "socket.io");
    c->timeout = opts->requests_timeout ? opts->requests_timeout : 5000;
    c->specific = opts->publish_on_specific_response_channel != 0;
    sio__list_init(&c->adapters);
    if (c->key == NULL) {
        sio__free(c);
        return NULL;
    }
    return c;
}

uint64_t sio__rcluster_malformed(const sio__rcluster *c)
{
    return c->malformed;
}

void sio__rcluster_free(sio__rcluster *c)
{
    if (c == NULL)
        return;
    sio__free(c->key);
    sio__free(c);
}
