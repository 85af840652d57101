/* Allocator hooks.
 *
 * All library memory goes through these wrappers so that an embedding
 * program can replace the allocator (sio_set_allocator) and tests can inject
 * allocation failures. They never abort: NULL is returned on failure and the
 * caller turns it into SIO_ENOMEM. sio__free(NULL) is a no-op. */
#ifndef SIO_CORE_ALLOC_H
#define SIO_CORE_ALLOC_H

#include <stddef.h>

#include "sioc.h"

void *sio__malloc(size_t size);
void *sio__calloc(size_t count, size_t size);
void *sio__realloc(void *ptr, size_t size);
void sio__free(void *ptr);
/* Duplicates len bytes and appends a NUL; NULL on failure. */
char *sio__strndup(const char *s, size_t len);
char *sio__strdup(const char *s);

/* Installs a (validated) allocator for the library's own allocations, NULL
 * for libc's. sio_set_allocator (net/allocator.c) calls it after handing the
 * third-party libraries the raw functions below. */
void sio__set_allocator(const sio_allocator *allocator);
/* The current allocator without fault injection, with NULL-safe free: what
 * jansson, libuv and OpenSSL are given, so their memory follows
 * sio_set_allocator too. */
void *sio__raw_malloc(size_t size);
void *sio__raw_calloc(size_t count, size_t size);
void *sio__raw_realloc(void *ptr, size_t size);
void sio__raw_free(void *ptr);

/* Test hook: make the Nth allocation from now fail (0 disables). */
void sio__alloc_fail_after(unsigned long n);

#endif
