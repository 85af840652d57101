/* Unit tests for core/map: SipHash against the published vectors, basic
 * semantics, a randomised comparison with a naive model, iteration with
 * removal, growth and shrinking, and allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/map.h"
#include "../xorshift.h"
#include "sioc.h"

/* SipHash-2-4 reference vectors (key 00..0f, message 00..len-1). */
static void test_siphash_vectors(void **state)
{
    (void)state;
    uint64_t key[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    unsigned char msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    assert_true(sio__siphash(key, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ULL);
    assert_true(sio__siphash(key, msg, 1, 2, 4) == 0x74f839c593dc67fdULL);
    assert_true(sio__siphash(key, msg, 8, 2, 4) == 0x93f5f5799a932462ULL);
    assert_true(sio__siphash(key, msg, 15, 2, 4) == 0xa129ca6149be45e5ULL);
    /* 1-3 differs from 2-4 and depends on every byte. */
    assert_true(sio__siphash(key, msg, 15, 1, 3) != sio__siphash(key, msg, 15, 2, 4));
    assert_true(sio__siphash(key, msg, 16, 1, 3) != sio__siphash(key, msg, 15, 1, 3));
}

static void test_basic(void **state)
{
    (void)state;
    sio__map m;
    int a = 1, b = 2;
    sio__map_init(&m);
    assert_null(sio__map_get(&m, "x", 1));
    assert_null(sio__map_remove(&m, "x", 1));
    assert_int_equal(sio__map_put(&m, "room", 4, &a), 0);
    assert_int_equal(sio__map_put(&m, "room", 4, &b), SIO_EEXIST);
    assert_ptr_equal(sio__map_get(&m, "room", 4), &a); /* unchanged */
    assert_null(sio__map_get(&m, "roo", 3));
    assert_null(sio__map_get(&m, "room2", 5));
    /* Keys are bytes: embedded NUL and the empty key are distinct keys. */
    assert_int_equal(sio__map_put(&m, "a\0b", 3, &b), 0);
    assert_int_equal(sio__map_put(&m, "", 0, &a), 0);
    assert_null(sio__map_get(&m, "a", 1));
    assert_ptr_equal(sio__map_get(&m, "a\0b", 3), &b);
    assert_ptr_equal(sio__map_get(&m, "", 0), &a);
    assert_ptr_equal(sio__map_get(&m, NULL, 0), &a); /* NULL is fine for the empty key */
    assert_int_equal(sio__map_put(&m, NULL, 0, &b), SIO_EEXIST);
    assert_int_equal(sio__map_size(&m), 3);
    assert_ptr_equal(sio__map_remove(&m, "room", 4), &a);
    assert_null(sio__map_get(&m, "room", 4));
    assert_int_equal(sio__map_size(&m), 2);
    /* The key is copied: mutating the caller's buffer changes nothing. */
    char k[8] = "abc";
    assert_int_equal(sio__map_put(&m, k, 3, &a), 0);
    k[0] = 'z';
    assert_ptr_equal(sio__map_get(&m, "abc", 3), &a);
    assert_null(sio__map_get(&m, k, 3));
    sio__map_free(&m);
    assert_int_equal(sio__map_size(&m), 0);
    assert_null(sio__map_get(&m, "abc", 3));
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
    return (uint32_t)(xorshift64(&rng_state) >> 16);
}

#define NKEYS 3000
static char keys[NKEYS][16];
static size_t klens[NKEYS];
static int present[NKEYS];

/* Random put/get/remove against a presence array; values are key numbers. */
static void test_random_model(void **state)
{
    (void)state;
    sio__map m;
    size_t n = 0;
    rng_state = 0x1234567;
    sio__map_init(&m);
    for (int i = 0; i < NKEYS; i++) {
        klens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "k%d", i);
        present[i] = 0;
    }
    for (int step = 0; step < 200000; step++) {
        int i = (int)(rnd() % NKEYS);
        void *v = (void *)(uintptr_t)(i + 1);
        switch (rnd() % 3) {
        case 0:
            assert_int_equal(sio__map_put(&m, keys[i], klens[i], v), present[i] ? SIO_EEXIST : 0);
            n += !present[i];
            present[i] = 1;
            break;
        case 1:
            assert_ptr_equal(sio__map_get(&m, keys[i], klens[i]), present[i] ? v : NULL);
            break;
        default:
            /* Bias towards emptying so shrinking is exercised too. */
            assert_ptr_equal(sio__map_remove(&m, keys[i], klens[i]), present[i] ? v : NULL);
            n -= present[i];
            present[i] = 0;
        }
        assert_int_equal(sio__map_size(&m), n);
    }
    for (int i = 0; i < NKEYS; i++)
        assert_ptr_equal(sio__map_get(&m, keys[i], klens[i]),
                         present[i] ? (void *)(uintptr_t)(i + 1) : NULL);
    sio__map_free(&m);
}

/* Iteration visits each entry once; removing the current entry is fine. */
static void test_iter_remove(void **state)
{
    (void)state;
    sio__map m;
    static int seen[NKEYS];
    sio__map_init(&m);
    for (int i = 0; i < NKEYS; i++) {
        klens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "s%d", i);
        assert_int_equal(sio__map_put(&m, keys[i], klens[i], (void *)(uintptr_t)(i + 1)), 0);
        seen[i] = 0;
    }
    size_t big = m.index_cap;
    sio__map_iter it;
    const char *k;
    size_t kl;
    void *v;
    int count = 0;
    /* First pass: remove the odd ones while iterating. */
    sio__map_iter_init(&it, &m);
    while (sio__map_iter_next(&it, &k, &kl, &v)) {
        int i = (int)(uintptr_t)v - 1;
        assert_int_equal(kl, klens[i]);
        assert_memory_equal(k, keys[i], kl);
        assert_int_equal(seen[i]++, 0);
        count++;
        if (i % 2)
            assert_ptr_equal(sio__map_remove(&m, k, kl), v);
    }
    assert_int_equal(count, NKEYS);
    assert_int_equal(sio__map_size(&m), NKEYS / 2);
    /* Second pass: remove everything; the tables shrink under the iterator. */
    count = 0;
    sio__map_iter_init(&it, &m);
    while (sio__map_iter_next(&it, &k, &kl, &v)) {
        int i = (int)(uintptr_t)v - 1;
        assert_int_equal(i % 2, 0);
        assert_int_equal(seen[i]++, 1);
        count++;
        if (sio__map_size(&m) == 100)
            assert_true(m.index_cap < big); /* it did shrink */
        assert_ptr_equal(sio__map_remove(&m, k, kl), v);
    }
    assert_int_equal(count, NKEYS / 2);
    assert_int_equal(sio__map_size(&m), 0);
    sio__map_iter_init(&it, &m);
    assert_int_equal(sio__map_iter_next(&it, &k, &kl, &v), 0);
    sio__map_free(&m);
}

