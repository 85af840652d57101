/* The cluster-facing API (Node's BroadcastOperator.emit with an ack,
 * fetchSockets and RemoteSocket, serverSideEmit, serverCount): thin
 * layers over the adapter ops, so the same calls reach other servers
 * when the namespace's adapter is a cluster adapter.
 *
 * Broadcast with acks is Node's checkCompleteness: the adapter reports how
 * many clients each server sent to and each client's answer; serverCount
 * says how many servers will report. The callback runs from a timer only,
 * armed at the timeout and moved to "now" once every answer is in, so it
 * never runs inside the emit call (Node: a promise callback). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "adapter/adapter.h"
#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_internal.h"

/* ---- fetchSockets results */

struct sio_remote_socket {
    sio_namespace *nsp; /* where it lives */
    sio_socket *local;  /* this server's socket (referenced), or NULL */
    json_t *desc;       /* another server's {id, handshake, rooms, data} */
    json_t *hs;         /* local: handshake built on first use */
    json_t *rooms;      /* local: rebuilt by each sio_remote_socket_rooms */
};

struct sio_fetch_result {
    sio_namespace *nsp;
    sio_remote_socket *v; /* entries, in arrival order */
    size_t n, cap;
};

sio_fetch_result *sio__fetch_result_new(sio_namespace *nsp)
{
    sio_fetch_result *r = sio__calloc(1, sizeof *r);
    if (r != NULL)
        r->nsp = nsp;
    return r;
}

/* A new zeroed entry at the end of r, or NULL. */
static sio_remote_socket *push_entry(sio_fetch_result *r)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 8;
        sio_remote_socket *nv = sio__realloc(r->v, ncap * sizeof *nv);
        if (nv == NULL)
            return NULL;
        r->v = nv;
        r->cap = ncap;
    }
    sio_remote_socket *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->nsp = r->nsp;
    return e;
}

int sio__fetch_result_add_local(sio_fetch_result *r, sio_socket *s)
{
    sio_remote_socket *e = push_entry(r);
    if (e == NULL)
        return SIO_ENOMEM;
    sio_socket_ref(s);
    e->local = s;
    return 0;
}

int sio__fetch_result_add_remote(sio_fetch_result *r, json_t *desc)
{
    if (!json_is_string(json_object_get(desc, "id")))
        return SIO_EINVAL;
    sio_remote_socket *e = push_entry(r);
    if (e == NULL)
        return SIO_ENOMEM;
    e->desc = json_incref(desc);
    return 0;
}

size_t sio_fetch_result_count(const sio_fetch_result *r)
{
    return r ? r->n : 0;
}

sio_remote_socket *sio_fetch_result_get(const sio_fetch_result *r, size_t i)
{
    return r && i < r->n ? &r->v[i] : NULL;
}

void sio_fetch_result_free(sio_fetch_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        sio_socket_unref(r->v[i].local);
        json_decref(r->v[i].desc);
        json_decref(r->v[i].hs);
        json_decref(r->v[i].rooms);
    }
    sio__free(r->v);
    sio__free(r);
}

/* ---- descriptors (Node's RemoteSocket fields) */

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A form-urlencoded component as a JSON string ('+' is a space; a bad
 * escape is kept as is, as Node's querystring does). */
static json_t *decode_component(const char *p, size_t n)
{
    char *d = sio__malloc(n + 1);
    size_t k = 0;
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && hex(p[i + 1]) >= 0 && hex(p[i + 2]) >= 0) {
            d[k++] = (char)(hex(p[i + 1]) * 16 + hex(p[i + 2]));
            i += 2;
        } else {
            d[k++] = p[i] == '+' ? ' ' : p[i];
        }
    }
    json_t *v = json_stringn_nocheck(d, k);
    sio__free(d);
    return v;
}

