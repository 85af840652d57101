/* Intrusive hash table of objects keyed by an id they carry.
 *
 * Engine.IO sessions and Socket.IO sockets are found by their id. Each
 * object embeds a sio__idmap_node (one pointer) and its id as a
 * NUL-terminated char array at a fixed offset from that node, so the table
 * copies no key, keeps no entry array and never allocates per object: it
 * is an array of bucket heads with chains through the nodes. core/map is
 * the other table (keys copied, dense entries for iteration) for names
 * that do not live in an object of their own, such as rooms.
 *
 * The hash is FNV-1a, not keyed: the ids stored here are made by the
 * server from random bytes (a recovered socket takes back an id this
 * server made), so a peer cannot choose colliding ones. Do not put keys a
 * peer picks in this table; core/map is keyed for those.
 *
 * Sizing: the table doubles when it holds as many nodes as buckets (from
 * SIO__IDMAP_MIN_BUCKETS) and halves when below one node per eight buckets,
 * so chains stay short and an emptied table gives its memory back.
 *
 * Ownership: nodes (and their objects) are the caller's; the table owns
 * only its bucket array. An object must stay in place, with its id
 * unchanged, while it is in the table. sio__idmap_init never allocates. */
#ifndef SIO_CORE_IDMAP_H
#define SIO_CORE_IDMAP_H

#include <stddef.h>

/* Smallest bucket array: the first add allocates this many heads. */
#define SIO__IDMAP_MIN_BUCKETS 16

/* The link embedded in each object of the table. */
typedef struct sio__idmap_node {
    struct sio__idmap_node *next; /* next node in the same bucket */
} sio__idmap_node;

typedef struct sio__idmap {
    sio__idmap_node **buckets; /* nbuckets chain heads (NULL = empty) */
    size_t nbuckets;           /* 0 or a power of two >= SIO__IDMAP_MIN_BUCKETS */
    size_t size;               /* nodes in the table */
    size_t low;                /* no bucket below this index holds a node
                                * (where sio__idmap_any starts looking) */
    ptrdiff_t key_off;         /* from a node to its object's id */
} sio__idmap;

/* key_off for objects of type type linking through field node with their
 * id in the char array field key. */
#define SIO__IDMAP_KEY_OFFSET(type, node, key)                                                     \
    ((ptrdiff_t)offsetof(type, key) - (ptrdiff_t)offsetof(type, node))

/* An empty table whose nodes carry their id key_off bytes from the node. */
void sio__idmap_init(sio__idmap *m, ptrdiff_t key_off);
/* Frees the bucket array and leaves the table empty (and reusable). Nodes
 * still in it are forgotten, not touched. */
void sio__idmap_free(sio__idmap *m);

/* Adds node, whose id must not be in the table yet. SIO_ENOMEM only when
 * the very first bucket array cannot be allocated (the table is then
 * unchanged); a failed growth later just leaves chains longer. */
int sio__idmap_add(sio__idmap *m, sio__idmap_node *node);
/* Removes node; returns 1, or 0 (nothing changed) if it was not in the
 * table. Never fails: a failed shrink keeps the table larger. */
int sio__idmap_remove(sio__idmap *m, sio__idmap_node *node);
/* The node whose id is the len bytes at id (no NUL needed), or NULL. */
sio__idmap_node *sio__idmap_find(const sio__idmap *m, const char *id, size_t len);
size_t sio__idmap_size(const sio__idmap *m);
/* Some node of the table, or NULL when it is empty: for draining it
 * (while ((n = sio__idmap_any(m))) close(n) with close removing n, and
 * possibly others), amortised O(1) per node. */
sio__idmap_node *sio__idmap_any(sio__idmap *m);

/* A walk over every node, in no particular order. The table must not
 * change during the walk (asserted in debug builds); to empty it, use
 * sio__idmap_any. */
typedef struct sio__idmap_iter {
    const sio__idmap *map; /* the table walked */
    size_t bucket;         /* bucket of next */
    sio__idmap_node *next; /* node returned next, or NULL to look on */
    size_t size;           /* the table's size when the walk began */
} sio__idmap_iter;

void sio__idmap_iter_init(sio__idmap_iter *it, const sio__idmap *m);
/* The next node, or NULL when every node has been returned. */
sio__idmap_node *sio__idmap_iter_next(sio__idmap_iter *it);

#endif
