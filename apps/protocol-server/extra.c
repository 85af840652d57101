/* Test-only Socket.IO namespaces of sioc-protocol-server (SIOC_SIO_EXTRA=1),
 * driven by tests/e2e/socketio_more.test.mjs, whose in-process Node
 * reference implements the same events.
 *
 * "/test": a remote control for the server API. Each event below does one
 * server-side operation and acknowledges (when asked) with its result:
 *   join(room) leave(room) set-data(obj) info() -> {id,rooms,data,recovered}
 *       (a join the server refuses, over a rooms limit, acks {error})
 *   to({rooms,except,from,volatile,event,args}) broadcast (from: socket.broadcast)
 *   ask(timeoutMs): the server emits "ask" with an ack and reports
 *       "ask-result" [error message or null, ...the client's ack args]
 *   disconnect-me(close) sockets-join({room,target}) sockets-leave({room,target})
 *   disconnect-sockets({room,close}) fetch(room) -> [ids]
 *   reason(id) -> {reason, disconnecting, rooms} recorded when id disconnected
 *   release-held() -> how many pending "/mw" middlewares were accepted
 * "/mw": a middleware accepting auth.token "ok", holding "later" until
 * release-held, refusing the rest with "not authorized" and data
 * {"content":"Please retry later"}; a second middleware sets data.mw = 2;
 * on connection the server emits "welcome" with socket.data. */
#include <stdlib.h>
#include <string.h>

#include "socketio.h"

/* id -> {reason, disconnecting, rooms}: what each disconnect looked like. */
static json_t *reasons;
/* Middleware steps waiting for release-held or mw-release (api.c). */
static sio_middleware_next *held[64];
static size_t nheld;

/* Acks with one value (stolen), or with nothing when value is NULL. */
static void reply(sio_ack *ack, json_t *value)
{
    sio_args *a = sio_args_new();
    if (a != NULL && value != NULL)
        sio_args_push(a, value);
    else
        json_decref(value);
    if (ack != NULL && a != NULL)
        sio_ack_send(ack, a);
    sio_args_free(a);
}

static const char *arg_str(const sio_args *args, size_t i)
{
    return json_string_value(sio_args_get(args, i));
}

/* A join the server refuses (a rooms limit) is acked with {error}. */
static void on_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    int rc = arg_str(args, 0) ? sio_socket_join(s, arg_str(args, 0)) : 0;
    reply(ack, rc < 0 ? json_pack("{s:s}", "error", sio_strerror(rc)) : NULL);
}

static void on_leave(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    if (arg_str(args, 0))
        sio_socket_leave(s, arg_str(args, 0));
    reply(ack, NULL);
}

static void on_set_data(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    protocol_server_assign_data(s, sio_args_get(args, 0));
    reply(ack, NULL);
}

/* The socket's rooms as a sorted JSON array. */
static json_t *rooms_of(const sio_socket *s)
{
    const char *names[64];
    size_t n = sio_socket_rooms(s, names, 64);
    if (n > 64)
        n = 64;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    return arr;
}

static void on_info(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    reply(ack, json_pack("{s:s,s:o,s:O,s:b}", "id", sio_socket_id(s), "rooms", rooms_of(s), "data",
                         sio_socket_data_json(s), "recovered", sio_socket_recovered(s)));
}

/* Applies {rooms:[...], except:[...]} of o to a new operator. */
static sio_broadcast *target(sio_socket *s, const json_t *o, int from)
{
    sio_broadcast *b = from ? sio_socket_broadcast(s) : sio_broadcast_new(sio_socket_namespace(s));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "rooms"), i, v)
    {
        b = sio_broadcast_to(b, json_string_value(v));
    }
    json_array_foreach(json_object_get(o, "except"), i, v)
    {
        b = sio_broadcast_except(b, json_string_value(v));
    }
    return b;
}

static void on_to(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    sio_broadcast *b = target(s, o, json_is_true(json_object_get(o, "from")));
    if (json_is_true(json_object_get(o, "volatile")))
        b = sio_broadcast_volatile(b);
    json_t *arr = json_object_get(o, "args");
    sio_args *a = sio_args_json(json_is_array(arr) ? json_incref(arr) : json_array());
    const char *ev = json_string_value(json_object_get(o, "event"));
    int rc = sio_broadcast_emit(b, ev ? ev : "", a);
    sio_args_free(a);
    reply(ack, json_integer(rc));
}

static void ask_done(sio_socket *s, int err, const sio_args *args, void *d)
{
    sio_args *a = sio_args_new();
    if (a == NULL)
        return;
    sio_args_push(
        a, err ? json_string(err == SIO_ETIMEDOUT ? "operation has timed out" : sio_strerror(err))
               : json_null());
    for (size_t i = 0; i < sio_args_count(args); i++)
        sio_args_push(a, json_incref(sio_args_get(args, i)));
    sio_emit(s, "ask-result", a);
    sio_args_free(a);
}

static void on_ask(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    json_int_t ms = json_integer_value(sio_args_get(args, 0));
    sio_emit_with_ack(s, "ask", NULL, (uint32_t)ms, ask_done, NULL);
    reply(ack, NULL);
}

static void on_disconnect_me(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_socket_disconnect(s, json_is_true(sio_args_get(args, 0)));
}