/* The query string as an object (first value of a repeated key kept). */
static json_t *query_json(const char *q)
{
    json_t *o = json_object();
    while (o != NULL && q != NULL && *q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        json_t *k = decode_component(q, klen);
        json_t *v = eq ? decode_component(eq + 1, len - klen - 1) : json_string("");
        if (k && v && klen > 0 && json_object_get(o, json_string_value(k)) == NULL)
            json_object_set(o, json_string_value(k), v);
        json_decref(k);
        json_decref(v);
        q += len + (q[len] == '&');
    }
    return o;
}

/* new Date(ms).toString() for UTC, as a Node server in UTC prints it. */
static json_t *date_string(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[96];
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, sizeof buf, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)",
                 &tm) == 0)
        return json_string("");
    return json_string(buf);
}

/* Node's socket.handshake of a local socket. */
static json_t *handshake_json(sio_socket *s)
{
    const sio_handshake *hs = sio_socket_handshake(s);
    json_t *h = json_object();
    json_t *o = json_object();
    for (size_t i = 0; hs && h && i < hs->nheaders; i++)
        json_object_set_new(h, hs->headers[i].name, json_string(hs->headers[i].value));
    int xdomain = h && json_object_get(h, "origin") != NULL;
    if (o == NULL || h == NULL || hs == NULL) {
        json_decref(h);
        return o;
    }
    json_object_set_new(o, "headers", h);
    json_object_set_new(o, "time", date_string(hs->time_ms));
    json_object_set_new(o, "address", json_string(hs->address ? hs->address : ""));
    json_object_set_new(o, "xdomain", json_boolean(xdomain));
    json_object_set_new(o, "secure", json_boolean(hs->secure));
    json_object_set_new(o, "issued", json_integer(hs->time_ms));
    json_object_set_new(o, "url", json_string(hs->url ? hs->url : ""));
    json_object_set_new(o, "query", query_json(hs->query));
    json_object_set_new(o, "auth", sio__socket_auth_parse(s));
    return o;
}

/* The socket's rooms as a JSON array (join order). */
static json_t *rooms_json(sio_socket *s)
{
    const char *names[32];
    const char **v = names;
    size_t n = sio_socket_rooms(s, names, 32);
    if (n > 32 && (v = sio__malloc(n * sizeof *v)) != NULL)
        sio_socket_rooms(s, v, n);
    json_t *a = v ? json_array() : NULL;
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    if (v != names)
        sio__free(v);
    return a;
}

json_t *sio__socket_describe(sio_socket *s)
{
    json_t *data = sio_socket_data_json(s);
    return json_pack("{s:s,s:o,s:o,s:O}", "id", s->id, "handshake", handshake_json(s), "rooms",
                     rooms_json(s), "data", data ? data : json_null());
}

const char *sio_remote_socket_id(const sio_remote_socket *r)
{
    return r->local ? r->local->id : json_string_value(json_object_get(r->desc, "id"));
}

sio_socket *sio_remote_socket_local(const sio_remote_socket *r)
{
    return r->local;
}

json_t *sio_remote_socket_handshake(sio_remote_socket *r)
{
    if (r->local == NULL)
        return json_object_get(r->desc, "handshake");
    if (r->hs == NULL)
        r->hs = handshake_json(r->local);
    return r->hs;
}

json_t *sio_remote_socket_rooms(sio_remote_socket *r)
{
    if (r->local == NULL)
        return json_object_get(r->desc, "rooms");
    json_decref(r->rooms);
    r->rooms = rooms_json(r->local);
    return r->rooms;
}

json_t *sio_remote_socket_data(sio_remote_socket *r)
{
    return r->local ? sio_socket_data_json(r->local) : json_object_get(r->desc, "data");
}

/* Options selecting exactly the socket r (Node: new BroadcastOperator(
 * adapter, new Set([id]))). */
static sio__bopts only(const sio_remote_socket *r, char **room)
{
    *room = (char *)sio_remote_socket_id(r);
    return (sio__bopts){.rooms = room, .nrooms = 1};
}

