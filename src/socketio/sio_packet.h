/* Socket.IO v5 packet codec (sans-I/O).
 *
 * Spec: socket.io-protocol v5 README, "Packet encoding"; behaviour checked
 * against socket.io-parser 4.2 (Encoder/Decoder). A packet is
 *
 *   <type>[<attachments>-][<nsp>,][<ack id>][<JSON payload>]
 *
 * sent as one Engine.IO text message, followed for BINARY_EVENT/BINARY_ACK
 * by <attachments> binary Engine.IO messages. Binary data stays where the
 * wire put it: the JSON tree keeps the {"_placeholder":true,"num":N} objects
 * and the attachments travel alongside as ref-counted buffers, so an echo or
 * a broadcast re-sends the same bytes without copying them.
 *
 * The decoder is strict where socket.io-parser is, and bounded where it is
 * not: JSON nesting depth, ack ids past 2^53-1 (JavaScript's safe integers),
 * a cap on attachments (zero is rejected: "51-" would never complete), a cap
 * on the total bytes of one multi-attachment packet, and a deadline for the
 * attachments to arrive. Every error is a return code; nothing aborts. */
#ifndef SIO_SOCKETIO_SIO_PACKET_H
#define SIO_SOCKETIO_SIO_PACKET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rcbuf.h"

/* Packet types (protocol v5). */
enum {
    SIO_PKT_CONNECT = 0,
    SIO_PKT_DISCONNECT = 1,
    SIO_PKT_EVENT = 2,
    SIO_PKT_ACK = 3,
    SIO_PKT_CONNECT_ERROR = 4,
    SIO_PKT_BINARY_EVENT = 5,
    SIO_PKT_BINARY_ACK = 6,
};

/* Largest ack id accepted or produced: Number.MAX_SAFE_INTEGER, so a
 * JavaScript peer never sees an id it cannot represent exactly. */
#define SIO_ACK_ID_MAX INT64_C(9007199254740991)

/* One decoded packet. Everything is owned by the packet. */
typedef struct sio__packet {
    int type;         /* SIO_PKT_* */
    char *nsp;        /* namespace, NUL-terminated; "/" when absent */
    int64_t id;       /* ack id, or -1 when absent */
    json_t *data;     /* payload, or NULL when absent */
    unsigned nattach; /* attachments announced by a BINARY_* header */
    unsigned nrecv;   /* attachments received so far */
    sio__rcbuf **att; /* nattach slots, the first nrecv filled */
} sio__packet;

/* Decoder limits (copied from the server options). */
typedef struct sio__packet_limits {
    unsigned max_attachments;    /* 10 (socket.io-parser's maxAttachments) */
    unsigned max_depth;          /* 32: JSON nesting levels */
    size_t max_binary_bytes;     /* 1e6: attachments of one packet, summed */
    uint32_t attachment_timeout; /* 10000 ms from header to last attachment */
} sio__packet_limits;

void sio__packet_limits_init(sio__packet_limits *l);

/* Frees a packet and everything it owns. NULL is a no-op. */
void sio__packet_free(sio__packet *p);

/* Decodes one text message into a new packet (attachments not yet
 * received). SIO_EPROTO for anything socket.io-parser would reject or that
 * breaks a limit, SIO_ENOMEM. */
int sio__packet_decode(const char *msg, size_t len, const sio__packet_limits *lim,
                       sio__packet **out);

/* Checks a decoded BINARY_* tree: every {"_placeholder":true} object must
 * carry an integer num in [0, nattach). 0 or SIO_EPROTO. */
int sio__packet_check_placeholders(const json_t *data, unsigned nattach);

/* If node is a placeholder object, its num (>= 0), else -1. */
int sio__placeholder_num(const json_t *node);

/* A streaming decoder: text headers, then binary attachments. */
typedef struct sio__decoder {
    const sio__packet_limits *lim; /* limits applied to every packet (the
                                    * server's, shared by its clients) */
    sio__packet *pending;          /* BINARY_* header waiting for attachments */
    size_t pending_bytes;          /* attachment bytes received for pending */
    uint64_t deadline;             /* when pending must be complete */
} sio__decoder;

/* lim is referenced, not copied: it must outlive the decoder. */
void sio__decoder_init(sio__decoder *d, const sio__packet_limits *lim);
/* Frees a partial packet (on disconnect); the decoder stays usable. */
void sio__decoder_reset(sio__decoder *d);

/* Feeds one Engine.IO message. Returns 1 with *out set to a complete packet
 * (the caller frees it), 0 when a BINARY_* header or attachment was taken
 * and more attachments are awaited (d->pending shows the header), or a
 * negative code: SIO_EPROTO (bad packet, text while reassembling, binary
 * when not), SIO_ELIMIT (attachment bytes), SIO_ENOMEM. After an error the
 * partial packet is freed. */
int sio__decoder_add(sio__decoder *d, const char *msg, size_t len, int binary, uint64_t now,
                     sio__packet **out);

/* When the pending packet expires (UINT64_MAX if nothing is pending). */
uint64_t sio__decoder_deadline(const sio__decoder *d);

/* Encoding. Every encoder appends a whole Engine.IO text message, starting
 * with the Engine.IO message type '4', to out. */

/* Writes "4<type>[<n>-][<nsp>,][<id>]": nsp "/" is omitted; id < 0 is. */
int sio__packet_encode_head(sio__buf *out, int type, unsigned nattach, const char *nsp, int64_t id);

/* CONNECT / CONNECT_ERROR / DISCONNECT with an optional JSON payload. */
int sio__packet_encode_json(sio__buf *out, int type, const char *nsp, const json_t *data);

/* EVENT (event != NULL) or ACK (event == NULL): the payload is the array
 * [event?, args..., offset?]. args may be NULL (no arguments). type becomes
 * BINARY_* when nattach > 0. offset (connection state recovery) is appended
 * as a last string argument when not NULL. */
int sio__packet_encode_args(sio__buf *out, int ack, const char *nsp, int64_t id, const char *event,
                            const json_t *args, unsigned nattach, const char *offset);

/* socket.io-parser's isPayloadValid for a packet of type with payload
 * data (NULL: none), stricter for EVENT (a name is required, and it may
 * not be reserved). */
int sio__packet_payload_valid(int type, const json_t *data);

/* Whether name is reserved on the server side (connect, connect_error,
 * disconnect, disconnecting, newListener, removeListener). */
int sio__event_reserved(const char *name, size_t len);

#endif
