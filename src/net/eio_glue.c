/* Engine.IO over HTTP and WebSocket: the net side of the engine core.
 *
 * Maps HTTP requests on an Engine.IO path to the core's verify/handshake/
 * poll/post calls and answers them the way Node's engine.io does (JSON
 * errors with 400/403, "ok" for POSTs, text/plain payloads for GETs, CORS
 * headers), performs the WebSocket upgrade, and implements the transport
 * ops the core calls to write. */
#include <string.h>

#include "core/alloc.h"
#include "engine/eio_internal.h"
#include "http/compress.h"
#include "http/http_response.h"
#include "http/query.h"
#include "net/net.h"
#include "ws/ws_handshake.h"

sio_eio_server *sio__eio_match(sio_http_server *s, sio_slice path)
{
    sio_list *it;
    for (it = s->eios.next; it != &s->eios; it = it->next) {
        sio_eio_server *e = &SIO_CONTAINER_OF(it, sio_eio_attach, link)->core;
        size_t n = strlen(e->path_slash);
        /* Exactly "/engine.io/" (or "/engine.io"): deeper paths such as
         * "/socket.io/socket.io.js" stay with the request handler, which is
         * how Node's serveClient shares the prefix with engine.io. */
        if ((path.len == n || path.len == n - 1) && memcmp(path.base, e->path_slash, path.len) == 0)
            return e;
    }
    return NULL;
}

int sio_eio_server_new(sio_eio_server **out, sio_http_server *http, const sio_eio_options *opts,
                       const sio_eio_callbacks *cb, void *data)
{
    sio_eio_attach *a = sio__calloc(1, sizeof *a);
    if (a == NULL)
        return SIO_ENOMEM;
    int rc = sio__eio_server_init(&a->core, opts, cb, data, &http->loop->timers,
                                  sio__loop_clock, http->loop, &sio__net_eio_ops);
    if (rc < 0) {
        sio__free(a);
        return rc;
    }
    a->core.loop = http->loop;
    sio_slice p = {a->core.path_slash, strlen(a->core.path_slash)};
    if (sio__eio_match(http, p)) {
        sio__eio_server_deinit(&a->core);
        sio__free(a);
        return SIO_EEXIST;
    }
    sio__list_insert_tail(&http->eios, &a->link);
    *out = &a->core;
    return 0;
}

/* ----------------------------------------------------------- responses */

/* The Engine.IO server the current request is for (HTTP mode). */
static sio_eio_server *conn_eio(sio_conn *c) { return sio__conn_http(c)->eio; }

static sio_slice header(sio_conn *c, const char *name)
{
    return sio__http_header(&c->parser->req, name);
}

/* CORS lines for the current request into b (b is initialised here). */
static void cors(sio_conn *c, int preflight, sio_buf *b)
{
    sio__buf_init(b, 0);
    sio__eio_cors_headers(conn_eio(c), header(c, "origin"), header(c, "access-control-request-headers"),
                          preflight, b);
}

static void respond(sio_conn *c, int status, const char *ctype, const char *body, size_t len)
{
    sio_buf h;
    cors(c, 0, &h);
    sio__conn_respond(c, status, ctype, sio__buf_cstr(&h), body, len, c->parser->req.keep_alive);
    sio__buf_free(&h);
}

static void respond_error(sio_conn *c, int code)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code,
                     sio__eio_error_message(code));
    respond(c, code == SIO_EIO_ERR_FORBIDDEN ? 403 : 400, "application/json", body, (size_t)n);
}

