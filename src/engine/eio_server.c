/* Engine.IO v4 server core: see eio_server.h for the contract.
 *
 * A session moves OPEN -> CLOSED (CLOSING only while a graceful close waits
 * for the transport). Exactly one transport carries packets at a time:
 *  - polling: packets wait in the session queue until a GET takes them all
 *    (joined with \x1e); at most one GET is held;
 *  - websocket: packets go straight to the net layer's write queue, which
 *    coalesces them per loop iteration.
 * Upgrade (polling -> websocket) follows Node: the probe socket answers
 * "2probe" with "3probe", a held GET is released with a noop ("6") so the
 * client can pause polling, and "5" on the probe switches the transport and
 * flushes whatever the queue still holds over the WebSocket. Nothing is
 * dropped or reordered because the queue is only ever drained by one
 * transport, in order.
 *
 * Heartbeat (v4): the server pings every pingInterval and expects a pong
 * within pingTimeout; one wheel timer per session alternates between the two
 * deadlines. */
#include "engine/eio_server.h"

#include <stddef.h>
#include <string.h>

#include "core/metrics.h"
#include "core/log.h"
#include "core/alloc.h"
#include "core/base64.h"
#include "core/list.h"
#include "engine/eio_internal.h"
#include "engine/eio_packet.h"

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version",
};

const char *sio__eio_error_message(int code)
{
    if (code < 0 || code > SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION)
        return "Bad request";
    return error_messages[code];
}

void sio_eio_options_init(sio_eio_options *o)
{
    memset(o, 0, sizeof *o);
    o->path = "/engine.io";
    o->ping_interval = 25000;
    o->ping_timeout = 20000;
    o->upgrade_timeout = 10000;
    o->max_http_buffer_size = 1000000;
    o->transports = SIO_TRANSPORT_POLLING | SIO_TRANSPORT_WEBSOCKET;
    o->allow_upgrades = 1;
    o->http_compression = 1;
    o->http_compression_threshold = 1024;
    o->cors.methods = "GET,HEAD,PUT,PATCH,POST,DELETE";
    o->max_packets_per_post = 1000;
    o->max_outbound_bytes = 16u << 20;
    o->outbound_soft_limit = 1u << 20;
    o->outbound_soft_timeout = 10000;
    o->max_ws_fragments = 1024;
    o->handshake_addresses = 65536;
}

/* ------------------------------------------------------------ lifecycle */

static void timer_fire(sio__timer *t, void *data);
static void hold(sio_eio_socket *so);
static int release(sio_eio_socket *so);
static void upgrade_fire(sio__timer *t, void *data);
static int flush(sio_eio_socket *so);
static int queue_push(sio_eio_socket *so, sio__rcbuf *pkt, int flags);

/* Copies opts' strings so the caller keeps ownership of its own. */
static int copy_options(sio_eio_server *s, const sio_eio_options *opts)
{
    s->opts = *opts;
    size_t n = strlen(opts->path);
    while (n > 0 && opts->path[n - 1] == '/')
        n--;
    s->path_slash = sio__malloc(n + 2);
    if (s->path_slash == NULL)
        return SIO_ENOMEM;
    memcpy(s->path_slash, opts->path, n);
    memcpy(s->path_slash + n, "/", 2);
    s->opts.path = s->path_slash;
    s->opts.cors.origins = NULL;
    if (opts->cors.norigins == 0)
        return 0;
    s->origins = sio__calloc(opts->cors.norigins, sizeof(char *));
    if (s->origins == NULL)
        return SIO_ENOMEM;
    for (size_t i = 0; i < opts->cors.norigins; i++)
        if ((s->origins[i] = sio__strdup(opts->cors.origins[i])) == NULL)
            return SIO_ENOMEM;
    s->opts.cors.origins = (const char *const *)s->origins;
    return 0;
}

static void free_options(sio_eio_server *s)
{
    for (size_t i = 0; s->origins && i < s->opts.cors.norigins; i++)
        sio__free(s->origins[i]);
    sio__free(s->origins);
    sio__free(s->path_slash);
    s->origins = NULL;
    s->path_slash = NULL;
}

int sio__eio_server_init(sio_eio_server *s, const sio_eio_options *opts,
                         const sio_eio_callbacks *cb, void *data, const sio__env *env,
                         const sio__eio_transport_ops *ops)
{
    memset(s, 0, sizeof *s);
    sio__idmap_init(&s->sessions, SIO__IDMAP_KEY_OFFSET(sio_eio_socket, node, id));
    sio__addr_table_init(&s->hs_addrs, opts->handshake_addresses, opts->handshake_rate,
                         opts->handshake_burst ? opts->handshake_burst : opts->handshake_rate);
    if (opts->path == NULL || opts->path[0] != '/' || opts->transports == 0 ||
        opts->ping_interval == 0 || opts->ping_timeout == 0 || opts->max_http_buffer_size == 0)
        return SIO_EINVAL;
    int rc = copy_options(s, opts);
    if (rc < 0) {
        free_options(s);
        return rc;
    }
    s->cb = *cb;
    s->cb_data = data;
    s->env = *env;
    s->ops = ops;
    return 0;
}

