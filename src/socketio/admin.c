/* The admin UI instrumentation: Node's @socket.io/admin-ui 0.5 server
 * module (lib/index.ts, instrument()) on the Socket.IO core.
 *
 * What Node does and where it is here:
 *   initAuthenticationMiddleware  auth_mw: a session id from the store, or
 *                                 username + bcrypt(password) (checked off
 *                                 the loop by env.verify), then "session"
 *                                 sent before the CONNECT reply, as Node's
 *                                 socket.emit inside the middleware does
 *   the admin "connection"        admin_connection: the action handlers
 *                                 (unless readonly), "config", and in
 *                                 development mode "all_sockets" from
 *                                 fetchSockets() on every namespace
 *   registerVerboseListeners      sio__admin_socket_connected (prepended to
 *                                 the application's connection callback),
 *                                 room_cb (adapter join-room/leave-room;
 *                                 room_left deferred as Node's nextTick),
 *                                 onAny/onAnyOutgoing, the disconnect
 *                                 handler, the upgrade hook; the Proxy on
 *                                 socket.data becomes a comparison of its
 *                                 serialised form after the application had
 *                                 a chance to change it
 *   registerEngineListeners       the aggregated events (rawConnection,
 *                                 rawDisconnection by reason, packets and
 *                                 bytes in and out, per second)
 *   initStatsEmitter              stats_fire every stats_interval
 * Every event reaches the UI as an emit to the admin namespace, through
 * its adapter: with a cluster adapter every node's admin clients hear it. */
#include "socketio/admin.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "adapter/adapter.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

/* One aggregated event (Node's EventBuffer entry). */
typedef struct agg_event {
    int64_t ts;       /* wall-clock second, in ms */
    const char *type; /* static */
    char *sub;        /* subType (rawDisconnection's reason) or NULL */
    uint64_t count;
} agg_event;

/* A room_left waiting for the end of the current step (Node: nextTick). */
typedef struct left_event {
    json_t *args; /* [nsp, room, id]; the date is added when sent */
} left_event;

/* A password check in flight: its middleware step waits for it. */
typedef struct verify_req {
    sio__list node;            /* in admin->verifies */
    sio__admin *a;             /* NULL once the admin is freed */
    sio_middleware_next *next; /* the step to end */
    sio_socket *s;             /* its socket (the step references it) */
} verify_req;

struct sio__admin {
    sio_server *srv;
    sio_namespace *nsp; /* the admin namespace */
    char *username;     /* NULL: auth false */
    char *password;     /* bcrypt hash */
    char *server_id;    /* serverId */
    char *hostname;
    int readonly;
    int dev;            /* mode "development" */
    uint32_t interval;  /* stats_interval */
    sio__admin_env env; /* system services */
    json_t *features;   /* config.supportedFeatures */
    sio__map sessions;  /* session ids (Node's InMemoryStore) */
    sio__map dumps;     /* development: socket pointer -> its data as last seen */
    agg_event *agg;     /* aggregatedEvents since the last server_stats */
    size_t nagg, cagg;
    left_event *left; /* queued room_left */
    size_t nleft, cleft;
    sio__list verifies;     /* verify_req in flight */
    sio__timer stats_timer; /* next server_stats */
    sio__timer left_timer;  /* flushes left */
};

/* ---- small helpers */

/* Date.now(), from the server's environment. */
static int64_t wall_ms(const sio__admin *a)
{
    const sio__env *env = &a->srv->env;
    return env->wall ? env->wall(env->arg) : 0;
}

/* new Date() as JSON.stringify writes it: "2026-12-02T22:11:49.123Z". */
static json_t *date_now(sio__admin *a)
{
    int64_t ms = wall_ms(a);
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[48];
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return json_string("");
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ".%03dZ", (int)(ms % 1000));
    return json_string(buf);
}

/* Emits event with the arguments of arr (stolen) to the admin namespace. */
static void admin_emit(sio__admin *a, const char *event, json_t *arr)
{
    sio_args *args = sio_args_json(arr);
    if (args == NULL)
        return;
    sio_namespace_emit(a->nsp, event, args);
    sio_args_free(args);
}

