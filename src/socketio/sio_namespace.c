/* Namespaces (Node's lib/namespace.ts) and the broadcast operator
 * (lib/broadcast-operator.ts).
 *
 * Connecting a socket is Namespace._add: restore a session if the CONNECT
 * carried pid+offset (missed packets are queued at once, before the CONNECT
 * reply, as Node's Socket constructor does), then run the middlewares one
 * step per sio_middleware_next handle, then _doConnect. Each step checks
 * that the client is still there, since a middleware may finish long after
 * the transport closed. */
#include <string.h>

#include "adapter/adapter.h"
#include "core/metrics.h"
#include "core/log.h"
#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_internal.h"

sio_namespace *sio__namespace_new(sio_server *srv, const char *name)
{
    sio_namespace *nsp = sio__calloc(1, sizeof *nsp);
    if (nsp == NULL)
        return NULL;
    nsp->srv = srv;
    sio__idmap_init(&nsp->sockets, SIO__IDMAP_KEY_OFFSET(sio_socket, by_id, id));
    nsp->name = sio__strdup(name);
    /* Node's `adapter` option: a constructor per namespace */
    sio_adapter_factory make = srv->opts.adapter ? srv->opts.adapter : sio_mem_adapter_new;
    nsp->adapter = nsp->name ? make(nsp, srv->opts.adapter_data) : NULL;
    if (nsp->adapter == NULL) {
        sio__free(nsp->name);
        sio__free(nsp);
        return NULL;
    }
    return nsp;
}

void sio__namespace_free(sio_namespace *nsp)
{
    nsp->adapter->ops->free(nsp->adapter);
    for (size_t i = 0; i < nsp->nss; i++)
        sio__free(nsp->ss[i].event);
    sio__free(nsp->ss);
    sio__idmap_free(&nsp->sockets);
    sio__free(nsp->mws);
    sio__free(nsp->name);
    sio__free(nsp);
}

void sio__namespace_maybe_cleanup(sio_namespace *nsp)
{
    sio_server *srv = nsp->srv;
    if (!nsp->child || nsp->detached || sio__idmap_size(&nsp->sockets) > 0 ||
        !srv->opts.cleanup_empty_child_namespaces)
        return;
    /* Node: the namespace leaves io._nsps at once; the memory goes with
     * the last socket object that still points at it. */
    sio__map_remove(&srv->nsps, nsp->name, strlen(nsp->name));
    srv->nchildren--;
    nsp->detached = 1;
    nsp->next_detached = srv->detached;
    srv->detached = nsp;
}

void sio__namespace_release(sio_namespace *nsp)
{
    if (--nsp->refs > 0 || !nsp->detached)
        return;
    sio_namespace **pp = &nsp->srv->detached;
    while (*pp != nsp)
        pp = &(*pp)->next_detached;
    *pp = nsp->next_detached;
    sio__namespace_free(nsp);
}

const char *sio_namespace_name(const sio_namespace *nsp)
{
    return nsp->name;
}
sio_server *sio_namespace_server(const sio_namespace *nsp)
{
    return nsp->srv;
}

size_t sio_namespace_sockets_count(const sio_namespace *nsp)
{
    return sio__idmap_size(&nsp->sockets);
}

/* ---- the sockets table */

int sio__namespace_add_socket(sio_namespace *nsp, sio_socket *s)
{
    return sio__idmap_add(&nsp->sockets, &s->by_id);
}

void sio__namespace_remove_socket(sio_namespace *nsp, sio_socket *s)
{
    (void)sio__idmap_remove(&nsp->sockets, &s->by_id);
}

sio_socket *sio_namespace_socket(const sio_namespace *nsp, const char *id)
{
    return sio__nsp_socket_of(sio__idmap_find(&nsp->sockets, id, strlen(id)));
}

void sio_namespace_on_connection(sio_namespace *nsp, sio_connection_cb cb, void *data)
{
    nsp->on_connection = cb;
    nsp->on_connection_data = data;
}

int sio_namespace_use(sio_namespace *nsp, sio_middleware_cb fn, void *data)
{
    if (fn == NULL)
        return SIO_EINVAL;
    sio__mw *n = sio__realloc(nsp->mws, (nsp->nmws + 1) * sizeof *n);
    if (n == NULL)
        return SIO_ENOMEM;
    nsp->mws = n;
    nsp->mws[nsp->nmws++] = (sio__mw){fn, data};
    return 0;
}

size_t sio_namespace_room_size(const sio_namespace *nsp, const char *room)
{
    return room ? nsp->adapter->ops->room_size(nsp->adapter, room) : 0;
}

size_t sio_namespace_rooms(const sio_namespace *nsp, const char **out, size_t max)
{
    return nsp->adapter->ops->rooms(nsp->adapter, out, max);
}