int sio__eio_handshake_admits(sio_eio_server *s, const char *address)
{
    if (s->opts.handshake_rate == 0)
        return 1;
    if (sio__addr_table_take(&s->hs_addrs, address, s->env.now(s->env.arg)))
        return 1;
    SIO_METRIC_INC(&s->metrics, refused_handshake_rate);
    return 0;
}

void sio__eio_server_deinit(sio_eio_server *s)
{
    s->closing = 1;
    sio__idmap_node *n;
    while ((n = sio__idmap_any(&s->sessions)) != NULL) /* on_close may close others too */
        sio__eio_close(SIO_CONTAINER_OF(n, sio_eio_socket, node), "forced close");
    sio__idmap_free(&s->sessions);
    sio__addr_table_free(&s->hs_addrs);
    free_options(s);
}

size_t sio_eio_server_clients(const sio_eio_server *s)
{
    return sio__idmap_size(&s->sessions);
}

void sio__eio_server_on_upgrade(sio_eio_server *s, void (*cb)(sio_eio_socket *so, void *data))
{
    s->on_upgrade = cb;
}

void sio_eio_server_on_connection_error(sio_eio_server *s, sio_connection_error_cb cb, void *data)
{
    s->on_error = cb;
    s->on_error_data = data;
}

static const char *transport_name(int t)
{
    return t == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}

void sio__eio_connection_error(sio_eio_server *s, int code, const sio_req *req, const char *url,
                               size_t url_len, int upgrade, json_t *context)
{
    char *ctx = context ? json_dumps(context, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(context);
    sio_connection_error err = {code, sio__eio_error_message(code), url, url_len, upgrade, req,
                                ctx};
    if (code >= 0 && code < 6)
        SIO_METRIC_INC(&s->metrics, rejected_handshakes[code]);
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_INFO, "connection_error code=%d \"%s\" %s%.*s", code,
            err.message, upgrade ? "(upgrade) " : "", (int)(url_len > 200 ? 200 : url_len), url);
    if (s->on_error)
        s->on_error(&err, s->on_error_data);
    sio__raw_free(ctx); /* json_dumps allocated it through jansson's hook */
}

/* ------------------------------------------------------- session table */

sio_eio_socket *sio__eio_find(const sio_eio_server *s, const char *id, size_t len)
{
    sio__idmap_node *n = sio__idmap_find(&s->sessions, id, len);
    return n ? SIO_CONTAINER_OF(n, sio_eio_socket, node) : NULL;
}

static uint64_t now_ms(const sio_eio_server *s)
{
    return s->env.now(s->env.arg);
}

/* ------------------------------------------------------------- verify */

static int transport_of(sio__slice name)
{
    if (sio__slice_eq(name, "polling"))
        return SIO_TRANSPORT_POLLING;
    if (sio__slice_eq(name, "websocket"))
        return SIO_TRANSPORT_WEBSOCKET;
    return 0;
}

