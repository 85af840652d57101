/* Static files from memory: see static.h. */
#define _GNU_SOURCE
#include "static.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

typedef struct chat_file {
    const char *url;  /* exact request path */
    const char *type; /* Content-Type */
    char *data, *gz;  /* contents and their gzip form (gz may be NULL) */
    size_t len, gzlen;
    char etag[40];
} chat_file;

struct chat_static {
    chat_file files[8];
    size_t n;
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = buf ? (size_t)n : 0;
    }
    fclose(f);
    return buf;
}

/* gzip (not zlib) framing, as Content-Encoding: gzip wants. */
static char *gzip(const char *in, size_t len, size_t *outlen)
{
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, len) + 32;
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    if (out == NULL || deflate(&z, Z_FINISH) != Z_STREAM_END) {
        free(out);
        out = NULL;
    }
    *outlen = z.total_out;
    deflateEnd(&z);
    return out;
}

/* FNV-1a 64 over the contents: enough for a cache validator. */
static void make_etag(chat_file *f)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < f->len; i++)
        h = (h ^ (unsigned char)f->data[i]) * 1099511628211ULL;
    snprintf(f->etag, sizeof f->etag, "\"%zx-%016llx\"", f->len, (unsigned long long)h);
}

static int add(chat_static *st, const char *url, const char *dir, const char *name,
               const char *type, int required)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    chat_file *f = &st->files[st->n];
    f->data = read_file(path, &f->len);
    if (f->data == NULL) {
        if (required)
            fprintf(stderr, "sioc-chat: cannot read %s\n", path);
        return required ? SIO_EIO : 0;
    }
    f->url = url;
    f->type = type;
    f->gz = gzip(f->data, f->len, &f->gzlen);
    make_etag(f);
    st->n++;
    return 0;
}

int chat_static_load(chat_static **out, const char *public_dir)
{
    chat_static *st = calloc(1, sizeof *st);
    if (st == NULL)
        return SIO_ENOMEM;
    int rc = add(st, "/", public_dir, "index.html", "text/html; charset=utf-8", 1);
    if (rc < 0) {
        chat_static_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void chat_static_free(chat_static *st)
{
    for (size_t i = 0; st && i < st->n; i++) {
        free(st->files[i].data);
        free(st->files[i].gz);
    }
    free(st);
}

/* True when an Accept-Encoding value lists gzip (without q=0). */
static int accepts_gzip(const char *ae)
{
    if (ae == NULL)
        return 0;
    const char *p = strcasestr(ae, "gzip");
    return p && strncmp(p + 4, ";q=0", 4) != 0;
}

static const chat_file *find(const chat_static *st, const char *path)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->files[i].url, path) == 0)
            return &st->files[i];
    return NULL;
}

void chat_static_serve(chat_static *st, sio_req *req)
{
    const char *m = sio_req_method(req);
    const chat_file *f = find(st, sio_req_path(req));
    if (f == NULL) {
        sio_req_respond(req, 404, "Content-Type: text/plain\r\n", "Not Found", 9);
        return;
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        sio_req_respond(req, 405, "Allow: GET, HEAD\r\nContent-Type: text/plain\r\n",
                        "Method Not Allowed", 18);
        return;
    }
    char h[256];
    const char *inm = sio_req_header(req, "if-none-match");
    if (inm && strstr(inm, f->etag)) {
        snprintf(h, sizeof h, "ETag: %s\r\nCache-Control: public, max-age=0\r\n", f->etag);
        sio_req_respond(req, 304, h, "", 0);
        return;
    }
    int gz = f->gz && accepts_gzip(sio_req_header(req, "accept-encoding"));
    snprintf(h, sizeof h,
             "Content-Type: %s\r\nETag: %s\r\nCache-Control: public, max-age=0\r\n"
             "Vary: Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\n%s",
             f->type, f->etag, gz ? "Content-Encoding: gzip\r\n" : "");
    sio_req_respond(req, 200, h, gz ? f->gz : f->data, gz ? f->gzlen : f->len);
}
