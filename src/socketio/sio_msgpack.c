/* socket.io-msgpack-parser packets: see sio_msgpack.h.
 *
 * Decoding: a recursive reader over the message bytes that builds jansson
 * values directly. Every read checks the bytes left first; an array or map
 * count is checked against them (each element takes at least one byte)
 * before anything is allocated, and nesting is bounded by max_depth, so a
 * hostile message costs at most what its own size allows.
 *
 * Encoding: msgpack-c's packer (msgpack_pack_*), writing into a sio__buf. */
#include "socketio/sio_msgpack.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"

/* ---------------------------------------------------------------- reader */

typedef struct reader {
    const unsigned char *p, *end;
    unsigned depth, max_depth;
    size_t bin_bytes, max_bin;
    sio__packet *pkt; /* gets the binary values as attachments */
} reader;

static int need(const reader *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte big-endian length. */
static int read_len(reader *r, int n, size_t *out)
{
    if (!need(r, (size_t)n))
        return SIO_EPROTO;
    *out = (size_t)be(r->p, n);
    r->p += n;
    return 0;
}

/* A binary value of len bytes at r->p: an attachment and its placeholder. */
static int read_bin(reader *r, size_t len, json_t **out)
{
    if (!need(r, len))
        return SIO_EPROTO;
    if (len > r->max_bin - r->bin_bytes)
        return SIO_EPROTO; /* maxHttpBufferSize already bounds the message */
    r->bin_bytes += len;
    sio__packet *p = r->pkt;
    sio__rcbuf **att = sio__realloc(p->att, (p->nrecv + 1) * sizeof *att);
    if (att == NULL)
        return SIO_ENOMEM;
    p->att = att;
    if ((att[p->nrecv] = sio__rcbuf_new((const char *)r->p, len)) == NULL)
        return SIO_ENOMEM;
    *out = json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)p->nrecv);
    p->nrecv++;
    p->nattach = p->nrecv;
    r->p += len;
    return *out ? 0 : SIO_ENOMEM;
}

static int read_str(reader *r, size_t len, json_t **out)
{
    if (!need(r, len))
        return SIO_EPROTO;
    *out = json_stringn((const char *)r->p, len); /* NULL: not UTF-8 (or OOM) */
    r->p += len;
    return *out ? 0 : SIO_EPROTO;
}

/* notepack's Date: ms since the epoch, as JSON.stringify writes it. */
static int date_string(int64_t ms, json_t **out)
{
    if (ms > 8640000000000000LL || ms < -8640000000000000LL) {
        *out = json_null(); /* an Invalid Date: JSON.stringify writes null */
        return 0;
    }
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    int milli = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    char b[96]; /* gcc sizes each %d field for a whole int */
    if (gmtime_r(&secs, &tm) == NULL)
        return SIO_EPROTO;
    snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    *out = json_string(b);
    return *out ? 0 : SIO_ENOMEM;
}

/* The msgpack timestamp extension (type -1), which notepack.io 3 (the
 * Redis adapter's and emitter's encoder) writes for a Date: 32-bit
 * seconds, 30-bit nanoseconds + 34-bit seconds, or 32-bit nanoseconds +
 * 64-bit signed seconds. A Date reaches JSON as its ISO string. */
static int read_timestamp(reader *r, size_t len, json_t **out)
{
    int64_t s;
    uint64_t ns = 0;
    if (len == 4) {
        s = (int64_t)be(r->p, 4);
    } else if (len == 8) {
        uint64_t v = be(r->p, 8);
        ns = v >> 34;
        s = (int64_t)(v & 0x3ffffffffULL);
    } else if (len == 12) {
        ns = be(r->p, 4);
        s = (int64_t)be(r->p + 4, 8);
    } else {
        return SIO_EPROTO;
    }
    if (ns >= 1000000000u || s < -(INT64_C(1) << 43) || s > (INT64_C(1) << 43))
        return SIO_EPROTO; /* beyond what a Date holds (+-8.64e15 ms) */
    r->p += len;
    return date_string(s * 1000 + (int64_t)(ns / 1000000u), out);
}