int sio_remote_socket_emit(sio_remote_socket *r, const char *event, const sio_args *args)
{
    if (r->local != NULL)
        return sio_emit(r->local, event, args);
    if (event == NULL || sio__event_reserved(event, strlen(event)))
        return SIO_EINVAL;
    char *room;
    sio__bopts o = only(r, &room);
    return r->nsp->adapter->ops->broadcast(r->nsp->adapter, event, args, &o);
}

int sio_remote_socket_join(sio_remote_socket *r, const char *room)
{
    if (r->local != NULL)
        return sio_socket_join(r->local, room);
    if (room == NULL)
        return SIO_EINVAL;
    char *id, *rm = (char *)room;
    sio__bopts o = only(r, &id);
    return r->nsp->adapter->ops->add_sockets(r->nsp->adapter, &o, &rm, 1);
}

int sio_remote_socket_leave(sio_remote_socket *r, const char *room)
{
    if (r->local != NULL)
        return sio_socket_leave(r->local, room);
    if (room == NULL)
        return SIO_EINVAL;
    char *id, *rm = (char *)room;
    sio__bopts o = only(r, &id);
    return r->nsp->adapter->ops->del_sockets(r->nsp->adapter, &o, &rm, 1);
}

int sio_remote_socket_disconnect(sio_remote_socket *r, int close)
{
    if (r->local != NULL) {
        sio_socket_disconnect(r->local, close);
        return 0;
    }
    char *id;
    sio__bopts o = only(r, &id);
    return r->nsp->adapter->ops->disconnect_sockets(r->nsp->adapter, &o, close);
}

/* ---- asynchronous requests: the user's callback and its namespace */

typedef struct req {
    sio_namespace *nsp;
    void (*cb)(void);
    void *data;
} req;

static req *req_new(sio_namespace *nsp, void (*cb)(void), void *data)
{
    req *q = sio__malloc(sizeof *q);
    if (q != NULL)
        *q = (req){nsp, cb, data};
    return q;
}

static void fetch_done(int err, sio_fetch_result *r, void *data)
{
    req *q = data;
    ((sio_fetch_cb)q->cb)(q->nsp, err, r, q->data);
    sio__free(q);
}

int sio_broadcast_fetch_sockets_async(sio_broadcast *b, sio_fetch_cb cb, void *data)
{
    req *q = b && cb ? req_new(b->nsp, (void (*)(void))cb, data) : NULL;
    int rc = q    ? b->nsp->adapter->ops->fetch_sockets(b->nsp->adapter, &b->o, fetch_done, q)
             : cb ? SIO_ENOMEM
                  : SIO_EINVAL;
    if (rc < 0)
        sio__free(q);
    sio_broadcast_free(b);
    return rc;
}

static void count_done(int err, size_t servers, void *data)
{
    req *q = data;
    ((sio_server_count_cb)q->cb)(q->nsp, err, servers, q->data);
    sio__free(q);
}

int sio_namespace_server_count(sio_namespace *nsp, sio_server_count_cb cb, void *data)
{
    if (cb == NULL)
        return SIO_EINVAL;
    req *q = req_new(nsp, (void (*)(void))cb, data);
    int rc = q ? nsp->adapter->ops->server_count(nsp->adapter, count_done, q) : SIO_ENOMEM;
    if (rc < 0)
        sio__free(q);
    return rc;
}

static void rooms_done(int err, const char *const *rooms, size_t n, void *data)
{
    req *q = data;
    ((sio_all_rooms_cb)q->cb)(q->nsp, err, rooms, n, q->data);
    sio__free(q);
}

int sio_namespace_all_rooms(sio_namespace *nsp, sio_all_rooms_cb cb, void *data)
{
    sio__adapter *a = nsp->adapter;
    if (cb == NULL)
        return SIO_EINVAL;
    if (a->ops->all_rooms == NULL)
        return SIO_ENOTSUP;
    req *q = req_new(nsp, (void (*)(void))cb, data);
    int rc = q ? a->ops->all_rooms(a, rooms_done, q) : SIO_ENOMEM;
    if (rc < 0)
        sio__free(q);
    return rc;
}

