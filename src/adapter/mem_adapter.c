/* In-memory adapter (Node's socket.io-adapter Adapter + SessionAwareAdapter):
 * see adapter.h for the contract. One node: every cluster op is its local
 * part, server_count is 1, server_side_emit is unsupported.
 *
 * Recipient selection (Node's Adapter.apply): sockets in except-rooms are
 * stamped with a fresh epoch first; then every candidate not yet stamped
 * is stamped and taken, so a socket in several target rooms is taken once
 * without building a set. Recipients are collected (referenced) before any
 * send, because a send can close a transport and so edit the very room
 * maps being walked. */
#include "adapter/adapter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/log.h"
#include "core/alloc.h"
#include "core/error.h"

/* One room: its members by socket id. */
typedef struct mem_room {
    char *name;       /* owned copy (key in the adapter's map too) */
    sio__map members; /* sid -> sio_socket */
} mem_room;

/* A packet kept for recovery. */
typedef struct kept_pkt {
    sio__list node;   /* in packets, oldest first */
    uint64_t id;      /* offset */
    uint64_t at;      /* emitted at (monotonic ms) */
    sio__bopts o;     /* rooms/except copies for shouldIncludePacket */
    sio__encoded enc; /* the shared bytes */
    size_t bytes;     /* sio__encoded_size(enc) */
} kept_pkt;

/* A disconnected session kept for recovery. */
typedef struct kept_session {
    sio__list node; /* in sessions_order, oldest first */
    uint64_t at;    /* disconnected at */
    sio__session s; /* sid, pid, rooms, data (missed unused) */
} kept_session;

typedef struct mem_adapter {
    sio__adapter base;        /* must be first */
    sio__map rooms;           /* name -> mem_room */
    uint64_t epoch;           /* stamp for recipient dedup */
    sio__list packets;        /* kept_pkt */
    size_t npackets;          /* count */
    size_t bytes;             /* their bytes */
    uint64_t next_offset;     /* next packet id */
    sio__map sessions;        /* pid -> kept_session */
    sio__list sessions_order; /* kept_session, oldest first */
    sio__timer expiry;        /* next age-based drop */
} mem_adapter;

static const sio_recovery_options *ropts(const sio__adapter *a)
{
    return &a->nsp->srv->opts.connection_state_recovery;
}

/* The room named by s's own id is the own_room flag, never a stored room. */
static int is_own(const sio_socket *s, const char *room)
{
    return strcmp(room, s->id) == 0;
}

/* The socket whose own-id room is called name, if it is in it. */
static sio_socket *own_member(const mem_adapter *m, const char *name)
{
    sio_socket *s = sio_namespace_socket(m->base.nsp, name);
    return s != NULL && s->abit ? s : NULL;
}

/* 1 if somebody subscribed to room events (most namespaces: nobody, and
 * then no event costs a lookup). */
static int listening(const mem_adapter *m)
{
    const sio__adapter *top = m->base.nsp->adapter;
    return top != NULL && top->nsubs > 0;
}

static void event(mem_adapter *m, sio_room_event ev, const char *room, const char *sid)
{
    sio__adapter_room_event(&m->base, ev, room, sid);
}

/* s enters its own-id room: Node's create-room + join-room for it. */
static void add_own(mem_adapter *m, sio_socket *s)
{
    if (s->abit)
        return;
    s->abit = 1;
    if (!listening(m))
        return;
    if (sio__map_get(&m->rooms, s->id, strlen(s->id)) == NULL)
        event(m, SIO_ROOM_CREATE, s->id, NULL);
    event(m, SIO_ROOM_JOIN, s->id, s->id);
}

static void del_own(mem_adapter *m, sio_socket *s)
{
    if (!s->abit)
        return;
    s->abit = 0;
    if (!listening(m))
        return;
    event(m, SIO_ROOM_LEAVE, s->id, s->id);
    if (sio__map_get(&m->rooms, s->id, strlen(s->id)) == NULL)
        event(m, SIO_ROOM_DELETE, s->id, NULL);
}

