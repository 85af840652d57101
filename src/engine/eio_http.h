/* Engine.IO over HTTP: the protocol rules of requests on an Engine.IO
 * path, sans-I/O.
 *
 * The layer that owns the sockets parses HTTP and hands this module a
 * request view (sio__eio_http_req): method, target, query, header fields,
 * body. The module applies Node's engine.io 6.6 rules (lib/server.ts
 * verify()/handshake()/handleUpgrade(), lib/transports/polling.ts) and
 * answers through the server's transport ops (eio_server.h): JSON error
 * bodies with 400/403, the raw 400 of abortUpgrade, CORS headers, the
 * preflight, "ok" for a POST, 400 for a binary or overlapping POST, the
 * handshake record of a new session, and the WebSocket upgrade of a
 * polling session. It never touches a socket: unit tests drive it with
 * fake ops (tests/unit/engine/test_eio_http.c).
 *
 * "conn" is the caller's handle for one HTTP connection; the module only
 * passes it back through the ops and compares it. A connection carries at
 * most one session (a held GET or a WebSocket: ops->set_session) and at
 * most one POST body in flight (ops->set_post); both are cleared through
 * the same ops when the session lets go of the connection or is freed, so
 * the caller's pointers never dangle. */
#ifndef SIO_ENGINE_EIO_HTTP_H
#define SIO_ENGINE_EIO_HTTP_H

#include "core/buf.h"
#include "engine/eio_server.h"

/* Methods the rules tell apart (anything else is OTHER). */
enum { SIO_EIO_HTTP_OTHER = 0, SIO_EIO_HTTP_GET, SIO_EIO_HTTP_POST, SIO_EIO_HTTP_OPTIONS };

/* One HTTP request on the server's path, as the caller parsed it. Every
 * slice is borrowed for the duration of the call. */
typedef struct sio__eio_http_req {
    int method;                   /* SIO_EIO_HTTP_* */
    sio__slice method_str;        /* the method token as sent */
    int keep_alive;               /* the client keeps the connection open */
    int upgrade;                  /* asks for a WebSocket (Upgrade + Connection) */
    sio__slice target;            /* "/engine.io/?EIO=4&..." as sent */
    sio__slice query;             /* after '?', still percent-encoded */
    const sio__slice_kv *headers; /* in arrival order */
    unsigned nheaders;
    sio__slice body; /* a whole request only; {NULL,0} at the head */
    int secure;      /* it came over TLS (the handshake record's secure) */
    /* A whole request only: the session sio__eio_http_head remembered this
     * connection's POST for (what it passed to ops->set_post), or NULL. */
    sio_eio_socket *post;
} sio__eio_http_req;

/* The head of a request has arrived (its body, if any, has not). Returns 1
 * when the module took the connection over (an upgrade, accepted or
 * refused, or a refused POST already answered), 0 when the caller goes on
 * reading the request and calls sio__eio_http_request once it is whole.
 * A POST to an open session is remembered (ops->set_post) so that an
 * overlapping one is refused and a connection lost mid-body closes the
 * session, as Node's polling transport does. */
int sio__eio_http_head(sio_eio_server *e, void *conn, const sio__eio_http_req *r);

/* A whole request: answers it through the ops (errors, preflight, the
 * handshake's open packet, "ok" for a POST) or holds it (a polling GET:
 * the session answers later with ops->poll_answer). A remembered POST
 * (r->post) is let go first, whatever the answer. */
void sio__eio_http_request(sio_eio_server *e, void *conn, const sio__eio_http_req *r);

/* Answers conn's held polling GET (request r) with body: 200, text/plain,
 * CORS headers; coding (NULL: none) names the Content-Encoding body is in.
 * The transport op poll_answer comes here. */
void sio__eio_http_poll_answer(sio_eio_server *e, void *conn, const sio__eio_http_req *r,
                               const char *body, size_t len, const char *coding);

/* Node's polling doWrite(): 1 if a payload of len bytes is to be compressed
 * (compress: one of its packets allows it; httpCompression and its
 * threshold are the server's options). */
int sio__eio_http_wants_compression(const sio_eio_server *e, size_t len, int compress);

/* The request's body broke an HTTP limit: the caller answers with the
 * parser's status; the POST no longer counts for its session, which stays
 * open (the client sees the error and closes it, as with Node). */
void sio__eio_http_post_abort(sio_eio_server *e, void *conn, sio_eio_socket *post);

/* conn is going away. so: the session it carried (ops->set_session), post:
 * the session whose POST body it was receiving (ops->set_post); either may
 * be NULL. ws: conn was a WebSocket; error: it failed rather than closed. */
void sio__eio_http_closed(sio_eio_server *e, void *conn, sio_eio_socket *so, sio_eio_socket *post,
                          int ws, int error);

/* Node's JSON error body for code ({"code":N,"message":"..."}), appended
 * to out, and the status it goes with (400, or 403 for Forbidden). */
int sio__eio_http_error_body(int code, sio__buf *out);
int sio__eio_http_error_status(int code);

#endif
