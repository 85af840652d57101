/* Socket.IO sockets (Node's lib/socket.ts): event dispatch, acks both
 * ways, emit, rooms, disconnect.
 *
 * Every user callback runs with a reference held on the socket, so a
 * handler may disconnect the socket (or the whole client) and the code
 * after the callback still reads valid memory; it then sees connected == 0
 * and client == NULL. Sends reference the client for the same reason: a
 * full outbound queue closes the transport from inside the send. */
#include <stddef.h>
#include <string.h>

#include "adapter/adapter.h"
#include "core/metrics.h"
#include "core/log.h"
#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_handlers.h"
#include "socketio/admin.h"
#include "socketio/sio_internal.h"

sio_socket *sio__socket_new(sio_namespace *nsp, sio__client *c, json_t *auth)
{
    sio_socket *s = sio__calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->refs = 1; /* the client's link, dropped on close/abandon */
    s->nsp = nsp;
    nsp->refs++;
    s->client = c;
    /* The CONNECT payload is kept as compact text (a parsed jansson object
     * costs several times more) and parsed when someone asks for it. */
    int bad = 0;
    if (json_is_object(auth) && json_object_size(auth) > 0) {
        size_t n = json_dumpb(auth, NULL, 0, JSON_COMPACT);
        s->auth_text = n ? sio__malloc(n + 1) : NULL;
        bad = s->auth_text == NULL || json_dumpb(auth, s->auth_text, n, JSON_COMPACT) != n;
        if (!bad)
            s->auth_text[n] = '\0';
    }
    /* socket.data is created on first use: most sockets never touch it. */
    sio__list_init(&s->acks);
    sio__adapter_slot_init(&s->aslot);
    int rc = sio__random_id(nsp->srv, s->id, SIO__ID_LEN);
    if (rc == 0 && nsp->srv->opts.connection_state_recovery.enabled)
        rc = sio__random_id(nsp->srv, s->pid, SIO__ID_LEN);
    if (rc < 0 || bad) {
        sio__free(s->auth_text);
        sio__free(s);
        sio__namespace_release(nsp);
        return NULL;
    }
    sio__list_insert_tail(&c->sockets, &s->client_node);
    return s;
}

void sio_socket_ref(sio_socket *s)
{
    s->refs++;
}

void sio_socket_unref(sio_socket *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    sio__free(s->hbuf);
    sio__adapter_slot_free(&s->aslot);
    json_decref(s->auth);
    sio__free(s->auth_text);
    json_decref(s->djson);
    sio_namespace *nsp = s->nsp;
    sio__free(s);
    sio__namespace_release(nsp);
}

const char *sio_socket_id(const sio_socket *s)
{
    return s->id;
}
sio_namespace *sio_socket_namespace(const sio_socket *s)
{
    return s->nsp;
}
json_t *sio__socket_auth_parse(const sio_socket *s)
{
    if (s->auth_text == NULL)
        return json_object();
    json_t *v = json_loads(s->auth_text, JSON_DISABLE_EOF_CHECK, NULL);
    return json_is_object(v) ? v : (json_decref(v), json_object());
}

json_t *sio_socket_auth(const sio_socket *s)
{
    sio_socket *m = (sio_socket *)s; /* a cache: the value never changes */
    if (m->auth == NULL)
        m->auth = sio__socket_auth_parse(s);
    return m->auth;
}

