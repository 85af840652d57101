/* What a sans-I/O core takes from outside instead of asking the system.
 *
 * The Engine.IO core (session ids, deadlines, the handshake's time) and
 * the Socket.IO core with its adapters (socket ids, private session ids,
 * request ids, deadlines) never call the clock or the kernel: the
 * composition root (src/server) hands each of them one of these, filled
 * from the loop (its wheel and clocks) and the kernel's random bytes.
 * Unit tests hand them a fake clock, their own wheel and deterministic
 * bytes, so runs repeat exactly.
 *
 * Ownership: the struct is copied by the core; timers and arg must outlive
 * it. Every function pointer is required except wall (NULL: time 0). */
#ifndef SIO_CORE_ENV_H
#define SIO_CORE_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "core/timer.h"

typedef struct sio__env {
    sio__timers *timers;                             /* the wheel the loop runs */
    uint64_t (*now)(void *arg);                      /* monotonic ms, the wheel's clock */
    int64_t (*wall)(void *arg);                      /* wall-clock ms, or NULL */
    int (*random)(void *arg, void *out, size_t len); /* len unpredictable bytes: 0, or
                                                      * < 0 when none came */
    void *arg;                                       /* passed to all three */
} sio__env;

#endif
