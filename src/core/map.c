/* Hash map: see map.h for the layout (dense entries + probing index).
 *
 * Invariants (checked by map_check in debug builds): index_cap is 0 or a
 * power of two >= MAP_MIN_INDEX; size <= index_cap / 2 (so probes are
 * short and a free slot always exists); every live entry i has exactly one
 * index slot holding i + 1, reachable from its home slot (hash & mask)
 * without crossing an empty slot. */
#include "core/map.h"

#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "sioc.h"

/* Most maps hold one entry (a socket in its own room, a room of one): they
 * start at the smallest index and double from there. */
#define MAP_MIN_INDEX 2u
#define MAP_MAX_ENTRIES ((size_t)1 << 31)

/* ------------------------------------------------------------- siphash */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* The SipRound permutation over the four state words. */
static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL64(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL64(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL64(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL64(v[2], 32);
}

/* Little-endian load of n <= 8 bytes (SipHash is defined on LE words). */
static uint64_t load_le(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

/* Absorbs one message word with c compression rounds. */
static void sip_absorb(uint64_t v[4], uint64_t m, int c)
{
    v[3] ^= m;
    for (int r = 0; r < c; r++)
        sip_round(v);
    v[0] ^= m;
}

uint64_t sio__siphash(const uint64_t key[2], const void *data, size_t len, int c, int d)
{
    const unsigned char *p = data;
    uint64_t v[4] = {key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
                     key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL};
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8)
        sip_absorb(v, load_le(p + i, 8), c);
    /* The last word carries the length in its top byte. */
    sip_absorb(v, load_le(p + full, len - full) | ((uint64_t)(len & 0xff) << 56), c);
    v[2] ^= 0xff;
    for (int r = 0; r < d; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---------------------------------------------------------------- seed */

static uint64_t map_seed[2];

void sio__map_seed(const uint64_t seed[2])
{
    map_seed[0] = seed[0];
    map_seed[1] = seed[1];
}

/* Lets callers pass (NULL, 0) for the empty key without handing NULL to
 * memcmp/memcpy, which is undefined even for zero lengths. */
#define KEY_OR_EMPTY(key, klen) ((klen) == 0 ? "" : (key))

static uint64_t map_hash(const char *key, size_t klen)
{
    return sio__siphash(map_seed, key, klen, 1, 3);
}

/* --------------------------------------------------------------- index */

/* Slot of entry i's index pointer, or of the first empty slot on its probe
 * path when *found is 0. */
static size_t index_find(const sio__map *m, uint64_t h, const char *key, size_t klen, int *found)
{
    size_t mask = m->index_cap - 1;
    for (size_t s = (size_t)h & mask;; s = (s + 1) & mask) {
        uint32_t v = m->index[s];
        if (v == 0) {
            *found = 0;
            return s;
        }
        const sio__map_entry *e = &m->entries[v - 1];
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            *found = 1;
            return s;
        }
    }
}

/* The slot holding entry number i (which must be indexed). */
static size_t index_slot_of(const sio__map *m, size_t i)
{
    size_t mask = m->index_cap - 1;
    size_t s = (size_t)m->entries[i].hash & mask;
    while (m->index[s] != i + 1) {
        SIO_ASSERT(m->index[s] != 0); /* entry i is reachable from its home */
        s = (s + 1) & mask;
    }
    return s;
}

/* Empties slot s, shifting later members of the probe run back so lookups
 * never stop early at a hole (no tombstones needed). */
static void index_delete(sio__map *m, size_t s)
{
    size_t mask = m->index_cap - 1;
    size_t hole = s;
    for (size_t j = (s + 1) & mask; m->index[j] != 0; j = (j + 1) & mask) {
        size_t home = (size_t)m->entries[m->index[j] - 1].hash & mask;
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->index[hole] = m->index[j];
            hole = j;
        }
    }
    m->index[hole] = 0;
}

/* Reallocates both arrays for an index of cap slots and rebuilds the index
 * from cached hashes. On failure the map is unchanged. */
static int map_resize(sio__map *m, size_t cap)
{
    uint32_t *index = sio__calloc(cap, sizeof *index);
    if (index == NULL)
        return SIO_ENOMEM;
    sio__map_entry *entries = sio__realloc(m->entries, (cap / 2) * sizeof *entries);
    if (entries == NULL) {
        sio__free(index);
        return SIO_ENOMEM;
    }
    sio__free(m->index);
    m->entries = entries;
    m->index = index;
    m->index_cap = cap;
    for (size_t i = 0; i < m->size; i++) {
        size_t s = (size_t)entries[i].hash & (cap - 1);
        while (index[s] != 0)
            s = (s + 1) & (cap - 1);
        index[s] = (uint32_t)(i + 1);
    }
    return 0;
}

/* The shape invariants, cheap enough for every call of a debug build. */
static void map_check_shape(const sio__map *m)
{
    SIO_ASSERT(m->index_cap == 0 ||
               (m->index_cap >= MAP_MIN_INDEX && (m->index_cap & (m->index_cap - 1)) == 0));
    SIO_ASSERT(m->size <= m->index_cap / 2);
    SIO_ASSERT((m->index == NULL) == (m->index_cap == 0));
}

/* Every invariant, walking the index (after a change of a small map in a
 * debug build: O(size) per call, so only up to 64 entries). */
static void map_check(const sio__map *m)
{
    map_check_shape(m);
#if SIO_ASSERT_ON
    if (m->index_cap == 0 || m->size > 64)
        return;
    size_t mask = m->index_cap - 1, used = 0;
    for (size_t s = 0; s < m->index_cap; s++) {
        if (m->index[s] == 0)
            continue;
        used++;
        size_t i = m->index[s] - 1;
        SIO_ASSERT(i < m->size);
        /* reachable: no empty slot between its home and s */
        for (size_t j = (size_t)m->entries[i].hash & mask; j != s; j = (j + 1) & mask)
            SIO_ASSERT(m->index[j] != 0);
    }
    SIO_ASSERT(used == m->size); /* one slot per entry (with i < size, distinct) */
#endif
}

/* ----------------------------------------------------------------- api */

void sio__map_init(sio__map *m)
{
    m->entries = NULL;
    m->index = NULL;
    m->size = 0;
    m->index_cap = 0;
}

void sio__map_free(sio__map *m)
{
    for (size_t i = 0; i < m->size; i++)
        sio__free(m->entries[i].key);
    sio__free(m->entries);
    sio__free(m->index);
    m->entries = NULL;
    m->index = NULL;
    m->size = 0;
    m->index_cap = 0;
}

int sio__map_put(sio__map *m, const char *key, size_t klen, void *value)
{
    key = KEY_OR_EMPTY(key, klen);
    uint64_t h = map_hash(key, klen);
    int found = 0;
    if (m->index_cap != 0)
        index_find(m, h, key, klen, &found);
    if (found)
        return SIO_EEXIST;
    if (m->size >= MAP_MAX_ENTRIES)
        return SIO_ELIMIT;
    if (m->size == m->index_cap / 2) {
        int rc = map_resize(m, m->index_cap ? m->index_cap * 2 : MAP_MIN_INDEX);
        if (rc < 0)
            return rc;
    }
    char *copy = sio__strndup(key, klen);
    if (copy == NULL)
        return SIO_ENOMEM;
    size_t s = index_find(m, h, key, klen, &found);
    SIO_ASSERT(!found && m->index[s] == 0);
    m->entries[m->size] = (sio__map_entry){copy, klen, value, h};
    m->index[s] = (uint32_t)(++m->size);
    map_check(m);
    return 0;
}

void *sio__map_get(const sio__map *m, const char *key, size_t klen)
{
    key = KEY_OR_EMPTY(key, klen);
    if (m->size == 0)
        return NULL;
    int found;
    size_t s = index_find(m, map_hash(key, klen), key, klen, &found);
    return found ? m->entries[m->index[s] - 1].value : NULL;
}

void *sio__map_remove(sio__map *m, const char *key, size_t klen)
{
    key = KEY_OR_EMPTY(key, klen);
    if (m->size == 0)
        return NULL;
    int found;
    size_t s = index_find(m, map_hash(key, klen), key, klen, &found);
    if (!found)
        return NULL;
    size_t i = m->index[s] - 1;
    void *value = m->entries[i].value;
    sio__free(m->entries[i].key);
    index_delete(m, s);
    size_t last = m->size - 1;
    if (i != last) {
        /* Fill the hole with the last entry so the array stays dense. */
        m->index[index_slot_of(m, last)] = (uint32_t)(i + 1);
        m->entries[i] = m->entries[last];
    }
    m->size = last;
    if (m->size == 0)
        sio__map_free(m);
    else if (m->index_cap > MAP_MIN_INDEX && m->size < m->index_cap / 8)
        (void)map_resize(m, m->index_cap / 2); /* failure only keeps it larger */
    map_check(m);
    return value;
}

size_t sio__map_size(const sio__map *m)
{
    return m->size;
}

void sio__map_iter_init(sio__map_iter *it, sio__map *m)
{
    it->map = m;
    it->pos = m->size;
}

int sio__map_iter_next(sio__map_iter *it, const char **key, size_t *klen, void **value)
{
    /* A removal of the entry just returned may have shrunk the array. */
    if (it->pos > it->map->size)
        it->pos = it->map->size;
    if (it->pos == 0)
        return 0;
    const sio__map_entry *e = &it->map->entries[--it->pos];
    if (key)
        *key = e->key;
    if (klen)
        *klen = e->klen;
    if (value)
        *value = e->value;
    return 1;
}
