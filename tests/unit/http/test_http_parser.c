/* Unit tests for the HTTP/1.1 request parser (src/http/http_parser.c).
 *
 * Every request is driven through the same helper, which checks the feed
 * contract on each call (consumed <= len, NEED_MORE consumes everything,
 * HEAD_DONE stops at the head); splits (one shot, byte by byte, every
 * two-piece split) must give identical results. Strictness and limits are
 * table-driven: each row is a request and the error status it must earn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "http/http_parser.h"
#include "sioc.h"

/* Returned by drive() when the input ended before the message did. */
#define INCOMPLETE 1000000

/* Feeds data in pieces of at most step bytes until MSG_DONE, an error or
 * the end of the input. Returns the bytes consumed, a negative error, or
 * INCOMPLETE. *heads counts HEAD_DONE reports (may be NULL). */
static long drive(sio__http_parser *p, const char *data, size_t len, size_t step, int *heads)
{
    size_t off = 0;
    for (;;) {
        size_t n = len - off < step ? len - off : step;
        sio__http_state st = (sio__http_state)-1;
        int rc = sio__http_parser_feed(p, n ? data + off : NULL, n, &st);
        if (rc < 0)
            return rc;
        assert_true((size_t)rc <= n);
        off += (size_t)rc;
        if (st == SIO_HTTP_MSG_DONE)
            return (long)off;
        if (st == SIO_HTTP_HEAD_DONE) {
            if (heads)
                (*heads)++;
            continue;
        }
        assert_int_equal(st, SIO_HTTP_NEED_MORE);
        assert_int_equal(rc, n);
        if (off == len)
            return INCOMPLETE;
    }
}

/* A printable digest of everything the parser exposes, to compare runs. */
static void summarise(const sio__http_request *r, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%d|%.*s|%.*s|%.*s|%.*s|1.%d|ka=%d|ws=%d|cl=%lld|ch=%d|body=%.*s|",
                     (int)r->method, (int)r->method_str.len, r->method_str.base, (int)r->target.len,
                     r->target.base, (int)r->path.len, r->path.base, (int)r->query.len,
                     r->query.base, r->version_minor, r->keep_alive, r->upgrade_websocket,
                     (long long)r->content_length, r->chunked, (int)r->body.len,
                     r->body.data ? r->body.data : "");
    for (unsigned i = 0; i < r->nheaders && n > 0 && (size_t)n < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "[%.*s=%.*s]", (int)r->headers[i].name.len,
                      r->headers[i].name.base, (int)r->headers[i].value.len,
                      r->headers[i].value.base);
}

/* Parses a whole request (one shot) with default limits; returns the
 * drive() result and leaves the parser for inspection. */
static long parse(sio__http_parser *p, const char *req)
{
    sio__http_parser_init(p, NULL);
    return drive(p, req, strlen(req), strlen(req) + 1, NULL);
}

/* Parses req with the given limits and step; returns the drive() result. */
static long parse_with(sio__http_parser *p, const sio__http_limits *l, const char *req, size_t step)
{
    sio__http_parser_init(p, l);
    return drive(p, req, strlen(req), step, NULL);
}

static const char *const good_requests[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /socket.io/?EIO=4&transport=polling&t=OtDiZ1x HTTP/1.1\r\n"
    "Host: localhost:3000\r\nAccept: */*\r\nUser-Agent: node\r\n"
    "Connection: keep-alive\r\n\r\n",
    "POST /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n"
    "Host: localhost\r\nContent-Type: text/plain;charset=UTF-8\r\n"
    "Content-Length: 28\r\n\r\n"
    "42[\"chat message\",\"hello\"]\x1e"
    "2",
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=val\r\nhello\r\n"
    "6 ; x\r\n world\r\n"
    "A\r\n0123456789\r\n"
    "0\r\nX-Trailer: t\r\n\r\n",
    "\r\n\r\nDELETE /x HTTP/1.0\r\nX-Long: \t spaced value\t \r\nEmpty:\r\n\r\n",
    "OPTIONS /a/b?c=d HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
};