void sio_namespace_recovery_stats(const sio_namespace *nsp, sio_recovery_stats *out)
{
    nsp->adapter->ops->stats(nsp->adapter, out);
}

/* The client is gone or closing: the pending socket cannot connect. */
static int client_gone(const sio_socket *s)
{
    return s->closed || s->client == NULL || s->client->closing || s->client->conn == NULL;
}

/* Runs middleware i, or connects when all have accepted. */
static void run_mw(sio_socket *s, size_t i)
{
    if (client_gone(s)) {
        sio__socket_abandon(s);
        return;
    }
    if (i >= s->nsp->nmws) {
        sio__socket_connect(s);
        return;
    }
    sio_middleware_next *next = sio__calloc(1, sizeof *next);
    if (next == NULL) {
        sio__socket_abandon(s);
        return;
    }
    next->s = s;
    next->index = i;
    sio_socket_ref(s);
    s->nsp->mws[i].fn(s, next, s->nsp->mws[i].data);
}

void sio_next(sio_middleware_next *next)
{
    if (next->args != NULL) {
        sio__socket_mw_next(next);
        return;
    }
    sio_socket *s = next->s;
    size_t i = next->index;
    sio__free(next);
    run_mw(s, i + 1);
    sio_socket_unref(s);
}

void sio_next_error(sio_middleware_next *next, const char *message, json_t *data)
{
    if (next->args != NULL) {
        sio__socket_mw_error(next, message, data);
        return;
    }
    sio_socket *s = next->s;
    sio__free(next);
    SIO_METRIC_INC(&s->nsp->srv->metrics, rejected_connects);
    SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_INFO, "connect_error nsp=%s id=%s message=\"%s\"", s->nsp->name,
            s->id, message ? message : "");
    if (!client_gone(s)) {
        /* Node: socket._error({message, data}) -> 44{"message":..,"data":..} */
        json_t *err = json_pack("{s:s}", "message", message ? message : "");
        if (err && data)
            json_object_set(err, "data", data);
        sio__encoded e;
        if (err && sio__encode_json(&e, SIO_PKT_CONNECT_ERROR, s->nsp->name, err) == 0) {
            sio__socket_send(s, &e);
            sio__encoded_free(&e);
        }
        json_decref(err);
    }
    json_decref(data);
    sio__socket_abandon(s);
    sio_socket_unref(s);
}

/* Node's Socket constructor with a previous session: same id and pid,
 * rooms and data back, missed packets queued now. */
static void apply_session(sio_socket *s, sio__session *sess)
{
    memcpy(s->id, sess->sid, sizeof s->id);
    memcpy(s->pid, sess->pid, sizeof s->pid);
    for (size_t i = 0; i < sess->nrooms; i++)
        sio_socket_join(s, sess->rooms[i]);
    if (sess->data) {
        json_decref(s->djson);
        s->djson = json_incref(sess->data);
    }
    for (size_t i = 0; i < sess->nmissed; i++)
        sio__socket_send(s, &sess->missed[i]);
    s->recovered = 1;
}

/* Tries connection state recovery from the CONNECT's auth {pid, offset}. */
static void try_restore(sio_namespace *nsp, sio_socket *s)
{
    if (!nsp->srv->opts.connection_state_recovery.enabled || s->auth_text == NULL)
        return;
    json_t *auth = sio__socket_auth_parse(s); /* not cached: most never ask */
    const char *pid = json_string_value(json_object_get(auth, "pid"));
    const char *offset = json_string_value(json_object_get(auth, "offset"));
    sio__session *sess = NULL;
    if (pid && offset &&
        nsp->adapter->ops->restore_session(nsp->adapter, pid, offset, &sess) == 0) {
        if (sio_namespace_socket(nsp, sess->sid) == NULL)
            apply_session(s, sess);
        sio__session_free(sess);
    }
    if (pid && offset)
        SIO_METRIC_INC_IF(&s->nsp->srv->metrics, s->recovered, recovery_hits, recovery_misses);
    json_decref(auth);
}

void sio__namespace_add(sio_namespace *nsp, sio_socket *s)
{
    sio_socket_ref(s);
    try_restore(nsp, s);
    if (s->recovered && nsp->srv->opts.connection_state_recovery.skip_middlewares)
        run_mw(s, nsp->nmws);
    else
        run_mw(s, 0);
    sio_socket_unref(s);
}

/* ---- broadcast operator */

sio_broadcast *sio_broadcast_new(sio_namespace *nsp)
{
    sio_broadcast *b = sio__calloc(1, sizeof *b);
    if (b != NULL)
        b->nsp = nsp;
    return b;
}

