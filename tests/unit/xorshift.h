/* Deterministic pseudo-random numbers for the unit tests (Marsaglia's
 * xorshift64, shifts 13, 7, 17): the same seed replays the same run, so a
 * failure can be reproduced. Also the random bytes of a test's sio__env
 * (core/env.h): ids differ from each other, and runs repeat. */
#ifndef SIO_TEST_XORSHIFT_H
#define SIO_TEST_XORSHIFT_H

#include <stddef.h>
#include <stdint.h>

/* Advances *state (never 0) and returns it. */
static inline uint64_t xorshift64(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* A sio__env random function: len bytes from one fixed-seed sequence per
 * test program (arg unused). Never fails. */
static inline int xorshift_random(void *arg, void *out, size_t len)
{
    static uint64_t x = 88172645463325252ULL;
    (void)arg;
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)out)[i] = (uint8_t)(xorshift64(&x) >> 24);
    return 0;
}

#endif
