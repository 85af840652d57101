/* Unit tests for core/timer: exact firing against a naive model under
 * random start/stop/restart/run sequences (including callbacks that re-arm
 * or stop timers), next() as a lower bound, periodic timers, long
 * deadlines, and 100k timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/timer.h"
#include "../xorshift.h"

static uint64_t rng_state;
static uint64_t rnd(void)
{
    return xorshift64(&rng_state);
}

/* ------------------------------------------------------------ the model */

#define NT 300

typedef struct model {
    sio__timer t;
    int armed;         /* model: armed and not yet fired */
    int armed_in_run;  /* armed from a callback during the current run */
    uint64_t deadline; /* model copy of the deadline */
    unsigned fires;    /* total fires */
} model;

static model tm[NT];
static sio__timers wheel;
static uint64_t run_now; /* now of the run in progress */
static int in_run;
static size_t cb_count;

/* A deadline near base with a mix of scales, sometimes in the past. */
static uint64_t rand_deadline(uint64_t base)
{
    switch (rnd() % 6) {
    case 0:
        return base - rnd() % (base < 100 ? base + 1 : 100);
    case 1:
        return base + rnd() % 70;
    case 2:
        return base + rnd() % 5000;
    case 3:
        return base + rnd() % 300000;
    case 4:
        return base + rnd() % (3ULL * 86400 * 1000); /* days */
    default:
        return base;
    }
}

static void arm(model *m, uint64_t d)
{
    sio__timer_start(&wheel, &m->t, d);
    m->armed = 1;
    m->deadline = d;
    m->armed_in_run = in_run;
}

static void model_cb(sio__timer *t, void *data)
{
    model *m = data;
    assert_ptr_equal(&m->t, t);
    assert_true(in_run);
    assert_true(m->armed);               /* exactly once per arm */
    assert_false(sio__timer_active(t));  /* inactive inside its callback */
    assert_true(m->deadline <= run_now); /* never early */
    m->armed = 0;
    m->fires++;
    cb_count++;
    uint64_t r = rnd() % 8;
    if (r == 0) { /* re-arm self, maybe in the past */
        arm(m, rand_deadline(run_now));
    } else if (r == 1) { /* stop or re-arm some other timer */
        model *o = &tm[rnd() % NT];
        if (rnd() % 2) {
            sio__timer_stop(&o->t);
            o->armed = 0;
        } else {
            arm(o, rand_deadline(run_now));
        }
    }
}

static void check_next(void)
{
    uint64_t min = UINT64_MAX;
    size_t n = 0;
    for (int i = 0; i < NT; i++) {
        assert_int_equal(sio__timer_active(&tm[i].t), tm[i].armed);
        if (tm[i].armed) {
            n++;
            if (tm[i].deadline < min)
                min = tm[i].deadline;
        }
    }
    assert_int_equal(sio__timers_count(&wheel), n);
    uint64_t next = sio__timers_next(&wheel);
    assert_true(next <= min);
    if (n == 0)
        assert_true(next == UINT64_MAX);
}

static void do_run(uint64_t now)
{
    for (int i = 0; i < NT; i++)
        tm[i].armed_in_run = 0;
    in_run = 1;
    run_now = now;
    cb_count = 0;
    size_t fired = sio__timers_run(&wheel, now);
    in_run = 0;
    assert_int_equal(fired, cb_count);
    /* Everything armed before this run and due by now has fired. */
    for (int i = 0; i < NT; i++)
        if (tm[i].armed && !tm[i].armed_in_run)
            assert_true(tm[i].deadline > now);
}

