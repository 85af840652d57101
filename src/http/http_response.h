/* HTTP/1.1 response heads and small complete responses, written into a
 * sio__buf that the net layer then sends (sans-I/O).
 *
 * The head is "HTTP/1.1 <status> <reason>\r\n", then Content-Type,
 * Content-Length, Connection and the caller's extra fields, then "\r\n".
 * Inputs that would let a caller's string break the framing (CR/LF in
 * content_type, extra_headers not made of CRLF-terminated "Name: value"
 * lines) are refused with SIO_EINVAL. On any error out is left as it was. */
#ifndef SIO_HTTP_HTTP_RESPONSE_H
#define SIO_HTTP_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* The reason phrase of status ("Unknown" for codes not listed). */
const char *sio__http_status_text(int status);

/* Appends a response head to out.
 *  status          100..599, else SIO_EINVAL
 *  extra_headers   "Name: v\r\n..." or NULL
 *  content_type    value of Content-Type, or NULL for none
 *  content_length  -1 for none; ignored for 1xx, 204 and 304
 *  keep_alive      "Connection: keep-alive" or "close"; a 101 always gets
 *                  "Connection: Upgrade" (the caller adds "Upgrade: ..."),
 *                  other 1xx get no Connection field ("100 Continue")
 * Returns 0, SIO_EINVAL, SIO_ENOMEM or SIO_ELIMIT (out's cap). */
int sio__http_response_head(sio__buf *out, int status, const char *extra_headers,
                            const char *content_type, int64_t content_length, int keep_alive);

/* Appends a head with Content-Length len, then the len body bytes. For a
 * HEAD request write the head alone with sio__http_response_head. */
int sio__http_response_simple(sio__buf *out, int status, const char *content_type, const void *body,
                              size_t len, const char *extra_headers, int keep_alive);

#endif
