/* Reference-counted immutable byte buffers.
 *
 * A broadcast is encoded once into an rcbuf and every recipient's outbound
 * queue holds a reference, so N deliveries cost one encode and N pointer
 * pushes. The bytes are immutable once shared. Single-threaded: the count is
 * not atomic (everything runs on the loop thread). */
#ifndef SIO_CORE_RCBUF_H
#define SIO_CORE_RCBUF_H

#include <stddef.h>

typedef struct sio__rcbuf {
    unsigned refs;
    size_t len;
    char data[]; /* len bytes plus a NUL */
} sio__rcbuf;

/* New buffer with refs = 1 holding a copy of data (may be NULL to leave the
 * bytes uninitialised for the caller to fill). NULL on out-of-memory. */
sio__rcbuf *sio__rcbuf_new(const void *data, size_t len);
/* Takes a buffer built with two parts (prefix then body) in one allocation. */
sio__rcbuf *sio__rcbuf_new2(const void *a, size_t alen, const void *b, size_t blen);
static inline sio__rcbuf *sio__rcbuf_ref(sio__rcbuf *b)
{
    b->refs++;
    return b;
}
/* Drops one reference; frees on the last. NULL is a no-op. */
void sio__rcbuf_unref(sio__rcbuf *b);

#endif
