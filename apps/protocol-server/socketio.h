/* The Socket.IO part of sioc-protocol-server (see socketio.c). */
#ifndef SIOC_PROTOCOL_SERVER_SOCKETIO_H
#define SIOC_PROTOCOL_SERVER_SOCKETIO_H

#include "sioc.h"

/* Attaches Socket.IO at /socket.io/ to http (pingInterval 300, pingTimeout
 * 200, connectTimeout 1000, CORS any origin with credentials), with the
 * abuse limits of limits (eio.handshake_rate and _burst,
 * max_dynamic_namespaces, max_rooms_per_socket, max_rooms; the rest of it
 * is not read). The server is freed at exit. 0 or a negative SIO_E* code. */
int protocol_server_socketio(sio_http_server *http, const sio_server_options *limits);

/* Namespace "/api": remote controls for the socket API (api.c). */
int protocol_server_socketio_api(sio_server *io);
/* Namespace "/cluster" (cluster.c). SIO_ENOMEM. */
int protocol_server_socketio_cluster(sio_server *io);

/* The test-only namespaces "/test" and "/mw" (extra.c). */
int protocol_server_socketio_extra(sio_server *io);
/* Holds a middleware step (namespace or socket.use) until
 * protocol_server_release_held() passes it on with sio_next(); steps still
 * held at exit are refused. 0, or -1 when 64 are held already. */
int protocol_server_hold(sio_middleware_next *next);
/* Passes every held step on; returns how many there were. */
size_t protocol_server_release_held(void);
/* Object.assign(socket.data, obj): one sio_socket_data_set per key, in
 * order, as Node's one Proxy set per key. */
void protocol_server_assign_data(sio_socket *s, const json_t *obj);

#endif
