/* Strict, incremental, sans-I/O HTTP/1.1 request parser (RFC 9112).
 *
 * Contract:
 *  - The caller feeds whatever bytes it read; the parser copies the head
 *    (request line + header fields) into its own buffer, bounded by
 *    max_header_bytes, so every slice in p->req stays valid until
 *    sio__http_parser_reset() or sio__http_parser_free(), even after the
 *    caller's read buffer is reused.
 *  - sio__http_parser_feed() stops right after the head (HEAD_DONE) so the
 *    caller can inspect the request (route, WebSocket upgrade, body limit),
 *    and right after the message (MSG_DONE): bytes that follow are never
 *    consumed, so pipelined requests and upgrade data stay with the caller.
 *  - Errors are sticky: after a negative return every later feed returns
 *    the same code until reset. p->error_status names the HTTP status to
 *    answer with (400, 413, 414, 431, 501, 505); the connection must be
 *    closed after answering, since framing can no longer be trusted.
 *
 * Strictness (stricter than Node where Node is lenient, to rule out request
 * smuggling): CRLF only, token method and field names, no whitespace before
 * ':', no obs-fold, no control bytes in values but HTAB, origin-form
 * targets only, Content-Length digits only and consistent, only
 * "Transfer-Encoding: chunked" (else 501), never both TE and CL, HTTP/1.1
 * needs exactly one Host. */
#ifndef SIO_HTTP_HTTP_PARSER_H
#define SIO_HTTP_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Limits applied to every request; filled with defaults by _limits_init. */
typedef struct sio__http_limits {
    size_t max_request_line; /* bytes, without CRLF; default 8192; over -> 414 */
    size_t max_header_bytes; /* whole head incl. request line and CRLFs; 16384 -> 431;
                                also bounds the trailer section of a chunked body */
    unsigned max_headers;    /* header fields; default 100; over -> 431 */
    size_t max_body;         /* decoded body bytes; default 1e6; over -> 413,
                                detected before anything past it is buffered */
    size_t max_header_value; /* one field value; default 4096 -> 431 (values such
                                as Origin are echoed into answers) */
    size_t max_chunk_ext;    /* chunk-extension bytes in one message; default 4096
                                -> 413 (Node: 16 KiB, CVE-2024-22019) */
} sio__http_limits;

/* Fills l with the defaults above. */
void sio__http_limits_init(sio__http_limits *l);

/* The methods the server routes on; anything else is SIO_HTTP_OTHER (see
 * method_str). Methods are case-sensitive: "get" is OTHER. */
typedef enum {
    SIO_HTTP_GET,
    SIO_HTTP_POST,
    SIO_HTTP_OPTIONS,
    SIO_HTTP_HEAD,
    SIO_HTTP_PUT,
    SIO_HTTP_DELETE,
    SIO_HTTP_OTHER
} sio__http_method;

/* One header field as received; value trimmed of leading/trailing OWS. */
typedef sio__slice_kv sio__http_header;

/* A parsed request. Slices point into the parser's head buffer. */
typedef struct sio__http_request {
    sio__http_method method;   /* routing shortcut for method_str */
    sio__slice method_str;     /* the method token as sent */
    sio__slice target;         /* raw origin-form request-target "/path?query" */
    sio__slice path;           /* target up to '?', still percent-encoded */
    sio__slice query;          /* after '?', empty if none (still encoded) */
    int version_minor;         /* 0 or 1 */
    sio__http_header *headers; /* nheaders fields in arrival order */
    unsigned nheaders;
    int keep_alive;         /* HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive" */
    int upgrade_websocket;  /* HTTP/1.1, Upgrade lists "websocket", Connection lists "upgrade";
                               the method and Sec-WebSocket-* are for the ws layer to check */
    int64_t content_length; /* -1 if absent */
    int chunked;            /* Transfer-Encoding: chunked */
    int expect_continue;    /* "Expect: 100-continue": the client waits for an interim
                               "100 Continue" (or the final answer) before its body */
    sio__buf body;          /* decoded body; the caller may steal its bytes */
} sio__http_request;

