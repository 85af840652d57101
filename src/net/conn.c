/* Connection writes and lifetime: see net.h.
 *
 * Writes are queued (never written immediately) and the whole queue of a
 * connection goes out in one uv_write (writev) from the loop's before-sleep
 * hook, so N packets queued in one iteration cost one syscall. Small writes
 * (frame headers, small packets, HTTP heads) are copied into 16 KiB blocks
 * as they come, so a burst of small packets costs its bytes and not an
 * allocation each; a big shared payload (a broadcast frame) is queued by
 * reference. A connection with more than a block's worth queued is flushed
 * at once, so a burst moves on to the kernel instead of piling up here. The
 * write request owns what it references until libuv calls back. */
#include <string.h>

#include "core/alloc.h"
#include "net/net.h"

/* Payloads up to this size are copied into the open block. */
#define SIO_COALESCE_MAX 1024
/* Largest block a connection grows its open block to (a bigger small write
 * gets a block of its own size), and the size a new block starts at. */
#define SIO_BLOCK_SIZE 16384
#define SIO_BLOCK_MIN 512
/* blk_cap is a 16-bit field. */
_Static_assert(SIO_BLOCK_SIZE < 65536, "blk_cap holds a block size");
/* Queued bytes past which a connection is flushed at once. */
#define SIO_EAGER_FLUSH SIO_BLOCK_SIZE

static void conn_flush(sio_conn *c);

/* One uv_write in flight: what it must keep alive until it completes. */
typedef struct sio_wreq {
    uv_write_t req;
    sio_conn *conn;
    size_t bytes;       /* bytes written by this request */
    sio_rcbuf **refs;   /* the queue it took over */
    size_t nrefs;
    uv_buf_t bufs[];
} sio_wreq;

/* Appends a reference (taken over) to the queue. */
static int wq_push(sio_conn *c, sio_rcbuf *rc)
{
    if (c->wq_len == c->wq_cap) {
        if (c->wq_cap > UINT32_MAX / 2)
            return SIO_ENOMEM;
        uint32_t cap = c->wq_cap ? c->wq_cap * 2 : 8;
        sio_rcbuf **wq = sio__realloc(c->wq, cap * sizeof *wq);
        if (wq == NULL)
            return SIO_ENOMEM;
        c->wq = wq;
        c->wq_cap = cap;
    }
    c->wq[c->wq_len++] = rc;
    return 0;
}

/* Moves the open block (if any) to the queue. */
static int close_block(sio_conn *c)
{
    if (c->blk == NULL)
        return 0;
    if (wq_push(c, c->blk) < 0)
        return SIO_ENOMEM;
    c->blk = NULL;
    return 0;
}

/* Grows the open block (only the connection references it) towards
 * SIO_BLOCK_SIZE: a lone small answer costs a small block, a burst ends up
 * in full-size ones. */
static int block_grow(sio_conn *c, size_t need)
{
    size_t cap = c->blk_cap * 2 < need ? need : c->blk_cap * 2;
    if (cap > SIO_BLOCK_SIZE)
        cap = SIO_BLOCK_SIZE;
    sio_rcbuf *b = sio__realloc(c->blk, sizeof *b + cap + 1);
    if (b == NULL)
        return SIO_ENOMEM;
    c->blk = b;
    c->blk_cap = (uint32_t)cap;
    return 0;
}

static int block_append(sio_conn *c, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (c->blk && c->blk->len + n > c->blk_cap) {
        int rc = c->blk->len + n <= SIO_BLOCK_SIZE ? block_grow(c, c->blk->len + n) : close_block(c);
        if (rc < 0)
            return rc;
    }
    if (c->blk == NULL) {
        size_t cap = n > SIO_BLOCK_MIN ? n : SIO_BLOCK_MIN;
        if ((c->blk = sio__rcbuf_new(NULL, cap)) == NULL)
            return SIO_ENOMEM;
        c->blk->len = 0;
        c->blk_cap = (uint32_t)cap;
    }
    memcpy(c->blk->data + c->blk->len, data, n);
    c->blk->len += n;
    return 0;
}

