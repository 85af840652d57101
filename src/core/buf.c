/* Growable byte buffers: see buf.h. Growth doubles to keep appends
 * amortised O(1); the cap check happens before any allocation so that a
 * peer can never make us allocate past a configured limit. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "sioc.h"

void sio__buf_init(sio__buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void sio__buf_free(sio__buf *b)
{
    sio__free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int sio__buf_reserve(sio__buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return SIO_ENOMEM;
    size_t need = b->len + extra;
    if (b->limit && need > b->limit)
        return SIO_ELIMIT;
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    char *p = sio__realloc(b->data, cap);
    if (p == NULL)
        return SIO_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sio__buf_append(sio__buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int rc = sio__buf_reserve(b, len);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int sio__buf_append_str(sio__buf *b, const char *s)
{
    return sio__buf_append(b, s, strlen(s));
}

int sio__buf_append_byte(sio__buf *b, char c)
{
    return sio__buf_append(b, &c, 1);
}

int sio__buf_appendf(sio__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SIO_EINVAL;
    int rc = sio__buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int sio__buf_append_u64(sio__buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sio__buf_append(b, tmp + i, sizeof tmp - i);
}

void sio__buf_consume(sio__buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

const char *sio__buf_cstr(sio__buf *b)
{
    if (b->data == NULL)
        return "";
    b->data[b->len] = '\0';
    return b->data;
}

char *sio__buf_steal(sio__buf *b, size_t *len)
{
    if (sio__buf_reserve(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

int sio__slice_eq(sio__slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.base, lit, n) == 0;
}

int sio__slice_eq_nocase(sio__slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.base, lit, n) == 0;
}
