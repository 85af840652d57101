/* Engine.IO over HTTP: see eio_http.h.
 *
 * Order of the checks follows Node (lib/server.ts): the preflight first
 * (when CORS is configured), then verify() (query, transport, sid, method,
 * allowRequest, protocol version), then the request's own rules. Errors of
 * a plain request are JSON bodies with CORS headers and keep the
 * connection; an upgrade that fails verify() gets Node's abortUpgrade: a
 * raw 400 with the message as text/html, and the connection closed. */
#include "engine/eio_http.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/query.h"

/* The value of the first header named name (lower-case literal), or
 * {NULL,0}. */
static sio__slice header(const sio__eio_http_req *r, const char *name)
{
    for (unsigned i = 0; i < r->nheaders; i++)
        if (sio__slice_eq_nocase(r->headers[i].name, name))
            return r->headers[i].value;
    return (sio__slice){NULL, 0};
}

/* ----------------------------------------------------------- responses */

int sio__eio_http_error_status(int code)
{
    return code == SIO_EIO_ERR_FORBIDDEN ? 403 : 400;
}

int sio__eio_http_error_body(int code, sio__buf *out)
{
    return sio__buf_appendf(out, "{\"code\":%d,\"message\":\"%s\"}", code,
                            sio__eio_error_message(code));
}

/* CORS lines for r into b (b is initialised here). */
static void cors(const sio_eio_server *e, const sio__eio_http_req *r, int preflight, sio__buf *b)
{
    sio__buf_init(b, 0);
    sio__eio_cors_headers(e, header(r, "origin"), header(r, "access-control-request-headers"),
                          preflight, b);
}

static void respond(sio_eio_server *e, void *conn, const sio__eio_http_req *r, int status,
                    const char *ctype, const char *body, size_t len, int keep_alive)
{
    sio__buf h;
    cors(e, r, 0, &h);
    e->ops->respond(conn, status, ctype, sio__buf_cstr(&h), body, len, keep_alive);
    sio__buf_free(&h);
}

static void respond_error(sio_eio_server *e, void *conn, const sio__eio_http_req *r, int code)
{
    sio__buf b;
    sio__buf_init(&b, 0);
    if (sio__eio_http_error_body(code, &b) < 0) {
        e->ops->respond(conn, 500, NULL, "", "", 0, 0);
    } else {
        respond(e, conn, r, sio__eio_http_error_status(code), "application/json", b.data, b.len,
                r->keep_alive);
    }
    sio__buf_free(&b);
}

/* Node's abortUpgrade with its status line and message: the raw answer
 * and the socket destroyed. */
static void abort_upgrade_msg(sio_eio_server *e, void *conn, const char *status, const char *msg)
{
    sio__buf b;
    sio__buf_init(&b, 0);
    int rc = sio__buf_appendf(&b,
                              "HTTP/1.1 %s\r\nConnection: close\r\n"
                              "Content-type: text/html\r\nContent-Length: %zu\r\n\r\n%s",
                              status, strlen(msg), msg);
    e->ops->abort(conn, rc == 0 ? b.data : "", rc == 0 ? b.len : 0);
    sio__buf_free(&b);
}

/* Node's abortUpgrade: a raw 400 and the socket destroyed. */
static void abort_upgrade(sio_eio_server *e, void *conn, int code)
{
    abort_upgrade_msg(e, conn, "400 Bad Request", sio__eio_error_message(code));
}

void sio__eio_http_poll_answer(sio_eio_server *e, void *conn, const sio__eio_http_req *r,
                               const char *body, size_t len, const char *coding)
{
    sio__buf h;
    cors(e, r, 0, &h);
    if (coding)
        sio__buf_appendf(&h, "Content-Encoding: %s\r\n", coding);
    e->ops->respond(conn, 200, "text/plain; charset=UTF-8", sio__buf_cstr(&h), body ? body : "",
                    len, r->keep_alive);
    sio__buf_free(&h);
}

int sio__eio_http_wants_compression(const sio_eio_server *e, size_t len, int compress)
{
    return compress && e->opts.http_compression && len >= e->opts.http_compression_threshold;
}

/* ------------------------------------------------------------- verify */

/* The three query fields verify() reads, decoded. */
typedef struct query_fields {
    sio__buf transport, sid, eio;
    int has_sid, bad;
} query_fields;