/* socket.data without its _admin key (Node's serializeData): a new object. */
static json_t *data_public(json_t *data)
{
    json_t *o = json_is_object(data) ? json_copy(data) : json_object();
    if (o != NULL)
        json_object_del(o, "_admin");
    return o;
}

/* Node's serialize(socket, nsp) from a fetchSockets descriptor's parts
 * (borrowed): {id, clientId, transport, nsp, data, handshake, rooms}. */
static json_t *serialize(const char *nsp, const char *id, json_t *hs, json_t *rooms, json_t *data)
{
    json_t *adm = json_object_get(data, "_admin");
    json_t *o = json_pack("{s:s}", "id", id);
    json_t *headers = json_object_get(hs, "headers");
    json_t *addr = json_object_get(headers, "cf-connecting-ip");
    if (!json_is_string(addr) || json_string_length(addr) == 0)
        addr = json_object_get(headers, "x-forwarded-for");
    if (!json_is_string(addr) || json_string_length(addr) == 0)
        addr = json_object_get(hs, "address");
    json_t *h = json_object();
    if (o == NULL || h == NULL) {
        json_decref(o);
        json_decref(h);
        return NULL;
    }
    static const char *const keys[] = {"headers", "query", "issued", "secure",
                                       "time",    "url",   "xdomain"};
    json_object_set(h, "address", addr ? addr : json_null());
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (json_object_get(hs, keys[i]) != NULL)
            json_object_set(h, keys[i], json_object_get(hs, keys[i]));
    /* undefined fields are left out, as JSON.stringify does */
    if (json_object_get(adm, "clientId") != NULL)
        json_object_set(o, "clientId", json_object_get(adm, "clientId"));
    if (json_object_get(adm, "transport") != NULL)
        json_object_set(o, "transport", json_object_get(adm, "transport"));
    json_object_set_new(o, "nsp", json_string(nsp));
    json_object_set_new(o, "data", data_public(data));
    json_object_set_new(o, "handshake", h);
    json_object_set(o, "rooms", rooms ? rooms : json_array());
    return o;
}

/* serialize() of a socket of this server. */
static json_t *serialize_local(sio_socket *s)
{
    json_t *d = sio__socket_describe(s);
    json_t *o = d ? serialize(s->nsp->name, s->id, json_object_get(d, "handshake"),
                              json_object_get(d, "rooms"), json_object_get(d, "data"))
                  : NULL;
    json_decref(d);
    return o;
}

static const char *transport_name(const sio_socket *s)
{
    sio__client *c = s->client;
    int t = c && c->conn && c->ops->transport ? c->ops->transport(c->conn) : SIO_TRANSPORT_POLLING;
    return t == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}

/* ---- aggregated events (Node's EventBuffer) */

static void agg_push(sio__admin *a, const char *type, const char *sub, uint64_t count)
{
    int64_t ts = wall_ms(a);
    ts -= ts % 1000;
    for (size_t i = 0; i < a->nagg; i++) {
        agg_event *e = &a->agg[i];
        if (e->ts == ts && e->type == type &&
            (e->sub == sub || (e->sub && sub && strcmp(e->sub, sub) == 0))) {
            e->count += count;
            return;
        }
    }
    if (a->nagg == a->cagg) {
        size_t ncap = a->cagg ? a->cagg * 2 : 16;
        agg_event *n = sio__realloc(a->agg, ncap * sizeof *n);
        if (n == NULL)
            return; /* a statistic lost, nothing else */
        a->agg = n;
        a->cagg = ncap;
    }
    char *copy = sub ? sio__strdup(sub) : NULL;
    if (sub != NULL && copy == NULL)
        return;
    a->agg[a->nagg++] = (agg_event){ts, type, copy, count};
}

/* The buffer as Node's getValuesAndClear() returns it. */
static json_t *agg_take(sio__admin *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->nagg; i++) {
        agg_event *e = &a->agg[i];
        json_t *o = json_pack("{s:I,s:s}", "timestamp", (json_int_t)e->ts, "type", e->type);
        if (o != NULL && e->sub != NULL)
            json_object_set_new(o, "subType", json_string(e->sub));
        if (o != NULL)
            json_object_set_new(o, "count", json_integer((json_int_t)e->count));
        if (arr != NULL && o != NULL)
            json_array_append_new(arr, o);
        else
            json_decref(o);
        sio__free(e->sub);
    }
    a->nagg = 0;
    return arr;
}

