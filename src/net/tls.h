/* TLS for the HTTP server (https / wss): OpenSSL driven through memory
 * BIOs, so that libuv keeps doing all socket I/O and the rest of net sees
 * plaintext.
 *
 * Data path: ciphertext read from the socket is fed in (sio__tls_feed),
 * which runs the handshake and returns the decrypted bytes; application
 * bytes queued for writing are encrypted at flush time (sio__tls_encrypt),
 * and whatever OpenSSL wants sent (handshake messages, records, alerts) is
 * taken out with sio__tls_output. Nothing is encrypted before the
 * handshake is done: writes wait in the connection's queue meanwhile.
 *
 * Bad input (not TLS, a failed handshake, a bad record) is SIO_EPROTO: the
 * connection sends what OpenSSL queued (an alert) and closes. A handshake
 * that does not finish is bounded by the HTTP headers timeout. */
#ifndef SIO_NET_TLS_H
#define SIO_NET_TLS_H

#include <stddef.h>

#include "core/buf.h"
#include "core/rcbuf.h"
#include "sioc.h"

typedef struct sio__tls_ctx sio__tls_ctx;
typedef struct sio__tls sio__tls;

/* Loads the certificate chain, key and optional client CA of o.
 * SIO_EIO (unreadable or mismatched files), SIO_ENOMEM, SIO_EINVAL. */
int sio__tls_ctx_new(sio__tls_ctx **out, const sio_tls_options *o);
void sio__tls_ctx_free(sio__tls_ctx *ctx);

/* A server-side session for one connection. NULL on OOM. */
sio__tls *sio__tls_new(sio__tls_ctx *ctx);
void sio__tls_free(sio__tls *t);

/* Feeds len bytes read from the socket; the plaintext they complete is
 * appended to plain. 0, SIO_EPROTO (bad input: close the connection),
 * SIO_ECLOSED (the peer sent close_notify), SIO_ENOMEM. */
int sio__tls_feed(sio__tls *t, const char *in, size_t len, sio__buf *plain);
/* 1 once the handshake is done (application data may be written). */
int sio__tls_ready(const sio__tls *t);
/* Encrypts len application bytes (only when ready). 0 or SIO_ENOMEM /
 * SIO_EPROTO. */
int sio__tls_encrypt(sio__tls *t, const void *data, size_t len);
/* Bytes waiting to be sent. */
size_t sio__tls_pending(const sio__tls *t);
/* Moves the bytes waiting to be sent into a new buffer (NULL if none or
 * on OOM: *err tells which). */
sio__rcbuf *sio__tls_output(sio__tls *t, int *err);

#endif
