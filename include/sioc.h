/* sioc: a Socket.IO v5 / Engine.IO v4 server in C.
 *
 * Conventions (the libuv ones):
 *  - Every handle is opaque and carries a user pointer (`data`); every
 *    callback receives the `void *data` given when it was registered.
 *  - Fallible functions return 0 (or a non-negative value) on success and a
 *    negative SIO_E* code on failure; sio_strerror() names it. errno is never
 *    the channel for an error, and the library never calls exit() or abort().
 *  - Options structs are filled with the Node.js server's defaults by their
 *    *_init function; change the fields you care about, then pass them in.
 *    Strings in options are copied: the caller keeps ownership.
 *  - Everything runs on the loop thread except sio_loop_post(), which is
 *    safe to call from any thread.
 */
#ifndef SIOC_H
#define SIOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIOC_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

enum {
    SIO_OK = 0,
    SIO_ENOMEM = -1,     /* out of memory */
    SIO_EINVAL = -2,     /* invalid argument */
    SIO_EPROTO = -3,     /* malformed input from the peer (parse error) */
    SIO_ELIMIT = -4,     /* a configured limit was exceeded */
    SIO_EAGAIN = -5,     /* need more input / try again */
    SIO_ECLOSED = -6,    /* the object is closed or closing */
    SIO_ENOTFOUND = -7,  /* no such object (session, namespace, ...) */
    SIO_EIO = -8,        /* I/O error (socket, file, database) */
    SIO_ETIMEDOUT = -9,  /* a deadline passed */
    SIO_EBUSY = -10,     /* the operation conflicts with one in progress */
    SIO_EADDRINUSE = -11, /* listen: address already in use */
    SIO_EEXIST = -12,    /* already exists / duplicate */
    SIO_EACCES = -13,    /* refused by policy (middleware, allowRequest) */
};

/* A static English description of an SIO_E* code ("unknown error" else). */
const char *sio_strerror(int err);

/* ------------------------------------------------------------- allocator */

typedef struct sio_allocator {
    void *(*malloc)(size_t size);
    void *(*calloc)(size_t count, size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} sio_allocator;

/* Replaces the allocator for all later allocations (NULL restores libc's).
 * Call it before creating any handle. SIO_EINVAL if a function is missing. */
int sio_set_allocator(const sio_allocator *allocator);

/* @@ENGINE_API@@ */

#ifdef __cplusplus
}
#endif

#endif
