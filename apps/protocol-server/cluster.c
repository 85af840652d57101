/* Namespace "/cluster" of sioc-protocol-server: remote controls for the
 * cluster API, driven by tests/e2e/cluster_api.test.mjs; the Node twin is
 * in tests/ref/protocol-server.mjs (clusterConnection). Each event acks
 * with its result:
 *   fetch(room) -> [{id, rooms, data, hs}] sorted by id (fetchSockets)
 *   fetch-op({room, op, arg}) -> count: each fetched socket emit("op-hit",
 *       arg) / join(arg) / leave(arg) / disconnect(arg)
 *   join(room) info() -> {rooms} set-data(obj)
 *   set-data-later(obj) -> null; emits "data-please" with an ack, and
 *       sets the data when the client answers it
 * and a middleware: auth.data (an object) goes into socket.data
 *   bcast-ack({rooms, timeout}) -> null; later emits "bcast-ack-result"
 *       {err, responses} for io.to(rooms).timeout(ms).emit("q", cb)
 *   server-side(withAck) -> null (serverSideEmit("ping", 1[, cb]))
 *   server-side-result() -> {called, local}: callbacks and local handler
 *       runs so far
 *   server-count() room-size(room) rooms()
 *   room-events() -> the room events logged since the last call */
#include <stdlib.h>
#include <string.h>

#include "socketio.h"

static json_t *room_log; /* [event, room(, sid)] since the last room-events */
static int ss_called;    /* serverSideEmit callbacks run */
static int ss_local;     /* "ping" server-side handler runs on this server */

/* Acks with value (stolen; NULL: nothing). */
static void reply(sio_ack *ack, json_t *value)
{
    sio_args *a = sio_args_new();
    if (value != NULL)
        sio_args_push(a, value);
    if (ack != NULL && a != NULL)
        sio_ack_send(ack, a);
    sio_args_free(a);
}

