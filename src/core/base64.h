/* Base64 (RFC 4648 section 4: standard alphabet, '=' padding), and the
 * unpadded base64url (section 5) that ids are made of.
 *
 * Engine.IO long-polling carries binary packets as "b" + base64, so the
 * decoder sees peer input: it is strict (the canonical encoding only) so
 * that every byte string has exactly one accepted form and nothing about
 * the input is guessed. Encoding and decoding append to a sio__buf, which
 * enforces any size limit the caller put on it. */
#ifndef SIO_CORE_BASE64_H
#define SIO_CORE_BASE64_H

#include <stddef.h>

#include "core/buf.h"

/* Characters produced for n input bytes (with padding); SIZE_MAX if that
 * does not fit in a size_t. */
size_t sio__base64_encoded_len(size_t n);
/* Appends the encoding of len bytes to out. SIO_ENOMEM or SIO_ELIMIT (out
 * is then unchanged). */
int sio__base64_encode(sio__buf *out, const void *data, size_t len);
/* Appends the decoded bytes of in[0..len) to out. SIO_EPROTO (out
 * unchanged) unless len % 4 == 0, every character is from the standard
 * alphabet, '=' appears only as the last one or two characters as the
 * length requires, and the unused bits of the last group are zero. An
 * empty input decodes to nothing. SIO_ENOMEM/SIO_ELIMIT from out. */
int sio__base64_decode(sio__buf *out, const char *in, size_t len);

/* Characters of the unpadded base64url encoding of n bytes (n * 4 / 3,
 * rounded up), for the caller's array size. */
#define SIO_BASE64URL_LEN(n) (((n)*4 + 2) / 3)
/* Writes the unpadded base64url encoding of len bytes and a NUL to out
 * (SIO_BASE64URL_LEN(len) + 1 bytes: a fixed array, no allocation, so an id
 * costs nothing on the heap); returns the characters written. */
size_t sio__base64url_encode(char *out, const void *data, size_t len);
/* The base64url character for the low 6 bits of v. */
char sio__base64url_digit(unsigned v);

#endif