json_t *sio_socket_auth_copy(const sio_socket *s)
{
    return sio__socket_auth_parse(s);
}
json_t *sio_socket_data_json(sio_socket *s)
{
    if (s->djson == NULL)
        s->djson = json_object();
    return s->djson;
}
int sio_socket_data_set(sio_socket *s, const char *key, json_t *value)
{
    json_t *data = key && value ? sio_socket_data_json(s) : NULL;
    if (data == NULL) {
        json_decref(value);
        return key && value ? SIO_ENOMEM : SIO_EINVAL;
    }
    if (json_object_set_new(data, key, value) < 0)
        return SIO_ENOMEM;
    if (s->nsp->srv->admin != NULL)
        sio__admin_socket_data_set(s->nsp->srv->admin, s);
    return 0;
}
void sio_socket_set_data(sio_socket *s, void *data)
{
    s->data = data;
}
void *sio_socket_get_data(const sio_socket *s)
{
    return s->data;
}
int sio_socket_recovered(const sio_socket *s)
{
    return s->recovered;
}
int sio_socket_connected(const sio_socket *s)
{
    return s->connected;
}

const sio_handshake *sio_socket_handshake(const sio_socket *s)
{
    sio__client *c = s->client;
    if (c == NULL)
        return NULL;
    if (c->hs == NULL && c->conn != NULL && c->ops->handshake != NULL)
        c->hs = c->ops->handshake(c->conn);
    return c->hs;
}

int sio__socket_send(sio_socket *s, const sio__encoded *e)
{
    sio__client *c = s->client;
    if (c == NULL || c->closing || c->conn == NULL)
        return SIO_ECLOSED;
    SIO_METRIC_INC(&s->nsp->srv->metrics, packets_out);
    return sio__client_send(c, e);
}

/* Reserved names: "disconnect", "disconnecting" and "error" are events the
 * server itself emits on a socket (Node fires their listeners); the other
 * reserved names never fire here, so registering them is an error. */
static int on_name_ok(const char *event)
{
    return !sio__event_reserved(event, strlen(event)) || strcmp(event, "disconnect") == 0 ||
           strcmp(event, "disconnecting") == 0;
}

static int on_event_kind(sio_socket *s, const char *event, sio_event_cb cb, void *data, int kind)
{
    if (event == NULL || cb == NULL || !on_name_ok(event))
        return SIO_EINVAL;
    return sio__handler_add(s, kind, event, (void (*)(void))cb, data, 0);
}

int sio_socket_on(sio_socket *s, const char *event, sio_event_cb cb, void *data)
{
    return on_event_kind(s, event, cb, data, SIO__H_EVENT);
}

int sio_socket_once(sio_socket *s, const char *event, sio_event_cb cb, void *data)
{
    return on_event_kind(s, event, cb, data, SIO__H_EVENT | SIO__H_ONCE);
}

int sio_socket_off(sio_socket *s, const char *event, sio_event_cb cb, void *data)
{
    if (event == NULL)
        return SIO_EINVAL;
    return sio__handler_remove(s, SIO__H_EVENT, event, (void (*)(void))cb, data,
                               cb ? SIO__RM_LAST : SIO__RM_ALL);
}

int sio_socket_on_any(sio_socket *s, sio_any_cb cb, void *data)
{
    return sio__handler_add(s, SIO__H_ANY, NULL, (void (*)(void))cb, data, 0);
}

int sio_socket_prepend_any(sio_socket *s, sio_any_cb cb, void *data)
{
    return sio__handler_add(s, SIO__H_ANY, NULL, (void (*)(void))cb, data, 1);
}

int sio_socket_off_any(sio_socket *s, sio_any_cb cb, void *data)
{
    return sio__handler_remove(s, SIO__H_ANY, NULL, (void (*)(void))cb, data,
                               cb ? SIO__RM_FIRST : SIO__RM_ALL);
}

int sio_socket_on_any_outgoing(sio_socket *s, sio_any_outgoing_cb cb, void *data)
{
    return sio__handler_add(s, SIO__H_ANY_OUT, NULL, (void (*)(void))cb, data, 0);
}

int sio_socket_prepend_any_outgoing(sio_socket *s, sio_any_outgoing_cb cb, void *data)
{
    return sio__handler_add(s, SIO__H_ANY_OUT, NULL, (void (*)(void))cb, data, 1);
}

