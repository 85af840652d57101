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
#include "core/alloc.h"
#include "core/error.h"
#include "socketio/sio_internal.h"

sio_socket *sio__socket_new(sio_namespace *nsp, sio__client *c, json_t *auth)
{
    sio_socket *s = sio__calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->refs = 1; /* the client's link, dropped on close/abandon */
    s->nsp = nsp;
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
    sio__map_init(&s->rooms);
    int rc = sio__random_id(s->id, sizeof s->id);
    if (rc == 0 && nsp->srv->opts.connection_state_recovery.enabled)
        rc = sio__random_id(s->pid, sizeof s->pid);
    if (rc < 0 || bad) {
        sio__free(s->auth_text);
        sio__free(s);
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
    sio__map_free(&s->rooms);
    json_decref(s->auth);
    sio__free(s->auth_text);
    json_decref(s->djson);
    sio__free(s);
}

const char *sio_socket_id(const sio_socket *s) { return s->id; }
sio_namespace *sio_socket_namespace(const sio_socket *s) { return s->nsp; }
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

json_t *sio_socket_auth_copy(const sio_socket *s) { return sio__socket_auth_parse(s); }
json_t *sio_socket_data_json(sio_socket *s)
{
    if (s->djson == NULL)
        s->djson = json_object();
    return s->djson;
}
void sio_socket_set_data(sio_socket *s, void *data) { s->data = data; }
void *sio_socket_get_data(const sio_socket *s) { return s->data; }
int sio_socket_recovered(const sio_socket *s) { return s->recovered; }
int sio_socket_connected(const sio_socket *s) { return s->connected; }

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
    sio__client_ref(c);
    int rc = c->ops->send(c->conn, e->text, 0);
    for (size_t i = 0; rc == 0 && i < e->natt; i++)
        rc = c->conn ? c->ops->send(c->conn, e->att[i], 1) : SIO_ECLOSED;
    sio__client_unref(c);
    return rc;
}

/* Bytes of a record whose event name has n bytes (NUL included). */
static size_t record_size(size_t n) { return (offsetof(sio__handler, event) + n + 7) & ~(size_t)7; }

/* Adds a handler of kind to the socket (event: the name, or NULL). */
static int add_handler(sio_socket *s, int kind, const char *event, void (*fn)(void), void *data)
{
    size_t n = event ? strlen(event) + 1 : 1;
    size_t size = record_size(n);
    if (s->hlen + size >= (1u << 28))
        return SIO_ENOMEM; /* hlen's width: 256 MiB of handlers */
    char *b = sio__realloc(s->hbuf, s->hlen + size);
    if (b == NULL)
        return SIO_ENOMEM;
    sio__handler *h = (sio__handler *)(b + s->hlen);
    memset(h, 0, size);
    memcpy(h->event, event ? event : "", n);
    h->kind = (uint8_t)kind;
    h->fn = fn;
    h->data = data;
    s->hbuf = b;
    s->hlen = (unsigned)(s->hlen + size) & ((1u << 28) - 1);
    return 0;
}

/* The next handler of kind at or after *off (advanced past it), or NULL.
 * Callbacks may add handlers (moving hbuf): callers keep offsets, never
 * record pointers, across a call. */
static sio__handler *next_handler(const sio_socket *s, size_t *off, int kind)
{
    while (*off < s->hlen) {
        sio__handler *h = (sio__handler *)(s->hbuf + *off);
        *off += record_size(strlen(h->event) + 1);
        if (h->kind == kind)
            return h;
    }
    return NULL;
}

int sio_socket_on(sio_socket *s, const char *event, sio_event_cb cb, void *data)
{
    if (event == NULL || cb == NULL)
        return SIO_EINVAL;
    return add_handler(s, SIO__H_EVENT, event, (void (*)(void))cb, data);
}

int sio_socket_on_any(sio_socket *s, sio_any_cb cb, void *data)
{
    return cb ? add_handler(s, SIO__H_ANY, NULL, (void (*)(void))cb, data) : SIO_EINVAL;
}

int sio_socket_on_disconnecting(sio_socket *s, sio_disconnect_cb cb, void *data)
{
    return cb ? add_handler(s, SIO__H_DISCONNECTING, NULL, (void (*)(void))cb, data)
              : SIO_EINVAL;
}

int sio_socket_on_drain(sio_socket *s, sio_drain_cb cb, void *data)
{
    return cb ? add_handler(s, SIO__H_DRAIN, NULL, (void (*)(void))cb, data) : SIO_EINVAL;
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
    size_t off = 0;
    sio__handler *h;
    while (s->connected && !s->closed && (h = next_handler(s, &off, SIO__H_DRAIN)) != NULL)
        ((sio_drain_cb)h->fn)(s, h->data);
}