/* Node's abortUpgrade: a raw 400 and the socket destroyed. */
static void abort_upgrade(sio_conn *c, int code)
{
    const char *msg = sio__eio_error_message(code);
    sio_buf b;
    sio__buf_init(&b, 0);
    sio__buf_appendf(&b,
                     "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(msg), msg);
    sio__conn_write_copy(c, b.data, b.len);
    sio__buf_free(&b);
    sio__conn_end(c);
}

/* ---------------------------------------------------------- the request */

#define post_done sio__eio_post_release

typedef struct query_fields {
    sio_buf transport, sid, eio;
    int has_sid, bad;
} query_fields;

static void query_init(query_fields *q, sio_slice query)
{
    memset(q, 0, sizeof *q);
    sio__buf_init(&q->transport, 256);
    sio__buf_init(&q->sid, 256);
    sio__buf_init(&q->eio, 16);
    int t = sio__query_get(query, "transport", &q->transport);
    int s = sio__query_get(query, "sid", &q->sid);
    int e = sio__query_get(query, "EIO", &q->eio);
    q->has_sid = s == 1;
    q->bad = t < 0 || s < 0 || e < 0;
}

static void query_free(query_fields *q)
{
    sio__buf_free(&q->transport);
    sio__buf_free(&q->sid);
    sio__buf_free(&q->eio);
}

static int method_code(sio_http_method m)
{
    return m == SIO_HTTP_GET ? 'G' : m == SIO_HTTP_POST ? 'P' : m == SIO_HTTP_OPTIONS ? 'O' : 0;
}

/* Node's verify() for the current request. */
static int verify(sio_conn *c, query_fields *q, int upgrade, sio_eio_socket **so)
{
    sio_eio_reqinfo ri = {
        .method = method_code(c->parser->req.method),
        .upgrade = upgrade,
        .transport = sio__buf_slice(&q->transport),
        .sid = q->has_sid ? sio__buf_slice(&q->sid) : (sio_slice){NULL, 0},
        .eio = sio__buf_slice(&q->eio),
        .origin = header(c, "origin"),
        .req = NULL,
    };
    if (ri.transport.base == NULL)
        ri.transport.base = "";
    if (ri.eio.base == NULL)
        ri.eio.base = "";
    if (q->bad)
        return SIO_EIO_ERR_BAD_REQUEST;
    if (conn_eio(c)->opts.allow_request && !q->has_sid) {
        struct sio_req *r = NULL;
        r = sio__req_new(c);
        ri.req = r;
        int code = r ? sio__eio_verify(conn_eio(c), &ri, so) : SIO_EIO_ERR_BAD_REQUEST;
        sio__req_free(r);
        return code;
    }
    return sio__eio_verify(conn_eio(c), &ri, so);
}

/* Lower-cased header copies for the session's handshake record (address
 * is the caller's buffer). */
static int fill_handshake(sio_conn *c, sio_handshake *hs, sio_kv **kv, sio_buf *store,
                          const char *address)
{
    const sio_http_request *r = &c->parser->req;
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
        uv_timeval64_t tv;
        int64_t wall = uv_gettimeofday(&tv) == 0 ? tv.tv_sec * 1000 + tv.tv_usec / 1000 : 0;
        *hs = (sio_handshake){*kv, r->nheaders, store->data + url, store->data + query,
                              address, wall, 0};
    }
    sio__free(offs);
    return rc;
}

static sio_eio_socket *handshake(sio_conn *c, int transport)
{
    sio_handshake hs;
    sio_kv *kv = NULL;
    sio_buf store;
    sio_eio_socket *so = NULL;
    char address[64];
    sio__conn_peer_address(c, address, sizeof address);
    int rc = fill_handshake(c, &hs, &kv, &store, address);
    if (rc == 0)
        rc = sio__eio_handshake(conn_eio(c), transport, &hs, &so);
    sio__free(kv);
    sio__buf_free(&store);
    return rc == 0 ? so : NULL;
}

void sio__eio_on_request(sio_conn *c, sio_eio_server *e)
{
    const sio_http_request *r = &c->parser->req;
    if (r->method == SIO_HTTP_OPTIONS && (e->opts.cors.any_origin || e->opts.cors.norigins)) {
        sio_buf h;
        cors(c, 1, &h);
        sio__conn_respond(c, 204, NULL, sio__buf_cstr(&h), "", 0, r->keep_alive);
        sio__buf_free(&h);
        return;
    }
    query_fields q;
    query_init(&q, r->query);
    sio_eio_socket *so = NULL;
    int code = verify(c, &q, 0, &so);
    query_free(&q);
    if (code != SIO_EIO_ERR_NONE) {
        respond_error(c, code);
        return;
    }
    if (so == NULL) {
        so = handshake(c, SIO_TRANSPORT_POLLING);
        if (so == NULL) {
            respond(c, 500, "text/plain", "", 0);
            return;
        }
        c->session = so;
        sio__eio_poll_get(so, c);
        sio__eio_opened(so);
        return;
    }
    if (r->method == SIO_HTTP_GET) {
        c->session = so;
        if (sio__eio_poll_get(so, c) == SIO_EBUSY) {
            c->session = NULL; /* Node: 400 with no body, session closed */
            respond(c, 400, NULL, "", 0);
        }
        return;
    }
    if (r->method == SIO_HTTP_POST) {
        post_done(c);
        sio__eio_poll_post(so, r->body.data ? r->body.data : "", r->body.len);
        respond(c, 200, "text/html", "ok", 2);
        return;
    }
    respond(c, 500, NULL, "", 0);
}

