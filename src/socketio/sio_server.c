/* The Socket.IO server and its per-session clients (Node's lib/index.ts
 * and lib/client.ts), sans-I/O.
 *
 * A client owns the packet decoder of one Engine.IO session and routes each
 * packet: a CONNECT for a namespace it has no socket in creates one (or
 * gets 44 "Invalid namespace"); anything else goes to that namespace's
 * connected socket; every other combination is Node's "invalid state" and
 * closes the session. Decoding errors close it with "parse error". A
 * client that joins no namespace within connectTimeout is closed. */
#include <string.h>

#include "adapter/adapter.h"
#include "core/metrics.h"
#include "core/log.h"
#include "core/alloc.h"
#include "core/error.h"
#include "socketio/admin.h"
#include "socketio/sio_internal.h"
#include "socketio/sio_msgpack.h"

void sio_server_options_init(sio_server_options *o)
{
    memset(o, 0, sizeof *o);
    sio_eio_options_init(&o->eio);
    o->eio.path = "/socket.io";
    o->connect_timeout = 45000;
    o->connection_state_recovery.enabled = 0;
    o->connection_state_recovery.max_disconnection_duration = 120000;
    o->connection_state_recovery.skip_middlewares = 1;
    o->connection_state_recovery.max_packets = 10000;
    o->connection_state_recovery.max_bytes = 16u << 20;
    o->max_attachments = 10;
    o->max_json_depth = 32;
    o->attachment_timeout = 10000;
    o->max_binary_bytes = 0;
    o->max_dynamic_namespaces = 10000;
    o->max_rooms_per_socket = 10000;
    o->max_rooms = 1000000;
}

uint64_t sio__now(const sio_server *srv)
{
    return srv->env.now(srv->env.arg);
}

int sio__server_new_core(sio_server **out, const sio_server_options *opts, const sio__env *env)
{
    *out = NULL;
    if (opts->eio.path == NULL || opts->eio.path[0] != '/')
        return SIO_EINVAL;
    sio_server *srv = sio__calloc(1, sizeof *srv);
    if (srv == NULL || (srv->path = sio__strdup(opts->eio.path)) == NULL) {
        sio__free(srv);
        return SIO_ENOMEM;
    }
    srv->opts = *opts;
    srv->env = *env;
    srv->opts.eio.path = srv->path;
    srv->opts.serve_client_dir = NULL; /* read by sio_server_new, not kept */
    sio__packet_limits_init(&srv->limits);
    srv->limits.max_attachments = opts->max_attachments;
    srv->limits.max_depth = opts->max_json_depth;
    srv->limits.attachment_timeout = opts->attachment_timeout;
    srv->limits.max_binary_bytes =
        opts->max_binary_bytes ? opts->max_binary_bytes : opts->eio.max_http_buffer_size;
    sio__map_init(&srv->nsps);
    sio__list_init(&srv->clients);
    sio__list_init(&srv->bc_acks);
    sio__list_init(&srv->deferred);
    sio__list_init(&srv->tick.node);
    srv->tick.fn = sio__socket_run_deferred;
    sio__list_init(&srv->spare_nexts);
    if (sio_server_of(srv, "/") == NULL) {
        sio_server_free(srv);
        return SIO_ENOMEM;
    }
    *out = srv;
    return 0;
}

sio_namespace *sio_server_of(sio_server *srv, const char *name)
{
    if (name == NULL || name[0] != '/')
        return NULL;
    sio_namespace *nsp = sio__map_get(&srv->nsps, name, strlen(name));
    if (nsp != NULL)
        return nsp;
    nsp = sio__namespace_new(srv, name);
    if (nsp != NULL && sio__map_put(&srv->nsps, name, strlen(name), nsp) < 0) {
        sio__namespace_free(nsp);
        nsp = NULL;
    }
    if (nsp != NULL && srv->admin != NULL)
        sio__admin_namespace_added(srv->admin, nsp); /* Node's "new_namespace" */
    return nsp;
}

size_t sio_server_namespaces_count(const sio_server *srv)
{
    return sio__map_size(&srv->nsps);
}

int sio_server_of_dynamic(sio_server *srv, sio_namespace_match_cb match,
                          void (*setup)(sio_namespace *nsp, void *data), void *data)
{
    if (match == NULL)
        return SIO_EINVAL;
    sio__dyn *n = sio__realloc(srv->dyns, (srv->ndyns + 1) * sizeof *n);
    if (n == NULL)
        return SIO_ENOMEM;
    srv->dyns = n;
    srv->dyns[srv->ndyns++] = (sio__dyn){match, setup, data};
    return 0;
}

