/* Strict incremental HTTP/1.1 request parser: see http_parser.h.
 *
 * Design: the head is received line by line. Input is scanned with memchr
 * for LF, limits are checked before a byte is copied, the bytes are appended
 * to the parser-owned head buffer and each line is validated as soon as it
 * is complete, so a bad request fails early and byte-by-byte feeding costs
 * O(n) overall. While the head grows its buffer may move, so the request
 * line and header fields are recorded as offsets (sio__http_span) and turned
 * into slices only once the empty line ends the head; the head buffer never
 * changes after that, so the slices stay valid until reset.
 *
 * The body is a small state machine (one switch, see step_body): a
 * Content-Length body is copied in bulk; a chunked body (RFC 9112 7.1) is
 * parsed byte by byte in its framing and in bulk in its data. Every body
 * byte is checked against max_body before it is buffered, and a chunk whose
 * announced size would pass it fails while its size is being read.
 *
 * References: RFC 9112 (HTTP/1.1 message syntax), RFC 9110 5.6 (tokens,
 * lists, OWS). */
#include "http/http_parser.h"
#include "core/query.h"

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

/* Leading CRLFs tolerated before a request line (RFC 9112 2.2 asks for at
 * least one; browsers used to add one after a POST body). */
#define SIO_HTTP_MAX_EMPTY_LINES 8
/* Hex digits in a chunk-size: 16 fit in 64 bits, more is an overflow. */
#define SIO_HTTP_MAX_CHUNK_DIGITS 16

/* Where the parser is; the body states follow RFC 9112 7.1's grammar. */
enum {
    PH_HEAD,          /* receiving the request line and header fields */
    PH_HEAD_DONE,     /* head reported; the body framing starts at the next feed */
    PH_BODY_CL,       /* Content-Length body: remaining bytes still to come */
    PH_CHUNK_SIZE,    /* hex digits of a chunk-size */
    PH_CHUNK_EXT,     /* BWS and chunk extensions up to the CR of the size line */
    PH_CHUNK_SIZE_LF, /* the LF ending a chunk-size line */
    PH_CHUNK_DATA,    /* remaining bytes of chunk data */
    PH_CHUNK_DATA_CR, /* the CRLF after chunk data */
    PH_CHUNK_DATA_LF,
    PH_TRAILER, /* trailer field lines until an empty line */
    PH_DONE,    /* message complete */
    PH_ERROR    /* sticky failure: error_rc and error_status are set */
};

void sio__http_limits_init(sio__http_limits *l)
{
    l->max_request_line = 8192;
    l->max_header_bytes = 16384;
    l->max_headers = 100;
    l->max_body = 1000000;
    l->max_header_value = 4096;
    l->max_chunk_ext = 4096;
}

/* Records a failure; every later feed returns the same code. */
static int fail(sio__http_parser *p, int rc, int status)
{
    p->phase = PH_ERROR;
    p->error_rc = rc;
    p->error_status = status;
    return rc;
}

/* Maps an allocation failure (or a buffer cap, which the explicit checks
 * should make unreachable) to its status. */