/* socketsJoin/socketsLeave: the sockets in {room} join or leave {target}. */
static void sockets_room_op(sio_socket *s, const sio_args *args, sio_ack *ack,
                            int (*op)(sio_broadcast *b, const char *room))
{
    const json_t *o = sio_args_get(args, 0);
    const char *room = json_string_value(json_object_get(o, "room"));
    const char *t = json_string_value(json_object_get(o, "target"));
    sio_broadcast *b = sio_broadcast_to(sio_broadcast_new(sio_socket_namespace(s)), room);
    if (t == NULL)
        sio_broadcast_free(b);
    reply(ack, json_integer(t ? op(b, t) : SIO_EINVAL));
}

static void on_sockets_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sockets_room_op(s, args, ack, sio_broadcast_sockets_join);
}

static void on_sockets_leave(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sockets_room_op(s, args, ack, sio_broadcast_sockets_leave);
}

static void on_disconnect_sockets(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    const char *room = json_string_value(json_object_get(o, "room"));
    reply(ack, NULL);
    sio_broadcast_disconnect_sockets(
        sio_broadcast_to(sio_broadcast_new(sio_socket_namespace(s)), room),
        json_is_true(json_object_get(o, "close")));
}

static void on_fetch(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_socket **v;
    size_t n;
    sio_broadcast *b = sio_broadcast_new(sio_socket_namespace(s));
    if (arg_str(args, 0))
        b = sio_broadcast_to(b, arg_str(args, 0));
    json_t *ids = json_array();
    if (sio_broadcast_fetch_sockets(b, &v, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ids, json_string(sio_socket_id(v[i])));
        sio_sockets_release(v, n);
    }
    reply(ack, ids);
}

static void on_reason(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const char *id = arg_str(args, 0);
    json_t *r = id ? json_object_get(reasons, id) : NULL;
    reply(ack, r ? json_incref(r) : json_null());
}

int protocol_server_hold(sio_middleware_next *next)
{
    if (nheld == sizeof held / sizeof held[0])
        return -1;
    held[nheld++] = next;
    return 0;
}

size_t protocol_server_release_held(void)
{
    size_t n = nheld;
    nheld = 0;
    for (size_t i = 0; i < n; i++)
        sio_next(held[i]);
    return n;
}

static void on_release_held(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    reply(ack, json_integer((json_int_t)protocol_server_release_held()));
}

static void on_disconnecting(sio_socket *s, const char *reason, void *d)
{
    json_object_set_new(reasons, sio_socket_id(s),
                        json_pack("{s:s,s:o}", "disconnecting", reason, "rooms", rooms_of(s)));
}

static void on_disconnect(sio_socket *s, const char *reason, void *d)
{
    json_t *r = json_object_get(reasons, sio_socket_id(s));
    if (r != NULL)
        json_object_set_new(r, "reason", json_string(reason));
}

static void on_test_connection(sio_socket *s, void *data)
{
    static const struct {
        const char *event;
        sio_event_cb cb;
    } table[] = {
        {"join", on_join},
        {"leave", on_leave},
        {"set-data", on_set_data},
        {"info", on_info},
        {"to", on_to},
        {"ask", on_ask},
        {"disconnect-me", on_disconnect_me},
        {"sockets-join", on_sockets_join},
        {"sockets-leave", on_sockets_leave},
        {"disconnect-sockets", on_disconnect_sockets},
        {"fetch", on_fetch},
        {"reason", on_reason},
        {"release-held", on_release_held},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        sio_socket_on(s, table[i].event, table[i].cb, NULL);
    sio_socket_on_disconnecting(s, on_disconnecting, NULL);
    sio_socket_on_disconnect(s, on_disconnect, NULL);
}

static void mw_auth(sio_socket *s, sio_middleware_next *next, void *data)
{
    const char *token = json_string_value(json_object_get(sio_socket_auth(s), "token"));
    if (token && strcmp(token, "ok") == 0) {
        sio_next(next);
        return;
    }
    if (token && strcmp(token, "later") == 0 && protocol_server_hold(next) == 0)
        return; /* until release-held */
    json_t *d = json_pack("{s:s}", "content", "Please retry later");
    sio_next_error(next, "not authorized", d);
}

static void mw_mark(sio_socket *s, sio_middleware_next *next, void *data)
{
    json_object_set_new(sio_socket_data_json(s), "mw", json_integer(2));
    sio_next(next);
}

static void on_mw_connection(sio_socket *s, void *data)
{
    sio_args *a = sio_args_new();
    if (a != NULL && sio_args_push(a, json_incref(sio_socket_data_json(s))) == 0)
        sio_emit(s, "welcome", a);
    sio_args_free(a);
}

static void free_reasons(void)
{
    json_decref(reasons);
    for (size_t i = 0; i < nheld; i++)
        sio_next_error(held[i], "shutting down", NULL);
    nheld = 0;
}

int protocol_server_socketio_extra(sio_server *io)
{
    sio_namespace *test = sio_server_of(io, "/test");
    sio_namespace *mw = sio_server_of(io, "/mw");
    reasons = json_object();
    if (test == NULL || mw == NULL || reasons == NULL)
        return SIO_ENOMEM;
    atexit(free_reasons);
    sio_namespace_on_connection(test, on_test_connection, NULL);
    sio_namespace_on_connection(mw, on_mw_connection, NULL);
    int rc = sio_namespace_use(mw, mw_auth, NULL);
    return rc ? rc : sio_namespace_use(mw, mw_mark, NULL);
}
