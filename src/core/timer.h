/* Hierarchical hashed timing wheel (Varghese & Lauck; the classic Linux
 * cascading wheel), 1 ms resolution.
 *
 * Why: every Engine.IO session has a ping/pong deadline; 100k sessions must
 * not mean 100k libuv timers or an O(n) scan. The net layer owns ONE libuv
 * timer armed at sio__timers_next() and calls sio__timers_run(now) when it
 * fires; protocol code just starts and stops embedded sio__timer structs.
 *
 * Layout: 11 levels of 64 slots (6 bits each, covering all 64 bits of a
 * millisecond clock). A timer is filed at the level of the highest bit in
 * which its deadline differs from the wheel's current tick, so a level-k
 * slot is "cascaded" (re-filed into lower levels) exactly when the clock
 * reaches its range, and level-0 slots hold timers due on one exact tick.
 * A 64-bit occupancy bitmap per level lets run() and next() jump straight
 * to the next tick where anything happens, so idle time costs nothing.
 * Start and stop are O(1); each timer is cascaded at most once per level.
 *
 * Semantics: sio__timers_run(now) fires every timer whose deadline <= now
 * exactly once, never early. A timer (re)started with a deadline already
 * behind the wheel (including from a callback during run) goes on an
 * "expired" list and fires on the NEXT run, so a callback that re-arms
 * itself in the past cannot livelock a run. Callbacks may start or stop any
 * timer, including themselves. Not thread-safe (loop thread only). */
#ifndef SIO_CORE_TIMER_H
#define SIO_CORE_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "core/list.h"

#define SIO_TIMER_LEVELS 11
#define SIO_TIMER_SLOTS 64

typedef struct sio__timer sio__timer;
typedef struct sio__timers sio__timers;
typedef void (*sio__timer_cb)(sio__timer *t, void *data);

/* Fields are public only so the struct can be embedded; treat as opaque
 * except deadline (read-only), cb and data. */
struct sio__timer {
    sio__list node;     /* links the timer into a slot; self-linked = inactive */
    sio__timers *wheel; /* wheel it is filed in (valid while active) */
    uint16_t slot;      /* level * 64 + index, or SIO_TIMER_EXPIRED */
    uint64_t deadline;  /* absolute ms at which it is due */
    sio__timer_cb cb;   /* called once when due */
    void *data;         /* passed to cb */
};

#define SIO_TIMER_EXPIRED 0xffffu

struct sio__timers {
    uint64_t cur;                        /* next tick to process: ticks < cur are done */
    uint64_t occupied[SIO_TIMER_LEVELS]; /* bit i set <=> slot i of the level non-empty */
    sio__list slots[SIO_TIMER_LEVELS][SIO_TIMER_SLOTS]; /* timer lists per slot */
    sio__list expired;                                  /* started behind cur: fire next run */
    uint64_t expired_min;                               /* lower bound on deadlines in expired */
    size_t count;                                       /* active timers (for stats/tests) */
};

/* Starts an empty wheel whose clock reads now_ms (deadlines >= now_ms fire
 * on the first run at or after them). */
void sio__timers_init(sio__timers *w, uint64_t now_ms);
/* Deactivates every timer without calling callbacks. The timers stay
 * valid; stopping them later is a no-op. */
void sio__timers_free(sio__timers *w);

void sio__timer_init(sio__timer *t, sio__timer_cb cb, void *data);
/* (Re)arms t for deadline_ms on w (moving it off any previous wheel). A
 * deadline at or before the last processed tick fires on the next run. */
void sio__timer_start(sio__timers *w, sio__timer *t, uint64_t deadline_ms);
/* Disarms t. Idempotent, O(1); safe from any callback. */
void sio__timer_stop(sio__timer *t);
int sio__timer_active(const sio__timer *t);

/* Earliest time worth waking at: UINT64_MAX if no timer is active; never
 * later than the earliest deadline (it may be earlier: a cascade tick, or a
 * time already past when expired timers wait). */
uint64_t sio__timers_next(const sio__timers *w);
/* Fires every timer whose deadline <= now_ms (see semantics above) and
 * returns how many callbacks ran. now_ms should not go backwards; a smaller
 * value than the last run only fires expired timers. */
size_t sio__timers_run(sio__timers *w, uint64_t now_ms);
/* Active timers on the wheel. */
size_t sio__timers_count(const sio__timers *w);

#endif
