/* The HTTP/1.1 server: accepting, reading, parsing, routing, deadlines.
 *
 * Reading uses the loop's shared buffer: input is parsed synchronously, and
 * only bytes that cannot be handled yet (a request pipelined behind one
 * that is held, such as a long-polling GET) are copied into the
 * connection's pending_in, with reading paused until the held request is
 * answered. An idle connection therefore owns no buffer at all.
 *
 * Deadlines (one wheel timer per connection): headers_timeout from the
 * first byte of a request to the end of its head (slowloris), then
 * request_timeout to the end of its body, then keep_alive_timeout while idle
 * between requests. Held requests and WebSockets have none: Engine.IO's
 * heartbeat covers them. Errors get their status and the connection is
 * closed once the answer is written. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/metrics.h"
#include "core/log.h"
#include "core/alloc.h"
#include "http/client_files.h"
#include "http/http_response.h"
#include "net/net.h"
#include "net/tls.h"
#include "ws/ws_handshake.h"

void sio_http_options_init(sio_http_options *o)
{
    memset(o, 0, sizeof *o);
    sio__http_limits l;
    sio__http_limits_init(&l);
    o->max_request_line = l.max_request_line;
    o->max_header_bytes = l.max_header_bytes;
    o->max_headers = l.max_headers;
    o->max_body = l.max_body;
    o->max_header_value = l.max_header_value;
    o->max_chunk_ext = l.max_chunk_ext;
    o->headers_timeout = 10000;
    o->request_timeout = 30000;
    o->keep_alive_timeout = 5000;
    o->max_pending_output = 1u << 20;
    o->max_output_total = 256u << 20;
}

void sio_http_server_stats(const sio_http_server *s, sio_http_stats *out)
{
    *out = s->stats;
    out->output_bytes = s->out_total;
}

int sio_http_server_new(sio_http_server **out, sio_loop *loop, const sio_http_options *opts)
{
    sio__ws_handshake_warmup(); /* fixed start-up cost, not per client */
    sio_http_server *s = sio__calloc(1, sizeof *s);
    if (s == NULL)
        return SIO_ENOMEM;
    s->loop = loop;
    if (opts)
        s->opts = *opts;
    else
        sio_http_options_init(&s->opts);
    if (s->opts.tls.cert_file != NULL) {
        int rc = sio__tls_ctx_new(&s->tls, &s->opts.tls);
        if (rc < 0) {
            sio__free(s);
            return rc;
        }
    }
    memset(&s->opts.tls, 0, sizeof s->opts.tls); /* the caller's strings: read, not kept */
    s->port = -1;
    sio__list_init(&s->routes);
    sio__addr_table_init(&s->addrs, 0, 0, 0); /* bounded by the open connections */
    sio__list_init(&s->behind);
    uv_tcp_init(loop->uv, &s->listener);
    s->listener.data = s;
    *out = s;
    return 0;
}

void sio_http_server_on_request(sio_http_server *s, sio_http_handler cb, void *data)
{
    s->handler = cb;
    s->handler_data = data;
}

int sio_http_server_port(const sio_http_server *s)
{
    return s->port;
}

/* ------------------------------------------------------------ deadlines */

static void arm(sio__conn *c, uint32_t ms);

