/* sio_set_allocator: one allocator for everything a server allocates.
 *
 * The library's own memory goes through core/alloc. The libraries it is
 * built on allocate too, and each has a hook: jansson (json_set_alloc_funcs:
 * every json_t of event arguments, auth and socket data), libuv
 * (uv_replace_allocator: loop internals, watcher arrays) and OpenSSL
 * (CRYPTO_set_mem_functions: the SHA-1 of the WebSocket accept key and its
 * one-time set-up, random bytes). They get core/alloc's raw functions, which
 * read the current allocator on each call, so they are installed once, on
 * the first call, and later calls only change what the functions lead to.
 *
 * The hooks are process-wide: a program's own use of jansson and libuv
 * follows the allocator too (which is what "every allocation" needs: a
 * json_t the program builds is freed by the library and the other way
 * round). OpenSSL takes its hook only before its first allocation, hence
 * SIO_EBUSY when something in the process used it earlier.
 *
 * Not covered (no allocator hook in the versions Debian 12 ships):
 * msgpack-c (the msgpack parser) and hiredis 0.14 (the Redis adapter);
 * zlib takes the allocator per stream
 * (http/compress.c). tests/unit/net/test_allocator.c measures what
 * bypasses the allocator over a server's life. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <uv.h>

#include "core/alloc.h"
#include "sioc.h"

static void *ossl_malloc(size_t size, const char *file, int line)
{
    return sio__raw_malloc(size);
}

static void *ossl_realloc(void *ptr, size_t size, const char *file, int line)
{
    return sio__raw_realloc(ptr, size);
}

static void ossl_free(void *ptr, const char *file, int line)
{
    sio__raw_free(ptr);
}

/* Hands the raw functions to the third-party libraries, once. */
static int install_hooks(void)
{
    static int installed;
    if (installed)
        return 0;
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free))
        return SIO_EBUSY;
    json_set_alloc_funcs(sio__raw_malloc, sio__raw_free);
    if (uv_replace_allocator(sio__raw_malloc, sio__raw_realloc, sio__raw_calloc, sio__raw_free) !=
        0)
        return SIO_EBUSY;
    installed = 1;
    return 0;
}

int sio_set_allocator(const sio_allocator *a)
{
    if (a != NULL && (!a->malloc || !a->calloc || !a->realloc || !a->free))
        return SIO_EINVAL;
    int rc = install_hooks();
    if (rc < 0)
        return rc;
    sio__set_allocator(a);
    return 0;
}