void sio__admin_client_opened(sio__admin *a)
{
    agg_push(a, "rawConnection", NULL, 1);
}

void sio__admin_client_closed(sio__admin *a, const char *reason)
{
    agg_push(a, "rawDisconnection", reason, 1);
}

void sio__admin_packet(sio__admin *a, int out, size_t bytes)
{
    agg_push(a, out ? "packetsOut" : "packetsIn", NULL, 1);
    agg_push(a, out ? "bytesOut" : "bytesIn", NULL, bytes);
}

/* ---- server_stats */

/* Node's namespaces: [{name, socketsCount}] in creation order. */
static json_t *namespaces_json(sio_server *srv)
{
    json_t *arr = json_array();
    sio__map_iter it;
    void *v;
    sio__map_iter_init(&it, &srv->nsps);
    while (arr != NULL && sio__map_iter_next(&it, NULL, NULL, &v)) {
        sio_namespace *nsp = v;
        /* the map walks newest first */
        json_array_insert_new(arr, 0,
                              json_pack("{s:s,s:I}", "name", nsp->name, "socketsCount",
                                        (json_int_t)sio_namespace_sockets_count(nsp)));
    }
    return arr;
}

static void emit_stats(sio__admin *a)
{
    size_t clients = 0, polling = 0;
    for (sio__list *it = a->srv->clients.next; it != &a->srv->clients; it = it->next) {
        sio__client *c = SIO_CONTAINER_OF(it, sio__client, node);
        if (c->conn == NULL)
            continue;
        clients++;
        if (c->ops->transport == NULL || c->ops->transport(c->conn) == SIO_TRANSPORT_POLLING)
            polling++;
    }
    json_t *stats =
        json_pack("{s:s,s:s,s:I,s:f,s:I,s:I,s:o,s:o}", "serverId", a->server_id, "hostname",
                  a->hostname, "pid", (json_int_t)a->env.pid, "uptime", a->env.uptime(a->env.ctx),
                  "clientsCount", (json_int_t)clients, "pollingClientsCount", (json_int_t)polling,
                  "aggregatedEvents", agg_take(a), "namespaces", namespaces_json(a->srv));
    if (stats != NULL)
        admin_emit(a, "server_stats", json_pack("[o]", stats));
}

static void stats_fire(sio__timer *t, void *data)
{
    sio__admin *a = data;
    emit_stats(a);
    sio__timer_start(a->srv->env.timers, t, sio__now(a->srv) + a->interval);
}

/* ---- room events (development mode) */

static void left_flush(sio__admin *a)
{
    sio__timer_stop(&a->left_timer);
    /* emitting may queue more (an admin socket leaving): take the batch */
    left_event *batch = a->left;
    size_t n = a->nleft;
    a->left = NULL;
    a->nleft = a->cleft = 0;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(batch[i].args, date_now(a));
        admin_emit(a, "room_left", batch[i].args);
    }
    sio__free(batch);
}

static void left_fire(sio__timer *t, void *data)
{
    left_flush(data);
}

static void left_queue(sio__admin *a, json_t *args)
{
    if (args == NULL)
        return;
    if (a->nleft == a->cleft) {
        size_t ncap = a->cleft ? a->cleft * 2 : 8;
        left_event *n = sio__realloc(a->left, ncap * sizeof *n);
        if (n == NULL) {
            json_decref(args);
            return;
        }
        a->left = n;
        a->cleft = ncap;
    }
    a->left[a->nleft++] = (left_event){args};
    if (a->srv->env.timers != NULL && !sio__timer_active(&a->left_timer))
        sio__timer_start(a->srv->env.timers, &a->left_timer, sio__now(a->srv));
}

static void room_cb(sio_namespace *nsp, sio_room_event ev, const char *room, const char *sid,
                    void *data)
{
    sio__admin *a = data;
    if (ev == SIO_ROOM_JOIN)
        admin_emit(a, "room_joined", json_pack("[s,s,s,o]", nsp->name, room, sid, date_now(a)));
    else if (ev == SIO_ROOM_LEAVE)
        left_queue(a, json_pack("[s,s,s]", nsp->name, room, sid));
}