/* Each good request parses the same whatever the split of the input. */
static void test_splits_equal_one_shot(void **state)
{
    (void)state;
    char want[8192], got[8192];
    for (size_t k = 0; k < sizeof good_requests / sizeof good_requests[0]; k++) {
        const char *req = good_requests[k];
        size_t len = strlen(req);
        sio__http_parser p;
        assert_int_equal(parse(&p, req), (long)len);
        summarise(&p.req, want, sizeof want);
        sio__http_parser_free(&p);
        for (size_t step = 1; step <= 7; step++) {
            sio__http_parser_init(&p, NULL);
            assert_int_equal(drive(&p, req, len, step, NULL), (long)len);
            summarise(&p.req, got, sizeof got);
            assert_string_equal(want, got);
            sio__http_parser_free(&p);
        }
        for (size_t cut = 0; cut <= len; cut++) {
            sio__http_state st;
            sio__http_parser_init(&p, NULL);
            int heads = 0;
            long a = drive(&p, req, cut, len + 1, &heads);
            size_t used = a == INCOMPLETE ? cut : (size_t)a;
            assert_true(a == INCOMPLETE || a == (long)len);
            if (a == INCOMPLETE) {
                assert_int_equal(drive(&p, req + used, len - used, len + 1, &heads),
                                 (long)(len - used));
            }
            assert_int_equal(heads, 1);
            summarise(&p.req, got, sizeof got);
            assert_string_equal(want, got);
            assert_int_equal(sio__http_parser_feed(&p, "x", 1, &st), 0);
            assert_int_equal(st, SIO_HTTP_MSG_DONE);
            sio__http_parser_free(&p);
        }
    }
}

static void test_simple_get_fields(void **state)
{
    (void)state;
    sio__http_parser p;
    const char *req = good_requests[1];
    assert_int_equal(parse(&p, req), (long)strlen(req));
    sio__http_request *r = &p.req;
    assert_int_equal(r->method, SIO_HTTP_GET);
    assert_true(sio__slice_eq(r->method_str, "GET"));
    assert_true(sio__slice_eq(r->target, "/socket.io/?EIO=4&transport=polling&t=OtDiZ1x"));
    assert_true(sio__slice_eq(r->path, "/socket.io/"));
    assert_true(sio__slice_eq(r->query, "EIO=4&transport=polling&t=OtDiZ1x"));
    assert_int_equal(r->version_minor, 1);
    assert_int_equal(r->nheaders, 4);
    assert_true(sio__slice_eq(r->headers[0].name, "Host"));
    assert_true(sio__slice_eq(r->headers[0].value, "localhost:3000"));
    assert_true(sio__slice_eq(sio__http_find_header(r, "user-AGENT"), "node"));
    assert_null(sio__http_find_header(r, "cookie").base);
    assert_int_equal(r->keep_alive, 1);
    assert_int_equal(r->upgrade_websocket, 0);
    assert_int_equal(r->content_length, -1);
    assert_int_equal(r->chunked, 0);
    assert_int_equal(r->expect_continue, 0);
    assert_int_equal(r->body.len, 0);
    sio__http_parser_free(&p);
}

static void test_expect_continue(void **state)
{
    (void)state;
    sio__http_parser p;
    const char *req = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                      "Content-Length: 1\r\n\r\nx";
    assert_int_equal(parse(&p, req), (long)strlen(req));
    assert_int_equal(p.req.expect_continue, 1);
    sio__http_parser_free(&p);
    req = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n";
    assert_int_equal(parse(&p, req), (long)strlen(req));
    assert_int_equal(p.req.expect_continue, 0);
    sio__http_parser_free(&p);
}

static void test_fields_trimmed_and_empty(void **state)
{
    (void)state;
    sio__http_parser p;
    const char *req = good_requests[5];
    assert_int_equal(parse(&p, req), (long)strlen(req));
    assert_int_equal(p.req.method, SIO_HTTP_DELETE);
    assert_int_equal(p.req.version_minor, 0);
    assert_int_equal(p.req.keep_alive, 0);
    assert_true(sio__slice_eq(p.req.query, ""));
    assert_true(sio__slice_eq(p.req.path, "/x"));
    assert_true(sio__slice_eq(sio__http_find_header(&p.req, "x-long"), "spaced value"));
    sio__slice e = sio__http_find_header(&p.req, "empty");
    assert_non_null(e.base);
    assert_int_equal(e.len, 0);
    sio__http_parser_free(&p);
}