static int by_string(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* A copy of an array of strings, sorted. */
static json_t *sorted(const json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    json_t *out = json_array();
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(arr, i);
    if (v)
        qsort(v, n, sizeof *v, by_string);
    for (size_t i = 0; v && i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

/* What the tests compare of a handshake (the rest differs by transport). */
static json_t *hs_summary(const json_t *hs)
{
    const char *addr = json_string_value(json_object_get(hs, "address"));
    const char *url = json_string_value(json_object_get(hs, "url"));
    int loopback = addr && (!strcmp(addr, "127.0.0.1") || !strcmp(addr, "::1") ||
                            !strcmp(addr, "::ffff:127.0.0.1"));
    return json_pack("{s:b,s:O?,s:O?,s:b,s:b,s:b,s:O?,s:O?,s:b}", "loopback", loopback, "xdomain",
                     json_object_get(hs, "xdomain"), "secure", json_object_get(hs, "secure"),
                     "issued", json_is_integer(json_object_get(hs, "issued")), "time",
                     json_is_string(json_object_get(hs, "time")), "url",
                     url && strncmp(url, "/socket.io/?", 12) == 0 && strstr(url, "EIO=4"), "x",
                     json_object_get(json_object_get(hs, "query"), "x"), "auth",
                     json_object_get(hs, "auth"), "host",
                     json_is_string(json_object_get(json_object_get(hs, "headers"), "host")));
}

static int by_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

static void fetch_reply(sio_namespace *nsp, int err, sio_fetch_result *r, void *data)
{
    sio_ack *ack = data;
    size_t n = sio_fetch_result_count(r);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        sio_remote_socket *s = sio_fetch_result_get(r, i);
        v[i] = json_pack("{s:s,s:o,s:O,s:o}", "id", sio_remote_socket_id(s), "rooms",
                         sorted(sio_remote_socket_rooms(s)), "data", sio_remote_socket_data(s),
                         "hs", hs_summary(sio_remote_socket_handshake(s)));
    }
    json_t *out = json_array();
    if (v)
        qsort(v, n, sizeof *v, by_id);
    for (size_t i = 0; v && i < n; i++)
        json_array_append_new(out, v[i]);
    free(v);
    reply(ack, err ? json_string(sio_strerror(err)) : out);
    if (err)
        json_decref(out);
    sio_fetch_result_free(r);
    sio_ack_release(ack);
}

static sio_broadcast *to_room(sio_socket *s, const char *room)
{
    sio_broadcast *b = sio_broadcast_new(sio_socket_namespace(s));
    return room ? sio_broadcast_to(b, room) : b;
}

static void on_fetch(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    if (ack == NULL)
        return;
    sio_ack_retain(ack);
    const char *room = json_string_value(sio_args_get(args, 0));
    if (sio_broadcast_fetch_sockets_async(to_room(s, room), fetch_reply, ack) < 0)
        sio_ack_release(ack);
}

/* fetch-op: the operation and its argument, for the fetch callback. */
typedef struct fetch_op {
    sio_ack *ack;
    char op[16];
    json_t *arg;
} fetch_op;

static void fetch_op_done(sio_namespace *nsp, int err, sio_fetch_result *r, void *data)
{
    fetch_op *f = data;
    size_t n = sio_fetch_result_count(r);
    for (size_t i = 0; i < n; i++) {
        sio_remote_socket *s = sio_fetch_result_get(r, i);
        if (!strcmp(f->op, "emit")) {
            sio_args *a = sio_args_json(json_pack("[O]", f->arg));
            sio_remote_socket_emit(s, "op-hit", a);
            sio_args_free(a);
        } else if (!strcmp(f->op, "join")) {
            sio_remote_socket_join(s, json_string_value(f->arg));
        } else if (!strcmp(f->op, "leave")) {
            sio_remote_socket_leave(s, json_string_value(f->arg));
        } else if (!strcmp(f->op, "disconnect")) {
            sio_remote_socket_disconnect(s, json_is_true(f->arg));
        }
    }
    reply(f->ack, json_integer((json_int_t)n));
    sio_fetch_result_free(r);
    sio_ack_release(f->ack);
    json_decref(f->arg);
    free(f);
}

static void on_fetch_op(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    const char *op = json_string_value(json_object_get(o, "op"));
    fetch_op *f = calloc(1, sizeof *f);
    if (ack == NULL || f == NULL || op == NULL || strlen(op) >= sizeof f->op) {
        free(f);
        return;
    }
    f->ack = ack;
    sio_ack_retain(ack);
    strcpy(f->op, op);
    f->arg = json_incref(json_object_get(o, "arg"));
    if (!f->arg)
        f->arg = json_null();
    const char *room = json_string_value(json_object_get(o, "room"));
    if (sio_broadcast_fetch_sockets_async(to_room(s, room), fetch_op_done, f) < 0) {
        sio_ack_release(ack);
        json_decref(f->arg);
        free(f);
    }
}

static void on_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const char *room = json_string_value(sio_args_get(args, 0));
    if (room)
        sio_socket_join(s, room);
    reply(ack, NULL);
}

static void on_set_data(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    protocol_server_assign_data(s, sio_args_get(args, 0));
    reply(ack, NULL);
}

/* The client's ack of "data-please": now the data is set, outside any
 * event of the socket. */
static void data_please_acked(sio_socket *s, int err, const sio_args *args, void *data)
{
    if (err == 0)
        protocol_server_assign_data(s, data);
    json_decref(data);
}

static void on_set_data_later(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    json_t *obj = json_incref(sio_args_get(args, 0));
    if (sio_emit_with_ack(s, "data-please", NULL, 5000, data_please_acked, obj) < 0)
        json_decref(obj);
    reply(ack, NULL);
}

/* auth.data, if an object, goes into socket.data before the connection. */
static void data_from_auth(sio_socket *s, sio_middleware_next *next, void *data)
{
    json_t *d = json_object_get(sio_socket_auth(s), "data");
    if (json_is_object(d))
        protocol_server_assign_data(s, d);
    sio_next(next);
}

static json_t *socket_rooms(const sio_socket *s)
{
    const char *names[64];
    size_t n = sio_socket_rooms(s, names, 64);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < 64; i++)
        json_array_append_new(arr, json_string(names[i]));
    json_t *out = sorted(arr);
    json_decref(arr);
    return out;
}

static void on_info(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    reply(ack, json_pack("{s:o}", "rooms", socket_rooms(s)));
}

/* bcast-ack: the result goes back to the socket that asked (by id). */
static void bcast_done(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    char *id = data;
    sio_socket *s = sio_namespace_socket(nsp, id);
    json_t *resp = json_array();
    json_t *r = json_pack("{s:s?,s:o}", "err",
                          err == SIO_ETIMEDOUT ? "operation has timed out"
                          : err                ? sio_strerror(err)
                                               : NULL,
                          "responses", resp);
    for (size_t i = 0; i < sio_args_count(responses); i++)
        json_array_append(resp, sio_args_get(responses, i));
    sio_args *a = sio_args_json(json_pack("[o]", r));
    if (s != NULL)
        sio_emit(s, "bcast-ack-result", a);
    sio_args_free(a);
    free(id);
}