int sio_socket_off_any_outgoing(sio_socket *s, sio_any_outgoing_cb cb, void *data)
{
    return sio__handler_remove(s, SIO__H_ANY_OUT, NULL, (void (*)(void))cb, data,
                               cb ? SIO__RM_FIRST : SIO__RM_ALL);
}

int sio_socket_use(sio_socket *s, sio_packet_middleware_cb fn, void *data)
{
    return sio__handler_add(s, SIO__H_USE, NULL, (void (*)(void))fn, data, 0);
}

int sio_socket_on_disconnecting(sio_socket *s, sio_disconnect_cb cb, void *data)
{
    return sio__handler_add(s, SIO__H_DISCONNECTING, NULL, (void (*)(void))cb, data, 0);
}

int sio_socket_on_drain(sio_socket *s, sio_drain_cb cb, void *data)
{
    return sio__handler_add(s, SIO__H_DRAIN, NULL, (void (*)(void))cb, data, 0);
}

size_t sio_socket_buffered(const sio_socket *s)
{
    const sio__client *c = s->client;
    if (c == NULL || c->conn == NULL || c->ops->buffered == NULL)
        return 0;
    return c->ops->buffered(c->conn);
}

void sio__socket_drained(sio_socket *s)
{
    sio__hsnap sn;
    const sio__handler *h;
    if (!s->any_drain)
        return; /* the common case: no snapshot of the handlers per flush */
    sio__hsnap_take(&sn, s);
    while (s->connected && !s->closed && (h = sio__hsnap_next(&sn, s, SIO__H_DRAIN, NULL)))
        ((sio_drain_cb)h->fn)(s, h->data);
    sio__hsnap_free(&sn);
}

int sio_socket_on_disconnect(sio_socket *s, sio_disconnect_cb cb, void *data)
{
    return sio__handler_add(s, SIO__H_DISCONNECT, NULL, (void (*)(void))cb, data, 0);
}

void sio__socket_notify_outgoing(sio_socket *s, const char *event, const sio_args *args)
{
    if (!s->any_out)
        return;
    sio__hsnap sn;
    const sio__handler *h;
    sio_socket_ref(s);
    sio__hsnap_take(&sn, s);
    while ((h = sio__hsnap_next(&sn, s, SIO__H_ANY_OUT, NULL)) != NULL)
        ((sio_any_outgoing_cb)h->fn)(s, event, args, h->data);
    sio__hsnap_free(&sn);
    sio_socket_unref(s);
}

/* ---- inbound acks */

void sio_ack_retain(sio_ack *ack)
{
    ack->refs++;
}

void sio_ack_release(sio_ack *ack)
{
    if (ack == NULL || --ack->refs > 0)
        return;
    sio_socket_unref(ack->s);
    sio__free(ack);
}

int sio_ack_send(sio_ack *ack, const sio_args *args)
{
    if (ack->sent)
        return SIO_EBUSY;
    ack->sent = 1;
    if (!ack->s->connected)
        return SIO_ECLOSED;
    sio__encoded e;
    int rc = sio__encode_args(&e, 1, ack->s->nsp->name, ack->id, NULL, args, NULL);
    if (rc < 0)
        return rc;
    rc = sio__socket_send(ack->s, &e);
    sio__encoded_free(&e);
    return rc;
}

/* ---- incoming events */

/* Calls the listeners of event (Node's emitUntyped after the middlewares):
 * only while the socket is connected. */
static void emit_event(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack)
{
    sio__hsnap sn;
    const sio__handler *h;
    sio__hsnap_take(&sn, s);
    while (s->connected && (h = sio__hsnap_next(&sn, s, -1, event)) != NULL)
        ((sio_event_cb)h->fn)(s, args, ack, h->data);
    sio__hsnap_free(&sn);
}

/* Every incoming event takes a step record (its listeners wait in it for
 * the tick), so a server keeps up to this many freed ones for the next
 * events rather than pay a calloc and a free per event; a burst's extra
 * records go back to malloc. */