static void model_sequence(uint64_t seed, uint64_t start)
{
    rng_state = seed;
    uint64_t now = start;
    sio__timers_init(&wheel, now);
    for (int i = 0; i < NT; i++) {
        sio__timer_init(&tm[i].t, model_cb, &tm[i]);
        tm[i].armed = 0;
        tm[i].fires = 0;
    }
    for (int step = 0; step < 40000; step++) {
        model *m = &tm[rnd() % NT];
        switch (rnd() % 5) {
        case 0:
        case 1:
            arm(m, rand_deadline(now));
            break;
        case 2:
            sio__timer_stop(&m->t);
            sio__timer_stop(&m->t); /* idempotent */
            m->armed = 0;
            break;
        default: {
            uint64_t r = rnd() % 10;
            /* Mostly small steps, sometimes jumps of minutes to days, and
             * sometimes straight to the next wake-up time. */
            uint64_t next = sio__timers_next(&wheel);
            if (r < 5)
                now += rnd() % 4;
            else if (r < 7)
                now += rnd() % 200;
            else if (r == 7)
                now += rnd() % (2ULL * 86400 * 1000);
            else if (next != UINT64_MAX && next > now)
                now = next;
            do_run(now);
        }
        }
        check_next();
    }
    /* Drain: every armed timer eventually fires exactly once. */
    for (int round = 0; round < 50 && sio__timers_count(&wheel); round++) {
        uint64_t next = sio__timers_next(&wheel);
        now = next > now ? next : now;
        do_run(now);
        check_next();
    }
    sio__timers_free(&wheel);
}

static void test_random_model(void **state)
{
    (void)state;
    model_sequence(0x9e3779b97f4a7c15ULL, 0);
    model_sequence(0x123456789ULL, 1000);
    /* A clock near a high-level boundary: cascades through many levels. */
    model_sequence(0xdeadbeefULL, ((uint64_t)1 << 36) - 5);
    model_sequence(0xfeedULL, 1700000000000ULL);
}

/* ------------------------------------------------------- focused tests */

static unsigned fired_count;
static uint64_t fired_at[64];
static uint64_t now_g;

static void record_cb(sio__timer *t, void *data)
{
    (void)data;
    fired_at[fired_count++ % 64] = now_g;
    assert_true(t->deadline <= now_g);
}

static void test_basics(void **state)
{
    (void)state;
    sio__timers w;
    sio__timer a, b;
    sio__timers_init(&w, 100);
    sio__timer_init(&a, record_cb, NULL);
    sio__timer_init(&b, record_cb, NULL);
    assert_true(sio__timers_next(&w) == UINT64_MAX);
    assert_false(sio__timer_active(&a));
    fired_count = 0;
    sio__timer_start(&w, &a, 150);
    assert_true(sio__timer_active(&a));
    assert_true(sio__timers_next(&w) <= 150);
    now_g = 149;
    assert_int_equal(sio__timers_run(&w, 149), 0);
    assert_true(sio__timer_active(&a));
    now_g = 150;
    assert_int_equal(sio__timers_run(&w, 150), 1);
    assert_false(sio__timer_active(&a));
    assert_int_equal(sio__timers_run(&w, 10000), 0); /* only once */
    /* A deadline in the past fires on the next run, whatever its now. */
    sio__timer_start(&w, &a, 5);
    assert_true(sio__timers_next(&w) <= 5);
    now_g = 10000;
    assert_int_equal(sio__timers_run(&w, 10000), 1);
    /* Restart moves the deadline; stop disarms. */
    sio__timer_start(&w, &a, 10100);
    sio__timer_start(&w, &a, 10200);
    sio__timer_start(&w, &b, 10150);
    sio__timer_stop(&b);
    now_g = 10199;
    assert_int_equal(sio__timers_run(&w, 10199), 0);
    now_g = 10200;
    assert_int_equal(sio__timers_run(&w, 10200), 1);
    /* free deactivates without calling back. */
    sio__timer_start(&w, &a, 20000);
    sio__timer_start(&w, &b, 5);
    sio__timers_free(&w);
    assert_false(sio__timer_active(&a));
    assert_false(sio__timer_active(&b));
    sio__timer_stop(&a);
    assert_int_equal(fired_count, 3);
}

