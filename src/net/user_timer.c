/* Public timers (sio_loop_timer_*): one uv_timer each, for programs. The
 * protocol's own deadlines live in the shared wheel (core/timer) instead;
 * a program's timers are few and want libuv's semantics as they are: an
 * active timer keeps the loop running, repeat re-arms after the callback,
 * and freeing is a close whose memory goes in the close callback, which
 * makes sio_loop_timer_free safe from the timer's own callback. */
#include "core/alloc.h"
#include "net/net.h"

struct sio_loop_timer {
    uv_timer_t handle; /* handle.data is this timer */
    sio_loop_timer_cb cb;
    void *data;
};

static void timer_fire(uv_timer_t *h)
{
    sio_loop_timer *t = h->data;
    t->cb(t, t->data);
}

int sio_loop_timer_new(sio_loop_timer **out, sio_loop *loop, sio_loop_timer_cb cb, void *data)
{
    *out = NULL;
    if (cb == NULL)
        return SIO_EINVAL;
    sio_loop_timer *t = sio__calloc(1, sizeof *t);
    if (t == NULL)
        return SIO_ENOMEM;
    uv_timer_init(loop->uv, &t->handle);
    t->handle.data = t;
    t->cb = cb;
    t->data = data;
    *out = t;
    return 0;
}

int sio_loop_timer_start(sio_loop_timer *t, uint64_t timeout_ms, uint64_t repeat_ms)
{
    if (uv_is_closing((uv_handle_t *)&t->handle))
        return SIO_ECLOSED;
    return uv_timer_start(&t->handle, timer_fire, timeout_ms, repeat_ms) == 0 ? 0 : SIO_EINVAL;
}

void sio_loop_timer_stop(sio_loop_timer *t)
{
    uv_timer_stop(&t->handle);
}

int sio_loop_timer_active(const sio_loop_timer *t)
{
    return uv_is_active((const uv_handle_t *)&t->handle);
}

void *sio_loop_timer_data(const sio_loop_timer *t)
{
    return t->data;
}

static void timer_closed(uv_handle_t *h)
{
    sio__free(h->data);
}

void sio_loop_timer_free(sio_loop_timer *t)
{
    if (t == NULL || uv_is_closing((uv_handle_t *)&t->handle))
        return;
    uv_close((uv_handle_t *)&t->handle, timer_closed);
}