/* Node rejects an Origin with characters invalid in a header value. */
static int origin_invalid(sio__slice origin)
{
    for (size_t i = 0; i < origin.len; i++) {
        unsigned char c = (unsigned char)origin.base[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 1;
    }
    return 0;
}

/* A JSON string of the bytes as sent (Node's context holds JS strings;
 * bytes that are not UTF-8 are kept as they are rather than lost). */
static json_t *jstr(sio__slice v)
{
    json_t *j = json_stringn(v.base ? v.base : "", v.len);
    return j ? j : json_stringn_nocheck(v.base ? v.base : "", v.len);
}

/* Hands Node's err.context for a refusal to the caller (or drops it). */
static int refuse(json_t **context, int code, json_t *ctx)
{
    if (context)
        *context = ctx;
    else
        json_decref(ctx);
    return code;
}

int sio__eio_verify(sio_eio_server *s, const sio__eio_reqinfo *ri, sio_eio_socket **out)
{
    return sio__eio_verify_ctx(s, ri, out, NULL);
}

/* Node's engine.io verify() (and the version check of its handshake()),
 * in its order, with the context object each refusal carries there. */
int sio__eio_verify_ctx(sio_eio_server *s, const sio__eio_reqinfo *ri, sio_eio_socket **out,
                        json_t **context)
{
    *out = NULL;
    if (context)
        *context = NULL;
    int t = transport_of(ri->transport);
    if (t == 0 || !(s->opts.transports & t))
        return refuse(context, SIO_EIO_ERR_TRANSPORT_UNKNOWN,
                      json_pack("{s:o}", "transport", jstr(ri->transport)));
    if (origin_invalid(ri->origin))
        return refuse(context, SIO_EIO_ERR_BAD_REQUEST,
                      json_pack("{s:s,s:o}", "name", "INVALID_ORIGIN", "origin", jstr(ri->origin)));
    if (ri->sid.base != NULL) {
        sio_eio_socket *so = sio__eio_find(s, ri->sid.base, ri->sid.len);
        if (so == NULL || so->state == SIO_EIO_CLOSED)
            return refuse(context, SIO_EIO_ERR_UNKNOWN_SID,
                          json_pack("{s:o}", "sid", jstr(ri->sid)));
        if (!ri->upgrade && so->transport != t)
            return refuse(context, SIO_EIO_ERR_BAD_REQUEST,
                          json_pack("{s:s,s:s,s:s}", "name", "TRANSPORT_MISMATCH", "transport",
                                    transport_name(t), "previousTransport",
                                    transport_name(so->transport)));
        /* Node compares the revision the request names (4 for "4", else 3)
         * with the session's, which is always 4 here. */
        if (!sio__slice_eq(ri->eio, "4"))
            return refuse(context, SIO_EIO_ERR_BAD_REQUEST,
                          json_pack("{s:s,s:i,s:i}", "name", "PROTOCOL_MISMATCH", "protocol", 3,
                                    "previousProtocol", 4));
        if (ri->upgrade && (t != SIO_TRANSPORT_WEBSOCKET || !s->opts.allow_upgrades))
            return refuse(context, SIO_EIO_ERR_BAD_REQUEST, NULL);
        *out = so;
        return SIO_EIO_ERR_NONE;
    }
    if (ri->method != 'G')
        return refuse(context, SIO_EIO_ERR_BAD_HANDSHAKE_METHOD,
                      json_pack("{s:o}", "method", jstr(ri->method_str)));
    if (t == SIO_TRANSPORT_WEBSOCKET && !ri->upgrade)
        return refuse(context, SIO_EIO_ERR_BAD_REQUEST,
                      json_pack("{s:s}", "name", "TRANSPORT_HANDSHAKE_ERROR"));
    if (s->closing)
        return refuse(context, SIO_EIO_ERR_BAD_REQUEST, NULL);
    /* allowRequest gives no message here: Node's callback(null, false). */
    if (s->opts.allow_request && s->opts.allow_request(ri->req, s->opts.allow_request_data))
        return refuse(context, SIO_EIO_ERR_FORBIDDEN, json_pack("{s:n}", "message"));
    /* Node checks the version in handshake(), after allowRequest. */
    if (!sio__slice_eq(ri->eio, "4"))
        return refuse(context, SIO_EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION,
                      json_pack("{s:i}", "protocol", 3));
    return SIO_EIO_ERR_NONE;
}

/* ---------------------------------------------------------------- CORS */

static int origin_allowed(const sio_eio_server *s, sio__slice origin)
{
    if (s->opts.cors.any_origin)
        return 1;
    for (size_t i = 0; i < s->opts.cors.norigins; i++)
        if (sio__slice_eq(origin, s->opts.cors.origins[i]))
            return 1;
    return 0;
}

int sio__eio_cors_headers(const sio_eio_server *s, sio__slice origin, sio__slice req_headers,
                          int preflight, sio__buf *out)
{
    if (origin.len == 0 || !origin_allowed(s, origin))
        return 0;
    int rc = sio__buf_append_str(out, "Access-Control-Allow-Origin: ");
    rc = rc ? rc : sio__buf_append(out, origin.base, origin.len);
    rc = rc ? rc : sio__buf_append_str(out, "\r\nVary: Origin\r\n");
    if (!rc && s->opts.cors.credentials)
        rc = sio__buf_append_str(out, "Access-Control-Allow-Credentials: true\r\n");
    if (rc || !preflight)
        return rc;
    rc = sio__buf_appendf(out, "Access-Control-Allow-Methods: %s\r\n", s->opts.cors.methods);
    if (!rc && s->opts.cors.allowed_headers)
        rc = sio__buf_appendf(out, "Access-Control-Allow-Headers: %s\r\n",
                              s->opts.cors.allowed_headers);
    else if (!rc && req_headers.len) {
        rc = sio__buf_append_str(out, "Access-Control-Allow-Headers: ");
        rc = rc ? rc : sio__buf_append(out, req_headers.base, req_headers.len);
        rc = rc ? rc : sio__buf_append_str(out, "\r\n");
    }
    return rc;
}

/* ------------------------------------------------------------ handshake */

/* 18 CSPRNG bytes -> 24 base64url characters (144 bits), encoded in place
 * (no padding: 18 bytes are six whole groups), so a handshake makes no
 * short-lived allocation for it. */
static int new_session_id(const sio_eio_server *s, char out[SIO_EIO_ID_SIZE])
{
    unsigned char raw[18];
    _Static_assert(SIO_BASE64URL_LEN(sizeof raw) + 1 == SIO_EIO_ID_SIZE, "session id size");
    if (s->env.random(s->env.arg, raw, sizeof raw) < 0)
        return SIO_EIO;
    sio__base64url_encode(out, raw, sizeof raw);
    return 0;
}

/* Where hs->query is inside hs->url (the url's tail after '?'), or NULL
 * when it must be stored on its own. */
static const char *query_in_url(const sio_handshake *hs)
{
    const char *q = strchr(hs->url, '?');
    return q != NULL && strcmp(q + 1, hs->query) == 0 ? q + 1 : NULL;
}

/* Header names most handshakes carry (lower-case, as the net layer
 * gives them): the blob stores one of these as a single byte 1..31 (never
 * the first byte of a real name, a token), the saving on every session. */
static const char *const common_headers[] = {
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "user-agent",
    "origin",
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "pragma",
    "cookie",
    "content-type",
    "content-length",
    "referer",
    "x-forwarded-for",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-dest",
};
#define NCOMMON (sizeof common_headers / sizeof *common_headers)

/* The code (1..NCOMMON) of a common header name, or 0. */
static int header_code(const char *name)
{
    for (size_t i = 0; i < NCOMMON; i++)
        if (strcmp(name, common_headers[i]) == 0)
            return (int)i + 1;
    return 0;
}

/* Bytes a header name takes in the blob (NUL included). */
static size_t name_size(const char *name)
{
    return header_code(name) ? 2 : strlen(name) + 1;
}

/* Bytes of the handshake blob for hs (see hs_blob). */
static size_t blob_size(const sio_handshake *hs)
{
    size_t total = strlen(hs->url) + strlen(hs->address) + 2;
    if (query_in_url(hs) == NULL)
        total += strlen(hs->query) + 1;
    for (size_t i = 0; i < hs->nheaders; i++)
        total += name_size(hs->headers[i].name) + strlen(hs->headers[i].value) + 1;
    return total;
}

/* Appends str and its NUL at *p; returns its offset in the blob. */
static uint32_t blob_put(sio_eio_socket *so, char **p, const char *str)
{
    size_t n = strlen(str) + 1;
    uint32_t off = (uint32_t)(*p - so->hs_blob);
    memcpy(*p, str, n);
    *p += n;
    return off;
}

/* Copies the handshake into the session's blob (sized by blob_size). The
 * sio_handshake view with its header array is built only if asked for. */
static void copy_handshake(sio_eio_socket *so, const sio_handshake *hs)
{
    char *p = so->hs_blob;
    blob_put(so, &p, hs->url);
    const char *q = query_in_url(hs);
    so->hs_query = q ? (uint32_t)(q - hs->url) : blob_put(so, &p, hs->query);
    for (size_t i = 0; i < hs->nheaders; i++) {
        char code[2] = {(char)header_code(hs->headers[i].name), '\0'};
        blob_put(so, &p, code[0] ? code : hs->headers[i].name);
        blob_put(so, &p, hs->headers[i].value);
    }
    so->hs_address = blob_put(so, &p, hs->address);
    so->hs_nheaders = (uint32_t)hs->nheaders;
    so->hs_time = hs->time_ms;
    so->hs_secure = hs->secure != 0;
}

/* Frees the polling state and what its queue still references. */
static void poll_free(sio_eio_socket *so)
{
    sio__eio_poll *pl = so->poll;
    if (pl == NULL)
        return;
    sio__timer_stop(&pl->upgrade_timer);
    for (size_t i = pl->qhead; i < pl->qlen; i++)
        sio__rcbuf_unref(pl->q[i].pkt);
    sio__free(pl->q);
    sio__free(pl);
    so->poll = NULL;
}

static void socket_free(sio_eio_socket *so)
{
    if (so->post) /* its POST body is still coming: the connection forgets it */
        so->server->ops->set_post(so->post, NULL);
    poll_free(so);
    sio__free(so->hs);
    sio__free(so);
}

static int queue_open_packet(sio_eio_socket *so)
{
    const sio_eio_options *o = &so->server->opts;
    int upgrades = so->transport == SIO_TRANSPORT_POLLING && o->allow_upgrades &&
                   (o->transports & SIO_TRANSPORT_WEBSOCKET);
    sio__buf b;
    sio__buf_init(&b, 0);
    int rc = sio__buf_appendf(&b,
                              "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,"
                              "\"pingTimeout\":%u,\"maxPayload\":%zu}",
                              so->id, upgrades ? "\"websocket\"" : "", o->ping_interval,
                              o->ping_timeout, o->max_http_buffer_size);
    if (rc == 0) {
        sio__rcbuf *pkt = sio__rcbuf_new(b.data, b.len);
        /* Straight into the queue (no transport is attached yet): the
         * outbound limit must not close a session nobody has seen. */
        rc = pkt ? queue_push(so, pkt, 0) : SIO_ENOMEM;
        sio__rcbuf_unref(pkt);
    }
    sio__buf_free(&b);
    return rc;
}

int sio__eio_handshake(sio_eio_server *s, int transport, const sio_handshake *hs,
                       sio_eio_socket **out)
{
    int rc;
    sio_eio_socket *so = sio__calloc(1, offsetof(sio_eio_socket, hs_blob) + blob_size(hs));
    if (so == NULL)
        return SIO_ENOMEM;
    so->server = s;
    so->state = SIO_EIO_OPEN_STATE;
    so->transport = (uint8_t)transport;
    sio__timer_init(&so->timer, timer_fire, so);
    copy_handshake(so, hs);
    /* Even a WebSocket handshake queues its open packet until attached. */
    so->poll = sio__calloc(1, sizeof *so->poll);
    if (so->poll == NULL) {
        socket_free(so);
        return SIO_ENOMEM;
    }
    sio__timer_init(&so->poll->upgrade_timer, upgrade_fire, so);
    rc = new_session_id(s, so->id);
    /* 144 random bits: a repeated id would mean a broken generator. */
    if (rc == 0 && sio__eio_find(s, so->id, strlen(so->id)) != NULL)
        rc = SIO_EIO;
    rc = rc ? rc : sio__idmap_add(&s->sessions, &so->node);
    if (rc < 0) {
        socket_free(so);
        return rc;
    }
    rc = queue_open_packet(so);
    if (rc < 0) {
        (void)sio__idmap_remove(&s->sessions, &so->node);
        socket_free(so);
        return rc;
    }
    so->hb = SIO_EIO_HB_WAIT_PING;
    sio__timer_start(s->env.timers, &so->timer, now_ms(s) + s->opts.ping_interval);
    *out = so;
    return 0;
}

void sio__eio_opened(sio_eio_socket *so)
{
    so->metered = 1;
    if (so->transport == SIO_TRANSPORT_WEBSOCKET) {
        SIO_METRIC_INC(&so->server->metrics, handshakes_websocket);
        SIO_METRIC_INC(&so->server->metrics, sessions_websocket);
    } else {
        SIO_METRIC_INC(&so->server->metrics, handshakes_polling);
        SIO_METRIC_INC(&so->server->metrics, sessions_polling);
    }
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_DEBUG, "handshake sid=%s transport=%s (%zu open)", so->id,
            transport_name(so->transport), sio__idmap_size(&so->server->sessions));
    if (so->server->cb.on_connection == NULL)
        return;
    hold(so);
    so->server->cb.on_connection(so, so->server->cb_data);
    release(so);
}