/* 1 if the kernel holds unread bytes for c. */
static int input_waiting(sio__conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void conn_timeout(sio__timer *t, void *data)
{
    sio__conn *c = data;
    if (c->lingering || (c->tls && !sio__tls_ready(c->tls))) {
        sio__conn_close(c); /* also a TLS handshake past headers_timeout */
        return;
    }
    if (c->mode == SIO_CONN_WS && c->over_soft) {
        sio__conn_soft_expired(c);
        return;
    }
    if (c->held || c->mode == SIO_CONN_WS)
        return;
    if (sio__http_parser_idle(c->parser) && sio__conn_http_of(c)->pending_in.len == 0) {
        /* Timers run before the loop polls for input: a request may be
         * waiting in the socket already (a busy loop, a client that sent
         * just in time). It was sent while the connection was promised to
         * stay open, so it is read and answered, not cut off. */
        if (input_waiting(c)) {
            arm(c, sio__conn_server(c)->opts.headers_timeout);
            return;
        }
        sio__conn_close(c); /* idle keep-alive connection */
        return;
    }
    SIO_LOG(SIO_LOG_HTTP, SIO_LOG_INFO, "408: request not complete in time");
    sio__conn_respond(c, 408, "text/plain", NULL, "Request Timeout", 15, 0);
}

void sio__conn_timer_init(sio__conn *c)
{
    sio__timer_init(c->timer, conn_timeout, c);
}

static void arm(sio__conn *c, uint32_t ms)
{
    sio_loop *loop = sio__conn_server(c)->loop;
    sio__timer_start(&loop->timers, c->timer, sio__loop_clock(loop) + ms);
}

/* Bytes waiting in c's pending input (a WebSocket never has any). */
static size_t pending_len(sio__conn *c)
{
    return c->parser ? sio__conn_http_of(c)->pending_in.len : 0;
}

void sio__conn_http_free(sio__conn *c)
{
    sio__conn_http *h = sio__conn_http_of(c);
    sio__timer_stop(&h->timer);
    if (c->timer == &h->timer)
        c->timer = NULL;
    sio__http_parser_free(&h->parser);
    sio__buf_free(&h->pending_in);
    sio__free(h);
    c->parser = NULL;
}

void sio__conn_linger(sio__conn *c)
{
    if (c->closing || c->lingering || c->close_after_write)
        return;
    if (c->timer == NULL) {
        /* An upgraded connection has no deadline of its own until now. */
        if ((c->timer = sio__malloc(sizeof *c->timer)) == NULL) {
            sio__conn_close(c);
            return;
        }
        sio__conn_timer_init(c);
    }
    c->over_soft = 0; /* the timer is the linger deadline from now on */
    c->lingering = 1;
    arm(c, 2000);
    sio__conn_resume(c);
    /* The half-close waits for before_sleep: frames produced later in this
     * iteration (a close frame from inside wslay) must go out first. */
    sio__conn_schedule_flush(c);
}

/* ------------------------------------------------------------- requests */

void sio__req_free(struct sio_req *r)
{
    if (r == NULL)
        return;
    sio__buf_free(&r->strings);
    sio__free(r->hdr_off);
    sio__free(r);
}

/* Appends s plus a NUL; returns its offset or (size_t)-1. */
static size_t push_str(sio__buf *b, sio__slice s)
{
    size_t off = b->len;
    if (sio__buf_append(b, s.base, s.len) < 0 || sio__buf_append_byte(b, '\0') < 0)
        return (size_t)-1;
    return off;
}

struct sio_req *sio__req_new(sio__conn *c)
{
    const sio__http_request *hr = &c->parser->req;
    struct sio_req *r = sio__calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    sio__buf_init(&r->strings, 0);
    r->conn = c;
    r->keep_alive = hr->keep_alive;
    sio__conn_peer_address(c, r->address, sizeof r->address);
    r->nheaders = hr->nheaders;
    r->hdr_off = sio__calloc(hr->nheaders * 2 + 1, sizeof(size_t));
    int bad = r->hdr_off == NULL;
    bad |= push_str(&r->strings, hr->method_str) == (size_t)-1;
    r->path_off = push_str(&r->strings, hr->path);
    r->query_off = push_str(&r->strings, hr->query);
    bad |= r->path_off == (size_t)-1 || r->query_off == (size_t)-1;
    for (unsigned i = 0; !bad && i < hr->nheaders; i++) {
        r->hdr_off[2 * i] = push_str(&r->strings, hr->headers[i].name);
        r->hdr_off[2 * i + 1] = push_str(&r->strings, hr->headers[i].value);
        bad |= r->hdr_off[2 * i + 1] == (size_t)-1 || r->hdr_off[2 * i] == (size_t)-1;
    }
    if (bad) {
        sio__req_free(r);
        return NULL;
    }
    return r;
}

const char *sio_req_method(const sio_req *r)
{
    return r->strings.data;
}
const char *sio_req_path(const sio_req *r)
{
    return r->strings.data + r->path_off;
}
const char *sio_req_query(const sio_req *r)
{
    return r->strings.data + r->query_off;
}
const char *sio_req_address(const sio_req *r)
{
    return r->address;
}

const char *sio_req_header(const sio_req *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *n = r->strings.data + r->hdr_off[2 * i];
        if (strcasecmp(n, name) == 0)
            return r->strings.data + r->hdr_off[2 * i + 1];
    }
    return NULL;
}