void sio__admin_namespace_added(sio__admin *a, sio_namespace *nsp)
{
    if (a->dev)
        sio_namespace_on_room_event(nsp, room_cb, a);
}

/* ---- socket events (development mode) */

/* The socket's public data, serialised to compare (NULL on OOM). */
static char *data_dump(sio_socket *s)
{
    json_t *d = data_public(sio_socket_data_json(s));
    char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    return text;
}

/* "event_received"/"event_sent" (nsp, id, [event, ...args], date), the
 * arguments' binary attachments carried along. */
static void emit_event_log(sio__admin *a, const char *name, sio_socket *s, const char *event,
                           const sio_args *args)
{
    sio_args *inner = sio_args_new();
    sio_args *out = sio_args_new();
    int rc = inner && out ? sio_args_push(inner, json_string(event)) : SIO_ENOMEM;
    for (size_t i = 0; rc == 0 && args && i < sio_args_count(args); i++)
        rc = sio__args_push_arg(inner, args, i);
    if (rc == 0)
        rc = sio_args_push(out, json_string(s->nsp->name));
    if (rc == 0)
        rc = sio_args_push(out, json_string(s->id));
    if (rc == 0)
        rc = sio_args_push(out, json_incref(inner->arr));
    if (rc == 0) {
        /* out has no attachments of its own: inner's numbering holds */
        out->att = inner->att;
        out->natt = inner->natt;
        out->catt = inner->catt;
        inner->att = NULL;
        inner->natt = inner->catt = 0;
        rc = sio_args_push(out, date_now(a));
    }
    if (rc == 0)
        sio_namespace_emit(a->nsp, name, out);
    sio_args_free(inner);
    sio_args_free(out);
}

static void on_any(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *data)
{
    emit_event_log(data, "event_received", s, event, args);
}

static void on_any_out(sio_socket *s, const char *event, const sio_args *args, void *data)
{
    emit_event_log(data, "event_sent", s, event, args);
}

static void on_disconnect(sio_socket *s, const char *reason, void *data)
{
    sio__admin *a = data;
    sio_socket *key = s;
    sio__free(sio__map_remove(&a->dumps, (const char *)&key, sizeof key));
    admin_emit(a, "socket_disconnected",
               json_pack("[s,s,s,o]", s->nsp->name, s->id, reason, date_now(a)));
    left_flush(a); /* Node's nextTick runs right after the disconnect */
}

/* "socket_updated" with s's public data (data, borrowed, or s's own). */
static void emit_updated(sio__admin *a, sio_socket *s, json_t *data)
{
    admin_emit(a, "socket_updated",
               json_pack("[{s:s,s:s,s:o}]", "id", s->id, "nsp", s->nsp->name, "data",
                         data_public(data ? data : sio_socket_data_json(s))));
}

/* Keeps now (owned) as s's data as last seen. */
static void keep_dump(sio__admin *a, sio_socket *s, char *now)
{
    sio_socket *key = s;
    sio__free(sio__map_remove(&a->dumps, (const char *)&key, sizeof key));
    if (now != NULL && sio__map_put(&a->dumps, (const char *)&key, sizeof key, now) < 0)
        sio__free(now);
}

/* What a middleware put in s's data, as Node's connection listener sees
 * it: it proxies a new {_admin} and copies the keys in one by one, each
 * copy a Proxy set, so one socket_updated per key with the keys so far,
 * before socket_connected. */
static void replay_middleware_data(sio__admin *a, sio_socket *s, json_t *data)
{
    json_t *so_far = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(data, key, v)
    {
        if (so_far == NULL || strcmp(key, "_admin") == 0 || json_object_set(so_far, key, v) < 0)
            continue;
        emit_updated(a, s, so_far);
    }
    json_decref(so_far);
}