static void test_no_body_head_then_msg_done(void **state)
{
    (void)state;
    sio__http_parser p;
    sio__http_state st;
    const char *req = "GET /a?b HTTP/1.1\r\nHost: h\r\n\r\nGET /next";
    size_t head_len = strlen(req) - strlen("GET /next");
    sio__http_parser_init(&p, NULL);
    assert_true(sio__http_parser_idle(&p));
    assert_int_equal(sio__http_parser_feed(&p, "\r\n", 2, &st), 2);
    assert_true(sio__http_parser_idle(&p));
    assert_int_equal(sio__http_parser_feed(&p, req, 1, &st), 1);
    assert_false(sio__http_parser_idle(&p));
    assert_int_equal(sio__http_parser_feed(&p, req + 1, strlen(req) - 1, &st), (int)head_len - 1);
    assert_int_equal(st, SIO_HTTP_HEAD_DONE);
    assert_true(sio__slice_eq(p.req.query, "b"));
    assert_int_equal(sio__http_parser_feed(&p, NULL, 0, &st), 0);
    assert_int_equal(st, SIO_HTTP_MSG_DONE);
    assert_int_equal(sio__http_parser_feed(&p, "x", 1, &st), 0);
    assert_int_equal(st, SIO_HTTP_MSG_DONE);
    assert_false(sio__http_parser_idle(&p));
    sio__http_parser_reset(&p);
    assert_true(sio__http_parser_idle(&p));
    sio__http_parser_free(&p);
}

static void test_body_waits_for_second_feed(void **state)
{
    (void)state;
    sio__http_parser p;
    sio__http_state st;
    const char *req = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET";
    size_t head_len = strlen(req) - 6;
    sio__http_parser_init(&p, NULL);
    assert_int_equal(sio__http_parser_feed(&p, req, strlen(req), &st), (int)head_len);
    assert_int_equal(st, SIO_HTTP_HEAD_DONE);
    assert_int_equal(p.req.content_length, 3);
    assert_int_equal(sio__http_parser_feed(&p, NULL, 0, &st), 0);
    assert_int_equal(st, SIO_HTTP_NEED_MORE);
    assert_int_equal(sio__http_parser_feed(&p, req + head_len, 6, &st), 3);
    assert_int_equal(st, SIO_HTTP_MSG_DONE);
    assert_memory_equal(p.req.body.data, "abc", 3);
    sio__http_parser_free(&p);
}

/* Three requests in one buffer, parsed with reset in between; the
 * leftover bytes are fed again, as the net layer does. */
static void test_pipelined(void **state)
{
    (void)state;
    const char *in = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                     "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
                     "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nyo\r\n0\r\n\r\n"
                     "GET /4";
    const char *paths[] = {"/1", "/2", "/3"};
    const char *bodies[] = {"", "hi", "yo"};
    for (size_t step = 1; step <= strlen(in); step += 13) {
        sio__http_parser p;
        sio__http_parser_init(&p, NULL);
        size_t off = 0, len = strlen(in);
        for (int i = 0; i < 3; i++) {
            long n = drive(&p, in + off, len - off, step, NULL);
            assert_true(n > 0 && n != INCOMPLETE);
            assert_true(sio__slice_eq(p.req.path, paths[i]));
            assert_int_equal(p.req.body.len, strlen(bodies[i]));
            assert_memory_equal(p.req.body.data ? p.req.body.data : "", bodies[i],
                                strlen(bodies[i]));
            off += (size_t)n;
            sio__http_parser_reset(&p);
        }
        assert_string_equal(in + off, "GET /4");
        assert_int_equal(drive(&p, in + off, len - off, step, NULL), INCOMPLETE);
        sio__http_parser_free(&p);
    }
}

