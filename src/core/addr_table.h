/* Per-client-address state for the abuse limits: how many connections an
 * address has open, and a token bucket for its handshakes. Sans-I/O: the
 * caller passes the address (as text, what the peer's sockaddr prints as)
 * and the time.
 *
 * Memory is bounded two ways, since every address a peer can send from
 * costs an entry:
 *  - Entries expire. An entry with no connection open and a full bucket
 *    holds nothing a new one would not, so it is dropped; each lookup drops
 *    up to two such entries from the least recently used end (a list kept
 *    in use order), which is faster than lookups can add them.
 *  - A cap (max_entries, 0 = none). At the cap, after expiry, the least
 *    recently used entry is dropped if it holds no connection, even though
 *    its bucket is not full yet (counted in evictions: that address starts
 *    again with a full bucket; a peer needs max_entries other addresses in
 *    the meantime to make it happen). An entry holding connections is never
 *    dropped: when every entry holds some, the lookup fails (NULL). A table
 *    that counts connections is bounded by the open connections anyway.
 *
 * Ownership: the table owns its entries; an entry pointer stays valid while
 * its conns is non-zero (the caller's reference), or until the next call
 * otherwise. */
#ifndef SIO_CORE_ADDR_TABLE_H
#define SIO_CORE_ADDR_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/bucket.h"
#include "core/list.h"
#include "core/map.h"

/* Longest address text kept (INET6_ADDRSTRLEN is 46 with its NUL). */
#define SIO_ADDR_MAX 47

typedef struct sio__addr_entry {
    sio__list lru;     /* in the table's lru list, least recently used first */
    uint32_t conns;    /* connections the caller counts as open */
    sio_bucket bucket; /* handshakes (the table's rate and burst) */
    char addr[SIO_ADDR_MAX + 1];
} sio__addr_entry;

typedef struct sio__addr_table {
    sio__map map;       /* addr -> sio__addr_entry */
    sio__list lru;      /* entries, least recently used first */
    size_t max_entries; /* 0: no cap */
    uint32_t rate;      /* bucket: tokens a second */
    uint32_t burst;     /* bucket: capacity */
    uint64_t evictions; /* entries dropped at the cap before they expired */
} sio__addr_table;

/* An empty table (never allocates). */
void sio__addr_table_init(sio__addr_table *t, size_t max_entries, uint32_t rate, uint32_t burst);
/* Frees every entry. */
void sio__addr_table_free(sio__addr_table *t);
size_t sio__addr_table_size(const sio__addr_table *t);
/* The entry for addr (created with no connection and a full bucket), moved
 * to the recently used end; expired entries are dropped on the way. NULL:
 * out of memory, or the cap is reached with every entry holding
 * connections. An address longer than SIO_ADDR_MAX is cut. */
sio__addr_entry *sio__addr_table_get(sio__addr_table *t, const char *addr, uint64_t now);
/* Drops e now if it holds nothing (no connection, bucket full). */
void sio__addr_table_release(sio__addr_table *t, sio__addr_entry *e, uint64_t now);
/* A handshake from addr: 1 if its bucket had a token (taken), 0 if not. A
 * table that cannot track addr (out of memory) lets it through. */
int sio__addr_table_take(sio__addr_table *t, const char *addr, uint64_t now);

#endif