static void query_init(query_fields *q, sio__slice query)
{
    memset(q, 0, sizeof *q);
    sio__buf_init(&q->transport, 256);
    sio__buf_init(&q->sid, 256);
    sio__buf_init(&q->eio, 16);
    int t = sio__query_get(query, "transport", &q->transport);
    int s = sio__query_get(query, "sid", &q->sid);
    int v = sio__query_get(query, "EIO", &q->eio);
    q->has_sid = s == 1;
    q->bad = t < 0 || s < 0 || v < 0;
}

static void query_free(query_fields *q)
{
    sio__buf_free(&q->transport);
    sio__buf_free(&q->sid);
    sio__buf_free(&q->eio);
}

static int method_code(int m)
{
    return m == SIO_EIO_HTTP_GET       ? 'G'
           : m == SIO_EIO_HTTP_POST    ? 'P'
           : m == SIO_EIO_HTTP_OPTIONS ? 'O'
                                       : 0;
}

/* Node's verify() for r; *so is set when r names a live session, and on
 * a refusal *context is Node's err.context (or NULL). */
static int verify(sio_eio_server *e, void *conn, const sio__eio_http_req *r, sio_eio_socket **so,
                  json_t **context)
{
    query_fields q;
    query_init(&q, r->query);
    sio__eio_reqinfo ri = {
        .method = method_code(r->method),
        .method_str = r->method_str,
        .upgrade = r->upgrade,
        .transport = sio__buf_slice(&q.transport),
        .sid = q.has_sid ? sio__buf_slice(&q.sid) : (sio__slice){NULL, 0},
        .eio = sio__buf_slice(&q.eio),
        .origin = header(r, "origin"),
        .req = NULL,
    };
    if (ri.transport.base == NULL)
        ri.transport.base = "";
    if (ri.eio.base == NULL)
        ri.eio.base = "";
    int code;
    *context = NULL;
    if (q.bad) {
        code = SIO_EIO_ERR_BAD_REQUEST;
    } else if (e->opts.allow_request && !q.has_sid) {
        /* allowRequest sees a copy of the request the caller can keep. */
        sio_req *req = e->ops->req_new(conn);
        ri.req = req;
        code = req ? sio__eio_verify_ctx(e, &ri, so, context) : SIO_EIO_ERR_BAD_REQUEST;
        e->ops->req_free(req);
    } else {
        code = sio__eio_verify_ctx(e, &ri, so, context);
    }
    query_free(&q);
    return code;
}

/* Node's connection_error for a refused request. The sio_req copy (the
 * callback's err.req) is made only when a program listens. */
static void refused(sio_eio_server *e, void *conn, const sio__eio_http_req *r, int code,
                    json_t *context)
{
    sio_req *req = e->on_error ? e->ops->req_new(conn) : NULL;
    sio__eio_connection_error(e, code, req, r->target.base, r->target.len, r->upgrade, context);
    if (req)
        e->ops->req_free(req);
}

/* handshake_rate: 1 if conn's handshake is refused (answered here: 429
 * with Node's form of a code-4 refusal whose context message says why,
 * JSON for polling, text for an upgrade), 0 if it may go on. */
static int over_rate(sio_eio_server *e, void *conn, const sio__eio_http_req *r)
{
    static const char msg[] = "Too many handshakes";
    if (e->opts.handshake_rate == 0)
        return 0;
    char address[64];
    e->ops->peer_address(conn, address, sizeof address);
    if (sio__eio_handshake_admits(e, address))
        return 0;
    /* Node's allowRequest refusal with a message: context {message} */
    refused(e, conn, r, SIO_EIO_ERR_FORBIDDEN, json_pack("{s:s}", "message", msg));
    if (r->upgrade) {
        abort_upgrade_msg(e, conn, "429 Too Many Requests", msg);
        return 1;
    }
    char body[64];
    int n =
        snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", SIO_EIO_ERR_FORBIDDEN, msg);
    respond(e, conn, r, 429, "application/json", body, (size_t)n, r->keep_alive);
    return 1;
}

/* ---------------------------------------------------------- handshake */

/* Header copies for the session's handshake record, names lower-cased
 * (the Node view: req.headers). Offsets first, since store moves. */
