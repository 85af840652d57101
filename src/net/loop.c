/* The event loop: see net.h. Besides wrapping uv_loop_t it drives the
 * timer wheel with a single uv_timer and flushes coalesced writes right
 * before the loop blocks.
 *
 * The uv_loop_t is sioc's own (sio_loop_new) or the program's
 * (sio_loop_new_from_uv). sioc's five kinds of handle (wheel timer,
 * prepare, the drain idle, async, signals) are unreferenced, so they never keep either loop
 * alive: servers and public timers do. Freeing closes them; on its own loop
 * sio_loop_free runs the loop until they are closed, on the program's the
 * memory goes in the last close callback, when the program's loop runs.
 *
 * sio_loop_post is the one cross-thread entry: the mutex guards the queue
 * and post_closed, and uv_async_send happens under it, so a post either
 * lands before sio_loop_free has closed the queue (and may be dropped by
 * it, never run after it) or gets SIO_ECLOSED. */
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "net/net.h"

typedef struct sio__post {
    sio__list link;
    void (*fn)(void *data);
    void *data;
} sio__post;

typedef struct sio__signal {
    uv_signal_t handle;
    sio__list link;
    sio_loop *loop;
    sio_signal_cb cb;
    void *data;
} sio__signal;

uint64_t sio__loop_clock(void *loop)
{
    sio_loop *l = loop;
    return l->manual_clock ? l->manual_now : uv_now(l->uv);
}
uint64_t sio_loop_now(const sio_loop *loop)
{
    return sio__loop_clock((sio_loop *)loop);
}
sio__timers *sio__loop_timers(sio_loop *loop)
{
    return &loop->timers;
}

/* The manual clock's wall time: 2026-01-01T00:00:00Z plus the clock. */
#define SIO_MANUAL_EPOCH_MS 1767225600000LL

/* The system's wall clock in ms (0 if it cannot be read): the loops' unless
 * manual, and the one the log's stderr lines are stamped with. */
static int64_t system_wall_ms(void)
{
    uv_timeval64_t tv;
    return uv_gettimeofday(&tv) == 0 ? tv.tv_sec * 1000 + tv.tv_usec / 1000 : 0;
}

int64_t sio__loop_wall_ms(void *loop)
{
    sio_loop *l = loop;
    if (l->manual_clock)
        return SIO_MANUAL_EPOCH_MS + (int64_t)l->manual_now;
    return system_wall_ms();
}

static void wheel_fire(uv_timer_t *t)
{
    sio_loop *loop = t->data;
    sio__timers_run(&loop->timers, sio__loop_clock(loop));
}

void sio__loop_set_clock(sio_loop *loop, uint64_t now_ms)
{
    if (!loop->manual_clock && loop->timers.count == 0) {
        /* The wheel started at uv_now: it starts again at the manual
         * reading, which may be earlier (nothing is filed in it yet). */
        sio__timers_init(&loop->timers, now_ms);
    }
    if (!loop->manual_clock || now_ms > loop->manual_now)
        loop->manual_now = now_ms;
    loop->manual_clock = 1;
    /* What became due runs in the next iteration, not after a real delay
     * that before_sleep computed from the old reading. */
    uv_timer_start(&loop->wheel_timer, wheel_fire, 0, 0);
}

/* Before blocking: write what this iteration queued, then sleep no longer
 * than the next protocol deadline. */
static void before_sleep(uv_prepare_t *p)
{
    sio_loop *loop = p->data;
    sio__loop_run_ticks(loop); /* what a callback other than a read queued */
    sio__conn_flush_all(loop);
    uint64_t next = sio__timers_next(&loop->timers);
    if (next == UINT64_MAX) {
        uv_timer_stop(&loop->wheel_timer);
        return;
    }
    uint64_t now = sio__loop_clock(loop);
    uv_timer_start(&loop->wheel_timer, wheel_fire, next > now ? next - now : 0, 0);
}

void sio__loop_tick(void *loop, sio__tick *t)
{
    sio_loop *l = loop;
    if (!sio__list_linked(&t->node))
        sio__list_insert_tail(&l->ticks, &t->node);
}

/* Runs the ticks, those they queue too, in order (Node drains its nextTick
 * queue the same way). */
void sio__loop_run_ticks(sio_loop *loop)
{
    while (!sio__list_empty(&loop->ticks)) {
        sio__tick *t = SIO_CONTAINER_OF(loop->ticks.next, sio__tick, node);
        sio__list_remove(&t->node);
        t->fn(t);
    }
}

static void run_posted(uv_async_t *a)
{
    sio_loop *loop = a->data;
    sio__list batch;
    sio__list_init(&batch);
    pthread_mutex_lock(&loop->post_lock);
    if (!sio__list_empty(&loop->posted)) {
        batch = loop->posted;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        sio__list_init(&loop->posted);
    }
    pthread_mutex_unlock(&loop->post_lock);
    while (!sio__list_empty(&batch)) {
        sio__post *p = SIO_CONTAINER_OF(batch.next, sio__post, link);
        sio__list_remove(&p->link);
        p->fn(p->data);
        sio__free(p);
    }
}

