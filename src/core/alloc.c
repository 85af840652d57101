/* Allocator hooks: see alloc.h. The failure counter exists for
 * out-of-memory tests (the idea comes from SQLite's fault injection). */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "sioc.h"

static sio_allocator allocator = {malloc, calloc, realloc, free};
static unsigned long fail_countdown;

void sio__set_allocator(const sio_allocator *a)
{
    allocator = a ? *a : (sio_allocator){malloc, calloc, realloc, free};
}

void *sio__raw_malloc(size_t size)
{
    return allocator.malloc(size ? size : 1);
}

void *sio__raw_calloc(size_t count, size_t size)
{
    return allocator.calloc(count ? count : 1, size ? size : 1);
}

void *sio__raw_realloc(void *ptr, size_t size)
{
    return allocator.realloc(ptr, size ? size : 1);
}

void sio__raw_free(void *ptr)
{
    if (ptr)
        allocator.free(ptr);
}

void sio__alloc_fail_after(unsigned long n)
{
    fail_countdown = n;
}

/* True when the injected failure is due now. */
static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    return --fail_countdown == 0;
}

void *sio__malloc(size_t size)
{
    return should_fail() ? NULL : sio__raw_malloc(size);
}

void *sio__calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : sio__raw_calloc(count, size);
}

void *sio__realloc(void *ptr, size_t size)
{
    return should_fail() ? NULL : sio__raw_realloc(ptr, size);
}

void sio__free(void *ptr)
{
    sio__raw_free(ptr);
}

char *sio__strndup(const char *s, size_t len)
{
    char *p = sio__malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sio__strdup(const char *s)
{
    return sio__strndup(s, strlen(s));
}