static int fill_handshake(const sio__eio_http_req *r, sio_handshake *hs, sio_kv **kv,
                          sio__buf *store)
{
    sio__buf_init(store, 0);
    *kv = sio__calloc(r->nheaders + 1, sizeof(sio_kv));
    size_t *offs = sio__calloc(r->nheaders * 2 + 3, sizeof(size_t));
    int rc = (*kv && offs) ? 0 : SIO_ENOMEM;
    for (unsigned i = 0; rc == 0 && i < r->nheaders; i++) {
        offs[2 * i] = store->len;
        rc = sio__buf_append(store, r->headers[i].name.base, r->headers[i].name.len);
        for (size_t k = offs[2 * i]; rc == 0 && k < store->len; k++)
            if (store->data[k] >= 'A' && store->data[k] <= 'Z')
                store->data[k] += 'a' - 'A';
        rc = rc ? rc : sio__buf_append_byte(store, 0);
        offs[2 * i + 1] = store->len;
        rc = rc ? rc : sio__buf_append(store, r->headers[i].value.base, r->headers[i].value.len);
        rc = rc ? rc : sio__buf_append_byte(store, 0);
    }
    size_t url = store->len;
    rc = rc ? rc : sio__buf_append(store, r->target.base, r->target.len);
    rc = rc ? rc : sio__buf_append_byte(store, 0);
    size_t query = store->len;
    rc = rc ? rc : sio__buf_append(store, r->query.base, r->query.len);
    rc = rc ? rc : sio__buf_append_byte(store, 0);
    if (rc == 0) {
        for (unsigned i = 0; i < r->nheaders; i++)
            (*kv)[i] = (sio_kv){store->data + offs[2 * i], store->data + offs[2 * i + 1]};
        *hs = (sio_handshake){*kv, r->nheaders, store->data + url, store->data + query, "", 0, 0};
    }
    sio__free(offs);
    return rc;
}

/* A new session on transport for conn's request r, or NULL. */
static sio_eio_socket *handshake(sio_eio_server *e, void *conn, const sio__eio_http_req *r,
                                 int transport)
{
    sio_handshake hs;
    sio_kv *kv = NULL;
    sio__buf store;
    sio_eio_socket *so = NULL;
    char address[64];
    e->ops->peer_address(conn, address, sizeof address);
    int rc = fill_handshake(r, &hs, &kv, &store);
    if (rc == 0) {
        hs.address = address;
        hs.secure = r->secure;
        hs.time_ms = e->env.wall ? e->env.wall(e->env.arg) : 0;
        rc = sio__eio_handshake(e, transport, &hs, &so);
    }
    sio__free(kv);
    sio__buf_free(&store);
    return rc == 0 ? so : NULL;
}

/* ------------------------------------------------------------ requests */

/* conn holds a GET for so (answered now or later through poll_answer). */
static void poll_get(sio_eio_server *e, void *conn, const sio__eio_http_req *r, sio_eio_socket *so)
{
    e->ops->set_session(conn, so); /* before: poll_get may answer at once */
    if (sio__eio_poll_get(so, conn) == SIO_EBUSY) {
        e->ops->set_session(conn, NULL); /* Node: 400 with no body, session closed */
        respond(e, conn, r, 400, NULL, "", 0, r->keep_alive);
    }
}

/* The POST's body arrived: it no longer blocks another POST. */
static void post_release(sio_eio_server *e, void *conn, sio_eio_socket *so)
{
    if (so && so->post == conn) {
        so->post = NULL;
        e->ops->set_post(conn, NULL);
    }
}

void sio__eio_http_post_abort(sio_eio_server *e, void *conn, sio_eio_socket *post)
{
    post_release(e, conn, post);
}