#define SIO__SPARE_NEXTS 64

/* A record for an incoming event, uninitialised: a spare one, or NULL. */
static sio_middleware_next *mw_next_new(sio_server *srv)
{
    if (sio__list_empty(&srv->spare_nexts))
        return sio__malloc(sizeof(sio_middleware_next));
    sio__list *n = srv->spare_nexts.next;
    sio__list_remove(n);
    srv->nspare_nexts--;
    return SIO_CONTAINER_OF(n, sio_middleware_next, dnode);
}

/* Frees what a socket.use step handle holds, and keeps the handle as a
 * spare while there is room. */
static void mw_next_free(sio_middleware_next *next)
{
    sio_server *srv = next->s->nsp->srv; /* before the socket may go */
    sio_ack_release(next->ack);
    sio_args_free(next->args);
    sio__free(next->event);
    sio_socket_unref(next->s);
    if (srv->nspare_nexts == SIO__SPARE_NEXTS) {
        sio__free(next);
        return;
    }
    sio__list_insert_head(&srv->spare_nexts, &next->dnode);
    srv->nspare_nexts++;
}

/* Calls the "error" listeners with a refused event's error. Node's
 * _onerror checks nothing: they run even if the socket disconnected while
 * the error waited for the tick (none: dropped; Node's own noop listener
 * does the same). */
static void emit_error(sio_socket *s, const sio_args *args)
{
    sio__hsnap sn;
    const sio__handler *h;
    sio__hsnap_take(&sn, s);
    while ((h = sio__hsnap_next(&sn, s, -1, "error")) != NULL)
        ((sio_event_cb)h->fn)(s, args, NULL, h->data);
    sio__hsnap_free(&sn);
}

/* The event's listeners, unless the socket disconnected meanwhile (Node:
 * "ignore packet received after disconnection"), or for an event a
 * middleware refused (event NULL, args its error) the "error" listeners;
 * then the admin UI's look at the data they may have changed. */
static void dispatch(sio_middleware_next *next)
{
    sio_socket *s = next->s;
    if (next->event == NULL)
        emit_error(s, next->args);
    else if (s->connected)
        emit_event(s, next->event, next->args, next->ack);
    if (s->nsp->srv->admin != NULL)
        sio__admin_socket_touched(s->nsp->srv->admin, s);
    mw_next_free(next);
}

/* Node's dispatch runs the listeners in a process.nextTick: after the
 * any-listeners of every other packet read in the same go, so two events
 * read together are both seen by onAny before either's listeners run. */
static void defer_dispatch(sio_middleware_next *next)
{
    sio_server *srv = next->s->nsp->srv;
    if (srv->env.tick == NULL) { /* no ticks (unit tests): at once */
        dispatch(next);
        return;
    }
    sio__list_insert_tail(&srv->deferred, &next->dnode);
    srv->env.tick(srv->env.arg, &srv->tick);
}

void sio__socket_run_deferred(sio__tick *t)
{
    sio_server *srv = SIO_CONTAINER_OF(t, sio_server, tick);
    while (!sio__list_empty(&srv->deferred)) { /* listeners may defer more: run them too */
        sio_middleware_next *next =
            SIO_CONTAINER_OF(srv->deferred.next, sio_middleware_next, dnode);
        sio__list_remove(&next->dnode);
        dispatch(next);
    }
}

void sio__socket_drop_deferred(sio_server *srv)
{
    sio__list_remove(&srv->tick.node);
    while (!sio__list_empty(&srv->deferred)) {
        sio_middleware_next *next =
            SIO_CONTAINER_OF(srv->deferred.next, sio_middleware_next, dnode);
        sio__list_remove(&next->dnode);
        mw_next_free(next);
    }
    while (!sio__list_empty(&srv->spare_nexts)) {
        sio__list *n = srv->spare_nexts.next;
        sio__list_remove(n);
        sio__free(SIO_CONTAINER_OF(n, sio_middleware_next, dnode));
    }
    srv->nspare_nexts = 0;
}

