/* Reference-counted buffers: see rcbuf.h. */
#include "core/rcbuf.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

sio__rcbuf *sio__rcbuf_new2(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen > SIZE_MAX / 2 || blen > SIZE_MAX / 2 - sizeof(sio__rcbuf) - 1 - alen)
        return NULL;
    sio__rcbuf *r = sio__malloc(sizeof *r + alen + blen + 1);
    if (r == NULL)
        return NULL;
    r->refs = 1;
    r->len = alen + blen;
    if (a && alen)
        memcpy(r->data, a, alen);
    if (b && blen)
        memcpy(r->data + alen, b, blen);
    r->data[r->len] = '\0';
    return r;
}

sio__rcbuf *sio__rcbuf_new(const void *data, size_t len)
{
    return sio__rcbuf_new2(data, len, NULL, 0);
}

void sio__rcbuf_unref(sio__rcbuf *b)
{
    if (b && --b->refs == 0)
        sio__free(b);
}