/* max_rooms_per_socket / max_rooms: 1 (counted, logged) if s may not join
 * one more room (a new one when creating). */
static int over_room_limits(const mem_adapter *m, const sio_socket *s, int creating)
{
    const sio_server_options *o = &m->base.nsp->srv->opts;
    if (o->max_rooms_per_socket && sio__map_size(&s->aslot.rooms) >= o->max_rooms_per_socket) {
        SIO_METRIC_INC(&m->base.nsp->srv->metrics, refused_rooms_per_socket);
        SIO_LOG(SIO_LOG_ADAPTER, SIO_LOG_WARN, "join refused: %s is in max_rooms_per_socket (%zu)",
                s->id, o->max_rooms_per_socket);
        return 1;
    }
    if (creating && o->max_rooms && sio__map_size(&m->rooms) >= o->max_rooms) {
        SIO_METRIC_INC(&m->base.nsp->srv->metrics, refused_rooms);
        SIO_LOG(SIO_LOG_ADAPTER, SIO_LOG_WARN, "join refused: %s has max_rooms (%zu)",
                m->base.nsp->name, o->max_rooms);
        return 1;
    }
    return 0;
}

static int mem_add(sio__adapter *a, sio_socket *s, const char *room)
{
    mem_adapter *m = (mem_adapter *)a;
    size_t len = strlen(room);
    if (is_own(s, room)) {
        add_own(m, s);
        return 0;
    }
    if (sio__map_get(&s->aslot.rooms, room, len) != NULL)
        return 0;
    mem_room *r = sio__map_get(&m->rooms, room, len);
    int created = 0;
    if (over_room_limits(m, s, r == NULL))
        return SIO_ELIMIT;
    if (r == NULL) {
        r = sio__calloc(1, sizeof *r);
        if (r == NULL || (r->name = sio__strndup(room, len)) == NULL) {
            sio__free(r);
            return SIO_ENOMEM;
        }
        sio__map_init(&r->members);
        if (sio__map_put(&m->rooms, room, len, r) < 0)
            goto fail_room;
        created = 1;
    }
    if (sio__map_put(&r->members, s->id, strlen(s->id), s) < 0)
        goto fail_member;
    if (sio__map_put(&s->aslot.rooms, room, len, r) < 0) {
        sio__map_remove(&r->members, s->id, strlen(s->id));
        goto fail_member;
    }
    if (listening(m)) {
        if (created && own_member(m, room) == NULL)
            event(m, SIO_ROOM_CREATE, r->name, NULL);
        event(m, SIO_ROOM_JOIN, r->name, s->id);
    }
    return 0;
fail_member:
    if (!created)
        return SIO_ENOMEM;
    sio__map_remove(&m->rooms, room, len);
fail_room:
    sio__map_free(&r->members);
    sio__free(r->name);
    sio__free(r);
    return SIO_ENOMEM;
}

/* Drops s from r; frees r when it empties (Node deletes empty rooms). */
static void leave_room(mem_adapter *m, mem_room *r, sio_socket *s)
{
    sio__map_remove(&r->members, s->id, strlen(s->id));
    int listen = listening(m);
    if (listen)
        event(m, SIO_ROOM_LEAVE, r->name, s->id);
    if (sio__map_size(&r->members) > 0)
        return;
    sio__map_remove(&m->rooms, r->name, strlen(r->name));
    if (listen && own_member(m, r->name) == NULL)
        event(m, SIO_ROOM_DELETE, r->name, NULL);
    sio__map_free(&r->members);
    sio__free(r->name);
    sio__free(r);
}

static void mem_del(sio__adapter *a, sio_socket *s, const char *room)
{
    if (is_own(s, room)) {
        del_own((mem_adapter *)a, s);
        return;
    }
    mem_room *r = sio__map_remove(&s->aslot.rooms, room, strlen(room));
    if (r != NULL)
        leave_room((mem_adapter *)a, r, s);
}