void sio__admin_socket_connected(sio__admin *a, sio_socket *s)
{
    if (!a->dev)
        return;
    /* Node: socket.data = {_admin: {clientId, transport}, ...data} */
    sio__client *c = s->client;
    const char *eid = c && c->conn && c->ops->id ? c->ops->id(c->conn) : "";
    json_t *data = sio_socket_data_json(s);
    json_t *adm = json_pack("{s:s%,s:s}", "clientId", eid, strlen(eid) < 12 ? strlen(eid) : 12,
                            "transport", transport_name(s));
    if (data != NULL)
        replay_middleware_data(a, s, data);
    if (data == NULL || adm == NULL || json_object_set_new(data, "_admin", adm) < 0)
        return;
    keep_dump(a, s, data_dump(s));
    json_t *ser = serialize_local(s);
    if (ser != NULL)
        admin_emit(a, "socket_connected", json_pack("[o,o]", ser, date_now(a)));
    if (s->nsp != a->nsp) {
        sio_socket_on_any(s, on_any, a);
        sio_socket_on_any_outgoing(s, on_any_out, a);
    }
    sio_socket_on_disconnect(s, on_disconnect, a);
}

/* s's data as last seen, if s is instrumented (connected, development). */
static const char *seen_dump(sio__admin *a, sio_socket *s)
{
    sio_socket *key = s;
    return a->dev && s->connected ? sio__map_get(&a->dumps, (const char *)&key, sizeof key) : NULL;
}

void sio__admin_socket_data_set(sio__admin *a, sio_socket *s)
{
    if (seen_dump(a, s) == NULL)
        return; /* not connected yet: replay_middleware_data shows it */
    keep_dump(a, s, data_dump(s));
    emit_updated(a, s, NULL);
}

/* A change made on the object itself, which no call tells of: the best a
 * C program's plain JSON object allows is a comparison at the points where
 * the application had it (sio_socket_data_set is the exact way). */
void sio__admin_socket_touched(sio__admin *a, sio_socket *s)
{
    const char *old = seen_dump(a, s);
    char *now = old ? data_dump(s) : NULL;
    if (now == NULL || strcmp(now, old) == 0) {
        sio__free(now);
        return;
    }
    keep_dump(a, s, now);
    emit_updated(a, s, NULL);
}

void sio__admin_client_upgraded(sio__admin *a, sio__client *c)
{
    if (!a->dev)
        return;
    for (sio__list *it = c->sockets.next; it != &c->sockets; it = it->next) {
        sio_socket *s = SIO_CONTAINER_OF(it, sio_socket, client_node);
        json_t *adm = s->connected ? json_object_get(sio_socket_data_json(s), "_admin") : NULL;
        if (!json_is_object(adm))
            continue;
        json_object_set_new(adm, "transport", json_string("websocket"));
        admin_emit(a, "socket_updated",
                   json_pack("[{s:s,s:s,s:s}]", "id", s->id, "nsp", s->nsp->name, "transport",
                             "websocket"));
    }
}

/* ---- authentication */

/* Sends "session" (id) to a socket that is not connected yet: Node's
 * socket.emit inside the middleware, which goes out before the CONNECT. */
static void send_session(sio_socket *s, const char *id)
{
    sio_args *args = sio_args_json(json_pack("[s]", id));
    sio__encoded e;
    if (args != NULL && sio__encode_args(&e, 0, s->nsp->name, -1, "session", args, NULL) == 0) {
        sio__socket_send(s, &e);
        sio__encoded_free(&e);
    }
    sio_args_free(args);
}

/* Node's randomId(): 8 random bytes in hex. */
static int new_session(sio__admin *a, char *out)
{
    unsigned char b[8];
    if (a->srv->env.random(a->srv->env.arg, b, sizeof b) < 0)
        return SIO_EIO;
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return sio__map_put(&a->sessions, out, 16, a); /* any non-NULL value */
}

static void verify_done(int ok, void *arg)
{
    verify_req *r = arg;
    sio__admin *a = r->a;
    if (a == NULL) { /* ended by sio__admin_free */
        sio__free(r);
        return;
    }
    sio__list_remove(&r->node);
    char id[17];
    if (ok && new_session(a, id) == 0) {
        SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_DEBUG,
                "admin: authentication success with valid "
                "credentials");
        send_session(r->s, id);
        sio_next(r->next);
    } else {
        sio_next_error(r->next, "invalid credentials", NULL);
    }
    sio__free(r);
}