/* Queues hdr then rc's bytes, all or nothing. */
static int enqueue(sio_conn *c, sio_rcbuf *rc, const char *hdr, size_t hlen)
{
    if (block_append(c, hdr, hlen) < 0)
        return SIO_ENOMEM;
    if (rc == NULL)
        return 0;
    if (rc->len <= SIO_COALESCE_MAX)
        return block_append(c, rc->data, rc->len);
    if (close_block(c) < 0)
        return SIO_ENOMEM;
    if (wq_push(c, sio__rcbuf_ref(rc)) < 0) {
        sio__rcbuf_unref(rc);
        return SIO_ENOMEM;
    }
    return 0;
}

int sio__conn_write(sio_conn *c, sio_rcbuf *rc, const char *hdr, size_t hlen)
{
    if (c->closing)
        return SIO_ECLOSED;
    if (enqueue(c, rc, hdr, hlen) < 0) {
        /* Part of a frame may be queued: the stream is unusable. */
        sio__conn_close(c);
        return SIO_ENOMEM;
    }
    size_t n = hlen + (rc ? rc->len : 0);
    c->out_bytes += n;
    c->wq_bytes += n;
    if (c->wq_bytes >= SIO_EAGER_FLUSH) {
        sio__list_remove(&c->flink);
        conn_flush(c);
        return 0;
    }
    sio__conn_schedule_flush(c);
    return 0;
}

void sio__conn_schedule_flush(sio_conn *c)
{
    if (sio__list_linked(&c->flink))
        return;
    sio_loop *loop = sio__conn_server(c)->loop;
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
    if (!c->lingering || c->shut || c->closing || c->wq_bytes || c->writes_in_flight)
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
    if (c->close_after_write && c->wq_bytes == 0 && c->writes_in_flight == 0)
        sio__conn_close(c);
    else
        sio__conn_maybe_shutdown(c);
}

static void wreq_free(sio_wreq *w)
{
    for (size_t i = 0; i < w->nrefs; i++)
        sio__rcbuf_unref(w->refs[i]);
    sio__free(w->refs);
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

/* Hands the connection's whole queue to one uv_write. */
static void conn_flush(sio_conn *c)
{
    if (c->closing)
        return;
    if (close_block(c) < 0) {
        sio__conn_close(c);
        return;
    }
    if (c->wq_len == 0)
        return;
    sio_wreq *w = sio__malloc(sizeof *w + c->wq_len * sizeof(uv_buf_t));
    if (w == NULL) {
        sio__conn_close(c);
        return;
    }
    w->conn = c;
    w->bytes = c->wq_bytes;
    w->refs = c->wq;
    w->nrefs = c->wq_len;
    for (size_t i = 0; i < w->nrefs; i++)
        w->bufs[i] = uv_buf_init(w->refs[i]->data, (unsigned)w->refs[i]->len);
    c->wq = NULL;
    c->wq_len = c->wq_cap = 0;
    c->wq_bytes = 0;
    c->writes_in_flight++;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs, (unsigned)w->nrefs, on_written) < 0) {
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
    sio_http_server *s = sio__conn_server(c);
    for (size_t i = 0; i < c->wq_len; i++)
        sio__rcbuf_unref(c->wq[i]);
    sio__free(c->wq);
    sio__rcbuf_unref(c->blk);
    if (c->parser)
        sio__conn_http_free(c);
    else
        sio__free(c->timer); /* a WebSocket's linger deadline */
    if (c->has_ws)
        sio__ws_conn_fini(&c->ws);
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
    if (c->timer)
        sio__timer_stop(c->timer);
    sio__list_remove(&c->flink);
    sio__conn_server(c)->nconns--;
    sio__conn_server(c)->pending_closes++;
    if (c->parser && sio__conn_http(c)->req) {
        sio__conn_http(c)->req->conn = NULL;
        sio__conn_http(c)->req = NULL;
    }
    const sio__route_ops *ops = sio__conn_route_ops(c);
    if (ops)
        ops->on_closed(c, 0);
    /* Queued but unwritten bytes are dropped; in-flight writes finish
     * (cancelled) before the close callback frees the connection. */
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* The peer's IP address as text ("" if the socket cannot tell any more):
 * read when a session opens rather than kept by every connection. */
void sio__conn_peer_address(sio_conn *c, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    out[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) != 0)
        return;
    if (sa.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&sa, out, cap);
    else
        uv_ip4_name((struct sockaddr_in *)&sa, out, cap);
}
