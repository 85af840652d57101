/* Timing wheel: see timer.h for the design.
 *
 * Invariants (cur = next unprocessed tick):
 *  - a timer in level 0 slot i has deadline d with d >> 6 == cur >> 6 and
 *    d & 63 == i >= cur & 63 (it is due exactly at tick d);
 *  - a timer in level k >= 1 slot i has d >> 6(k+1) == cur >> 6(k+1) and
 *    i == (d >> 6k) & 63 >= (cur >> 6k) & 63; the slot is due (must be
 *    cascaded) once cur's bits above 6k equal d's, i.e. at tick
 *    prefix | i << 6k, or immediately if that is already <= cur;
 *  - bit i of occupied[k] is set iff slots[k][i] is non-empty.
 * run() repeatedly jumps cur to the earliest due tick (the minimum of the
 * per-level due ticks, found with one count-trailing-zeros per level),
 * cascades the due higher slots (top level first, since cascading only
 * files into lower levels) and fires level-0 slot cur & 63. Jumping over
 * ticks where nothing is due preserves the invariants, because any value
 * between cur and a timer's due tick shares the prefix bits that matter. */
#include "core/timer.h"

#include "core/list.h"

#define LEVEL_BITS 6
#define SLOT_MASK ((uint64_t)SIO_TIMER_SLOTS - 1)

