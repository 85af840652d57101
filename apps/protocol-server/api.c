/* Namespace "/api" of sioc-protocol-server: remote controls for the socket
 * API that tests/e2e/socketio_api.test.mjs checks, the same as the Node
 * twin in tests/ref/protocol-server.mjs. Every event below that the client
 * sends with an ack is answered through it.
 *
 *   incoming() -> ["any0:<ev>", "any1:<ev>", ...]: what prependAny (any0)
 *       and onAny (any1) saw so far, in order, and "error:<message>" where
 *       the socket's "error" listener ran
 *   outgoing() -> [<ev>, ...]: what onAnyOutgoing saw (emits, broadcasts)
 *   ping-me(n): emits "pong-you" n, and broadcasts "to-all" n to the namespace
 *   once(): a once() handler emits "once-hit"
 *   off-me(): emits "off-hit" until remove-off() removes that handler
 *   mw-edit(...args) -> args + ["edited"]: a socket.use middleware added it
 *   mw-deny(): the middleware refuses it with "denied", data {code: 7}: the
 *       socket's "error" listener emits "error-seen" {message, data}
 *   mw-hold(): the first socket.use middleware holds it (extra.c's held
 *       steps) until mw-release() passes every held step on; the second
 *       then refuses it with "held-denied" (connected or not)
 *   reason(id) -> {disconnecting, disconnect} seen through on() for id,
 *       and error: "<message>:<connected>" if its "error" listener ran
 *   handshake() -> {name, tags, loopback, secure}: handshake.query.name /
 *       .tags (an array when repeated), whether the peer address is a
 *       loopback one, handshake.secure (TLS)
 *   compress-off(n): emits "plain" with a string of n "a" with compress(false)
 *   nsp-count() -> how many namespaces the server has (io._nsps.size)
 *   conn-errors() -> [{code, message, context, method, url}]: the engine's
 *       connection_error events since the last call (err.req.method/url)
 *
 * Dynamic namespaces "/game-<digits>" (io.of(/^\/game-\d+$/)) greet each
 * socket with "welcome" <namespace name>; the server runs with
 * cleanupEmptyChildNamespaces, so each goes away with its last socket. */
#include <stdlib.h>
#include <string.h>

#include "socketio.h"

/* id -> {disconnecting, disconnect} */
static json_t *reasons;
/* connection_error events not yet fetched by conn-errors */
static json_t *conn_errors;

/* Per-socket record of the any / outgoing listeners. */
typedef struct api_sock {
    json_t *incoming;
    json_t *outgoing;
} api_sock;

static void ack_value(sio_ack *ack, json_t *v)
{
    sio_args *a = sio_args_json(json_pack("[o]", v));
    if (ack != NULL && a != NULL)
        sio_ack_send(ack, a);
    sio_args_free(a);
}

static void on_any(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *d)
{
    api_sock *st = sio_socket_get_data(s);
    json_array_append_new(st->incoming, json_sprintf("%s:%s", (const char *)d, event));
}

static void on_outgoing(sio_socket *s, const char *event, const sio_args *args, void *d)
{
    api_sock *st = sio_socket_get_data(s);
    json_array_append_new(st->outgoing, json_string(event));
}

static void on_incoming(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    ack_value(ack, json_deep_copy(((api_sock *)sio_socket_get_data(s))->incoming));
}

static void on_outgoing_q(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    ack_value(ack, json_deep_copy(((api_sock *)sio_socket_get_data(s))->outgoing));
}

static void emit1(sio_socket *s, const char *event, json_t *v)
{
    sio_args *a = sio_args_json(v ? json_pack("[o]", v) : json_array());
    sio_emit(s, event, a);
    sio_args_free(a);
}

static void on_ping_me(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_args *a = sio_args_json(json_pack("[O]", sio_args_get(args, 0)));
    sio_emit(s, "pong-you", a);
    sio_namespace_emit(sio_socket_namespace(s), "to-all", a);
    sio_args_free(a);
    ack_value(ack, json_true());
}

static void on_once(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    emit1(s, "once-hit", NULL);
}

static void on_off_me(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    emit1(s, "off-hit", NULL);
}

static void on_remove_off(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    ack_value(ack, json_integer(sio_socket_off(s, "off-me", on_off_me, NULL)));
}

static void api_mw(sio_socket *s, const char *event, sio_args *args, sio_ack *ack,
                   sio_middleware_next *next, void *d)
{
    if (strcmp(event, "mw-deny") == 0) {
        sio_next_error(next, "denied", json_pack("{s:i}", "code", 7));
        return;
    }
    if (strcmp(event, "mw-edit") == 0)
        sio_args_push(args, json_string("edited"));
    if (strcmp(event, "mw-hold") == 0 && protocol_server_hold(next) == 0)
        return;
    sio_next(next);
}

static void api_mw2(sio_socket *s, const char *event, sio_args *args, sio_ack *ack,
                    sio_middleware_next *next, void *d)
{
    if (strcmp(event, "mw-hold") == 0)
        sio_next_error(next, "held-denied", NULL);
    else
        sio_next(next);
}

static void on_mw_release(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    ack_value(ack, json_integer((json_int_t)protocol_server_release_held()));
}

static void on_mw_edit(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    if (ack != NULL)
        sio_ack_send(ack, args);
}

/* reasons[id], created on first use. */
static json_t *reason_of(sio_socket *s)
{
    json_t *r = json_object_get(reasons, sio_socket_id(s));
    if (r == NULL) {
        r = json_object();
        json_object_set_new(reasons, sio_socket_id(s), r);
    }
    return r;
}

/* Records itself (incoming goes with the socket at disconnect, reasons
 * stays: the listener also runs after a disconnect) and tells the client. */
