/* A deterministic pseudo-random sequence for the randomised model tests
 * of tests/unit/core (Marsaglia's xorshift64, shifts 13, 7, 17): the same
 * seed replays the same run, so a failure can be reproduced. */
#ifndef SIO_TEST_XORSHIFT_H
#define SIO_TEST_XORSHIFT_H

#include <stdint.h>

/* Advances *state (never 0) and returns it. */
static inline uint64_t xorshift64(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

#endif