/* Runs socket middleware next->index, or the listeners after the last.
 * A disconnect on the way does not stop the chain: Node's run() calls
 * every middleware, and only the listeners check connected (dispatch). */
static void run_packet_mw(sio_middleware_next *next)
{
    sio_socket *s = next->s;
    const sio__handler *h = sio__handler_nth(s, SIO__H_USE, next->index);
    if (h == NULL) {
        defer_dispatch(next);
        return;
    }
    ((sio_packet_middleware_cb)h->fn)(s, next->event, next->args, next->ack, next, h->data);
}

void sio__socket_mw_next(sio_middleware_next *next)
{
    next->index++;
    run_packet_mw(next);
}

void sio__socket_mw_error(sio_middleware_next *next, const char *message, json_t *data)
{
    json_t *err = json_pack("{s:s}", "message", message ? message : "");
    if (err && data)
        json_object_set(err, "data", data);
    json_decref(data);
    sio_args *a = err ? sio_args_json(json_pack("[o]", err)) : NULL;
    /* The refused event and its ack are dropped; its error goes to the
     * "error" listeners at the tick, as Node's dispatch defers _onerror:
     * after the any-listeners of the other packets read in the same go. */
    sio_args_free(next->args);
    sio__free(next->event);
    sio_ack_release(next->ack);
    next->event = NULL;
    next->ack = NULL;
    next->args = a;
    if (a == NULL) { /* out of memory: the error is dropped */
        mw_next_free(next);
        return;
    }
    defer_dispatch(next);
}

/* Node's onevent: any-listeners first, then the socket's middlewares, then
 * (at the tick) the event's listeners. */
static void on_event(sio_socket *s, sio__packet *p)
{
    sio_args *args;
    char *event;
    sio_ack *ack = NULL;
    if (sio__args_from_packet(p, &args, &event) < 0)
        return;
    if (p->id >= 0 && (ack = sio__calloc(1, sizeof *ack)) != NULL) {
        ack->refs = 1;
        ack->s = s;
        ack->id = p->id;
        sio_socket_ref(s);
    }
    sio_socket_ref(s);
    sio__hsnap sn;
    const sio__handler *h;
    sio__hsnap_take(&sn, s);
    while ((h = sio__hsnap_next(&sn, s, SIO__H_ANY, NULL)) != NULL)
        ((sio_any_cb)h->fn)(s, event, args, ack, h->data);
    sio__hsnap_free(&sn);
    sio_middleware_next *next = mw_next_new(s->nsp->srv);
    if (next != NULL) {
        *next = (sio_middleware_next){.s = s, .args = args, .event = event, .ack = ack};
        sio__list_init(&next->dnode);
        sio_socket_ref(s);
        run_packet_mw(next); /* owns args, event and ack from here */
    } else {
        /* out of memory: the event is dropped */
        sio_ack_release(ack);
        sio_args_free(args);
        sio__free(event);
    }
    sio_socket_unref(s);
}
/* ---- outbound acks */

static void finish_ack(sio__pending_ack *pa, int err, const sio_args *args)
{
    sio_socket *s = pa->s;
    sio__list_remove(&pa->node);
    sio__timer_stop(&pa->timer);
    sio_socket_ref(s);
    pa->cb(s, err, args, pa->data);
    sio__free(pa);
    sio_socket_unref(s);
}

static void ack_timeout_cb(sio__timer *t, void *data)
{
    sio__pending_ack *pa = data;
    SIO_METRIC_INC(&pa->s->nsp->srv->metrics, ack_timeouts);
    finish_ack(data, SIO_ETIMEDOUT, NULL);
}