static void on_error(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    json_t *err = sio_args_get(args, 0);
    const char *msg = json_string_value(json_object_get(err, "message"));
    api_sock *st = sio_socket_get_data(s);
    if (st != NULL)
        json_array_append_new(st->incoming, json_sprintf("error:%s", msg ? msg : ""));
    json_object_set_new(
        reason_of(s), "error",
        json_sprintf("%s:%s", msg ? msg : "", sio_socket_connected(s) ? "true" : "false"));
    emit1(s, "error-seen", json_incref(err));
}

static void on_reason_ev(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    json_object_set(reason_of(s), d, sio_args_get(args, 0));
    if (strcmp(d, "disconnect") == 0) {
        api_sock *st = sio_socket_get_data(s);
        json_decref(st->incoming);
        json_decref(st->outgoing);
        free(st);
        sio_socket_set_data(s, NULL);
    }
}

static void on_reason_q(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const char *id = json_string_value(sio_args_get(args, 0));
    json_t *r = id ? json_object_get(reasons, id) : NULL;
    ack_value(ack, r ? json_incref(r) : json_null());
}

static void on_handshake(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    const sio_handshake *hs = sio_socket_handshake(s);
    char name[64];
    int n = sio_handshake_query_get(hs, "name", name, sizeof name);
    json_t *q = sio_handshake_query_json(hs);
    json_t *tags = json_object_get(q, "tags");
    const char *addr = hs->address;
    int loop = strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0 ||
               strcmp(addr, "::ffff:127.0.0.1") == 0;
    ack_value(ack,
              json_pack("{s:o,s:O,s:b,s:b}", "name", n >= 0 ? json_string(name) : json_null(),
                        "tags", tags ? tags : json_null(), "loopback", loop, "secure", hs->secure));
    json_decref(q);
}

static void on_compress_off(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    json_int_t n = json_integer_value(sio_args_get(args, 0));
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return;
    memset(big, 'a', (size_t)n);
    big[n] = '\0';
    emit1(sio_socket_compress(s, 0), "plain", json_string(big));
    free(big);
}

static void on_connection_error(const sio_connection_error *err, void *d)
{
    json_t *ctx = err->context ? json_loads(err->context, 0, NULL) : json_null();
    json_array_append_new(conn_errors,
                          json_pack("{s:i,s:s,s:o,s:s,s:s%}", "code", err->code, "message",
                                    err->message, "context", ctx ? ctx : json_null(), "method",
                                    sio_req_method(err->req), "url", err->url, err->url_len));
}

static void on_conn_errors(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    ack_value(ack, conn_errors);
    conn_errors = json_array();
}

static void on_nsp_count(sio_socket *s, const sio_args *args, sio_ack *ack, void *d)
{
    sio_server *io = sio_namespace_server(sio_socket_namespace(s));
    ack_value(ack, json_integer((json_int_t)sio_server_namespaces_count(io)));
}

static int match_game(const char *name, const json_t *auth, void *d)
{
    if (strncmp(name, "/game-", 6) != 0 || name[6] == '\0')
        return 0;
    return strspn(name + 6, "0123456789") == strlen(name + 6);
}

static void on_game_connection(sio_socket *s, void *d)
{
    emit1(s, "welcome", json_string(sio_namespace_name(sio_socket_namespace(s))));
}

static void setup_game(sio_namespace *nsp, void *d)
{
    sio_namespace_on_connection(nsp, on_game_connection, NULL);
}

static void on_api_connection(sio_socket *s, void *data)
{
    api_sock *st = calloc(1, sizeof *st);
    if (st == NULL || (st->incoming = json_array()) == NULL ||
        (st->outgoing = json_array()) == NULL) {
        sio_socket_disconnect(s, 1);
        return;
    }
    sio_socket_set_data(s, st);
    sio_socket_on_any(s, on_any, "any1");
    sio_socket_prepend_any(s, on_any, "any0");
    sio_socket_on_any_outgoing(s, on_outgoing, NULL);
    sio_socket_use(s, api_mw, NULL);
    sio_socket_use(s, api_mw2, NULL);
    sio_socket_on(s, "error", on_error, NULL);
    sio_socket_on(s, "disconnecting", on_reason_ev, "disconnecting");
    sio_socket_on(s, "disconnect", on_reason_ev, "disconnect");
    sio_socket_once(s, "once", on_once, NULL);
    static const struct {
        const char *event;
        sio_event_cb cb;
    } table[] = {
        {"incoming", on_incoming},         {"outgoing", on_outgoing_q},
        {"ping-me", on_ping_me},           {"off-me", on_off_me},
        {"remove-off", on_remove_off},     {"mw-edit", on_mw_edit},
        {"reason", on_reason_q},           {"handshake", on_handshake},
        {"compress-off", on_compress_off}, {"nsp-count", on_nsp_count},
        {"conn-errors", on_conn_errors},   {"mw-release", on_mw_release},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        sio_socket_on(s, table[i].event, table[i].cb, NULL);
}

static void free_api(void)
{
    json_decref(reasons);
    reasons = NULL;
    json_decref(conn_errors);
    conn_errors = NULL;
}

int protocol_server_socketio_api(sio_server *io)
{
    sio_namespace *api = sio_server_of(io, "/api");
    reasons = json_object();
    conn_errors = json_array();
    if (api == NULL || reasons == NULL || conn_errors == NULL)
        return SIO_ENOMEM;
    atexit(free_api);
    sio_server_on_connection_error(io, on_connection_error, NULL);
    sio_namespace_on_connection(api, on_api_connection, NULL);
    return sio_server_of_dynamic(io, match_game, setup_game, NULL);
}
