/* Connection writes and lifetime: see net.h.
 *
 * Writes are queued (never written immediately) and the whole queue of a
 * connection goes out in one writev from the loop's before-sleep hook, so
 * N packets queued in one iteration cost one syscall. That writev is tried
 * first without a request (uv_try_write): when the kernel takes it all,
 * which is the rule for a reader that keeps up, the flush costs no
 * allocation, no libuv callback and no epoll_ctl (libuv re-arms the
 * descriptor with epoll_ctl after every uv_write it completes), and the
 * "written" news that the callback would bring (drain, a pending close)
 * comes from the loop's drain idle one iteration later, as it did. Only
 * what the kernel refused goes to a uv_write request. Small writes
 * (frame headers, small packets, HTTP heads) are copied into 16 KiB blocks
 * as they come, so a burst of small packets costs its bytes and not an
 * allocation each; a big payload, or a lone one (a broadcast frame that
 * finds the queue empty and nothing small after it), is queued by
 * reference, its frame header kept in the queue entry. A connection that
 * is not keeping up (SIO_OUT_BEHIND bytes waiting) queues even small shared
 * payloads by reference: a slow reader then costs an entry per message, not
 * a copy of it, however many slow readers hold the same broadcast. A
 * connection with more than a block's worth queued is flushed at once, so a
 * burst moves on to the kernel instead of piling up here. The write request
 * owns what it references until libuv calls back.
 *
 * Output memory is a policy (see the output limits in sioc.h): every queued
 * or in-flight byte is counted on its connection and on its server, and
 * when a lot of it has been freed the allocator is asked to give the pages
 * back (malloc_trim), so RSS comes down once slow readers are gone. A
 * connection cut off by a limit is reset rather than closed, so the
 * kernel lets go of its backlog too (conn_close). */
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/metrics.h"
#include "core/alloc.h"
#include "net/net.h"
#include "net/tls.h"

/* Payloads up to this size are copied into the open block. */
#define SIO_COALESCE_MAX 1024
/* Shared payloads of at least this size are queued by reference, even
 * when small, on a connection that is behind (SIO_OUT_BEHIND). */
#define SIO_SHARE_MIN 64
/* Largest block a connection grows its open block to (a bigger small write
 * gets a block of its own size), and the size a new block starts at. */
#define SIO_BLOCK_SIZE 16384
#define SIO_BLOCK_MIN 512
/* blk_cap is a 16-bit field. */
_Static_assert(SIO_BLOCK_SIZE < 65536, "blk_cap holds a block size");
/* Queued bytes past which a connection is flushed at once. */
#define SIO_EAGER_FLUSH SIO_BLOCK_SIZE
/* When queued output has come down this far from its peak since the last
 * trim (slow readers' queues drained or dropped), the allocator is asked to
 * return free pages (checked once per loop iteration). Output that flows
 * keeps the queues short and never trims. */
#define SIO_TRIM_AFTER (8u << 20)

/* Buffers a flush tries to write without a request (a header and a
 * payload per queued entry, and the open block); a longer queue goes to
 * uv_write as it is. */
#define SIO_TRY_BUFS 32

static void conn_flush(sio__conn *c);

/* Bytes TLS still has to send (a handshake message, an alert). */
static size_t tls_pending(const sio__conn *c)
{
    return c->tls ? sio__tls_pending(c->tls) : 0;
}

/* One uv_write in flight: what it must keep alive until it completes. */
typedef struct sio_wreq {
    uv_write_t req;
    sio__conn *conn;
    size_t bytes;      /* bytes of this request libuv had not written yet when
                        * it was issued (what is still counted as output) */
    sio__wq_ent *ents; /* the queue it took over (headers live here) */
    size_t nents;
    uv_buf_t bufs[];
} sio_wreq;

/* Appends an entry (the reference is taken over) to the queue. */
static int wq_push(sio__conn *c, sio__rcbuf *rc, const char *hdr, size_t hlen)
{
    if (c->wq_len == c->wq_cap) {
        if (c->wq_cap > UINT32_MAX / 2)
            return SIO_ENOMEM;
        uint32_t cap =
            c->wq_cap ? c->wq_cap * 2 : 2; /* 48 bytes: a lone answer is one or two entries */
        sio__wq_ent *wq = sio__realloc(c->wq, cap * sizeof *wq);
        if (wq == NULL)
            return SIO_ENOMEM;
        c->wq = wq;
        c->wq_cap = cap;
    }
    sio__wq_ent *e = &c->wq[c->wq_len++];
    e->rc = rc;
    e->hlen = (uint8_t)hlen;
    if (hlen)
        memcpy(e->hdr, hdr, hlen);
    return 0;
}

