/* Unit tests for core/random: buffers of every size are filled (including
 * those above getrandom's 256-byte single-call guarantee), two draws
 * differ, and an empty request succeeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/random.h"
#include "sioc.h"

/* Each byte position takes more than one value over a few draws: a buffer
 * left partly unfilled (zeros) would keep the same value. */
static void test_fills_whole_buffer(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 18, 20, 255, 256, 257, 4096};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        unsigned char a[4096], b[4096];
        memset(a, 0, n);
        assert_int_equal(sio__random_bytes(a, n), 0);
        int varied = 0;
        for (int tries = 0; tries < 8 && !varied; tries++) {
            assert_int_equal(sio__random_bytes(b, n), 0);
            varied = a[n - 1] != b[n - 1] && a[0] != b[0];
        }
        assert_true(varied);
    }
}

/* Two 32-byte draws are (overwhelmingly likely) different. */
static void test_draws_differ(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    assert_int_equal(sio__random_bytes(a, sizeof a), 0);
    assert_int_equal(sio__random_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_empty(void **state)
{
    (void)state;
    assert_int_equal(sio__random_bytes(NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fills_whole_buffer),
        cmocka_unit_test(test_draws_differ),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
