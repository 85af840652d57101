/* A socket's handler records: add, remove, and snapshot dispatch (see the
 * design comment in sio_handlers.c). Records are sio__handler (in
 * sio_internal.h); kinds are SIO__H_*, possibly with SIO__H_ONCE. */
#ifndef SIO_SOCKETIO_SIO_HANDLERS_H
#define SIO_SOCKETIO_SIO_HANDLERS_H

#include "socketio/sio_internal.h"

/* Adds a record (event may be NULL: ""), at the end or, with prepend, at
 * the front. SIO_EINVAL (fn NULL), SIO_ENOMEM. */
int sio__handler_add(sio_socket *s, int kind, const char *event, void (*fn)(void), void *data,
                     int prepend);

/* Which matching records sio__handler_remove removes. */
enum { SIO__RM_FIRST, SIO__RM_LAST, SIO__RM_ALL };
/* Removes records of kind (once or not) for event (NULL: any name) whose
 * fn and data are these (fn NULL: any). Returns how many were removed. */
int sio__handler_remove(sio_socket *s, int kind, const char *event, void (*fn)(void), void *data,
                        int which);

/* A copy of a socket's records taken when a dispatch begins. */
typedef struct sio__hsnap {
    char *buf;       /* local or allocated */
    size_t len, off; /* bytes, read position */
    char local[384]; /* enough for a dozen handlers */
} sio__hsnap;

/* SIO_ENOMEM leaves an empty snapshot (nothing is dispatched). */
int sio__hsnap_take(sio__hsnap *sn, const sio_socket *s);
/* The next snapshot record of kind, or an SIO__H_EVENT record named event
 * (event NULL: none), or NULL at the end. Once records are removed from s
 * here, and skipped if a nested dispatch removed them first. */
const sio__handler *sio__hsnap_next(sio__hsnap *sn, sio_socket *s, int kind, const char *event);
void sio__hsnap_free(sio__hsnap *sn);

/* The i-th live record of kind (0-based), or NULL. */
const sio__handler *sio__handler_nth(const sio_socket *s, int kind, size_t i);
/* Live records of kind (for event when not NULL). */
size_t sio__handler_count(const sio_socket *s, int kind, const char *event);

#endif