/* Moves the open block (if any) to the queue. */
static int close_block(sio__conn *c)
{
    if (c->blk == NULL)
        return 0;
    if (wq_push(c, c->blk, NULL, 0) < 0)
        return SIO_ENOMEM;
    c->blk = NULL;
    return 0;
}
/* Grows the open block (only the connection references it) towards
 * SIO_BLOCK_SIZE: a lone small answer costs a small block, a burst ends up
 * in full-size ones. */
static int block_grow(sio__conn *c, size_t need)
{
    size_t cap = c->blk_cap * 2 < need ? need : c->blk_cap * 2;
    if (cap > SIO_BLOCK_SIZE)
        cap = SIO_BLOCK_SIZE;
    sio__rcbuf *b = sio__realloc(c->blk, sizeof *b + cap + 1);
    if (b == NULL)
        return SIO_ENOMEM;
    c->blk = b;
    c->blk_cap = (uint32_t)cap;
    return 0;
}

static int block_append(sio__conn *c, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (c->blk && c->blk->len + n > c->blk_cap) {
        int rc =
            c->blk->len + n <= SIO_BLOCK_SIZE ? block_grow(c, c->blk->len + n) : close_block(c);
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

/* Whether rc is queued by reference rather than copied: big payloads
 * always; any payload that finds nothing queued, so that a lone frame (one
 * delivery of a broadcast, whose buffer the adapter holds until every
 * recipient has it) costs neither a block nor a copy, only the small entry
 * array (copy_lone copies it after all when more small writes follow); and
 * shared ones once the connection is falling behind. */
static int by_reference(const sio__conn *c, const sio__rcbuf *rc)
{
    if (rc->len > SIO_COALESCE_MAX || (c->wq_len == 0 && c->blk == NULL))
        return 1;
    return rc->refs > 1 && rc->len >= SIO_SHARE_MIN && c->out_bytes >= SIO_OUT_BEHIND;
}

/* When a second small write follows a lone small entry queued by
 * reference, that entry is copied into the block first: a busy
 * connection's flush stays one buffer, as if it had been copied at once,
 * and only a lone frame goes without a copy. */
static int copy_lone(sio__conn *c)
{
    if (c->wq_len != 1 || c->blk != NULL || c->wq[0].rc->len > SIO_COALESCE_MAX)
        return 0;
    sio__wq_ent *e = &c->wq[0];
    if (block_append(c, e->hdr, e->hlen) < 0 || block_append(c, e->rc->data, e->rc->len) < 0)
        return SIO_ENOMEM;
    sio__rcbuf_unref(e->rc);
    c->wq_len = 0;
    return 0;
}

/* Queues hdr then rc's bytes, all or nothing. */
static int enqueue(sio__conn *c, sio__rcbuf *rc, const char *hdr, size_t hlen)
{
    if (rc == NULL || !by_reference(c, rc) || hlen > SIO_WS_FRAME_HEADER_MAX) {
        if (copy_lone(c) < 0 || block_append(c, hdr, hlen) < 0)
            return SIO_ENOMEM;
        return rc ? block_append(c, rc->data, rc->len) : 0;
    }
    if (close_block(c) < 0)
        return SIO_ENOMEM;
    if (wq_push(c, sio__rcbuf_ref(rc), hdr, hlen) < 0) {
        sio__rcbuf_unref(rc);
        return SIO_ENOMEM;
    }
    return 0;
}

/* Counts n more output bytes on c and its server. */
static void out_add(sio__conn *c, size_t n)
{
    sio_http_server *s = sio__conn_server(c);
    SIO_METRIC_ADD(&s->metrics, write_queue_bytes, n);
    c->out_bytes += n;
    s->out_total += n;
    if (c->cut)
        s->cut_bytes += n;
    else if (c->out_bytes >= SIO_OUT_BEHIND && c->mode == SIO_CONN_WS && !c->closing &&
             !sio__list_linked(&c->blink))
        sio__list_insert_tail(&s->behind, &c->blink);
    if ((s->loop->out_queued += n) > s->loop->out_peak)
        s->loop->out_peak = s->loop->out_queued;
}

/* n output bytes of c were written or dropped: uncount them. */
static void out_sub(sio__conn *c, size_t n)
{
    sio_http_server *s = sio__conn_server(c);
    SIO_METRIC_SUB(&s->metrics, write_queue_bytes, n);
    c->out_bytes -= n;
    s->out_total -= n;
    if (c->cut)
        s->cut_bytes -= n;
    else if (c->out_bytes < SIO_OUT_BEHIND)
        sio__list_remove(&c->blink);
    s->loop->out_queued -= n;
}

void sio__loop_maybe_trim(sio_loop *loop)
{
    if (loop->out_peak - loop->out_queued < SIO_TRIM_AFTER)
        return;
    loop->out_peak = loop->out_queued;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

int sio__conn_write(sio__conn *c, sio__rcbuf *rc, const char *hdr, size_t hlen)
{
    if (c->closing)
        return SIO_ECLOSED;
    if (enqueue(c, rc, hdr, hlen) < 0) {
        /* Part of a frame may be queued: the stream is unusable. */
        sio__conn_close(c);
        return SIO_ENOMEM;
    }
    size_t n = hlen + (rc ? rc->len : 0);
    out_add(c, n);
    c->wq_bytes += n;
    if (c->wq_bytes >= SIO_EAGER_FLUSH) {
        sio__list_remove(&c->flink);
        conn_flush(c);
        return 0;
    }
    sio__conn_schedule_flush(c);
    return 0;
}

void sio__conn_schedule_flush(sio__conn *c)
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

int sio__conn_write_copy(sio__conn *c, const void *data, size_t len)
{
    sio__rcbuf *rc = sio__rcbuf_new(data, len);
    if (rc == NULL)
        return SIO_ENOMEM;
    int r = sio__conn_write(c, rc, NULL, 0);
    sio__rcbuf_unref(rc);
    return r;
}

static void on_closed(uv_handle_t *h);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    sio__free(req);
}

void sio__conn_maybe_shutdown(sio__conn *c)
{
    if (!c->lingering || c->shut || c->closing || c->wq_bytes || c->writes_in_flight ||
        tls_pending(c))
        return;
    uv_shutdown_t *req = sio__malloc(sizeof *req);
    c->shut = 1;
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        sio__free(req);
        sio__conn_close(c);
    }
}

static void maybe_finish_close(sio__conn *c)
{
    if (c->close_after_write && c->wq_bytes == 0 && c->writes_in_flight == 0 && !tls_pending(c))
        sio__conn_close(c);
    else
        sio__conn_maybe_shutdown(c);
}

static void ents_free(sio__wq_ent *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sio__rcbuf_unref(e[i].rc);
    sio__free(e);
}

static void wreq_free(sio_wreq *w)
{
    ents_free(w->ents, w->nents);
    sio__free(w);
}

static void on_written(uv_write_t *req, int status)
{
    sio_wreq *w = (sio_wreq *)req;
    sio__conn *c = w->conn;
    if (status >= 0)
        SIO_METRIC_ADD(&sio__conn_server(c)->metrics, bytes_out, w->bytes);
    out_sub(c, w->bytes);
    c->writes_in_flight--;
    wreq_free(w);
    if (status < 0 && !c->closing) {
        sio__conn_close(c);
        return;
    }
    maybe_finish_close(c);
    sio__conn_drained(c);
}

void sio__conn_drain_due(uv_idle_t *idle)
{
    sio_loop *loop = idle->data;
    uv_idle_stop(idle);
    uv_unref((uv_handle_t *)idle);
    if (sio__list_empty(&loop->drainq))
        return; /* the ones that were due closed */
    /* Only those due now: news of writes made meanwhile is for next time. */
    sio__list due = loop->drainq;
    due.next->prev = &due;
    due.prev->next = &due;
    sio__list_init(&loop->drainq);
    while (!sio__list_empty(&due)) {
        sio__conn *c = SIO_CONTAINER_OF(due.next, sio__conn, dlink);
        sio__list_remove(&c->dlink);
        maybe_finish_close(c);
        sio__conn_drained(c);
    }
}

/* c's queue went out without a request: its news is due next iteration. */
static void drain_later(sio__conn *c)
{
    if (sio__list_linked(&c->dlink))
        return;
    sio_loop *loop = sio__conn_server(c)->loop;
    /* The news keeps the loop alive, as the write request would have: a
     * connection that ends after its last write closes then. */
    if (sio__list_empty(&loop->drainq)) {
        uv_ref((uv_handle_t *)&loop->drain_idle);
        uv_idle_start(&loop->drain_idle, sio__conn_drain_due);
    }
    sio__list_insert_tail(&loop->drainq, &c->dlink);
}

/* Skips the first n bytes of bufs[0..nbufs) (written already); returns
 * how many whole buffers that was, the next one trimmed. */
static size_t bufs_skip(uv_buf_t *bufs, size_t nbufs, size_t n)
{
    size_t i = 0;
    for (; i < nbufs && n >= bufs[i].len; i++)
        n -= bufs[i].len;
    if (n > 0) {
        bufs[i].base += n;
        bufs[i].len -= n;
    }
    return i;
}

/* Writes the entries ents[0..n) (an allocated array, taken over) in one
 * uv_write; bytes is what they count as output, of which the first skip
 * were written already (conn_try_write). */
static void write_ents(sio__conn *c, sio__wq_ent *ents, size_t n, size_t bytes, size_t skip)
{
    size_t nbufs = 0;
    for (size_t i = 0; i < n; i++)
        nbufs += ents[i].hlen ? 2 : 1;
    sio_wreq *w = sio__malloc(sizeof *w + nbufs * sizeof(uv_buf_t));
    if (w == NULL) {
        ents_free(ents, n);
        out_sub(c, bytes);
        sio__conn_close(c);
        return;
    }
    w->conn = c;
    w->bytes = bytes;
    w->ents = ents;
    w->nents = n;
    nbufs = 0;
    for (size_t i = 0; i < w->nents; i++) {
        sio__wq_ent *e = &w->ents[i];
        if (e->hlen)
            w->bufs[nbufs++] = uv_buf_init(e->hdr, e->hlen);
        w->bufs[nbufs++] = uv_buf_init(e->rc->data, (unsigned)e->rc->len);
    }
    size_t first = bufs_skip(w->bufs, nbufs, skip);
    SIO_METRIC_ADD(&sio__conn_server(c)->metrics, bytes_out, skip);
    out_sub(c, skip);
    w->bytes = bytes - skip;
    c->writes_in_flight++;
    size_t before = c->tcp.write_queue_size;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs + first, (unsigned)(nbufs - first),
                 on_written) < 0) {
        c->writes_in_flight--;
        out_sub(c, w->bytes);
        wreq_free(w);
        sio__conn_close(c);
        return;
    }
    /* libuv wrote what the kernel took at once: only the rest is still
     * output of ours (the callback, next iteration, uncounts that). With
     * TLS the bytes on the wire are ciphertext, a little more than what
     * was counted: at most all of it is still output. */
    size_t left = c->tcp.write_queue_size - before;
    if (left > w->bytes)
        left = w->bytes;
    SIO_METRIC_ADD(&sio__conn_server(c)->metrics, bytes_out, w->bytes - left);
    out_sub(c, w->bytes - left);
    w->bytes = left;
}

