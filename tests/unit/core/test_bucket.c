/* Unit tests for core/bucket (sio_bucket): the refill to the millisecond,
 * the burst, clamping, rate 0, the clock's wrap, no drift over a long run
 * (tokens are integers), and the chat's use of it (a burst of one second's
 * worth, then the rate). Time is passed in, never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/bucket.h"

static void test_bucket_refill(void **state)
{
    (void)state;
    sio_bucket b;
    sio_bucket_init(&b, 3, 1000); /* 2 a second, 3 at most */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sio_bucket_take(&b, 2, 3, 1000), 1);
    assert_int_equal(sio_bucket_take(&b, 2, 3, 1000), 0);
    assert_int_equal(sio_bucket_take(&b, 2, 3, 1499), 0); /* 0.998 tokens */
    assert_int_equal(sio_bucket_take(&b, 2, 3, 1500), 1); /* one whole token */
    assert_int_equal(sio_bucket_take(&b, 2, 3, 1500), 0);
    assert_false(sio__bucket_full(&b, 2, 3, 2999));
    assert_true(sio__bucket_full(&b, 2, 3, 3000));
    /* a long pause refills to the burst, never more */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sio_bucket_take(&b, 2, 3, 1000000), 1);
    assert_int_equal(sio_bucket_take(&b, 2, 3, 1000000), 0);
}

static void test_bucket_edges(void **state)
{
    (void)state;
    sio_bucket b;
    sio_bucket_init(&b, 1, 0);
    assert_int_equal(sio_bucket_take(&b, 0, 1, 0), 1);
    assert_int_equal(sio_bucket_take(&b, 0, 1, 100000), 0); /* rate 0: never refills */
    /* a burst over the maximum is clamped, not wrapped */
    sio_bucket_init(&b, UINT32_MAX, 0);
    assert_int_equal(b.level, SIO_BUCKET_MAX_BURST * 1000u);
    assert_int_equal(sio_bucket_take(&b, 1000000, UINT32_MAX, 10), 1);
    /* the ms clock wraps at 2^32 without a jump */
    sio_bucket_init(&b, 1, UINT32_MAX - 5);
    assert_int_equal(sio_bucket_take(&b, 1000, 1, UINT32_MAX - 5), 1);
    assert_int_equal(sio_bucket_take(&b, 1000, 1, (uint64_t)UINT32_MAX + 1), 1); /* 6 ms later */
    assert_int_equal(sio_bucket_take(&b, 1000, 1, (uint64_t)UINT32_MAX + 1), 0);
}

/* Integer tokens: a rate that is no binary fraction (3 a second, one
 * token per 333.3 ms) gives exactly rate * seconds over a long run of
 * 1 ms steps, where summing float thirds drifts. */
static void test_bucket_no_drift(void **state)
{
    (void)state;
    sio_bucket b;
    sio_bucket_init(&b, 3, 0);
    int got = 0;
    for (uint64_t t = 0; t < 3600 * 1000; t++)
        got += sio_bucket_take(&b, 3, 3, t);
    assert_int_equal(got, 3 + 3 * 3600 - 1); /* the burst, then one per 1/3 s */
}

/* The chat's limiter: rate = burst = max_rate messages a second. A burst of
 * max_rate at once, then one per 1000 / max_rate ms. */
static void test_bucket_chat_rate(void **state)
{
    (void)state;
    const uint32_t rate = 1000;
    sio_bucket b;
    sio_bucket_init(&b, rate, 5000);
    for (uint32_t i = 0; i < rate; i++)
        assert_int_equal(sio_bucket_take(&b, rate, rate, 5000), 1);
    assert_int_equal(sio_bucket_take(&b, rate, rate, 5000), 0);
    for (uint64_t t = 5001; t < 6000; t++) {
        assert_int_equal(sio_bucket_take(&b, rate, rate, t), 1);
        assert_int_equal(sio_bucket_take(&b, rate, rate, t), 0);
    }
    sio_bucket_init(&b, 10, 0); /* 10 a second: a token each 100 ms */
    for (int i = 0; i < 10; i++)
        assert_int_equal(sio_bucket_take(&b, 10, 10, 0), 1);
    assert_int_equal(sio_bucket_take(&b, 10, 10, 99), 0);
    assert_int_equal(sio_bucket_take(&b, 10, 10, 100), 1);
    assert_false(sio__bucket_full(&b, 10, 10, 1099));
    assert_true(sio__bucket_full(&b, 10, 10, 1100));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_refill),
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_bucket_no_drift),
        cmocka_unit_test(test_bucket_chat_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
