/* Percent-decoding and query lookup: see query.h.
 *
 * Keys are matched by decoding them on the fly against the wanted key, so a
 * lookup allocates nothing unless the key is found, and a query is scanned
 * once per lookup (queries are short: Engine.IO sends four or five pairs). */
#include "core/query.h"

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "sioc.h"

int sio__hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the byte at s[*i] (an escape, '+' if plus_space, or itself) and
 * advances *i. Returns the byte (0..255) or SIO_EPROTO. */
static int next_byte(sio__slice s, size_t *i, int plus_space)
{
    char c = s.base[*i];
    if (c == '+' && plus_space) {
        (*i)++;
        return ' ';
    }
    if (c != '%') {
        (*i)++;
        return (unsigned char)c;
    }
    if (s.len - *i < 3)
        return SIO_EPROTO;
    int hi = sio__hex_digit(s.base[*i + 1]), lo = sio__hex_digit(s.base[*i + 2]);
    if (hi < 0 || lo < 0)
        return SIO_EPROTO;
    *i += 3;
    return hi << 4 | lo;
}

/* Decodes all of in into out (emptied first). */
static int decode(sio__slice in, sio__buf *out, int plus_space)
{
    out->len = 0;
    /* Decoding only shrinks: one reservation covers the output. */
    int rc = sio__buf_reserve(out, in.len);
    size_t i = 0;
    while (rc >= 0 && i < in.len) {
        int b = next_byte(in, &i, plus_space);
        if (b < 0)
            rc = b;
        else
            out->data[out->len++] = (char)b;
    }
    if (rc < 0)
        out->len = 0;
    return rc < 0 ? rc : 0;
}

int sio__url_decode(sio__slice in, sio__buf *out)
{
    return decode(in, out, 0);
}

/* 1 if the encoded key k decodes to exactly want, 0 if not, or SIO_EPROTO. */
static int key_matches(sio__slice k, const char *want)
{
    size_t i = 0, j = 0, n = strlen(want);
    int same = 1;
    while (i < k.len) {
        int b = next_byte(k, &i, 1);
        if (b < 0)
            return b;
        if (j >= n || (unsigned char)want[j] != b)
            same = 0; /* keep going: a bad escape later is still an error */
        j++;
    }
    return same && j == n;
}

int sio__query_get(sio__slice query, const char *key, sio__buf *out)
{
    size_t i = 0;
    out->len = 0;
    while (i < query.len) {
        size_t s = i;
        while (i < query.len && query.base[i] != '&')
            i++;
        sio__slice pair = {query.base + s, i - s};
        i++; /* skip '&' */
        if (pair.len == 0)
            continue;
        const char *eq = memchr(pair.base, '=', pair.len);
        size_t klen = eq ? (size_t)(eq - pair.base) : pair.len;
        int m = key_matches((sio__slice){pair.base, klen}, key);
        if (m < 0)
            return m;
        if (m == 0)
            continue;
        sio__slice v = eq ? (sio__slice){eq + 1, pair.len - klen - 1} : (sio__slice){pair.base, 0};
        int rc = decode(v, out, 1);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

int sio__query_next(sio__slice query, size_t *pos, sio__buf *key, sio__buf *value)
{
    while (*pos < query.len) {
        size_t s = *pos, i = s;
        while (i < query.len && query.base[i] != '&')
            i++;
        *pos = i + 1; /* past the '&' */
        sio__slice pair = {query.base + s, i - s};
        if (pair.len == 0)
            continue;
        const char *eq = memchr(pair.base, '=', pair.len);
        size_t klen = eq ? (size_t)(eq - pair.base) : pair.len;
        sio__slice v = eq ? (sio__slice){eq + 1, pair.len - klen - 1} : (sio__slice){pair.base, 0};
        int rc = decode((sio__slice){pair.base, klen}, key, 1);
        rc = rc < 0 ? rc : decode(v, value, 1);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/* ---- public: the handshake's query (Node's socket.handshake.query) */

int sio_handshake_query_get(const sio_handshake *hs, const char *name, char *out, size_t cap)
{
    if (hs == NULL || hs->query == NULL || name == NULL)
        return SIO_EINVAL;
    sio__buf v;
    sio__buf_init(&v, 0);
    int rc = sio__query_get((sio__slice){hs->query, strlen(hs->query)}, name, &v);
    if (rc == 1) {
        rc = v.len > INT32_MAX ? SIO_ELIMIT : (int)v.len;
        if (rc >= 0 && cap > 0) {
            size_t n = v.len < cap - 1 ? v.len : cap - 1;
            memcpy(out, v.data, n);
            out[n] = '\0';
        }
    } else if (rc == 0) {
        rc = SIO_ENOTFOUND;
    }
    sio__buf_free(&v);
    return rc;
}

/* Adds key=value to obj as Node's querystring.parse does: a repeated key
 * becomes an array of its values, in order. */
static int query_add(json_t *obj, const sio__buf *k, const sio__buf *v)
{
    json_t *val = json_stringn_nocheck(v->data ? v->data : "", v->len);
    char *key = sio__strndup(k->data ? k->data : "", k->len);
    json_t *old = key ? json_object_get(obj, key) : NULL;
    int rc = val && key ? 0 : SIO_ENOMEM;
    if (rc == 0 && old == NULL) {
        rc = json_object_set_new(obj, key, val) == 0 ? 0 : SIO_ENOMEM;
        val = NULL;
    } else if (rc == 0 && json_is_array(old)) {
        rc = json_array_append_new(old, val) == 0 ? 0 : SIO_ENOMEM;
        val = NULL;
    } else if (rc == 0) {
        json_t *arr = json_pack("[O,o]", old, val);
        val = NULL;
        rc = arr && json_object_set_new(obj, key, arr) == 0 ? 0 : SIO_ENOMEM;
    }
    json_decref(val);
    sio__free(key);
    return rc;
}

json_t *sio_handshake_query_json(const sio_handshake *hs)
{
    json_t *obj = json_object();
    if (obj == NULL || hs == NULL || hs->query == NULL)
        return obj;
    sio__slice q = {hs->query, strlen(hs->query)};
    sio__buf k, v;
    sio__buf_init(&k, 0);
    sio__buf_init(&v, 0);
    size_t pos = 0;
    int rc;
    while ((rc = sio__query_next(q, &pos, &k, &v)) != 0) {
        if (rc == SIO_EPROTO)
            continue; /* a badly encoded pair is left out */
        if (rc < 0 || query_add(obj, &k, &v) < 0) {
            json_decref(obj);
            obj = NULL;
            break;
        }
    }
    sio__buf_free(&k);
    sio__buf_free(&v);
    return obj;
}

/* One path segment is refused if it is "." or "..". */
static int segment_is_dots(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

int sio__path_is_safe(sio__slice p)
{
    if (p.len == 0 || p.base[0] != '/')
        return 0;
    size_t seg = 1;
    for (size_t i = 1; i <= p.len; i++) {
        if (i == p.len || p.base[i] == '/') {
            if (segment_is_dots(p.base + seg, i - seg))
                return 0;
            seg = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)p.base[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return 0;
    }
    return 1;
}
