/* Connection writes and lifetime: see net.h.
 *
 * Writes are queued (never written immediately) and the whole queue of a
 * connection goes out in one uv_write (writev) from the loop's before-sleep
 * hook, so N packets queued in one iteration cost one syscall. Small
 * entries are copied into one block at that point; big shared payloads (a
 * broadcast) are written from the shared buffer by reference. The write
 * request owns what it references until libuv calls back. */
#include <string.h>

#include "core/alloc.h"
#include "net/net.h"

/* Entries up to this size are copied into one contiguous block when the
 * queue is flushed; bigger ones are written straight from their shared
 * buffer. Copying a small frame is cheaper than keeping its reference, its
 * iovec and libuv's copy of the iovec array alive until the write ends. */
#define SIO_COALESCE_MAX 1024

/* One uv_write in flight: what it must keep alive until it completes. */
typedef struct sio_wreq {
    uv_write_t req;
    sio_conn *conn;
    size_t bytes;       /* bytes written by this request */
    size_t nrefs;       /* buffers held (the block, then big entries) */
    sio_rcbuf **refs;   /* points into the allocation, after bufs */
    uv_buf_t bufs[];
} sio_wreq;

static int wq_push(sio_conn *c, sio_wentry e)
{
    if (c->wq_len == c->wq_cap) {
        size_t cap = c->wq_cap ? c->wq_cap * 2 : 8;
        sio_wentry *wq = sio__realloc(c->wq, cap * sizeof *wq);
        if (wq == NULL)
            return SIO_ENOMEM;
        c->wq = wq;
        c->wq_cap = cap;
    }
    c->wq[c->wq_len++] = e;
    return 0;
}

int sio__conn_write(sio_conn *c, sio_rcbuf *rc, const char *hdr, size_t hlen)
{
    if (c->closing)
        return SIO_ECLOSED;
    sio_wentry e = {rc ? sio__rcbuf_ref(rc) : NULL, (uint8_t)hlen, {0}};
    if (hlen)
        memcpy(e.hdr, hdr, hlen);
    if (wq_push(c, e) < 0) {
        sio__rcbuf_unref(rc);
        return SIO_ENOMEM;
    }
    c->out_bytes += hlen + (rc ? rc->len : 0);
    sio__conn_schedule_flush(c);
    return 0;
}

void sio__conn_schedule_flush(sio_conn *c)
{
    if (sio__list_linked(&c->flink))
        return;
    sio_loop *loop = c->server->loop;
    /* Queued bytes keep the loop alive until before_sleep writes them
     * (a closing server must still send its last words). */
    if (sio__list_empty(&loop->flushq))
        uv_ref((uv_handle_t *)&loop->prepare);
    sio__list_insert_tail(&loop->flushq, &c->flink);
}

int sio__conn_write_copy(sio_conn *c, const void *data, size_t len)
{
    sio_rcbuf *rc = sio__rcbuf_new(data, len);
    if (rc == NULL)
        return SIO_ENOMEM;
    int r = sio__conn_write(c, rc, NULL, 0);
    sio__rcbuf_unref(rc);
    return r;
}

static void on_closed(uv_handle_t *h);

static void on_shutdown(uv_shutdown_t *req, int status) { sio__free(req); }

void sio__conn_maybe_shutdown(sio_conn *c)
{
    if (!c->lingering || c->shut || c->closing || c->wq_len || c->writes_in_flight)
        return;
    uv_shutdown_t *req = sio__malloc(sizeof *req);
    c->shut = 1;
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        sio__free(req);
        sio__conn_close(c);
    }
}

static void maybe_finish_close(sio_conn *c)
{
    if (c->close_after_write && c->wq_len == 0 && c->writes_in_flight == 0)
        sio__conn_close(c);
    else
        sio__conn_maybe_shutdown(c);
}

static void wreq_free(sio_wreq *w)
{
    for (size_t i = 0; i < w->nrefs; i++)
        sio__rcbuf_unref(w->refs[i]);
    sio__free(w);
}

static void on_written(uv_write_t *req, int status)
{
    sio_wreq *w = (sio_wreq *)req;
    sio_conn *c = w->conn;
    c->out_bytes -= w->bytes;
    c->writes_in_flight--;
    wreq_free(w);
    if (status < 0 && !c->closing) {
        sio__conn_close(c);
        return;
    }
    maybe_finish_close(c);
    sio__conn_drained(c);
}

static int is_small(const sio_wentry *e) { return e->rc == NULL || e->rc->len <= SIO_COALESCE_MAX; }