static void auth_mw(sio_socket *s, sio_middleware_next *next, void *data)
{
    sio__admin *a = data;
    json_t *auth = sio_socket_auth(s);
    const char *sid = json_string_value(json_object_get(auth, "sessionId"));
    if (sid != NULL && sio__map_get(&a->sessions, sid, strlen(sid)) != NULL) {
        sio_next(next);
        return;
    }
    const char *user = json_string_value(json_object_get(auth, "username"));
    const char *pw = json_string_value(json_object_get(auth, "password"));
    if (user != NULL && pw != NULL && strcmp(user, a->username) == 0) {
        verify_req *r = sio__calloc(1, sizeof *r);
        if (r != NULL) {
            *r = (verify_req){.a = a, .next = next, .s = s};
            sio__list_insert_tail(&a->verifies, &r->node);
            if (a->env.verify(a->env.ctx, a->password, pw, verify_done, r) == 0)
                return;
            sio__list_remove(&r->node);
            sio__free(r);
        }
    }
    SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_DEBUG, "admin: invalid credentials");
    sio_next_error(next, "invalid credentials", NULL);
}

/* ---- the UI's actions (registerFeatureHandlers, Socket.IO v4 branch) */

/* io.of(nsp).in(filter) for the arguments at ns and filter (filter falsy:
 * every socket); NULL if nsp is not a string. */
static sio_broadcast *target(sio__admin *a, const sio_args *args, size_t ns, size_t filter)
{
    const char *name = json_string_value(sio_args_get(args, ns));
    if (name == NULL)
        return NULL;
    sio_namespace *nsp;
    if (name[0] == '/') {
        nsp = sio_server_of(a->srv, name);
    } else { /* Node's io.of("x") is "/x" */
        size_t n = strlen(name);
        char *full = sio__malloc(n + 2);
        if (full == NULL)
            return NULL;
        full[0] = '/';
        memcpy(full + 1, name, n + 1);
        nsp = sio_server_of(a->srv, full);
        sio__free(full);
    }
    sio_broadcast *b = nsp ? sio_broadcast_new(nsp) : NULL;
    const char *room = json_string_value(sio_args_get(args, filter));
    if (b != NULL && room != NULL && room[0] != '\0')
        b = sio_broadcast_to(b, room);
    return b;
}

/* "emit" (nsp, filter, ev, ...args) */
static void act_emit(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    const char *ev = json_string_value(sio_args_get(args, 2));
    sio_broadcast *b = ev ? target(data, args, 0, 1) : NULL;
    sio_args *rest = b ? sio_args_new() : NULL;
    int rc = rest ? 0 : SIO_ENOMEM;
    for (size_t i = 3; rc == 0 && i < sio_args_count(args); i++)
        rc = sio__args_push_arg(rest, args, i);
    if (rc == 0) {
        sio_broadcast_emit(b, ev, rest);
        b = NULL;
    }
    sio_broadcast_free(b);
    sio_args_free(rest);
}

/* "join"/"leave" (nsp, room, filter) */
static void act_room(sio_socket *s, const sio_args *args, int join, void *data)
{
    const char *room = json_string_value(sio_args_get(args, 1));
    sio_broadcast *b = room ? target(data, args, 0, 2) : NULL;
    if (b == NULL)
        return;
    if (join)
        sio_broadcast_sockets_join(b, room);
    else
        sio_broadcast_sockets_leave(b, room);
}

static void act_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    act_room(s, args, 1, data);
}

static void act_leave(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    act_room(s, args, 0, data);
}

/* "_disconnect" (nsp, close, filter) */
static void act_disconnect(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    json_t *close = sio_args_get(args, 1);
    sio_broadcast *b = target(data, args, 0, 2);
    if (b != NULL)
        sio_broadcast_disconnect_sockets(b, close != NULL && json_is_true(close));
}

/* ---- all_sockets: fetchSockets() on every namespace */

typedef struct fetch_all fetch_all;
typedef struct fetch_part {
    fetch_all *all;
    json_t *list; /* this namespace's serialised sockets */
} fetch_part;
struct fetch_all {
    sio_socket *s; /* the admin socket (referenced) */
    size_t n, pending;
    int failed;         /* a namespace's fetch failed: no all_sockets */
    fetch_part parts[]; /* in namespace creation order */
};

