/* Percent-decoding for request targets (RFC 3986 2.1) and the
 * application/x-www-form-urlencoded query strings Engine.IO uses
 * ("?EIO=4&transport=polling&sid=..."), plus a path check for static files.
 *
 * Decoding is strict: '%' must be followed by two hex digits, otherwise
 * SIO_EPROTO, so that ambiguous encodings never reach a router or the file
 * system. Outputs replace the contents of out (out->len is reset first) and
 * respect out's hard limit (SIO_ELIMIT). */
#ifndef SIO_CORE_QUERY_H
#define SIO_CORE_QUERY_H

#include "core/buf.h"

/* The value of a hexadecimal digit, or -1. */
int sio__hex_digit(char c);

/* Percent-decodes in into out ('+' stays '+': this is for paths).
 * 0, SIO_EPROTO (bad escape), SIO_ENOMEM or SIO_ELIMIT. */
int sio__url_decode(sio__slice in, sio__buf *out);

/* Looks up key in a query string (without the '?'): pairs separated by '&',
 * "k=v" or "k" (empty value); keys are compared after decoding; the first
 * match wins. Returns 1 with the value decoded ('+' as space) into out,
 * 0 if absent (out emptied), SIO_EPROTO if a key scanned or the value found
 * is badly encoded, SIO_ENOMEM or SIO_ELIMIT. */
int sio__query_get(sio__slice query, const char *key, sio__buf *out);

/* The next non-empty "k=v" pair of query from *pos (start at 0), both
 * decoded ('+' as space) into key and value. 1 with a pair, 0 at the end,
 * SIO_EPROTO for a badly encoded pair (*pos is past it: the caller may go
 * on), SIO_ENOMEM, SIO_ELIMIT. */
int sio__query_next(sio__slice query, size_t *pos, sio__buf *key, sio__buf *value);

/* 1 if a decoded path is safe to map under a static root: starts with '/',
 * no "." or ".." segment, no NUL, backslash or other control byte.
 * 0 otherwise. */
int sio__path_is_safe(sio__slice decoded_path);

#endif