static void on_ack(sio_socket *s, sio__packet *p)
{
    sio__list *it;
    for (it = s->acks.next; it != &s->acks; it = it->next) {
        sio__pending_ack *pa = SIO_CONTAINER_OF(it, sio__pending_ack, node);
        if (pa->id != p->id)
            continue;
        sio_args *args;
        SIO_METRIC_INC(&s->nsp->srv->metrics, acks_in);
        if (sio__args_from_packet(p, &args, NULL) == 0) {
            finish_ack(pa, 0, args);
            sio_args_free(args);
        }
        return;
    }
    /* unknown ids are ignored, like Node */
}

void sio__socket_packet(sio_socket *s, sio__packet *p)
{
    switch (p->type) {
    case SIO_PKT_EVENT:
    case SIO_PKT_BINARY_EVENT:
        on_event(s, p);
        break;
    case SIO_PKT_ACK:
    case SIO_PKT_BINARY_ACK:
        on_ack(s, p);
        break;
    case SIO_PKT_DISCONNECT:
        sio__socket_close(s, "client namespace disconnect");
        break;
    default:
        break; /* CONNECT/CONNECT_ERROR are filtered by the client */
    }
}

/* ---- emit */

static int check_event(const char *event)
{
    if (event == NULL || sio__event_reserved(event, strlen(event)))
        return SIO_EINVAL;
    return 0;
}

int sio_emit(sio_socket *s, const char *event, const sio_args *args)
{
    int rc = check_event(event);
    if (rc < 0)
        return rc;
    int nocompress = s->nocompress; /* Node's flags apply to one emit */
    s->nocompress = 0;
    if (!s->connected)
        return SIO_ECLOSED;
    if (s->nsp->srv->opts.connection_state_recovery.enabled) {
        /* Node: through the adapter, to the socket's own room, so the
         * packet gets an offset and is kept for replay */
        char *room = s->id;
        sio__bopts o = {.rooms = &room, .nrooms = 1};
        o.flags = nocompress ? SIO__BC_NOCOMPRESS : 0;
        return s->nsp->adapter->ops->broadcast(s->nsp->adapter, event, args, &o);
    }
    sio__socket_notify_outgoing(s, event, args);
    if (!s->connected)
        return SIO_ECLOSED; /* an outgoing listener disconnected it */
    sio__encoded e;
    rc = sio__encode_args(&e, 0, s->nsp->name, -1, event, args, NULL);
    if (rc < 0)
        return rc;
    e.nocompress = nocompress;
    rc = sio__socket_send(s, &e);
    sio__encoded_free(&e);
    return rc;
}

int64_t sio__namespace_next_ack_id(sio_namespace *nsp)
{
    int64_t id = nsp->next_ack_id++;
    if (nsp->next_ack_id > SIO_ACK_ID_MAX)
        nsp->next_ack_id = 0;
    return id;
}

int sio__socket_send_with_ack(sio_socket *s, const sio__encoded *e, int64_t id, uint32_t timeout_ms,
                              sio_ack_cb cb, void *data)
{
    if (!s->connected)
        return SIO_ECLOSED;
    sio__pending_ack *pa = sio__calloc(1, sizeof *pa);
    if (pa == NULL)
        return SIO_ENOMEM;
    pa->id = id;
    pa->cb = cb;
    pa->data = data;
    pa->s = s;
    sio__timer_init(&pa->timer, ack_timeout_cb, pa);
    sio__list_insert_tail(&s->acks, &pa->node);
    if (timeout_ms > 0)
        sio__timer_start(s->nsp->srv->env.timers, &pa->timer, sio__now(s->nsp->srv) + timeout_ms);
    sio_socket_ref(s);
    int rc = sio__socket_send(s, e);
    if (rc < 0 && sio__list_linked(&pa->node)) {
        /* not sent: the callback will never run */
        sio__list_remove(&pa->node);
        sio__timer_stop(&pa->timer);
        sio__free(pa);
    }
    sio_socket_unref(s);
    return rc;
}