static int fail_alloc(sio__http_parser *p, int rc)
{
    return rc == SIO_ELIMIT ? fail(p, rc, 431) : fail(p, SIO_ENOMEM, 500);
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value bytes: VCHAR, obs-text, SP and HTAB; no other controls. */
static int is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Request-target bytes: visible ASCII, and no fragment (never sent). */
static int is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void sio__http_parser_init(sio__http_parser *p, const sio__http_limits *l)
{
    memset(p, 0, sizeof *p);
    if (l)
        p->limits = *l;
    else
        sio__http_limits_init(&p->limits);
    sio__buf_init(&p->head, p->limits.max_header_bytes);
    sio__buf_init(&p->line, p->limits.max_header_bytes);
    sio__buf_init(&p->req.body, 0);
    sio__http_parser_reset(p);
}

void sio__http_parser_free(sio__http_parser *p)
{
    sio__buf_free(&p->head);
    sio__buf_free(&p->line);
    sio__buf_free(&p->req.body);
    sio__free(p->spans);
    sio__free(p->req.headers);
    p->spans = NULL;
    p->req.headers = NULL;
    p->spans_cap = p->headers_cap = 0;
    sio__http_parser_reset(p);
}

/* A body buffer bigger than this is freed on reset rather than kept for the
 * next request: keep-alive connections should not pin big allocations. */
#define SIO_HTTP_KEEP_BODY_CAP 65536

void sio__http_parser_reset(sio__http_parser *p)
{
    sio__buf body = p->req.body;
    sio__http_header *headers = p->req.headers;
    if (body.cap > SIO_HTTP_KEEP_BODY_CAP)
        sio__buf_free(&body);
    body.len = 0;
    memset(&p->req, 0, sizeof p->req);
    p->req.body = body;
    p->req.headers = headers;
    p->req.content_length = -1;
    p->head.len = 0;
    p->line.len = 0;
    p->max_body = p->limits.max_body;
    p->phase = PH_HEAD;
    p->error_rc = 0;
    p->error_status = 0;
    p->line_start = 0;
    p->empty_lines = 0;
    p->have_request_line = 0;
    p->nspans = 0;
    p->method_len = p->target_off = p->target_len = 0;
    p->remaining = 0;
    p->chunk_digits = 0;
    p->ext_semi = 0;
    p->ext_bytes = 0;
    p->trailer_bytes = 0;
}

void sio__http_parser_set_max_body(sio__http_parser *p, size_t max)
{
    p->max_body = max;
}

/* ------------------------------------------------------------------ head */

/* Maps the method token to the enum; methods are case-sensitive. */
static sio__http_method method_of(const char *m, size_t n)
{
    static const struct {
        const char *name;
        sio__http_method method;
    } methods[] = {{"GET", SIO_HTTP_GET},   {"POST", SIO_HTTP_POST}, {"OPTIONS", SIO_HTTP_OPTIONS},
                   {"HEAD", SIO_HTTP_HEAD}, {"PUT", SIO_HTTP_PUT},   {"DELETE", SIO_HTTP_DELETE}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i].name) == n && memcmp(methods[i].name, m, n) == 0)
            return methods[i].method;
    return SIO_HTTP_OTHER;
}

/* "HTTP/1.0" or "HTTP/1.1"; another well-formed version is 505, anything
 * else 400 (RFC 9112 2.3). */
static int parse_version(sio__http_parser *p, const char *v, size_t n)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return fail(p, SIO_EPROTO, 400);
    if (v[5] != '1' || v[7] > '1')
        return fail(p, SIO_EPROTO, 505);
    p->req.version_minor = v[7] - '0';
    return 0;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3),
 * exactly one SP each, origin-form target only (3.2.1). Its length was
 * checked by check_head_limits as it arrived. */
static int request_line(sio__http_parser *p, const char *line, size_t n)
{
    size_t m = 0;
    while (m < n && is_tchar((unsigned char)line[m]))
        m++;
    if (m == 0 || m == n || line[m] != ' ')
        return fail(p, SIO_EPROTO, 400);
    size_t t = m + 1, e = t;
    while (e < n && is_target_char((unsigned char)line[e]))
        e++;
    if (e == t || e == n || line[e] != ' ')
        return fail(p, SIO_EPROTO, 400);
    int rc = parse_version(p, line + e + 1, n - e - 1);
    if (rc < 0)
        return rc;
    /* absolute-form, authority-form and asterisk-form are refused: this
     * server is an origin server, never a proxy, and has no OPTIONS "*". */
    if (line[t] != '/')
        return fail(p, SIO_EPROTO, 400);
    p->req.method = method_of(line, m);
    p->method_len = m;
    p->target_off = p->line_start + t;
    p->target_len = e - t;
    p->have_request_line = 1;
    return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5). Sets the
 * name length and the trimmed value's start and length; -1 if malformed.
 * Shared by header and trailer lines. */
