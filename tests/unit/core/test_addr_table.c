/* Unit tests for core/addr_table (the bucket has test_bucket.c): the
 * table's connection counts, handshake buckets per address, expiry of idle entries, the cap
 * (eviction of the least recently used entry, never of one holding
 * connections), a flood of distinct addresses staying bounded, and
 * allocation failure. Time is passed in, never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr_table.h"
#include "core/alloc.h"

static void test_conns(void **state)
{
    (void)state;
    sio__addr_table t;
    sio__addr_table_init(&t, 0, 0, 0);
    sio__addr_entry *a = sio__addr_table_get(&t, "127.0.0.1", 0);
    assert_non_null(a);
    a->conns++;
    sio__addr_entry *a2 = sio__addr_table_get(&t, "127.0.0.1", 5);
    assert_ptr_equal(a, a2);
    a2->conns++;
    sio__addr_entry *b = sio__addr_table_get(&t, "::1", 5);
    b->conns++;
    assert_int_equal(sio__addr_table_size(&t), 2);
    b->conns--;
    sio__addr_table_release(&t, b, 6); /* nothing left: dropped at once */
    assert_int_equal(sio__addr_table_size(&t), 1);
    a->conns--;
    sio__addr_table_release(&t, a, 7); /* still one open */
    assert_int_equal(sio__addr_table_size(&t), 1);
    assert_int_equal(sio__addr_table_get(&t, "127.0.0.1", 8)->conns, 1);
    a->conns--;
    sio__addr_table_release(&t, a, 9);
    assert_int_equal(sio__addr_table_size(&t), 0);
    sio__addr_table_free(&t);
}

static void test_handshakes(void **state)
{
    (void)state;
    sio__addr_table t;
    sio__addr_table_init(&t, 0, 10, 5); /* 10 a second, bursts of 5 */
    for (int i = 0; i < 5; i++)
        assert_int_equal(sio__addr_table_take(&t, "10.0.0.1", 100), 1);
    assert_int_equal(sio__addr_table_take(&t, "10.0.0.1", 100), 0);
    assert_int_equal(sio__addr_table_take(&t, "10.0.0.2", 100), 1); /* its own bucket */
    assert_int_equal(sio__addr_table_take(&t, "10.0.0.1", 199), 0);
    assert_int_equal(sio__addr_table_take(&t, "10.0.0.1", 200), 1); /* 100 ms = one token */
    assert_int_equal(sio__addr_table_size(&t), 2);
    /* once both buckets are full again, the next lookups drop them */
    assert_int_equal(sio__addr_table_take(&t, "10.0.0.3", 10000), 1);
    assert_int_equal(sio__addr_table_size(&t), 1);
    sio__addr_table_free(&t);
}

static void test_cap(void **state)
{
    (void)state;
    sio__addr_table t;
    sio__addr_table_init(&t, 3, 1, 1); /* one a second: an entry lives 1 s */
    sio__addr_entry *held = sio__addr_table_get(&t, "a", 0);
    held->conns = 1;
    assert_int_equal(sio__addr_table_take(&t, "b", 0), 1);
    assert_int_equal(sio__addr_table_take(&t, "c", 0), 1);
    assert_int_equal(sio__addr_table_size(&t), 3);
    /* full: "a" is the oldest but holds a connection... */
    assert_null(sio__addr_table_get(&t, "d", 10));
    assert_int_equal(sio__addr_table_take(&t, "d", 10), 1); /* untracked: let through */
    /* ...once it is the youngest, "b" goes (not yet expired: counted) */
    assert_non_null(sio__addr_table_get(&t, "a", 10));
    assert_non_null(sio__addr_table_get(&t, "d", 10));
    assert_int_equal(t.evictions, 1);
    assert_int_equal(sio__addr_table_size(&t), 3);
    assert_null(sio__map_get(&t.map, "b", 1));
    /* "b" starts again with a full bucket */
    assert_int_equal(sio__addr_table_take(&t, "b", 20), 1);
    assert_int_equal(t.evictions, 2);
    sio__addr_table_free(&t);
}

/* 100,000 addresses each sending once, 1 ms apart, into an uncapped table
 * whose entries live 500 ms: expiry keeps it near 500 entries. */
static void test_flood_bounded(void **state)
{
    (void)state;
    sio__addr_table t;
    sio__addr_table_init(&t, 0, 2, 1);
    size_t peak = 0;
    char addr[32];
    for (uint64_t i = 0; i < 100000; i++) {
        snprintf(addr, sizeof addr, "10.%u.%u.%u", (unsigned)(i >> 16) & 255,
                 (unsigned)(i >> 8) & 255, (unsigned)i & 255);
        assert_int_equal(sio__addr_table_take(&t, addr, i), 1);
        if (sio__addr_table_size(&t) > peak)
            peak = sio__addr_table_size(&t);
    }
    assert_true(peak <= 502);
    sio__addr_table_free(&t);
}

static void test_oom(void **state)
{
    (void)state;
    sio__addr_table t;
    sio__addr_table_init(&t, 0, 1, 1);
    for (unsigned long n = 1; n <= 4; n++) {
        sio__alloc_fail_after(n);
        sio__addr_entry *e = sio__addr_table_get(&t, "x", 0);
        sio__alloc_fail_after(0);
        if (e == NULL)
            assert_int_equal(sio__addr_table_size(&t), 0);
        else
            assert_int_equal(sio__addr_table_size(&t), 1);
    }
    sio__alloc_fail_after(1);
    assert_int_equal(sio__addr_table_take(&t, "y", 0), 1); /* fails open */
    sio__alloc_fail_after(0);
    sio__addr_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conns), cmocka_unit_test(test_handshakes),
        cmocka_unit_test(test_cap),   cmocka_unit_test(test_flood_bounded),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