/* ---- serverSideEmit */

/* Node's namespace RESERVED_EVENTS (not the socket's). */
static int ss_reserved(const char *event)
{
    return event == NULL || !strcmp(event, "connect") || !strcmp(event, "connection") ||
           !strcmp(event, "new_namespace");
}

int sio_namespace_server_side_emit(sio_namespace *nsp, const char *event, const sio_args *args)
{
    if (ss_reserved(event))
        return SIO_EINVAL;
    return nsp->adapter->ops->server_side_emit(nsp->adapter, event, args, 0, NULL, NULL);
}

int sio_namespace_server_side_emit_with_ack(sio_namespace *nsp, const char *event,
                                            const sio_args *args, uint32_t timeout_ms,
                                            sio_server_side_ack_cb cb, void *data)
{
    if (cb == NULL || ss_reserved(event))
        return SIO_EINVAL;
    return nsp->adapter->ops->server_side_emit(nsp->adapter, event, args, timeout_ms, cb, data);
}

int sio_namespace_on_server_side_emit(sio_namespace *nsp, const char *event, sio_server_side_cb cb,
                                      void *data)
{
    if (event == NULL || cb == NULL)
        return SIO_EINVAL;
    sio__ss_handler *n = sio__realloc(nsp->ss, (nsp->nss + 1) * sizeof *n);
    if (n == NULL)
        return SIO_ENOMEM;
    nsp->ss = n;
    if ((n[nsp->nss].event = sio__strdup(event)) == NULL)
        return SIO_ENOMEM;
    n[nsp->nss].cb = cb;
    n[nsp->nss++].data = data;
    return 0;
}

void sio__namespace_server_side_dispatch(sio_namespace *nsp, const char *event,
                                         const sio_args *args, sio_server_ack *ack)
{
    if (ack)
        sio_server_ack_retain(ack);
    /* by index: a handler may add handlers (moving the array) */
    for (size_t i = 0; i < nsp->nss; i++)
        if (strcmp(nsp->ss[i].event, event) == 0)
            nsp->ss[i].cb(nsp, args, ack, nsp->ss[i].data);
    sio_server_ack_release(ack);
}

/* ---- broadcast with acks (Node's BroadcastOperator.emit with a callback) */

typedef struct bc_ack {
    sio__bcast_ack k;        /* must be first */
    sio__list link;          /* in srv->bc_acks until finished */
    sio_namespace *nsp;      /* target, referenced until finished (a dynamic namespace
                              * may be cleaned up meanwhile: it stays valid for cb) */
    sio_broadcast_ack_cb cb; /* user callback */
    void *data;              /* its data */
    sio_args *responses;     /* first argument of each answer */
    long expected_servers;   /* serverCount(), -1 until known */
    size_t actual_servers;   /* servers that reported their client count */
    size_t expected_clients; /* sum of those counts */
    size_t nresponses;       /* answers received */
    int complete;            /* every answer in: the timer now fires at once */
    int finished;            /* the callback ran */
    sio__timer timer;        /* the timeout, then the completion */
} bc_ack;

static void bc_check(bc_ack *b)
{
    if (b->finished || b->complete || b->expected_servers < 0 ||
        (size_t)b->expected_servers != b->actual_servers || b->nresponses != b->expected_clients)
        return;
    b->complete = 1;
    sio__timer_start(b->nsp->srv->env.timers, &b->timer, sio__now(b->nsp->srv));
}

static void bc_count(sio__bcast_ack *k, size_t n)
{
    bc_ack *b = (bc_ack *)k;
    b->expected_clients += n;
    b->actual_servers++;
    bc_check(b);
}

