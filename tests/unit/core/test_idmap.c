/* Unit tests for core/idmap: ids before and after the link in their
 * object, lookups by length (no NUL needed, prefixes and extensions are
 * other ids), a randomised comparison with a naive model that grows and
 * shrinks the table, walks, draining with removals of other nodes, and a
 * failed first allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/idmap.h"
#include "core/list.h"
#include "sioc.h"
#include "../xorshift.h"

/* The engine's layout: the id before the link. */
typedef struct id_first {
    char id[25];
    int payload;
    sio__idmap_node node;
} id_first;

/* The socket layer's layout: the id after the link. */
typedef struct id_after {
    sio__idmap_node node;
    int payload;
    char id[24];
} id_after;

static id_first *first_of(sio__idmap_node *n)
{
    return n ? SIO_CONTAINER_OF(n, id_first, node) : NULL;
}

static void test_basic(void **state)
{
    (void)state;
    sio__idmap m;
    sio__idmap_init(&m, SIO__IDMAP_KEY_OFFSET(id_first, node, id));
    id_first a = {.id = "abc"}, b = {.id = "abcd"}, c = {.id = ""};
    assert_null(sio__idmap_find(&m, "abc", 3));
    assert_null(sio__idmap_any(&m));
    assert_int_equal(sio__idmap_remove(&m, &a.node), 0); /* absent: nothing */
    assert_int_equal(sio__idmap_add(&m, &a.node), 0);
    assert_int_equal(sio__idmap_add(&m, &b.node), 0);
    assert_int_equal(sio__idmap_add(&m, &c.node), 0);
    assert_int_equal(sio__idmap_size(&m), 3);
    assert_int_equal(m.nbuckets, SIO__IDMAP_MIN_BUCKETS);
    assert_ptr_equal(first_of(sio__idmap_find(&m, "abc", 3)), &a);
    assert_ptr_equal(first_of(sio__idmap_find(&m, "abcd", 4)), &b);
    assert_ptr_equal(first_of(sio__idmap_find(&m, "", 0)), &c);
    /* The length decides: a prefix, an extension, an embedded NUL are
     * other ids, and the bytes need no NUL of their own. */
    assert_null(sio__idmap_find(&m, "ab", 2));
    assert_null(sio__idmap_find(&m, "abcde", 5));
    assert_null(sio__idmap_find(&m, "abc\0", 4));
    assert_ptr_equal(first_of(sio__idmap_find(&m, "abcdef", 3)), &a);
    assert_int_equal(sio__idmap_remove(&m, &b.node), 1);
    assert_int_equal(sio__idmap_remove(&m, &b.node), 0);
    assert_null(sio__idmap_find(&m, "abcd", 4));
    assert_ptr_equal(first_of(sio__idmap_find(&m, "abc", 3)), &a);
    assert_int_equal(sio__idmap_remove(&m, &a.node), 1);
    assert_int_equal(sio__idmap_remove(&m, &c.node), 1);
    /* An emptied table holds no memory. */
    assert_int_equal(sio__idmap_size(&m), 0);
    assert_null(m.buckets);
    sio__idmap_free(&m);
}

enum { NOBJ = 2000 };
static id_after objs[NOBJ];
static int present[NOBJ];
static uint64_t rng_state;

static uint64_t rnd(void)
{
    return xorshift64(&rng_state);
}

static void make_objs(void)
{
    for (int i = 0; i < NOBJ; i++) {
        snprintf(objs[i].id, sizeof objs[i].id, "id-%d", i);
        objs[i].payload = i;
        present[i] = 0;
    }
}

static id_after *after_of(sio__idmap_node *n)
{
    return n ? SIO_CONTAINER_OF(n, id_after, node) : NULL;
}

/* A table of id_after objects holding the first n of objs. */
static void table_of(sio__idmap *m, int n)
{
    sio__idmap_init(m, SIO__IDMAP_KEY_OFFSET(id_after, node, id));
    make_objs();
    for (int i = 0; i < n; i++) {
        assert_int_equal(sio__idmap_add(m, &objs[i].node), 0);
        present[i] = 1;
    }
}

/* Random adds, finds and removes against a presence array; the table
 * grows past NOBJ / 2 nodes and shrinks back as removals win. */