const char *sio_req_body(const sio_req *r, size_t *len)
{
    if (r->conn == NULL) {
        *len = 0;
        return "";
    }
    *len = r->conn->parser->req.body.len;
    return r->conn->parser->req.body.data ? r->conn->parser->req.body.data : "";
}

int sio_req_respond(sio_req *r, int status, const char *headers, const void *body, size_t len)
{
    sio__conn *c = r->conn;
    int keep_alive = r->keep_alive;
    sio__req_free(r);
    if (c == NULL)
        return SIO_ECLOSED;
    if (c->parser)
        sio__conn_http_of(c)->req = NULL;
    const char *ctype = NULL; /* the caller's header lines carry it */
    return sio__conn_respond(c, status, ctype, headers, body, len, keep_alive);
}

/* --------------------------------------------------------------- parsing */

static void not_found(sio__conn *c)
{
    sio__conn_respond(c, 404, "text/plain", NULL, "Not Found", 9, c->parser->req.keep_alive);
}

void sio__http_server_serve_client(sio_http_server *s, sio__client_files *f)
{
    *sio__client_files_next(f) = s->client_files;
    s->client_files = f;
}

/* serveClient: answers c if its path is a client bundle file. */
static int serve_client(sio__conn *c)
{
    sio_http_server *s = sio__conn_server(c);
    const sio__http_request *r = &c->parser->req;
    sio__client_answer a;
    for (sio__client_files *f = s->client_files; f != NULL; f = *sio__client_files_next(f)) {
        if (!sio__client_files_answer(f, r->path, sio__http_find_header(r, "if-none-match"),
                                      sio__http_find_header(r, "accept-encoding"), &a))
            continue;
        sio__conn_respond(c, a.status, NULL, a.headers, a.body, a.len, r->keep_alive);
        return 1;
    }
    return 0;
}

/* A whole request arrived: route it. */
static void dispatch(sio__conn *c)
{
    sio_http_server *s = sio__conn_server(c);
    c->held = 1;
    sio__timer_stop(c->timer);
    sio__route *route = sio__conn_http_of(c)->route;
    if (route) {
        route->ops->on_request(c, route->data);
        return;
    }
    if (serve_client(c))
        return;
    if (s->handler == NULL) {
        not_found(c);
        return;
    }
    sio__conn_http *h = sio__conn_http_of(c);
    h->req = sio__req_new(c);
    if (h->req == NULL) {
        sio__conn_respond(c, 500, "text/plain", NULL, "", 0, 0);
        return;
    }
    s->handler(h->req, s->handler_data);
}

/* The head is complete: pick the route (and its body limit). Returns 1 if
 * the connection was taken over (upgrade or error). */