/* ------------------------------------------------------------ closing */

/* Releases the held GET (if any) with a one-packet payload. */
static void answer_get(sio_eio_socket *so, const char *packet)
{
    if (so->poll == NULL || so->poll->get == NULL)
        return;
    void *g = so->poll->get;
    sio__buf body;
    sio__buf_init(&body, 0);
    so->poll->get = NULL;
    if (sio__buf_append_str(&body, packet) == 0)
        so->server->ops->poll_answer(g, &body, 0);
    sio__buf_free(&body);
}

static void release_transports(sio_eio_socket *so)
{
    const sio__eio_transport_ops *ops = so->server->ops;
    if (so->poll && so->poll->probe) {
        void *p = so->poll->probe;
        so->poll->probe = NULL;
        ops->ws_close(p);
    }
    if (so->ws) {
        void *w = so->ws;
        so->ws = NULL;
        ops->ws_close(w);
    }
    /* Node answers a held GET with a close packet when it closes. */
    answer_get(so, "1");
}

void sio__eio_close(sio_eio_socket *so, const char *reason)
{
    if (so->state == SIO_EIO_CLOSED)
        return;
    sio_eio_server *s = so->server;
    so->state = SIO_EIO_CLOSED;
    sio__timer_stop(&so->timer);
    if (so->poll)
        sio__timer_stop(&so->poll->upgrade_timer);
    release_transports(so);
    (void)sio__idmap_remove(&s->sessions, &so->node);
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_DEBUG, "close sid=%s reason=\"%s\"", so->id, reason);
    if (so->metered && so->transport == SIO_TRANSPORT_WEBSOCKET)
        SIO_METRIC_DEC(&so->server->metrics, sessions_websocket);
    else if (so->metered)
        SIO_METRIC_DEC(&so->server->metrics, sessions_polling);
    if (s->cb.on_close)
        s->cb.on_close(so, reason, s->cb_data);
    if (so->busy == 0)
        socket_free(so);
}