static int parse_field(const char *line, size_t n, size_t *name_len, size_t *vstart, size_t *vlen)
{
    size_t m = 0;
    while (m < n && is_tchar((unsigned char)line[m]))
        m++;
    /* Also catches obs-fold and whitespace before the colon (5.1, 5.2). */
    if (m == 0 || m == n || line[m] != ':')
        return -1;
    size_t s = m + 1, e = n;
    while (s < e && is_ows(line[s]))
        s++;
    while (e > s && is_ows(line[e - 1]))
        e--;
    for (size_t i = s; i < e; i++)
        if (!is_value_char((unsigned char)line[i]))
            return -1;
    *name_len = m;
    *vstart = s;
    *vlen = e - s;
    return 0;
}

/* Makes room for one more span, growing geometrically up to max_headers. */
static int grow_spans(sio__http_parser *p)
{
    if (p->nspans < p->spans_cap)
        return 0;
    unsigned cap = p->spans_cap ? p->spans_cap * 2 : 16;
    if (cap > p->limits.max_headers)
        cap = p->limits.max_headers;
    sio__http_span *s = sio__realloc(p->spans, cap * sizeof *s);
    if (s == NULL)
        return SIO_ENOMEM;
    p->spans = s;
    p->spans_cap = cap;
    return 0;
}

/* Validates one header line and records it as offsets into head. */
static int header_line(sio__http_parser *p, const char *line, size_t n)
{
    size_t nlen, vs, vlen;
    if (parse_field(line, n, &nlen, &vs, &vlen) < 0)
        return fail(p, SIO_EPROTO, 400);
    if (p->nspans >= p->limits.max_headers || vlen > p->limits.max_header_value)
        return fail(p, SIO_ELIMIT, 431);
    if (grow_spans(p) < 0)
        return fail(p, SIO_ENOMEM, 500);
    sio__http_span *s = &p->spans[p->nspans++];
    s->name_off = p->line_start;
    s->name_len = nlen;
    s->value_off = p->line_start + vs;
    s->value_len = vlen;
    return 0;
}

/* Turns the recorded offsets into slices; head will not move any more. */
static int materialise(sio__http_parser *p)
{
    sio__http_request *r = &p->req;
    if (p->nspans > p->headers_cap) {
        sio__http_header *h = sio__realloc(r->headers, p->spans_cap * sizeof *h);
        if (h == NULL)
            return fail(p, SIO_ENOMEM, 500);
        r->headers = h;
        p->headers_cap = p->spans_cap;
    }
    const char *base = p->head.data;
    r->nheaders = p->nspans;
    for (unsigned i = 0; i < r->nheaders; i++) {
        const sio__http_span *s = &p->spans[i];
        r->headers[i].name = (sio__slice){base + s->name_off, s->name_len};
        r->headers[i].value = (sio__slice){base + s->value_off, s->value_len};
    }
    r->method_str = (sio__slice){base, p->method_len};
    r->target = (sio__slice){base + p->target_off, p->target_len};
    const char *q = memchr(r->target.base, '?', r->target.len);
    size_t plen = q ? (size_t)(q - r->target.base) : r->target.len;
    r->path = (sio__slice){r->target.base, plen};
    /* Without '?' the query is the empty slice at the end of the target. */
    r->query =
        q ? (sio__slice){q + 1, r->target.len - plen - 1} : (sio__slice){r->target.base + plen, 0};
    return 0;
}

int sio__http_list_has(sio__slice value, const char *token)
{
    size_t i = 0;
    while (i < value.len) {
        size_t s = i, e;
        while (i < value.len && value.base[i] != ',')
            i++;
        e = i++;
        while (s < e && is_ows(value.base[s]))
            s++;
        while (e > s && is_ows(value.base[e - 1]))
            e--;
        if (sio__slice_eq_nocase((sio__slice){value.base + s, e - s}, token))
            return 1;
    }
    return 0;
}