/* https: once the handshake is done the whole queue is encrypted; what
 * TLS has to send then (records, handshake messages, alerts) goes out as
 * one buffer. Before that the plaintext waits in the queue. */
static void tls_flush(sio__conn *c)
{
    size_t bytes = 0;
    if (sio__tls_ready(c->tls)) {
        for (size_t i = 0; i < c->wq_len; i++) {
            const sio__wq_ent *e = &c->wq[i];
            if (sio__tls_encrypt(c->tls, e->hdr, e->hlen) < 0 ||
                sio__tls_encrypt(c->tls, e->rc->data, e->rc->len) < 0) {
                sio__conn_close(c);
                return;
            }
        }
        ents_free(c->wq, c->wq_len);
        bytes = c->wq_bytes;
        c->wq = NULL;
        c->wq_len = c->wq_cap = 0;
        c->wq_bytes = 0;
    }
    int err;
    sio__rcbuf *out = sio__tls_output(c->tls, &err);
    sio__wq_ent *ent = out ? sio__malloc(sizeof *ent) : NULL;
    if (ent == NULL) {
        sio__rcbuf_unref(out);
        out_sub(c, bytes);
        if (out != NULL || err < 0)
            sio__conn_close(c);
        return;
    }
    ent->rc = out;
    ent->hlen = 0;
    write_ents(c, ent, 1, bytes, 0);
}