static int on_head(sio__conn *c)
{
    arm(c, sio__conn_server(c)->opts.request_timeout);
    if (c->parser->req.expect_continue && c->parser->req.method == SIO_HTTP_POST)
        sio__conn_write_copy(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    sio__route *route = sio__http_route_match(sio__conn_server(c), c->parser->req.path);
    sio__conn_http_of(c)->route = route;
    if (route == NULL || !route->ops->on_head(c, route->data))
        return 0;
    /* Taken over: a WebSocket never parses HTTP again, so it keeps no
     * HTTP state while it idles (one that is already closing keeps its
     * linger deadline there until it goes). */
    if (c->mode == SIO_CONN_WS && !c->lingering && !c->closing)
        sio__conn_http_free(c);
    return 1;
}

static int write_response(sio__conn *c, int status, const char *ctype, const char *extra,
                          const void *body, size_t len, int keep_alive);

static int write_response(sio__conn *c, int status, const char *ctype, const char *extra,
                          const void *body, size_t len, int keep_alive);

int sio__conn_respond_error(sio__conn *c, int status, const char *text, size_t len)
{
    /* The client may still be sending (a body over the limit): closing now
     * would reset the connection and lose the answer, so the connection
     * half-closes after it and reads on, discarding, for a short while. */
    if (write_response(c, status, "text/plain", NULL, text, len, 0) < 0) {
        sio__conn_end(c);
        return SIO_ENOMEM;
    }
    sio__conn_linger(c);
    return 0;
}

static void parse_error(sio__conn *c)
{
    int status = c->parser->error_status ? c->parser->error_status : 400;
    const char *text = sio__http_status_text(status);
    SIO_LOG(SIO_LOG_HTTP, SIO_LOG_INFO, "%d: %s", status, text);
    /* The route learns that the body it waited for will not come. */
    if (sio__conn_http_of(c)->route)
        sio__conn_http_of(c)->route->ops->on_body_error(c);
    sio__conn_respond_error(c, status, text, strlen(text));
}

static void feed_pending(sio__conn *c);

/* Feeds input until it is used up, a request is held or too many answers
 * wait to be written. Returns the number of bytes consumed. */
static size_t feed(sio__conn *c, char *data, size_t len)
{
    size_t used = 0;
    while (!c->held && !c->closing && c->mode == SIO_CONN_HTTP && !c->close_after_write &&
           c->out_bytes < sio__conn_server(c)->opts.max_pending_output) {
        if (sio__http_parser_idle(c->parser) && len > used)
            arm(c, sio__conn_server(c)->opts.headers_timeout);
        sio__http_state st;
        int n = sio__http_parser_feed(c->parser, data + used, len - used, &st);
        if (n < 0) {
            parse_error(c);
            return len;
        }
        used += (size_t)n;
        if (st == SIO_HTTP_NEED_MORE)
            break;
        if (st == SIO_HTTP_HEAD_DONE) {
            if (on_head(c))
                break;
            continue;
        }
        dispatch(c);
    }
    if (c->mode == SIO_CONN_WS && used < len) {
        sio__conn_ws_read(c, data + used, len - used);
        used = len;
    }
    return used;
}

void sio__conn_request_done(sio__conn *c)
{
    if (c->closing)
        return;
    c->held = 0;
    sio__conn_http_of(c)->route = NULL;
    /* An idle keep-alive connection keeps no parser buffers: the next
     * request's first bytes allocate them again. */
    if (pending_len(c) == 0)
        sio__http_parser_free(c->parser);
    else
        sio__http_parser_reset(c->parser);
    if (c->close_after_write)
        return;
    /* Idle time counts from when the answer is written (see drained). */
    if (c->out_bytes == 0)
        arm(c, sio__conn_server(c)->opts.keep_alive_timeout);
    else
        sio__timer_stop(c->timer);
    /* Requests pipelined behind this one wait until its answer is written
     * (sio__conn_drained parses them): parsing them now would run the next
     * request inside the code that is answering this one (a polling GET
     * answered from an emit, the POST behind it closing the session that
     * emit is still using). */
    if (pending_len(c) && c->out_bytes > 0)
        return;
    feed_pending(c);
}

/* Parses what arrived while a request was held or answers piled up, then
 * reads again. */
static void feed_pending(sio__conn *c)
{
    if (pending_len(c)) {
        sio__buf in = sio__conn_http_of(c)->pending_in;
        sio__buf_init(&sio__conn_http_of(c)->pending_in, 0);
        size_t used = feed(c, in.data, in.len);
        if (used < in.len && !c->closing && c->parser)
            sio__buf_append(&sio__conn_http_of(c)->pending_in, in.data + used, in.len - used);
        sio__buf_free(&in);
    }
    sio__conn_resume(c);
}

void sio__conn_drained(sio__conn *c)
{
    if (c->mode == SIO_CONN_WS) {
        if (c->over_soft && !c->cut && c->out_bytes <= SIO_OUT_BEHIND)
            sio__conn_soft_clear(c);
        const sio__route_ops *ops = sio__conn_route_ops(c);
        if (ops && c->out_bytes == 0 && !c->closing)
            ops->on_drained(c);
        return;
    }
    if (c->closing || c->close_after_write || c->mode != SIO_CONN_HTTP || c->held)
        return;
    if (c->out_bytes == 0 && sio__http_parser_idle(c->parser) && pending_len(c) == 0)
        arm(c, sio__conn_server(c)->opts.keep_alive_timeout);
    if (pending_len(c) && c->out_bytes < sio__conn_server(c)->opts.max_pending_output / 2)
        feed_pending(c);
}

/* Queues a whole response (the head only for HEAD). */
static int write_response(sio__conn *c, int status, const char *ctype, const char *extra,
                          const void *body, size_t len, int keep_alive)
{
    /* Node's "Keep-Alive: timeout=N" (whole seconds, rounded down): the
     * client learns when an idle connection will go and stops reusing it
     * before, rather than racing the close with its next request. */
    char ka[256];
    if (keep_alive) {
        snprintf(ka, sizeof ka, "Keep-Alive: timeout=%u\r\n",
                 (unsigned)(sio__conn_server(c)->opts.keep_alive_timeout / 1000));
        if (extra && strlen(extra) < sizeof ka - strlen(ka))
            strcat(ka, extra);
        else if (extra)
            ka[0] = '\0'; /* long caller lines: they go alone */
        extra = ka[0] ? ka : extra;
    }
    sio__buf b;
    sio__buf_init(&b, 0);
    int head_only = c->parser && c->parser->req.method == SIO_HTTP_HEAD;
    int rc = sio__http_response_head(&b, status, extra, ctype, (int64_t)len, keep_alive);
    if (rc == 0 && !head_only)
        rc = sio__buf_append(&b, body, len);
    if (rc == 0) {
        sio__rcbuf *r = sio__rcbuf_new(b.data, b.len);
        rc = r ? sio__conn_write(c, r, NULL, 0) : SIO_ENOMEM;
        sio__rcbuf_unref(r);
    }
    sio__buf_free(&b);
    return rc;
}

int sio__conn_respond(sio__conn *c, int status, const char *ctype, const char *extra,
                      const void *body, size_t len, int keep_alive)
{
    if (c->closing)
        return SIO_ECLOSED;
    keep_alive = keep_alive && !sio__conn_server(c)->closing;
    int rc = write_response(c, status, ctype, extra, body, len, keep_alive);
    if (rc < 0 || !keep_alive) {
        sio__conn_end(c);
        return rc;
    }
    sio__conn_request_done(c);
    return 0;
}

/* ---------------------------------------------------------------- reading */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sio__conn *c = SIO_CONTAINER_OF((uv_tcp_t *)h, sio__conn, tcp);
    sio_loop *loop = sio__conn_server(c)->loop;
    if (loop->read_buf_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    loop->read_buf_busy = 1;
    buf->base = loop->read_buf;
    buf->len = sizeof loop->read_buf;
}

/* Hands plaintext to the parser (or the WebSocket); what it cannot take
 * now waits in pending_in and reading stops. */
static void take_input(sio__conn *c, char *data, size_t n)
{
    size_t used = c->held || pending_len(c) ? 0 : feed(c, data, n);
    if (used < n && !c->closing) {
        /* Bounded: reading stops while anything is pending. A WebSocket
         * takes everything (feed hands it to the frame parser). */
        if (c->parser == NULL ||
            sio__buf_append(&sio__conn_http_of(c)->pending_in, data + used, n - used) < 0) {
            sio__conn_close(c);
            return;
        }
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
    }
}

/* https: decrypts what was read (all of it: nothing stays inside OpenSSL
 * while reading is stopped), sends what the handshake wants sent, then
 * hands the plaintext on. Bad TLS input gets OpenSSL's alert and a close. */
static void tls_read(sio__conn *c, const char *data, size_t n)
{
    sio__buf plain;
    sio__buf_init(&plain, 0);
    int rc = sio__tls_feed(c->tls, data, n, &plain);
    if (sio__tls_pending(c->tls) > 0 || (sio__tls_ready(c->tls) && c->wq_bytes > 0))
        sio__conn_schedule_flush(c); /* handshake output, or writes that waited for it */
    if (plain.len > 0 && rc != SIO_EPROTO)
        take_input(c, plain.data, plain.len);
    sio__buf_free(&plain);
    if (rc == SIO_ECLOSED && !c->closing) {
        const sio__route_ops *ops = sio__conn_route_ops(c);
        if (ops)
            ops->on_closed(c, 0);
        sio__conn_close(c);
    } else if (rc < 0 && !c->closing) {
        sio__conn_end(c); /* the alert goes out, then the close */
    }
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    sio__conn *c = SIO_CONTAINER_OF((uv_tcp_t *)st, sio__conn, tcp);
    sio_loop *loop = sio__conn_server(c)->loop;
    if (buf->base == loop->read_buf)
        loop->read_buf_busy = 0;
    if (n == UV_ENOBUFS || n == 0)
        return;
    if (n > 0)
        SIO_METRIC_ADD(&sio__conn_server(c)->metrics, bytes_in, n);
    if (n < 0) {
        const sio__route_ops *ops = sio__conn_route_ops(c);
        if (ops)
            ops->on_closed(c, n != UV_EOF);
        sio__conn_close(c);
        return;
    }
    if (c->lingering && c->mode == SIO_CONN_HTTP)
        return; /* answered and closing: the rest of the request is dropped */
    if (c->tls)
        tls_read(c, buf->base, (size_t)n);
    else
        take_input(c, buf->base, (size_t)n);
    sio__loop_run_ticks(loop); /* Node's nextTick queue, after each read */
}

void sio__conn_resume(sio__conn *c)
{
    if (c->closing || c->reading || c->close_after_write || (pending_len(c) && !c->lingering))
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
        c->reading = 1;
}

/* --------------------------------------------------------------- accepting */

/* max_connections_per_address: 1 if c's address has room for it (it is
 * then counted), 0 if the address is at the limit. An address the table
 * cannot track (out of memory, or no address) is let through uncounted. */
static int address_admits(sio__conn *c)
{
    sio_http_server *s = sio__conn_server(c);
    char addr[SIO_ADDR_MAX + 1];
    sio__conn_peer_address(c, addr, sizeof addr);
    sio__addr_entry *e =
        addr[0] ? sio__addr_table_get(&s->addrs, addr, sio__loop_clock(s->loop)) : NULL;
    if (e == NULL)
        return 1;
    if (e->conns >= s->opts.max_connections_per_address) {
        SIO_LOG(SIO_LOG_HTTP, SIO_LOG_WARN,
                "connection refused: %s has max_connections_per_address (%zu) open", addr,
                s->opts.max_connections_per_address);
        return 0;
    }
    e->conns++;
    c->addr = e;
    return 1;
}

void sio__conn_addr_release(sio__conn *c)
{
    if (c->addr == NULL)
        return;
    sio_http_server *s = sio__conn_server(c);
    c->addr->conns--;
    sio__addr_table_release(&s->addrs, c->addr, sio__loop_clock(s->loop));
    c->addr = NULL;
}

/* Over max_connections_per_address: the client is told why, before it has
 * said anything (a plain close would look like a network fault and be
 * retried at once). The answer goes out with the connection half-closed,
 * and what the client sends meanwhile is read and dropped for a short while
 * (as for a 413), so the answer is not lost to a reset. A TLS connection
 * cannot be answered before its handshake and is closed instead. */
static void refuse_address(sio__conn *c)
{
    static const char body[] = "Too many connections from this address";
    SIO_METRIC_INC(&sio__conn_server(c)->metrics, refused_connections_per_address);
    if (c->tls) {
        sio__conn_close(c);
        return;
    }
    sio__conn_respond_error(c, 429, body, sizeof body - 1);
}

static void conn_start(sio_http_server *s, sio__conn *c);

static void on_connection(uv_stream_t *server, int status)
{
    sio_http_server *s = server->data;
    if (status < 0)
        return;
    sio__conn *c = sio__calloc(1, sizeof *c);
    if (c == NULL)
        return;
    uv_tcp_init(s->loop->uv, &c->tcp);
    c->tcp.data = s;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)sio__free);
        return;
    }
    conn_start(s, c);
}