static void test_chunked_body(void **state)
{
    (void)state;
    sio__http_parser p;
    const char *req = good_requests[4];
    assert_int_equal(parse(&p, req), (long)strlen(req));
    assert_int_equal(p.req.chunked, 1);
    assert_int_equal(p.req.content_length, -1);
    assert_int_equal(p.req.body.len, 21);
    assert_memory_equal(p.req.body.data, "hello world0123456789", 21);
    sio__http_parser_free(&p);
}

static void test_keep_alive_and_upgrade(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int keep_alive, ws;
    } rows[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1, 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0, 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, CLOSE\r\n\r\n", 0, 0},
        {"GET / HTTP/1.0\r\n\r\n", 0, 0},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
         "Upgrade: WebSocket\r\n\r\n",
         1, 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: x\r\nConnection: upgrade\r\n"
         "Upgrade: foo/1, websocket\r\n\r\n",
         1, 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", 1, 0},
        {"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 0, 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 1, 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrades\r\nUpgrade: websocket\r\n\r\n", 1, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sio__http_parser p;
        assert_int_equal(parse(&p, rows[i].req), (long)strlen(rows[i].req));
        assert_int_equal(p.req.keep_alive, rows[i].keep_alive);
        assert_int_equal(p.req.upgrade_websocket, rows[i].ws);
        sio__http_parser_free(&p);
    }
}

/* A request that must fail, and with which status. */
typedef struct bad_row {
    const char *req;
    int status;
} bad_row;

static const bad_row bad_rows[] = {
    /* line endings */
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
    {"GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400},
    {"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    /* request line */
    {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
    {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET http://a/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"CONNECT a:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\r\nHost: h\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
    {"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    /* header fields */
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n", 400},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    /* Content-Length */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
    /* Transfer-Encoding */
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     501},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    /* chunked framing */
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\rx\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\nx\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;a\x01\r\nx\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;a\nx\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "00000000000000001\r\nx\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "fffffffffffffffff\r\n",
     413},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nX: a\r\n folded\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : a\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", 400},
    /* body limit */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000001\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nF4241\r\n", 413},
};

/* Checks a failing request at every split step: same code and status,
 * errors are sticky, and nothing past the limit was buffered. */
static void expect_failure(const char *req, const sio__http_limits *l, int status)
{
    size_t len = strlen(req);
    int want = status == 413 || status == 414 || status == 431 ? SIO_ELIMIT : SIO_EPROTO;
    for (size_t step = 1; step <= len; step = step < 4 ? step + 1 : step * 3) {
        sio__http_parser p;
        sio__http_state st;
        long rc = parse_with(&p, l, req, step);
        if (rc != want || p.error_status != status)
            fail_msg("step %zu: %s -> rc %ld status %d, want %d", step, req, rc, p.error_status,
                     status);
        assert_int_equal(sio__http_parser_feed(&p, "x", 1, &st), want);
        assert_true(p.req.body.len <= (l ? l->max_body : 1000000));
        sio__http_parser_free(&p);
    }
}

static void test_strictness_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++)
        expect_failure(bad_rows[i].req, NULL, bad_rows[i].status);
}

/* Things that look odd but are allowed. */
static void test_tolerated(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 003 \r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
        "0003\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\t;a=\"q s\"; b\r\nabc\r\n0;z\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\nA: 1\r\nB:2\r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\nX-Utf8: caf\xc3\xa9\r\nX-Tab: a\tb\r\n\r\n",
        "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "get /lower HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sio__http_parser p;
        long rc = parse(&p, ok[i]);
        if (rc != (long)strlen(ok[i]))
            fail_msg("%s -> %ld (status %d)", ok[i], rc, p.error_status);
        if (p.req.content_length >= 0 || p.req.chunked)
            assert_memory_equal(p.req.body.data, "abc", 3);
        sio__http_parser_free(&p);
    }
    sio__http_parser p;
    parse(&p, ok[7]);
    assert_int_equal(p.req.method, SIO_HTTP_OTHER);
    assert_true(sio__slice_eq(p.req.method_str, "get"));
    sio__http_parser_free(&p);
}

/* Builds "GET /<n x 'a'> HTTP/1.1\r\nHost: h\r\n\r\n" whose request line is
 * exactly line_len bytes (without CRLF). */
