/* Growable byte buffers and slices.
 *
 * sio__buf owns its bytes; it always keeps one spare byte so that data[len]
 * can be set to NUL for parsers that want a C string (sio__buf_cstr). A
 * buffer may carry a hard cap: appends past it fail with SIO_ELIMIT and
 * leave the buffer unchanged, which is how per-connection limits
 * (maxHttpBufferSize, outbound queues) are enforced without ever buffering
 * past the limit. */
#ifndef SIO_CORE_BUF_H
#define SIO_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed view of bytes: never freed through the slice. */
typedef struct sio__slice {
    const char *base;
    size_t len;
} sio__slice;

#define SIO_SLICE(lit) ((sio__slice){(lit), sizeof(lit) - 1})

/* A name and its value, both borrowed (an HTTP header field as received):
 * the one shape every layer passes header lists in. */
typedef struct sio__slice_kv {
    sio__slice name;
    sio__slice value;
} sio__slice_kv;

typedef struct sio__buf {
    char *data;   /* owned; NULL while empty and never grown */
    size_t len;   /* bytes in use */
    size_t cap;   /* bytes allocated */
    size_t limit; /* 0 = unlimited; otherwise len never exceeds it */
} sio__buf;

void sio__buf_init(sio__buf *b, size_t limit);
/* Frees the bytes; the buffer is left empty and reusable. */
void sio__buf_free(sio__buf *b);
/* Ensures room for extra more bytes (+1 for the NUL). SIO_ENOMEM/SIO_ELIMIT. */
int sio__buf_reserve(sio__buf *b, size_t extra);
int sio__buf_append(sio__buf *b, const void *data, size_t len);
int sio__buf_append_str(sio__buf *b, const char *s);
int sio__buf_append_byte(sio__buf *b, char c);
/* printf-style append; SIO_EINVAL on a formatting error. */
int sio__buf_appendf(sio__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the decimal form of v. */
int sio__buf_append_u64(sio__buf *b, uint64_t v);
/* Drops the first n bytes (n <= len), moving the rest to the front. */
void sio__buf_consume(sio__buf *b, size_t n);
/* NUL-terminates and returns data (never NULL: "" for an empty buffer). */
const char *sio__buf_cstr(sio__buf *b);
/* Hands the bytes to the caller (who frees them with sio__free). */
char *sio__buf_steal(sio__buf *b, size_t *len);

static inline sio__slice sio__buf_slice(const sio__buf *b)
{
    return (sio__slice){b->data, b->len};
}

int sio__slice_eq(sio__slice s, const char *lit);
int sio__slice_eq_nocase(sio__slice s, const char *lit);

#endif