static void test_random_model(void **state)
{
    (void)state;
    sio__idmap m;
    table_of(&m, 0);
    size_t n = 0, max_buckets = 0;
    rng_state = 0x9e3779b9;
    for (int step = 0; step < 200000; step++) {
        int i = (int)(rnd() % NOBJ);
        /* The first half mostly adds, the second only removes. */
        int add_bias = step < 100000 ? 3 : 0, op = (int)(rnd() % (add_bias + 3));
        if (op < add_bias) {
            if (!present[i]) {
                assert_int_equal(sio__idmap_add(&m, &objs[i].node), 0);
                present[i] = 1;
                n++;
            }
        } else if (op == add_bias) {
            assert_int_equal(sio__idmap_remove(&m, &objs[i].node), present[i]);
            n -= present[i];
            present[i] = 0;
        } else {
            id_after *o = after_of(sio__idmap_find(&m, objs[i].id, strlen(objs[i].id)));
            assert_ptr_equal(o, present[i] ? &objs[i] : NULL);
        }
        assert_int_equal(sio__idmap_size(&m), n);
        assert_true(m.nbuckets == 0 || n <= m.nbuckets); /* load <= 1 */
        if (m.nbuckets > max_buckets)
            max_buckets = m.nbuckets;
    }
    assert_true(max_buckets >= 1024);
    assert_true(m.nbuckets < max_buckets); /* shrunk as it emptied */
    for (int i = 0; i < NOBJ; i++)
        assert_ptr_equal(after_of(sio__idmap_find(&m, objs[i].id, strlen(objs[i].id))),
                         present[i] ? &objs[i] : NULL);
    sio__idmap_free(&m);
}

/* A walk returns every node once. */
static void test_iter(void **state)
{
    (void)state;
    sio__idmap m;
    static int seen[NOBJ];
    sio__idmap_iter it;
    table_of(&m, 0);
    sio__idmap_iter_init(&it, &m);
    assert_null(sio__idmap_iter_next(&it)); /* empty, no bucket array */
    table_of(&m, 300);
    sio__idmap_iter_init(&it, &m);
    sio__idmap_node *node;
    int count = 0;
    while ((node = sio__idmap_iter_next(&it)) != NULL) {
        seen[after_of(node)->payload]++;
        count++;
    }
    assert_null(sio__idmap_iter_next(&it)); /* stays done */
    assert_int_equal(count, 300);
    for (int i = 0; i < 300; i++)
        assert_int_equal(seen[i], 1);
    sio__idmap_free(&m);
}

/* Draining with sio__idmap_any while each removal also takes another node
 * (the engine's on_close closing other sessions) and the table shrinks
 * under the drain. */
static void test_drain(void **state)
{
    (void)state;
    sio__idmap m;
    table_of(&m, NOBJ);
    sio__idmap_node *node;
    int removed = 0, rounds = 0;
    while ((node = sio__idmap_any(&m)) != NULL) {
        int i = after_of(node)->payload;
        assert_int_equal(sio__idmap_remove(&m, node), 1);
        removed++;
        int other = (i * 7 + 3) % NOBJ;
        removed += sio__idmap_remove(&m, &objs[other].node);
        rounds++;
        assert_int_equal(sio__idmap_size(&m), (size_t)(NOBJ - removed));
    }
    assert_int_equal(removed, NOBJ);
    assert_true(rounds < NOBJ);
    assert_null(m.buckets);
    sio__idmap_free(&m);
}

/* The first bucket array failing leaves the table empty and usable; a
 * failed growth only lengthens chains. */
static void test_oom(void **state)
{
    (void)state;
    sio__idmap m;
    table_of(&m, 0);
    sio__alloc_fail_after(1);
    assert_int_equal(sio__idmap_add(&m, &objs[0].node), SIO_ENOMEM);
    sio__alloc_fail_after(0);
    assert_int_equal(sio__idmap_size(&m), 0);
    assert_null(sio__idmap_find(&m, objs[0].id, strlen(objs[0].id)));
    for (int i = 0; i < SIO__IDMAP_MIN_BUCKETS; i++)
        assert_int_equal(sio__idmap_add(&m, &objs[i].node), 0);
    sio__alloc_fail_after(1); /* the doubling fails */
    assert_int_equal(sio__idmap_add(&m, &objs[SIO__IDMAP_MIN_BUCKETS].node), 0);
    sio__alloc_fail_after(0);
    assert_int_equal(m.nbuckets, SIO__IDMAP_MIN_BUCKETS);
    for (int i = 0; i <= SIO__IDMAP_MIN_BUCKETS; i++)
        assert_ptr_equal(after_of(sio__idmap_find(&m, objs[i].id, strlen(objs[i].id))), &objs[i]);
    sio__idmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic), cmocka_unit_test(test_random_model),
        cmocka_unit_test(test_iter),  cmocka_unit_test(test_drain),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