/* Drops the queue (entries and open block) once written. */
static void queue_release(sio__conn *c)
{
    ents_free(c->wq, c->wq_len);
    c->wq = NULL;
    c->wq_len = c->wq_cap = 0;
    /* Not kept for the next flush: an idle connection holds no block. */
    sio__rcbuf_unref(c->blk);
    c->blk = NULL;
    c->wq_bytes = 0;
}

/* Tries to write c's whole queue at once, without a request. Returns the
 * bytes written: all of wq_bytes (the queue is released and the news is
 * due next iteration), or fewer, the rest being for uv_write. An error is
 * left to uv_write too, whose callback reports it: a flush may run inside
 * a write (the eager flush), where closing would call the route back. */
static size_t conn_try_write(sio__conn *c)
{
    uv_buf_t bufs[SIO_TRY_BUFS];
    size_t nb = 0;
    if (c->writes_in_flight > 0 || 2 * (size_t)c->wq_len + 1 > SIO_TRY_BUFS)
        return 0; /* order: after the request in flight; too many pieces */
    for (size_t i = 0; i < c->wq_len; i++) {
        const sio__wq_ent *e = &c->wq[i];
        if (e->hlen)
            bufs[nb++] = uv_buf_init((char *)e->hdr, e->hlen);
        bufs[nb++] = uv_buf_init(e->rc->data, (unsigned)e->rc->len);
    }
    if (c->blk && c->blk->len) /* the open block is always the newest */
        bufs[nb++] = uv_buf_init(c->blk->data, (unsigned)c->blk->len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)nb);
    if (n < 0)
        return 0;
    if ((size_t)n < c->wq_bytes)
        return (size_t)n;
    SIO_METRIC_ADD(&sio__conn_server(c)->metrics, bytes_out, c->wq_bytes);
    out_sub(c, c->wq_bytes);
    queue_release(c);
    drain_later(c);
    return (size_t)n;
}