/* What the parser wants next, set by every successful feed. */
typedef enum {
    SIO_HTTP_NEED_MORE, /* all input consumed; feed more */
    SIO_HTTP_HEAD_DONE, /* head parsed; stopped right after it */
    SIO_HTTP_MSG_DONE   /* whole message parsed; following bytes untouched */
} sio__http_state;

/* Internal: where one header field sits in the head buffer while the head
 * is still growing (the buffer may move, so offsets, not pointers). */
typedef struct sio__http_span {
    size_t name_off, name_len;
    size_t value_off, value_len;
} sio__http_span;

/* Parser state. Embed it in a connection; all fields but req and
 * error_status are private. */
typedef struct sio__http_parser {
    sio__http_limits limits; /* copied at init */
    size_t max_body;         /* body limit of the current request (route-specific) */
    int phase;               /* internal state machine position (see .c) */
    int error_rc;            /* sticky negative return after an error, else 0 */
    sio__buf head;           /* the head bytes, the storage behind req's slices */
    size_t line_start;       /* offset in head of the line being received */
    unsigned empty_lines;    /* leading CRLFs skipped before the request line */
    int have_request_line;   /* the first line has been parsed */
    size_t method_len;       /* request line layout, as offsets into head */
    size_t target_off, target_len;
    sio__http_span *spans; /* header fields as offsets; spans_cap entries */
    unsigned nspans;       /* spans in use (req.nheaders is set at head end) */
    unsigned spans_cap;
    unsigned headers_cap;  /* entries allocated in req.headers */
    uint64_t remaining;    /* body bytes left of the Content-Length or chunk */
    unsigned chunk_digits; /* hex digits seen in the current chunk-size */
    int ext_semi;          /* a ';' chunk extension started on this line */
    size_t ext_bytes;      /* chunk-extension bytes in the whole message */
    sio__buf line;         /* current trailer line (chunked bodies only) */
    size_t trailer_bytes;  /* trailer section bytes so far */
    sio__http_request req; /* the request being parsed / just parsed */
    int error_status;      /* HTTP status to answer after an error, else 0 */
} sio__http_parser;

/* Prepares p for a first request; l may be NULL for the defaults. */
void sio__http_parser_init(sio__http_parser *p, const sio__http_limits *l);
/* Releases everything p owns (head, headers, body); p may be re-inited. */
void sio__http_parser_free(sio__http_parser *p);
/* Forgets the current request (invalidating its slices) and readies p for
 * the next one on a keep-alive connection; small allocations are kept. */
void sio__http_parser_reset(sio__http_parser *p);
/* Sets the body limit of the current request, typically after HEAD_DONE
 * (e.g. Engine.IO's maxHttpBufferSize for a polling POST). A Content-Length
 * already known to be above it fails at the next feed with 413. */
void sio__http_parser_set_max_body(sio__http_parser *p, size_t max);

/* Feeds len bytes. Returns the bytes consumed (0..len) and sets *state, or
 * returns a negative code with p->error_status set:
 *   SIO_EPROTO  malformed request (400), unsupported coding (501) or
 *               version (505);
 *   SIO_ELIMIT  a limit was exceeded (413, 414, 431);
 *   SIO_ENOMEM  out of memory (error_status 500).
 * A request without a body goes HEAD_DONE, then MSG_DONE on the next feed,
 * even with len 0. After MSG_DONE, feeds return 0 and MSG_DONE until reset.
 * data may be NULL when len is 0. */
int sio__http_parser_feed(sio__http_parser *p, const char *data, size_t len,
                          sio__http_state *state);

/* 1 while no byte of the next request's head has arrived (leading empty
 * lines do not count), e.g. to switch from an idle keep-alive timeout to a
 * headers timeout; 0 once a request has started. */
int sio__http_parser_idle(const sio__http_parser *p);

/* The value of the first header field named name (case-insensitive), or
 * {NULL, 0} if absent. A present but empty value has a non-NULL base. */
sio__slice sio__http_find_header(const sio__http_request *r, const char *name);

/* 1 if the comma-separated list in value holds token (case-insensitive,
 * OWS around elements ignored), else 0. Used for Connection and Upgrade. */
int sio__http_list_has(sio__slice value, const char *token);

#endif