/* Content-Length = 1*DIGIT (RFC 9110 8.6), no sign, no list, no overflow. */
static int parse_content_length(sio__slice v, int64_t *out)
{
    int64_t n = 0;
    if (v.len == 0)
        return -1;
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        int d = v.base[i] - '0';
        if (n > (INT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

/* uri-host [":" port] (RFC 9110 7.2), loosely: the bytes a reg-name, an
 * IP literal and a port may use. Keeps '/', '@', spaces and such out. */
static int host_is_valid(sio__slice v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == 0 || strchr("-._~!$&'()*+,;=:%[]", c) == NULL)
            return 0;
    }
    return 1;
}

/* What the framing-relevant header fields said, gathered in one pass. */
typedef struct head_facts {
    unsigned hosts;   /* Host fields seen */
    unsigned te;      /* Transfer-Encoding fields seen */
    int te_chunked;   /* every TE field was exactly "chunked" */
    int conn_close;   /* Connection lists "close" */
    int conn_keep;    /* Connection lists "keep-alive" */
    int conn_upgrade; /* Connection lists "upgrade" */
    int upgrade_ws;   /* Upgrade lists "websocket" */
} head_facts;

/* Reads one header into facts and req; 400 on a bad or conflicting value. */
static int gather(sio__http_parser *p, const sio__http_header *h, head_facts *f)
{
    sio__http_request *r = &p->req;
    if (sio__slice_eq_nocase(h->name, "content-length")) {
        int64_t n;
        if (parse_content_length(h->value, &n) < 0)
            return fail(p, SIO_EPROTO, 400);
        if (r->content_length >= 0 && r->content_length != n)
            return fail(p, SIO_EPROTO, 400);
        r->content_length = n;
    } else if (sio__slice_eq_nocase(h->name, "transfer-encoding")) {
        f->te++;
        f->te_chunked = f->te == 1 && sio__slice_eq_nocase(h->value, "chunked");
    } else if (sio__slice_eq_nocase(h->name, "host")) {
        if (++f->hosts > 1 || !host_is_valid(h->value))
            return fail(p, SIO_EPROTO, 400);
    } else if (sio__slice_eq_nocase(h->name, "connection")) {
        f->conn_close |= sio__http_list_has(h->value, "close");
        f->conn_keep |= sio__http_list_has(h->value, "keep-alive");
        f->conn_upgrade |= sio__http_list_has(h->value, "upgrade");
    } else if (sio__slice_eq_nocase(h->name, "upgrade")) {
        f->upgrade_ws |= sio__http_list_has(h->value, "websocket");
    } else if (sio__slice_eq_nocase(h->name, "expect")) {
        r->expect_continue |= sio__slice_eq_nocase(h->value, "100-continue");
    }
    return 0;
}

/* The head is complete: expose it and settle framing and connection
 * semantics (RFC 9112 6.1-6.3, 9.3). Returns 1 (head done) or an error. */
static int finish_head(sio__http_parser *p)
{
    sio__http_request *r = &p->req;
    head_facts f = {0};
    int rc = materialise(p);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < r->nheaders; i++)
        if ((rc = gather(p, &r->headers[i], &f)) < 0)
            return rc;
    if (r->version_minor == 1 && f.hosts != 1)
        return fail(p, SIO_EPROTO, 400);
    if (f.te) {
        /* TE with CL is the classic smuggling vector; TE in HTTP/1.0 is
         * faulty framing (6.1): both are refused outright. */
        if (r->content_length >= 0 || r->version_minor == 0)
            return fail(p, SIO_EPROTO, 400);
        if (!f.te_chunked)
            return fail(p, SIO_EPROTO, 501);
        r->chunked = 1;
    }
    r->keep_alive = !f.conn_close && (r->version_minor == 1 || f.conn_keep);
    /* RFC 6455 4.1: the opening handshake needs HTTP/1.1 at least. */
    r->upgrade_websocket = f.conn_upgrade && f.upgrade_ws && r->version_minor == 1;
    p->phase = PH_HEAD_DONE;
    return 1;
}