/* Callbacks may close (and so free) the session under our feet: the
 * functions that run callbacks hold it, and the last release frees it. */
static void hold(sio_eio_socket *so)
{
    so->busy++;
}

static int release(sio_eio_socket *so)
{
    if (--so->busy == 0 && so->state == SIO_EIO_CLOSED) {
        socket_free(so);
        return 1;
    }
    return so->state == SIO_EIO_CLOSED;
}

/* How long a closing polling session waits for the GET that carries its
 * last packets and the close packet: Node's polling closeTimeout. A slow
 * client still gets what was queued (a Socket.IO DISCONNECT, say) before
 * the session goes. */
#define SIO_EIO_CLOSE_TIMEOUT 30000

/* Node's socket.close(): what is queued still goes out. A WebSocket writes
 * its queue and then closes; a polling session queues a close packet for
 * the next GET, waiting at most SIO_EIO_CLOSE_TIMEOUT for it. */
void sio_eio_close(sio_eio_socket *so)
{
    if (so->state != SIO_EIO_OPEN_STATE)
        return;
    if (so->ws) {
        sio__eio_close(so, "forced close");
        return;
    }
    sio__rcbuf *pkt = sio__rcbuf_new("1", 1);
    if (pkt == NULL || queue_push(so, pkt, 0) < 0) {
        sio__rcbuf_unref(pkt);
        sio__eio_close(so, "forced close");
        return;
    }
    sio__rcbuf_unref(pkt);
    /* The heartbeat stops: from now on the timer is the deferred close. */
    so->state = SIO_EIO_CLOSING;
    sio_eio_server *s = so->server;
    sio__timer_start(s->env.timers, &so->timer, now_ms(s) + SIO_EIO_CLOSE_TIMEOUT);
    if (so->poll->get)
        flush(so);
}

/* ----------------------------------------------------------- heartbeat */

/* The session's one timer: the deferred close of a closing session, else
 * the heartbeat (send a ping, or give up waiting for its pong). */