static void bc_response(sio__bcast_ack *k, const sio_args *args)
{
    bc_ack *b = (bc_ack *)k;
    if (b->finished || b->complete)
        return; /* Node ignores answers after the callback */
    if (sio__args_push_arg(b->responses, args, 0) == 0)
        b->nresponses++;
    bc_check(b);
}

static void bc_free(sio__bcast_ack *k)
{
    bc_ack *b = (bc_ack *)k;
    sio__timer_stop(&b->timer);
    sio_args_free(b->responses);
    sio__free(b);
}

/* Ends the wait: the callback (unless cancelled, cb NULL), then nsp is let
 * go. Answers that still come are ignored (finished); the memory goes with
 * the last reference (the adapter's, the recipients'). */
static void bc_finish(bc_ack *b, sio_broadcast_ack_cb cb, int err)
{
    sio_namespace *nsp = b->nsp;
    b->finished = 1;
    sio__timer_stop(&b->timer);
    sio__list_remove(&b->link);
    if (cb)
        cb(nsp, err, b->responses, b->data);
    sio__namespace_release(nsp);
}

static void bc_timer(sio__timer *t, void *data)
{
    bc_ack *b = data;
    bc_finish(b, b->cb, b->complete ? 0 : SIO_ETIMEDOUT);
    sio__bcast_ack_unref(&b->k); /* the operator's reference */
}

void sio__broadcast_acks_close(sio_server *srv)
{
    while (!sio__list_empty(&srv->bc_acks)) {
        bc_ack *b = SIO_CONTAINER_OF(srv->bc_acks.next, bc_ack, link);
        bc_finish(b, b->cb, SIO_ECLOSED);
        sio__bcast_ack_unref(&b->k); /* the operator's reference */
    }
}

static void bc_server_count(int err, size_t servers, void *data)
{
    bc_ack *b = data;
    if (err == 0) {
        b->expected_servers = (long)servers;
        bc_check(b);
    }
    sio__bcast_ack_unref(&b->k);
}

int sio_broadcast_emit_with_ack(sio_broadcast *b, const char *event, const sio_args *args,
                                sio_broadcast_ack_cb cb, void *data)
{
    if (b == NULL)
        return SIO_ENOMEM;
    bc_ack *k = NULL;
    int rc = SIO_EINVAL;
    if (event && cb && !sio__event_reserved(event, strlen(event)))
        rc = (k = sio__calloc(1, sizeof *k)) && (k->responses = sio_args_new()) ? 0 : SIO_ENOMEM;
    if (rc < 0) {
        sio__free(k);
        sio_broadcast_free(b);
        return rc;
    }
    sio__adapter *a = b->nsp->adapter;
    k->k = (sio__bcast_ack){.refs = 1, .count = bc_count, .response = bc_response, .free = bc_free};
    k->nsp = b->nsp;
    k->cb = cb;
    k->data = data;
    k->expected_servers = -1;
    b->nsp->refs++;
    sio__list_insert_tail(&b->nsp->srv->bc_acks, &k->link);
    if (b->o.timeout == 0)
        b->o.timeout = 1; /* Node: setTimeout(cb, undefined) fires after 1 ms */
    sio__timer_init(&k->timer, bc_timer, k);
    sio__timer_start(b->nsp->srv->env.timers, &k->timer, sio__now(b->nsp->srv) + b->o.timeout);
    rc = a->ops->broadcast_with_ack(a, event, args, &b->o, &k->k);
    if (rc == 0) {
        sio__bcast_ack_ref(&k->k);
        if (a->ops->server_count(a, bc_server_count, k) < 0)
            sio__bcast_ack_unref(&k->k); /* only the timeout can end it */
    } else {
        /* no callback; an adapter that published already may still hold
         * (and report to) k: finished makes that a no-op */
        bc_finish(k, NULL, rc);
        sio__bcast_ack_unref(&k->k);
    }
    sio_broadcast_free(b);
    return rc;
}
