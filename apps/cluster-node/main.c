/* sioc-cluster-node: one Socket.IO server on a Redis adapter, driven by its
 * clients, for tests/e2e/cluster.test.mjs. Its Node twin is
 * tests/ref/cluster-node.mjs (socket.io 4.8 + @socket.io/redis-adapter 8.3):
 * the two answer the same hook events the same way, so a test can mix sioc
 * and Node nodes on one Redis and drive each alike.
 *
 *   sioc-cluster-node --port N --redis redis://HOST:PORT [--name NAME]
 *                     [--requests-timeout MS] [--admin USER:PASSWORD]
 *                     [--recovery 1]
 *
 * --recovery 1 turns connection state recovery on (Node's
 * connectionStateRecovery: {} beside the adapter option).
 * --admin instruments the server for the admin UI (sio_admin_instrument,
 * serverId NAME), as Node's instrument() does the twin's.
 *
 * Hooks (a client emits them to its own server; every one is acked):
 *   join(room)                      socket.join
 *   set_data(obj)                   socket.data = obj
 *   bcast({to, except, event, args, local})   io.to().except().emit()
 *   bcast_ack({to, except, timeout, event, args}) -> {err, responses}
 *   fetch({to, except})             -> {err, sockets: [{id, rooms, data}]}
 *   sockets_join / sockets_leave({to, except, rooms})
 *   disconnect_sockets({to, except, close})
 *   sse({event, args})              io.serverSideEmit
 *   sse_ack({event, args})          -> {err, responses} (requestsTimeout)
 *   server_count()                  -> n
 *   all_rooms()                     -> {err, rooms} (adapter.allRooms(), sorted)
 * Server-side events "sse_ping" and "sse_noanswer": each is told to the
 * node's clients as "sse_seen" {node, event, args}; "sse_ping" is
 * answered with {node, args} when an ack is wanted, "sse_noanswer" never. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sioc.h"

static const char *node_name = "sioc";
static sio_server *io;
static sio_namespace *root;

/* Applies {to:[..], except:[..], local:bool} to a new operator. */
static sio_broadcast *selector(const json_t *o)
{
    sio_broadcast *b = sio_broadcast_new(root);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "to"), i, v) b =
        sio_broadcast_to(b, json_string_value(v));
    json_array_foreach(json_object_get(o, "except"), i, v) b =
        sio_broadcast_except(b, json_string_value(v));
    if (json_is_true(json_object_get(o, "local")))
        b = sio_broadcast_local(b);
    return b;
}

/* args as a new sio_args (a copy of the JSON array). */
static sio_args *args_of(const json_t *o)
{
    json_t *a = json_object_get(o, "args");
    return sio_args_json(a ? json_deep_copy(a) : json_array());
}

/* Answers ack with one value (stolen). */
static void reply(sio_ack *ack, json_t *value)
{
    sio_args *a = sio_args_new();
    if (value)
        sio_args_push(a, value);
    if (ack)
        sio_ack_send(ack, a);
    sio_args_free(a);
}

static json_t *err_json(int err)
{
    return err ? json_string(err == SIO_ETIMEDOUT ? "timeout" : sio_strerror(err)) : json_null();
}

static void on_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_socket_join(s, json_string_value(sio_args_get(args, 0)));
    reply(ack, NULL);
}

static void on_set_data(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    /* Object.assign(socket.data, obj): one set per key, as Node's */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)sio_args_get(args, 0), key, v)
    {
        sio_socket_data_set(s, key, json_incref(v));
    }
    reply(ack, NULL);
}

static void on_bcast(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    sio_args *a = args_of(o);
    sio_broadcast_emit(selector(o), json_string_value(json_object_get(o, "event")), a);
    sio_args_free(a);
    reply(ack, NULL);
}

/* The arguments as a new JSON array (binary as placeholders). */
static json_t *list_of(const sio_args *args)
{
    json_t *list = json_array();
    for (size_t i = 0; args && i < sio_args_count(args); i++)
        json_array_append(list, sio_args_get(args, i));
    return list;
}

static void bcast_acked(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    sio_ack *ack = data;
    reply(ack, json_pack("{s:o,s:o}", "err", err_json(err), "responses", list_of(responses)));
    sio_ack_release(ack);
}

static void on_bcast_ack(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    sio_args *a = args_of(o);
    sio_broadcast *b = selector(o);
    b = sio_broadcast_timeout(b, (uint32_t)json_integer_value(json_object_get(o, "timeout")));
    sio_ack_retain(ack);
    if (sio_broadcast_emit_with_ack(b, json_string_value(json_object_get(o, "event")), a,
                                    bcast_acked, ack) < 0)
        sio_ack_release(ack);
    sio_args_free(a);
}

