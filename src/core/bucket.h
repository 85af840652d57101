/* Token bucket: rate tokens a second, at most burst of them, taken one at a
 * time. Sans-I/O: the caller passes the time (monotonic ms), so unit tests
 * and the protocol cores drive it with any clock.
 *
 * Why integers: tokens are kept in thousandths, so a rate of r tokens a
 * second adds exactly r thousandths per elapsed millisecond, with no
 * floating-point drift, and the whole state is 8 bytes (the per-address
 * table keeps one per address). burst is at most
 * SIO_BUCKET_MAX_BURST (the level must fit 32 bits); larger values are
 * clamped. The clock is kept mod 2^32 ms: a bucket left alone for 49 days
 * may see less refill than was due, never more. */
#ifndef SIO_CORE_BUCKET_H
#define SIO_CORE_BUCKET_H

#include <stdint.h>

#define SIO_BUCKET_MAX_BURST 4000000u

typedef struct sio__bucket {
    uint32_t level; /* tokens in thousandths */
    uint32_t last;  /* clock (ms, mod 2^32) of the last refill */
} sio__bucket;

/* A full bucket (burst tokens) at now. */
void sio__bucket_init(sio__bucket *b, uint32_t burst, uint64_t now);
/* Refills for the time since the last call, then takes one token: 1 if
 * there was one, 0 if the bucket is empty (nothing taken). rate 0 means no
 * refill at all. */
int sio__bucket_take(sio__bucket *b, uint32_t rate, uint32_t burst, uint64_t now);
/* 1 if the bucket would be full at now (then it holds nothing a fresh one
 * would not: a table may forget it). */
int sio__bucket_full(const sio__bucket *b, uint32_t rate, uint32_t burst, uint64_t now);

#endif