/* A complete line (ending in LF) sits at head[line_start..]. Returns 1 when
 * it was the empty line ending the head, 0 otherwise, or an error. */
static int on_line(sio__http_parser *p)
{
    const char *line = p->head.data + p->line_start;
    size_t n = p->head.len - p->line_start;
    int rc;
    if (n < 2 || line[n - 2] != '\r')
        return fail(p, SIO_EPROTO, 400); /* bare LF */
    n -= 2;
    if (n == 0 && !p->have_request_line) {
        if (++p->empty_lines > SIO_HTTP_MAX_EMPTY_LINES)
            return fail(p, SIO_EPROTO, 400);
        p->head.len = p->line_start; /* dropped: not part of the head */
        return 0;
    }
    if (n == 0)
        return finish_head(p);
    if (!p->have_request_line)
        rc = request_line(p, line, n);
    else if (is_ows(line[0]))
        rc = fail(p, SIO_EPROTO, 400); /* obs-fold (RFC 9112 5.2) */
    else
        rc = header_line(p, line, n);
    p->line_start = p->head.len;
    return rc;
}

/* Checks that n more bytes (ending the line if complete) keep the head
 * within its limits, before they are copied. */
static int check_head_limits(sio__http_parser *p, size_t n, int complete)
{
    if (!p->have_request_line) {
        /* The line so far without its LF may still hold the CR. */
        size_t cur = p->head.len - p->line_start + n - (complete ? 1 : 0);
        if (cur > p->limits.max_request_line + 1)
            return fail(p, SIO_ELIMIT, 414);
    }
    if (n > p->limits.max_header_bytes - p->head.len)
        return fail(p, SIO_ELIMIT, 431);
    return 0;
}

/* The method is checked as its bytes arrive, so a peer speaking something
 * else (TLS, garbage without a line end) is refused at its first byte
 * rather than after a timeout or 8 KiB. */
static int check_method_prefix(sio__http_parser *p)
{
    if (p->have_request_line)
        return 0;
    for (size_t i = p->line_start; i < p->head.len; i++) {
        unsigned char c = (unsigned char)p->head.data[i];
        if (c == ' ' || c == '\r' || c == '\n')
            return 0;
        if (!is_tchar(c))
            return fail(p, SIO_EPROTO, 400);
    }
    return 0;
}

/* Copies head bytes line by line; stops right after the empty line. */
static int feed_head(sio__http_parser *p, const char *data, size_t len)
{
    size_t i = 0;
    /* Most heads fit in 1 KiB: one allocation instead of a doubling chain
     * (a failure here is caught by the append below). */
    if (p->head.cap == 0 && len > 0)
        sio__buf_reserve(&p->head,
                         p->limits.max_header_bytes < 1024 ? p->limits.max_header_bytes : 1024);
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
        int rc = check_head_limits(p, n, nl != NULL);
        if (rc < 0)
            return rc;
        if ((rc = sio__buf_append(&p->head, data + i, n)) < 0)
            return fail_alloc(p, rc);
        i += n;
        if ((rc = check_method_prefix(p)) < 0)
            return rc;
        if (nl == NULL)
            break;
        if ((rc = on_line(p)) < 0)
            return rc;
        if (rc == 1)
            break;
    }
    return (int)i;
}

/* ------------------------------------------------------------------ body */

/* Whether n more decoded body bytes fit under the current body limit. */
static int body_fits(const sio__http_parser *p, uint64_t n)
{
    return p->req.body.len <= p->max_body && n <= p->max_body - p->req.body.len;
}

