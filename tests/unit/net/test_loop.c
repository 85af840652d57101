/* The loop's public services: timers (one-shot, repeat, stop, free from
 * their own callback), the work queue (work on a pool thread, completion on
 * the loop thread, the loop kept alive meanwhile), sio_loop_post from
 * threads and at shutdown (posts pending when sio_loop_free begins are
 * dropped, never run), and a sio_loop on a uv loop the program runs,
 * including a whole server shut down with sio_server_shutdown and the
 * sio_loop's memory released by the program's loop. ASan checks the
 * memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "sioc_uv.h"

/* ---------------------------------------------------------------- timers */

typedef struct ticks {
    int oneshot, repeat;
    uint64_t started;
    sio_loop_timer *rep;
} ticks;

static void on_oneshot(sio_loop_timer *t, void *data)
{
    ticks *k = data;
    k->oneshot++;
}

static void on_repeat(sio_loop_timer *t, void *data)
{
    ticks *k = sio_loop_timer_data(t);
    assert_ptr_equal(k, data);
    if (++k->repeat == 3)
        sio_loop_timer_free(t); /* from its own callback */
}

static void test_timers(void **state)
{
    sio_loop *loop;
    assert_int_equal(sio_loop_new(&loop), 0);
    ticks k = {0};
    sio_loop_timer *one, *idle;
    assert_int_equal(sio_loop_timer_new(&one, loop, on_oneshot, &k), 0);
    assert_int_equal(sio_loop_timer_new(&k.rep, loop, on_repeat, &k), 0);
    assert_int_equal(sio_loop_timer_new(&idle, loop, NULL, &k), SIO_EINVAL);
    assert_int_equal(sio_loop_timer_new(&idle, loop, on_oneshot, &k), 0);
    k.started = sio_loop_now(loop);
    assert_int_equal(sio_loop_timer_start(one, 30, 0), 0);
    assert_int_equal(sio_loop_timer_start(k.rep, 5, 5), 0);
    assert_int_equal(sio_loop_timer_start(idle, 10, 0), 0);
    sio_loop_timer_stop(idle); /* stopped: never fires, does not hold the loop */
    assert_false(sio_loop_timer_active(idle));
    assert_true(sio_loop_timer_active(one));
    assert_int_equal(sio_loop_run(loop), 0); /* returns when no timer is active */
    assert_int_equal(k.oneshot, 1);
    assert_int_equal(k.repeat, 3);
    assert_false(sio_loop_timer_active(one));
    assert_true(sio_loop_now(loop) - k.started >= 30);
    sio_loop_timer_free(one);
    sio_loop_timer_free(idle);
    sio_loop_free(loop);
}

/* ------------------------------------------------------------ work queue */

typedef struct job {
    pthread_t loop_thread, worker;
    int ran, done, status;
} job;

static void job_work(void *data)
{
    job *j = data;
    j->worker = pthread_self();
    j->ran = 1;
}

static void job_done(int status, void *data)
{
    job *j = data;
    assert_true(pthread_equal(pthread_self(), j->loop_thread));
    j->done++;
    j->status = status;
}

static void test_work(void **state)
{
    sio_loop *loop;
    assert_int_equal(sio_loop_new(&loop), 0);
    job jobs[8] = {0};
    for (int i = 0; i < 8; i++) {
        jobs[i].loop_thread = pthread_self();
        assert_int_equal(sio_loop_work(loop, job_work, job_done, &jobs[i]), 0);
    }
    assert_int_equal(sio_loop_work(loop, NULL, job_done, &jobs[0]), SIO_EINVAL);
    assert_int_equal(sio_loop_run(loop), 0); /* kept alive until every done ran */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(jobs[i].ran, 1);
        assert_int_equal(jobs[i].done, 1);
        assert_int_equal(jobs[i].status, 0);
        assert_false(pthread_equal(jobs[i].worker, jobs[i].loop_thread));
    }
    sio_loop_free(loop);
}

/* ----------------------------------------------------------------- posts */

typedef struct poster {
    sio_loop *loop;
    int posted, ran;
} poster;

static void count_run(void *data)
{
    ((poster *)data)->ran++;
}