/* ---- clients */

void sio__client_ref(sio__client *c)
{
    c->refs++;
}

void sio__client_unref(sio__client *c)
{
    if (--c->refs > 0)
        return;
    sio__client_disarm(c);
    sio__decoder_reset(&c->dec);
    sio__free(c);
}

/* The client's one timer: the attachment deadline while a binary packet
 * is reassembled, else connectTimeout. */
static void client_timeout_cb(sio__timer *t, void *data)
{
    sio__client *c = data;
    if (c->dec.pending != NULL) {
        sio__client_fail(c, "parse error");
        return;
    }
    for (sio__list *it = c->sockets.next; it != &c->sockets; it = it->next)
        if (SIO_CONTAINER_OF(it, sio_socket, client_node)->connected)
            return;
    sio__client_fail(c, "forced server close");
}

/* Arms the client's timer for deadline, allocating it first: a connected,
 * idle client keeps no timer. SIO_ENOMEM. */
static int client_arm(sio__client *c, uint64_t deadline)
{
    if (c->timer == NULL) {
        if ((c->timer = sio__malloc(sizeof *c->timer)) == NULL)
            return SIO_ENOMEM;
        sio__timer_init(c->timer, client_timeout_cb, c);
    }
    sio__timer_start(c->srv->env.timers, c->timer, deadline);
    return 0;
}

void sio__client_disarm(sio__client *c)
{
    if (c->timer == NULL)
        return;
    sio__timer_stop(c->timer); /* the wheel is done with it, even in its callback */
    sio__free(c->timer);
    c->timer = NULL;
}

sio__client *sio__client_open(sio_server *srv, const sio__conn_ops *ops, void *conn,
                              const sio_handshake *hs)
{
    if (srv->closing)
        return NULL;
    sio__client *c = sio__calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->refs = 1; /* the transport's link, dropped by sio__client_closed */
    c->srv = srv;
    c->ops = ops;
    c->conn = conn;
    c->hs = hs;
    sio__decoder_init(&c->dec, &srv->limits);
    sio__list_init(&c->sockets);
    if (client_arm(c, sio__now(srv) + srv->opts.connect_timeout) < 0) {
        sio__free(c);
        return NULL;
    }
    sio__list_insert_tail(&srv->clients, &c->node);
    if (srv->admin != NULL)
        sio__admin_client_opened(srv->admin);
    return c;
}

/* Closes every socket of c with reason (pending ones are dropped). */
static void close_sockets(sio__client *c, const char *reason)
{
    while (!sio__list_empty(&c->sockets)) {
        sio_socket *s = SIO_CONTAINER_OF(c->sockets.next, sio_socket, client_node);
        if (s->connected && !s->closed)
            sio__socket_close(s, reason);
        else
            sio__socket_abandon(s);
    }
}

void sio__client_fail(sio__client *c, const char *reason)
{
    if (c->closing)
        return;
    SIO_LOG(SIO_LOG_SOCKET, strcmp(reason, "parse error") == 0 ? SIO_LOG_WARN : SIO_LOG_DEBUG,
            "client closed: %s", reason);
    sio__client_ref(c);
    close_sockets(c, reason);
    c->closing = 1;
    sio__decoder_reset(&c->dec);
    sio__client_disarm(c);
    if (c->conn != NULL)
        c->ops->close(c->conn);
    sio__client_unref(c);
}

void sio__client_closed(sio__client *c, const char *reason)
{
    sio__client_ref(c);
    if (c->srv->admin != NULL && c->conn != NULL)
        sio__admin_client_closed(c->srv->admin, reason);
    if (!c->closing)
        close_sockets(c, reason);
    c->closing = 1;
    c->conn = NULL;
    sio__decoder_reset(&c->dec);
    sio__client_disarm(c);
    if (sio__list_linked(&c->node)) {
        sio__list_remove(&c->node);
        sio__client_unref(c); /* the transport's link */
    }
    sio__client_unref(c);
}

void sio__client_upgraded(sio__client *c)
{
    if (c->srv->admin != NULL && !c->closing)
        sio__admin_client_upgraded(c->srv->admin, c);
}