/* ext with type at r->p and len data bytes after it. */
static int read_ext(reader *r, size_t len, int fixed, json_t **out)
{
    if (!need(r, 1))
        return SIO_EPROTO;
    int8_t type = (int8_t)*r->p++;
    if (type == -1 && need(r, len))
        return read_timestamp(r, len, out);
    if (type != 0 || !need(r, len))
        return SIO_EPROTO;   /* notepack's own ext types and timestamps only */
    if (fixed && len == 1) { /* undefined */
        r->p++;
        *out = json_null();
        return 0;
    }
    if (fixed && len == 8) { /* Date */
        int64_t ms = (int64_t)(int32_t)be(r->p, 4) * 4294967296LL + (int64_t)be(r->p + 4, 4);
        r->p += 8;
        return date_string(ms, out);
    }
    return read_bin(r, len, out); /* ArrayBuffer */
}

static int read_value(reader *r, json_t **out);

static int read_array(reader *r, size_t n, json_t **out)
{
    if (n > (size_t)(r->end - r->p))
        return SIO_EPROTO;
    json_t *a = *out = json_array();
    if (a == NULL)
        return SIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *v;
        int rc = read_value(r, &v);
        if (rc < 0)
            return rc;
        if (json_array_append_new(a, v) < 0)
            return SIO_ENOMEM;
    }
    return 0;
}

/* A map key: a string, or an integer as its decimal string (JavaScript
 * object keys are strings). */
static int read_key(reader *r, json_t **key)
{
    int rc = read_value(r, key);
    if (rc < 0)
        return rc;
    if (json_is_string(*key)) /* a NUL inside would make two keys look alike
                               * to json_object_get(): refused */
        return strlen(json_string_value(*key)) == json_string_length(*key) ? 0 : SIO_EPROTO;
    if (!json_is_integer(*key))
        return SIO_EPROTO;
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)json_integer_value(*key));
    json_decref(*key);
    *key = json_string(b);
    return *key ? 0 : SIO_ENOMEM;
}