static void request_with_line(char *out, size_t line_len)
{
    size_t pathlen = line_len - strlen("GET / HTTP/1.1");
    strcpy(out, "GET /");
    memset(out + 5, 'a', pathlen);
    strcpy(out + 5 + pathlen, " HTTP/1.1\r\nHost: h\r\n\r\n");
}

static void test_limit_request_line(void **state)
{
    (void)state;
    static char req[10000];
    sio__http_limits l;
    sio__http_limits_init(&l);
    sio__http_parser p;
    request_with_line(req, 8192);
    assert_int_equal(parse_with(&p, &l, req, 1000), (long)strlen(req));
    sio__http_parser_free(&p);
    request_with_line(req, 8193);
    expect_failure(req, &l, 414);
    /* Detected before the LF arrives: no need to wait for the whole line. */
    sio__http_parser_init(&p, &l);
    sio__http_state st;
    assert_int_equal(sio__http_parser_feed(&p, req, 8194, &st), SIO_ELIMIT);
    assert_int_equal(p.error_status, 414);
    sio__http_parser_free(&p);
}

/* A request whose head is exactly total bytes, padded in one header. */
static void request_with_head(char *out, size_t total)
{
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    size_t pad = total - strlen(pre) - 4;
    strcpy(out, pre);
    memset(out + strlen(pre), 'p', pad);
    strcpy(out + strlen(pre) + pad, "\r\n\r\n");
}

static void test_limit_header_bytes(void **state)
{
    (void)state;
    static char req[20000];
    sio__http_parser p;
    /* One long value pads the head: the per-value limit is lifted here. */
    sio__http_limits l;
    sio__http_limits_init(&l);
    l.max_header_value = 16384;
    request_with_head(req, 16384);
    assert_int_equal(parse_with(&p, &l, req, 777), (long)strlen(req));
    assert_int_equal(sio__http_find_header(&p.req, "x-pad").len, 16384 - 36);
    sio__http_parser_free(&p);
    request_with_head(req, 16385);
    expect_failure(req, &l, 431);
    /* An unterminated head fails as soon as it passes the limit. */
    sio__http_state st;
    sio__http_parser_init(&p, &l);
    assert_int_equal(sio__http_parser_feed(&p, req, 16384, &st), 16384);
    assert_int_equal(st, SIO_HTTP_NEED_MORE);
    assert_int_equal(sio__http_parser_feed(&p, req + 16384, 1, &st), SIO_ELIMIT);
    assert_int_equal(p.error_status, 431);
    sio__http_parser_free(&p);
}

static void test_limit_header_count(void **state)
{
    (void)state;
    sio__http_limits l;
    sio__http_limits_init(&l);
    l.max_headers = 40;
    char req[4096];
    for (unsigned count = 39; count <= 41; count++) {
        size_t n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: h\r\n");
        for (unsigned i = 1; i < count; i++)
            n += (size_t)sprintf(req + n, "X-%u: %u\r\n", i, i);
        strcpy(req + n, "\r\n");
        if (count > 40) {
            expect_failure(req, &l, 431);
            continue;
        }
        sio__http_parser p;
        assert_int_equal(parse_with(&p, &l, req, 5), (long)strlen(req));
        assert_int_equal(p.req.nheaders, count);
        assert_true(sio__slice_eq(sio__http_find_header(&p.req, "x-33"), "33"));
        sio__http_parser_free(&p);
    }
}

static void test_limit_body(void **state)
{
    (void)state;
    sio__http_limits l;
    sio__http_limits_init(&l);
    l.max_body = 10;
    sio__http_parser p;
    assert_int_equal(parse_with(&p, &l,
                                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
                                "0123456789",
                                5),
                     58);
    sio__http_parser_free(&p);
    expect_failure("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n0123456789a", &l, 413);
    /* Chunks adding up past the limit: the chunk that would pass it fails
     * at its size line, with only the earlier chunks buffered. */
    const char *chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "6\r\n012345\r\n5\r\n67890\r\n0\r\n\r\n";
    expect_failure(chunked, &l, 413);
    parse_with(&p, &l, chunked, 1);
    assert_int_equal(p.req.body.len, 6);
    sio__http_parser_free(&p);
    l.max_body = 11;
    assert_int_equal(parse_with(&p, &l, chunked, 3), (long)strlen(chunked));
    assert_memory_equal(p.req.body.data, "01234567890", 11);
    sio__http_parser_free(&p);
}

