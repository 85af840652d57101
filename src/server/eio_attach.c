/* The composition root of an Engine.IO server on an HTTP server.
 *
 * sio_eio_server_new wires the sans-I/O Engine.IO core (engine/) to the
 * HTTP server (net/): it builds the core with the loop's timer wheel,
 * clocks and the kernel's random bytes (server/env.h), mounts a route at
 * the server's path, and translates in both directions:
 *  - net -> engine: the route's ops turn a parsed request into the core's
 *    request view (engine/eio_http.h) and WebSocket events into
 *    sio__eio_ws_message / sio__eio_ws_closed;
 *  - engine -> net: the transport ops (eio_server.h) become net's byte
 *    moves (sio__conn_respond, sio__conn_ws_send, ...), with the
 *    sio__conn as the core's opaque handle.
 * Nothing here decides protocol: which status, which body, which session
 * are the core's answers. Neither side includes the other's headers; only
 * this layer sees both. */
#include <string.h>

#include "core/alloc.h"
#include "engine/eio_http.h"
#include "http/compress.h"
#include "net/net.h"
#include "server/env.h"

/* One Engine.IO server mounted on an HTTP server. */
typedef struct eio_mount {
    sio_eio_server core;
    char path[]; /* the route's path (outlives core's copy while closing) */
} eio_mount;

/* ------------------------------------------------------- request view */

static int method_of(sio__http_method m)
{
    switch (m) {
    case SIO_HTTP_GET:
        return SIO_EIO_HTTP_GET;
    case SIO_HTTP_POST:
        return SIO_EIO_HTTP_POST;
    case SIO_HTTP_OPTIONS:
        return SIO_EIO_HTTP_OPTIONS;
    default:
        return SIO_EIO_HTTP_OTHER;
    }
}

/* The core's view of c's current request (whole: with its body). */
static sio__eio_http_req view(sio__conn *c)
{
    const sio__http_request *r = &c->parser->req;
    return (sio__eio_http_req){
        .method = method_of(r->method),
        .method_str = r->method_str,
        .keep_alive = r->keep_alive,
        .upgrade = r->upgrade_websocket,
        .target = r->target,
        .query = r->query,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .body = {r->body.data, r->body.len},
        .secure = c->tls != NULL,
        .post = sio__conn_http_of(c)->post,
    };
}

/* The Engine.IO server of c's current request. */
static sio_eio_server *conn_core(sio__conn *c)
{
    return &((eio_mount *)sio__conn_http_of(c)->route->data)->core;
}

/* ---------------------------------------------------- transport ops */

/* A WebSocket's output policy (sioc.h): the server's budget (net's), then
 * the session's hard and soft limits (the Engine.IO options). Over a limit
 * the connection is marked cut and SIO_ELIMIT tells the engine, which
 * closes the session from its timer (never inside this send). */
static int t_ws_send(void *ws, sio__rcbuf *pkt, int binary)
{
    sio__conn *c = ws;
    sio_eio_socket *so = c->owner;
    size_t n = pkt->len + SIO_WS_FRAME_HEADER_MAX;
    if (c->cut || sio__conn_over_budget(c, n))
        return sio__conn_cut(c);
    if (so) {
        const sio_eio_options *o = &so->server->opts;
        if (c->out_bytes + n > o->max_outbound_bytes)
            return sio__conn_cut(c);
        if (o->outbound_soft_limit && c->out_bytes + n > o->outbound_soft_limit &&
            sio__conn_soft_start(c, o->outbound_soft_timeout) < 0)
            return sio__conn_cut(c);
    }
    return sio__conn_ws_send(c, pkt, binary);
}

static size_t t_ws_queued(void *ws)
{
    return ((sio__conn *)ws)->out_bytes;
}

static void t_ws_close(void *ws)
{
    sio__conn *c = ws;
    c->owner = NULL;
    sio__conn_ws_close(c);
}

/* Node's polling doWrite: httpCompression when the payload may be
 * compressed, is over the threshold and the GET accepts gzip or deflate
 * (the engine decides whether; http/compress picks the coding and runs
 * zlib). */
static void t_poll_answer(void *get, sio__buf *body, int compress)
{
    sio__conn *c = get;
    sio_eio_socket *so = c->owner;
    c->owner = NULL;
    sio__eio_http_req r = view(c);
    const char *coding = NULL;
    if (sio__eio_http_wants_compression(so->server, body->len, compress)) {
        sio__slice ae = sio__http_find_header(&c->parser->req, "accept-encoding");
        coding = sio__http_pick_encoding(ae.base, ae.len);
    }
    sio__buf z;
    sio__buf_init(&z, 0);
    if (coding && sio__http_compress(coding, body->data, body->len, &z) == 0)
        sio__eio_http_poll_answer(so->server, c, &r, z.data, z.len, coding);
    else
        sio__eio_http_poll_answer(so->server, c, &r, body->data, body->len, NULL);
    sio__buf_free(&z);
}