static void on_bcast_ack(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    sio_broadcast *b = sio_broadcast_new(sio_socket_namespace(s));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "rooms"), i, v)
    {
        b = sio_broadcast_to(b, json_string_value(v));
    }
    b = sio_broadcast_timeout(b, (uint32_t)json_integer_value(json_object_get(o, "timeout")));
    char *id = strdup(sio_socket_id(s));
    if (id && sio_broadcast_emit_with_ack(b, "q", NULL, bcast_done, id) < 0)
        free(id);
    reply(ack, NULL);
}

static void ss_ack(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    ss_called++;
}

static void on_server_side(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_namespace *nsp = sio_socket_namespace(s);
    sio_args *one = sio_args_json(json_pack("[i]", 1));
    /* the in-memory adapter: SIO_ENOTSUP (Node: a warning), nothing runs */
    if (json_is_true(sio_args_get(args, 0)))
        sio_namespace_server_side_emit_with_ack(nsp, "ping", one, 0, ss_ack, NULL);
    else
        sio_namespace_server_side_emit(nsp, "ping", one);
    sio_args_free(one);
    reply(ack, NULL);
}

static void on_ping(sio_namespace *nsp, const sio_args *args, sio_server_ack *ack, void *d)
{
    ss_local++;
}

static void on_server_side_result(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    reply(ack, json_pack("{s:i,s:i}", "called", ss_called, "local", ss_local));
}

static void count_reply(sio_namespace *nsp, int err, size_t n, void *data)
{
    reply(data, json_integer((json_int_t)n));
    sio_ack_release(data);
}

static void on_server_count(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    if (ack == NULL)
        return;
    sio_ack_retain(ack);
    if (sio_namespace_server_count(sio_socket_namespace(s), count_reply, ack) < 0)
        sio_ack_release(ack);
}

static void on_room_size(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const char *room = json_string_value(sio_args_get(args, 0));
    reply(ack, json_integer((json_int_t)sio_namespace_room_size(sio_socket_namespace(s), room)));
}

static void on_rooms(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_namespace *nsp = sio_socket_namespace(s);
    size_t n = sio_namespace_rooms(nsp, NULL, 0);
    const char **names = calloc(n ? n : 1, sizeof *names);
    json_t *arr = json_array();
    if (names != NULL)
        n = sio_namespace_rooms(nsp, names, n);
    for (size_t i = 0; names && i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    free(names);
    reply(ack, sorted(arr));
    json_decref(arr);
}

static void on_room_events(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    json_t *log = room_log;
    room_log = json_array();
    reply(ack, log);
}

static void log_room_event(sio_namespace *nsp, sio_room_event ev, const char *room, const char *sid,
                           void *data)
{
    static const char *names[] = {"create-room", "delete-room", "join-room", "leave-room"};
    json_array_append_new(room_log, sid ? json_pack("[s,s,s]", names[ev], room, sid)
                                        : json_pack("[s,s]", names[ev], room));
}

static void on_cluster_connection(sio_socket *s, void *data)
{
    static const struct {
        const char *event;
        sio_event_cb cb;
    } table[] = {
        {"fetch", on_fetch},
        {"fetch-op", on_fetch_op},
        {"join", on_join},
        {"set-data", on_set_data},
        {"set-data-later", on_set_data_later},
        {"info", on_info},
        {"bcast-ack", on_bcast_ack},
        {"server-side", on_server_side},
        {"server-side-result", on_server_side_result},
        {"server-count", on_server_count},
        {"room-size", on_room_size},
        {"rooms", on_rooms},
        {"room-events", on_room_events},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        sio_socket_on(s, table[i].event, table[i].cb, NULL);
}

static void free_room_log(void)
{
    json_decref(room_log);
}

int protocol_server_socketio_cluster(sio_server *io)
{
    sio_namespace *nsp = sio_server_of(io, "/cluster");
    room_log = json_array();
    if (nsp == NULL || room_log == NULL)
        return SIO_ENOMEM;
    atexit(free_room_log);
    sio_namespace_on_connection(nsp, on_cluster_connection, NULL);
    int rc = sio_namespace_use(nsp, data_from_auth, NULL);
    rc = rc ? rc : sio_namespace_on_room_event(nsp, log_room_event, NULL);
    return rc ? rc : sio_namespace_on_server_side_emit(nsp, "ping", on_ping, NULL);
}