/* The route-specific limit set after HEAD_DONE applies to this body. */
static void test_set_max_body(void **state)
{
    (void)state;
    const char *req = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n"
                      "01234567890123456789";
    size_t head = strlen(req) - 20;
    sio__http_parser p;
    sio__http_state st;
    sio__http_parser_init(&p, NULL);
    assert_int_equal(sio__http_parser_feed(&p, req, strlen(req), &st), (int)head);
    assert_int_equal(st, SIO_HTTP_HEAD_DONE);
    sio__http_parser_set_max_body(&p, 19);
    assert_int_equal(sio__http_parser_feed(&p, req + head, 20, &st), SIO_ELIMIT);
    assert_int_equal(p.error_status, 413);
    assert_int_equal(p.req.body.len, 0);
    /* reset restores the configured limit; a raised limit lets it through */
    sio__http_parser_reset(&p);
    sio__http_limits l;
    sio__http_limits_init(&l);
    l.max_body = 5;
    sio__http_parser_free(&p);
    sio__http_parser_init(&p, &l);
    assert_int_equal(sio__http_parser_feed(&p, req, strlen(req), &st), (int)head);
    sio__http_parser_set_max_body(&p, 20);
    assert_int_equal(sio__http_parser_feed(&p, req + head, 20, &st), 20);
    assert_int_equal(st, SIO_HTTP_MSG_DONE);
    /* lowered in the middle of the body */
    sio__http_parser_reset(&p);
    assert_int_equal(p.max_body, 5);
    assert_int_equal(sio__http_parser_feed(&p, req, strlen(req), &st), (int)head);
    sio__http_parser_set_max_body(&p, 100);
    assert_int_equal(sio__http_parser_feed(&p, req + head, 4, &st), 4);
    sio__http_parser_set_max_body(&p, 10);
    assert_int_equal(sio__http_parser_feed(&p, req + head + 4, 16, &st), SIO_ELIMIT);
    assert_int_equal(p.error_status, 413);
    sio__http_parser_free(&p);
}

/* Lowering the limit in the middle of a chunk fails at its next bytes. */
static void test_set_max_body_mid_chunk(void **state)
{
    (void)state;
    const char *req = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "a\r\n0123456789\r\n0\r\n\r\n";
    size_t head = strlen(req) - strlen("a\r\n0123456789\r\n0\r\n\r\n");
    sio__http_parser p;
    sio__http_state st;
    sio__http_parser_init(&p, NULL);
    assert_int_equal(sio__http_parser_feed(&p, req, strlen(req), &st), (int)head);
    assert_int_equal(sio__http_parser_feed(&p, req + head, 5, &st), 5);
    assert_int_equal(st, SIO_HTTP_NEED_MORE);
    sio__http_parser_set_max_body(&p, 9);
    assert_int_equal(sio__http_parser_feed(&p, req + head + 5, 1, &st), SIO_ELIMIT);
    assert_int_equal(p.error_status, 413);
    assert_int_equal(p.req.body.len, 2);
    sio__http_parser_free(&p);
}