static int read_map(reader *r, size_t n, json_t **out)
{
    if (n > (size_t)(r->end - r->p) / 2)
        return SIO_EPROTO;
    json_t *o = *out = json_object();
    if (o == NULL)
        return SIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *k = NULL, *v = NULL;
        int rc = read_key(r, &k);
        rc = rc < 0 ? rc : read_value(r, &v);
        /* setn_new takes v, even when it fails */
        if (rc == 0 && json_object_setn_new(o, json_string_value(k), json_string_length(k), v) < 0)
            rc = SIO_ENOMEM;
        json_decref(k);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static json_t *int_value(uint64_t u, int neg)
{
    if (!neg && u > INT64_MAX)
        return json_real((double)u);
    return json_integer(neg ? (json_int_t)(int64_t)u : (json_int_t)u);
}

/* Fixed-size scalars: ints and floats (c is the type byte). */
static int read_number(reader *r, unsigned char c, json_t **out)
{
    static const int size[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8}; /* 0xca..0xd3 */
    int n = size[c - 0xca];
    if (!need(r, (size_t)n))
        return SIO_EPROTO;
    uint64_t u = be(r->p, n);
    r->p += n;
    if (c == 0xca) {
        float f;
        uint32_t w = (uint32_t)u;
        memcpy(&f, &w, 4);
        *out = json_real(f);
    } else if (c == 0xcb) {
        double d;
        memcpy(&d, &u, 8);
        *out = json_real(d);
    } else if (c <= 0xcf) {
        *out = int_value(u, 0);
    } else { /* sign-extend int8..int64 */
        int shift = 64 - 8 * n;
        *out = int_value((uint64_t)((int64_t)(u << shift) >> shift), 1);
    }
    return *out ? 0 : SIO_EPROTO; /* json_real refuses NaN and infinities */
}

static int read_value_at(reader *r, unsigned char c, json_t **out)
{
    size_t n;
    int rc;
    if (c <= 0x7f || c >= 0xe0) {
        *out = json_integer((int8_t)c);
        return *out ? 0 : SIO_ENOMEM;
    }
    if ((c & 0xe0) == 0xa0)
        return read_str(r, c & 0x1f, out);
    if ((c & 0xf0) == 0x90)
        return read_array(r, c & 0x0f, out);
    if ((c & 0xf0) == 0x80)
        return read_map(r, c & 0x0f, out);
    switch (c) {
    case 0xc0:
        *out = json_null();
        return 0;
    case 0xc2:
    case 0xc3:
        *out = json_boolean(c == 0xc3);
        return 0;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        rc = read_len(r, 1 << (c - 0xc4), &n);
        return rc < 0 ? rc : read_bin(r, n, out);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        rc = read_len(r, 1 << (c - 0xc7), &n);
        return rc < 0 ? rc : read_ext(r, n, 0, out);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return read_ext(r, (size_t)1 << (c - 0xd4), 1, out);
    case 0xd9:
    case 0xda:
    case 0xdb:
        rc = read_len(r, 1 << (c - 0xd9), &n);
        return rc < 0 ? rc : read_str(r, n, out);
    case 0xdc:
    case 0xdd:
        rc = read_len(r, c == 0xdc ? 2 : 4, &n);
        return rc < 0 ? rc : read_array(r, n, out);
    case 0xde:
    case 0xdf:
        rc = read_len(r, c == 0xde ? 2 : 4, &n);
        return rc < 0 ? rc : read_map(r, n, out);
    default:
        if (c >= 0xca && c <= 0xd3)
            return read_number(r, c, out);
        return SIO_EPROTO; /* 0xc1: never used */
    }
}

static int read_value(reader *r, json_t **out)
{
    *out = NULL;
    if (!need(r, 1) || r->depth >= r->max_depth)
        return SIO_EPROTO;
    r->depth++;
    int rc = read_value_at(r, *r->p++, out);
    r->depth--;
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* ------------------------------------------------------- packet checks */

/* The npm parser's isDataValid: the default decoder's rules (which add
 * the event-name checks), except that CONNECT_ERROR and ACK need data. */
static int data_valid(int type, const json_t *d)
{
    if (d == NULL && (type == SIO_PKT_CONNECT_ERROR || type == SIO_PKT_ACK))
        return 0;
    return sio__packet_payload_valid(type, d);
}

/* Fills p from the decoded map m (type, nsp, data, id). */
static int to_packet(json_t *m, sio__packet *p)
{
    json_t *type = json_object_get(m, "type"), *nsp = json_object_get(m, "nsp");
    json_t *data = json_object_get(m, "data"), *id = json_object_get(m, "id");
    if (!json_is_integer(type) || json_integer_value(type) < SIO_PKT_CONNECT ||
        json_integer_value(type) > SIO_PKT_CONNECT_ERROR || !json_is_string(nsp))
        return SIO_EPROTO;
    p->type = (int)json_integer_value(type);
    if (json_is_null(data))
        data = NULL; /* undefined */
    if (!data_valid(p->type, data))
        return SIO_EPROTO;
    if (id != NULL && !json_is_null(id)) {
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) > SIO_ACK_ID_MAX)
            return SIO_EPROTO;
        p->id = json_integer_value(id);
    }
    const char *name = json_string_value(nsp);
    if (strlen(name) != json_string_length(nsp))
        return SIO_EPROTO; /* a NUL inside */
    p->nsp = sio__strndup(name, json_string_length(nsp));
    p->data = data ? json_incref(data) : NULL;
    return p->nsp ? 0 : SIO_ENOMEM;
}

int sio__msgpack_decode(const char *msg, size_t len, const sio__packet_limits *lim,
                        sio__packet **out)
{
    *out = NULL;
    sio__packet *p = sio__calloc(1, sizeof *p);
    if (p == NULL)
        return SIO_ENOMEM;
    p->id = -1;
    /* +1: the packet map itself is a level */
    reader r = {(const unsigned char *)msg,
                (const unsigned char *)msg + len,
                0,
                lim->max_depth + 1,
                0,
                lim->max_binary_bytes,
                p};
    json_t *m = NULL;
    int rc = read_value(&r, &m);
    if (rc == 0 && (r.p != r.end || !json_is_object(m)))
        rc = SIO_EPROTO;
    rc = rc < 0 ? rc : to_packet(m, p);
    json_decref(m);
    if (rc < 0) {
        sio__packet_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int sio__msgpack_decode_value(const char *msg, size_t len, unsigned max_depth, size_t max_bin,
                              json_t **out, sio__rcbuf ***att, unsigned *natt)
{
    sio__packet holder = {0}; /* only collects the attachments */
    reader r = {(const unsigned char *)msg,
                (const unsigned char *)msg + len,
                0,
                max_depth,
                0,
                max_bin,
                &holder};
    int rc = read_value(&r, out);
    if (rc == 0 && r.p != r.end) {
        json_decref(*out);
        *out = NULL;
        rc = SIO_EPROTO; /* notepack: "trailing bytes" */
    }
    *att = holder.att;
    *natt = holder.nrecv;
    return rc;
}

/* ---------------------------------------------------------------- writer */

static int buf_write(void *data, const char *b, size_t len)
{
    return sio__buf_append(data, b, len) == 0 ? 0 : -1;
}

typedef struct writer {
    msgpack_packer pk;
    sio__rcbuf *const *att;
    size_t natt;
} writer;

static int pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) < 0 || msgpack_pack_str_body(pk, s, n) < 0 ? -1 : 0;
}