/* Sets up sioc's handles on loop->uv (already initialised). */
static void loop_init_handles(sio_loop *loop)
{
    sio__log_init_from_env();
    sio__log_set_clock(system_wall_ms);
    pthread_mutex_init(&loop->post_lock, NULL);
    sio__list_init(&loop->posted);
    sio__list_init(&loop->flushq);
    sio__list_init(&loop->drainq);
    sio__list_init(&loop->ticks);
    sio__list_init(&loop->signals);
    sio__timers_init(&loop->timers, uv_now(loop->uv));
    uv_timer_init(loop->uv, &loop->wheel_timer);
    loop->wheel_timer.data = loop;
    uv_unref((uv_handle_t *)&loop->wheel_timer);
    uv_prepare_init(loop->uv, &loop->prepare);
    loop->prepare.data = loop;
    uv_prepare_start(&loop->prepare, before_sleep);
    uv_unref((uv_handle_t *)&loop->prepare);
    uv_idle_init(loop->uv, &loop->drain_idle);
    loop->drain_idle.data = loop;
    uv_unref((uv_handle_t *)&loop->drain_idle);
    uv_async_init(loop->uv, &loop->async, run_posted);
    loop->async.data = loop;
    uv_unref((uv_handle_t *)&loop->async);
}

int sio_loop_new(sio_loop **out)
{
    sio_loop *loop = sio__calloc(1, sizeof *loop);
    if (loop == NULL)
        return SIO_ENOMEM;
    if (uv_loop_init(&loop->own) != 0) {
        sio__free(loop);
        return SIO_EIO;
    }
    loop->uv = &loop->own;
    loop_init_handles(loop);
    *out = loop;
    return 0;
}

int sio_loop_new_from_uv(sio_loop **out, uv_loop_t *uv)
{
    *out = NULL;
    if (uv == NULL)
        return SIO_EINVAL;
    sio_loop *loop = sio__calloc(1, sizeof *loop);
    if (loop == NULL)
        return SIO_ENOMEM;
    loop->uv = uv;
    loop->external = 1;
    loop_init_handles(loop);
    *out = loop;
    return 0;
}

uv_loop_t *sio_loop_uv(sio_loop *loop)
{
    return loop->uv;
}

int sio_loop_run(sio_loop *loop)
{
    /* Servers and public timers keep the loop alive; sioc's own handles
     * are unreferenced, so the loop ends with the last server. */
    return uv_run(loop->uv, UV_RUN_DEFAULT) < 0 ? SIO_EIO : 0;
}

void sio_loop_stop(sio_loop *loop)
{
    uv_stop(loop->uv);
}

int sio_loop_post(sio_loop *loop, void (*fn)(void *data), void *data)
{
    sio__post *p = sio__malloc(sizeof *p);
    if (p == NULL)
        return SIO_ENOMEM;
    p->fn = fn;
    p->data = data;
    int rc = 0;
    pthread_mutex_lock(&loop->post_lock);
    if (loop->post_closed) {
        rc = SIO_ECLOSED;
    } else {
        sio__list_insert_tail(&loop->posted, &p->link);
        uv_async_send(&loop->async);
    }
    pthread_mutex_unlock(&loop->post_lock);
    if (rc < 0)
        sio__free(p);
    return rc;
}

static void signal_fire(uv_signal_t *h, int signum)
{
    sio__signal *s = h->data;
    s->cb(s->loop, signum, s->data);
}

int sio_loop_on_signal(sio_loop *loop, int signum, sio_signal_cb cb, void *data)
{
    sio__signal *s = sio__calloc(1, sizeof *s);
    if (s == NULL)
        return SIO_ENOMEM;
    s->loop = loop;
    s->cb = cb;
    s->data = data;
    uv_signal_init(loop->uv, &s->handle);
    s->handle.data = s;
    if (uv_signal_start(&s->handle, signal_fire, signum) != 0) {
        uv_close((uv_handle_t *)&s->handle, NULL);
        sio__free(s);
        return SIO_EINVAL;
    }
    uv_unref((uv_handle_t *)&s->handle);
    sio__list_insert_tail(&loop->signals, &s->link);
    return 0;
}

static void free_after_close(uv_handle_t *h)
{
    sio__free(h->data);
}

/* Frees the loop's memory once its last handle has closed. */
static void loop_release(sio_loop *loop)
{
    sio__timers_free(&loop->timers);
    pthread_mutex_destroy(&loop->post_lock);
    sio__free(loop);
}

static void handle_closed(uv_handle_t *h)
{
    sio_loop *loop = h->data;
    if (--loop->closing_handles == 0 && loop->external)
        loop_release(loop);
}

/* Drops the posts not run yet: they were made before the program started
 * freeing, and running them now would reach its freed state. */
static void drop_posts(sio_loop *loop)
{
    pthread_mutex_lock(&loop->post_lock);
    loop->post_closed = 1;
    while (!sio__list_empty(&loop->posted)) {
        sio__post *p = SIO_CONTAINER_OF(loop->posted.next, sio__post, link);
        sio__list_remove(&p->link);
        sio__free(p);
    }
    pthread_mutex_unlock(&loop->post_lock);
}

void sio_loop_free(sio_loop *loop)
{
    if (loop == NULL)
        return; /* as the other _free functions: a failed start frees what it has */
    drop_posts(loop);
    while (!sio__list_empty(&loop->signals)) {
        sio__signal *s = SIO_CONTAINER_OF(loop->signals.next, sio__signal, link);
        sio__list_remove(&s->link);
        uv_close((uv_handle_t *)&s->handle, free_after_close);
    }
    loop->closing_handles = 4;
    uv_close((uv_handle_t *)&loop->wheel_timer, handle_closed);
    uv_close((uv_handle_t *)&loop->prepare, handle_closed);
    uv_close((uv_handle_t *)&loop->drain_idle, handle_closed);
    uv_close((uv_handle_t *)&loop->async, handle_closed);
    if (loop->external)
        return; /* released by the program's loop (handle_closed) */
    uv_run(loop->uv, UV_RUN_DEFAULT);
    uv_loop_close(loop->uv);
    loop_release(loop);
}