static void mem_del_all(sio__adapter *a, sio_socket *s)
{
    sio__map_iter it;
    const char *key;
    size_t klen;
    void *v;
    del_own((mem_adapter *)a, s);
    sio__map_iter_init(&it, &s->aslot.rooms);
    while (sio__map_iter_next(&it, &key, &klen, &v)) {
        sio__map_remove(&s->aslot.rooms, key, klen);
        leave_room((mem_adapter *)a, v, s);
    }
}

/* A growable array of referenced sockets. */
typedef struct sock_vec {
    sio_socket **v;
    size_t n, cap;
    int err;
} sock_vec;

static void vec_push(sock_vec *sv, sio_socket *s)
{
    if (sv->err)
        return;
    if (sv->n == sv->cap) {
        size_t ncap = sv->cap ? sv->cap * 2 : 16;
        sio_socket **nv = sio__realloc(sv->v, ncap * sizeof *nv);
        if (nv == NULL) {
            sv->err = SIO_ENOMEM;
            return;
        }
        sv->v = nv;
        sv->cap = ncap;
    }
    sio_socket_ref(s);
    sv->v[sv->n++] = s;
}

/* Stamps and takes s unless it is stamped already or not connected. */
static void take(sio_socket *s, uint64_t epoch, sock_vec *sv)
{
    if (s == NULL || s->aslot.mark == epoch || !s->connected)
        return;
    s->aslot.mark = epoch;
    vec_push(sv, s);
}

/* Stamps and takes every unstamped connected socket of map. */
static void take_members(sio__map *members, uint64_t epoch, sock_vec *sv)
{
    sio__map_iter it;
    void *v;
    sio__map_iter_init(&it, members);
    while (sio__map_iter_next(&it, NULL, NULL, &v))
        take(v, epoch, sv);
}

/* Stamps and takes every unstamped connected socket of the namespace. */
static void take_all(sio_namespace *nsp, uint64_t epoch, sock_vec *sv)
{
    sio__idmap_iter it;
    sio__idmap_node *n;
    sio__idmap_iter_init(&it, &nsp->sockets);
    while ((n = sio__idmap_iter_next(&it)) != NULL)
        take(sio__nsp_socket_of(n), epoch, sv);
}

/* Stamps every member of the room called name (so it is skipped). */
static void stamp_room(mem_adapter *m, const char *name, uint64_t epoch)
{
    sio_socket *own = own_member(m, name);
    if (own != NULL)
        own->aslot.mark = epoch;
    mem_room *r = sio__map_get(&m->rooms, name, strlen(name));
    if (r == NULL)
        return;
    sio__map_iter it;
    void *v;
    sio__map_iter_init(&it, &r->members);
    while (sio__map_iter_next(&it, NULL, NULL, &v))
        ((sio_socket *)v)->aslot.mark = epoch;
}

static int mem_sockets(sio__adapter *a, const sio__bopts *o, sio_socket ***out, size_t *n)
{
    mem_adapter *m = (mem_adapter *)a;
    uint64_t epoch = ++m->epoch;
    sock_vec sv = {0};
    for (size_t i = 0; i < o->nexcept; i++)
        stamp_room(m, o->except[i], epoch);
    if (o->nrooms == 0)
        take_all(a->nsp, epoch, &sv);
    for (size_t i = 0; i < o->nrooms; i++) {
        take(own_member(m, o->rooms[i]), epoch, &sv);
        mem_room *r = sio__map_get(&m->rooms, o->rooms[i], strlen(o->rooms[i]));
        if (r != NULL)
            take_members(&r->members, epoch, &sv);
    }
    if (sv.err) {
        sio_sockets_release(sv.v, sv.n);
        return sv.err;
    }
    *out = sv.v;
    *n = sv.n;
    return 0;
}

static char **copy_strv(char *const *v, size_t n, int *err)
{
    if (n == 0)
        return NULL;
    char **c = sio__calloc(n, sizeof *c);
    for (size_t i = 0; c && i < n; i++)
        if ((c[i] = sio__strdup(v[i])) == NULL)
            *err = SIO_ENOMEM;
    if (c == NULL)
        *err = SIO_ENOMEM;
    return c;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sio__free(v[i]);
    sio__free(v);
}

