/* Engine.IO v4 packet and payload codec (sans-I/O).
 *
 * Spec: socketio/engine.io-protocol, README revision 4, sections
 * "Encoding/Packet" and "Encoding/Payload":
 *  - a text packet is one ASCII digit (the type, 0-6) followed by its data:
 *    "4hello" is a message, "2probe" a ping with data, "4" an empty message;
 *  - over WebSocket a binary frame is a binary message: raw bytes, no type
 *    digit (the caller handles those; there is nothing to decode);
 *  - over HTTP long-polling several packets travel in one body separated by
 *    the record separator "\x1e"; a binary message there is "b" followed by
 *    the base64 of its bytes ("b" alone is an empty binary message).
 * The decoder is strict: an empty packet (empty body, separator at either
 * end or doubled), a type outside 0-6, or non-canonical base64 is
 * SIO_EPROTO, which the session layer answers with a "parse error" close,
 * as the Node server does. Data handed out is borrowed from the input
 * (except decoded base64, see sio__eio_decode_payload). Stateless and
 * reentrant. */
#ifndef SIO_ENGINE_EIO_PACKET_H
#define SIO_ENGINE_EIO_PACKET_H

#include <stddef.h>

#include "core/buf.h"

typedef enum {
    SIO_EIO_OPEN = 0, /* server -> client handshake (JSON data) */
    SIO_EIO_CLOSE,    /* either side: close the session */
    SIO_EIO_PING,     /* heartbeat, or "probe" during upgrade */
    SIO_EIO_PONG,     /* heartbeat answer, or "probe" answer */
    SIO_EIO_MESSAGE,  /* application data (text or binary) */
    SIO_EIO_UPGRADE,  /* client: switch to the probed transport */
    SIO_EIO_NOOP      /* server: flush a pending poll during upgrade */
} sio__eio_type;

#define SIO_EIO_RECORD_SEPARATOR '\x1e'

typedef struct sio__eio_packet {
    sio__eio_type type; /* always SIO_EIO_MESSAGE when binary */
    int binary;         /* 1: data is raw bytes (from "b" + base64) */
    sio__slice data;    /* payload after the type digit, borrowed */
} sio__eio_packet;

/* Decodes one text packet ("4hello", "2probe", "4"). SIO_EPROTO for an
 * empty string or a type outside 0-6. data points into s. */
int sio__eio_decode_text(const char *s, size_t len, sio__eio_packet *out);

/* Called once per decoded packet; non-zero stops decoding. */
typedef int (*sio__eio_packet_cb)(const sio__eio_packet *p, void *data);

/* Decodes a polling POST body, calling cb for each packet in order.
 * Returns the number of packets on success. Stops at the first problem:
 * SIO_EPROTO on an invalid packet (packets before it were delivered),
 * SIO_ELIMIT before delivering packet max_packets + 1 (0 = no limit),
 * SIO_ENOMEM if the base64 scratch space cannot be allocated, or cb's
 * non-zero return value as is. Binary data lives in a scratch buffer that
 * is only valid during the callback; text data points into body. */
int sio__eio_decode_payload(const char *body, size_t len, unsigned max_packets,
                            sio__eio_packet_cb cb, void *data);

/* Appends a text packet as it goes on the wire: the type digit, then data.
 * SIO_EINVAL for a bad type; SIO_ENOMEM/SIO_ELIMIT (out unchanged). */
int sio__eio_encode_text(sio__buf *out, sio__eio_type type, const void *data, size_t len);

/* Appends one element of a polling payload: "\x1e" first unless first is
 * set, then the text packet, or for binary "b" + base64(data) (binary is
 * only valid with SIO_EIO_MESSAGE: SIO_EINVAL otherwise). Nothing is
 * appended on error (SIO_EINVAL, SIO_ENOMEM, SIO_ELIMIT). */
int sio__eio_encode_payload_elem(sio__buf *out, int first, sio__eio_type type, int binary,
                                 const void *data, size_t len);

#endif