static void timer_fire(sio__timer *t, void *data)
{
    sio_eio_socket *so = data;
    sio_eio_server *s = so->server;
    if (so->state == SIO_EIO_CLOSING) {
        sio__eio_close(so, "forced close");
        return;
    }
    if (so->hb == SIO_EIO_HB_CUT) {
        sio__eio_close(so, "transport error");
        return;
    }
    if (so->hb == SIO_EIO_HB_WAIT_PONG) {
        sio__eio_close(so, "ping timeout");
        return;
    }
    so->hb = SIO_EIO_HB_WAIT_PONG;
    sio__timer_start(s->env.timers, t, now_ms(s) + s->opts.ping_timeout);
    sio__rcbuf *pkt = sio__rcbuf_new("2", 1);
    if (pkt == NULL || sio__eio_send_rc(so, pkt, SIO__EIO_SEND_NOCOMPRESS) == SIO_ENOMEM)
        sio__eio_close(so, "transport error");
    sio__rcbuf_unref(pkt);
}

static void on_pong(sio_eio_socket *so)
{
    /* Closing: the timer holds the deferred close, not a heartbeat. */
    if (so->hb != SIO_EIO_HB_WAIT_PONG || so->state != SIO_EIO_OPEN_STATE)
        return;
    so->hb = SIO_EIO_HB_WAIT_PING;
    sio__timer_start(so->server->env.timers, &so->timer,
                     now_ms(so->server) + so->server->opts.ping_interval);
}

/* --------------------------------------------------------------- sending */

static int queue_push(sio_eio_socket *so, sio__rcbuf *pkt, int flags)
{
    sio__eio_poll *pl = so->poll;
    if (pl == NULL)
        return SIO_ECLOSED; /* on WebSocket: never queued here */
    if (pl->qhead > 0 && pl->qhead == pl->qlen)
        pl->qhead = pl->qlen = 0;
    if (pl->qlen == pl->qcap) {
        if (pl->qhead > 0) {
            memmove(pl->q, pl->q + pl->qhead, (pl->qlen - pl->qhead) * sizeof *pl->q);
            pl->qlen -= pl->qhead;
            pl->qhead = 0;
        } else {
            size_t cap = pl->qcap ? pl->qcap * 2 : 8;
            sio__eio_qent *q = sio__realloc(pl->q, cap * sizeof *q);
            if (q == NULL)
                return SIO_ENOMEM;
            pl->q = q;
            pl->qcap = cap;
        }
    }
    pl->q[pl->qlen++] = (sio__eio_qent){sio__rcbuf_ref(pkt), flags};
    pl->qbytes += pkt->len;
    return 0;
}

/* Cuts a session off for going over an output limit. The caller may be
 * in the middle of a broadcast (iterating sockets) or an application
 * callback, so the close runs from the session's own timer, due now, with
 * Node's "transport error"; until then nothing more is queued for it. */
static int schedule_cut(sio_eio_socket *so)
{
    if (so->hb != SIO_EIO_HB_CUT) {
        so->hb = SIO_EIO_HB_CUT;
        sio__timer_start(so->server->env.timers, &so->timer, now_ms(so->server));
    }
    return SIO_ELIMIT;
}

int sio__eio_send_rc(sio_eio_socket *so, sio__rcbuf *pkt, int flags)
{
    if (so->state != SIO_EIO_OPEN_STATE)
        return SIO_ECLOSED;
    if (so->hb == SIO_EIO_HB_CUT)
        return SIO_ELIMIT;
    sio_eio_server *s = so->server;
    if (so->ws) { /* the transport applies a WebSocket's output limits */
        int rc = s->ops->ws_send(so->ws, pkt, flags & SIO__EIO_SEND_BINARY);
        return rc == SIO_ELIMIT ? schedule_cut(so) : rc;
    }
    if (so->poll == NULL)
        return SIO_ECLOSED;
    if (so->poll->qbytes + pkt->len > s->opts.max_outbound_bytes)
        return schedule_cut(so);
    int rc = queue_push(so, pkt, flags);
    if (rc == 0 && so->poll->get)
        rc = flush(so);
    return rc;
}

int sio_eio_send(sio_eio_socket *so, const void *data, size_t len, int binary)
{
    sio__rcbuf *pkt = binary ? sio__rcbuf_new(data, len) : sio__rcbuf_new2("4", 1, data, len);
    if (pkt == NULL)
        return SIO_ENOMEM;
    int rc = sio__eio_send_rc(so, pkt, binary ? SIO__EIO_SEND_BINARY : 0);
    sio__rcbuf_unref(pkt);
    return rc;
}

/* Answers the held GET with every queued packet (or a noop when asked to
 * release it during an upgrade). */
static int flush(sio_eio_socket *so)
{
    sio__eio_poll *pl = so->poll;
    if (pl == NULL || pl->get == NULL || (pl->qhead == pl->qlen && !pl->probed))
        return 0;
    sio__buf body;
    sio__buf_init(&body, 0);
    int rc = 0, compress = 0;
    if (pl->qhead == pl->qlen)
        rc = sio__buf_append_str(&body, "6");
    for (size_t i = pl->qhead; rc == 0 && i < pl->qlen; i++) {
        sio__rcbuf *p = pl->q[i].pkt;
        compress |= !(pl->q[i].flags & SIO__EIO_SEND_NOCOMPRESS);
        if (pl->q[i].flags & SIO__EIO_SEND_BINARY)
            rc = sio__eio_encode_payload_elem(&body, i == pl->qhead, SIO_EIO_MESSAGE, 1, p->data,
                                              p->len);
        else
            rc = sio__eio_encode_payload_elem(&body, i == pl->qhead,
                                              (sio__eio_type)(p->data[0] - '0'), 0, p->data + 1,
                                              p->len - 1);
    }
    if (rc < 0) {
        sio__buf_free(&body);
        return rc;
    }
    for (size_t i = pl->qhead; i < pl->qlen; i++)
        sio__rcbuf_unref(pl->q[i].pkt);
    pl->qhead = pl->qlen = 0;
    pl->qbytes = 0;
    void *g = pl->get;
    pl->get = NULL;
    so->server->ops->poll_answer(g, &body, compress);
    sio__buf_free(&body);
    if (so->state == SIO_EIO_CLOSING)
        sio__eio_close(so, "forced close");
    return 0;
}