static void free_pkt(kept_pkt *k)
{
    free_strv(k->o.rooms, k->o.nrooms);
    free_strv(k->o.except, k->o.nexcept);
    sio__encoded_free(&k->enc);
    sio__free(k);
}

static void drop_session(mem_adapter *m, kept_session *ks)
{
    sio__map_remove(&m->sessions, ks->s.pid, strlen(ks->s.pid));
    sio__list_remove(&ks->node);
    free_strv(ks->s.rooms, ks->s.nrooms);
    json_decref(ks->s.data);
    sio__free(ks);
}

static void drop_oldest_pkt(mem_adapter *m)
{
    kept_pkt *k = SIO_CONTAINER_OF(m->packets.next, kept_pkt, node);
    sio__list_remove(&k->node);
    m->npackets--;
    m->bytes -= k->bytes;
    free_pkt(k);
}

/* Drops what is older than maxDisconnectionDuration; re-arms the timer. */
static void expire(mem_adapter *m)
{
    uint64_t now = sio__now(m->base.nsp->srv);
    uint64_t dur = ropts(&m->base)->max_disconnection_duration;
    uint64_t next = UINT64_MAX;
    while (!sio__list_empty(&m->sessions_order)) {
        kept_session *ks = SIO_CONTAINER_OF(m->sessions_order.next, kept_session, node);
        if (ks->at + dur >= now) {
            next = ks->at + dur + 1;
            break;
        }
        drop_session(m, ks);
    }
    while (!sio__list_empty(&m->packets)) {
        kept_pkt *k = SIO_CONTAINER_OF(m->packets.next, kept_pkt, node);
        if (k->at + dur >= now) {
            if (k->at + dur + 1 < next)
                next = k->at + dur + 1;
            break;
        }
        drop_oldest_pkt(m);
    }
    if (next == UINT64_MAX)
        sio__timer_stop(&m->expiry);
    else if (!sio__timer_active(&m->expiry) || m->expiry.deadline > next)
        sio__timer_start(m->base.nsp->srv->env.timers, &m->expiry, next);
}

static void expiry_cb(sio__timer *t, void *data)
{
    expire(data);
}

/* Keeps an encoded broadcast for replay, within the count/byte caps. */
static void keep_packet(mem_adapter *m, uint64_t id, const sio__bopts *o, sio__encoded *enc)
{
    const sio_recovery_options *r = ropts(&m->base);
    int err = 0;
    kept_pkt *k = sio__calloc(1, sizeof *k);
    if (k == NULL)
        return; /* not kept: a later restore with this offset just fails */
    k->id = id;
    k->at = sio__now(m->base.nsp->srv);
    k->o.rooms = copy_strv(o->rooms, o->nrooms, &err);
    k->o.nrooms = o->nrooms;
    k->o.except = copy_strv(o->except, o->nexcept, &err);
    k->o.nexcept = o->nexcept;
    k->enc = *enc;
    memset(enc, 0, sizeof *enc);
    k->bytes = sio__encoded_size(&k->enc);
    if (err) {
        free_pkt(k);
        return;
    }
    sio__list_insert_tail(&m->packets, &k->node);
    m->npackets++;
    m->bytes += k->bytes;
    while (m->npackets > 0 && (m->npackets > r->max_packets || m->bytes > r->max_bytes))
        drop_oldest_pkt(m);
    expire(m);
}

