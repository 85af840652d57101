/* Routes and WebSocket connections: see net.h.
 *
 * A route is a path with a table of ops, mounted by the layer above net
 * (the composition root mounts one per Engine.IO server). net matches the
 * path, then hands the connection to the route's ops; what the route does
 * with it comes back as byte-moving calls (respond, accept_ws, ws_send,
 * ws_close). A WebSocket connection keeps no route pointer: its ws.cb is
 * the route's ops table (sio__route_ops.ws is its first member).
 *
 * WebSocket I/O: input goes to the frame parser (ws/ws_conn.c), whose
 * control output (pongs, close frames) is moved into the write queue after
 * every feed; data frames are a copied header plus the shared payload. */
#include <string.h>

#include "core/alloc.h"
#include "net/net.h"
#include "ws/ws_handshake.h"

int sio__http_route_add(sio_http_server *s, const char *path, const sio__route_ops *ops, void *data)
{
    if (sio__http_route_match(s, (sio__slice){path, strlen(path)}))
        return SIO_EEXIST;
    sio__route *r = sio__calloc(1, sizeof *r);
    if (r == NULL)
        return SIO_ENOMEM;
    *r = (sio__route){.path = path, .ops = ops, .data = data};
    sio__list_insert_tail(&s->routes, &r->link);
    return 0;
}

sio__route *sio__http_route_match(sio_http_server *s, sio__slice path)
{
    sio__list *it;
    for (it = s->routes.next; it != &s->routes; it = it->next) {
        sio__route *r = SIO_CONTAINER_OF(it, sio__route, link);
        size_t n = strlen(r->path);
        /* Exactly "/engine.io/" (or "/engine.io"): deeper paths such as
         * "/socket.io/socket.io.js" stay with the request handler, which is
         * how Node's serveClient shares the prefix with engine.io. */
        if ((path.len == n || path.len == n - 1) && memcmp(path.base, r->path, path.len) == 0)
            return r;
    }
    return NULL;
}

const sio__route_ops *sio__conn_route_ops(sio__conn *c)
{
    if (c->has_ws)
        return (const sio__route_ops *)c->ws.cb;
    if (c->parser && sio__conn_http_of(c)->route)
        return sio__conn_http_of(c)->route->ops;
    return NULL;
}

/* ---------------------------------------------------------- WebSocket */

/* Moves the frame parser's control output (pong, close) into the write
 * queue; once a close frame is in, the connection lingers to its end. */
static void ws_drain_output(sio__conn *c)
{
    sio__buf *out = sio__ws_conn_output(&c->ws);
    if (out->len) {
        sio__conn_write_copy(c, out->data, out->len);
        out->len = 0;
        sio__ws_conn_output_done(&c->ws); /* idle sockets hold no buffer */
    }
    if (sio__ws_conn_wants_close(&c->ws))
        sio__conn_linger(c);
}

void sio__conn_ws_read(sio__conn *c, char *data, size_t len)
{
    int rc = sio__ws_conn_feed(&c->ws, data, len);
    if (c->closing)
        return;
    ws_drain_output(c);
    if (rc < 0)
        sio__conn_linger(c);
}

/* Node's ws abortHandshake: status, the message as text/html, closed. */
static void ws_refuse(sio__conn *c, int version)
{
    const char *msg = version ? "Missing or invalid Sec-WebSocket-Version header" : "Bad Request";
    sio__buf b;
    sio__buf_init(&b, 0);
    int rc = sio__buf_appendf(&b,
                              "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                              "Content-Type: text/html\r\nContent-Length: %zu\r\n%s\r\n%s",
                              strlen(msg), version ? "Sec-WebSocket-Version: 13\r\n" : "", msg);
    if (rc == 0)
        sio__conn_write_copy(c, b.data, b.len);
    sio__buf_free(&b);
    sio__conn_end(c);
}

int sio__conn_accept_ws(sio__conn *c, size_t max_message, uint32_t max_fragments)
{
    const sio__http_request *r = &c->parser->req;
    sio__slice key = sio__http_find_header(r, "sec-websocket-key");
    sio__slice up = sio__http_find_header(r, "upgrade"),
               conn = sio__http_find_header(r, "connection");
    int get = r->method == SIO_HTTP_GET;
    int rc = sio__ws_check_upgrade(get, r->version_minor, up, conn,
                                   sio__http_find_header(r, "sec-websocket-version"), key);
    if (rc < 0) {
        /* Only the version is wrong: say which one we speak (4.4). */
        ws_refuse(c, sio__ws_check_upgrade(get, r->version_minor, up, conn, SIO_SLICE("13"), key) ==
                         0);
        return rc;
    }
    const sio__route_ops *ops = sio__conn_http_of(c)->route->ops;
    sio__ws_conn_init(&c->ws, &ops->ws, c, max_message);
    sio__ws_conn_set_max_fragments(&c->ws, max_fragments);
    c->has_ws = 1;
    sio__buf b;
    sio__buf_init(&b, 0);
    rc = sio__ws_accept_response(&b, key, NULL);
    if (rc == 0)
        rc = sio__conn_write_copy(c, b.data, b.len);
    sio__buf_free(&b);
    if (rc < 0) {
        sio__conn_end(c);
        return rc;
    }
    c->mode = SIO_CONN_WS;
    sio__timer_stop(c->timer);
    return 0;
}

int sio__conn_ws_send(sio__conn *c, sio__rcbuf *pkt, int binary)
{
    if (!c->has_ws || sio__ws_conn_wants_close(&c->ws))
        return SIO_ECLOSED;
    char hdr[SIO_WS_FRAME_HEADER_MAX];
    size_t n = sio__ws_frame_header(hdr, binary, pkt->len);
    return sio__conn_write(c, pkt, hdr, n);
}

void sio__conn_ws_close(sio__conn *c)
{
    if (c->closing)
        return;
    if (c->cut) { /* a slow reader: what it queued is dropped, not written */
        sio__conn_close(c);
        return;
    }
    if (!c->has_ws) {
        sio__conn_end(c);
        return;
    }
    if (!sio__ws_conn_wants_close(&c->ws))
        sio__ws_conn_close(&c->ws, SIO_WS_CLOSE_NORMAL, NULL);
    ws_drain_output(c);
}