int sio_emit_with_ack(sio_socket *s, const char *event, const sio_args *args, uint32_t timeout_ms,
                      sio_ack_cb cb, void *data)
{
    int rc = check_event(event);
    int nocompress = s->nocompress;
    s->nocompress = 0;
    if (rc < 0 || cb == NULL)
        return rc < 0 ? rc : SIO_EINVAL;
    if (!s->connected)
        return SIO_ECLOSED;
    sio__socket_notify_outgoing(s, event, args);
    if (!s->connected)
        return SIO_ECLOSED;
    int64_t id = sio__namespace_next_ack_id(s->nsp);
    sio__encoded e;
    rc = sio__encode_args(&e, 0, s->nsp->name, id, event, args, NULL);
    if (rc < 0)
        return rc;
    e.nocompress = nocompress;
    rc = sio__socket_send_with_ack(s, &e, id, timeout_ms, cb, data);
    sio__encoded_free(&e);
    return rc;
}

sio_socket *sio_socket_compress(sio_socket *s, int compress)
{
    s->nocompress = !compress;
    return s;
}

/* ---- rooms */

int sio_socket_join(sio_socket *s, const char *room)
{
    if (s->closed)
        return SIO_ECLOSED;
    if (room == NULL)
        return SIO_EINVAL;
    return s->nsp->adapter->ops->add(s->nsp->adapter, s, room);
}

int sio_socket_leave(sio_socket *s, const char *room)
{
    if (s->closed)
        return SIO_ECLOSED;
    if (room == NULL)
        return SIO_EINVAL;
    s->nsp->adapter->ops->del(s->nsp->adapter, s, room);
    return 0;
}

int sio_socket_in_room(const sio_socket *s, const char *room)
{
    return room != NULL && s->nsp->adapter->ops->has(s->nsp->adapter, s, room);
}

size_t sio_socket_rooms(const sio_socket *s, const char **out, size_t max)
{
    return s->nsp->adapter->ops->socket_rooms(s->nsp->adapter, s, out, max);
}

/* ---- connect / disconnect */

void sio__socket_connect(sio_socket *s)
{
    sio_namespace *nsp = s->nsp;
    sio__client *c = s->client;
    if (sio_namespace_socket(nsp, s->id) != NULL || sio__namespace_add_socket(nsp, s) < 0) {
        sio__socket_abandon(s);
        return;
    }
    /* Node's _onconnect: connected, then join(id), then the CONNECT reply:
     * what a join-room listener sends to the socket goes out before it */
    s->connected = 1;
    if (sio_socket_join(s, s->id) < 0) {
        s->connected = 0;
        sio__namespace_remove_socket(nsp, s);
        sio__socket_abandon(s);
        return;
    }
    SIO_METRIC_INC(&nsp->srv->metrics, connects);
    SIO_METRIC_INC(&nsp->srv->metrics, sockets);
    sio__client_disarm(c); /* connectTimeout */
    SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_DEBUG, "connect nsp=%s id=%s%s", nsp->name, s->id,
            s->recovered ? " (recovered)" : "");
    json_t *reply = s->pid[0] ? json_pack("{s:s,s:s}", "sid", s->id, "pid", s->pid)
                              : json_pack("{s:s}", "sid", s->id);
    sio__encoded e;
    if (reply && sio__encode_json(&e, SIO_PKT_CONNECT, nsp->name, reply) == 0) {
        sio__socket_send(s, &e);
        sio__encoded_free(&e);
    }
    json_decref(reply);
    sio__admin *admin = nsp->srv->admin;
    sio_socket_ref(s);
    if (admin != NULL && s->connected)
        sio__admin_socket_connected(admin, s); /* Node: prependListener("connection") */
    if (nsp->on_connection && s->connected)
        nsp->on_connection(s, nsp->on_connection_data);
    if (admin != NULL)
        sio__admin_socket_touched(admin, s);
    sio_socket_unref(s);
}

