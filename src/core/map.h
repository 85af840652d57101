/* String-keyed hash map (keys are bytes + length, values are void *).
 *
 * Design: a dense entry array (what iteration walks) plus a separate open
 * addressing index of uint32 slots (linear probing, backward-shift
 * deletion) that points into it. Removal moves the last entry into the hole,
 * so the entry array never has gaps; iteration runs from the end towards
 * the front, which is why removing the entry just returned is safe (the
 * moved entry was already visited) and why entries inserted during an
 * iteration are simply not visited. Both arrays grow and shrink by powers of
 * two, keeping operations O(1) on average.
 *
 * Keys (namespace and room names) come from the network, so the hash is
 * SipHash-1-3 keyed with a process-wide random seed: a peer cannot
 * precompute colliding keys. The composition root sets the seed
 * (sio__map_seed, from server/env.c) before any server makes a map; the
 * core never asks the system for it.
 *
 * Ownership: keys are copied into the map and freed by it; values are the
 * caller's and are never freed by the map. The struct is public only so it
 * can be embedded; use the functions. sio__map_init never allocates. */
#ifndef SIO_CORE_MAP_H
#define SIO_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

/* One key/value pair in the dense array. */
typedef struct sio__map_entry {
    char *key;     /* owned copy, NUL-terminated for convenience */
    size_t klen;   /* key length in bytes (the NUL not counted) */
    void *value;   /* caller's pointer, never freed by the map */
    uint64_t hash; /* cached keyed hash, so resizing never rehashes keys */
} sio__map_entry;

typedef struct sio__map {
    sio__map_entry *entries; /* dense: entries[0..size) are live */
    uint32_t *index;         /* index_cap slots: 0 = empty, else entry number + 1 */
    size_t size;             /* live entries */
    size_t index_cap;        /* power of two (or 0); entries has index_cap / 2 room */
} sio__map;

/* Sets the SipHash key of every map in the process. Call it once, before
 * the first map holds a key (a map hashed under another key would lose its
 * entries); the composition root does. Until then the key is all zeros,
 * which only unit tests of the cores ever use. */
void sio__map_seed(const uint64_t seed[2]);

/* Key arguments: klen bytes at key (NULL allowed when klen == 0). */
void sio__map_init(sio__map *m);
/* Frees the keys and the tables, not the values; the map is left empty and
 * reusable. */
void sio__map_free(sio__map *m);
/* Inserts a copy of key. SIO_EEXIST if the key is present (the map is left
 * unchanged), SIO_ENOMEM (map unchanged), SIO_ELIMIT past 2^31 entries. */
int sio__map_put(sio__map *m, const char *key, size_t klen, void *value);
/* The value stored under key, or NULL if absent. */
void *sio__map_get(const sio__map *m, const char *key, size_t klen);
/* Removes key and returns its value (NULL if absent). Never fails: when a
 * shrink cannot allocate, the map just stays larger. */
void *sio__map_remove(sio__map *m, const char *key, size_t klen);
size_t sio__map_size(const sio__map *m);

/* Iteration cursor: a position in the dense array, counting down. */
typedef struct sio__map_iter {
    sio__map *map; /* the map walked */
    size_t pos;    /* entries[pos - 1] is the next one returned */
} sio__map_iter;

void sio__map_iter_init(sio__map_iter *it, sio__map *m);
/* Stores the next entry and returns 1, or returns 0 when done. During an
 * iteration, removing the entry just returned is allowed; inserting is
 * allowed (new entries are not visited); removing other entries is not. The
 * key pointer stays valid until that entry is removed. */
int sio__map_iter_next(sio__map_iter *it, const char **key, size_t *klen, void **value);

/* SipHash with c compression and d finalisation rounds (1/3 for the map;
 * exposed so tests can check it against the published 2-4 vectors). */
uint64_t sio__siphash(const uint64_t key[2], const void *data, size_t len, int c, int d);

#endif