static int mem_broadcast(sio__adapter *a, const char *event, const sio_args *args,
                         const sio__bopts *o)
{
    mem_adapter *m = (mem_adapter *)a;
    int keep = ropts(a)->enabled && !(o->flags & SIO__BC_VOLATILE);
    char offset[24];
    uint64_t id = m->next_offset;
    if (keep) {
        snprintf(offset, sizeof offset, "%" PRIu64, id);
        m->next_offset++;
    }
    sio__encoded enc;
    int rc = sio__encode_args(&enc, 0, a->nsp->name, -1, event, args, keep ? offset : NULL);
    if (rc < 0)
        return rc;
    enc.nocompress = (o->flags & SIO__BC_NOCOMPRESS) != 0;
    sio_socket **v = NULL;
    size_t n = 0;
    /* Node's outgoing listeners see the packet's data, offset included:
     * made once, for the first recipient that has some */
    sio_args *with_offset = NULL;
    rc = mem_sockets(a, o, &v, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* Node drops a volatile packet for a transport that is not
         * writable (output still waiting) instead of queueing it. */
        if ((o->flags & SIO__BC_VOLATILE) && sio_socket_buffered(v[i]) > 0)
            continue;
        if (keep && v[i]->any_out && with_offset == NULL)
            with_offset = sio__args_with_offset(args, offset);
        sio__socket_notify_outgoing(v[i], event, with_offset ? with_offset : args);
        sio__socket_send(v[i], &enc);
    }
    sio_args_free(with_offset);
    sio_sockets_release(v, n);
    SIO_METRIC_INC(&a->nsp->srv->metrics, broadcasts);
    SIO_LOG(SIO_LOG_ADAPTER, SIO_LOG_DEBUG, "broadcast nsp=%s event=%s to %zu socket(s)%s",
            a->nsp->name, event ? event : "(ack)", n, keep ? " (kept for recovery)" : "");
    if (rc == 0 && keep)
        keep_packet(m, id, o, &enc);
    sio__encoded_free(&enc);
    return rc;
}

static int mem_persist(sio__adapter *a, sio_socket *s)
{
    mem_adapter *m = (mem_adapter *)a;
    if (s->pid[0] == '\0')
        return 0;
    kept_session *old = sio__map_get(&m->sessions, s->pid, strlen(s->pid));
    if (old != NULL)
        drop_session(m, old);
    kept_session *ks = sio__calloc(1, sizeof *ks);
    size_t n = sio__map_size(&s->aslot.rooms) + (s->abit ? 1 : 0);
    if (ks == NULL || (n && (ks->s.rooms = sio__calloc(n, sizeof(char *))) == NULL))
        goto fail;
    if (s->abit && (ks->s.rooms[ks->s.nrooms++] = sio__strdup(s->id)) == NULL)
        goto fail;
    sio__map_iter it;
    const char *key;
    size_t klen;
    void *v;
    sio__map_iter_init(&it, &s->aslot.rooms);
    while (sio__map_iter_next(&it, &key, &klen, &v)) {
        if ((ks->s.rooms[ks->s.nrooms] = sio__strndup(key, klen)) == NULL)
            goto fail;
        ks->s.nrooms++;
    }
    memcpy(ks->s.sid, s->id, sizeof ks->s.sid);
    memcpy(ks->s.pid, s->pid, sizeof ks->s.pid);
    ks->s.data = json_incref(s->djson);
    ks->at = sio__now(a->nsp->srv);
    if (sio__map_put(&m->sessions, ks->s.pid, strlen(ks->s.pid), ks) < 0)
        goto fail;
    sio__list_insert_tail(&m->sessions_order, &ks->node);
    expire(m);
    return 0;
fail:
    if (ks) {
        free_strv(ks->s.rooms, ks->s.nrooms);
        json_decref(ks->s.data);
        sio__free(ks);
    }
    return SIO_ENOMEM;
}

