/* What the layers above Engine.IO (socketio, adapter) may use beyond the
 * public API: zero-copy sends of shared buffers.
 *
 * Shared sends: a Socket.IO broadcast is encoded once into an rcbuf holding
 * the whole Engine.IO packet ("42[...]" for text; raw bytes for binary) and
 * every recipient's queue takes a reference; the WebSocket transport writes
 * a small frame header plus those bytes, the polling transport copies them
 * into its payload when the GET is answered. */
#ifndef SIO_ENGINE_EIO_INTERNAL_H
#define SIO_ENGINE_EIO_INTERNAL_H

#include "core/rcbuf.h"
#include "core/timer.h"
#include "sioc.h"

/* Flags of sio__eio_send_rc. */
enum {
    SIO__EIO_SEND_BINARY = 1,     /* a binary message */
    SIO__EIO_SEND_NOCOMPRESS = 2, /* Node's compress: false (no httpCompression
                                   * for it; a polling payload is compressed
                                   * when any of its packets may be) */
};
/* Queues pkt (a new reference is taken; the caller keeps its own). For text,
 * pkt->data starts with the Engine.IO type digit ('4' for a message); for
 * binary it is the message bytes. flags: SIO__EIO_SEND_*. Errors as
 * sio_eio_send(). */
int sio__eio_send_rc(sio_eio_socket *s, sio__rcbuf *pkt, int flags);

#endif
