/* sioc-protocol-server's Socket.IO behaviour, the same as the Node
 * reference (tests/ref/protocol-server.mjs): on connection to "/" or
 * "/custom" the server emits "auth" with the handshake's auth object;
 * "message" is answered by "message-back" with the same arguments (binary
 * included: the received buffers are re-sent as they are); "message-with-ack"
 * is acknowledged with the same arguments. allowRequest refuses a handshake
 * with deny=loopback in its query from a loopback address. /socket.io/socket.io.js and the
 * other client bundle files are served (serveClient) when
 * socket.io-client's dist/ is found. /msgpack.io/ is a second server with
 * the msgpack parser (socket.io-msgpack-parser) and the same "/". Namespace
 * "/api" exposes the socket API to tests/e2e/socketio_api.test.mjs (see
 * api.c); "/cluster" the cluster API (fetchSockets, serverSideEmit,
 * broadcast acks, room events) to tests/e2e/cluster_api.test.mjs (see
 * cluster.c).
 *
 * With SIOC_SIO_EXTRA=1 in the environment the server also enables
 * connection state recovery (maxDisconnectionDuration from
 * SIOC_SIO_RECOVERY_MS, default 2000) and serves two namespaces for
 * tests/e2e/socketio_more.test.mjs (rooms, broadcast, server acks, disconnect
 * reasons, middleware, recovery): see extra.c.
 *
 * With SIOC_ADMIN=USER:PASSWORD the /socket.io/ server is instrumented for
 * the admin UI (sio_admin_instrument, namespace "/admin"; PASSWORD plain or
 * already a bcrypt hash), SIOC_ADMIN_MODE giving its mode and
 * SIOC_ADMIN_READONLY=1 making it read-only: tests/e2e/admin.test.mjs.
 * The /socket.io/ and /msgpack.io/ heartbeat is Node's default (pingInterval
 * 25000, pingTimeout 20000), so a client on a loaded machine is not lost by a
 * late pong; SIOC_SIO_HEARTBEAT=INTERVAL,TIMEOUT sets it for the suites that
 * test the heartbeat itself (tests/e2e/socketio.test.mjs: 300,200). */
#include "socketio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SIOC_CLIENT_DIST_DIR
#define SIOC_CLIENT_DIST_DIR "node_modules/socket.io-client/dist"
#endif

/* The servers (the second one with the msgpack parser), freed at exit so
 * leak checkers see a clean shutdown. */
static sio_server *io, *io_msgpack;

static void on_message(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    sio_emit(s, "message-back", args);
}

static void on_message_with_ack(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    if (ack != NULL)
        sio_ack_send(ack, args);
}

/* allowRequest: a handshake whose query has deny=loopback is refused when
 * it comes from a loopback address (what sio_req_address gives). */
static int allow_request(const sio_req *req, void *data)
{
    const char *q = sio_req_query(req), *a = sio_req_address(req);
    int loopback =
        strcmp(a, "127.0.0.1") == 0 || strcmp(a, "::1") == 0 || strcmp(a, "::ffff:127.0.0.1") == 0;
    return strstr(q, "deny=loopback") != NULL && loopback;
}

static void on_connection(sio_socket *s, void *data)
{
    sio_args *a = sio_args_new();
    if (a != NULL && sio_args_push(a, json_incref(sio_socket_auth(s))) == 0)
        sio_emit(s, "auth", a);
    sio_args_free(a);
    sio_socket_on(s, "message", on_message, NULL);
    sio_socket_on(s, "message-with-ack", on_message_with_ack, NULL);
}

/* SIOC_ADMIN=USER:PASSWORD: instrument io as Node's instrument(io, {auth:
 * {type: "basic", username, password: bcrypt(password)}, mode, readonly}). */
static int setup_admin(const char *spec)
{
    char buf[1024];
    sio_admin_options ao;
    sio_admin_options_init(&ao);
    int rc = sio_admin_options_login(&ao, spec, buf, sizeof buf);
    if (rc < 0)
        return rc;
    const char *mode = getenv("SIOC_ADMIN_MODE");
    if (mode != NULL)
        ao.mode = mode;
    const char *ro = getenv("SIOC_ADMIN_READONLY");
    ao.readonly = ro != NULL && strcmp(ro, "1") == 0;
    return sio_admin_instrument(io, &ao);
}

