/* Intrusive id table: see idmap.h for the layout and the contract.
 *
 * Invariants (SIO_ASSERT, debug builds): nbuckets is 0 or a power of two
 * >= SIO__IDMAP_MIN_BUCKETS, and buckets is NULL exactly when nbuckets is
 * 0; every node sits in the bucket of its id's hash; no bucket below low
 * holds a node; size counts the nodes (checked by a full walk after each
 * change of a table of up to 64 buckets). */
#include "core/idmap.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "sioc.h"

static const char *key_of(const sio__idmap *m, const sio__idmap_node *n)
{
    return (const char *)n + m->key_off;
}

/* FNV-1a over the id's bytes (why unkeyed: see idmap.h). */
static size_t id_hash(const char *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 0x100000001b3u;
    return (size_t)h;
}

static size_t bucket_of(const sio__idmap *m, const sio__idmap_node *n)
{
    const char *k = key_of(m, n);
    return id_hash(k, strlen(k)) & (m->nbuckets - 1);
}

/* Every invariant; the walk only for small tables (O(nbuckets + size)). */
static void idmap_check(const sio__idmap *m)
{
    SIO_ASSERT((m->buckets == NULL) == (m->nbuckets == 0));
    SIO_ASSERT(m->nbuckets == 0 ||
               (m->nbuckets >= SIO__IDMAP_MIN_BUCKETS && (m->nbuckets & (m->nbuckets - 1)) == 0));
    SIO_ASSERT(m->nbuckets != 0 || m->size == 0);
#if SIO_ASSERT_ON
    if (m->nbuckets > 64)
        return;
    size_t count = 0;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (const sio__idmap_node *n = m->buckets[i]; n != NULL; n = n->next) {
            SIO_ASSERT(i >= m->low);
            SIO_ASSERT(bucket_of(m, n) == i);
            count++;
        }
    SIO_ASSERT(count == m->size);
#endif
}

/* Moves every node into a new array of n buckets; on failure nothing
 * changes. */
static int idmap_resize(sio__idmap *m, size_t n)
{
    sio__idmap_node **b = sio__calloc(n, sizeof *b);
    if (b == NULL)
        return SIO_ENOMEM;
    sio__idmap_node **old = m->buckets;
    size_t nold = m->nbuckets;
    m->buckets = b;
    m->nbuckets = n;
    for (size_t i = 0; i < nold; i++)
        while (old[i] != NULL) {
            sio__idmap_node *node = old[i];
            old[i] = node->next;
            size_t k = bucket_of(m, node);
            node->next = b[k];
            b[k] = node;
        }
    sio__free(old);
    m->low = 0;
    return 0;
}

void sio__idmap_init(sio__idmap *m, ptrdiff_t key_off)
{
    memset(m, 0, sizeof *m);
    m->key_off = key_off;
}

void sio__idmap_free(sio__idmap *m)
{
    sio__free(m->buckets);
    sio__idmap_init(m, m->key_off);
}

int sio__idmap_add(sio__idmap *m, sio__idmap_node *node)
{
    SIO_ASSERT(sio__idmap_find(m, key_of(m, node), strlen(key_of(m, node))) == NULL); /* unique */
    if (m->size >= m->nbuckets) {
        int rc = idmap_resize(m, m->nbuckets ? m->nbuckets * 2 : SIO__IDMAP_MIN_BUCKETS);
        if (rc < 0 && m->nbuckets == 0)
            return rc;
    }
    size_t k = bucket_of(m, node);
    node->next = m->buckets[k];
    m->buckets[k] = node;
    if (k < m->low)
        m->low = k;
    m->size++;
    idmap_check(m);
    return 0;
}

int sio__idmap_remove(sio__idmap *m, sio__idmap_node *node)
{
    if (m->nbuckets == 0)
        return 0;
    sio__idmap_node **pp = &m->buckets[bucket_of(m, node)];
    while (*pp != NULL && *pp != node)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return 0;
    *pp = node->next;
    node->next = NULL;
    m->size--;
    if (m->size == 0)
        sio__idmap_free(m);
    else if (m->nbuckets > SIO__IDMAP_MIN_BUCKETS && m->size < m->nbuckets / 8)
        (void)idmap_resize(m, m->nbuckets / 2); /* failure only keeps it larger */
    idmap_check(m);
    return 1;
}

sio__idmap_node *sio__idmap_find(const sio__idmap *m, const char *id, size_t len)
{
    if (m->nbuckets == 0)
        return NULL;
    sio__idmap_node *n = m->buckets[id_hash(id, len) & (m->nbuckets - 1)];
    for (; n != NULL; n = n->next) {
        const char *k = key_of(m, n);
        if (strnlen(k, len + 1) == len && memcmp(k, id, len) == 0)
            break;
    }
    return n;
}

size_t sio__idmap_size(const sio__idmap *m)
{
    return m->size;
}

sio__idmap_node *sio__idmap_any(sio__idmap *m)
{
    if (m->size == 0)
        return NULL;
    while (m->buckets[m->low] == NULL) {
        m->low++;
        SIO_ASSERT(m->low < m->nbuckets); /* size > 0: some bucket holds a node */
    }
    return m->buckets[m->low];
}

void sio__idmap_iter_init(sio__idmap_iter *it, const sio__idmap *m)
{
    it->map = m;
    it->bucket = 0;
    it->next = m->nbuckets ? m->buckets[0] : NULL;
    it->size = m->size;
}

sio__idmap_node *sio__idmap_iter_next(sio__idmap_iter *it)
{
    const sio__idmap *m = it->map;
    SIO_ASSERT(m->size == it->size); /* unchanged during the walk */
    while (it->next == NULL) {
        if (++it->bucket >= m->nbuckets)
            return NULL;
        it->next = m->buckets[it->bucket];
    }
    sio__idmap_node *n = it->next;
    it->next = n->next;
    return n;
}