/* Moves every node of from onto the (re-initialised) list to. */
static void list_move_all(sio__list *from, sio__list *to)
{
    sio__list_init(to);
    if (sio__list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    sio__list_init(from);
}

/* The level a deadline belongs to relative to tick cur: where the highest
 * differing bit lies (level 0 when they are equal). */
static unsigned level_for(uint64_t cur, uint64_t d)
{
    uint64_t x = cur ^ d;
    if (x == 0)
        return 0;
    return (unsigned)(63 - __builtin_clzll(x)) / LEVEL_BITS;
}

/* cur with the bits of levels <= k cleared (0 above the top level). */
static uint64_t level_base(uint64_t cur, unsigned k)
{
    unsigned shift = (k + 1) * LEVEL_BITS;
    return shift >= 64 ? 0 : (cur >> shift) << shift;
}

/* Files an (unlinked) timer according to its deadline and w->cur. */
static void timer_file(sio__timers *w, sio__timer *t)
{
    if (t->deadline < w->cur) {
        sio__list_insert_tail(&w->expired, &t->node);
        t->slot = SIO_TIMER_EXPIRED;
        if (t->deadline < w->expired_min)
            w->expired_min = t->deadline;
        return;
    }
    unsigned k = level_for(w->cur, t->deadline);
    unsigned i = (unsigned)((t->deadline >> (k * LEVEL_BITS)) & SLOT_MASK);
    sio__list_insert_tail(&w->slots[k][i], &t->node);
    w->occupied[k] |= (uint64_t)1 << i;
    t->slot = (uint16_t)(k * SIO_TIMER_SLOTS + i);
}

/* Unlinks an active timer and keeps the occupancy bitmap exact. Also
 * correct while the timer sits on a detached batch inside run(): the
 * bitmap then reflects whatever the wheel slot holds now. */
static void timer_unlink(sio__timer *t)
{
    sio__timers *w = t->wheel;
    sio__list_remove(&t->node);
    w->count--;
    if (t->slot == SIO_TIMER_EXPIRED) {
        if (sio__list_empty(&w->expired))
            w->expired_min = UINT64_MAX;
        return;
    }
    unsigned k = t->slot / SIO_TIMER_SLOTS, i = t->slot % SIO_TIMER_SLOTS;
    if (sio__list_empty(&w->slots[k][i]))
        w->occupied[k] &= ~((uint64_t)1 << i);
}

void sio__timers_init(sio__timers *w, uint64_t now_ms)
{
    w->cur = now_ms;
    for (unsigned k = 0; k < SIO_TIMER_LEVELS; k++) {
        w->occupied[k] = 0;
        for (unsigned i = 0; i < SIO_TIMER_SLOTS; i++)
            sio__list_init(&w->slots[k][i]);
    }
    sio__list_init(&w->expired);
    w->expired_min = UINT64_MAX;
    w->count = 0;
}

/* Self-links every node of a list so its timers read as inactive. */
static void list_drop_all(sio__list *head)
{
    while (!sio__list_empty(head))
        sio__list_remove(head->next);
}

void sio__timers_free(sio__timers *w)
{
    for (unsigned k = 0; k < SIO_TIMER_LEVELS; k++) {
        for (unsigned i = 0; i < SIO_TIMER_SLOTS; i++)
            list_drop_all(&w->slots[k][i]);
        w->occupied[k] = 0;
    }
    list_drop_all(&w->expired);
    w->expired_min = UINT64_MAX;
    w->count = 0;
}

void sio__timer_init(sio__timer *t, sio__timer_cb cb, void *data)
{
    sio__list_init(&t->node);
    t->wheel = NULL;
    t->slot = 0;
    t->deadline = 0;
    t->cb = cb;
    t->data = data;
}

void sio__timer_start(sio__timers *w, sio__timer *t, uint64_t deadline_ms)
{
    if (sio__timer_active(t))
        timer_unlink(t);
    t->wheel = w;
    t->deadline = deadline_ms;
    timer_file(w, t);
    w->count++;
}

void sio__timer_stop(sio__timer *t)
{
    if (sio__timer_active(t))
        timer_unlink(t);
}

int sio__timer_active(const sio__timer *t)
{
    return sio__list_linked(&t->node);
}

size_t sio__timers_count(const sio__timers *w)
{
    return w->count;
}

/* The tick at which something on level k is due (UINT64_MAX if empty). */
static uint64_t level_due(const sio__timers *w, unsigned k)
{
    unsigned shift = k * LEVEL_BITS;
    unsigned idx = (unsigned)((w->cur >> shift) & SLOT_MASK);
    uint64_t bits = w->occupied[k] & (~(uint64_t)0 << idx);
    if (bits == 0)
        return UINT64_MAX;
    uint64_t b = (uint64_t)__builtin_ctzll(bits);
    uint64_t tick = level_base(w->cur, k) | (b << shift);
    return tick < w->cur ? w->cur : tick;
}

/* Earliest tick at which the wheel (not the expired list) has work. */
static uint64_t wheel_due(const sio__timers *w)
{
    uint64_t m = UINT64_MAX;
    for (unsigned k = 0; k < SIO_TIMER_LEVELS; k++) {
        uint64_t t = level_due(w, k);
        if (t < m)
            m = t;
    }
    return m;
}

uint64_t sio__timers_next(const sio__timers *w)
{
    uint64_t m = wheel_due(w);
    if (!sio__list_empty(&w->expired) && w->expired_min < m)
        m = w->expired_min;
    return m;
}

/* Detaches a list of due timers and fires them one by one. Each is
 * unlinked before its callback, so the callback sees it inactive and may
 * re-arm it; stopping or re-arming a later one removes it from the batch. */
static size_t fire_list(sio__timers *w, sio__list *from)
{
    sio__list batch;
    size_t fired = 0;
    list_move_all(from, &batch);
    while (!sio__list_empty(&batch)) {
        sio__timer *t = SIO_CONTAINER_OF(batch.next, sio__timer, node);
        sio__list_remove(&t->node);
        w->count--;
        fired++;
        t->cb(t, t->data);
    }
    return fired;
}

/* Re-files every timer of level k slot i relative to the current tick. */
static void cascade(sio__timers *w, unsigned k, unsigned i)
{
    sio__list batch;
    list_move_all(&w->slots[k][i], &batch);
    w->occupied[k] &= ~((uint64_t)1 << i);
    while (!sio__list_empty(&batch)) {
        sio__timer *t = SIO_CONTAINER_OF(batch.next, sio__timer, node);
        sio__list_remove(&t->node);
        timer_file(w, t);
    }
}

/* Processes the single due tick `tick` (cur has been moved to it). */
static size_t run_tick(sio__timers *w, uint64_t tick)
{
    for (unsigned k = SIO_TIMER_LEVELS - 1; k >= 1; k--) {
        unsigned i = (unsigned)((tick >> (k * LEVEL_BITS)) & SLOT_MASK);
        if (w->occupied[k] & ((uint64_t)1 << i))
            cascade(w, k, i);
    }
    /* Past this tick before any callback runs: re-arming "now" from a
     * callback lands on the expired list, i.e. the next run. */
    w->cur = tick + 1;
    unsigned i0 = (unsigned)(tick & SLOT_MASK);
    w->occupied[0] &= ~((uint64_t)1 << i0);
    return fire_list(w, &w->slots[0][i0]);
}

size_t sio__timers_run(sio__timers *w, uint64_t now_ms)
{
    size_t fired = 0;
    if (!sio__list_empty(&w->expired)) {
        w->expired_min = UINT64_MAX;
        fired += fire_list(w, &w->expired);
    }
    if (now_ms == UINT64_MAX)
        now_ms--; /* keeps cur = now + 1 from wrapping */
    while (w->cur <= now_ms) {
        uint64_t tick = wheel_due(w);
        if (tick > now_ms) {
            w->cur = now_ms + 1;
            break;
        }
        w->cur = tick;
        fired += run_tick(w, tick);
    }
    return fired;
}