/* --------------------------------------------------------- the upgrade */

static void ws_on_message(sio_ws_conn *w, int binary, const char *data, size_t len, void *arg)
{
    sio_conn *c = arg;
    if (c->session)
        sio__eio_ws_message(c->session, c, data, len, binary);
}

static void ws_on_close(sio_ws_conn *w, int code, void *arg)
{
    sio_conn *c = arg;
    sio_eio_socket *so = c->session;
    c->session = NULL;
    if (so)
        sio__eio_ws_closed(so, c, code != 1000 && code != 1001 && code != 1005);
}

static const sio_ws_callbacks ws_callbacks = {ws_on_message, ws_on_close};

/* Moves wslay's control output (pong, close) into the write queue. */
static void ws_drain_output(sio_conn *c)
{
    sio_buf *out = sio__ws_conn_output(&c->ws);
    if (out->len) {
        sio__conn_write_copy(c, out->data, out->len);
        out->len = 0;
        sio__ws_conn_output_done(&c->ws); /* idle sockets hold no buffer */
    }
    if (sio__ws_conn_wants_close(&c->ws))
        sio__conn_linger(c);
}

void sio__eio_ws_read(sio_conn *c, const char *data, size_t len)
{
    int rc = sio__ws_conn_feed(&c->ws, data, len);
    if (c->closing)
        return;
    ws_drain_output(c);
    if (rc < 0)
        sio__conn_linger(c);
}

/* Answers 101 and turns the connection into a WebSocket. */
static int switch_to_ws(sio_conn *c)
{
    const sio_http_request *r = &c->parser->req;
    if (sio__ws_check_upgrade(r->method == SIO_HTTP_GET, r->version_minor, header(c, "upgrade"),
                              header(c, "connection"), header(c, "sec-websocket-version"),
                              header(c, "sec-websocket-key")) < 0)
        return SIO_EPROTO;
    sio__ws_conn_init(&c->ws, &ws_callbacks, c, conn_eio(c)->opts.max_http_buffer_size);
    c->has_ws = 1;
    sio_buf b;
    sio__buf_init(&b, 0);
    int rc = sio__ws_accept_response(&b, header(c, "sec-websocket-key"), NULL);
    if (rc == 0)
        rc = sio__conn_write_copy(c, b.data, b.len);
    sio__buf_free(&b);
    if (rc < 0)
        return rc;
    c->mode = SIO_CONN_WS;
    sio__timer_stop(c->timer);
    return 0;
}

/* The session a POST body is for, looked up again by id (it may be gone). */
static sio_eio_socket *post_session(sio_conn *c)
{
    if (c->parser == NULL || conn_eio(c) == NULL)
        return NULL;
    const char *sid = sio__conn_http(c)->post_sid;
    if (sid[0] == '\0')
        return NULL;
    sio_eio_socket *so = sio__eio_find(conn_eio(c), sid, strlen(sid));
    return so && so->post == c ? so : NULL;
}

void sio__eio_post_release(sio_conn *c)
{
    sio_eio_socket *so = post_session(c);
    if (so)
        so->post = NULL;
    if (c->parser)
        sio__conn_http(c)->post_sid[0] = '\0';
}

/* Node refuses a binary POST body and a POST that overlaps another one on
 * the same session: 400 and the session is closed. */
static int post_head(sio_conn *c, sio_eio_server *e)
{
    query_fields q;
    query_init(&q, c->parser->req.query);
    sio_eio_socket *so = NULL;
    if (q.has_sid)
        so = sio__eio_find(e, q.sid.data, q.sid.len);
    query_free(&q);
    if (so == NULL || so->state != SIO_EIO_OPEN_STATE)
        return 0;
    sio_slice ctype = header(c, "content-type");
    if (so->post || sio__slice_eq_nocase(ctype, "application/octet-stream")) {
        sio__eio_close(so, "transport error");
        sio_buf h;
        cors(c, 0, &h);
        sio__conn_respond(c, 400, NULL, sio__buf_cstr(&h), "", 0, 0);
        sio__buf_free(&h);
        return 1;
    }
    so->post = c;
    snprintf(sio__conn_http(c)->post_sid, sizeof sio__conn_http(c)->post_sid, "%s", so->id);
    return 0;
}