static void t_respond(void *conn, int status, const char *ctype, const char *headers,
                      const void *body, size_t len, int keep_alive)
{
    sio__conn_respond(conn, status, ctype, headers, body, len, keep_alive);
}

static void t_abort(void *conn, const void *bytes, size_t len)
{
    sio__conn_write_copy(conn, bytes, len);
    sio__conn_end(conn);
}

static int t_accept_ws(void *conn)
{
    const sio_eio_options *o = &conn_core(conn)->opts;
    return sio__conn_accept_ws(conn, o->max_http_buffer_size, o->max_ws_fragments);
}

static void t_set_session(void *conn, sio_eio_socket *so)
{
    ((sio__conn *)conn)->owner = so;
}

static void t_set_post(void *conn, sio_eio_socket *so)
{
    sio__conn *c = conn;
    if (c->parser)
        sio__conn_http_of(c)->post = so;
}

static sio_req *t_req_new(void *conn)
{
    return sio__req_new(conn);
}
static void t_req_free(sio_req *r)
{
    sio__req_free(r);
}

static void t_peer_address(void *conn, char *out, size_t cap)
{
    sio__conn_peer_address(conn, out, cap);
}

static const sio__eio_transport_ops transport_ops = {
    t_ws_send,   t_ws_queued,   t_ws_close, t_poll_answer, t_respond,  t_abort,
    t_accept_ws, t_set_session, t_set_post, t_req_new,     t_req_free, t_peer_address,
};

/* ------------------------------------------------------- route ops */

static void r_ws_message(sio__ws_conn *w, int binary, const char *data, size_t len, void *arg)
{
    (void)w;
    sio__conn *c = arg;
    if (c->owner)
        sio__eio_ws_message(c->owner, c, data, len, binary);
}

static void r_ws_close(sio__ws_conn *w, int code, void *arg)
{
    (void)w;
    sio__conn *c = arg;
    sio_eio_socket *so = c->owner;
    c->owner = NULL;
    if (so)
        sio__eio_ws_closed(so, c, code != 1000 && code != 1001 && code != 1005);
}

static int r_on_head(sio__conn *c, void *data)
{
    eio_mount *m = data;
    sio__http_parser_set_max_body(c->parser, m->core.opts.max_http_buffer_size);
    sio__eio_http_req r = view(c);
    r.body = (sio__slice){NULL, 0};
    return sio__eio_http_head(&m->core, c, &r);
}

static void r_on_request(sio__conn *c, void *data)
{
    eio_mount *m = data;
    sio__eio_http_req r = view(c);
    sio__eio_http_request(&m->core, c, &r);
}

static void r_on_body_error(sio__conn *c)
{
    sio_eio_socket *post = sio__conn_http_of(c)->post;
    if (post)
        sio__eio_http_post_abort(post->server, c, post);
}

static void r_on_closed(sio__conn *c, int error)
{
    sio_eio_socket *so = c->owner;
    sio_eio_socket *post = c->parser ? sio__conn_http_of(c)->post : NULL;
    sio_eio_server *e = so ? so->server : post ? post->server : NULL;
    if (e)
        sio__eio_http_closed(e, c, so, post, c->mode == SIO_CONN_WS, error);
}

static void r_on_drained(sio__conn *c)
{
    if (c->owner)
        sio__eio_drained(c->owner);
}

static void r_on_server_close(void *data)
{
    sio__eio_server_deinit(&((eio_mount *)data)->core);
}
static void r_on_server_free(void *data)
{
    sio__free(data);
}

static const sio__route_ops route_ops = {
    {r_ws_message, r_ws_close},
    r_on_head,
    r_on_request,
    r_on_body_error,
    r_on_closed,
    r_on_drained,
    r_on_server_close,
    r_on_server_free,
};

/* -------------------------------------------------------- the root */

int sio_eio_server_new(sio_eio_server **out, sio_http_server *http, const sio_eio_options *opts,
                       const sio_eio_callbacks *cb, void *data)
{
    size_t plen = opts->path ? strlen(opts->path) : 0;
    eio_mount *m = sio__calloc(1, sizeof *m + plen + 2);
    if (m == NULL)
        return SIO_ENOMEM;
    sio__env env;
    sio__server_env(http->loop, &env);
    int rc = sio__eio_server_init(&m->core, opts, cb, data, &env, &transport_ops);
    if (rc < 0) {
        sio__free(m);
        return rc;
    }
    memcpy(m->path, m->core.path_slash, strlen(m->core.path_slash) + 1);
    rc = sio__http_route_add(http, m->path, &route_ops, m);
    if (rc < 0) {
        sio__eio_server_deinit(&m->core);
        sio__free(m);
        return rc;
    }
    *out = &m->core;
    return 0;
}