void sio__eio_http_request(sio_eio_server *e, void *conn, const sio__eio_http_req *r)
{
    /* The body is in: it no longer blocks another POST, even when the
     * request is refused below (a POST whose transport is not the
     * session's): the session must not keep a connection that may go
     * away without telling it. */
    post_release(e, conn, r->post);
    if (r->method == SIO_EIO_HTTP_OPTIONS && (e->opts.cors.any_origin || e->opts.cors.norigins)) {
        sio__buf h;
        cors(e, r, 1, &h);
        e->ops->respond(conn, 204, NULL, sio__buf_cstr(&h), "", 0, r->keep_alive);
        sio__buf_free(&h);
        return;
    }
    sio_eio_socket *so = NULL;
    json_t *context;
    int code = verify(e, conn, r, &so, &context);
    if (code != SIO_EIO_ERR_NONE) {
        refused(e, conn, r, code, context);
        respond_error(e, conn, r, code);
        return;
    }
    if (so == NULL) {
        if (over_rate(e, conn, r))
            return;
        so = handshake(e, conn, r, SIO_TRANSPORT_POLLING);
        if (so == NULL) {
            respond(e, conn, r, 500, "text/plain", "", 0, r->keep_alive);
            return;
        }
        poll_get(e, conn, r, so); /* the open packet is queued: answered at once */
        sio__eio_opened(so);
        return;
    }
    if (r->method == SIO_EIO_HTTP_GET) {
        poll_get(e, conn, r, so);
        return;
    }
    if (r->method == SIO_EIO_HTTP_POST) {
        post_release(e, conn, so); /* (a caller that passed no r->post) */
        sio__eio_poll_post(so, r->body.base ? r->body.base : "", r->body.len);
        respond(e, conn, r, 200, "text/html", "ok", 2, r->keep_alive);
        return;
    }
    respond(e, conn, r, 500, NULL, "", 0, r->keep_alive);
}

/* ------------------------------------------------------------- heads */

/* Node refuses a binary POST body and a POST that overlaps another one on
 * the same session: 400 and the session is closed. */
static int post_head(sio_eio_server *e, void *conn, const sio__eio_http_req *r)
{
    query_fields q;
    query_init(&q, r->query);
    sio_eio_socket *so = NULL;
    if (q.has_sid)
        so = sio__eio_find(e, q.sid.data, q.sid.len);
    query_free(&q);
    if (so == NULL || so->state != SIO_EIO_OPEN_STATE)
        return 0;
    if (so->post || sio__slice_eq_nocase(header(r, "content-type"), "application/octet-stream")) {
        sio__eio_close(so, "transport error");
        respond(e, conn, r, 400, NULL, "", 0, 0);
        return 1;
    }
    so->post = conn;
    e->ops->set_post(conn, so);
    return 0;
}

/* A WebSocket upgrade that passed verify(): a new session over WebSocket,
 * or the probe of a polling session's upgrade. */
static void upgrade(sio_eio_server *e, void *conn, const sio__eio_http_req *r, sio_eio_socket *so)
{
    if (e->ops->accept_ws(conn) < 0)
        return; /* not a valid WebSocket handshake: answered and closing */
    if (so) {
        if (sio__eio_ws_probe(so, conn) < 0) {
            e->ops->ws_close(conn);
            return;
        }
        e->ops->set_session(conn, so);
        return;
    }
    so = handshake(e, conn, r, SIO_TRANSPORT_WEBSOCKET);
    if (so == NULL) {
        e->ops->ws_close(conn);
        return;
    }
    e->ops->set_session(conn, so);
    sio__eio_ws_attach(so, conn); /* sends the queued open packet */
    sio__eio_opened(so);
}

int sio__eio_http_head(sio_eio_server *e, void *conn, const sio__eio_http_req *r)
{
    if (r->method == SIO_EIO_HTTP_POST)
        return post_head(e, conn, r);
    if (!r->upgrade)
        return 0;
    sio_eio_socket *so = NULL;
    json_t *context;
    int code = verify(e, conn, r, &so, &context);
    if (code != SIO_EIO_ERR_NONE) {
        refused(e, conn, r, code, context);
        abort_upgrade(e, conn, code);
    } else if (so != NULL || !over_rate(e, conn, r)) {
        upgrade(e, conn, r, so);
    }
    return 1;
}

/* ------------------------------------------------------------- closing */

void sio__eio_http_closed(sio_eio_server *e, void *conn, sio_eio_socket *so, sio_eio_socket *post,
                          int ws, int error)
{
    if (post && post->post == conn) { /* Node: "data request connection closed prematurely" */
        post_release(e, conn, post);
        sio__eio_close(post, "transport error");
    }
    if (so == NULL)
        return;
    e->ops->set_session(conn, NULL);
    if (ws)
        sio__eio_ws_closed(so, conn, error);
    else
        sio__eio_poll_aborted(so, conn);
}