/* Unlinks s from its client and drops the client's reference. */
static void unlink_client(sio_socket *s)
{
    s->nsp->adapter->ops->del_all(s->nsp->adapter, s);
    sio__list_remove(&s->client_node);
    s->client = NULL;
    s->connected = 0;
    s->closed = 1;
}

void sio__socket_abandon(sio_socket *s)
{
    if (s->closed)
        return;
    unlink_client(s);
    sio__namespace_maybe_cleanup(s->nsp); /* a refused first socket too */
    sio_socket_unref(s);
}

/* Runs the disconnect (or disconnecting) handlers, and the on() listeners
 * of that name (args [reason]), in registration order. */
static void call_disconnect(int kind, sio_socket *s, const char *reason)
{
    const char *name = kind == SIO__H_DISCONNECT ? "disconnect" : "disconnecting";
    sio_args *args = NULL;
    sio__hsnap sn;
    const sio__handler *h;
    sio__hsnap_take(&sn, s);
    while ((h = sio__hsnap_next(&sn, s, kind, name)) != NULL) {
        if ((h->kind & SIO__H_KIND) == kind) {
            ((sio_disconnect_cb)h->fn)(s, reason, h->data);
            continue;
        }
        if (args == NULL && (args = sio_args_json(json_pack("[s]", reason))) == NULL)
            break;
        ((sio_event_cb)h->fn)(s, args, NULL, h->data);
    }
    sio__hsnap_free(&sn);
    sio_args_free(args);
}

void sio__socket_close(sio_socket *s, const char *reason)
{
    if (!s->connected || s->closed)
        return;
    s->closed = 1; /* no re-entrant close from the callbacks below */
    SIO_METRIC_INC(&s->nsp->srv->metrics, disconnects);
    SIO_METRIC_DEC(&s->nsp->srv->metrics, sockets);
    SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_DEBUG, "disconnect nsp=%s id=%s reason=\"%s\"", s->nsp->name,
            s->id, reason);
    sio_socket_ref(s);
    call_disconnect(SIO__H_DISCONNECTING, s, reason);
    sio__adapter *a = s->nsp->adapter;
    if (s->nsp->srv->opts.connection_state_recovery.enabled && sio__reason_recoverable(reason))
        a->ops->persist_session(a, s);
    sio__namespace_remove_socket(s->nsp, s);
    s->closed = 0;
    unlink_client(s);
    sio__namespace_maybe_cleanup(s->nsp); /* freed at the last unref below */
    call_disconnect(SIO__H_DISCONNECT, s, reason);
    while (!sio__list_empty(&s->acks))
        finish_ack(SIO_CONTAINER_OF(s->acks.next, sio__pending_ack, node), SIO_ECLOSED, NULL);
    sio_socket_unref(s); /* the client's link */
    sio_socket_unref(s);
}

void sio_socket_disconnect(sio_socket *s, int close)
{
    if (!s->connected || s->closed)
        return;
    if (close) {
        sio__client *c = s->client;
        sio__client_ref(c);
        /* Node's client._disconnect: each namespace gets a DISCONNECT */
        while (!sio__list_empty(&c->sockets)) {
            sio_socket *o = SIO_CONTAINER_OF(c->sockets.next, sio_socket, client_node);
            if (o->connected && !o->closed)
                sio_socket_disconnect(o, 0);
            else
                sio__socket_abandon(o);
        }
        sio__client_fail(c, "forced server close");
        sio__client_unref(c);
        return;
    }
    sio__encoded e;
    if (sio__encode_json(&e, SIO_PKT_DISCONNECT, s->nsp->name, NULL) == 0) {
        sio__socket_send(s, &e);
        sio__encoded_free(&e);
    }
    sio__socket_close(s, "server namespace disconnect");
}