/* Chooses the framing once the caller has seen the head (RFC 9112 6.3). */
static void start_body(sio__http_parser *p)
{
    if (p->req.chunked) {
        p->phase = PH_CHUNK_SIZE;
    } else if (p->req.content_length > 0) {
        p->remaining = (uint64_t)p->req.content_length;
        p->phase = PH_BODY_CL;
    } else {
        p->phase = PH_DONE;
    }
}

/* Copies up to the remaining bytes of a CL body or chunk into the body. */
static int take_data(sio__http_parser *p, const char *d, size_t len, int next)
{
    size_t n = len < p->remaining ? len : (size_t)p->remaining;
    /* Re-checked here since set_max_body may have lowered the limit. */
    if (!body_fits(p, p->remaining))
        return fail(p, SIO_ELIMIT, 413);
    int rc = sio__buf_append(&p->req.body, d, n);
    if (rc < 0)
        return fail(p, SIO_ENOMEM, 500);
    p->remaining -= n;
    if (p->remaining == 0)
        p->phase = next;
    return (int)n;
}

/* One byte of a chunk-size: hex digits, then CR, ';' or BWS. */
static int chunk_size_byte(sio__http_parser *p, char c)
{
    int h = sio__hex_digit(c);
    if (h >= 0) {
        if (++p->chunk_digits > SIO_HTTP_MAX_CHUNK_DIGITS || p->remaining > (UINT64_MAX >> 4))
            return fail(p, SIO_EPROTO, 400);
        p->remaining = p->remaining << 4 | (uint64_t)h;
        if (!body_fits(p, p->remaining))
            return fail(p, SIO_ELIMIT, 413);
        return 1;
    }
    if (p->chunk_digits == 0)
        return fail(p, SIO_EPROTO, 400);
    if (c == '\r') {
        p->phase = PH_CHUNK_SIZE_LF;
        return 1;
    }
    if (c != ';' && !is_ows(c))
        return fail(p, SIO_EPROTO, 400);
    p->ext_semi = c == ';';
    p->ext_bytes++;
    p->phase = PH_CHUNK_EXT;
    return 1;
}

/* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): tolerated and
 * ignored, but only BWS may precede the first ';', no control bytes, and
 * limits.max_chunk_ext bytes per message at most (then 413, as Node). */
static int chunk_ext_byte(sio__http_parser *p, char c)
{
    if (c == '\r') {
        if (!p->ext_semi)
            return fail(p, SIO_EPROTO, 400);
        p->phase = PH_CHUNK_SIZE_LF;
        return 1;
    }
    if (++p->ext_bytes > p->limits.max_chunk_ext)
        return fail(p, SIO_ELIMIT, 413);
    if (c == ';')
        p->ext_semi = 1;
    else if ((!p->ext_semi && !is_ows(c)) || !is_value_char((unsigned char)c))
        return fail(p, SIO_EPROTO, 400);
    return 1;
}

/* The LF of a chunk-size line: data follows, or the trailer after "0". */
static int chunk_size_lf(sio__http_parser *p, char c)
{
    if (c != '\n')
        return fail(p, SIO_EPROTO, 400);
    p->phase = p->remaining ? PH_CHUNK_DATA : PH_TRAILER;
    p->chunk_digits = 0;
    p->ext_semi = 0;
    return 1;
}

/* Trailer lines are validated as field lines, bounded by max_header_bytes
 * in total, and dropped: nothing here needs them. */
