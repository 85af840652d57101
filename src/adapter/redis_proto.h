/* The wire protocol of @socket.io/redis-adapter 8.3 (the classic pub/sub
 * adapter) and of @socket.io/redis-emitter 5.1, sans-I/O: channel names,
 * message encoding and decoding. No connection, no clock: the Redis
 * adapter (redis_adapter.c) feeds it the bytes Redis delivered and
 * publishes the bytes it returns.
 *
 * Channels of a namespace NSP with key prefix KEY (option "key", default
 * "socket.io") and node id UID (6 characters, uid2(6) in Node):
 *   KEY#NSP#           broadcasts with zero or several rooms
 *   KEY#NSP#ROOM#      broadcasts to exactly one room (PSUBSCRIBE KEY#NSP#*)
 *   KEY-request#NSP#   requests to every node (PUBSUB NUMSUB counts nodes)
 *   KEY-response#NSP#  responses
 *   KEY-response#NSP#UID#  responses for UID (publishOnSpecificResponseChannel)
 *
 * Messages, exactly as Node writes them (golden vectors captured from the
 * real adapter live in tests/unit/adapter/redis_golden.inc):
 *   broadcast   msgpack [uid, {type, data, nsp}, {rooms, except, flags}]
 *   requests    JSON {uid, requestId?, type, ...}; BROADCAST is msgpack
 *   responses   JSON {requestId, ...}; BROADCAST_ACK is msgpack
 * A request or response whose first byte is '{' is JSON, anything else
 * msgpack (Node's rule). Binary values travel as msgpack bin; decoded, they
 * become Socket.IO placeholders {"_placeholder":true,"num":k} in the JSON
 * tree with the bytes as attachment k, which is what sio_args holds, so a
 * remote broadcast is queued to local sockets as the same shared buffers.
 *
 * Untrusted input: msgpack is read by the msgpack parser's bounded reader
 * (a declared length past the end of the message is refused before
 * anything is allocated), nesting is capped, and every field is
 * type-checked on access. Errors are SIO_EPROTO / SIO_ENOMEM. */
#ifndef SIO_ADAPTER_REDIS_PROTO_H
#define SIO_ADAPTER_REDIS_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rcbuf.h"
#include "socketio/sio_internal.h"

/* Request types (RequestType in the adapter's lib/index.ts). */
enum {
    SIO__RT_SOCKETS = 0,
    SIO__RT_ALL_ROOMS = 1,
    SIO__RT_REMOTE_JOIN = 2,
    SIO__RT_REMOTE_LEAVE = 3,
    SIO__RT_REMOTE_DISCONNECT = 4,
    SIO__RT_REMOTE_FETCH = 5,
    SIO__RT_SERVER_SIDE_EMIT = 6,
    SIO__RT_BROADCAST = 7,
    SIO__RT_BROADCAST_CLIENT_COUNT = 8,
    SIO__RT_BROADCAST_ACK = 9,
};

/* Nesting accepted in a decoded message (arrays and maps). */
#define SIO__REDIS_MAX_DEPTH 32

/* Length of a node id (uid2(6)) and of a request id. */
#define SIO__REDIS_UID_LEN 6

/* The channel names of one namespace (all owned). */
typedef struct sio__rchan {
    char *bcast;    /* KEY#NSP# */
    char *request;  /* KEY-request#NSP# */
    char *response; /* KEY-response#NSP# */
    char *specific; /* KEY-response#NSP#UID# */
} sio__rchan;

/* Builds the names. SIO_ENOMEM (c is then empty and safe to fini). */
int sio__rchan_init(sio__rchan *c, const char *key, const char *nsp, const char *uid);
void sio__rchan_fini(sio__rchan *c);
/* The channel a broadcast with these rooms goes to: bcast, or bcast ROOM#
 * when there is exactly one room. Appended to out. SIO_ENOMEM. */
int sio__rchan_broadcast(const sio__rchan *c, char *const *rooms, size_t nrooms, sio__buf *out);
/* The room of a channel delivered by the pattern subscription: 0 with
 * *room = "" (namespace channel) or the room name (a view into channel),
 * SIO_EPROTO if the channel is not one of this namespace's. */
int sio__rchan_room(const sio__rchan *c, sio__slice channel, sio__slice *room);
/* The response channel for a request from uid (specific: per node). */
int sio__rchan_response_to(const sio__rchan *c, int specific, const char *uid, sio__buf *out);

