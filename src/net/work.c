/* The work queue (sio_loop_work): libuv's thread pool, for a program's
 * blocking work (files, a database, DNS) that must not run on the loop
 * thread. The request lives in one allocation freed after the completion
 * callback; a queued or running request keeps the loop alive, so
 * sio_loop_run returns only once every completion has run. */
#include "core/alloc.h"
#include "net/net.h"

typedef struct sio_work {
    uv_work_t req; /* req.data is this request */
    sio_work_cb work;
    sio_work_done_cb done;
    void *data;
} sio_work;

static void work_run(uv_work_t *req)
{
    sio_work *w = req->data;
    w->work(w->data);
}

static void work_done(uv_work_t *req, int status)
{
    sio_work *w = req->data;
    if (w->done)
        w->done(status == UV_ECANCELED ? SIO_ECLOSED : 0, w->data);
    sio__free(w);
}

int sio_loop_work(sio_loop *loop, sio_work_cb work, sio_work_done_cb done, void *data)
{
    if (work == NULL)
        return SIO_EINVAL;
    sio_work *w = sio__malloc(sizeof *w);
    if (w == NULL)
        return SIO_ENOMEM;
    *w = (sio_work){.work = work, .done = done, .data = data};
    w->req.data = w;
    if (uv_queue_work(loop->uv, &w->req, work_run, work_done) != 0) {
        sio__free(w);
        return SIO_EINVAL;
    }
    return 0;
}