/* -------------------------------------------------------------- receiving */

/* One decoded packet from the client, on the active transport. Returns 0,
 * or non-zero when the session was closed (stop processing). */
static int on_packet(sio_eio_socket *so, const sio__eio_packet *p, int polling)
{
    sio_eio_server *s = so->server;
    switch (p->type) {
    case SIO_EIO_PONG:
        on_pong(so);
        return 0;
    case SIO_EIO_MESSAGE:
        if (s->cb.on_message)
            s->cb.on_message(so, p->data.base, p->data.len, p->binary, s->cb_data);
        return so->state != SIO_EIO_OPEN_STATE;
    case SIO_EIO_CLOSE:
        /* Node's polling transport closes on it; over WebSocket it is
         * ignored (the peer closes the socket itself). */
        if (!polling)
            return 0;
        /* Node's polling onClose(): a pending GET is released with a noop
         * (the client closed; a close packet back would be noise). */
        answer_get(so, "6");
        sio__eio_close(so, "transport close");
        return 1;
    case SIO_EIO_PING: /* v4 clients never ping: Node's "invalid heartbeat direction" */
        sio__eio_close(so, "transport error");
        return 1;
    default: /* open, upgrade and noop are ignored, as in Node */
        return 0;
    }
}

static int post_packet_cb(const sio__eio_packet *p, void *data)
{
    sio_eio_socket *so = data;
    return on_packet(so, p, 1) ? 1 : 0;
}

int sio__eio_poll_post(sio_eio_socket *so, const char *body, size_t len)
{
    if (so->state != SIO_EIO_OPEN_STATE)
        return 0; /* closing: Node ignores what still arrives */
    hold(so);
    int rc = sio__eio_decode_payload(body, len, so->server->opts.max_packets_per_post,
                                     post_packet_cb, so);
    if (rc == SIO_EPROTO || rc == SIO_ELIMIT)
        sio__eio_close(so, "parse error");
    release(so);
    return rc < 0 ? rc : 0;
}

int sio__eio_poll_get(sio_eio_socket *so, void *get)
{
    sio__eio_poll *pl = so->poll;
    if (pl == NULL || pl->get) {
        sio__eio_close(so, "transport error");
        return SIO_EBUSY;
    }
    pl->get = get;
    int had = pl->qlen > pl->qhead;
    hold(so); /* flushing a closing session frees it */
    int rc = flush(so);
    if (had && so->state == SIO_EIO_OPEN_STATE && so->poll && so->poll->qbytes == 0)
        sio__eio_drained(so);
    release(so);
    return rc;
}

void sio__eio_poll_aborted(sio_eio_socket *so, void *get)
{
    if (so->poll == NULL || so->poll->get != get)
        return;
    so->poll->get = NULL;
    sio__eio_close(so, "transport error");
}

/* ------------------------------------------------------------ websocket */

void sio__eio_ws_attach(sio_eio_socket *so, void *ws)
{
    sio__eio_poll *pl = so->poll;
    so->ws = ws;
    so->transport = SIO_TRANSPORT_WEBSOCKET;
    for (size_t i = pl ? pl->qhead : 0; pl && i < pl->qlen; i++)
        so->server->ops->ws_send(ws, pl->q[i].pkt, pl->q[i].flags & SIO__EIO_SEND_BINARY);
    /* The polling state is never used again. */
    poll_free(so);
}

static void upgrade_fire(sio__timer *t, void *data)
{
    sio_eio_socket *so = data;
    sio__eio_poll *pl = so->poll;
    void *p = pl->probe;
    sio__timer_stop(t); /* also called directly to abort an upgrade */
    pl->probe = NULL;
    pl->probed = 0;
    if (p)
        so->server->ops->ws_close(p);
}

int sio__eio_ws_probe(sio_eio_socket *so, void *ws)
{
    if (so->state != SIO_EIO_OPEN_STATE || so->poll == NULL || so->poll->probe || so->ws ||
        so->transport != SIO_TRANSPORT_POLLING)
        return SIO_EBUSY;
    so->poll->probe = ws;
    sio__timer_start(so->server->env.timers, &so->poll->upgrade_timer,
                     now_ms(so->server) + so->server->opts.upgrade_timeout);
    return 0;
}

/* Moves the session from polling to the probe WebSocket: everything still
 * queued goes out on it, in order. */
