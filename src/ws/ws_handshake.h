/* WebSocket opening handshake, server side (RFC 6455 section 4.2).
 *
 * Sans-I/O and stateless: the HTTP layer parses the request and hands us the
 * few header values that matter; we say whether the upgrade is acceptable
 * and, if so, append the 101 response. A missing header is passed as an
 * empty slice ({NULL, 0}). Header values are treated as the raw field value
 * (surrounding spaces/tabs are ignored; token lists are comma-separated).
 *
 * Rules enforced by sio__ws_check_upgrade (section 4.2.1):
 *  - the method is GET and the version is HTTP/1.1 (or a later 1.x);
 *  - Upgrade lists the token "websocket" (case-insensitive);
 *  - Connection lists the token "upgrade" (case-insensitive);
 *  - Sec-WebSocket-Version is exactly "13";
 *  - Sec-WebSocket-Key is the base64 form of 16 bytes: 22 characters of the
 *    base64 alphabet followed by "==" (the check Node's `ws` makes).
 * Any failure means "answer 400 Bad Request". */
#ifndef SIO_WS_HANDSHAKE_H
#define SIO_WS_HANDSHAKE_H

#include "core/buf.h"

/* Length of a Sec-WebSocket-Accept value: base64 of a 20-byte SHA-1. */
#define SIO_WS_ACCEPT_LEN 28

/* Validates an upgrade request's headers. is_get: the method was GET;
 * version_minor: the y of HTTP/1.y. Returns 0, or SIO_EPROTO (answer 400). */
int sio__ws_check_upgrade(int is_get, int version_minor, sio__slice upgrade_hdr,
                          sio__slice connection_hdr, sio__slice version_hdr, sio__slice key_hdr);

/* Computes base64(SHA1(key + GUID)) into out (NUL-terminated). key is the
 * Sec-WebSocket-Key value (surrounding whitespace ignored). Returns 0, or
 * SIO_EINVAL if key is empty, SIO_ENOMEM if hashing fails. */
int sio__ws_accept_key(char out[SIO_WS_ACCEPT_LEN + 1], sio__slice key);

/* Computes one accept key so that OpenSSL's lazy set-up (providers, about
 * 2 MB of libcrypto paged in) happens when a server starts, not during the
 * first client's handshake. */
void sio__ws_handshake_warmup(void);

/* Appends "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n
 * Connection: Upgrade\r\nSec-WebSocket-Accept: <accept>\r\n" followed by
 * extra_headers (NULL, or complete "Name: value\r\n" lines) and the final
 * "\r\n". On failure out is left exactly as it was. Returns 0, SIO_EINVAL
 * (empty key), SIO_ENOMEM or SIO_ELIMIT (out's cap). */
int sio__ws_accept_response(sio__buf *out, sio__slice key, const char *extra_headers);

#endif
