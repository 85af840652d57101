/* Random bytes for identifiers (session ids, socket ids, hash seeds).
 *
 * Only the composition root calls this (server/env.c): the cores get their
 * random bytes through their sio__env, so tests can give them their own.
 *
 * The kernel's CSPRNG (getrandom) is the source, OpenSSL's RAND_bytes the
 * fallback when the kernel refuses. Going to the kernel first matters for
 * memory: OpenSSL's first RAND_bytes initialises its providers and DRBG,
 * which pages in ~2 MB of libcrypto for a few bytes per connection. */
#ifndef SIO_CORE_RANDOM_H
#define SIO_CORE_RANDOM_H

#include <stddef.h>

/* Fills out with len cryptographically random bytes. 0, or SIO_EIO when no
 * source delivered (out's contents are then unspecified). */
int sio__random_bytes(void *out, size_t len);

/* Replaces the source of every later sio__random_bytes call (NULL: the
 * kernel again). Only for the whole-stack fuzzer (fuzz/fuzz_stack.c),
 * which needs the same identifiers for the same input; not thread-safe,
 * set it while no server runs. */
void sio__random_set_source(int (*fn)(void *out, size_t len));

#endif
