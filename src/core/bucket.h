/* Token bucket: the public sio_bucket (see sioc.h for its contract), plus
 * what the per-address table needs besides.
 *
 * Why integers: tokens are kept in thousandths, so a rate of r tokens a
 * second adds exactly r thousandths per elapsed millisecond, with no
 * floating-point drift, and the whole state is 8 bytes (the per-address
 * table keeps one per address, the chat one per socket). Sans-I/O: the
 * caller passes the time (monotonic ms), so unit tests and the protocol
 * cores drive it with any clock. */
#ifndef SIO_CORE_BUCKET_H
#define SIO_CORE_BUCKET_H

#include <stdint.h>

#include "sioc.h"

/* 1 if the bucket would be full at now (then it holds nothing a fresh one
 * would not: a table may forget it). */
int sio__bucket_full(const sio_bucket *b, uint32_t rate, uint32_t burst, uint64_t now);

#endif