/* Writes the connection's whole queue: at once if the kernel takes it,
 * else the rest in one uv_write. */
static void conn_flush(sio__conn *c)
{
    if (c->closing)
        return;
    size_t done = 0;
    if (!c->tls && c->wq_bytes > 0)
        done = conn_try_write(c);
    if (c->wq_bytes == 0 && !c->tls)
        return; /* all written (or nothing queued) */
    if (close_block(c) < 0) {
        sio__conn_close(c);
        return;
    }
    if (c->tls) {
        tls_flush(c);
        return;
    }
    sio__wq_ent *ents = c->wq;
    size_t n = c->wq_len, bytes = c->wq_bytes;
    c->wq = NULL;
    c->wq_len = c->wq_cap = 0;
    c->wq_bytes = 0;
    write_ents(c, ents, n, bytes, done);
}

void sio__conn_flush_all(sio_loop *loop)
{
    while (!sio__list_empty(&loop->flushq)) {
        sio__conn *c = SIO_CONTAINER_OF(loop->flushq.next, sio__conn, flink);
        sio__list_remove(&c->flink);
        conn_flush(c);
        sio__conn_maybe_shutdown(c);
    }
    uv_unref((uv_handle_t *)&loop->prepare);
    sio__loop_maybe_trim(loop);
}

static void on_closed(uv_handle_t *h)
{
    sio__conn *c = SIO_CONTAINER_OF((uv_tcp_t *)h, sio__conn, tcp);
    sio_http_server *s = sio__conn_server(c);
    /* In-flight writes were called back (cancelled) before this: what is
     * still counted is the queue, dropped here. */
    out_sub(c, c->out_bytes);
    ents_free(c->wq, c->wq_len);
    sio__rcbuf_unref(c->blk);
    sio__tls_free(c->tls);
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

void sio__conn_end(sio__conn *c)
{
    c->close_after_write = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    maybe_finish_close(c);
}

/* Closes c; the route hears on_closed(c, error).
 *
 * cut_close: a connection cut off by an output limit is reset (RST), not
 * closed: what the kernel still holds for it is dropped at once, as its
 * queue here is. Closed normally, its socket would live on as an orphan
 * holding the unsent bytes (up to its send buffer, megabytes) for as long
 * as the peer does not read, which for a slow reader is long: 1,000 cut
 * slow readers kept 1.5 GB of the machine's TCP memory (past tcp_mem's
 * pressure mark) for tens of seconds, and every other connection was
 * throttled until the clients that kept up were cut in turn. */
static void conn_close(sio__conn *c, int error)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->timer)
        sio__timer_stop(c->timer);
    sio__list_remove(&c->flink);
    sio__list_remove(&c->blink);
    sio__list_remove(&c->dlink);
    sio__conn_server(c)->nconns--;
    sio__conn_server(c)->pending_closes++;
    sio__conn_addr_release(c);
    if (c->parser && sio__conn_http_of(c)->req) {
        sio__conn_http_of(c)->req->conn = NULL;
        sio__conn_http_of(c)->req = NULL;
    }
    const sio__route_ops *ops = sio__conn_route_ops(c);
    if (ops)
        ops->on_closed(c, error);
    /* Queued but unwritten bytes are dropped; in-flight writes finish
     * (cancelled) before the close callback frees the connection. */
    if (c->cut && uv_tcp_close_reset(&c->tcp, on_closed) == 0)
        return; /* see cut_close */
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void sio__conn_close(sio__conn *c)
{
    conn_close(c, 0);
}