void sio__client_drained(sio__client *c)
{
    if (c->closing)
        return;
    /* Handlers may disconnect sockets: walk a referenced snapshot. It is
     * on the stack for a client with few sockets (most have one): a drain
     * comes after every flush, so it must not cost an allocation. */
    sio_socket *few[8];
    size_t n = 0;
    for (sio__list *it = c->sockets.next; it != &c->sockets; it = it->next)
        n += SIO_CONTAINER_OF(it, sio_socket, client_node)->any_drain;
    if (n == 0)
        return; /* nobody listens (most clients, most flushes) */
    sio_socket **snap = n <= 8 ? few : sio__calloc(n, sizeof *snap);
    if (snap == NULL)
        return;
    n = 0;
    for (sio__list *it = c->sockets.next; it != &c->sockets; it = it->next) {
        sio_socket *s = SIO_CONTAINER_OF(it, sio_socket, client_node);
        if (s->any_drain) {
            snap[n] = s;
            sio_socket_ref(snap[n++]);
        }
    }
    sio__client_ref(c);
    for (size_t i = 0; i < n; i++)
        sio__socket_drained(snap[i]);
    for (size_t i = 0; i < n; i++)
        sio_socket_unref(snap[i]);
    sio__client_unref(c);
    if (snap != few)
        sio__free(snap);
}

/* The socket c has (pending or connected) in namespace name, or NULL. */
static sio_socket *client_socket(sio__client *c, const char *name)
{
    for (sio__list *it = c->sockets.next; it != &c->sockets; it = it->next) {
        sio_socket *s = SIO_CONTAINER_OF(it, sio_socket, client_node);
        if (strcmp(s->nsp->name, name) == 0)
            return s;
    }
    return NULL;
}

/* max_dynamic_namespaces: 1 if no more children may be made (counted and
 * logged: the CONNECT gets "Invalid namespace", as for a name no matcher
 * takes, so a client cannot tell a full server from a wrong name). */
static int children_full(sio_server *srv)
{
    size_t max = srv->opts.max_dynamic_namespaces;
    if (max == 0 || srv->nchildren < max)
        return 0;
    SIO_METRIC_INC(&srv->metrics, refused_dynamic_namespaces);
    SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_WARN, "namespace refused: max_dynamic_namespaces (%zu)", max);
    return 1;
}

/* Finds or (dynamically) creates the namespace a CONNECT names. */
static sio_namespace *lookup_nsp(sio_server *srv, const char *name, const json_t *auth)
{
    sio_namespace *nsp = sio__map_get(&srv->nsps, name, strlen(name));
    for (size_t i = 0; nsp == NULL && i < srv->ndyns; i++) {
        if (!srv->dyns[i].match(name, auth, srv->dyns[i].data))
            continue;
        if (children_full(srv))
            return NULL;
        nsp = sio_server_of(srv, name);
        if (nsp != NULL) {
            nsp->child = 1;
            srv->nchildren++;
        }
        if (nsp != NULL && srv->dyns[i].setup)
            srv->dyns[i].setup(nsp, srv->dyns[i].data);
    }
    return nsp;
}

/* Node's Client.connect. */
static void on_connect(sio__client *c, sio__packet *p)
{
    sio_namespace *nsp = lookup_nsp(c->srv, p->nsp, p->data);
    if (nsp == NULL) {
        json_t *err = json_pack("{s:s}", "message", "Invalid namespace");
        sio__encoded e;
        if (err && sio__encode_json(&e, SIO_PKT_CONNECT_ERROR, p->nsp, err) == 0) {
            sio__client_send(c, &e);
            sio__encoded_free(&e);
        }
        json_decref(err);
        return;
    }
    sio_socket *s = sio__socket_new(nsp, c, p->data);
    if (s == NULL) {
        sio__client_fail(c, "transport error");
        return;
    }
    sio__namespace_add(nsp, s);
}

int sio__client_send(sio__client *c, const sio__encoded *e)
{
    if (c->closing || c->conn == NULL)
        return SIO_ECLOSED;
    sio__client_ref(c);
    int nc = e->nocompress ? SIO__SEND_NOCOMPRESS : 0, rc;
    sio__admin *admin = c->srv->admin;
    if (c->srv->opts.parser == SIO_PARSER_MSGPACK) {
        /* e is const to its users; its msgpack form is a cache */
        sio__rcbuf *mp = sio__msgpack_from_encoded((sio__encoded *)e);
        rc = mp ? c->ops->send(c->conn, mp, SIO__SEND_BINARY | nc) : SIO_ENOMEM;
        if (rc == 0 && admin != NULL)
            sio__admin_packet(admin, 1, mp->len);
    } else {
        rc = c->ops->send(c->conn, e->text, nc);
        if (rc == 0 && admin != NULL) /* the data after the Engine.IO type */
            sio__admin_packet(admin, 1, e->text->len - 1);
        for (size_t i = 0; rc == 0 && i < e->natt; i++) {
            rc = c->conn ? c->ops->send(c->conn, e->att[i], SIO__SEND_BINARY | nc) : SIO_ECLOSED;
            if (rc == 0 && admin != NULL)
                sio__admin_packet(admin, 1, e->att[i]->len);
        }
    }
    sio__client_unref(c);
    return rc;
}