/* Parses a decimal offset strictly (as this adapter writes them). */
static int parse_offset(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0' || strlen(s) > 19)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Node's shouldIncludePacket. */
static int should_include(const sio__session *s, const sio__bopts *o)
{
    int included = o->nrooms == 0;
    for (size_t i = 0; i < s->nrooms; i++) {
        for (size_t j = 0; j < o->nrooms && !included; j++)
            if (strcmp(s->rooms[i], o->rooms[j]) == 0)
                included = 1;
        for (size_t j = 0; j < o->nexcept; j++)
            if (strcmp(s->rooms[i], o->except[j]) == 0)
                return 0;
    }
    return included;
}

/* Collects the kept packets after start that the session's rooms match. */
static int collect_missed(mem_adapter *m, sio__list *start, sio__session *s)
{
    size_t cap = 0;
    for (sio__list *it = start->next; it != &m->packets; it = it->next) {
        kept_pkt *k = SIO_CONTAINER_OF(it, kept_pkt, node);
        if (!should_include(s, &k->o))
            continue;
        if (s->nmissed == cap) {
            cap = cap ? cap * 2 : 8;
            sio__encoded *n = sio__realloc(s->missed, cap * sizeof *n);
            if (n == NULL)
                return SIO_ENOMEM;
            s->missed = n;
        }
        sio__encoded *e = &s->missed[s->nmissed++];
        memset(e, 0, sizeof *e);
        e->text = sio__rcbuf_ref(k->enc.text);
        if (k->enc.natt && (e->att = sio__malloc(k->enc.natt * sizeof *e->att)) == NULL)
            return SIO_ENOMEM;
        for (size_t i = 0; i < k->enc.natt; i++)
            e->att[i] = sio__rcbuf_ref(k->enc.att[i]);
        e->natt = k->enc.natt;
    }
    return 0;
}

static int mem_restore(sio__adapter *a, const char *pid, const char *offset, sio__session **out)
{
    mem_adapter *m = (mem_adapter *)a;
    *out = NULL;
    expire(m);
    kept_session *ks = sio__map_get(&m->sessions, pid, strlen(pid));
    uint64_t off;
    if (ks == NULL || parse_offset(offset, &off) < 0)
        return SIO_ENOTFOUND;
    sio__list *it = m->packets.prev;
    while (it != &m->packets && SIO_CONTAINER_OF(it, kept_pkt, node)->id != off)
        it = it->prev;
    if (it == &m->packets) {
        SIO_LOG(SIO_LOG_ADAPTER, SIO_LOG_DEBUG, "recovery miss pid=%s: offset %s not kept", pid,
                offset);
        return SIO_ENOTFOUND; /* Node: offset not found, no recovery */
    }
    sio__session *s = sio__calloc(1, sizeof *s);
    if (s == NULL)
        return SIO_ENOMEM;
    *s = ks->s;
    if (collect_missed(m, it, s) < 0) {
        s->rooms = NULL; /* still owned by ks */
        s->nrooms = 0;
        s->data = NULL;
        sio__session_free(s);
        return SIO_ENOMEM;
    }
    ks->s.rooms = NULL;
    ks->s.nrooms = 0;
    ks->s.data = NULL;
    drop_session(m, ks);
    *out = s;
    return 0;
}

void sio__session_free(sio__session *s)
{
    if (s == NULL)
        return;
    free_strv(s->rooms, s->nrooms);
    json_decref(s->data);
    for (size_t i = 0; i < s->nmissed; i++)
        sio__encoded_free(&s->missed[i]);
    sio__free(s->missed);
    sio__free(s);
}

static void mem_stats(const sio__adapter *a, sio_recovery_stats *out)
{
    const mem_adapter *m = (const mem_adapter *)a;
    out->sessions = sio__map_size(&m->sessions);
    out->packets = m->npackets;
    out->bytes = m->bytes;
}

static void mem_free(sio__adapter *a)
{
    mem_adapter *m = (mem_adapter *)a;
    sio__timer_stop(&m->expiry);
    while (!sio__list_empty(&m->packets))
        drop_oldest_pkt(m);
    while (!sio__list_empty(&m->sessions_order))
        drop_session(m, SIO_CONTAINER_OF(m->sessions_order.next, kept_session, node));
    sio__map_iter it;
    const char *key;
    size_t klen;
    void *v;
    sio__map_iter_init(&it, &m->rooms);
    while (sio__map_iter_next(&it, &key, &klen, &v)) {
        mem_room *r = v;
        sio__map_free(&r->members);
        sio__free(r->name);
        sio__free(r);
    }
    sio__map_free(&m->rooms);
    sio__map_free(&m->sessions);
    sio__adapter_fini(&m->base);
    sio__free(m);
}

/* ---- queries */

static int mem_has(const sio__adapter *a, const sio_socket *s, const char *room)
{
    if (is_own(s, room))
        return s->abit;
    return sio__map_get(&s->aslot.rooms, room, strlen(room)) != NULL;
}

static size_t mem_socket_rooms(const sio__adapter *a, const sio_socket *s, const char **out,
                               size_t max)
{
    sio__map_iter it;
    const char *key;
    size_t klen, n = 0;
    void *v;
    if (s->abit) { /* first, as in Node's socket.rooms set */
        if (n < max)
            out[n] = s->id;
        n++;
    }
    sio__map_iter_init(&it, (sio__map *)&s->aslot.rooms);
    while (sio__map_iter_next(&it, &key, &klen, &v)) {
        if (n < max)
            out[n] = key;
        n++;
    }
    return n;
}

static size_t mem_room_size(const sio__adapter *a, const char *room)
{
    const mem_adapter *m = (const mem_adapter *)a;
    const mem_room *r = sio__map_get((sio__map *)&m->rooms, room, strlen(room));
    return (r ? sio__map_size(&r->members) : 0) + (own_member(m, room) ? 1 : 0);
}

static size_t mem_rooms(const sio__adapter *a, const char **out, size_t max)
{
    const mem_adapter *m = (const mem_adapter *)a;
    const sio_namespace *nsp = a->nsp;
    sio__map_iter it;
    const char *key;
    size_t klen, n = 0;
    void *v;
    sio__map_iter_init(&it, (sio__map *)&m->rooms);
    while (sio__map_iter_next(&it, &key, &klen, &v)) {
        if (n < max)
            out[n] = ((mem_room *)v)->name;
        n++;
    }
    /* own-id rooms not stored: one per socket in its own room, unless
     * others joined that name too (then it was listed above) */
    sio__idmap_iter sit;
    sio__idmap_node *node;
    sio__idmap_iter_init(&sit, &nsp->sockets);
    while ((node = sio__idmap_iter_next(&sit)) != NULL) {
        const sio_socket *s = sio__nsp_socket_of(node);
        if (!s->abit || sio__map_get((sio__map *)&m->rooms, s->id, strlen(s->id)))
            continue;
        if (n < max)
            out[n] = s->id;
        n++;
    }
    return n;
}

/* ---- cluster ops, one node: the local part is all there is */

/* A recipient's ack for broadcast_with_ack: reported to the collector. */
static void bcast_sock_ack(sio_socket *s, int err, const sio_args *args, void *data)
{
    sio__bcast_ack *k = data;
    if (err == 0)
        k->response(k, args);
    sio__bcast_ack_unref(k);
}

static int mem_broadcast_with_ack(sio__adapter *a, const char *event, const sio_args *args,
                                  const sio__bopts *o, sio__bcast_ack *k)
{
    /* Node: one ack id for every recipient (the namespace's counter) */
    int64_t id = sio__namespace_next_ack_id(a->nsp);
    sio__encoded enc;
    int rc = sio__encode_args(&enc, 0, a->nsp->name, id, event, args, NULL);
    if (rc < 0)
        return rc;
    enc.nocompress = (o->flags & SIO__BC_NOCOMPRESS) != 0;
    sio_socket **v = NULL;
    size_t n = 0, count = 0;
    rc = mem_sockets(a, o, &v, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sio__socket_notify_outgoing(v[i], event, args);
        sio__bcast_ack_ref(k);
        if (sio__socket_send_with_ack(v[i], &enc, id, o->timeout, bcast_sock_ack, k) < 0)
            sio__bcast_ack_unref(k); /* not sent: it cannot answer */
        else
            count++;
    }
    sio_sockets_release(v, n);
    sio__encoded_free(&enc);
    if (rc == 0)
        k->count(k, count);
    return rc;
}

/* What a socket operation does to each matching local socket. */
enum { OP_JOIN, OP_LEAVE, OP_DISCONNECT, OP_DISCONNECT_CLOSE };

static int for_each(sio__adapter *a, const sio__bopts *o, int op, char *const *rooms, size_t nr)
{
    sio_socket **v = NULL; /* mem_sockets leaves them alone when it fails */
    size_t n = 0;
    int rc = mem_sockets(a, o, &v, &n), limited = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (size_t j = 0; rc == 0 && op == OP_JOIN && j < nr; j++) {
            rc = v[i]->closed ? 0 : mem_add(a, v[i], rooms[j]);
            if (rc == SIO_ELIMIT) { /* this socket is full: the others still join */
                limited = 1;
                rc = 0;
            }
        }
        for (size_t j = 0; op == OP_LEAVE && j < nr; j++)
            if (!v[i]->closed)
                mem_del(a, v[i], rooms[j]);
        if (op == OP_DISCONNECT || op == OP_DISCONNECT_CLOSE)
            sio_socket_disconnect(v[i], op == OP_DISCONNECT_CLOSE);
    }
    sio_sockets_release(v, n);
    return rc == 0 && limited ? SIO_ELIMIT : rc;
}