/* next() is exact for timers within the current 64 ms block. */
static void test_next_exact(void **state)
{
    (void)state;
    sio__timers w;
    sio__timer a;
    sio__timers_init(&w, 64 * 10);
    sio__timer_init(&a, record_cb, NULL);
    sio__timer_start(&w, &a, 64 * 10 + 17);
    assert_true(sio__timers_next(&w) == 64 * 10 + 17);
    /* Far away: next() may be an earlier cascade point, never later. */
    sio__timer_start(&w, &a, 64 * 10 + 25000);
    uint64_t n = sio__timers_next(&w);
    assert_true(n <= 64 * 10 + 25000);
    assert_true(n > 64 * 10);
    sio__timers_free(&w);
}

static unsigned periodic_fires;
static sio__timers *periodic_wheel;

/* Re-arms itself every 7 ms from its own deadline (drift-free). */
static void periodic_cb(sio__timer *t, void *data)
{
    (void)data;
    assert_true(t->deadline <= now_g);
    periodic_fires++;
    sio__timer_start(periodic_wheel, t, t->deadline + 7);
}

static void test_periodic(void **state)
{
    (void)state;
    sio__timers w;
    sio__timer p;
    periodic_wheel = &w;
    sio__timers_init(&w, 0);
    sio__timer_init(&p, periodic_cb, NULL);
    sio__timer_start(&w, &p, 7);
    rng_state = 42;
    periodic_fires = 0;
    for (now_g = 0; now_g < 100000;) {
        now_g += 1 + rnd() % 20;
        sio__timers_run(&w, now_g);
        /* Fires for every multiple of 7 up to now, even across big steps. */
        assert_int_equal(periodic_fires, now_g / 7);
    }
    sio__timers_free(&w);
}

/* A callback stopping another timer due on the same tick prevents it. */
static sio__timer pair[2];
static unsigned pair_fires;
static void pair_cb(sio__timer *t, void *data)
{
    (void)data;
    pair_fires++;
    sio__timer_stop(&pair[t == &pair[0] ? 1 : 0]);
}

static void test_stop_in_callback(void **state)
{
    (void)state;
    sio__timers w;
    sio__timers_init(&w, 0);
    sio__timer_init(&pair[0], pair_cb, NULL);
    sio__timer_init(&pair[1], pair_cb, NULL);
    sio__timer_start(&w, &pair[0], 300);
    sio__timer_start(&w, &pair[1], 300);
    pair_fires = 0;
    assert_int_equal(sio__timers_run(&w, 1000), 1);
    assert_int_equal(pair_fires, 1);
    assert_int_equal(sio__timers_count(&w), 0);
    assert_true(sio__timers_next(&w) == UINT64_MAX);
    sio__timers_free(&w);
}

/* A callback re-arming itself at a deadline already reached (its own, or
 * now) fires again on the next run, never twice in one run (no livelock). */
static unsigned rearm_fires;
static sio__timers *rearm_wheel;
static void rearm_cb(sio__timer *t, void *data)
{
    (void)data;
    if (++rearm_fires < 100) /* bound a broken wheel's loop */
        sio__timer_start(rearm_wheel, t, rearm_fires % 2 ? t->deadline : now_g);
}

static void test_rearm_past_in_callback(void **state)
{
    (void)state;
    sio__timers w;
    sio__timer a;
    rearm_wheel = &w;
    sio__timers_init(&w, 0);
    sio__timer_init(&a, rearm_cb, NULL);
    sio__timer_start(&w, &a, 10);
    rearm_fires = 0;
    now_g = 20;
    assert_int_equal(sio__timers_run(&w, now_g), 1);
    assert_true(sio__timer_active(&a));
    assert_true(sio__timers_next(&w) <= 10);
    assert_int_equal(sio__timers_run(&w, now_g), 1); /* same now: next run */
    now_g = 21;
    assert_int_equal(sio__timers_run(&w, now_g), 1);
    assert_int_equal(rearm_fires, 3);
    sio__timers_free(&w);
}

