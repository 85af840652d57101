/* Node's `parser` option with socket.io-msgpack-parser 3.0 (sans-I/O).
 *
 * With that parser every packet is ONE binary Engine.IO message: a msgpack
 * map {type, nsp, data, id} (the client adds keys such as "options", which
 * are ignored), binary values inline as msgpack bin; there are no
 * BINARY_EVENT/BINARY_ACK types and no attachments. The decoder checks what
 * the npm parser's checkPacket checks (type 0..4, nsp a string, data per
 * type, id an integer) and, like the default decoder, refuses reserved
 * event names, ack ids outside [0, 2^53-1], nesting past max_depth and
 * more than max_binary_bytes of binary values.
 *
 * Inside the server nothing changes: a decoded packet is a sio__packet
 * whose binary values are placeholders {"_placeholder":true,"num":k} with
 * the bytes in its attachments, as the default decoder makes them, so
 * handlers, sio_args and broadcasts work the same. Outgoing packets are
 * encoded once in the default text form (shared by every recipient) and
 * turned into msgpack once per encoded packet, on the first send to a
 * msgpack client (sio__msgpack_from_encoded).
 *
 * Value mapping, as notepack.io (the npm parser's codec) does it: nil ->
 * null, bool, integers (uint64 past INT64_MAX as a real), float32/64 ->
 * real, str -> string (must be UTF-8), bin and ext type 0 (ArrayBuffer) ->
 * binary, fixext 1 type 0 (undefined) -> null (an absent id), fixext 8
 * type 0 (Date) -> its ISO 8601 string, map keys that are integers -> their
 * decimal string. Other ext types, and map keys with a NUL byte (jansson
 * looks keys up as C strings), are refused. Encoding writes the
 * smallest msgpack form of each value through libmsgpack-c's packer.
 *
 * Decoding is a bounded reader of our own rather than msgpack-c's
 * unpacker: that one allocates an array or map of the announced size
 * before reading it, so a 5-byte message announcing 2^32 elements would
 * make the server try to allocate 64 GiB. Here a count can never exceed
 * the bytes left, and nothing is allocated beyond the JSON values built. */
#ifndef SIO_SOCKETIO_SIO_MSGPACK_H
#define SIO_SOCKETIO_SIO_MSGPACK_H

#include <msgpack.h>

#include "socketio/sio_internal.h"

/* Decodes one binary Engine.IO message into a complete packet (attachments
 * all received). SIO_EPROTO for anything the npm parser would reject or
 * that breaks a limit, SIO_ENOMEM. */
int sio__msgpack_decode(const char *msg, size_t len, const sio__packet_limits *lim,
                        sio__packet **out);

/* Encodes a packet as msgpack into out (appended): type (BINARY_* become
 * EVENT/ACK), nsp, data (placeholders replaced by the bytes of att[num]),
 * id when >= 0. SIO_ENOMEM, SIO_EINVAL (a placeholder without its
 * attachment). */
int sio__msgpack_encode(sio__buf *out, int type, const char *nsp, int64_t id, const json_t *data,
                        sio__rcbuf *const *att, size_t natt);

/* The value codec on its own, for other msgpack users (the Redis adapter's
 * messages). decode_value: exactly one value filling [msg, msg+len), at
 * most max_depth levels and max_bin bytes of binary values; binary values
 * become placeholders whose bytes are appended to *att (*natt counts
 * them; the caller frees both, also on error). pack_value: v with
 * placeholders of att as bin. SIO_EPROTO, SIO_ENOMEM. */
int sio__msgpack_decode_value(const char *msg, size_t len, unsigned max_depth, size_t max_bin,
                              json_t **out, sio__rcbuf ***att, unsigned *natt);
int sio__msgpack_pack_value(msgpack_packer *pk, const json_t *v, sio__rcbuf *const *att,
                            size_t natt);

/* The msgpack form of an encoded text packet (made on first use, then kept
 * in e->mp; e is otherwise unchanged). NULL on OOM. */
sio__rcbuf *sio__msgpack_from_encoded(sio__encoded *e);

#endif