/* Inserting during iteration is allowed; old entries are all visited. */
static void test_iter_insert(void **state)
{
    (void)state;
    sio__map m;
    sio__map_init(&m);
    for (int i = 0; i < 10; i++) {
        char k[8];
        assert_int_equal(sio__map_put(&m, k, (size_t)snprintf(k, sizeof k, "a%d", i), NULL), 0);
    }
    sio__map_iter it;
    const char *key;
    size_t kl;
    int count = 0, added = 0;
    sio__map_iter_init(&it, &m);
    while (sio__map_iter_next(&it, &key, &kl, NULL)) {
        if (key[0] == 'a')
            count++;
        char k[8];
        size_t n = (size_t)snprintf(k, sizeof k, "b%d", added++);
        assert_int_equal(sio__map_put(&m, k, n, NULL), 0); /* forces growth */
    }
    assert_int_equal(count, 10);
    assert_int_equal(sio__map_size(&m), 10 + (size_t)added);
    sio__map_free(&m);
}

/* 200k session-id-like keys: growth, lookups, and shrinking back down. */
static void test_scale(void **state)
{
    (void)state;
    enum { N = 200000 };
    sio__map m;
    char k[32];
    sio__map_init(&m);
    for (size_t i = 0; i < N; i++) {
        size_t n = (size_t)snprintf(k, sizeof k, "sid-%zx-%zu", i * 2654435761u, i);
        assert_int_equal(sio__map_put(&m, k, n, (void *)(i + 1)), 0);
    }
    assert_int_equal(sio__map_size(&m), N);
    assert_true(m.index_cap >= 2 * N && m.index_cap <= 8 * N);
    for (size_t i = 0; i < N; i++) {
        size_t n = (size_t)snprintf(k, sizeof k, "sid-%zx-%zu", i * 2654435761u, i);
        assert_ptr_equal(sio__map_get(&m, k, n), (void *)(i + 1));
        if (i >= 10)
            assert_ptr_equal(sio__map_remove(&m, k, n), (void *)(i + 1));
    }
    assert_int_equal(sio__map_size(&m), 10);
    assert_true(m.index_cap <= 128); /* shrank */
    for (size_t i = 0; i < 10; i++) {
        size_t n = (size_t)snprintf(k, sizeof k, "sid-%zx-%zu", i * 2654435761u, i);
        assert_ptr_equal(sio__map_remove(&m, k, n), (void *)(i + 1));
    }
    assert_int_equal(m.index_cap, 0); /* empty map holds no memory */
    sio__map_free(&m);
}

/* A failed allocation leaves the map unchanged and usable. */
static void test_oom(void **state)
{
    (void)state;
    sio__map m;
    sio__map_init(&m);
    int ok = 0, failed = 0;
    char k[16];
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)snprintf(k, sizeof k, "key%d", i);
        sio__alloc_fail_after((unsigned long)(i % 3) + 1);
        int rc = sio__map_put(&m, k, n, (void *)(uintptr_t)(i + 1));
        sio__alloc_fail_after(0);
        if (rc == 0) {
            ok++;
            assert_ptr_equal(sio__map_get(&m, k, n), (void *)(uintptr_t)(i + 1));
        } else {
            assert_int_equal(rc, SIO_ENOMEM);
            assert_null(sio__map_get(&m, k, n));
            failed++;
        }
        assert_int_equal(sio__map_size(&m), (size_t)ok);
    }
    assert_true(failed > 0);
    assert_true(ok > 0);
    sio__map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors), cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_model),    cmocka_unit_test(test_iter_remove),
        cmocka_unit_test(test_iter_insert),     cmocka_unit_test(test_oom),
        cmocka_unit_test(test_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