static int pack_value(writer *w, const json_t *v);

static int pack_object(writer *w, const json_t *v)
{
    int num = sio__placeholder_num(v);
    if (num >= 0 && (size_t)num < w->natt) { /* binary: inline bytes */
        const sio__rcbuf *b = w->att[num];
        return msgpack_pack_bin(&w->pk, b->len) < 0 ||
                       msgpack_pack_bin_body(&w->pk, b->data, b->len) < 0
                   ? -1
                   : 0;
    }
    if (msgpack_pack_map(&w->pk, json_object_size(v)) < 0)
        return -1;
    const char *k;
    size_t klen;
    json_t *e;
    void *tmp;
    json_object_keylen_foreach_safe((json_t *)v, tmp, k, klen, e)
    {
        if (pack_str(&w->pk, k, klen) < 0 || pack_value(w, e) < 0)
            return -1;
    }
    return 0;
}

static int pack_value(writer *w, const json_t *v)
{
    msgpack_packer *pk = &w->pk;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return pack_object(w, v);
    case JSON_ARRAY:
        if (msgpack_pack_array(pk, json_array_size(v)) < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (pack_value(w, json_array_get(v, i)) < 0)
                return -1;
        return 0;
    case JSON_STRING:
        return pack_str(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL: {
        /* a JavaScript number with an integral value is an integer to
         * notepack (2.0 from JSON is 2) */
        double d = json_real_value(v);
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d)
            return msgpack_pack_int64(pk, (int64_t)d);
        return msgpack_pack_double(pk, d);
    }
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    default:
        return msgpack_pack_nil(pk);
    }
}

int sio__msgpack_pack_value(msgpack_packer *pk, const json_t *v, sio__rcbuf *const *att,
                            size_t natt)
{
    writer w = {*pk, att, natt};
    return pack_value(&w, v) < 0 ? SIO_ENOMEM : 0;
}

int sio__msgpack_encode(sio__buf *out, int type, const char *nsp, int64_t id, const json_t *data,
                        sio__rcbuf *const *att, size_t natt)
{
    writer w = {.att = att, .natt = natt};
    msgpack_packer_init(&w.pk, out, buf_write);
    if (type == SIO_PKT_BINARY_EVENT)
        type = SIO_PKT_EVENT;
    else if (type == SIO_PKT_BINARY_ACK)
        type = SIO_PKT_ACK;
    size_t n = 2 + (data != NULL) + (id >= 0);
    int rc = msgpack_pack_map(&w.pk, n);
    rc |= pack_str(&w.pk, "type", 4) | msgpack_pack_int(&w.pk, type);
    if (data != NULL)
        rc |= pack_str(&w.pk, "data", 4) | pack_value(&w, data);
    rc |= pack_str(&w.pk, "nsp", 3) | pack_str(&w.pk, nsp, strlen(nsp));
    if (id >= 0)
        rc |= pack_str(&w.pk, "id", 2) | msgpack_pack_int64(&w.pk, id);
    return rc ? SIO_ENOMEM : 0;
}

sio__rcbuf *sio__msgpack_from_encoded(sio__encoded *e)
{
    if (e->mp != NULL || e->text == NULL || e->text->len < 2)
        return e->mp;
    /* Our own text: generous limits, the attachments are those of e. */
    sio__packet_limits lim;
    sio__packet_limits_init(&lim);
    lim.max_depth = 2048;
    lim.max_attachments = e->natt > lim.max_attachments ? (unsigned)e->natt : lim.max_attachments;
    sio__packet *p = NULL;
    if (sio__packet_decode(e->text->data + 1, e->text->len - 1, &lim, &p) < 0)
        return NULL;
    sio__buf b;
    sio__buf_init(&b, 0);
    if (sio__msgpack_encode(&b, p->type, p->nsp, p->id, p->data, e->att, e->natt) == 0)
        e->mp = sio__rcbuf_new(b.data, b.len);
    sio__buf_free(&b);
    sio__packet_free(p);
    return e->mp;
}
