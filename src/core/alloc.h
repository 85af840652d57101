/* Allocator hooks.
 *
 * All library memory goes through these wrappers so that an embedding
 * program can replace the allocator (sio_set_allocator) and tests can inject
 * allocation failures. They never abort: NULL is returned on failure and the
 * caller turns it into SIO_ENOMEM. sio__free(NULL) is a no-op. */
#ifndef SIO_CORE_ALLOC_H
#define SIO_CORE_ALLOC_H

#include <stddef.h>

void *sio__malloc(size_t size);
void *sio__calloc(size_t count, size_t size);
void *sio__realloc(void *ptr, size_t size);
void sio__free(void *ptr);
/* Duplicates len bytes and appends a NUL; NULL on failure. */
char *sio__strndup(const char *s, size_t len);
char *sio__strdup(const char *s);

/* Test hook: make the Nth allocation from now fail (0 disables). */
void sio__alloc_fail_after(unsigned long n);

#endif
