/* HTTP response compression (Node engine.io's httpCompression for polling
 * responses): content negotiation on Accept-Encoding between gzip and
 * deflate, and one-shot zlib compression of a body.
 *
 * Negotiation follows the npm `negotiator` package that Node's `accepts`
 * uses: each listed coding has a q-value (default 1, "q=0" refuses it), "*"
 * stands for any coding not listed, the highest q wins and, between equal
 * q-values, the coding listed first by the client (then gzip before
 * deflate, the server's order). */
#ifndef SIO_HTTP_COMPRESS_H
#define SIO_HTTP_COMPRESS_H

#include <stddef.h>

#include "core/buf.h"

/* Which coding to answer with for this Accept-Encoding value (NULL header:
 * none): "gzip", "deflate" or NULL (send the body as it is). */
const char *sio__http_pick_encoding(const char *accept_encoding, size_t len);

/* Compresses in[0..len) with zlib as coding ("gzip" or "deflate", the
 * zlib format Node's createDeflate writes) into out (emptied first).
 * 0, SIO_EINVAL (unknown coding), SIO_ENOMEM, SIO_EIO (zlib error). */
int sio__http_compress(const char *coding, const void *in, size_t len, sio__buf *out);

#endif
