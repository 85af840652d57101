/* Per-address table: see addr_table.h. */
#include "core/addr_table.h"

#include <string.h>

#include "core/alloc.h"

void sio__addr_table_init(sio__addr_table *t, size_t max_entries, uint32_t rate, uint32_t burst)
{
    sio__map_init(&t->map);
    sio__list_init(&t->lru);
    t->max_entries = max_entries;
    t->rate = rate;
    t->burst = burst;
    t->evictions = 0;
}

static void drop(sio__addr_table *t, sio__addr_entry *e)
{
    sio__map_remove(&t->map, e->addr, strlen(e->addr));
    sio__list_remove(&e->lru);
    sio__free(e);
}

void sio__addr_table_free(sio__addr_table *t)
{
    while (!sio__list_empty(&t->lru))
        drop(t, SIO_CONTAINER_OF(t->lru.next, sio__addr_entry, lru));
    sio__map_free(&t->map);
}

size_t sio__addr_table_size(const sio__addr_table *t)
{
    return sio__map_size(&t->map);
}

static int idle(const sio__addr_table *t, const sio__addr_entry *e, uint64_t now)
{
    return e->conns == 0 && sio__bucket_full(&e->bucket, t->rate, t->burst, now);
}

/* The least recently used entry, or NULL. */
static sio__addr_entry *oldest(const sio__addr_table *t)
{
    return sio__list_empty(&t->lru) ? NULL : SIO_CONTAINER_OF(t->lru.next, sio__addr_entry, lru);
}

/* Drops up to n idle entries from the old end (stops at a busy one). */
static void expire(sio__addr_table *t, uint64_t now, int n)
{
    sio__addr_entry *e;
    while (n-- > 0 && (e = oldest(t)) != NULL && idle(t, e, now))
        drop(t, e);
}

/* Makes room for one more entry: 0, or -1 when the cap is reached and the
 * oldest entry holds connections. */
static int make_room(sio__addr_table *t)
{
    if (t->max_entries == 0 || sio__map_size(&t->map) < t->max_entries)
        return 0;
    sio__addr_entry *e = oldest(t);
    if (e == NULL || e->conns > 0)
        return -1;
    t->evictions++;
    drop(t, e);
    return 0;
}

sio__addr_entry *sio__addr_table_get(sio__addr_table *t, const char *addr, uint64_t now)
{
    size_t len = strnlen(addr, SIO_ADDR_MAX);
    sio__addr_entry *e = sio__map_get(&t->map, addr, len);
    if (e != NULL) {
        sio__list_remove(&e->lru);
        sio__list_insert_tail(&t->lru, &e->lru);
        return e;
    }
    expire(t, now, 2);
    if (make_room(t) < 0 || (e = sio__calloc(1, sizeof *e)) == NULL)
        return NULL;
    memcpy(e->addr, addr, len);
    sio_bucket_init(&e->bucket, t->burst, now);
    if (sio__map_put(&t->map, e->addr, len, e) < 0) {
        sio__free(e);
        return NULL;
    }
    sio__list_insert_tail(&t->lru, &e->lru);
    return e;
}

void sio__addr_table_release(sio__addr_table *t, sio__addr_entry *e, uint64_t now)
{
    if (idle(t, e, now))
        drop(t, e);
}

int sio__addr_table_take(sio__addr_table *t, const char *addr, uint64_t now)
{
    sio__addr_entry *e = sio__addr_table_get(t, addr, now);
    return e == NULL || sio_bucket_take(&e->bucket, t->rate, t->burst, now);
}