int sio__http_server_adopt(sio_http_server *s, uv_os_sock_t fd)
{
    sio__conn *c = sio__calloc(1, sizeof *c);
    if (c == NULL)
        return SIO_ENOMEM;
    uv_tcp_init(s->loop->uv, &c->tcp);
    c->tcp.data = s;
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)sio__free);
        return SIO_EIO;
    }
    conn_start(s, c);
    return 0;
}

/* c was just accepted (or adopted): its HTTP state, the connection limit,
 * the head deadline, and reading. */
static void conn_start(sio_http_server *s, sio__conn *c)
{
    sio__list_init(&c->flink);
    sio__list_init(&c->blink);
    sio__list_init(&c->dlink);
    s->nconns++;
    if (s->tls && (c->tls = sio__tls_new(s->tls)) == NULL) {
        sio__conn_close(c);
        return;
    }
    sio__http_limits l = {s->opts.max_request_line, s->opts.max_header_bytes,
                          s->opts.max_headers,      s->opts.max_body,
                          s->opts.max_header_value, s->opts.max_chunk_ext};
    sio__conn_http *h = sio__calloc(1, sizeof *h);
    if (h == NULL) {
        sio__conn_close(c);
        return;
    }
    c->parser = &h->parser;
    sio__http_parser_init(&h->parser, &l);
    sio__buf_init(&h->pending_in, 0);
    sio__timer_init(&h->timer, conn_timeout, c);
    c->timer = &h->timer;
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->opts.send_buffer_size) { /* best effort: the kernel's own size otherwise */
        int size = s->opts.send_buffer_size < INT_MAX ? (int)s->opts.send_buffer_size : INT_MAX;
        uv_send_buffer_size((uv_handle_t *)&c->tcp, &size);
    }
    if (s->opts.max_connections && s->nconns > s->opts.max_connections) {
        SIO_METRIC_INC(&s->metrics, rejected_connections);
        SIO_LOG(SIO_LOG_HTTP, SIO_LOG_WARN, "connection refused: max_connections (%zu) reached",
                s->opts.max_connections);
        sio__conn_close(c);
        return;
    }
    if (s->opts.max_connections_per_address && !address_admits(c)) {
        refuse_address(c);
        return;
    }
    arm(c, s->opts.headers_timeout);
    sio__conn_resume(c);
}