static int trailer_bytes(sio__http_parser *p, const char *d, size_t len)
{
    const char *nl = memchr(d, '\n', len);
    size_t n = nl ? (size_t)(nl - d) + 1 : len;
    if (n > p->limits.max_header_bytes - p->trailer_bytes)
        return fail(p, SIO_ELIMIT, 431);
    p->trailer_bytes += n;
    int rc = sio__buf_append(&p->line, d, n);
    if (rc < 0)
        return fail_alloc(p, rc);
    if (nl == NULL)
        return (int)n;
    const char *line = p->line.data;
    size_t ln = p->line.len, nlen, vs, vlen;
    if (ln < 2 || line[ln - 2] != '\r')
        return fail(p, SIO_EPROTO, 400);
    ln -= 2;
    if (ln == 0)
        p->phase = PH_DONE;
    else if (parse_field(line, ln, &nlen, &vs, &vlen) < 0)
        return fail(p, SIO_EPROTO, 400); /* includes obs-fold */
    p->line.len = 0;
    return (int)n;
}

/* Expects exactly byte c, then moves to phase next. */
static int expect(sio__http_parser *p, char got, char want, int next)
{
    if (got != want)
        return fail(p, SIO_EPROTO, 400);
    p->phase = next;
    return 1;
}

/* Consumes at least one byte of body framing or data (len > 0). */
static int step_body(sio__http_parser *p, const char *d, size_t len)
{
    switch (p->phase) {
    case PH_BODY_CL:
        return take_data(p, d, len, PH_DONE);
    case PH_CHUNK_SIZE:
        return chunk_size_byte(p, *d);
    case PH_CHUNK_EXT:
        return chunk_ext_byte(p, *d);
    case PH_CHUNK_SIZE_LF:
        return chunk_size_lf(p, *d);
    case PH_CHUNK_DATA:
        return take_data(p, d, len, PH_CHUNK_DATA_CR);
    case PH_CHUNK_DATA_CR:
        return expect(p, *d, '\r', PH_CHUNK_DATA_LF);
    case PH_CHUNK_DATA_LF:
        return expect(p, *d, '\n', PH_CHUNK_SIZE);
    case PH_TRAILER:
        return trailer_bytes(p, d, len);
    default:
        return fail(p, SIO_EINVAL, 500); /* unreachable */
    }
}

/* Checks a Content-Length against the (possibly route-specific) limit,
 * then feeds body bytes until the message ends or the input runs out. */
static int feed_body(sio__http_parser *p, const char *data, size_t len)
{
    size_t i = 0;
    if (p->phase == PH_BODY_CL && !body_fits(p, p->remaining))
        return fail(p, SIO_ELIMIT, 413);
    while (i < len && p->phase != PH_DONE) {
        int rc = step_body(p, data + i, len - i);
        if (rc < 0)
            return rc;
        i += (size_t)rc;
    }
    return (int)i;
}

int sio__http_parser_feed(sio__http_parser *p, const char *data, size_t len, sio__http_state *state)
{
    int rc;
    *state = SIO_HTTP_NEED_MORE;
    if (len > INT32_MAX)
        len = INT32_MAX; /* the return value must fit; the caller feeds the rest */
    switch (p->phase) {
    case PH_ERROR:
        return p->error_rc;
    case PH_DONE:
        *state = SIO_HTTP_MSG_DONE;
        return 0;
    case PH_HEAD:
        rc = feed_head(p, data, len);
        if (rc >= 0 && p->phase == PH_HEAD_DONE)
            *state = SIO_HTTP_HEAD_DONE;
        return rc;
    case PH_HEAD_DONE:
        start_body(p);
        break;
    default:
        break;
    }
    rc = feed_body(p, data, len);
    if (rc >= 0 && p->phase == PH_DONE)
        *state = SIO_HTTP_MSG_DONE;
    return rc;
}

int sio__http_parser_idle(const sio__http_parser *p)
{
    return p->phase == PH_HEAD && p->head.len == 0;
}

sio__slice sio__http_find_header(const sio__http_request *r, const char *name)
{
    for (unsigned i = 0; i < r->nheaders; i++)
        if (r->headers && sio__slice_eq_nocase(r->headers[i].name, name))
            return r->headers[i].value;
    return (sio__slice){NULL, 0};
}