static void fetched(sio_namespace *nsp, int err, sio_fetch_result *r, void *data)
{
    sio_ack *ack = data;
    json_t *list = json_array();
    for (size_t i = 0; r && i < sio_fetch_result_count(r); i++) {
        sio_remote_socket *rs = sio_fetch_result_get(r, i);
        json_array_append_new(list, json_pack("{s:s,s:O,s:O}", "id", sio_remote_socket_id(rs),
                                              "rooms", sio_remote_socket_rooms(rs), "data",
                                              sio_remote_socket_data(rs)));
    }
    reply(ack, json_pack("{s:o,s:o}", "err", err_json(err), "sockets", list));
    sio_ack_release(ack);
    if (r)
        sio_fetch_result_free(r);
}

static void on_fetch(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_ack_retain(ack);
    if (sio_broadcast_fetch_sockets_async(selector(sio_args_get(args, 0)), fetched, ack) < 0)
        sio_ack_release(ack);
}

static void on_sockets_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    int leave = d != NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "rooms"), i, v)
    {
        if (leave)
            sio_broadcast_sockets_leave(selector(o), json_string_value(v));
        else
            sio_broadcast_sockets_join(selector(o), json_string_value(v));
    }
    reply(ack, NULL);
}

static void on_disconnect_sockets(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    reply(ack, NULL); /* first: this very socket may be one of them */
    sio_broadcast_disconnect_sockets(selector(o), json_is_true(json_object_get(o, "close")));
}

static void on_sse(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    sio_args *a = args_of(o);
    sio_namespace_server_side_emit(root, json_string_value(json_object_get(o, "event")), a);
    sio_args_free(a);
    reply(ack, NULL);
}

static void sse_acked(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    sio_ack *ack = data;
    reply(ack, json_pack("{s:o,s:o}", "err", err_json(err), "responses", list_of(responses)));
    sio_ack_release(ack);
}

static void on_sse_ack(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const json_t *o = sio_args_get(args, 0);
    sio_args *a = args_of(o);
    sio_ack_retain(ack);
    if (sio_namespace_server_side_emit_with_ack(
            root, json_string_value(json_object_get(o, "event")), a, 0, sse_acked, ack) < 0)
        sio_ack_release(ack);
    sio_args_free(a);
}

static void counted(sio_namespace *nsp, int err, size_t servers, void *data)
{
    sio_ack *ack = data;
    reply(ack, err ? json_null() : json_integer((json_int_t)servers));
    sio_ack_release(ack);
}