int sio_http_server_listen(sio_http_server *s, const char *host, int port)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0)
        return SIO_EINVAL;
    int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 4096, on_connection);
    if (rc == UV_EADDRINUSE)
        return SIO_EADDRINUSE;
    if (rc != 0)
        return SIO_EIO;
    int len = sizeof sa;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    s->listening = 1;
    SIO_LOG(SIO_LOG_HTTP, SIO_LOG_INFO, "listening on %s port %d", host, s->port);
    return 0;
}

/* ----------------------------------------------------------------- closing */

static void free_server(sio_http_server *s)
{
    void (*cb)(void *) = s->close_cb;
    void *data = s->close_data;
    while (!sio__list_empty(&s->routes)) {
        sio__route *r = SIO_CONTAINER_OF(s->routes.next, sio__route, link);
        sio__list_remove(&r->link);
        r->ops->on_server_free(r->data);
        sio__free(r);
    }
    sio__tls_ctx_free(s->tls);
    sio__addr_table_free(&s->addrs);
    sio__free(s);
    if (cb)
        cb(data);
}

void sio__http_server_maybe_done(sio_http_server *s)
{
    if (s->closing && s->pending_closes == 0 && s->nconns == 0)
        free_server(s);
}

static void listener_closed(uv_handle_t *h)
{
    sio_http_server *s = h->data;
    s->pending_closes--;
    sio__http_server_maybe_done(s);
}

/* One handle of the loop: closes it if it is an open connection of s. */
static void close_walk(uv_handle_t *h, void *arg)
{
    sio_http_server *s = arg;
    if (h->type != UV_TCP || h->data != s || h == (uv_handle_t *)&s->listener || uv_is_closing(h))
        return;
    sio__conn *c = SIO_CONTAINER_OF((uv_tcp_t *)h, sio__conn, tcp);
    if (c->closing)
        return;
    if (c->wq_bytes || c->writes_in_flight)
        sio__conn_end(c);
    else
        sio__conn_close(c);
}

void sio_http_server_close(sio_http_server *s, void (*cb)(void *data), void *data)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->close_cb = cb;
    s->close_data = data;
    sio__list *it, *tmp;
    SIO_LIST_FOREACH_SAFE(it, tmp, &s->routes)
    {
        sio__route *r = SIO_CONTAINER_OF(it, sio__route, link);
        r->ops->on_server_close(r->data);
    }
    /* The loop's handle list is the list of connections (no per-connection
     * links); closing handles from uv_walk's callback is allowed. */
    uv_walk(s->loop->uv, close_walk, s);
    s->pending_closes++;
    uv_close((uv_handle_t *)&s->listener, listener_closed);
}