/* ------------------------------------------------------- output policy */

/* Arms c's soft-limit deadline ms from now (the deadline handler cuts and
 * closes c). SIO_ENOMEM. */
static int soft_arm(sio__conn *c, uint32_t ms)
{
    if (c->timer == NULL) { /* a WebSocket has none of its own until now */
        if ((c->timer = sio__malloc(sizeof *c->timer)) == NULL)
            return SIO_ENOMEM;
        sio__conn_timer_init(c);
    }
    c->over_soft = 1;
    sio_loop *loop = sio__conn_server(c)->loop;
    sio__timer_start(&loop->timers, c->timer, sio__loop_clock(loop) + ms);
    return 0;
}

/* Cuts connections that hold more than their fair share until need bytes
 * are on their way out, the ones that fell behind first going first: the
 * behind list is in the order its connections fell behind. Output queued
 * here is a poor measure of a slow reader on its own (the kernel holds
 * megabytes of its backlog, so its queue here may be no longer than that of
 * a reader that is a moment behind); how long it has stayed behind tells
 * them apart. Linear in the connections behind. Victims other than self
 * close when their deadline (due now) fires, after this call. */
static void shed(sio_http_server *s, sio__conn *self, size_t need)
{
    size_t share = s->opts.max_output_total / (s->nconns ? s->nconns : 1);
    size_t floor = share > SIO_OUT_BEHIND ? share : SIO_OUT_BEHIND;
    size_t freed = 0;
    sio__list *it, *tmp;
    SIO_LIST_FOREACH_SAFE(it, tmp, &s->behind)
    {
        sio__conn *v = SIO_CONTAINER_OF(it, sio__conn, blink);
        if (v->lingering || v->out_bytes < floor)
            continue; /* closing already, or keeping up: not cut for the others */
        freed += v->out_bytes;
        sio__conn_cut(v);
        /* Without a timer (no memory) it stays cut: its next write is
         * refused and the route closes it then. */
        if (v != self)
            (void)soft_arm(v, 0);
        if (freed >= need)
            return;
    }
}

int sio__conn_over_budget(sio__conn *c, size_t n)
{
    sio_http_server *s = sio__conn_server(c);
    size_t max = s->opts.max_output_total;
    size_t live = s->out_total - s->cut_bytes; /* the cut ones' bytes are going */
    if (max == 0 || live + n <= max)
        return 0;
    /* Down to 7/8 of the budget, so the next writes do not shed again at
     * once. */
    shed(s, c, live + n - (max - max / 8));
    return c->cut;
}

int sio__conn_cut(sio__conn *c)
{
    if (!c->cut) {
        sio_http_server *s = sio__conn_server(c);
        c->cut = 1;
        s->stats.output_cutoffs++;
        s->cut_bytes += c->out_bytes;
        sio__list_remove(&c->blink);
    }
    return SIO_ELIMIT;
}

int sio__conn_soft_start(sio__conn *c, uint32_t ms)
{
    if (c->over_soft || c->lingering || c->parser)
        return 0;
    return soft_arm(c, ms);
}

void sio__conn_soft_clear(sio__conn *c)
{
    if (!c->over_soft)
        return;
    c->over_soft = 0;
    if (c->lingering)
        return; /* the timer is the linger deadline now */
    sio__timer_stop(c->timer);
    sio__free(c->timer);
    c->timer = NULL;
}

void sio__conn_soft_expired(sio__conn *c)
{
    c->over_soft = 0;
    sio__conn_cut(c);
    conn_close(c, 1); /* the route reports a transport error */
}

/* The peer's IP address as text ("" if the socket cannot tell any more):
 * read when a session opens rather than kept by every connection. */
void sio__conn_peer_address(sio__conn *c, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    out[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) != 0)
        return;
    if (sa.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&sa, out, cap);
    else if (sa.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&sa, out, cap);
    /* else a local socket (sio__http_server_adopt): no IP address */
}