void sio_broadcast_free(sio_broadcast *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->o.nrooms; i++)
        sio__free(b->o.rooms[i]);
    for (size_t i = 0; i < b->o.nexcept; i++)
        sio__free(b->o.except[i]);
    sio__free(b->o.rooms);
    sio__free(b->o.except);
    sio__free(b);
}

/* Appends a copy of room to a string vector; frees b on failure. */
static sio_broadcast *push_room(sio_broadcast *b, char ***v, size_t *n, const char *room)
{
    if (b == NULL)
        return NULL;
    char **nv = room ? sio__realloc(*v, (*n + 1) * sizeof *nv) : NULL;
    if (nv != NULL)
        *v = nv;
    char *copy = nv ? sio__strdup(room) : NULL;
    if (copy == NULL) {
        sio_broadcast_free(b);
        return NULL;
    }
    (*v)[(*n)++] = copy;
    return b;
}

sio_broadcast *sio_socket_broadcast(sio_socket *s)
{
    sio_broadcast *b = sio_broadcast_new(s->nsp);
    return b ? sio_broadcast_except(b, s->id) : NULL;
}

sio_broadcast *sio_broadcast_to(sio_broadcast *b, const char *room)
{
    return b ? push_room(b, &b->o.rooms, &b->o.nrooms, room) : NULL;
}

sio_broadcast *sio_broadcast_except(sio_broadcast *b, const char *room)
{
    return b ? push_room(b, &b->o.except, &b->o.nexcept, room) : NULL;
}

sio_broadcast *sio_broadcast_volatile(sio_broadcast *b)
{
    if (b)
        b->o.flags |= SIO__BC_VOLATILE;
    return b;
}

sio_broadcast *sio_broadcast_local(sio_broadcast *b)
{
    if (b)
        b->o.flags |= SIO__BC_LOCAL;
    return b;
}

sio_broadcast *sio_broadcast_compress(sio_broadcast *b, int compress)
{
    if (b) {
        b->o.flags &= ~(unsigned)(SIO__BC_COMPRESS | SIO__BC_NOCOMPRESS);
        b->o.flags |= compress ? SIO__BC_COMPRESS : SIO__BC_NOCOMPRESS;
    }
    return b;
}

sio_broadcast *sio_broadcast_timeout(sio_broadcast *b, uint32_t ms)
{
    if (b)
        b->o.timeout = ms;
    return b;
}

int sio_broadcast_emit(sio_broadcast *b, const char *event, const sio_args *args)
{
    if (b == NULL)
        return SIO_ENOMEM;
    int rc = SIO_EINVAL;
    if (event && !sio__event_reserved(event, strlen(event)))
        rc = b->nsp->adapter->ops->broadcast(b->nsp->adapter, event, args, &b->o);
    sio_broadcast_free(b);
    return rc;
}

int sio_namespace_emit(sio_namespace *nsp, const char *event, const sio_args *args)
{
    return sio_broadcast_emit(sio_broadcast_new(nsp), event, args);
}

int sio_broadcast_fetch_sockets(sio_broadcast *b, sio_socket ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (b == NULL)
        return SIO_ENOMEM;
    int rc = b->nsp->adapter->ops->local_sockets(b->nsp->adapter, &b->o, out, count);
    sio_broadcast_free(b);
    return rc;
}

void sio_sockets_release(sio_socket **sockets, size_t count)
{
    for (size_t i = 0; i < count; i++)
        sio_socket_unref(sockets[i]);
    sio__free(sockets);
}

/* socketsJoin/socketsLeave/disconnectSockets go through the adapter, so a
 * cluster adapter forwards them to the other servers. */
int sio_broadcast_sockets_join(sio_broadcast *b, const char *room)
{
    char *r = (char *)room;
    int rc = b == NULL ? SIO_ENOMEM : room == NULL ? SIO_EINVAL : 0;
    if (rc == 0)
        rc = b->nsp->adapter->ops->add_sockets(b->nsp->adapter, &b->o, &r, 1);
    sio_broadcast_free(b);
    return rc;
}

int sio_broadcast_sockets_leave(sio_broadcast *b, const char *room)
{
    char *r = (char *)room;
    int rc = b == NULL ? SIO_ENOMEM : room == NULL ? SIO_EINVAL : 0;
    if (rc == 0)
        rc = b->nsp->adapter->ops->del_sockets(b->nsp->adapter, &b->o, &r, 1);
    sio_broadcast_free(b);
    return rc;
}

int sio_broadcast_disconnect_sockets(sio_broadcast *b, int close)
{
    if (b == NULL)
        return SIO_ENOMEM;
    int rc = b->nsp->adapter->ops->disconnect_sockets(b->nsp->adapter, &b->o, close);
    sio_broadcast_free(b);
    return rc;
}