static void fetch_finish(fetch_all *f)
{
    if (--f->pending > 0)
        return;
    /* Node's Promise.all rejects and all_sockets is never sent (the
     * rejection is unhandled: logged here instead) */
    json_t *all = f->failed ? NULL : json_array();
    if (f->failed)
        SIO_LOG(SIO_LOG_SOCKET, SIO_LOG_WARN, "admin: fetchSockets failed: no all_sockets for %s",
                f->s->id);
    for (size_t i = 0; i < f->n; i++) {
        if (all != NULL && f->parts[i].list != NULL)
            json_array_extend(all, f->parts[i].list);
        json_decref(f->parts[i].list);
    }
    sio_args *args = all ? sio_args_json(json_pack("[o]", all)) : NULL;
    if (args != NULL)
        sio_emit(f->s, "all_sockets", args);
    sio_args_free(args);
    sio_socket_unref(f->s);
    sio__free(f);
}

static void fetch_one(sio_namespace *nsp, int err, sio_fetch_result *r, void *data)
{
    fetch_part *p = data;
    if (err != 0) /* a node did not answer */
        p->all->failed = 1;
    for (size_t i = 0; err == 0 && p->list != NULL && i < sio_fetch_result_count(r); i++) {
        sio_remote_socket *rs = sio_fetch_result_get(r, i);
        json_t *o = serialize(nsp->name, sio_remote_socket_id(rs), sio_remote_socket_handshake(rs),
                              sio_remote_socket_rooms(rs), sio_remote_socket_data(rs));
        if (o != NULL)
            json_array_append_new(p->list, o);
    }
    if (r != NULL)
        sio_fetch_result_free(r);
    fetch_finish(p->all);
}

static void send_all_sockets(sio__admin *a, sio_socket *s)
{
    size_t n = sio__map_size(&a->srv->nsps);
    fetch_all *f = sio__calloc(1, sizeof *f + n * sizeof(fetch_part));
    if (f == NULL)
        return;
    f->s = s;
    f->n = n;
    f->pending = n + 1; /* the walk below holds one */
    sio_socket_ref(s);
    sio_namespace **v = sio__calloc(n ? n : 1, sizeof *v);
    sio__map_iter it;
    void *nsp;
    size_t k = n;
    sio__map_iter_init(&it, &a->srv->nsps);
    while (v != NULL && k > 0 && sio__map_iter_next(&it, NULL, NULL, &nsp))
        v[--k] = nsp; /* newest first: filled from the back */
    for (size_t i = 0; i < n; i++) {
        f->parts[i] = (fetch_part){f, json_array()};
        sio_broadcast *b = v && v[i] ? sio_broadcast_new(v[i]) : NULL;
        if (b == NULL || sio_broadcast_fetch_sockets_async(b, fetch_one, &f->parts[i]) < 0) {
            f->failed = 1;
            fetch_finish(f);
        }
    }
    sio__free(v);
    fetch_finish(f);
}

/* The admin namespace's connection callback. */
static void admin_connection(sio_socket *s, void *data)
{
    sio__admin *a = data;
    if (!a->readonly) {
        sio_socket_on(s, "emit", act_emit, a);
        sio_socket_on(s, "join", act_join, a);
        sio_socket_on(s, "leave", act_leave, a);
        sio_socket_on(s, "_disconnect", act_disconnect, a);
    }
    sio_args *args = sio_args_json(json_pack("[{s:O}]", "supportedFeatures", a->features));
    if (args != NULL)
        sio_emit(s, "config", args);
    sio_args_free(args);
    if (a->dev && s->connected)
        send_all_sockets(a, s);
}

/* ---- set-up and teardown */