int sio_socket_on_disconnect(sio_socket *s, sio_disconnect_cb cb, void *data)
{
    return cb ? add_handler(s, SIO__H_DISCONNECT, NULL, (void (*)(void))cb, data) : SIO_EINVAL;
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

/* Node's onevent: any-listeners first, then the event's listeners. */
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
    size_t off = 0;
    sio__handler *h;
    while ((h = next_handler(s, &off, SIO__H_ANY)) != NULL)
        ((sio_any_cb)h->fn)(s, event, args, ack, h->data);
    off = 0;
    while ((h = next_handler(s, &off, SIO__H_EVENT)) != NULL)
        if (strcmp(h->event, event) == 0)
            ((sio_event_cb)h->fn)(s, args, ack, h->data);
    sio_ack_release(ack);
    sio_args_free(args);
    sio__free(event);
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

static void ack_timeout_cb(sio_timer *t, void *data)
{
    finish_ack(data, SIO_ETIMEDOUT, NULL);
}

static void on_ack(sio_socket *s, sio__packet *p)
{
    sio_list *it;
    for (it = s->acks.next; it != &s->acks; it = it->next) {
        sio__pending_ack *pa = SIO_CONTAINER_OF(it, sio__pending_ack, node);
        if (pa->id != p->id)
            continue;
        sio_args *args;
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
    if (!s->connected)
        return SIO_ECLOSED;
    if (s->nsp->srv->opts.connection_state_recovery.enabled) {
        /* Node: through the adapter, to the socket's own room, so the
         * packet gets an offset and is kept for replay */
        char *room = s->id;
        sio__bopts o = {.rooms = &room, .nrooms = 1};
        return s->nsp->adapter->ops->broadcast(s->nsp->adapter, event, args, &o);
    }
    sio__encoded e;
    rc = sio__encode_args(&e, 0, s->nsp->name, -1, event, args, NULL);
    if (rc < 0)
        return rc;
    rc = sio__socket_send(s, &e);
    sio__encoded_free(&e);
    return rc;
}

int sio_emit_with_ack(sio_socket *s, const char *event, const sio_args *args,
                      uint32_t timeout_ms, sio_ack_cb cb, void *data)
{
    int rc = check_event(event);
    if (rc < 0 || cb == NULL)
        return rc < 0 ? rc : SIO_EINVAL;
    if (!s->connected)
        return SIO_ECLOSED;
    sio__pending_ack *pa = sio__calloc(1, sizeof *pa);
    if (pa == NULL)
        return SIO_ENOMEM;
    pa->id = s->nsp->next_ack_id++;
    if (s->nsp->next_ack_id > SIO_ACK_ID_MAX)
        s->nsp->next_ack_id = 0;
    pa->cb = cb;
    pa->data = data;
    pa->s = s;
    sio__timer_init(&pa->timer, ack_timeout_cb, pa);
    sio__encoded e;
    rc = sio__encode_args(&e, 0, s->nsp->name, pa->id, event, args, NULL);
    if (rc < 0) {
        sio__free(pa);
        return rc;
    }
    sio__list_insert_tail(&s->acks, &pa->node);
    if (timeout_ms > 0)
        sio__timer_start(s->nsp->srv->timers, &pa->timer, sio__now(s->nsp->srv) + timeout_ms);
    sio_socket_ref(s);
    rc = sio__socket_send(s, &e);
    sio__encoded_free(&e);
    if (rc < 0 && sio__list_linked(&pa->node)) {
        /* not sent: the callback will never run */
        sio__list_remove(&pa->node);
        sio__timer_stop(&pa->timer);
        sio__free(pa);
    }
    sio_socket_unref(s);
    return rc;
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
    if (strcmp(room, s->id) == 0)
        return s->own_room;
    return sio__map_get(&s->rooms, room, strlen(room)) != NULL;
}

size_t sio_socket_rooms(const sio_socket *s, const char **out, size_t max)
{
    sio_map_iter it;
    const char *key;
    size_t klen, n = 0;
    void *v;
    if (s->own_room) { /* first, as in Node's socket.rooms set */
        if (n < max)
            out[n] = s->id;
        n++;
    }
    sio__map_iter_init(&it, (sio_map *)&s->rooms);
    while (sio__map_iter_next(&it, &key, &klen, &v)) {
        if (n < max)
            out[n] = key;
        n++;
    }
    return n;
}

/* ---- connect / disconnect */

void sio__socket_connect(sio_socket *s)
{
    sio_namespace *nsp = s->nsp;
    sio__client *c = s->client;
    if (sio_namespace_socket(nsp, s->id) != NULL || sio__namespace_add_socket(nsp, s) < 0 ||
        sio_socket_join(s, s->id) < 0) {
        sio__namespace_remove_socket(nsp, s);
        sio__socket_abandon(s);
        return;
    }
    s->connected = 1;
    sio__client_disarm(c); /* connectTimeout */
    json_t *reply = s->pid[0] ? json_pack("{s:s,s:s}", "sid", s->id, "pid", s->pid)
                              : json_pack("{s:s}", "sid", s->id);
    sio__encoded e;
    if (reply && sio__encode_json(&e, SIO_PKT_CONNECT, nsp->name, reply) == 0) {
        sio__socket_send(s, &e);
        sio__encoded_free(&e);
    }
    json_decref(reply);
    if (nsp->on_connection && s->connected) {
        sio_socket_ref(s);
        nsp->on_connection(s, nsp->on_connection_data);
        sio_socket_unref(s);
    }
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
    sio_socket_unref(s);
}

static void call_disconnect(int kind, sio_socket *s, const char *reason)
{
    size_t off = 0;
    sio__handler *h;
    while ((h = next_handler(s, &off, kind)) != NULL)
        ((sio_disconnect_cb)h->fn)(s, reason, h->data);
}

void sio__socket_close(sio_socket *s, const char *reason)
{
    if (!s->connected || s->closed)
        return;
    s->closed = 1; /* no re-entrant close from the callbacks below */
    sio_socket_ref(s);
    call_disconnect(SIO__H_DISCONNECTING, s, reason);
    sio__adapter *a = s->nsp->adapter;
    if (s->nsp->srv->opts.connection_state_recovery.enabled && sio__reason_recoverable(reason))
        a->ops->persist_session(a, s);
    sio__namespace_remove_socket(s->nsp, s);
    s->closed = 0;
    unlink_client(s);
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