/* Runs after main returns: the HTTP server (and so every session) is
 * closed by then. */
void protocol_server_assign_data(sio_socket *s, const json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        sio_socket_data_set(s, key, json_incref(v));
    }
}

static void free_io(void)
{
    sio_server_free(io);
    sio_server_free(io_msgpack);
    io = io_msgpack = NULL;
}

int protocol_server_socketio(sio_http_server *http, const sio_server_options *limits)
{
    sio_server_options o;
    sio_server_options_init(&o);
    o.eio.handshake_rate = limits->eio.handshake_rate;
    o.eio.handshake_burst = limits->eio.handshake_burst;
    o.max_dynamic_namespaces = limits->max_dynamic_namespaces;
    o.max_rooms_per_socket = limits->max_rooms_per_socket;
    o.max_rooms = limits->max_rooms;
    o.eio.path = "/socket.io";
    /* SIOC_SIO_HEARTBEAT=INTERVAL,TIMEOUT: for the suites that test the
     * heartbeat (Node's 25000/20000 otherwise, from the _init) */
    const char *hb = getenv("SIOC_SIO_HEARTBEAT");
    if (hb != NULL && strchr(hb, ',') != NULL) {
        o.eio.ping_interval = (uint32_t)strtoul(hb, NULL, 10);
        o.eio.ping_timeout = (uint32_t)strtoul(strchr(hb, ',') + 1, NULL, 10);
    }
    o.eio.max_http_buffer_size = 1000000;
    o.eio.cors.any_origin = 1;
    o.eio.cors.credentials = 1;
    o.connect_timeout = 1000;
    o.cleanup_empty_child_namespaces = 1; /* the "/game-N" children (api.c) */
    o.eio.allow_request = allow_request;
    /* serveClient, as Node's default, when the client files are there
     * ($SIOC_CLIENT_DIST_DIR, else the tree's node_modules) */
    const char *dist = getenv("SIOC_CLIENT_DIST_DIR");
    char js[4096];
    snprintf(js, sizeof js, "%s/socket.io.js", dist ? dist : SIOC_CLIENT_DIST_DIR);
    if (access(js, R_OK) == 0)
        o.serve_client_dir = dist ? dist : SIOC_CLIENT_DIST_DIR;
    const char *extra = getenv("SIOC_SIO_EXTRA");
    int with_extra = extra != NULL && strcmp(extra, "1") == 0;
    if (with_extra) {
        const char *ms = getenv("SIOC_SIO_RECOVERY_MS");
        o.connection_state_recovery.enabled = 1;
        o.connection_state_recovery.max_disconnection_duration = ms ? (uint32_t)atol(ms) : 2000;
    }
    int rc = sio_server_new(&io, http, &o);
    if (rc < 0)
        return rc;
    atexit(free_io);
    sio_namespace *root = sio_server_of(io, "/");
    sio_namespace *custom = sio_server_of(io, "/custom");
    if (root == NULL || custom == NULL)
        return SIO_ENOMEM;
    sio_namespace_on_connection(root, on_connection, NULL);
    sio_namespace_on_connection(custom, on_connection, NULL);
    rc = protocol_server_socketio_api(io);
    if (rc < 0)
        return rc;
    rc = protocol_server_socketio_cluster(io);
    if (rc < 0)
        return rc;
    const char *admin = getenv("SIOC_ADMIN");
    if (admin != NULL && (rc = setup_admin(admin)) < 0)
        return rc;
    /* The same "/" behaviour with Node's parser option set to
     * socket.io-msgpack-parser, at /msgpack.io/. */
    o.eio.path = "/msgpack.io";
    o.parser = SIO_PARSER_MSGPACK;
    o.serve_client_dir = NULL;
    o.connection_state_recovery.enabled = 0;
    rc = sio_server_new(&io_msgpack, http, &o);
    if (rc < 0)
        return rc;
    sio_namespace *mp_root = sio_server_of(io_msgpack, "/");
    if (mp_root == NULL)
        return SIO_ENOMEM;
    sio_namespace_on_connection(mp_root, on_connection, NULL);
    return with_extra ? protocol_server_socketio_extra(io) : 0;
}