/* Node's bcryptjs.getRounds() check: "$2a$NN$" + 53 characters. */
int sio__admin_is_bcrypt(const char *h)
{
    if (h == NULL || strlen(h) != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$')
        return 0;
    return (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[4] >= '0' && h[4] <= '3' &&
           h[5] >= '0' && h[5] <= '9';
}

static int check_options(const sio_admin_options *o)
{
    const char *name = o->namespace_name;
    if (name == NULL || name[0] != '/')
        return SIO_EINVAL;
    if (o->username != NULL && !sio__admin_is_bcrypt(o->password))
        return SIO_EINVAL;
    return 0;
}

static json_t *features_json(const sio_admin_options *o, int dev)
{
    json_t *f = o->readonly ? json_array()
                            : json_pack("[s,s,s,s,s,s,s]", "EMIT", "JOIN", "LEAVE", "DISCONNECT",
                                        "MJOIN", "MLEAVE", "MDISCONNECT");
    if (f != NULL)
        json_array_append_new(f, json_string("AGGREGATED_EVENTS"));
    if (f != NULL && dev)
        json_array_append_new(f, json_string("ALL_EVENTS"));
    return f;
}

/* Attaches a to its namespace and to every namespace there is. */
static int attach(sio__admin *a)
{
    if (a->username != NULL && sio_namespace_use(a->nsp, auth_mw, a) < 0)
        return SIO_ENOMEM;
    sio_namespace_on_connection(a->nsp, admin_connection, a);
    sio__map_iter it;
    void *nsp;
    sio__map_iter_init(&it, &a->srv->nsps);
    while (sio__map_iter_next(&it, NULL, NULL, &nsp))
        if (a->dev && sio_namespace_on_room_event(nsp, room_cb, a) < 0)
            return SIO_ENOMEM;
    a->srv->admin = a;
    emit_stats(a); /* Node emits once at once, then on the interval */
    if (a->srv->env.timers != NULL)
        sio__timer_start(a->srv->env.timers, &a->stats_timer, sio__now(a->srv) + a->interval);
    return 0;
}

int sio__admin_new(sio_server *srv, const sio_admin_options *o, const sio__admin_env *env)
{
    int rc = check_options(o);
    if (rc < 0)
        return rc;
    if (srv->admin != NULL)
        return SIO_EEXIST;
    sio__admin *a = sio__calloc(1, sizeof *a);
    if (a == NULL)
        return SIO_ENOMEM;
    a->srv = srv;
    a->env = *env;
    a->readonly = o->readonly != 0;
    a->dev = o->mode == NULL || strcmp(o->mode, "development") == 0;
    a->interval = o->stats_interval ? o->stats_interval : 2000;
    sio__map_init(&a->sessions);
    sio__map_init(&a->dumps);
    sio__list_init(&a->verifies);
    sio__timer_init(&a->stats_timer, stats_fire, a);
    sio__timer_init(&a->left_timer, left_fire, a);
    a->hostname = sio__strdup(env->hostname ? env->hostname : "");
    a->server_id = sio__strdup(o->server_id ? o->server_id : a->hostname ? a->hostname : "");
    a->username = o->username ? sio__strdup(o->username) : NULL;
    a->password = o->username ? sio__strdup(o->password) : NULL;
    a->features = features_json(o, a->dev);
    a->nsp = sio_server_of(srv, o->namespace_name);
    if (a->hostname == NULL || a->server_id == NULL || (o->username && !a->password) ||
        (o->username && !a->username) || a->features == NULL || a->nsp == NULL ||
        (rc = attach(a)) < 0) {
        srv->admin = NULL;
        sio__admin_free(a);
        return rc < 0 ? rc : SIO_ENOMEM;
    }
    return 0;
}

void sio__admin_free(sio__admin *a)
{
    if (a == NULL)
        return;
    while (!sio__list_empty(&a->verifies)) {
        verify_req *r = SIO_CONTAINER_OF(a->verifies.next, verify_req, node);
        sio__list_remove(&r->node);
        r->a = NULL; /* its done callback frees it */
        sio_next_error(r->next, "invalid credentials", NULL);
    }
    sio__timer_stop(&a->stats_timer);
    sio__timer_stop(&a->left_timer);
    for (size_t i = 0; i < a->nleft; i++)
        json_decref(a->left[i].args);
    sio__free(a->left);
    for (size_t i = 0; i < a->nagg; i++)
        sio__free(a->agg[i].sub);
    sio__free(a->agg);
    sio__map_iter it;
    void *v;
    sio__map_iter_init(&it, &a->dumps);
    while (sio__map_iter_next(&it, NULL, NULL, &v))
        sio__free(v);
    sio__map_free(&a->dumps);
    sio__map_free(&a->sessions);
    json_decref(a->features);
    sio__free(a->username);
    sio__free(a->password);
    sio__free(a->server_id);
    sio__free(a->hostname);
    sio__free(a);
}