/* A big body is released by reset; a small one is kept for reuse. */
static void test_reset_releases_big_body(void **state)
{
    (void)state;
    static char req[70100];
    size_t n = (size_t)sprintf(req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n");
    memset(req + n, 'b', 70000);
    req[n + 70000] = '\0';
    sio__http_parser p;
    assert_int_equal(parse_with(&p, NULL, req, 4096), (long)strlen(req));
    assert_int_equal(p.req.body.len, 70000);
    sio__http_parser_reset(&p);
    assert_int_equal(p.req.body.cap, 0);
    const char *small = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(drive(&p, small, strlen(small), 100, NULL), (long)strlen(small));
    sio__http_parser_reset(&p);
    assert_true(p.req.body.cap > 0);
    assert_int_equal(p.req.body.len, 0);
    sio__http_parser_free(&p);
}

/* A chunked request: nchunks 1-byte chunks, each with an extension of
 * ext bytes (";e=" and padding). */
static void chunked_with_ext(char *req, int nchunks, size_t ext)
{
    size_t n = (size_t)sprintf(req, "POST / HTTP/1.1\r\nHost: h\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < nchunks; i++) {
        n += (size_t)sprintf(req + n, "1;e=");
        memset(req + n, 'e', ext - 3);
        n += ext - 3;
        n += (size_t)sprintf(req + n, "\r\nx\r\n");
    }
    strcpy(req + n, "0\r\n\r\n");
}

static void test_limit_chunk_extensions(void **state)
{
    (void)state;
    static char req[40000];
    sio__http_parser p;
    /* 1-byte chunks with 100-byte extensions: 41 of them pass 4 KiB. */
    chunked_with_ext(req, 40, 100);
    assert_int_equal(parse_with(&p, NULL, req, 333), (long)strlen(req));
    sio__http_parser_free(&p);
    chunked_with_ext(req, 42, 100);
    expect_failure(req, NULL, 413);
    /* One 10 KB extension (issue 11), and the named option. */
    chunked_with_ext(req, 1, 10000);
    expect_failure(req, NULL, 413);
    sio__http_limits l;
    sio__http_limits_init(&l);
    l.max_chunk_ext = 16384;
    assert_int_equal(parse_with(&p, &l, req, 333), (long)strlen(req));
    sio__http_parser_free(&p);
}

static void test_limit_header_value(void **state)
{
    (void)state;
    static char req[10000];
    sio__http_parser p;
    /* A value of exactly 4096 bytes passes; 4097 is 431; an 8 KB Origin too. */
    size_t sizes[] = {4096, 4097, 8192};
    for (int i = 0; i < 3; i++) {
        int n = sprintf(req, "GET / HTTP/1.1\r\nHost: h\r\nOrigin: ");
        memset(req + n, 'o', sizes[i]);
        strcpy(req + n + sizes[i], "\r\n\r\n");
        if (i == 0) {
            assert_int_equal(parse_with(&p, NULL, req, 1000), (long)strlen(req));
            assert_int_equal(sio__http_find_header(&p.req, "origin").len, 4096);
            sio__http_parser_free(&p);
        } else {
            expect_failure(req, NULL, 431);
        }
    }
}

static void test_limit_trailers(void **state)
{
    (void)state;
    static char req[20000];
    sio__http_limits l;
    sio__http_limits_init(&l);
    l.max_header_bytes = 1024;
    size_t n = (size_t)sprintf(req, "POST / HTTP/1.1\r\nHost: h\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n0\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(req + n, "X-Trailer-%03d: value\r\n", i);
    strcpy(req + n, "\r\n");
    expect_failure(req, &l, 431);
}

/* Slices must survive the head buffer growing many times. */
static void test_slices_survive_growth(void **state)
{
    (void)state;
    static char req[16000];
    size_t n = (size_t)sprintf(req, "PUT /p?q=1 HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 90; i++)
        n += (size_t)sprintf(req + n, "X-H%02d: value-%02d-%0100d\r\n", i, i, 0);
    strcpy(req + n, "\r\n");
    sio__http_parser p;
    assert_int_equal(parse_with(&p, NULL, req, 1), (long)strlen(req));
    assert_int_equal(p.req.method, SIO_HTTP_PUT);
    assert_true(sio__slice_eq(p.req.query, "q=1"));
    assert_int_equal(p.req.nheaders, 91);
    char want[32];
    sprintf(want, "value-%02d-", 77);
    assert_memory_equal(sio__http_find_header(&p.req, "X-H77").base, want, strlen(want));
    sio__http_parser_free(&p);
}

/* Out-of-memory at every allocation: a clean SIO_ENOMEM/500, no leak. */
static void test_out_of_memory(void **state)
{
    (void)state;
    const char *req = good_requests[4];
    int failed = 0;
    for (unsigned long k = 1; k < 64; k++) {
        sio__http_parser p;
        sio__http_parser_init(&p, NULL);
        sio__alloc_fail_after(k);
        long rc = drive(&p, req, strlen(req), 3, NULL);
        sio__alloc_fail_after(0);
        if (rc < 0) {
            assert_int_equal(rc, SIO_ENOMEM);
            assert_int_equal(p.error_status, 500);
            failed++;
        } else {
            assert_int_equal(rc, (long)strlen(req));
        }
        sio__http_parser_free(&p);
    }
    assert_true(failed > 0);
}

/* Many requests through one parser with reset: nothing accumulates. */
static void test_reset_reuse(void **state)
{
    (void)state;
    sio__http_parser p;
    sio__http_parser_init(&p, NULL);
    for (int i = 0; i < 50; i++) {
        const char *req = good_requests[(size_t)i % 7];
        assert_int_equal(drive(&p, req, strlen(req), (size_t)i + 1, NULL), (long)strlen(req));
        sio__http_parser_reset(&p);
        assert_int_equal(p.req.nheaders, 0);
        assert_int_equal(p.req.body.len, 0);
        assert_int_equal(p.req.content_length, -1);
    }
    /* an error, then reset: the next request parses */
    assert_true(drive(&p, "BAD\r\n", 5, 5, NULL) < 0);
    sio__http_parser_reset(&p);
    assert_int_equal(p.error_status, 0);
    assert_int_equal(drive(&p, good_requests[0], strlen(good_requests[0]), 2, NULL),
                     (long)strlen(good_requests[0]));
    sio__http_parser_free(&p);
}

static void test_list_has(void **state)
{
    (void)state;
    assert_true(sio__http_list_has(SIO_SLICE("keep-alive, Upgrade"), "upgrade"));
    assert_true(sio__http_list_has(SIO_SLICE(" ,\tclose\t,"), "close"));
    assert_false(sio__http_list_has(SIO_SLICE("closed"), "close"));
    assert_false(sio__http_list_has(SIO_SLICE(""), "close"));
    assert_false(sio__http_list_has(SIO_SLICE("up grade"), "upgrade"));
}

/* A peer that is not speaking HTTP is refused at its first bad byte, not
 * when a line end (that may never come) arrives. */
static void test_bad_method_byte_refused_at_once(void **state)
{
    (void)state;
    static const char *const starts[] = {"\x16\x03\x01\x02", "GE(", "\x00", "G\x80T"};
    for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
        sio__http_parser p;
        sio__http_state st;
        sio__http_parser_init(&p, NULL);
        size_t n = strlen(starts[k]) ? strlen(starts[k]) : 1;
        assert_int_equal(sio__http_parser_feed(&p, starts[k], n, &st), SIO_EPROTO);
        assert_int_equal(p.error_status, 400);
        sio__http_parser_free(&p);
    }
    sio__http_parser p;
    sio__http_state st;
    sio__http_parser_init(&p, NULL);
    assert_int_equal(sio__http_parser_feed(&p, "\r\nGET", 5, &st), 5); /* still fine */
    assert_int_equal(st, SIO_HTTP_NEED_MORE);
    sio__http_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits_equal_one_shot),
        cmocka_unit_test(test_simple_get_fields),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_fields_trimmed_and_empty),
        cmocka_unit_test(test_no_body_head_then_msg_done),
        cmocka_unit_test(test_body_waits_for_second_feed),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_keep_alive_and_upgrade),
        cmocka_unit_test(test_strictness_table),
        cmocka_unit_test(test_tolerated),
        cmocka_unit_test(test_limit_request_line),
        cmocka_unit_test(test_limit_header_bytes),
        cmocka_unit_test(test_limit_header_count),
        cmocka_unit_test(test_limit_body),
        cmocka_unit_test(test_set_max_body),
        cmocka_unit_test(test_set_max_body_mid_chunk),
        cmocka_unit_test(test_reset_releases_big_body),
        cmocka_unit_test(test_limit_chunk_extensions),
        cmocka_unit_test(test_limit_header_value),
        cmocka_unit_test(test_limit_trailers),
        cmocka_unit_test(test_slices_survive_growth),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_reset_reuse),
        cmocka_unit_test(test_list_has),
        cmocka_unit_test(test_bad_method_byte_refused_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
