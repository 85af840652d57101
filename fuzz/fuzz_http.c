/* libFuzzer target for the HTTP/1.1 request parser, the query decoder and
 * the path check.
 *
 * The input is 3 control bytes (limits mode, two split points), then a
 * stream of pipelined requests. The split points cut it into three feeds, so the
 * incremental paths (lines, chunk framing, bodies cut anywhere) are
 * exercised, not just the one-shot path. Invariants checked on every feed:
 * consumed <= len, NEED_MORE consumes everything, errors are sticky and
 * carry an HTTP status, the body never exceeds max_body, slices point into
 * the head. A deliberately small limit set is used on odd inputs so limit
 * paths are reached cheaply. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/http_parser.h"
#include "core/query.h"
#include "sioc.h"

/* abort() is right here: it is how a fuzz target reports a broken invariant. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* True if s lies within the parser's head buffer. */
static int in_head(const sio__http_parser *p, sio__slice s)
{
    return s.len == 0 || (s.base >= p->head.data && s.base + s.len <= p->head.data + p->head.len);
}

/* Checks a finished head and runs the query and path helpers on it. */
static void check_request(const sio__http_parser *p)
{
    const sio__http_request *r = &p->req;
    CHECK(in_head(p, r->method_str) && in_head(p, r->target) && in_head(p, r->path));
    CHECK(in_head(p, r->query));
    CHECK(r->target.len >= 1 && r->target.base[0] == '/');
    CHECK(r->version_minor == 0 || r->version_minor == 1);
    CHECK(r->nheaders <= p->limits.max_headers);
    CHECK(p->head.len <= p->limits.max_header_bytes);
    for (unsigned i = 0; i < r->nheaders; i++)
        CHECK(in_head(p, r->headers[i].name) && in_head(p, r->headers[i].value));
    CHECK(!(r->chunked && r->content_length >= 0));
    sio__buf out;
    sio__buf_init(&out, 0);
    int rc = sio__query_get(r->query, "EIO", &out);
    CHECK(rc == 0 || rc == 1 || rc == SIO_EPROTO);
    rc = sio__url_decode(r->path, &out);
    CHECK(rc == 0 || rc == SIO_EPROTO);
    if (rc == 0 && sio__path_is_safe(sio__buf_slice(&out)))
        CHECK(memchr(out.data, '\0', out.len) == NULL && memchr(out.data, '\\', out.len) == NULL);
    sio__buf_free(&out);
}

/* Feeds one piece, as many times as the parser asks; returns 0 to go on
 * with the next piece, -1 once the parser failed. */
static int feed_piece(sio__http_parser *p, const char *d, size_t len)
{
    size_t off = 0;
    for (int guard = 0; guard < 100000; guard++) {
        sio__http_state st;
        int rc = sio__http_parser_feed(p, d + off, len - off, &st);
        if (rc < 0) {
            CHECK(rc == SIO_EPROTO || rc == SIO_ELIMIT || rc == SIO_ENOMEM);
            CHECK(p->error_status >= 400 && p->error_status <= 505);
            CHECK(sio__http_parser_feed(p, d, len, &st) == rc);
            return -1;
        }
        CHECK((size_t)rc <= len - off);
        off += (size_t)rc;
        CHECK(p->req.body.len <= p->max_body);
        if (st == SIO_HTTP_NEED_MORE) {
            CHECK(off == len);
            return 0;
        }
        if (st == SIO_HTTP_HEAD_DONE) {
            check_request(p);
            continue;
        }
        CHECK(st == SIO_HTTP_MSG_DONE);
        if (p->req.content_length >= 0)
            CHECK(p->req.body.len == (size_t)p->req.content_length);
        sio__http_parser_reset(p);
    }
    abort(); /* no progress: the parser looped */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first three bytes choose the limits and the split points. */
    if (size < 3)
        return 0;
    uint8_t mode = data[0], s1 = data[1], s2 = data[2];
    data += 3;
    size -= 3;
    sio__http_limits l;
    sio__http_limits_init(&l);
    if (mode & 1) {
        l.max_request_line = 64;
        l.max_header_bytes = 256;
        l.max_headers = 4;
        l.max_body = 32;
    }
    size_t a = s1 % (size + 1);
    size_t b = a + (size_t)s2 * 7 % (size - a + 1);
    sio__http_parser p;
    sio__http_parser_init(&p, &l);
    const char *d = (const char *)data;
    if (feed_piece(&p, d, a) == 0 && feed_piece(&p, d + a, b - a) == 0)
        feed_piece(&p, d + b, size - b);
    sio__http_parser_free(&p);
    return 0;
}