/* One decoded message. obj is the message as an object: a broadcast
 * message is presented as {"uid":..,"packet":..,"opts":..}. Binary values
 * are placeholders whose bytes are att[num]. */
typedef struct sio__rmsg {
    json_t *obj;      /* owned */
    sio__rcbuf **att; /* owned references */
    size_t natt, catt;
    int type;               /* "type" (SIO__RT_*), -1 when absent */
    const char *uid;        /* "uid", "" when absent (the emitter's joins) */
    const char *request_id; /* "requestId", NULL when absent */
} sio__rmsg;

void sio__rmsg_free(sio__rmsg *m);
/* Decodes a message received on the broadcast channels (msgpack array of
 * three). SIO_EPROTO, SIO_ENOMEM. On error m is empty. */
int sio__rmsg_decode_broadcast(const void *data, size_t len, sio__rmsg *m);
/* Decodes a request or response: JSON if it starts with '{', else msgpack
 * (a map). A "type" that is present must be an integer 0..9. */
int sio__rmsg_decode_request(const void *data, size_t len, sio__rmsg *m);

/* Broadcast options from m->obj[field] ({rooms, except, flags}): rooms and
 * except must be arrays of strings (missing: empty); flags.volatile,
 * flags.local and flags.compress set SIO__BC_*, flags.timeout o->timeout.
 * Strings are copied into o (free with sio__rbopts_fini). */
int sio__rmsg_bopts(const sio__rmsg *m, const char *field, sio__bopts *o);
void sio__rbopts_fini(sio__bopts *o);
/* A packet field ({type, data, nsp}) of a broadcast or BROADCAST request:
 * an EVENT (2) whose data is [event, ...args]. Gives the namespace ("/"
 * when absent), the event name (a view into m) and the arguments, a new
 * sio_args holding references to m's attachments. SIO_EPROTO, SIO_ENOMEM. */
int sio__rmsg_event(const sio__rmsg *m, const char *field, const char **nsp, const char **event,
                    sio_args **args);
/* An array of strings in m->obj[field], copied (free with
 * sio__rstrv_free). Missing: SIO_EPROTO. */
int sio__rmsg_strings(const sio__rmsg *m, const char *field, char ***out, size_t *n);
void sio__rstrv_free(char **v, size_t n);
/* The arguments held in m->obj[field] (any JSON value: wrapped as one
 * argument unless it is an array and as_list is set), sharing m's
 * attachments. SIO_EPROTO when missing, SIO_ENOMEM. */
int sio__rmsg_args(const sio__rmsg *m, const char *field, int as_list, sio_args **out);

/* ---- encoding: each appends the complete message to out */

/* [uid, {type:2, data:[event,...args], nsp}, {rooms, except, flags}];
 * flags as Node's operator sets them: volatile, compress, timeout (the
 * local flag is never published). */
int sio__renc_broadcast(sio__buf *out, const char *uid, const char *nsp, const char *event,
                        const sio_args *args, const sio__bopts *o);
/* BROADCAST request (msgpack): {uid, requestId, type:7, packet, opts}. */
int sio__renc_broadcast_request(sio__buf *out, const char *uid, const char *request_id,
                                const char *nsp, const char *event, const sio_args *args,
                                const sio__bopts *o);
/* BROADCAST_ACK response (msgpack): {type:9, requestId, packet: first
 * argument of the client's ack (null when none)}. */
int sio__renc_broadcast_ack(sio__buf *out, const char *request_id, const sio_args *ack_args);
/* A JSON request or response: obj serialised compactly, keys in order. */
int sio__renc_json(sio__buf *out, const json_t *obj);
/* The head of a JSON request {"uid","requestId"?,"type"} (request_id
 * NULL: none) for the caller to add its fields to, in Node's order. */
json_t *sio__rjson_request(const char *uid, const char *request_id, int type);
/* The head of a JSON response: {"type"?,"requestId"} (type < 0: none). */
json_t *sio__rjson_response(int type, const char *request_id);
/* JSON selectors {"rooms":[...],"except":[...]} of o (a new object). */
json_t *sio__rjson_selector(const sio__bopts *o);
/* A JSON array of n strings (a new array). */
json_t *sio__rjson_strings(char *const *v, size_t n);

/* An args value as plain JSON (placeholders replaced by Node's Buffer
 * JSON form {"type":"Buffer","data":[...]}), as JSON.stringify shows a
 * Buffer: for JSON messages carrying user values. New reference. */
json_t *sio__rjson_value(const json_t *v, sio__rcbuf *const *att, size_t natt);

#endif