static void never(sio_loop_timer *t, void *data)
{
    fail();
}

static void stop_after(void *data)
{
    poster *p = data;
    if (++p->ran == 101)
        sio_loop_stop(p->loop);
}

static void *post_many(void *data)
{
    poster *p = data;
    for (int i = 0; i < 100; i++)
        p->posted += sio_loop_post(p->loop, stop_after, p) == 0;
    return NULL;
}

static void test_post(void **state)
{
    poster p = {0};
    assert_int_equal(sio_loop_new(&p.loop), 0);
    /* a timer keeps the loop running while the thread posts */
    sio_loop_timer *hold;
    assert_int_equal(sio_loop_timer_new(&hold, p.loop, never, &p), 0);
    assert_int_equal(sio_loop_timer_start(hold, 60000, 0), 0);
    pthread_t th;
    assert_int_equal(sio_loop_post(p.loop, stop_after, &p), 0);
    pthread_create(&th, NULL, post_many, &p);
    assert_int_equal(sio_loop_run(p.loop), 0);
    pthread_join(th, NULL);
    assert_int_equal(p.posted, 100);
    assert_int_equal(p.ran, 101);
    /* pending when the loop is freed: dropped, not run */
    poster late = {.loop = p.loop};
    assert_int_equal(sio_loop_post(p.loop, count_run, &late), 0);
    sio_loop_timer_free(hold);
    sio_loop_free(p.loop);
    assert_int_equal(late.ran, 0);
}

/* --------------------------------------------- on the program's uv loop */

typedef struct host {
    uv_loop_t uv;
    uv_timer_t app_timer; /* the program's own handle on the same loop */
    sio_loop *loop;
    sio_http_server *http;
    sio_server *io;
    sio_loop_timer *t;
    int app_ticks, sio_ticks, shut;
} host;

static void on_shutdown(void *data)
{
    ((host *)data)->shut++;
}

static void on_sio_tick(sio_loop_timer *t, void *data)
{
    host *h = data;
    h->sio_ticks++;
    sio_loop_timer_free(t);
    sio_server_shutdown(h->io, on_shutdown, h);
    sio_server_shutdown(h->io, on_shutdown, h); /* a second call does nothing */
}

static void on_app_tick(uv_timer_t *t)
{
    host *h = t->data;
    h->app_ticks++;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_program_loop(void **state)
{
    host h = {0};
    assert_int_equal(uv_loop_init(&h.uv), 0);
    assert_int_equal(sio_loop_new_from_uv(&h.loop, NULL), SIO_EINVAL);
    assert_int_equal(sio_loop_new_from_uv(&h.loop, &h.uv), 0);
    assert_ptr_equal(sio_loop_uv(h.loop), &h.uv);
    uv_timer_init(&h.uv, &h.app_timer);
    h.app_timer.data = &h;
    uv_timer_start(&h.app_timer, on_app_tick, 5, 0);
    sio_server_options o;
    sio_server_options_init(&o);
    assert_int_equal(sio_http_server_new(&h.http, h.loop, NULL), 0);
    assert_int_equal(sio_server_new(&h.io, h.http, &o), 0);
    assert_int_equal(sio_http_server_listen(h.http, "127.0.0.1", 0), 0);
    assert_int_equal(sio_loop_timer_new(&h.t, h.loop, on_sio_tick, &h), 0);
    assert_int_equal(sio_loop_timer_start(h.t, 20, 0), 0);
    /* the program runs its loop; it ends when both sides are done */
    assert_int_equal(uv_run(&h.uv, UV_RUN_DEFAULT), 0);
    assert_int_equal(h.app_ticks, 1);
    assert_int_equal(h.sio_ticks, 1);
    assert_int_equal(h.shut, 1);
    sio_loop_free(h.loop);
    assert_int_equal(uv_loop_close(&h.uv), UV_EBUSY); /* sioc's handles still closing */
    uv_run(&h.uv, UV_RUN_DEFAULT);                    /* ... and now released */
    assert_int_equal(uv_loop_close(&h.uv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_work),
        cmocka_unit_test(test_post),
        cmocka_unit_test(test_program_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