/* Node's Client.ondecoded. */
static void on_packet(sio__client *c, sio__packet *p)
{
    sio_socket *s = client_socket(c, p->nsp);
    if (s == NULL && p->type == SIO_PKT_CONNECT)
        on_connect(c, p);
    else if (s != NULL && s->connected && p->type != SIO_PKT_CONNECT &&
             p->type != SIO_PKT_CONNECT_ERROR)
        sio__socket_packet(s, p);
    else
        sio__client_fail(c, "forced server close"); /* Node: "invalid state" */
}

void sio__client_message(sio__client *c, const char *msg, size_t len, int binary)
{
    if (c->closing)
        return;
    if (c->srv->admin != NULL)
        sio__admin_packet(c->srv->admin, 0, len);
    sio__client_ref(c);
    int had_pending = c->dec.pending != NULL;
    sio__packet *p = NULL;
    int rc;
    if (c->srv->opts.parser == SIO_PARSER_MSGPACK) /* whole packets, binary only */
        rc = binary ? sio__msgpack_decode(msg, len, &c->srv->limits, &p) : SIO_EPROTO;
    else
        rc = sio__decoder_add(&c->dec, msg, len, binary, sio__now(c->srv), &p);
    if (rc == 0 && c->srv->opts.parser == SIO_PARSER_MSGPACK)
        rc = 1;
    if (rc == 1)
        SIO_METRIC_INC(&c->srv->metrics, packets_in);
    if (rc < 0) {
        sio__client_fail(c, "parse error");
    } else if (rc == 0 && !had_pending) {
        /* a binary header: its namespace must be connected already */
        sio_socket *s = client_socket(c, c->dec.pending->nsp);
        if (s == NULL || !s->connected)
            sio__client_fail(c, "parse error");
        else if (client_arm(c, sio__decoder_deadline(&c->dec)) < 0)
            sio__client_fail(c, "transport error");
    } else if (rc == 1) {
        sio__client_disarm(c);
        on_packet(c, p);
        sio__packet_free(p);
    }
    sio__client_unref(c);
}

/* ---- server teardown */

void sio_server_close(sio_server *srv)
{
    srv->closing = 1;
    /* restart from the head each time: failing a client may unlink it */
    for (;;) {
        sio__client *c = NULL;
        for (sio__list *it = srv->clients.next; it != &srv->clients; it = it->next) {
            sio__client *cand = SIO_CONTAINER_OF(it, sio__client, node);
            if (!cand->closing) {
                c = cand;
                break;
            }
        }
        if (c == NULL)
            break;
        sio__client_fail(c, "server shutting down");
    }
}

void sio_server_free(sio_server *srv)
{
    if (srv == NULL)
        return;
    while (!sio__list_empty(&srv->clients))
        sio__client_closed(SIO_CONTAINER_OF(srv->clients.next, sio__client, node),
                           "server shutting down");
    sio__socket_drop_deferred(srv); /* their sockets are gone: never run */
    /* before the namespaces (and the admin) go: the callbacks get theirs */
    sio__broadcast_acks_close(srv);
    /* after the sockets' disconnect callbacks, before their namespaces */
    sio__admin_free(srv->admin);
    srv->admin = NULL;
    sio__map_iter it;
    const char *key;
    size_t klen;
    void *v;
    sio__map_iter_init(&it, &srv->nsps);
    while (sio__map_iter_next(&it, &key, &klen, &v))
        sio__namespace_free(v);
    sio__map_free(&srv->nsps);
    while (srv->detached != NULL) {
        sio_namespace *nsp = srv->detached;
        srv->detached = nsp->next_detached;
        sio__namespace_free(nsp);
    }
    if (srv->client_files != NULL)
        srv->client_files_free(srv->client_files);
    sio__free(srv->dyns);
    sio__free(srv->path);
    sio__free(srv);
}