static int mem_add_sockets(sio__adapter *a, const sio__bopts *o, char *const *rooms, size_t n)
{
    return for_each(a, o, OP_JOIN, rooms, n);
}

static int mem_del_sockets(sio__adapter *a, const sio__bopts *o, char *const *rooms, size_t n)
{
    return for_each(a, o, OP_LEAVE, rooms, n);
}

static int mem_disconnect_sockets(sio__adapter *a, const sio__bopts *o, int close)
{
    return for_each(a, o, close ? OP_DISCONNECT_CLOSE : OP_DISCONNECT, NULL, 0);
}

static int mem_fetch_sockets(sio__adapter *a, const sio__bopts *o, sio__fetch_done done, void *data)
{
    sio_fetch_result *r = sio__fetch_result_new(a->nsp);
    sio_socket **v = NULL;
    size_t n = 0;
    int rc = r ? mem_sockets(a, o, &v, &n) : SIO_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = sio__fetch_result_add_local(r, v[i]);
    sio_sockets_release(v, n);
    if (rc < 0) {
        sio_fetch_result_free(r);
        return rc;
    }
    done(0, r, data);
    return 0;
}

static int mem_server_side_emit(sio__adapter *a, const char *event, const sio_args *args,
                                uint32_t timeout_ms, sio_server_side_ack_cb cb, void *data)
{
    return SIO_ENOTSUP; /* Node's in-memory adapter: a warning, no callback */
}