/* Lays the queue out as iovecs: runs of small entries (and every header)
 * copied into one block, big payloads referenced. Consumes the queue. */
static void build_iovecs(sio_conn *c, sio_wreq *w, sio_rcbuf *block, unsigned *nbufs)
{
    size_t off = 0, seg = 0;
    unsigned k = 0;
    for (size_t i = 0; i < c->wq_len; i++) {
        sio_wentry *e = &c->wq[i];
        memcpy(block->data + off, e->hdr, e->hlen);
        off += e->hlen;
        if (is_small(e)) {
            if (e->rc)
                memcpy(block->data + off, e->rc->data, e->rc->len);
            off += e->rc ? e->rc->len : 0;
            sio__rcbuf_unref(e->rc);
            continue;
        }
        if (off > seg)
            w->bufs[k++] = uv_buf_init(block->data + seg, (unsigned)(off - seg));
        seg = off;
        w->bufs[k++] = uv_buf_init(e->rc->data, (unsigned)e->rc->len);
        w->refs[w->nrefs++] = e->rc; /* the queue's reference moves here */
        w->bytes += e->rc->len;
    }
    if (off > seg)
        w->bufs[k++] = uv_buf_init(block->data + seg, (unsigned)(off - seg));
    w->bytes += off;
    *nbufs = k;
    sio__free(c->wq);
    c->wq = NULL;
    c->wq_len = c->wq_cap = 0;
}

/* Hands the connection's whole queue to one uv_write. */
static void conn_flush(sio_conn *c)
{
    if (c->wq_len == 0 || c->closing)
        return;
    size_t nbig = 0, small = 0;
    for (size_t i = 0; i < c->wq_len; i++) {
        small += c->wq[i].hlen;
        if (is_small(&c->wq[i]))
            small += c->wq[i].rc ? c->wq[i].rc->len : 0;
        else
            nbig++;
    }
    size_t nbufs = 2 * nbig + 1;
    sio_wreq *w = sio__malloc(sizeof *w + nbufs * sizeof(uv_buf_t) + (nbig + 1) * sizeof(sio_rcbuf *));
    sio_rcbuf *block = sio__rcbuf_new(NULL, small);
    if (w == NULL || block == NULL) {
        sio__free(w);
        sio__rcbuf_unref(block);
        sio__conn_close(c);
        return;
    }
    w->conn = c;
    w->bytes = 0;
    w->refs = (sio_rcbuf **)(w->bufs + nbufs);
    w->refs[0] = block;
    w->nrefs = 1;
    unsigned k;
    build_iovecs(c, w, block, &k);
    c->writes_in_flight++;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs, k, on_written) < 0) {
        c->writes_in_flight--;
        c->out_bytes -= w->bytes;
        wreq_free(w);
        sio__conn_close(c);
    }
}

void sio__conn_flush_all(sio_loop *loop)
{
    while (!sio__list_empty(&loop->flushq)) {
        sio_conn *c = SIO_CONTAINER_OF(loop->flushq.next, sio_conn, flink);
        sio__list_remove(&c->flink);
        conn_flush(c);
        sio__conn_maybe_shutdown(c);
    }
    uv_unref((uv_handle_t *)&loop->prepare);
}

static void on_closed(uv_handle_t *h)
{
    sio_conn *c = SIO_CONTAINER_OF((uv_tcp_t *)h, sio_conn, tcp);
    sio_http_server *s = c->server;
    for (size_t i = 0; i < c->wq_len; i++)
        sio__rcbuf_unref(c->wq[i].rc);
    sio__free(c->wq);
    if (c->parser) {
        sio__http_parser_free(c->parser);
        sio__free(c->parser);
    }
    sio__buf_free(&c->pending_in);
    if (c->ws)
        sio__ws_conn_free(c->ws);
    sio__free(c);
    s->pending_closes--;
    sio__http_server_maybe_done(s);
}

void sio__conn_end(sio_conn *c)
{
    c->close_after_write = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    maybe_finish_close(c);
}

void sio__conn_close(sio_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    sio__timer_stop(&c->timer);
    sio__list_remove(&c->flink);
    sio__list_remove(&c->link);
    c->server->nconns--;
    c->server->pending_closes++;
    if (c->req) {
        c->req->conn = NULL;
        c->req = NULL;
    }
    sio__eio_conn_closed(c, 0);
    /* Queued but unwritten bytes are dropped; in-flight writes finish
     * (cancelled) before the close callback frees the connection. */
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}