static void finish_upgrade(sio_eio_socket *so)
{
    sio__timer_stop(&so->poll->upgrade_timer);
    void *ws = so->poll->probe;
    so->poll->probe = NULL;
    so->poll->probed = 0;
    answer_get(so, "6");
    SIO_LOG(SIO_LOG_ENGINE, SIO_LOG_DEBUG, "upgrade sid=%s to websocket", so->id);
    SIO_METRIC_INC(&so->server->metrics, upgrades);
    if (so->metered) {
        SIO_METRIC_DEC(&so->server->metrics, sessions_polling);
        SIO_METRIC_INC(&so->server->metrics, sessions_websocket);
    }
    sio__eio_ws_attach(so, ws);
    /* Node: a session closed while it upgraded flushes on the new
     * transport, then closes it ("forced close"). */
    if (so->state == SIO_EIO_CLOSING)
        sio__eio_close(so, "forced close");
    else if (so->server->on_upgrade != NULL)
        so->server->on_upgrade(so, so->server->cb_data);
}

/* Messages on the probe socket: "2probe", then "5" (anything else aborts
 * the upgrade, as in Node). */
static void probe_message(sio_eio_socket *so, const sio__eio_packet *p)
{
    sio__eio_poll *pl = so->poll;
    if (p->type == SIO_EIO_PING && sio__slice_eq(p->data, "probe") && !pl->probed) {
        sio__rcbuf *pong = sio__rcbuf_new("3probe", 6);
        if (pong)
            so->server->ops->ws_send(pl->probe, pong, 0);
        sio__rcbuf_unref(pong);
        pl->probed = 1;
        flush(so);
        return;
    }
    if (p->type == SIO_EIO_UPGRADE && pl->probed) {
        finish_upgrade(so);
        return;
    }
    upgrade_fire(&pl->upgrade_timer, so);
}

/* Whether ws is the WebSocket a polling session is upgrading to. */
static int is_probe(const sio_eio_socket *so, const void *ws)
{
    return so->poll != NULL && so->poll->probe != NULL && so->poll->probe == ws;
}

void sio__eio_ws_message(sio_eio_socket *so, void *ws, const char *data, size_t len, int binary)
{
    sio__eio_packet p;
    if (binary) {
        p = (sio__eio_packet){SIO_EIO_MESSAGE, 1, {data, len}};
    } else if (sio__eio_decode_text(data, len, &p) < 0) {
        if (is_probe(so, ws))
            upgrade_fire(&so->poll->upgrade_timer, so);
        else
            sio__eio_close(so, "parse error");
        return;
    }
    if (is_probe(so, ws)) {
        probe_message(so, &p);
        return;
    }
    if (ws == so->ws) {
        hold(so);
        on_packet(so, &p, 0);
        release(so);
    }
}

void sio__eio_ws_closed(sio_eio_socket *so, void *ws, int error)
{
    if (is_probe(so, ws)) {
        so->poll->probe = NULL;
        so->poll->probed = 0;
        sio__timer_stop(&so->poll->upgrade_timer);
        return;
    }
    if (ws != so->ws)
        return;
    so->ws = NULL;
    sio__eio_close(so, error ? "transport error" : "transport close");
}

/* ----------------------------------------------------------- accessors */

const char *sio_eio_socket_id(const sio_eio_socket *so)
{
    return so->id;
}

size_t sio_eio_socket_buffered(const sio_eio_socket *so)
{
    if (so->ws)
        return so->server->ops->ws_queued(so->ws);
    return so->poll ? so->poll->qbytes : 0;
}

void sio__eio_drained(sio_eio_socket *so)
{
    if (so->state != SIO_EIO_OPEN_STATE || so->server->cb.on_drain == NULL)
        return;
    hold(so);
    so->server->cb.on_drain(so, so->server->cb_data);
    release(so);
}
int sio_eio_socket_transport(const sio_eio_socket *so)
{
    return so->transport;
}
void sio_eio_socket_set_data(sio_eio_socket *so, void *data)
{
    so->user_data = data;
}
void *sio_eio_socket_get_data(const sio_eio_socket *so)
{
    return so->user_data;
}
/* Builds the public view of the handshake blob: one allocation for the
 * struct and its header array, made only for sessions someone asks about. */
static sio_handshake *handshake_view(const sio_eio_socket *so)
{
    size_t n = so->hs_nheaders;
    sio_handshake *hs = sio__malloc(sizeof *hs + (n ? n : 1) * sizeof(sio_kv));
    if (hs == NULL)
        return NULL;
    sio_kv *kv = (sio_kv *)(hs + 1);
    const char *url = so->hs_blob;
    const char *p = url + strlen(url) + 1;
    if (so->hs_query >= (uint32_t)(p - url)) /* stored on its own */
        p = url + so->hs_query + strlen(url + so->hs_query) + 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char code = (unsigned char)p[0];
        kv[i].name = code >= 1 && code <= NCOMMON ? common_headers[code - 1] : p;
        p += strlen(p) + 1;
        kv[i].value = p;
        p += strlen(p) + 1;
    }
    *hs = (sio_handshake){
        kv, n, url, url + so->hs_query, url + so->hs_address, so->hs_time, so->hs_secure};
    return hs;
}

const sio_handshake *sio_eio_socket_handshake(const sio_eio_socket *so)
{
    if (so->hs == NULL)
        ((sio_eio_socket *)so)->hs = handshake_view(so);
    return so->hs;
}