int sio__eio_on_head(sio_conn *c, sio_eio_server *e)
{
    sio__http_parser_set_max_body(c->parser, e->opts.max_http_buffer_size);
    if (c->parser->req.method == SIO_HTTP_POST)
        return post_head(c, e);
    if (!c->parser->req.upgrade_websocket)
        return 0;
    query_fields q;
    query_init(&q, c->parser->req.query);
    sio_eio_socket *so = NULL;
    int code = verify(c, &q, 1, &so);
    query_free(&q);
    if (code != SIO_EIO_ERR_NONE) {
        abort_upgrade(c, code);
        return 1;
    }
    if (switch_to_ws(c) < 0) {
        abort_upgrade(c, SIO_EIO_ERR_BAD_REQUEST);
        return 1;
    }
    if (so) {
        if (sio__eio_ws_probe(so, c) < 0) {
            sio__ws_conn_close(&c->ws, 1000, NULL);
            ws_drain_output(c);
            return 1;
        }
        c->session = so;
        return 1;
    }
    so = handshake(c, SIO_TRANSPORT_WEBSOCKET);
    if (so == NULL) {
        sio__conn_end(c);
        return 1;
    }
    c->session = so;
    sio__eio_ws_attach(so, c); /* sends the queued open packet */
    sio__eio_opened(so);
    return 1;
}

void sio__eio_conn_closed(sio_conn *c, int error)
{
    sio_eio_socket *post = post_session(c);
    if (c->parser)
        sio__conn_http(c)->post_sid[0] = '\0';
    if (post) { /* Node: "data request connection closed prematurely" */
        post->post = NULL;
        sio__eio_close(post, "transport error");
    }
    sio_eio_socket *so = c->session;
    if (so == NULL)
        return;
    c->session = NULL;
    if (c->mode == SIO_CONN_WS)
        sio__eio_ws_closed(so, c, error);
    else
        sio__eio_poll_aborted(so, c);
}

/* ------------------------------------------------------ transport ops */

static int ws_send(void *ws, sio_rcbuf *pkt, int binary)
{
    sio_conn *c = ws;
    if (!c->has_ws || sio__ws_conn_wants_close(&c->ws))
        return SIO_ECLOSED;
    char hdr[SIO_WS_FRAME_HEADER_MAX];
    size_t n = sio__ws_frame_header(hdr, binary, pkt->len);
    return sio__conn_write(c, pkt, hdr, n);
}

static size_t ws_queued(void *ws) { return ((sio_conn *)ws)->out_bytes; }

static void ws_close(void *ws)
{
    sio_conn *c = ws;
    c->session = NULL;
    if (c->closing)
        return;
    if (c->has_ws && !sio__ws_conn_wants_close(&c->ws))
        sio__ws_conn_close(&c->ws, 1000, NULL);
    if (c->has_ws)
        ws_drain_output(c);
    else
        sio__conn_end(c);
}

/* Node's polling doWrite: httpCompression when the payload may be
 * compressed, is over the threshold and the GET accepts gzip or deflate. */
static void poll_answer(void *get, sio_buf *body, int compress)
{
    sio_conn *c = get;
    c->session = NULL;
    const sio_eio_options *o = &conn_eio(c)->opts;
    sio_slice ae = header(c, "accept-encoding");
    const char *coding = NULL;
    if (compress && o->http_compression && body->len >= o->http_compression_threshold)
        coding = sio__http_pick_encoding(ae.base, ae.len);
    sio_buf z;
    sio__buf_init(&z, 0);
    if (coding == NULL || sio__http_compress(coding, body->data, body->len, &z) < 0) {
        respond(c, 200, "text/plain; charset=UTF-8", body->data ? body->data : "", body->len);
        sio__buf_free(&z);
        return;
    }
    sio_buf h;
    cors(c, 0, &h);
    sio__buf_appendf(&h, "Content-Encoding: %s\r\n", coding);
    sio__conn_respond(c, 200, "text/plain; charset=UTF-8", sio__buf_cstr(&h), z.data, z.len,
                      c->parser->req.keep_alive);
    sio__buf_free(&h);
    sio__buf_free(&z);
}

const sio_eio_transport_ops sio__net_eio_ops = {ws_send, ws_queued, ws_close, poll_answer};