static void on_server_count(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_ack_retain(ack);
    if (sio_namespace_server_count(root, counted, ack) < 0) { /* Redis away */
        reply(ack, json_null());
        sio_ack_release(ack);
    }
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void all_rooms_done(sio_namespace *nsp, int err, const char *const *rooms, size_t n,
                           void *data)
{
    sio_ack *ack = data;
    const char **v = malloc((n ? n : 1) * sizeof *v);
    json_t *list = json_array();
    for (size_t i = 0; v && i < n; i++)
        v[i] = rooms[i];
    if (v)
        qsort(v, n, sizeof *v, by_name);
    for (size_t i = 0; v && i < n; i++)
        json_array_append_new(list, json_string(v[i]));
    free(v);
    reply(ack, json_pack("{s:o,s:o}", "err", err_json(err), "rooms", list));
    sio_ack_release(ack);
}

static void on_all_rooms(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_ack_retain(ack);
    int rc = sio_namespace_all_rooms(root, all_rooms_done, ack);
    if (rc < 0) {
        reply(ack, json_pack("{s:o,s:[]}", "err", err_json(rc), "rooms"));
        sio_ack_release(ack);
    }
}

/* Another server's serverSideEmit. */
static void on_server_side(sio_namespace *nsp, const sio_args *args, sio_server_ack *ack, void *d)
{
    const char *event = d;
    json_t *list = list_of(args);
    sio_args *seen = sio_args_new();
    sio_args_push(seen,
                  json_pack("{s:s,s:s,s:O}", "node", node_name, "event", event, "args", list));
    sio_broadcast_emit(sio_broadcast_local(sio_broadcast_new(root)), "sse_seen", seen);
    sio_args_free(seen);
    if (ack && strcmp(event, "sse_ping") == 0) {
        sio_args *a = sio_args_new();
        sio_args_push(a, json_pack("{s:s,s:o}", "node", node_name, "args", list));
        sio_server_ack_send(ack, a);
        sio_args_free(a);
    } else {
        json_decref(list);
    }
}

static void on_connection(sio_socket *s, void *data)
{
    static const struct {
        const char *event;
        sio_event_cb cb;
        void *data;
    } hooks[] = {
        {"join", on_join, NULL},
        {"set_data", on_set_data, NULL},
        {"bcast", on_bcast, NULL},
        {"bcast_ack", on_bcast_ack, NULL},
        {"fetch", on_fetch, NULL},
        {"sockets_join", on_sockets_join, NULL},
        {"sockets_leave", on_sockets_join, (void *)1},
        {"disconnect_sockets", on_disconnect_sockets, NULL},
        {"sse", on_sse, NULL},
        {"sse_ack", on_sse_ack, NULL},
        {"server_count", on_server_count, NULL},
        {"all_rooms", on_all_rooms, NULL},
    };
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
        sio_socket_on(s, hooks[i].event, hooks[i].cb, hooks[i].data);
}

static void on_signal(sio_loop *loop, int signum, void *data)
{
    sio_http_server **http = data;
    if (*http) {
        sio_http_server_close(*http, NULL, NULL);
        *http = NULL;
    }
}

static int listen_any(sio_http_server *http, int port)
{
    int rc = sio_http_server_listen(http, "::", port);
    if (rc == SIO_EIO || rc == SIO_EINVAL)
        rc = sio_http_server_listen(http, "0.0.0.0", port);
    return rc;
}

/* --admin USER:PASSWORD (plain or a bcrypt hash): instrument(io, {auth:
 * {type: "basic", username, password: <hash>}, serverId: name}). */
static int instrument(const char *spec)
{
    char buf[1024];
    sio_admin_options ao;
    sio_admin_options_init(&ao);
    int rc = sio_admin_options_login(&ao, spec, buf, sizeof buf);
    if (rc < 0)
        return rc;
    ao.server_id = node_name;
    return sio_admin_instrument(io, &ao);
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *url = getenv("REDIS_URL");
    const char *admin = NULL;
    int recovery = 0;
    sio_redis_options ro;
    sio_redis_options_init(&ro);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--redis") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--name") == 0)
            node_name = argv[i + 1];
        else if (strcmp(argv[i], "--requests-timeout") == 0)
            ro.requests_timeout = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--admin") == 0)
            admin = argv[i + 1];
        else if (strcmp(argv[i], "--recovery") == 0)
            recovery = atoi(argv[i + 1]);
    }
    if (url == NULL) {
        fprintf(stderr, "usage: %s --port N --redis redis://HOST:PORT [--name NAME]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sio_loop *loop;
    sio_http_server *http = NULL;
    sio_redis_adapter *ra = NULL;
    int rc = sio_loop_new(&loop);
    rc = rc ? rc : sio_redis_adapter_new(&ra, loop, url, &ro);
    rc = rc ? rc : sio_http_server_new(&http, loop, NULL);
    sio_server_options o;
    sio_server_options_init(&o);
    o.eio.cors.any_origin = 1;
    o.connection_state_recovery.enabled = recovery;
    if (ra)
        sio_redis_adapter_use(ra, &o);
    rc = rc ? rc : sio_server_new(&io, http, &o);
    root = io ? sio_server_of(io, "/") : NULL;
    static const char *const sse_events[] = {"sse_ping", "sse_noanswer"};
    for (int i = 0; rc == 0 && i < 2; i++)
        rc = sio_namespace_on_server_side_emit(root, sse_events[i], on_server_side,
                                               (void *)sse_events[i]);
    if (rc == 0)
        sio_namespace_on_connection(root, on_connection, NULL);
    if (rc == 0 && admin != NULL)
        rc = instrument(admin);
    rc = rc ? rc : listen_any(http, port);
    if (rc < 0) {
        fprintf(stderr, "sioc-cluster-node: %s\n", sio_strerror(rc));
        return 1;
    }
    sio_loop_on_signal(loop, SIGINT, on_signal, &http);
    sio_loop_on_signal(loop, SIGTERM, on_signal, &http);
    printf("listening on http://localhost:%d\n", sio_http_server_port(http));
    fflush(stdout);
    rc = sio_loop_run(loop);
    sio_server_free(io);
    sio_redis_adapter_free(ra);
    sio_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
