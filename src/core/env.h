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
 * it. Every function pointer is required except wall (NULL: time 0) and
 * tick. */
#ifndef SIO_CORE_ENV_H
#define SIO_CORE_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/timer.h"

/* Work for the end of the current I/O callback: Node's process.nextTick,
 * which the Socket.IO core needs to run an event's handlers after the
 * any-listeners of every packet read in the same go. Queued by env->tick
 * (once: queuing a queued tick does nothing); its owner may unlink it
 * (sio__list_remove) if it goes first. */
typedef struct sio__tick {
    sio__list node;
    void (*fn)(struct sio__tick *t);
} sio__tick;

typedef struct sio__env {
    sio__timers *timers;                             /* the wheel the loop runs */
    uint64_t (*now)(void *arg);                      /* monotonic ms, the wheel's clock */
    int64_t (*wall)(void *arg);                      /* wall-clock ms, or NULL */
    int (*random)(void *arg, void *out, size_t len); /* len unpredictable bytes: 0, or
                                                      * < 0 when none came */
    void *arg;                                       /* passed to all of them */
    /* Queues t to run once the current I/O callback is done. NULL (unit
     * tests): no ticks, what would wait for one runs at once. */
    void (*tick)(void *arg, sio__tick *t);
} sio__env;

#endif