static int mem_server_count(sio__adapter *a, sio__count_done done, void *data)
{
    done(0, 1, data);
    return 0;
}

/* One node: its own rooms are every room. */
static int mem_all_rooms(sio__adapter *a, sio__rooms_done done, void *data)
{
    const char **v;
    size_t n;
    if (sio__adapter_local_rooms(a, &v, &n) < 0)
        return SIO_ENOMEM;
    done(0, v, n, data);
    sio__free(v);
    return 0;
}

static const sio__adapter_ops mem_ops = {
    .add = mem_add,
    .del = mem_del,
    .del_all = mem_del_all,
    .has = mem_has,
    .socket_rooms = mem_socket_rooms,
    .room_size = mem_room_size,
    .rooms = mem_rooms,
    .local_sockets = mem_sockets,
    .broadcast = mem_broadcast,
    .broadcast_with_ack = mem_broadcast_with_ack,
    .add_sockets = mem_add_sockets,
    .del_sockets = mem_del_sockets,
    .disconnect_sockets = mem_disconnect_sockets,
    .fetch_sockets = mem_fetch_sockets,
    .server_side_emit = mem_server_side_emit,
    .server_count = mem_server_count,
    .all_rooms = mem_all_rooms,
    .persist_session = mem_persist,
    .restore_session = mem_restore,
    .stats = mem_stats,
    .free = mem_free,
};

sio_adapter *sio_mem_adapter_new(sio_namespace *nsp, void *data)
{
    mem_adapter *m = sio__calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    sio__adapter_init(&m->base, &mem_ops, nsp);
    sio__map_init(&m->rooms);
    sio__map_init(&m->sessions);
    sio__list_init(&m->packets);
    sio__list_init(&m->sessions_order);
    sio__timer_init(&m->expiry, expiry_cb, m);
    m->next_offset = 1;
    return &m->base;
}