/* Deadlines days away fire at the right run after big and small steps. */
static void test_long_deadlines(void **state)
{
    (void)state;
    sio__timers w;
    sio__timer a;
    uint64_t day = 86400ULL * 1000;
    sio__timers_init(&w, 12345);
    sio__timer_init(&a, record_cb, NULL);
    sio__timer_start(&w, &a, 12345 + 3 * day);
    fired_count = 0;
    now_g = 12345 + 3 * day - 1000;
    assert_int_equal(sio__timers_run(&w, now_g), 0);
    for (unsigned i = 0; i < 999; i++) {
        now_g++;
        assert_int_equal(sio__timers_run(&w, now_g), 0);
    }
    now_g++;
    assert_int_equal(sio__timers_run(&w, now_g), 1);
    /* Extreme values do not wrap the clock. */
    sio__timer_start(&w, &a, UINT64_MAX - 1);
    now_g = UINT64_MAX;
    assert_int_equal(sio__timers_run(&w, UINT64_MAX), 1);
    sio__timers_free(&w);
}

/* ---------------------------------------------------------- 100k timers */

#define NBIG 100000
static sio__timer big[NBIG];
static unsigned char big_fires[NBIG];
static uint64_t big_now;
static unsigned big_rearm; /* heartbeat mode: re-arm with this period */
static sio__timers big_wheel;

static void big_cb(sio__timer *t, void *data)
{
    size_t i = (size_t)(t - big);
    (void)data;
    assert_true(t->deadline <= big_now);
    /* Never more than one run late: runs happen every ms here. */
    assert_true(big_now - t->deadline <= 1);
    big_fires[i]++;
    if (big_rearm)
        sio__timer_start(&big_wheel, t, t->deadline + big_rearm);
}

static void test_100k(void **state)
{
    (void)state;
    rng_state = 7;
    sio__timers_init(&big_wheel, 0);
    memset(big_fires, 0, sizeof big_fires);
    big_rearm = 0;
    for (size_t i = 0; i < NBIG; i++) {
        sio__timer_init(&big[i], big_cb, NULL);
        sio__timer_start(&big_wheel, &big[i], 1 + rnd() % 60000);
    }
    /* Stop a tenth of them again. */
    for (size_t i = 0; i < NBIG; i += 10)
        sio__timer_stop(&big[i]);
    size_t total = 0;
    for (big_now = 1; big_now <= 60000; big_now++)
        total += sio__timers_run(&big_wheel, big_now);
    assert_int_equal(total, NBIG - NBIG / 10);
    for (size_t i = 0; i < NBIG; i++)
        assert_int_equal(big_fires[i], i % 10 ? 1 : 0);
    assert_int_equal(sio__timers_count(&big_wheel), 0);

    /* Heartbeats: every timer re-arms itself every 25 s for 2 minutes of
     * simulated time, driven by next() like the net layer would. */
    big_rearm = 25000;
    memset(big_fires, 0, sizeof big_fires);
    for (size_t i = 0; i < NBIG; i++)
        sio__timer_start(&big_wheel, &big[i], 60000 + 1 + rnd() % 25000);
    size_t wakeups = 0;
    while ((big_now = sio__timers_next(&big_wheel)) <= 60000 + 120000) {
        sio__timers_run(&big_wheel, big_now);
        wakeups++;
    }
    for (size_t i = 0; i < NBIG; i++) {
        uint64_t first = big[i].deadline - 25000ULL * big_fires[i];
        assert_true(big_fires[i] >= 4 && big_fires[i] <= 5);
        assert_true(first > 60000 && first <= 85000);
    }
    assert_true(wakeups < 200000);
    sio__timers_free(&big_wheel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_next_exact),
        cmocka_unit_test(test_periodic),
        cmocka_unit_test(test_stop_in_callback),
        cmocka_unit_test(test_rearm_past_in_callback),
        cmocka_unit_test(test_long_deadlines),
        cmocka_unit_test(test_random_model),
        cmocka_unit_test(test_100k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
